"""After the record stage of a build: is the built cluster ready for people? `follow` starts the
cluster's `Provisioning` record when a build ends (or its login address changes), and when a look
is due, probes the login node's SSH, then the web services by name when the cloud has DNS. Probes
are short (a few seconds at most, no subprocess) and never repeat on every poll: the record says
when to look next, and `reconcile` hands that time to the loop (`Outcome.next_at`)."""

from __future__ import annotations

import datetime as dt
import logging
import socket

import httpx

from reconciler.engine.hub import Hub
from reconciler.model.provisioning import Check, Provisioning, checks_for
from reconciler.model.settings import SettingsError
from reconciler.model.spec import ClusterSpec
from reconciler.model.status import Phase, Status

SSH_TIMEOUT = 2.0  # seconds to connect and to read the banner
WEB_TIMEOUT = 4.0  # seconds for one HTTPS answer
BANNER_LIMIT = 255  # RFC 4253: the identification line is at most 255 characters

log = logging.getLogger("mchub.readiness")


def follow(status: Status, spec: ClusterSpec | None, hub: Hub) -> tuple[Status, dt.datetime | None]:
    """The status after starting or advancing its readiness checks (recorded when it changed), and
    when they next need a look (None: ready, given up, or nothing to check)."""
    if status.phase != Phase.BUILD_SUCCESS or spec is None:
        return status, None
    try:
        cloud = hub.settings.cloud(hub.settings.cloud_of(spec.cloud, spec.project))
    except SettingsError:  # the build's cloud left the settings: its own reconcile says so
        return status, None
    checks = checks_for(spec, status.outputs, cloud.ssh_port, cloud.dns is not None)
    now = hub.clock()
    current = status.provisioning
    if not checks:  # no public login address: nothing outside the cloud to wait for
        return (status if current is None else hub.recorder.record(status.provisioned(now, None))), None
    if current is None or not current.follows(status.applied_hash, checks):
        current = Provisioning.start(now, status.applied_hash, checks)
        status = hub.recorder.record(status.provisioned(now, current))
    if not current.due(now):
        return status, current.next_check_at
    looked = current.observed(probe_all(current.checks, now), hub.clock(), cloud.provisioning_timeout)
    if looked.state != current.state:  # one line when it becomes ready, or gives up
        level = logging.WARNING if looked.state == "error" else logging.INFO
        log.log(level, "%s: %s", status.name, looked.message, extra={"cluster": status.name})
    return hub.recorder.record(status.provisioned(hub.clock(), looked)), looked.next_check_at


def probe_all(checks: list[Check], now: dt.datetime) -> list[Check]:
    """Each check probed once, in order: the web services only once SSH answers (before that,
    Puppet has not even started on the login node, and each would wait out its timeout)."""
    results: list[Check] = []
    ssh_ok = True
    for check in checks:
        if check.web and not ssh_ok:
            results.append(check.seen(False, "not checked yet: waiting for SSH", now))
            continue
        ok, detail = probe_web(check.target) if check.web else probe_ssh(check.target)
        ssh_ok = ssh_ok and (ok or check.web)
        results.append(check.seen(ok, detail, now))
    return results


def probe_ssh(target: str, timeout: float = SSH_TIMEOUT) -> tuple[bool, str]:
    """Whether an SSH server answers at `host:port` (an IPv6 host in brackets): it must send its
    identification line (`SSH-2.0-...`) first, as every SSH server does. (ok, what was seen)."""
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            banner = _first_line(sock)
    except TimeoutError:
        return False, f"no answer within {timeout:g} s"
    except ConnectionRefusedError:
        return False, "connection refused"
    except (OSError, ValueError) as exc:
        return False, getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    if banner.startswith("SSH-"):
        return True, banner
    return False, f"answered without an SSH banner: {banner!r}" if banner else "closed without an SSH banner"


def _first_line(sock: socket.socket) -> str:
    """The first line the server sends, printable characters only (it is shown to people)."""
    data = b""
    while b"\n" not in data and len(data) < BANNER_LIMIT:
        chunk = sock.recv(BANNER_LIMIT - len(data))
        if not chunk:
            break
        data += chunk
    line = data.split(b"\n", 1)[0].decode("ascii", errors="replace")
    return "".join(ch for ch in line if ch.isprintable()).strip()


def probe_web(url: str, timeout: float = WEB_TIMEOUT) -> tuple[bool, str]:
    """Whether a web service answers at `url` as a browser would reach it (its name resolved, its
    certificate valid). Any answer but a server error counts: JupyterHub and FreeIPA answer with a
    redirect to their login page, and a 502 is the proxy saying the service behind is not up."""
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
            answer = client.get(url)
    except httpx.TimeoutException:
        return False, f"no answer within {timeout:g} s"
    except httpx.HTTPError as exc:
        return False, str(exc) or type(exc).__name__
    words = f"HTTP {answer.status_code} {answer.reason_phrase}".strip()
    return answer.status_code < 500, words
