"""Safe edits in a real Chromium, on fixture data (fakehub.py): a save over a spec someone changed
meanwhile comes back as the form with a clear message and writes nothing, and a cluster in its last
days says so on its page (and keeps saying it as the page polls)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from fakehub import FakeHub
from playwright.sync_api import Page, expect
from webfakes import spec_dict

pytestmark = pytest.mark.browser
Shot = Callable[[Any, str], None]
STALE = "Someone changed this cluster since you opened the form; review and save again."


@pytest.fixture
def console(page: Page) -> Iterator[list[str]]:
    """Script errors and CSP violations fail the test; a form sent back (409, 422) is expected."""
    errors: list[str] = []

    def on_console(message: Any) -> None:
        if message.type == "error" and not re.search(r"status of (409|422)", message.text):
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield errors
    assert errors == []


def write(hub: FakeHub, name: str, **changes: Any) -> None:
    (hub.specs / f"{name}.yaml").write_text(yaml.safe_dump(spec_dict(name, **changes), sort_keys=False))


def read(hub: FakeHub, name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((hub.specs / f"{name}.yaml").read_text())
    return data


def test_a_stale_save_comes_back_with_the_form(
    page: Page, fake_hub: FakeHub, shots: Shot, console: list[str]
) -> None:
    write(fake_hub, "shared")
    page.goto(fake_hub.url + "/clusters/shared/edit")
    write(fake_hub, "shared", nb_users=42)  # someone else saves while the form is open
    page.get_by_label("node count").fill("3")
    page.get_by_role("button", name="Save changes").click()
    errors = page.locator("#form-errors")
    expect(errors).to_contain_text(STALE)
    expect(page.get_by_label("node count")).to_have_value("3")  # what I typed is still there
    assert read(fake_hub, "shared")["nb_users"] == 42  # nothing written
    assert read(fake_hub, "shared")["instances"]["node"]["count"] == 2
    errors.get_by_text("says now").click()
    expect(page.locator("#current-spec pre")).to_contain_text("nb_users: 42")
    shots(page, "stale-save")
    page.get_by_role("button", name="Save changes").click()  # reviewed: save again
    expect(page).to_have_url(re.compile(r"/clusters/shared\?since="))
    assert read(fake_hub, "shared")["instances"]["node"]["count"] == 3


def test_the_cluster_page_warns_in_the_last_days(
    page: Page, fake_hub: FakeHub, shots: Shot, console: list[str]
) -> None:
    in_two_days = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    write(fake_hub, "soon", expires=in_two_days.isoformat())
    page.goto(fake_hub.url + "/clusters/soon")
    warning = page.locator("#expiry")
    days = r"(2 days|1 day)"  # 1 if midnight UTC passes during the test
    expect(warning).to_be_visible()
    expect(warning).to_have_text(re.compile(rf"Destroyed in {days} · expires {in_two_days}, "))
    dialog = page.get_by_role("dialog", name=re.compile("Your cluster is (built|ready)"))
    expect(dialog).to_be_visible(timeout=20_000)  # the page polled and swapped its body meanwhile
    dialog.get_by_role("button", name="Show my cluster").click()
    expect(warning).to_have_text(re.compile(rf"Destroyed in {days}"))
    shots(page, "expiry-warning")
    page.get_by_role("link", name="Clusters", exact=True).click()
    expect(page.locator('tr[data-cluster="soon"] .expiry-warning')).to_have_text(re.compile(days))
