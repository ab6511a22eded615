"""The seed workflow end to end, in a real Chromium against the real hub: `mchub serve --sandbox`
(reconciler, Terraform, the sandbox cloud). A new user opens the hub, sees a form filled with the
cloud's flavors, images and quota, presses Spawn, watches the loading animation, gets the success
dialog, sees the cluster's instances; then edits the node count, and destroys the cluster."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from realhub import RealHub
from webfakes import KEY

pytestmark = [pytest.mark.browser, pytest.mark.terraform, pytest.mark.slow]
Shot = Callable[[Any, str], None]
BUILD_TIMEOUT = 240_000  # ms: plan + apply on the sandbox, with its boot delay


def success_dialog(page: Page) -> None:
    dialog = page.get_by_role("dialog", name=re.compile("Your cluster is (built|ready)"))
    expect(dialog).to_be_visible(timeout=BUILD_TIMEOUT)


def test_new_user_spawns_edits_and_destroys_a_cluster(page: Page, real_hub: RealHub, shots: Shot) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_default_timeout(30_000)

    # The hub with no cluster yet, and the cloud's free quota.
    page.goto(real_hub.url)
    expect(page.get_by_role("heading", name="Clusters", exact=True)).to_be_visible()
    expect(page.get_by_text("No clusters yet")).to_be_visible()
    shots(page, "dashboard-empty")

    # The form: a standard cluster on the cloud's flavors and images, with its quota.
    page.get_by_role("link", name="Create a cluster").click()
    expect(page.get_by_label("mgmt flavor")).not_to_have_value("")
    expect(page.get_by_label("Image")).not_to_have_value("")
    expect(page.locator('#usage tr[data-quota="cores"] .free')).not_to_have_text("")
    page.get_by_label("Cluster name").fill("hubtest")
    if not page.get_by_label("SSH public keys").input_value().strip():
        page.get_by_label("SSH public keys").fill(KEY)
    expect(page.locator("#fit")).to_have_text("Fits in the remaining quota.")
    shots(page, "form")

    # Spawn: the loading animation, then the success dialog, then the cluster's state.
    page.get_by_role("button", name="Spawn").click()
    expect(page).to_have_url(re.compile(r"/clusters/hubtest"))
    expect(page.locator(".loader")).to_be_visible()
    shots(page, "loading")
    success_dialog(page)
    shots(page, "success-dialog")
    page.get_by_role("button", name="Show my cluster").click()
    expect(page.locator("#phase-chip")).to_have_text("build success")
    rows = page.locator("#instances-table tbody tr")
    expect(rows).to_have_count(3)
    for host in ("mgmt1", "login1", "node1"):
        expect(rows.filter(has_text=host)).to_contain_text("built")
    expect(page.locator("#login-ip")).to_have_text(re.compile(r"\d+\.\d+\.\d+\.\d+"))
    expect(page.locator("#runs tbody tr").first).to_contain_text("succeeded")
    shots(page, "cluster-built")

    # Edit the node count: same form, prefilled; the cluster grows by one node.
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("node count")).to_have_value("1")
    page.get_by_label("node count").fill("2")
    shots(page, "edit-form")
    page.get_by_role("button", name="Save changes").click()
    expect(page).to_have_url(re.compile(r"/clusters/hubtest"))
    success_dialog(page)
    page.get_by_role("button", name="Show my cluster").click()
    expect(rows).to_have_count(4)
    expect(rows.filter(has_text="node2")).to_contain_text("built")
    shots(page, "cluster-edited")
    assert "count: 2" in (real_hub.specs / "hubtest.yaml").read_text()

    # Destroy: type the name to confirm; the spec says ensure: absent; the cluster goes.
    page.get_by_role("link", name="Destroy").click()
    page.get_by_label("Type hubtest to confirm").fill("hubtest")
    shots(page, "destroy-confirm")
    page.get_by_role("button", name="Destroy cluster").click()
    expect(page.locator("#phase-chip")).to_have_text("destroyed", timeout=BUILD_TIMEOUT)
    assert "ensure: absent" in (real_hub.specs / "hubtest.yaml").read_text()
    shots(page, "destroyed")
    page.get_by_role("link", name="Clusters", exact=True).click()
    expect(page.locator('tr[data-cluster="hubtest"] .chip')).to_have_text("destroyed")
    shots(page, "dashboard-after")
    assert errors == []
