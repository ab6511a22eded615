"""The cluster page in plain language (issue 13): each failure kind as a headline and what to do
with Terraform's words one click away, the countdown to the next attempt, a quota wait, hosts grouped
by prefix, run history in words, copy buttons and the success dialog's expiry reminder."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from webfakes import addresses, outputs, spec_dict, write_phase
from webhelpers import TestClient, write_spec

from reconciler.engine.executor import FAILURE_REASONS
from reconciler.model import runs
from reconciler.model.settings import Settings
from reconciler.model.status import Phase, QuotaWait, Reason, ResourceProgress, Status, write_status
from reconciler.terraform.errors import FailureKind, classify, message_of
from webview import failures, history, hosts

FAILURES = Path(__file__).resolve().parent.parent / "unit" / "data" / "terraform" / "failures.yaml"
CASES = yaml.safe_load(FAILURES.read_text())
NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def _message(case: dict[str, Any]) -> tuple[FailureKind, str]:
    kind, diag = classify([{"severity": "error", "summary": case["summary"], "detail": case["detail"]}])
    return kind, message_of(diag)


# -- the table -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(FailureKind))
def test_every_failure_kind_has_a_headline_and_what_to_do(kind: FailureKind) -> None:
    advice = failures.for_kind(kind.value)
    assert advice is not None and advice.headline and advice.todo
    assert advice.retries is not kind.permanent  # a permanent failure never says the hub retries
    status = Status(name="a").failed(NOW, FAILURE_REASONS[kind], "whatever", None)
    assert failures.explain(status) == advice  # the status (its reason) leads to the same row


def test_reasons_map_back_to_the_kinds_the_executor_maps_them_from() -> None:
    assert failures.REASON_KINDS == {reason.value: kind.value for kind, reason in FAILURE_REASONS.items()}


EXPECTED = {
    "nova cores quota (403)": "Quota: 4 more vCPUs needed",
    "cinder gigabytes quota (413)": "Quota: 400 GB more volume storage needed",
    "cinder volume count": "Quota: the cloud allows at most 10 volumes",
    "neutron floating ip quota": "Quota: no more floating IPs left",
    "keystone down": "The cloud's identity service is unavailable",
    "nova 503": "The cloud's compute service is unavailable",
    "connection reset": "The cloud's block storage service is unavailable",
    "state lock": "Another change is in progress",
    "keystone 401": "The cloud refused the hub's credentials",
    "module download times out": "The hub could not download the cluster's module or providers",
    "keypair data is invalid (the sandbox's stand-in provider)": (
        "The cloud refused the SSH key: Keypair data is invalid: failed to generate fingerprint"
    ),
    "nova keypair data invalid (gophercloud v2 400)": (
        "The cloud refused the SSH key: Keypair data is invalid: failed to generate fingerprint"
    ),
    "unknown volume type (cinder 404)": (
        "The cloud refused the volume type: Volume type with name fast-ssd could not be found"
    ),
    "nova keypair already exists (gophercloud)": "The cloud already has a resource this cluster would create",
}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_each_recorded_failure_reads_in_words(case: dict[str, Any]) -> None:
    kind, message = _message(case)
    advice = failures.for_kind(kind.value, message)
    assert advice is not None
    assert "HTTP" not in advice.headline and "{" not in advice.headline and "module." not in advice.headline
    if case["name"] in EXPECTED:
        assert advice.headline == EXPECTED[case["name"]]


def test_a_quota_wait_says_what_is_missing_against_what_is_free() -> None:
    wait = QuotaWait(needs={"cores": 8, "ram": 16384}, free={"cores": 4, "ram": 32768}, checked_at=NOW)
    later = NOW + dt.timedelta(seconds=30)
    new = Status(name="a").waiting_for_quota(NOW, "h", wait, "Waiting for quota: ...", later)
    advice = failures.explain(new)
    assert advice is not None and advice.headline == "Waiting for quota: 4 more vCPUs needed"
    assert "builds by itself once there is room" in advice.todo
    assert advice.figures == ("vCPUs: 8 needed, 4 free", "RAM: 16 GiB needed, 32 GiB free")
    built = Status(name="a", resources=["x"], applied_hash="h0", phase=Phase.BUILD_SUCCESS)
    waiting = failures.explain(built.waiting_for_quota(NOW, "h", wait, "...", later))
    assert waiting is not None and waiting.headline.startswith("The change waits for quota")
    assert "keeps running" in waiting.todo


# -- hosts and runs in words ---------------------------------------------------------------------


def test_host_groups_summarise_their_states() -> None:
    rows = [{"host": f"node{i}", "prefix": "node", "type": "p2-3gb", "tags": ["node"], "state": "built"}
            for i in range(1, 41)]  # fmt: skip
    rows[-2]["state"] = rows[-1]["state"] = "running"
    [group] = hosts.groups(rows)
    assert (group["range"], group["count"], group["summary"]) == ("node1–node40", 40, "38 built, 2 building")
    assert group["open"] is False
    rows[3]["state"] = "failed"
    assert hosts.groups(rows)[0]["summary"] == "1 failed, 37 built, 2 building"
    assert hosts.groups(rows)[0]["open"] is True  # a failed host is shown at once
    assert hosts.summary(["built"] * 3) == "all built" and hosts.summary(["", ""]) == "none built"


def _record(**fields: Any) -> runs.RunRecord:
    base: dict[str, Any] = {"id": "r1", "cluster": "alpha", "action": "build", "reason": "spec_changed",
                            "spec_hash": "h", "started_at": NOW, "hub_pid": 1,
                            "result": "succeeded"}  # fmt: skip
    return runs.RunRecord(**(base | fields))


def test_run_summaries_are_words_with_the_addresses_kept_for_a_title() -> None:
    inst = 'module.openstack.openstack_compute_instance_v2.instances["{}"]'
    vol = 'module.openstack.openstack_blockstorage_volume_v3.volumes["{}"]'
    record = _record(
        summary="+4 ~1 -0",
        resources={inst.format("node3"): "create", inst.format("node4"): "create",
                   vol.format("node3-scratch-a"): "create", vol.format("node4-scratch-a"): "create",
                   vol.format("mgmt1-nfs-home"): "update",
                   'module.openstack.openstack_compute_volume_attach_v2.attachments["x"]': "create"},
    )  # fmt: skip
    words = history.run_words(record)
    assert words["text"] == "added node3 and node4, 2 volumes; changed 1 volume"
    assert 'openstack_compute_instance_v2.instances["node3"]: create' in words["title"]
    many = {inst.format(f"node{i}"): "delete" for i in range(1, 41)}
    assert history.run_words(_record(resources=many))["text"] == "removed 40 hosts"
    outage = "POST http://127.0.0.1:8774/v2.1/servers returned HTTP 503"
    failed = _record(result="failed", error_kind="transient", message=outage)
    assert history.run_words(failed)["text"] == "The cloud's compute service is unavailable"
    planned = _record(action="plan", changes={"create": 7})
    assert history.run_words(planned)["text"] == "planned: 7 to add"
    assert history.run_words(_record(message="no changes"))["text"] == "no changes"


# -- the page ------------------------------------------------------------------------------------


def _panel(html: str) -> str:
    found = re.search(r'<section class="card error-panel".*?</section>', html, re.S)
    assert found, "no error panel"
    return found.group(0)


def test_a_refused_ssh_key_leads_with_words_and_keeps_terraform_one_click_away(
    client: TestClient, settings: Settings
) -> None:
    write_spec(settings, "alpha")
    case = next(c for c in CASES if c["name"] == "keypair data invalid (the sandbox's stand-in provider)")
    kind, message = _message(case)
    status = write_phase(settings.clusters_dir, "alpha", "plan_error")
    write_status(settings.clusters_dir, status.failed(NOW, FAILURE_REASONS[kind], message, None))
    panel = _panel(client.get("/clusters/alpha").text)
    head = panel.split("<details", 1)[0]
    assert "The cloud refused the SSH key: Keypair data is invalid" in head
    assert "public_keys" in head  # what to do
    assert "HTTP 400" not in head and "openstack_compute_keypair_v2" not in head  # the raw words ...
    detail = panel.split("<details", 1)[1]
    assert "HTTP 400" in detail and "openstack_compute_keypair_v2" in detail  # ... one click away
    assert re.search(r'<details class="raw-detail" id="failure-detail">', panel)  # closed
    assert "Next attempt" not in panel  # a permanent failure waits for a change, no countdown
    assert 'id="retry-now"' in panel


def test_a_cloud_outage_counts_down_to_the_next_attempt(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    status = write_phase(settings.clusters_dir, "alpha", "build_running")
    message = "Error creating OpenStack server: POST http://127.0.0.1:8774/v2.1/servers returned HTTP 503"
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=16)
    write_status(settings.clusters_dir, status.failed(NOW, Reason.CLOUD_ERROR, message, when))
    panel = _panel(client.get("/clusters/alpha").text)
    assert "The cloud&#39;s compute service is unavailable" in panel
    assert "the hub tries again by itself" in panel
    stamp = when.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    assert f'Next attempt <span class="countdown" data-countdown="{stamp}">at ' in panel
    assert "Next attempt at <time" not in panel


def test_a_quota_wait_is_not_an_error_and_not_a_pickup(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    wait = QuotaWait(needs={"cores": 8}, free={"cores": 4}, checked_at=NOW)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
    write_status(settings.clusters_dir, Status(name="alpha").waiting_for_quota(NOW, "h", wait, "…", later))
    html = client.get("/clusters/alpha").text
    assert "Waiting for quota: 4 more vCPUs needed" in html and "vCPUs: 8 needed, 4 free" in html
    assert "error-panel" not in html and "Waiting for the hub to pick up the spec" not in html
    assert 'The hub looks again <span class="countdown"' in html


def test_a_built_cluster_waiting_for_quota_is_not_up_to_date(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    built = write_phase(settings.clusters_dir, "alpha", "build_success", message="+7 ~0 -0")
    wait = QuotaWait(needs={"instances": 30}, free={"instances": 20}, checked_at=NOW)
    write_status(settings.clusters_dir, built.waiting_for_quota(NOW, "h2", wait, "…", NOW))
    html = client.get("/clusters/alpha").text
    assert "The change waits for quota: 10 more instances needed" in html
    assert "Up to date" not in html and "keeps running" in html


def test_forty_nodes_read_as_one_line_that_opens(client: TestClient, settings: Settings) -> None:
    data = spec_dict("alpha")
    data["instances"]["node"]["count"] = 40
    write_spec(settings, "alpha", instances=data["instances"])
    addrs = addresses(data)
    running = {a for a in addrs if a.endswith(('["node39"]', '["node40"]'))}
    progress = {a: ResourceProgress(state="running" if a in running else "done") for a in addrs}
    status = Status(name="alpha", phase=Phase.BUILD_RUNNING, resources=[a for a in addrs if a not in running],
                    progress=progress, outputs=outputs(data), updated_at=NOW)  # fmt: skip
    write_status(settings.clusters_dir, status)
    html = client.get("/partials/clusters/alpha").text
    group = re.search(r'<details class="host-group" id="hosts-node".*?</details>', html, re.S)
    assert group, "no group for the node prefix"
    assert " open" not in group.group(0).split(">", 1)[0]  # closed until asked
    summary = re.sub(r"<[^>]+>", "", re.search(r"<summary>(.*?)</summary>", group.group(0)).group(1))
    assert summary == "node1–node40, 40 hosts · p2-3gb · 38 built, 2 building"
    assert group.group(0).count("<tr>") == 41  # header + 40 hosts, there when opened
    mgmt = re.search(r'<details class="host-group" id="hosts-mgmt"[^>]*>', html)
    assert mgmt and " open" in mgmt.group(0)  # a small group is shown open


def test_copy_buttons_and_the_expiry_reminder(client: TestClient, settings: Settings) -> None:
    expires = (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=30)).isoformat()
    write_spec(settings, "alpha", expires=expires, guest_passwd="s3cret-passw0rd")
    write_phase(settings.clusters_dir, "alpha", "build_success")
    html = client.get("/clusters/alpha").text
    buttons = [("#ssh-line", "Copy the SSH command"), ("#host-name", "Copy the host name"),
               ("#login-ip", "Copy the login address"), ("#dialog-ssh", "Copy the SSH command")]  # fmt: skip
    for target, label in buttons:
        assert f'data-copy="{target}" aria-label="{label}" hidden>Copy</button>' in html
    assert 'data-copy-password="/clusters/alpha/password" aria-label="Copy the guest password"' in html
    assert "s3cret-passw0rd" not in html
    reminder = re.search(r'<p class="dialog-expiry" id="dialog-expiry">(.*?)</p>', html, re.S)
    assert reminder and f"expires {expires}, in 30 days" in reminder.group(1)
    assert '<script src="/static/cluster.js' in html


def test_run_history_on_the_page_is_in_words(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_success")
    inst = 'module.openstack.openstack_compute_instance_v2.instances["{}"]'
    record = _record(id="20261127T120000Z-build-abcdef", resources={inst.format("node3"): "create"})
    runs.write_record(settings.clusters_dir, record)
    html = client.get("/clusters/alpha").text
    cell = re.search(r'<td class="small run-summary" title="([^"]*)">([^<]*)</td>', html)
    assert cell and cell.group(2) == "added node3"
    assert "instances[&#34;node3&#34;]: create" in cell.group(1)
