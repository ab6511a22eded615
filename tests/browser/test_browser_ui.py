"""The pages in a real Chromium, on fixture data: the web view under uvicorn with a fake catalog and
a stand-in reconciler (fakehub.py). Checks what only a browser shows: the live quota check, rows
added and removed, polling, the success dialog, the password on demand, Retry now, the destroy
confirmation, and that no script or CSP error appears on the console."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fakehub import FakeHub
from playwright.sync_api import Page, expect
from webfakes import KEY, spec_dict, write_phase

from reconciler.model.retries import read_retry
from reconciler.model.secrets import guest_password
from reconciler.model.spec import parse_spec, spec_digest

pytestmark = pytest.mark.browser
Shot = Callable[[Any, str], None]


@pytest.fixture
def console(page: Page) -> Iterator[list[str]]:
    """Errors on the browser console (script errors, CSP violations) fail the test."""
    errors: list[str] = []
    expected = "the server responded with a status of 422"  # a form sent back with its errors

    def on_console(message: Any) -> None:
        if message.type == "error" and expected not in message.text:
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield errors
    assert errors == []


def write(hub: FakeHub, name: str, **changes: Any) -> None:
    import yaml

    (hub.specs / f"{name}.yaml").write_text(yaml.safe_dump(spec_dict(name, **changes), sort_keys=False))


def close_success(page: Page) -> None:
    """Seen while building, a cluster that reaches build_success opens the success dialog."""
    dialog = page.get_by_role("dialog", name=re.compile("Your cluster is (built|ready)"))
    expect(dialog).to_be_visible(timeout=20_000)
    dialog.get_by_role("button", name="Show my cluster").click()
    expect(page.locator("#phase-chip")).to_have_text("build success")


def test_spawn_on_fixture_data(page: Page, fake_hub: FakeHub, shots: Shot, console: list[str]) -> None:
    page.goto(fake_hub.url)
    expect(page.get_by_text("No clusters yet")).to_be_visible()
    shots(page, "empty-dashboard")
    page.get_by_role("link", name="Create a cluster").click()
    expect(page).to_have_url(re.compile(r"/clusters/new$"))
    page.get_by_label("Cluster name").fill("demo")
    page.get_by_label("SSH public keys").fill(KEY)
    usage = page.locator("#usage")
    expect(usage.locator('tr[data-quota="cores"] .need')).to_have_text("8")
    page.get_by_label("node count").fill("40")
    expect(page.locator("#fit")).to_contain_text("Does not fit")
    expect(usage.locator('tr[data-quota="cores"]')).to_have_class(re.compile("over"))
    shots(page, "form-over-quota")
    page.get_by_label("node count").fill("2")
    expect(page.locator("#fit")).to_have_text("Fits in the remaining quota.")
    expect(usage.locator('tr[data-quota="cores"] .need')).to_have_text("10")
    shots(page, "form-filled")
    page.get_by_role("button", name="Spawn").click()
    expect(page).to_have_url(re.compile(r"/clusters/demo"))
    expect(page.locator(".loader")).to_be_visible()
    shots(page, "building")
    dialog = page.get_by_role("dialog", name=re.compile("Your cluster is (built|ready)"))
    expect(dialog).to_be_visible(timeout=20_000)
    expect(dialog).to_contain_text("ssh centos@198.51.100.12")
    shots(page, "success-dialog")
    dialog.get_by_role("button", name="Show my cluster").click()
    expect(dialog).to_be_hidden()
    instances = page.locator("#instances-table tbody tr")
    expect(instances).to_have_count(4)
    expect(instances.filter(has_text="login1")).to_contain_text("198.51.100.12")
    expect(page.locator("#phase-chip")).to_have_text("build success")
    expect(page.locator(".loader")).to_have_count(0)
    shots(page, "cluster-state")
    page.get_by_role("link", name="Clusters", exact=True).click()
    expect(page.locator('tr[data-cluster="demo"] .chip')).to_have_text("build success")


def test_rows_flavors_and_labels(page: Page, fake_hub: FakeHub, shots: Shot, console: list[str]) -> None:
    page.goto(fake_hub.url + "/clusters/new")
    page.get_by_role("button", name="Add instance group").click()
    page.get_by_label("new group prefix").fill("gpu")
    expect(page.get_by_label("gpu count")).to_be_visible()
    page.get_by_label("gpu count").fill("2")
    flavors = page.get_by_label("gpu flavor")
    expect(flavors.locator("option", has_text="p2-3gb")).to_have_count(1)
    page.get_by_label("gpu tags").fill("mgmt")  # mgmt needs 6 GiB: the small flavors go
    expect(flavors.locator("option", has_text="p2-3gb")).to_have_count(0)
    page.get_by_label("gpu tags").fill("node")
    page.get_by_label("gpu flavor").select_option("p8-12gb")
    expect(page.locator('#usage tr[data-quota="cores"] .need')).to_have_text("24")
    page.get_by_role("button", name="Add volume").click()
    page.get_by_label("new volume name").fill("data")
    page.get_by_label("nfs/data size").fill("20")
    expect(page.locator('#usage tr[data-quota="gigabytes"] .need')).to_have_text("280 GB")
    page.get_by_role("button", name="Remove nfs/scratch").click()
    expect(page.locator('#usage tr[data-quota="gigabytes"] .need')).to_have_text("230 GB")
    page.get_by_label("SSH public keys").fill(KEY)
    page.get_by_label("Cluster name").fill("rows")
    shots(page, "rows-added")
    page.get_by_role("button", name="Spawn").click()
    expect(page).to_have_url(re.compile(r"/clusters/rows"))
    spec = (fake_hub.specs / "rows.yaml").read_text()
    assert "gpu:" in spec and "p8-12gb" in spec and "data:" in spec and "scratch" not in spec


def test_the_usage_table_redrawn_for_another_cloud_keeps_the_servers_labels(
    page: Page, fake_hub: FakeHub, console: list[str]
) -> None:
    # The script redraws the table when the cloud changes; its own label table once said "VCPUs".
    page.goto(fake_hub.url + "/clusters/new")
    cores = page.locator('#usage tr[data-quota="cores"] th')
    expect(cores).to_have_text("vCPUs")
    cores.evaluate("th => { th.textContent = 'before the redraw'; }")
    with page.expect_response(re.compile(r"/api/resources\?cloud=")):
        page.locator("#cloud").dispatch_event("change")
    expect(cores).to_have_text("vCPUs")
    expect(page.locator('#usage tr[data-quota="gigabytes"] th')).to_have_text("Volume storage")
    page.get_by_label("node count").fill("3")
    expect(page.locator('#usage tr[data-quota="cores"] .need')).to_have_text("12")  # 4 + 2 + 3 × 2


def test_server_errors_appear_next_to_fields(browser: Any, fake_hub: FakeHub, shots: Shot) -> None:
    # Without JavaScript: the form's script would refuse this Spawn before sending it
    # (test_browser_validation.py); the server's own answer is what a page without it shows.
    page = browser.new_context(java_script_enabled=False).new_page()
    page.goto(fake_hub.url + "/clusters/new")
    page.get_by_label("Cluster name").fill("Bad Name!")
    page.get_by_label("node tags").fill("node bogus")
    page.get_by_role("button", name="Spawn").click()
    expect(page.locator("#form-errors")).to_contain_text("The spec was not saved")
    expect(page.locator("#err-cluster_name")).to_contain_text("is not a valid name")
    expect(page.locator("#err-public_keys")).to_be_visible()
    expect(page.locator("#err-inst-2-tags")).to_contain_text('unknown tag "bogus"')
    expect(page.get_by_label("Cluster name")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("Cluster name")).to_have_value("Bad Name!")
    shots(page, "errors")


def test_dashboard_follows_clusters_by_polling(
    page: Page, tmp_path: Path, shots: Shot, console: list[str]
) -> None:
    fake_hub = FakeHub(tmp_path, step=1.5).start()
    page.goto(fake_hub.url)
    write(fake_hub, "polled")
    chip = page.locator('tr[data-cluster="polled"] .chip')
    expect(chip).to_be_visible(timeout=10_000)
    expect(page.locator('tr[data-cluster="polled"] progress')).to_be_visible(timeout=10_000)
    shots(page, "building")
    expect(chip).to_have_text("build success", timeout=20_000)
    shots(page, "built")
    fake_hub.stop()


def test_password_on_demand(page: Page, fake_hub: FakeHub, console: list[str]) -> None:
    write(fake_hub, "secret")
    page.goto(fake_hub.url + "/clusters/secret")
    close_success(page)
    expected = guest_password(fake_hub.clusters, "secret", None)
    expect(page.locator("#guest-password")).to_have_text("••••••••")
    page.get_by_role("button", name="Show password").click()
    expect(page.locator("#guest-password")).to_have_text(expected)
    page.get_by_role("button", name="Hide password").click()
    expect(page.locator("#guest-password")).to_have_text("••••••••")


def test_retry_now_on_a_failed_cluster(page: Page, fake_hub: FakeHub, console: list[str]) -> None:
    fake_hub.reconciler.seen["failing"] = spec_digest(parse_spec(spec_dict("failing")))  # left alone
    write(fake_hub, "failing")
    write_phase(fake_hub.clusters, "failing", "build_error")
    page.goto(fake_hub.url + "/clusters/failing")
    expect(page.locator("#phase-chip")).to_have_text("build error")
    page.get_by_role("button", name="Retry now").click()
    expect(page.locator("#retry-asked")).to_contain_text("the hub tries again within seconds")
    assert read_retry(fake_hub.specs, "failing") is not None


def test_edit_then_destroy(page: Page, fake_hub: FakeHub, shots: Shot, console: list[str]) -> None:
    write(fake_hub, "edited")
    page.goto(fake_hub.url + "/clusters/edited")
    close_success(page)
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("Cluster name")).to_have_attribute("readonly", "")
    page.get_by_label("node count").fill("3")
    shots(page, "edit-form")
    page.get_by_role("button", name="Save changes").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible(timeout=20_000)
    dialog.get_by_role("button", name="Show my cluster").click()
    expect(page.locator("#instances-table tbody tr").filter(has_text="node3")).to_have_count(1)
    shots(page, "edited")
    page.get_by_role("link", name="Destroy").click()
    button = page.get_by_role("button", name="Destroy cluster")
    expect(button).to_be_disabled()
    page.get_by_label("Type edited to confirm").fill("edite")
    expect(button).to_be_disabled()
    page.get_by_label("Type edited to confirm").fill("edited")
    expect(button).to_be_enabled()
    shots(page, "destroy-confirm")
    button.click()
    expect(page.locator("#phase-chip")).to_have_text("destroyed", timeout=15_000)
    assert "ensure: absent" in (fake_hub.specs / "edited.yaml").read_text()
    shots(page, "destroyed")


def test_volume_types_and_a_quota_part_the_cloud_would_not_show(
    page: Page, fake_hub: FakeHub, shots: Shot, console: list[str]
) -> None:
    """Each volume row picks a volume type (the cloud's default first); a quota part the cloud
    refused is named, its quotas read "unknown", and the live check says it cannot check them:
    never "Fits", and a known quota over its limit still says "Does not fit"."""
    fake_hub.catalog.volume_types = [
        {"name": "ssd", "description": "Fast SSD-backed storage", "default": True},
        {"name": "hdd", "description": "", "default": False},
    ]
    refused = "cloud sandbox does not let these credentials read network quotas (403)"
    fake_hub.catalog.unknown = {"network_quotas": refused}
    page.goto(fake_hub.url + "/clusters/new")
    expect(page.locator('[data-unknown-part="network_quotas"]')).to_have_text(
        f"Network quotas: unknown ({refused})"
    )
    home = page.get_by_label("nfs/home type")
    expect(home).to_have_value("ssd")
    expect(home.locator("option:checked")).to_have_text("ssd (default) · Fast SSD-backed storage")
    page.get_by_label("nfs/scratch type").select_option("hdd")
    ips = page.locator('#usage tr[data-quota="floating_ips"]')
    expect(ips.locator(".free")).to_have_text("unknown")
    expect(ips.locator(".need")).to_have_text("1")  # the login node is public
    fit = page.locator("#fit")
    expect(fit).to_have_text(
        "Cannot check Floating IPs: the cloud did not show this quota. The other quotas have room."
    )
    expect(fit).not_to_contain_text("Fits")
    page.get_by_label("node count").fill("40")
    expect(fit).to_contain_text("Does not fit")
    expect(fit).to_contain_text("Cannot check Floating IPs")
    expect(ips).not_to_have_class(re.compile("over"))
    page.get_by_label("node count").fill("1")
    page.get_by_role("button", name="Add volume").click()
    page.get_by_label("new volume name").fill("data")
    page.get_by_label("nfs/data size").fill("20")
    expect(page.get_by_label("nfs/data type")).to_have_value("ssd")
    with page.expect_response(re.compile(r"/api/resources\?cloud=")):  # the script redraws it all
        page.locator("#cloud").dispatch_event("change")
    expect(ips.locator(".free")).to_have_text("unknown")
    expect(page.get_by_label("nfs/scratch type")).to_have_value("hdd")
    expect(page.locator('[data-unknown-part="network_quotas"]')).to_have_count(1)
    shots(page, "volume-types-and-unknown-quotas")
    page.get_by_label("Cluster name").fill("typed")
    page.get_by_label("SSH public keys").fill(KEY)
    page.get_by_role("button", name="Spawn").click()
    expect(page).to_have_url(re.compile(r"/clusters/typed"))
    import yaml

    volumes = yaml.safe_load((fake_hub.specs / "typed.yaml").read_text())["volumes"]["nfs"]
    assert {n: v.get("type") for n, v in volumes.items()} == {
        "home": "ssd", "project": "ssd", "scratch": "hdd", "data": "ssd",
    }  # fmt: skip
