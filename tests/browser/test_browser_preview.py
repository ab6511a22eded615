"""The form's Preview in a real Chromium against the real hub (`mchub serve --sandbox`: reconciler,
Terraform, the sandbox cloud): on a built cluster's edit form, fewer nodes previews as a node deleted
and its data lost, before anything is written; a change of the form clears the answer; more nodes
previews as nothing lost. Real Terraform plans each preview. And, on fixture data with a stand-in
preview: a field to fix is a link that takes the keyboard to it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fakehub import FakeHub
from playwright.sync_api import Page, expect
from realhub import RealHub
from webfakes import FakePreview, spec_dict

pytestmark = pytest.mark.browser
Shot = Callable[[Any, str], None]
BUILD_TIMEOUT = 240.0  # s: plan + apply on the sandbox, with its boot delay
PREVIEW_TIMEOUT = 90_000  # ms: init is already done; a plan, and a `show -json` of it


def built(hub: RealHub, name: str) -> None:
    """Wait for `name` to reach build_success (through the API, as a script would)."""
    deadline = time.monotonic() + BUILD_TIMEOUT
    phase = ""
    while time.monotonic() < deadline:
        phase = httpx.get(f"{hub.url}/api/clusters/{name}/status", timeout=5).json().get("status", "")
        if phase == "build_success":
            return
        if phase.endswith("_error") or phase == "invalid":
            break
        time.sleep(1)
    pytest.fail(f"{name} did not build ({phase}); the hub's output:\n{hub.output.read_text()[-4000:]}")


@pytest.mark.terraform
@pytest.mark.slow
def test_the_edit_form_previews_a_lost_node_before_saving(page: Page, real_hub: RealHub, shots: Shot) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(30_000)
    spec = spec_dict("prev", volumes={"nfs": {"home": {"size": 10}}})
    spec["instances"]["node"]["count"] = 2
    spec_file = real_hub.specs / "prev.yaml"
    spec_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    built(real_hub, "prev")
    written = spec_file.read_bytes()

    page.goto(real_hub.url + "/clusters/prev/edit")
    region = page.locator("#preview")
    expect(region).to_have_attribute("aria-live", "polite")
    count = page.get_by_label("node count")
    expect(count).to_have_value("2")
    count.fill("1")
    button = page.get_by_role("button", name="Preview")
    started = time.monotonic()
    button.click()
    expect(region).to_contain_text("Planning the change with Terraform")  # the loading state
    expect(button).to_have_attribute("aria-disabled", "true")
    answer = region.locator('[data-preview-result="loss"]')
    expect(answer).to_be_visible(timeout=PREVIEW_TIMEOUT)
    took = time.monotonic() - started
    expect(answer).to_contain_text("This change loses data")
    expect(answer).to_contain_text("node2 will be deleted: its disk is erased")
    expect(button).to_have_text("Preview")
    shots(page, "preview-loses-node2")
    print(f"\npreview of node count 2 -> 1 on the real hub: {took:.1f} s in the browser")
    assert spec_file.read_bytes() == written  # nothing written
    assert not [p for p in real_hub.clusters.iterdir() if p.name.startswith(".preview")]

    count.fill("3")  # any change of the form clears the answer
    expect(region).to_be_empty()
    button.focus()
    page.keyboard.press("Enter")  # the keyboard way
    ok = region.locator('[data-preview-result="ok"]')
    expect(ok).to_be_visible(timeout=PREVIEW_TIMEOUT)
    expect(ok).to_have_text(re.compile(r"Nothing lost: \+\d+ to create \(\d+ resources\)"))
    shots(page, "preview-nothing-lost")
    assert spec_file.read_bytes() == written
    status = httpx.get(f"{real_hub.url}/api/clusters/prev/status", timeout=5).json()
    assert status["status"] == "build_success"  # the cluster itself untouched
    assert errors == []


def test_a_field_to_fix_takes_the_keyboard_to_its_input(page: Page, tmp_path: Path, shots: Shot) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    hub = FakeHub(tmp_path, preview=FakePreview()).start()
    try:
        (hub.specs / "alpha.yaml").write_text(yaml.safe_dump(spec_dict("alpha"), sort_keys=False))
        page.goto(hub.url + "/clusters/alpha/edit")
        page.get_by_label("node count").fill("-1")
        page.get_by_role("button", name="Preview").click()
        answer = page.locator('#preview [data-preview-result="invalid"]')
        expect(answer).to_contain_text("Not valid yet")
        link = answer.get_by_role("link", name=re.compile(r"instances\.node\.count"))
        link.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_label("node count")).to_be_focused()
        shots(page, "field-to-fix")
        page.get_by_label("node count").fill("1")
        expect(page.locator("#preview")).to_be_empty()
    finally:
        hub.stop()
    assert errors == []
