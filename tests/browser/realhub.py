"""The real hub for the end-to-end browser test: `mchub serve --sandbox` as a subprocess on free
ports, with its own specs, clusters and sandbox data, stopped with SIGINT like a person would."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fakehub import free_port

REPO = Path(__file__).resolve().parent.parent.parent


@dataclass(frozen=True)
class RealHub:
    url: str
    specs: Path
    clusters: Path
    output: Path


@contextmanager
def start_real_hub(tmp_path: Path, timeout: float = 90.0) -> Iterator[RealHub]:
    # MCHUB_HUB_COMMAND runs these tests against another build of the hub (default: the venv's).
    mchub = Path(os.environ.get("MCHUB_HUB_COMMAND") or REPO / ".venv" / "bin" / "mchub")
    if not mchub.exists():
        mchub = Path(shutil.which("mchub") or "mchub")
    port, sandbox_port = free_port(), free_port()
    specs, clusters, sandbox = tmp_path / "specs", tmp_path / "clusters", tmp_path / "sandbox"
    specs.mkdir()
    output = tmp_path / "hub.log"
    env = {**os.environ, "MCHUB_SANDBOX_BOOT_DELAY": "0.5"}
    for var in ("MCHUB_TOKEN", "MCHUB_PROXY_USER_HEADER", "MCHUB_HOST", "MCHUB_PORT", "MCHUB_SETTINGS"):
        env.pop(var, None)
    cmd = [
        str(mchub),
        "serve",
        "--sandbox",
        "--port",
        str(port),
        "--sandbox-port",
        str(sandbox_port),
        "--specs",
        str(specs),
        "--clusters",
        str(clusters),
        "--sandbox-data",
        str(sandbox),
    ]
    with output.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=tmp_path, start_new_session=True
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"`{' '.join(cmd)}` did not answer /healthz; its output:\n{output.read_text()[-4000:]}"
                )
            time.sleep(0.2)
        yield RealHub(url, specs, clusters, output)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
