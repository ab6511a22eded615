"""The cluster form checked as the person types, in Chromium on fixture data (fakehub.py), at phone
and desktop widths: errors fixed one by one (a taken name, a bad key, a count too high, a flavor
below its role's minimum), each beside its field and in the summary on top, each cleared when fixed,
Spawn marked disabled with why until none is left; the server's summary focused after a refused
Spawn; and the SSH key table (tests/data/ssh_key_cases.json) answered by the script's port of the
key parser exactly as by the Python one."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakehub import FakeHub
from playwright.sync_api import Page, expect
from webfakes import KEY, spec_dict

pytestmark = pytest.mark.browser
Shot = Callable[[Any, str], None]
CASES = json.loads((Path(__file__).parent.parent / "data" / "ssh_key_cases.json").read_text())["cases"]
BAD_KEY = next(c["key"] for c in CASES if c["what"] == "ssh-ed25519: cut short")
WIDTHS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


def write(hub: FakeHub, name: str) -> None:
    (hub.specs / f"{name}.yaml").write_text(yaml.safe_dump(spec_dict(name), sort_keys=False))


def test_the_scripts_key_parser_answers_the_table_as_python_does(page: Page, fake_hub: FakeHub) -> None:
    page.goto(fake_hub.url + "/clusters/new")
    got = page.evaluate("cases => cases.map(c => window.MCHubFormCheck.checkKey(c.key))", CASES)
    for case, answer in zip(CASES, got, strict=True):
        expected = {"type": case["type"]} if case["type"] else {"problem": case["problem"]}
        assert answer == expected, case["what"]


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_create_with_errors_fixed_one_by_one(page: Page, fake_hub: FakeHub, shots: Shot, width: str) -> None:
    page.set_viewport_size(WIDTHS[width])
    write(fake_hub, "taken")
    page.goto(fake_hub.url + "/clusters/new")
    spawn, note, box = page.locator("#submit"), page.locator("#submit-note"), page.locator("#form-errors")
    items = box.locator("#error-list li")
    page.get_by_label("SSH public keys").fill(KEY)
    expect(spawn).to_be_enabled()
    expect(box).to_have_count(0)

    page.get_by_label("Cluster name").fill("taken")
    expect(page.locator("#err-cluster_name")).to_contain_text('a cluster named "taken" already exists')
    page.get_by_label("SSH public keys").fill(BAD_KEY)
    page.get_by_label("node count").fill("900")
    page.get_by_label("node flavor").select_option("p2-3gb")  # picked: it stays when the role changes
    page.get_by_label("node tags").fill("node mgmt")  # now a mgmt group: p2-3gb is below its minimum
    expect(items).to_have_count(4)
    expect(box).to_have_attribute("role", "alert")
    expect(page.get_by_label("node count")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#err-public_keys")).to_have_text(
        "this key is cut short: its key data ends inside the ed25519 key"
    )
    expect(page.locator("#err-inst-2-count")).to_have_text("at most 500")
    expect(page.locator("#err-inst-2-type")).to_contain_text("below Magic Castle's minimum for mgmt")
    expect(spawn).to_be_disabled()
    expect(spawn).to_have_attribute("aria-describedby", "submit-note")
    expect(note).to_have_text("Fix 4 problems above to spawn.")
    shots(page, f"{width}-four-problems")
    assert page.evaluate("document.documentElement.scrollWidth") <= WIDTHS[width]["width"]

    box.get_by_role("link", name="node count").click()  # the summary leads to the field
    expect(page.get_by_label("node count")).to_be_focused()
    spawn.click(force=True)  # marked disabled: refused here, nothing sent
    expect(page).to_have_url(re.compile(r"/clusters/new$"))
    expect(box).to_be_focused()

    page.get_by_label("Cluster name").fill("fresh")
    expect(page.locator("#err-cluster_name")).to_have_count(0)
    expect(items).to_have_count(3)
    page.get_by_label("SSH public keys").fill(KEY)
    expect(page.locator("#err-public_keys")).to_have_count(0)
    expect(items).to_have_count(2)
    page.get_by_label("node count").fill("2")
    expect(items).to_have_count(1)
    expect(note).to_have_text("Fix 1 problem above to spawn.")
    page.get_by_label("node flavor").select_option("p4-6gb")
    expect(box).to_be_hidden()
    expect(note).to_have_text("")
    expect(spawn).to_be_enabled()
    shots(page, f"{width}-all-fixed")
    spawn.click()
    expect(page).to_have_url(re.compile(r"/clusters/fresh"))
    spec = yaml.safe_load((fake_hub.specs / "fresh.yaml").read_text())
    assert spec["instances"]["node"] == {"type": "p4-6gb", "tags": ["node", "mgmt"], "count": 2}


def test_a_refused_spawn_lists_every_problem_and_is_focused(
    page: Page, fake_hub: FakeHub, shots: Shot
) -> None:
    page.goto(fake_hub.url + "/clusters/new")
    page.get_by_label("Cluster name").fill("late")
    page.get_by_label("SSH public keys").fill(KEY)
    expect(page.locator("#submit")).to_be_enabled()
    write(fake_hub, "late")  # taken after the check: only the server can tell
    page.get_by_role("button", name="Spawn").click()
    box = page.locator("#form-errors")
    expect(box).to_be_focused()
    expect(box.locator("#error-list li")).to_have_count(1)
    expect(box).to_contain_text('Cluster name: a cluster named "late" already exists')
    shots(page, "refused")
    page.get_by_label("Cluster name").fill("later")
    expect(box).to_be_hidden()
    expect(page.locator("#submit")).to_be_enabled()


def test_over_quota_says_it_waits_and_does_not_block(page: Page, fake_hub: FakeHub) -> None:
    page.goto(fake_hub.url + "/clusters/new")
    rules = json.loads(page.locator("#form-rules").text_content() or "{}")
    page.get_by_label("SSH public keys").fill(KEY)
    page.get_by_label("node count").fill("40")
    expect(page.locator("#fit")).to_contain_text("Does not fit")
    if rules["quota_waits"]:
        expect(page.locator("#submit-note")).to_have_text(
            "It will wait for quota and build once there is room."
        )
        expect(page.locator("#submit")).to_be_enabled()
    else:
        expect(page.locator("#submit")).to_be_disabled()
    page.get_by_label("node count").fill("2")
    expect(page.locator("#submit-note")).to_have_text("")
    expect(page.locator("#submit")).to_be_enabled()
