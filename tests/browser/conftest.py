"""Browser tests: pytest-playwright driving Debian's Chromium (headless, no sandbox, no background
networking). Screenshots go to test-output/browser/<test>/<step>.png under the repository root.

Two targets: `fake_hub` (the web view on fixture data with a stand-in reconciler, in this process)
and `real_hub` (`mchub serve --sandbox` as a subprocess: real reconciler, Terraform and sandbox)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "web"))

from fakehub import FakeHub, free_port  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str | None:
    found = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
    return found


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if chromium_path() is not None:
        return
    skip = pytest.mark.skip(reason="system Chromium not found; apt-get install -y chromium")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": chromium_path(),
        "headless": True,
        "args": CHROMIUM_ARGS,
    }


@pytest.fixture
def shots(request: pytest.FixtureRequest) -> Callable[[Any, str], None]:
    """`shots(page, "step")` saves test-output/browser/<test>/<n>-<step>.png."""
    folder = REPO / "test-output" / "browser" / request.node.name.replace("/", "_")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    counter = iter(range(1, 1000))

    def shot(page: Any, step: str) -> None:
        page.screenshot(path=str(folder / f"{next(counter):02d}-{step}.png"), full_page=True)

    return shot


@pytest.fixture
def fake_hub(tmp_path: Path) -> Iterator[FakeHub]:
    hub = FakeHub(tmp_path, step=0.5).start()
    yield hub
    hub.stop()


class RealHub:
    def __init__(self, url: str, specs: Path, clusters: Path, output: Path) -> None:
        self.url, self.specs, self.clusters, self.output = url, specs, clusters, output


@pytest.fixture
def real_hub(tmp_path: Path) -> Iterator[RealHub]:
    """`mchub serve --sandbox` on free ports, with its own specs, clusters and sandbox data."""
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
    deadline = time.monotonic() + 90
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
