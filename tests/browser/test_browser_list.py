"""The cluster list for many people, in a real Chromium: two people side by side behind the proxy
(alice in physics, bob in chemistry) each see only their project's clusters with project, owner,
age and expiry; alice filters with the plain form and sorts by a column header, and the page's
polling keeps her filter as clusters change (a new failure appears in her "error" view, a recovered
one leaves it) while bob's list never shows a physics cluster. At a phone's width the list still
fits the screen. Data: the fake hub (fakehub.py) with projects in its settings, specs in git."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehub import FakeHub
from playwright.sync_api import Browser, Page, expect
from scenes import overflow
from webfakes import spec_dict, write_phase

from reconciler.model.projects import Project
from reconciler.model.spec import parse_spec, spec_digest
from webview.auth import AuthConfig

pytestmark = pytest.mark.browser
Shot = Callable[[Any, str], None]
Axe = Callable[..., list[str]]  # the conftest fixture: axe(page) -> violations
HEADER = "X-Remote-User"
TODAY = dt.datetime.now(dt.UTC).date()


def commit(hub: FakeHub, name: str, author: str, days_ago: int, phase: str, **changes: Any) -> None:
    """A spec committed by `author` `days_ago` days ago, left in `phase` (the stand-in reconciler
    is told it has seen the spec, so the phase stays until the test changes it)."""
    data = spec_dict(name, **changes)
    (hub.specs / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    when = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)).isoformat()
    env = {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": f"{author.split()[0].lower()}@example.org",
        "GIT_COMMITTER_NAME": author,
        "GIT_COMMITTER_EMAIL": "hub@example.org",
        "GIT_AUTHOR_DATE": when,
        "GIT_COMMITTER_DATE": when,
    }
    for args in (["add", f"{name}.yaml"], ["commit", "-q", "-m", f"{name} by {author}"]):
        subprocess.run(["git", "-C", str(hub.specs), *args], check=True, env=env, capture_output=True)
    hub.reconciler.seen[name] = spec_digest(parse_spec(data))
    write_phase(hub.clusters, name, phase, data)


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[FakeHub]:
    projects = {
        "physics": Project("physics", "sandbox", ("alice",)),
        "chemistry": Project("chemistry", "sandbox", ("bob",)),
    }
    hub = FakeHub(
        tmp_path, step=0.5, auth=AuthConfig(proxy_header=HEADER), projects=projects, admins=("carol",)
    )
    subprocess.run(["git", "init", "-q", "-b", "main", str(hub.specs)], check=True)
    soon = (TODAY + dt.timedelta(days=2)).isoformat()
    commit(hub, "quark", "Alice Tremblay", 12, "build_success", project="physics", expires=soon)
    commit(hub, "muon", "Dave Smith", 3, "build_success", project="physics")
    commit(hub, "gluon", "Alice Tremblay", 30, "build_error", project="physics")
    commit(hub, "benzene", "Bob Rodriguez", 5, "build_error", project="chemistry")
    commit(hub, "ethanol", "Bob Rodriguez", 1, "build_success", project="chemistry")
    hub.start()
    yield hub
    hub.stop()


def person(browser: Browser, user: str, width: int = 1280) -> Page:
    """A browser window of its own for `user`, as the proxy would send them."""
    context = browser.new_context(extra_http_headers={HEADER: user}, viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def listed(page: Page) -> list[str]:
    return page.locator("#dashboard tr[data-cluster]").evaluate_all(
        "rows => rows.map(r => r.dataset.cluster)"
    )


def test_two_people_filter_and_sort_their_own_lists(browser: Browser, hub: FakeHub, shots: Shot) -> None:
    alice, bob = person(browser, "alice"), person(browser, "bob")
    alice.goto(hub.url)
    bob.goto(hub.url)
    expect(alice.locator("#list-count")).to_have_text("3 clusters")
    assert listed(alice) == ["gluon", "muon", "quark"]
    assert listed(bob) == ["benzene", "ethanol"]
    quark = alice.locator('tr[data-cluster="quark"]')
    expect(quark.locator("td.project")).to_contain_text("physics")
    expect(quark.locator("td.owner")).to_contain_text("Alice Tremblay")
    expect(quark.locator("td.age")).to_contain_text("12 days")
    expect(quark.locator("td.expires")).to_contain_text("in 2 days")
    expect(alice.locator('tr[data-cluster="muon"] td.owner')).to_contain_text("Dave Smith")
    expect(alice.locator("#filter-project option")).to_have_text(["All my projects", "physics"])
    shots(alice, "alice-all")
    shots(bob, "bob-all")

    # alice asks for her failing clusters with the plain form
    alice.get_by_label("Status").select_option("error")
    alice.get_by_role("button", name="Filter").click()
    expect(alice.locator("#list-count")).to_have_text("1 of 3 clusters match")
    assert listed(alice) == ["gluon"] and "status=error" in alice.url
    shots(alice, "alice-errors")

    # the polls keep her filter: a new failure joins, a recovered cluster leaves
    write_phase(hub.clusters, "muon", "build_error", spec_dict("muon", project="physics"))
    expect(alice.locator('#dashboard tr[data-cluster="muon"]')).to_be_visible(timeout=10_000)
    write_phase(hub.clusters, "gluon", "build_success", spec_dict("gluon", project="physics"))
    expect(alice.locator('#dashboard tr[data-cluster="gluon"]')).to_have_count(0, timeout=10_000)
    assert listed(alice) == ["muon"]
    # bob's list polled all along and never shows a physics cluster
    bob.wait_for_timeout(3500)
    assert listed(bob) == ["benzene", "ethanol"]
    shots(alice, "alice-errors-polled")

    # sorting by a header keeps the filter; the other direction on a second click
    alice.get_by_role("link", name="Clear").click()
    expect(alice.locator("#list-count")).to_have_text("3 clusters")
    alice.locator("th a.sort", has_text="Age").click()
    expect(alice.locator('th[aria-sort="ascending"]')).to_contain_text("Age")
    assert listed(alice) == ["muon", "quark", "gluon"]  # youngest first
    alice.locator("th a.sort", has_text="Age").click()
    expect(alice.locator('th[aria-sort="descending"]')).to_contain_text("Age")
    assert listed(alice) == ["gluon", "quark", "muon"]
    alice.get_by_label("Name, owner or project contains").fill("dave")
    alice.get_by_role("button", name="Filter").click()
    assert listed(alice) == ["muon"] and "sort=-age" in alice.url
    shots(alice, "alice-sorted-filtered")
    assert alice.errors == [] and bob.errors == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", (360, 1280))
def test_the_list_fits_the_screen(browser: Browser, hub: FakeHub, shots: Shot, axe: Axe, width: int) -> None:
    carol = person(browser, "carol", width)
    carol.goto(hub.url)
    expect(carol.locator("#list-count")).to_have_text("5 clusters")
    expect(carol.locator("#filter-project option")).to_have_text(["All projects", "chemistry", "physics"])
    seen = overflow(carol)
    assert seen["scroll"] <= seen["width"], f"the list scrolls sideways at {width} px: {seen['out']}"
    shots(carol, f"admin-{width}")
    assert axe(carol) == []
    carol.goto(hub.url + "/?q=nothing-matches")
    expect(carol.get_by_role("heading", name="No cluster matches")).to_be_visible()
    assert axe(carol) == []
