"""Browser tests: pytest-playwright driving Debian's Chromium (headless, no sandbox, no background
networking). Screenshots go to test-output/browser/<test>/<step>.png under the repository root.

Two targets: `fake_hub` (the web view on fixture data with a stand-in reconciler, in this process)
and `real_hub` (`mchub serve --sandbox` as a subprocess: real reconciler, Terraform and sandbox)."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.append(str(Path(__file__).resolve().parent.parent / "web"))  # webfakes

from fakehub import FakeHub  # noqa: E402
from realhub import RealHub, start_real_hub  # noqa: E402
from scenes import Scenes, stage  # noqa: E402

from webview.auth import AuthConfig  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent
# scripts/test installs axe-core from npm here (git ignores .cache/).
AXE_JS = REPO / ".cache" / "npm" / "node_modules" / "axe-core" / "axe.min.js"
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


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenes]:
    """A fake hub with one cluster in each phase (scenes.py), shared by a module's tests."""
    hub = FakeHub(tmp_path_factory.mktemp("scenes"), step=0.5).start()
    token = AuthConfig(token="a-token-for-the-login-page-only")
    login_hub = FakeHub(tmp_path_factory.mktemp("login"), auth=token).start()
    yield stage(hub, login_hub)
    login_hub.stop()
    hub.stop()


Axe = Callable[..., list[str]]


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script; missing, the accessibility tests skip here but fail under CI."""
    if not AXE_JS.exists():
        reason = f"axe-core is not installed at {AXE_JS.relative_to(REPO)}; scripts/test installs it with npm"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: CI must run the accessibility tests")
        pytest.skip(reason)
    return AXE_JS.read_text()


@pytest.fixture
def axe(axe_source: str) -> Axe:
    """`axe(page, "#selector")` runs axe-core's default rules on the page (or a part of it) and
    returns its violations as lines: rule, impact, what it asks for, and the elements.
    Injected through the DevTools protocol, which the page's strict CSP does not govern."""

    def run(page: Any, include: str | None = None) -> list[str]:
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(axe_source)
        found = page.evaluate(
            """async (include) => {
                const result = await axe.run(include || document, { resultTypes: ["violations"] });
                return result.violations.map((v) => ({
                    id: v.id, impact: v.impact, help: v.help,
                    nodes: v.nodes.slice(0, 4).map((n) => n.target.join(" ") + ": " + n.failureSummary),
                }));
            }""",
            include,
        )
        return [f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in found]

    return run
