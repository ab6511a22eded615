"""Accessibility as a test: axe-core (from npm; scripts/test installs it) finds no violation on any
page or dialog in any state, at phone and desktop widths; and phase changes are said through the
page's one polite live region, once each, without the page's first state or unchanged text."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from fakehub import FakeHub
from playwright.sync_api import Page, expect
from realhub import RealHub
from scenes import ALL, Scenes, open_scene, overflow
from webfakes import KEY, spec_dict, write_phase

from reconciler.model.spec import parse_spec, spec_digest

pytestmark = pytest.mark.browser
Axe = Callable[..., list[str]]  # the conftest fixture: axe(page) -> violations

# Records what the live region says, with when, from before the page's own scripts run.
LISTEN = """document.addEventListener("DOMContentLoaded", () => {
  window.__said = [];
  const region = document.getElementById("live-status");
  if (region) new MutationObserver(() => window.__said.push([Date.now(), region.textContent]))
    .observe(region, { childList: true, characterData: true, subtree: true });
});"""


@pytest.mark.parametrize("width", (390, 1280))
@pytest.mark.parametrize("scene", ALL)
def test_axe_finds_nothing(page: Page, scenes: Scenes, axe: Axe, scene: str, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 844 if width < 768 else 900})
    open_scene(page, scenes, scene)
    violations = axe(page)
    assert violations == [], f"{scene} at {width} px:\n" + "\n".join(violations)


def said(page: Page) -> list[tuple[int, str]]:
    return [(int(t), text) for t, text in page.evaluate("() => window.__said || []")]


def hold(hub: FakeHub, name: str, phase: str, **spec: Any) -> dict[str, Any]:
    """A cluster in `phase` that the stand-in reconciler leaves alone until `release`."""
    data = spec_dict(name, **spec)
    hub.reconciler.seen[name] = spec_digest(parse_spec(data))
    (hub.specs / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    write_phase(hub.clusters, name, phase, data)
    return data


def test_a_build_is_announced_phase_by_phase(page: Page, fake_hub: FakeHub) -> None:
    hold(fake_hub, "told", "pending")
    page.add_init_script(LISTEN)
    page.goto(fake_hub.url + "/clusters/told")
    region = page.locator("#live-status")
    expect(region).to_have_attribute("aria-live", "polite")
    assert page.locator("[aria-live]").count() == 1, "one live region, not one per panel"
    page.wait_for_timeout(2500)  # two polls: the state the page opened in is not said again
    assert said(page) == []
    del fake_hub.reconciler.seen["told"]  # the stand-in reconciler plans and builds it now
    expect(region).to_have_text("Cluster built", timeout=20_000)
    texts = [text for _, text in said(page)]
    assert texts[0] == "Planning the changes", texts
    assert any(re.fullmatch(r"Building: \d+ of \d+ done", t) for t in texts), texts
    assert all(a != b for a, b in zip(texts, texts[1:], strict=False)), f"said twice: {texts}"
    progress = [t for t, text in said(page) if text.startswith("Building")]
    gaps = [b - a for a, b in zip(progress, progress[1:], strict=False)]
    assert all(gap >= 9_000 for gap in gaps), f"progress said too often: {gaps} ms apart"


def test_a_failure_is_announced_in_words(page: Page, fake_hub: FakeHub) -> None:
    data = hold(fake_hub, "breaks", "build_running")
    page.add_init_script(LISTEN)
    page.goto(fake_hub.url + "/clusters/breaks")
    region = page.locator("#live-status")
    page.wait_for_timeout(1500)
    write_phase(fake_hub.clusters, "breaks", "build_error", data, message="Quota exceeded for cores")
    expect(region).to_have_text(re.compile(r"^Build failed: \S"), timeout=10_000)
    first = region.text_content()
    page.wait_for_timeout(3000)  # polls that find the same failure say nothing more
    assert [text for _, text in said(page)] == [first]


def test_the_dashboard_announces_status_changes(page: Page, fake_hub: FakeHub) -> None:
    hold(fake_hub, "quiet", "build_success")
    page.add_init_script(LISTEN)
    page.goto(fake_hub.url)
    chip = page.locator('tr[data-cluster="listed"] .chip')
    (fake_hub.specs / "listed.yaml").write_text(yaml.safe_dump(spec_dict("listed"), sort_keys=False))
    expect(chip).to_have_text("build success", timeout=20_000)
    expect(page.locator("#live-status")).to_have_text("listed: build success", timeout=5_000)
    texts = [text for _, text in said(page)]
    assert all(t.startswith("listed: ") for t in texts), texts  # "quiet" did not change: not said


@pytest.mark.terraform
@pytest.mark.slow
def test_end_to_end_on_a_phone(page: Page, real_hub: RealHub, axe: Axe) -> None:
    """The real hub (Terraform, sandbox cloud) at 390 px: the form, the build and the success
    dialog fit the screen, axe finds nothing, and the build's end is announced."""
    page.set_viewport_size({"width": 390, "height": 844})
    page.set_default_timeout(30_000)
    page.add_init_script(LISTEN)

    def check(step: str) -> None:
        seen = overflow(page)
        assert seen["scroll"] <= seen["width"], f"{step}: the page is {seen['scroll']} px wide: {seen['out']}"
        assert axe(page) == [], step

    page.goto(real_hub.url + "/clusters/new")
    expect(page.get_by_label("mgmt flavor")).not_to_have_value("")
    page.get_by_label("Cluster name").fill("phone")
    if not page.get_by_label("SSH public keys").input_value().strip():
        page.get_by_label("SSH public keys").fill(KEY)
    check("form")
    page.get_by_role("button", name="Spawn").click()
    expect(page).to_have_url(re.compile(r"/clusters/phone"))
    check("building")
    dialog = page.get_by_role("dialog", name=re.compile("Your cluster is (built|ready)"))
    expect(dialog).to_be_visible(timeout=240_000)
    expect(page.locator("#live-status")).to_have_text("Cluster built")
    check("success dialog")
    dialog.get_by_role("button", name="Show my cluster").click()
    check("built")
