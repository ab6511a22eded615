"""Two people side by side in a real Chromium: two browser contexts, each sending its own identity
headers as the hub's authenticating proxy would (the web view under uvicorn on loopback, the
trusted proxy address by default). alice (physics) and bob (chemistry) see different dashboards,
their own names in the header, and bob cannot open alice's cluster: it is "not found"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehub import FakeHub
from playwright.sync_api import Browser, expect
from webfakes import spec_dict

from reconciler.model.projects import Project
from webview.auth import AuthConfig

pytestmark = pytest.mark.browser
Shot = Callable[[Any, str], None]
HEADER = "X-Remote-User"


@pytest.fixture
def people_hub(tmp_path: Path) -> Iterator[FakeHub]:
    hub = FakeHub(
        tmp_path,
        step=0.5,
        auth=AuthConfig(proxy_header=HEADER),
        admins=("carol",),
        projects={
            "physics": Project("physics", "sandbox", ("alice",)),
            "chemistry": Project("chemistry", "sandbox", ("bob",)),
        },
    )
    for name, project in (("quark", "physics"), ("benzene", "chemistry")):
        data = spec_dict(name, project=project)
        (hub.specs / f"{name}.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    yield hub.start()
    hub.stop()


def test_two_people_see_their_own_dashboards(browser: Browser, people_hub: FakeHub, shots: Shot) -> None:
    alice_ctx = browser.new_context(
        extra_http_headers={HEADER: "alice", "givenName": "Alice", "surname": "Tremblay"}
    )
    bob_ctx = browser.new_context(extra_http_headers={HEADER: "bob", "displayName": "Bob Rodriguez"})
    try:
        alice, bob = alice_ctx.new_page(), bob_ctx.new_page()
        alice.goto(people_hub.url)
        bob.goto(people_hub.url)
        expect(alice.get_by_role("link", name="quark", exact=True)).to_be_visible()
        expect(bob.get_by_role("link", name="benzene", exact=True)).to_be_visible()
        expect(alice.get_by_role("link", name="benzene", exact=True)).to_have_count(0)
        expect(bob.get_by_role("link", name="quark", exact=True)).to_have_count(0)
        expect(alice.locator(".who .user")).to_contain_text("Alice Tremblay")
        expect(alice.locator(".who .user")).to_have_attribute("title", "Signed in as alice")
        expect(bob.locator(".who .user")).to_contain_text("Bob Rodriguez")
        shots(alice, "alice-dashboard")
        shots(bob, "bob-dashboard")
        # the list's live polling keeps to each person's clusters too
        (people_hub.specs / "muon.yaml").write_text(
            yaml.safe_dump(spec_dict("muon", project="physics"), sort_keys=False)
        )
        expect(alice.get_by_role("link", name="muon", exact=True)).to_be_visible(timeout=15_000)
        bob.wait_for_timeout(3000)
        expect(bob.get_by_role("link", name="muon", exact=True)).to_have_count(0)
        # alice's cluster page is hers; for bob it does not exist
        alice.get_by_role("link", name="quark", exact=True).click()
        expect(alice.get_by_role("heading", name="quark", exact=True)).to_be_visible()
        answer = bob.goto(f"{people_hub.url}/clusters/quark")
        assert answer is not None and answer.status == 404
        expect(bob.get_by_text('no cluster named "quark"')).to_be_visible()
        shots(bob, "bob-not-found")
    finally:
        alice_ctx.close()
        bob_ctx.close()
