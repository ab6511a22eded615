"""Record stage, after a build: whether a built cluster is ready for people, not just built.
Terraform finishing (`build_success`) leaves Magic Castle's Puppet some 15 minutes of work; the
`Provisioning` record on the status says what the hub checked since (the login node's SSH, then
the web services under the cluster's domain when the cloud has DNS), what each check last saw, and
whether the cluster is `waiting`, `ready` or in `error` after the cloud's timeout. Pure: the engine
probes (`engine/readiness.py`) and hands the results to `Provisioning.observed`."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconciler.model.spec import ClusterSpec

DETAIL_LIMIT = 300
# Seconds between two looks while waiting: soon after the build, then every 30 s.
DELAYS = (5.0, 5.0, 5.0, 10.0, 10.0, 20.0, 30.0)
# Magic Castle's web services, as its DNS module names them: (check name, label, host prefix).
WEB_SERVICES = (
    ("jupyterhub", "JupyterHub", "jupyter"),
    ("freeipa", "FreeIPA", "ipa"),
    ("mokey", "Mokey", "mokey"),
)


def _unwrap(value: Any) -> Any:
    """An output as recorded (unwrapped), or in Terraform's `{"value": ...}` form."""
    if isinstance(value, dict) and set(value) >= {"value"} and set(value) <= {"value", "type", "sensitive"}:
        return value["value"]
    return value


def login_address(spec: ClusterSpec, outputs: dict[str, Any]) -> tuple[str, str]:
    """(host, public IP) people log in to: the first `login` host with a public IP in the outputs,
    else the first host with one; ("", "") when no host has one. The one rule for the page, the
    success dialog and the readiness check."""
    public_ip = _unwrap(outputs.get("public_ip")) or {}
    if not isinstance(public_ip, dict):
        return "", ""
    logins = [h for p, i in spec.instances.items() if "login" in i.tags for h in spec.hostnames_of(p)]
    for host in logins:
        if isinstance(public_ip.get(host), str) and public_ip[host]:
            return host, str(public_ip[host])
    for host, ip in public_ip.items():
        if isinstance(ip, str) and ip:
            return str(host), ip
    return (logins[0] if logins else ""), ""


class Check(BaseModel):
    """One thing that must answer before the cluster is ready, and what its last probe saw."""

    model_config = ConfigDict(frozen=True)
    name: str  # "ssh", or one of WEB_SERVICES' names
    label: str  # in words: "SSH on login1", "JupyterHub"
    target: str  # "203.0.113.5:22", or the service's URL
    ok: bool = False
    detail: str = ""  # what the last probe saw: a banner, "HTTP 302", "connection refused", ...
    checked_at: dt.datetime | None = None

    @property
    def web(self) -> bool:
        return self.name != "ssh"

    def seen(self, ok: bool, detail: str, now: dt.datetime) -> Check:
        detail = " ".join(detail.split())
        if len(detail) > DETAIL_LIMIT:
            detail = detail[: DETAIL_LIMIT - 1] + "…"
        return self.model_copy(update={"ok": ok, "detail": detail, "checked_at": now})


def checks_for(spec: ClusterSpec, outputs: dict[str, Any], ssh_port: int, dns: bool) -> list[Check]:
    """What to check on this build: SSH on the login node, then (with DNS records, which the cloud's
    DNS module makes) JupyterHub, FreeIPA and Mokey by name. None without a public login address:
    nothing outside the cloud could reach the cluster, so the hub has nothing to wait for."""
    host, ip = login_address(spec, outputs)
    if not ip:
        return []
    where = f"[{ip}]" if ":" in ip else ip
    checks = [Check(name="ssh", label=f"SSH on {host}", target=f"{where}:{ssh_port}")]
    if dns:
        name = str(_unwrap(outputs.get("cluster_name")) or spec.cluster_name)
        domain = str(_unwrap(outputs.get("domain")) or spec.domain)
        for key, label, prefix in WEB_SERVICES:
            checks.append(Check(name=key, label=label, target=f"https://{prefix}.{name}.{domain}/"))
    return checks


class Provisioning(BaseModel):
    """Readiness after one build (`applied_hash`), from `started_at` (the build's end) on."""

    model_config = ConfigDict(frozen=True)
    state: Literal["waiting", "ready", "error"] = "waiting"
    started_at: dt.datetime
    applied_hash: str | None = None
    checks: list[Check] = Field(default_factory=list)
    attempts: int = 0  # looks so far
    next_check_at: dt.datetime | None = None  # while waiting: when to look again
    finished_at: dt.datetime | None = None  # when it became ready, or gave up
    message: str = ""  # in words, for the page, the CLI and logs

    @classmethod
    def start(cls, now: dt.datetime, applied_hash: str | None, checks: list[Check]) -> Provisioning:
        fresh = cls(started_at=now, applied_hash=applied_hash, checks=checks, next_check_at=now)
        return fresh.model_copy(update={"message": fresh.describe(0.0)})

    def follows(self, applied_hash: str | None, checks: list[Check]) -> bool:
        """Whether this record is about this build with these targets (a rebuild, a new login IP
        or another port starts over)."""
        mine = [(c.name, c.target) for c in self.checks]
        return self.applied_hash == applied_hash and mine == [(c.name, c.target) for c in checks]

    def due(self, now: dt.datetime) -> bool:
        return self.state == "waiting" and (self.next_check_at is None or self.next_check_at <= now)

    def observed(self, results: list[Check], now: dt.datetime, timeout: float) -> Provisioning:
        """After a look: ready when every check answered; an error once `timeout` seconds passed
        since the build without that; else waiting, looking again after the next delay."""
        attempts = self.attempts + 1
        changes: dict[str, Any] = {"checks": results, "attempts": attempts}
        if results and all(c.ok for c in results):
            changes.update(state="ready", next_check_at=None, finished_at=now)
        elif (now - self.started_at).total_seconds() >= timeout:
            changes.update(state="error", next_check_at=None, finished_at=now)
        else:
            delay = DELAYS[min(attempts, len(DELAYS)) - 1]
            changes.update(next_check_at=now + dt.timedelta(seconds=delay))
        done = self.model_copy(update=changes)
        return done.model_copy(update={"message": done.describe(timeout)})

    def describe(self, timeout: float) -> str:
        """In words: `Waiting for SSH on login1 (0 of 4 checks answered)`, `Ready: ...`, or
        `Not ready after 30 min: SSH on login1 (...) did not answer: connection refused`."""
        answered = sum(c.ok for c in self.checks)
        if self.state == "ready":
            return "Ready: " + ", ".join(c.label for c in self.checks) + " answered"
        if self.state == "error":
            missing = "; ".join(
                f"{c.label} ({c.target}) did not answer{_seen(c)}" for c in self.checks if not c.ok
            )
            return f"Not ready after {_duration(timeout)}: {missing}"
        first = next((c for c in self.checks if not c.ok), None)
        what = first.label if first is not None else "the cluster"
        return f"Waiting for {what} ({answered} of {len(self.checks)} checks answered)"

    def links(self) -> list[Check]:
        """The web services that answered: what people may open now."""
        return [c for c in self.checks if c.web and c.ok]


def _seen(check: Check) -> str:
    return f": {check.detail}" if check.detail else ""


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{round(seconds / 60)} min"
    return f"{seconds:g} s"
