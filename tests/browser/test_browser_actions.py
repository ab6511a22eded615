"""Every action acknowledged, in a real Chromium on fixture data (fakehub.py, its stand-in reconciler
stopped so the test plays the hub): Save says "Saving..." at once and the page then says "Change
saved, planning..." until the status moves on; a second Approve from a stale tab gets a plain
message on the cluster page; Forget takes a destroyed cluster off the list and frees its name;
leaving a changed form asks first."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from fakehub import FakeHub
from playwright.sync_api import Page, expect
from webfakes import KEY, spec_dict, write_phase

pytestmark = pytest.mark.browser
Shot = Callable[[Any, str], None]
SIZES = {"phone": (390, 844), "desktop": (1280, 800)}


def hub_at_rest(hub: FakeHub, name: str, phase: str, **changes: Any) -> dict[str, Any]:
    """A cluster in `phase`, with the stand-in reconciler stopped: the test moves the status."""
    hub.reconciler.close()
    data = spec_dict(name, **changes)
    (hub.specs / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)  # settled a while ago
    write_phase(hub.clusters, name, phase, data, message="built", when=when)
    return data


@pytest.mark.parametrize("size", SIZES)
def test_save_is_acknowledged_at_once(page: Page, fake_hub: FakeHub, shots: Shot, size: str) -> None:
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))  # type: ignore[arg-type]
    data = hub_at_rest(fake_hub, "alpha", "build_success")
    page.goto(fake_hub.url + "/clusters/alpha/edit")
    page.get_by_label("node count").fill("3")
    # What the button says just after the click, kept across the navigation that follows.
    page.evaluate(
        """() => document.addEventListener("submit", () => setTimeout(() => {
            const b = document.getElementById("submit");
            sessionStorage.setItem("busy", JSON.stringify([b.textContent, b.disabled]));
        }, 20))"""
    )
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(r"/clusters/alpha\?"))
    assert page.evaluate("() => JSON.parse(sessionStorage.getItem('busy'))") == ["Saving…", True]
    ack = page.get_by_role("status").filter(has_text="Change saved, planning…")
    expect(ack).to_be_visible()
    expect(page.get_by_text("Up to date.")).to_have_count(0)  # never the old state
    page.wait_for_timeout(1500)  # polls that find the status unchanged keep it
    expect(ack).to_be_visible()
    shots(page, f"saved-{size}")
    write_phase(fake_hub.clusters, "alpha", "plan_running", data)  # the hub picks the change up
    expect(page.locator("#ack")).to_have_count(0, timeout=8000)
    expect(page.get_by_role("heading", name="Planning the changes…")).to_be_visible()
    assert "done=" not in page.url


def test_a_second_approve_gets_a_clear_message(page: Page, fake_hub: FakeHub, shots: Shot) -> None:
    data = hub_at_rest(fake_hub, "alpha", "awaiting_approval", apply="manual")
    stale = page.context.new_page()
    stale.goto(fake_hub.url + "/clusters/alpha")  # a second tab, opened before the approval
    page.goto(fake_hub.url + "/clusters/alpha")
    page.get_by_role("button", name="Approve plan").click()
    expect(page.get_by_role("status").filter(has_text="Approved: applying…")).to_be_visible()
    expect(page.get_by_role("button", name="Approve plan")).to_have_count(0)
    write_phase(fake_hub.clusters, "alpha", "build_running", data)  # the hub applies it
    stale.get_by_role("button", name="Approve plan").click()
    alert = stale.locator("#action-refused")
    expect(alert).to_have_text(
        "Plan plan-1234 was already approved and the hub has taken it up; now: building."
    )
    expect(stale.get_by_role("heading", name="alpha", level=1)).to_be_visible()  # the cluster page
    shots(stale, "second-approve")


@pytest.mark.parametrize("size", SIZES)
def test_forget_frees_the_name(page: Page, fake_hub: FakeHub, shots: Shot, size: str) -> None:
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))  # type: ignore[arg-type]
    hub_at_rest(fake_hub, "old", "destroyed", ensure="absent")
    page.goto(fake_hub.url)
    row = page.locator('tr[data-cluster="old"]')
    expect(row).to_be_visible()
    row.get_by_role("link", name="Forget old").click()
    expect(page.get_by_role("heading", name="Forget old?")).to_be_visible()  # confirm first
    shots(page, f"confirm-{size}")
    page.get_by_role("button", name="Forget old").click()
    expect(page.get_by_role("status").filter(has_text="Forgot old")).to_be_visible()
    expect(page.locator('tr[data-cluster="old"]')).to_have_count(0)
    assert not (fake_hub.specs / "old.yaml").exists()
    # The name can be used again.
    page.goto(fake_hub.url + "/clusters/new")
    page.get_by_label("Cluster name").fill("old")
    page.get_by_label("SSH public keys").fill(KEY)
    page.get_by_role("button", name="Spawn").click()
    expect(page).to_have_url(re.compile(r"/clusters/old\?"))
    expect(page.get_by_role("status").filter(has_text="Cluster saved, planning…")).to_be_visible()


def test_leaving_a_changed_form_asks(page: Page, fake_hub: FakeHub) -> None:
    hub_at_rest(fake_hub, "alpha", "build_success")
    asked: list[str] = []

    def on_dialog(dialog: Any) -> None:
        asked.append(dialog.type)
        dialog.dismiss()  # stay on the page

    page.on("dialog", on_dialog)
    page.goto(fake_hub.url + "/clusters/alpha/edit")
    page.get_by_role("link", name="Clusters", exact=True).first.click()
    expect(page).to_have_url(fake_hub.url + "/")  # unchanged: leaves without asking
    assert asked == []
    page.goto(fake_hub.url + "/clusters/alpha/edit")
    page.get_by_label("node count").fill("5")
    page.get_by_role("link", name="Clusters", exact=True).first.click()
    page.wait_for_timeout(500)
    assert asked == ["beforeunload"]
    expect(page).to_have_url(re.compile(r"/clusters/alpha/edit$"))  # stayed, with the change
    expect(page.get_by_label("node count")).to_have_value("5")
    page.get_by_role("button", name="Save changes").click()  # submitting does not ask
    expect(page).to_have_url(re.compile(r"/clusters/alpha\?"))
    assert asked == ["beforeunload"]
