"""The cluster page as people use it, in Chromium at phone and desktop widths (fakehub.py, statuses
written as the reconciler writes them): a failure in words with Terraform's output one click away,
the countdown ticking, Retry now, a 40-node cluster's hosts grouped and opened on demand, and the
copy buttons putting the SSH command and the guest password on the clipboard."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from fakehub import FakeHub
from playwright.sync_api import BrowserContext, Page, expect
from webfakes import spec_dict, write_phase

from reconciler.cloud.shortfall import Shortfall, wait_message
from reconciler.model.retries import read_retry
from reconciler.model.spec import parse_spec, spec_digest
from reconciler.model.status import QuotaWait, Reason, write_status

pytestmark = pytest.mark.browser
Shot = Callable[[Any, str], None]
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
OUTAGE = "Error creating OpenStack server: POST http://127.0.0.1:8774/v2.1/servers returned HTTP 503"


@pytest.fixture(params=list(WIDTHS))
def sized(request: pytest.FixtureRequest, page: Page, fake_hub: FakeHub) -> Iterator[Page]:
    """The page at a width; script errors fail the test (checked before the hub stops, so a poll
    that meets a stopped hub is not one)."""
    page.set_viewport_size(WIDTHS[request.param])
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    yield page
    assert errors == []


def seed(hub: FakeHub, name: str, **changes: Any) -> dict[str, Any]:
    """A spec the stand-in reconciler leaves alone: the test writes its statuses."""
    data = spec_dict(name, **changes)
    hub.reconciler.seen[name] = spec_digest(parse_spec(data))
    (hub.specs / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return data


def test_a_failure_in_words_counts_down_and_retries(sized: Page, fake_hub: FakeHub, shots: Shot) -> None:
    page = sized
    seed(fake_hub, "down")
    status = write_phase(fake_hub.clusters, "down", "build_running")
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=40)
    write_status(fake_hub.clusters, status.failed(dt.datetime.now(dt.UTC), Reason.CLOUD_ERROR, OUTAGE, when))
    page.goto(fake_hub.url + "/clusters/down")
    panel = page.locator("#failure")
    expect(panel.get_by_role("heading", name="The cloud's compute service is unavailable")).to_be_visible()
    expect(panel.locator("#failure-todo")).to_have_text(re.compile("the hub tries again by itself"))
    raw = panel.locator("#failure-detail .message")
    expect(raw).to_be_hidden()  # Terraform's words are one click away ...
    next_attempt = panel.locator(".next-attempt")
    expect(next_attempt).to_have_text(re.compile(r"^Next attempt in \d+ s\.$"))
    first = next_attempt.inner_text()
    expect(next_attempt).not_to_have_text(first, timeout=3000)  # ... and the countdown ticks
    shots(page, "failure")
    panel.locator("#failure-detail summary").click()
    expect(raw).to_be_visible()
    expect(raw).to_contain_text("HTTP 503")
    page.get_by_role("button", name="Retry now").click()
    expect(page.locator("#retry-asked")).to_contain_text("the hub tries again within seconds")
    assert read_retry(fake_hub.specs, "down") is not None
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_forty_nodes_are_one_line_until_opened(sized: Page, fake_hub: FakeHub, shots: Shot) -> None:
    page = sized
    data = spec_dict("big")
    data["instances"]["node"]["count"] = 40
    seed(fake_hub, "big", instances=data["instances"])
    write_phase(fake_hub.clusters, "big", "build_success", spec_data=data)
    page.goto(fake_hub.url + "/clusters/big")
    group = page.locator("#hosts-node")
    expect(group.locator("summary")).to_have_text("node1–node40, 40 hosts · p2-3gb · all built")
    node40 = group.locator("tbody tr").filter(has_text="node40")
    expect(node40).to_be_hidden()
    expect(page.locator("#hosts-mgmt tbody tr")).to_be_visible()  # a small group is open
    group.locator("summary").click()
    expect(node40).to_be_visible()
    shots(page, "hosts-opened")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_copy_buttons_put_the_text_on_the_clipboard(
    sized: Page, context: BrowserContext, fake_hub: FakeHub, shots: Shot
) -> None:
    page = sized
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=fake_hub.url)
    seed(fake_hub, "copy", guest_passwd="s3cret-passw0rd")
    write_phase(fake_hub.clusters, "copy", "build_success")
    page.goto(fake_hub.url + "/clusters/copy")
    ssh = page.get_by_role("button", name="Copy the SSH command").first
    ssh.focus()
    page.keyboard.press("Enter")  # reachable and usable from the keyboard
    expect(ssh).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == page.locator("#ssh-line").inner_text()
    expect(page.locator("#copy-status")).to_have_text("Copied the SSH command to the clipboard.")
    shots(page, "copied")
    page.get_by_role("button", name="Copy the guest password").click()
    expect(page.get_by_role("button", name="Copy the guest password")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "s3cret-passw0rd"
    expect(page.locator("#guest-password")).to_have_text("••••••••")  # copied, never shown
    expect(ssh).to_have_text("Copy", timeout=5000)  # the acknowledgement passes


def test_a_built_cluster_scaled_past_the_quota_keeps_running_and_says_the_change_waits(
    sized: Page, fake_hub: FakeHub, shots: Shot
) -> None:
    page = sized
    data = seed(fake_hub, "grow")
    status = write_phase(fake_hub.clusters, "grow", "build_success", data)
    now = dt.datetime.now(dt.UTC)
    wait = QuotaWait(needs={"cores": 9}, free={"cores": 8}, checked_at=now)
    message = wait_message([Shortfall("cores", 9, 8, 64)], built=True)
    write_status(
        fake_hub.clusters,
        status.waiting_for_quota(
            now, status.observed_hash or "h", wait, message, now + dt.timedelta(seconds=60)
        ),
    )
    page.goto(fake_hub.url + "/clusters/grow")
    panel = page.locator("#quota-wait")
    expect(panel.get_by_role("heading")).to_have_text("The change waits for quota: 1 more vCPU needed")
    expect(panel).to_contain_text("The cluster keeps running as it is")
    expect(panel.locator(".wait-figures")).to_contain_text("vCPUs: 9 needed, 8 free")
    expect(page.locator(".chip").first).to_contain_text(re.compile("waiting for quota", re.I))
    expect(page.locator(".loader")).to_have_count(0)  # nothing is being built meanwhile
    shots(page, "quota-wait")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
