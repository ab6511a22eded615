"""Browser tests: pytest-playwright driving Debian's Chromium (headless, no sandbox, no background
networking). Screenshots go to test-output/browser/<test>/<step>.png under the repository root.

Two targets: `fake_hub` (the web view on fixture data with a stand-in reconciler, in this process)
and `real_hub` (`mchub serve --sandbox` as a subprocess: real reconciler, Terraform and sandbox)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.append(str(Path(__file__).resolve().parent.parent / "web"))  # webfakes

from fakehub import FakeHub  # noqa: E402
from realhub import RealHub, start_real_hub  # noqa: E402

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


@pytest.fixture
def real_hub(tmp_path: Path) -> Iterator[RealHub]:
    """`mchub serve --sandbox` on free ports, with its own specs, clusters and sandbox data."""
    with start_real_hub(tmp_path) as hub:
        yield hub
