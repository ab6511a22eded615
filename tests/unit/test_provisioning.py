"""Built is not ready: the Provisioning record (pure), the probes against real listeners on this
machine, and one reconcile of a built cluster that starts, advances and ends its readiness checks
(no Terraform: the cluster is recorded as built, its login IP pointing at a local listener)."""

from __future__ import annotations

import datetime as dt
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.engine.hub import Hub, make_hub
from reconciler.engine.readiness import follow, probe_ssh, probe_web
from reconciler.engine.reconcile import reconcile
from reconciler.model.provisioning import Check, Provisioning, checks_for, login_address
from reconciler.model.settings import CloudConfig, DnsConfig, Settings
from reconciler.model.spec import ClusterSpec
from reconciler.model.status import Phase, Reason, Status, read_status, write_status
from reconciler.terraform import Launcher

DATA = Path(__file__).parent.parent / "data"
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
BANNER = b"SSH-2.0-OpenSSH_9.0 test\r\n"


def _spec() -> ClusterSpec:
    return ClusterSpec.model_validate(
        {**yaml.safe_load((DATA / "specs" / "base.yaml").read_text()), "cluster_name": "hpc"}
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Listener:
    """A TCP server on 127.0.0.1 that sends `greeting` to each client and hangs up."""

    def __init__(self, greeting: bytes, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.greeting = greeting
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.sendall(self.greeting)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def web() -> Iterator[tuple[str, dict[str, int]]]:
    """A local web server answering every GET with `answer["code"]`."""
    answer = {"code": 302}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answer["code"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", answer
    server.shutdown()
    server.server_close()


# -- the record ----------------------------------------------------------------------------------


def test_the_login_address_is_the_login_hosts_public_ip() -> None:
    spec = _spec()
    assert login_address(spec, {"public_ip": {"login1": "203.0.113.7"}}) == ("login1", "203.0.113.7")
    assert login_address(spec, {"public_ip": {"value": {"mgmt1": "203.0.113.9"}}}) == ("mgmt1", "203.0.113.9")
    assert login_address(spec, {}) == ("login1", "")


def test_checks_are_ssh_then_the_web_services_under_the_domain_with_dns() -> None:
    spec, outputs = _spec(), {"public_ip": {"login1": "203.0.113.7"}, "domain": "sandbox.localdomain"}
    assert [(c.name, c.label, c.target) for c in checks_for(spec, outputs, 22, dns=False)] == [
        ("ssh", "SSH on login1", "203.0.113.7:22")
    ]
    targets = [c.target for c in checks_for(spec, outputs, 2222, dns=True)]
    assert targets == [
        "203.0.113.7:2222",
        "https://jupyter.hpc.sandbox.localdomain/",
        "https://ipa.hpc.sandbox.localdomain/",
        "https://mokey.hpc.sandbox.localdomain/",
    ]
    assert checks_for(spec, {}, 22, dns=True) == []  # no public login address: nothing to wait for


def _looked(prov: Provisioning, oks: list[bool], now: dt.datetime, timeout: float = 1800) -> Provisioning:
    results = [
        c.seen(ok, "HTTP 302" if ok else "connection refused", now)
        for c, ok in zip(prov.checks, oks, strict=True)
    ]
    return prov.observed(results, now, timeout)


def test_waiting_backs_off_then_ready_lists_the_links() -> None:
    spec, outputs = _spec(), {"public_ip": {"login1": "203.0.113.7"}}
    prov = Provisioning.start(T0, "h1", checks_for(spec, outputs, 22, dns=True))
    assert prov.state == "waiting" and prov.due(T0)
    assert prov.message == "Waiting for SSH on login1 (0 of 4 checks answered)"
    delays = []
    now = T0
    for _ in range(9):
        prov = _looked(prov, [False] * 4, now)
        assert prov.next_check_at is not None
        delays.append((prov.next_check_at - now).total_seconds())
        now = prov.next_check_at
    assert delays[0] == 5 and delays[-1] == 30 and delays == sorted(delays)
    prov = _looked(prov, [True, True, False, True], now)
    assert prov.message == "Waiting for FreeIPA (3 of 4 checks answered)"
    assert [c.label for c in prov.links()] == ["JupyterHub", "Mokey"]
    prov = _looked(prov, [True] * 4, now)
    assert prov.state == "ready" and prov.next_check_at is None and not prov.due(now)
    assert prov.message.startswith("Ready")


def test_after_the_timeout_it_is_an_error_naming_what_did_not_answer() -> None:
    spec = _spec()
    prov = Provisioning.start(
        T0, "h1", checks_for(spec, {"public_ip": {"login1": "203.0.113.7"}}, 22, dns=False)
    )
    prov = _looked(prov, [False], T0 + dt.timedelta(minutes=29))
    assert prov.state == "waiting"
    prov = _looked(prov, [False], T0 + dt.timedelta(minutes=30))
    assert prov.state == "error" and prov.next_check_at is None
    assert prov.message == (
        "Not ready after 30 min: SSH on login1 (203.0.113.7:22) did not answer: connection refused"
    )


def test_a_rebuild_or_a_new_address_is_another_provisioning() -> None:
    spec = _spec()
    checks = checks_for(spec, {"public_ip": {"login1": "203.0.113.7"}}, 22, dns=False)
    prov = Provisioning.start(T0, "h1", checks)
    assert prov.follows("h1", checks)
    assert not prov.follows("h2", checks)
    assert not prov.follows("h1", checks_for(spec, {"public_ip": {"login1": "203.0.113.8"}}, 22, dns=False))


# -- the probes ----------------------------------------------------------------------------------


def test_ssh_probe_needs_an_ssh_banner() -> None:
    good, bad = Listener(BANNER), Listener(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    try:
        assert probe_ssh(f"127.0.0.1:{good.port}") == (True, "SSH-2.0-OpenSSH_9.0 test")
        ok, detail = probe_ssh(f"127.0.0.1:{bad.port}")
        assert not ok and "without an SSH banner" in detail
    finally:
        good.close()
        bad.close()
    assert probe_ssh(f"127.0.0.1:{_free_port()}") == (False, "connection refused")


def test_web_probe_counts_any_answer_but_a_server_error(web: tuple[str, dict[str, int]]) -> None:
    url, answer = web
    assert probe_web(url) == (True, "HTTP 302 Found")
    answer["code"] = 502
    assert probe_web(url) == (False, "HTTP 502 Bad Gateway")
    ok, detail = probe_web(f"http://127.0.0.1:{_free_port()}/")
    assert not ok and detail
    ok, detail = probe_web("https://jupyter.hpc.invalid/")  # a name that does not resolve
    assert not ok and detail


# -- one reconcile of a built cluster -----------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


def _built_hub(tmp_path: Path, port: int, timeout: float = 1800.0) -> tuple[Hub, Clock]:
    settings = Settings(specs_dir=tmp_path / "specs", clusters_dir=tmp_path / "clusters", drift_interval=600)
    settings = settings.with_cloud(CloudConfig("sandbox", ssh_port=port, provisioning_timeout=timeout))
    settings.specs_dir.mkdir()
    spec = {**yaml.safe_load((DATA / "specs" / "base.yaml").read_text()), "cluster_name": "hpc"}
    (settings.specs_dir / "hpc.yaml").write_text(yaml.safe_dump(spec))
    clock = Clock()
    hub = make_hub(settings, terraform=Launcher(tmp_path / "no-terraform-here", version="1.0.3"), clock=clock)
    observed = hub.specs.observe("hpc")
    write_status(hub.clusters, Status(
        name="hpc", phase=Phase.BUILD_SUCCESS, reason=Reason.APPLIED, observed_hash=observed.hash,
        applied_hash=observed.hash, resources=["module.openstack.x"], updated_at=T0,
        outputs={"public_ip": {"login1": "127.0.0.1"}},
    ))  # fmt: skip
    return hub, clock


def test_a_built_cluster_waits_for_ssh_then_is_ready(tmp_path: Path) -> None:
    port = _free_port()
    hub, clock = _built_hub(tmp_path, port)
    first = reconcile("hpc", hub)
    prov = first.status.provisioning
    assert prov is not None and prov.state == "waiting" and prov.attempts == 1
    assert prov.checks[0].detail == "connection refused"
    assert first.status.phase == Phase.BUILD_SUCCESS  # readiness is not a phase
    assert first.next_at == T0 + dt.timedelta(seconds=5)  # before the drift check, 600 s away
    assert read_status(hub.clusters, "hpc") == first.status
    assert reconcile("hpc", hub).status == first.status  # not due yet: no probe, nothing written
    listener = Listener(BANNER, port)
    try:
        clock.now = T0 + dt.timedelta(seconds=5)
        ready = reconcile("hpc", hub)
    finally:
        listener.close()
    assert ready.status.provisioning is not None and ready.status.provisioning.state == "ready"
    assert ready.status.provisioning.checks[0].detail == "SSH-2.0-OpenSSH_9.0 test"
    assert ready.next_at == T0 + dt.timedelta(seconds=600)  # only the drift check is left


def test_a_restarted_hub_resumes_from_the_recorded_start_and_gives_up_at_the_timeout(tmp_path: Path) -> None:
    hub, clock = _built_hub(tmp_path, _free_port(), timeout=60)
    started = reconcile("hpc", hub).status.provisioning
    assert started is not None
    clock.now = T0 + dt.timedelta(seconds=61)
    again = make_hub(hub.settings, terraform=hub.terraform, clock=clock)  # a new process
    ended = reconcile("hpc", again).status.provisioning
    assert ended is not None and ended.started_at == started.started_at == T0
    assert ended.state == "error"
    assert ended.message.startswith("Not ready after 1 min: SSH on login1 (127.0.0.1:")


def test_a_cluster_without_a_public_login_address_has_no_provisioning(tmp_path: Path) -> None:
    hub, _ = _built_hub(tmp_path, _free_port())
    status = read_status(hub.clusters, "hpc")
    assert status is not None
    write_status(hub.clusters, status.model_copy(update={"outputs": {}}))
    assert reconcile("hpc", hub).status.provisioning is None


def test_dns_adds_the_web_services_checked_once_ssh_answers(tmp_path: Path) -> None:
    """(`follow` itself: DNS changes the cluster's hash, so a reconcile would plan first.)"""
    hub, _ = _built_hub(tmp_path, _free_port())
    cloud = replace(hub.settings.cloud("sandbox"), dns=DnsConfig("cloudflare"))
    hub = make_hub(hub.settings.with_cloud(cloud), terraform=hub.terraform, clock=hub.clock)
    built = read_status(hub.clusters, "hpc")
    assert built is not None
    status, next_at = follow(built, _spec(), hub)
    prov = status.provisioning
    assert prov is not None and next_at == T0 + dt.timedelta(seconds=5)
    assert [c.name for c in prov.checks] == ["ssh", "jupyterhub", "freeipa", "mokey"]
    assert [c.detail for c in prov.checks[1:]] == ["not checked yet: waiting for SSH"] * 3


def test_a_check_detail_is_one_short_line() -> None:
    check = Check(name="ssh", label="SSH on login1", target="x:22").seen(False, "a\nb\t" + "c" * 500, T0)
    assert "\n" not in check.detail and len(check.detail) <= 300
