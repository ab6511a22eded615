"""Built is not ready, in a real Chromium on fixture data: the success dialog that opens at
build_success follows the readiness checks the hub records (model/provisioning.py): "built" and
waiting for SSH, then "ready" with the web services as links (JupyterHub, FreeIPA, Mokey, as on a
cloud with DNS); the cluster page shows the same, and a cluster that never answers says what."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from fakehub import FakeHub
from playwright.sync_api import Page, expect
from webfakes import spec_dict

from reconciler.model.provisioning import Provisioning, checks_for
from reconciler.model.spec import ClusterSpec
from reconciler.model.status import Phase, Status, read_status, write_status

pytestmark = pytest.mark.browser
Shot = Callable[[Any, str], None]


def _built(hub: FakeHub, name: str, timeout: float = 20) -> Status:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = read_status(hub.clusters, name)
        if status is not None and status.phase == Phase.BUILD_SUCCESS:
            return status
        time.sleep(0.1)
    raise AssertionError(f"{name} did not reach build_success")


def _looked(
    hub: FakeHub, status: Status, prov: Provisioning, oks: list[bool], timeout: float = 1800
) -> Status:
    """What the hub records after a look at the cluster's services (`oks`, in check order)."""
    now = dt.datetime.now(dt.UTC)
    seen = [
        c.seen(ok, "HTTP 302 Found" if ok else "connection refused", now)
        for c, ok in zip(prov.checks, oks, strict=True)
    ]
    status = status.provisioned(now, prov.observed(seen, now, timeout))
    write_status(hub.clusters, status)
    return status


def test_the_success_dialog_follows_readiness_to_the_links(
    page: Page, fake_hub: FakeHub, shots: Shot
) -> None:
    data = spec_dict("demo")
    (fake_hub.specs / "demo.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    page.goto(fake_hub.url + "/clusters/demo")
    status = _built(fake_hub, "demo")
    spec = ClusterSpec.model_validate(data)
    prov = Provisioning.start(
        dt.datetime.now(dt.UTC), status.applied_hash, checks_for(spec, status.outputs, 22, dns=True)
    )
    status = _looked(fake_hub, status, prov, [False, False, False, False])

    dialog = page.get_by_role("dialog", name="Your cluster is built")
    expect(dialog).to_be_visible(timeout=20_000)
    expect(dialog).to_contain_text("Waiting for SSH on login1 (0 of 4 checks answered)")
    expect(dialog.get_by_role("link")).to_have_count(0)
    shots(page, "dialog-waiting")

    assert status.provisioning is not None
    status = _looked(fake_hub, status, status.provisioning, [True, True, False, False])
    expect(dialog).to_contain_text("Waiting for FreeIPA (2 of 4 checks answered)", timeout=15_000)
    expect(dialog.get_by_role("link", name="JupyterHub")).to_have_attribute(
        "href", "https://jupyter.demo.sandbox.localdomain/"
    )
    assert status.provisioning is not None
    _looked(fake_hub, status, status.provisioning, [True, True, True, True])
    ready = page.get_by_role("dialog", name="Your cluster is ready")
    expect(ready).to_be_visible(timeout=15_000)
    for label, host in (("JupyterHub", "jupyter"), ("FreeIPA", "ipa"), ("Mokey", "mokey")):
        link = ready.get_by_role("link", name=label)
        expect(link).to_have_attribute("href", f"https://{host}.demo.sandbox.localdomain/")
    expect(ready).to_contain_text("ssh centos@")
    shots(page, "dialog-ready")

    ready.get_by_role("button", name="Show my cluster").click()
    section = page.locator("#provisioning")
    expect(section.locator(".chip")).to_have_text("ready")
    expect(section.get_by_role("link", name="Mokey")).to_be_visible()
    expect(section.locator("#provisioning-checks tbody tr")).to_have_count(4)
    shots(page, "cluster-ready")


def test_a_cluster_that_never_answers_says_what_did_not(page: Page, fake_hub: FakeHub) -> None:
    data = spec_dict("quiet")
    (fake_hub.specs / "quiet.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    status = _built(fake_hub, "quiet")
    spec = ClusterSpec.model_validate(data)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=31)
    prov = Provisioning.start(start, status.applied_hash, checks_for(spec, status.outputs, 22, dns=False))
    _looked(fake_hub, status, prov, [False])
    page.goto(fake_hub.url + "/clusters/quiet")
    section = page.locator("#provisioning")
    expect(section.locator(".chip")).to_have_text("not ready")
    expect(section).to_contain_text("Not ready after 30 min: SSH on login1 (")
    expect(section).to_contain_text("did not answer: connection refused")
