"""Several real hubs for the tests and the benchmark of a cluster of hubs: `mchub serve` processes
on free ports, each with its own clusters folder, sharing one real PostgreSQL (`database_url`), one
sandbox cloud (started in the test's process, so its knobs are at hand) and either one specs
folder or, with a git remote, a clone each. A hub can be stopped as an operator would (SIGINT) or
killed with SIGKILL, leaving its Terraform running, as a crashed machine's hub would."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parent.parent.parent
JSON = {"Content-Type": "application/json"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sandbox_settings(root: Path, info: Any, **extra: Any) -> Path:
    """A settings file pointing the hubs' `sandbox` cloud at the test's running sandbox."""
    data = {
        "clouds": {
            "sandbox": {
                "clouds_yaml": str(info.clouds_yaml),
                "terraform_cli_config": str(info.terraform_cli_config),
                "ssh_port": info.ssh_port,
            }
        },
        **extra,
    }
    path = root / "settings.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@dataclass
class HubProc:
    name: str
    url: str
    specs: Path
    clusters: Path
    log: Path
    proc: subprocess.Popen[bytes]
    env: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return httpx.get(self.url + path, timeout=10, **kw)

    def clusters_seen(self) -> dict[str, dict[str, Any]]:
        """The hub's own view of every cluster (GET /api/clusters), by name."""
        return {c["name"]: c for c in self.get("/api/clusters").json()["clusters"]}

    def phase(self, name: str) -> str | None:
        seen = self.clusters_seen().get(name)
        return None if seen is None else str(seen.get("status"))

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill9(self) -> None:
        """SIGKILL the hub alone: its Terraform, in a session of its own, lives on."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-6000:]
        except OSError:
            return ""


def start_hub(
    root: Path,
    name: str,
    settings_file: Path,
    database_url: str,
    specs: Path,
    *,
    lease_ttl: float = 6.0,
    workers: int = 2,
    env: dict[str, str] | None = None,
    timeout: float = 90.0,
) -> HubProc:
    """`mchub serve` as hub `name`, answering /healthz before this returns."""
    port = free_port()
    clusters = root / f"clusters-{name}"
    log = root / f"hub-{name}.log"
    full = {**os.environ}
    for var in ("MCHUB_TOKEN", "MCHUB_PROXY_USER_HEADER", "MCHUB_HOST", "MCHUB_SANDBOX", "PGPASSWORD"):
        full.pop(var, None)
    full.update(
        MCHUB_SETTINGS=str(settings_file),
        MCHUB_DATABASE_URL=database_url,
        MCHUB_HUB_NAME=name,
        MCHUB_LEASE_TTL=str(lease_ttl),
        MCHUB_WORKERS=str(workers),
        MCHUB_SPECS=str(specs),
        MCHUB_CLUSTERS=str(clusters),
        MCHUB_PORT=str(port),
        **(env or {}),
    )
    cmd = [str(REPO / ".venv" / "bin" / "mchub"), "serve"]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full, cwd=root,
                                start_new_session=True)  # fmt: skip
    hub = HubProc(name, f"http://127.0.0.1:{port}", specs, clusters, log, proc, full)
    deadline = time.monotonic() + timeout
    while True:
        try:
            if hub.get("/healthz").status_code == 200:
                return hub
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            hub.stop()
            raise AssertionError(f"hub {name} did not answer /healthz:\n{hub.output()}")
        time.sleep(0.2)


def wait_for(what: str, check: Callable[[], Any], timeout: float, hubs: Sequence[HubProc] = ()) -> Any:
    """Poll `check` until it returns something true; fail with the hubs' output otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, OSError, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(0.3)
    logs = "\n".join(f"--- hub {h.name}:\n{h.output()}" for h in hubs)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})\n{logs}")
