"""A spec waiting for quota (issue 13) as the web view shows it: the dashboard's and the cluster
page's chip say "waiting for quota" (whatever the phase: a built cluster keeps running), the status
JSON carries the structured `quota_wait`, and "Retry now" is offered to look again at once."""

from __future__ import annotations

import datetime as dt
import html
import re

from starlette.testclient import TestClient
from webfakes import write_phase
from webhelpers import write_spec

from reconciler.model.settings import Settings
from reconciler.model.status import QuotaWait, Status, write_status

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
WAIT = QuotaWait(needs={"cores": 8}, free={"cores": 4}, checked_at=NOW)
NEW = "Waiting for quota: needs 4 more vCPUs (8 needed, 4 free). It builds by itself once there is room."
BUILT = "Waiting for quota: the change needs 4 more vCPUs (8 needed, 4 free). The cluster keeps running"


def chips(text: str) -> dict[str, str]:
    """Cluster -> the words on its dashboard chip."""
    rows = re.findall(r'<tr data-cluster="([^"]+)">(.*?)</tr>', text, re.S)
    found = {name: re.search(r'<span class="chip [^"]*"[^>]*>([^<]*)</span>', row) for name, row in rows}
    return {name: html.unescape(m.group(1)) for name, m in found.items() if m}


def waiting(settings: Settings, status: Status, message: str) -> Status:
    later = NOW + dt.timedelta(seconds=60)
    status = status.waiting_for_quota(NOW, status.observed_hash or "h1", WAIT, message, later)
    write_status(settings.clusters_dir, status)
    return status


def test_the_dashboard_says_waiting_for_quota(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    waiting(settings, Status(name="alpha"), NEW)
    write_spec(settings, "beta")
    waiting(settings, write_phase(settings.clusters_dir, "beta", "build_success"), BUILT)
    write_spec(settings, "gamma")
    write_phase(settings.clusters_dir, "gamma", "build_success")
    text = client.get("/").text
    assert chips(text) == {
        "alpha": "waiting for quota",
        "beta": "waiting for quota",
        "gamma": "build success",
    }
    assert 'data-reason="quota_wait"' in text and "needs 4 more vCPUs" in html.unescape(text)


def test_the_status_json_and_the_cluster_page_carry_the_wait(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "beta")
    waiting(settings, write_phase(settings.clusters_dir, "beta", "build_success"), BUILT)
    data = client.get("/api/clusters/beta/status").json()
    assert (data["status"], data["reason"]) == ("build_success", "quota_wait")
    assert data["quota_wait"] == {
        "needs": {"cores": 8},
        "free": {"cores": 4},
        "checked_at": "2026-11-27T12:00:00Z",
    }
    assert data["next_attempt_at"] == "2026-11-27T12:01:00Z" and data["message"].startswith(BUILT)
    page = client.get("/clusters/beta").text
    chip = re.search(r'<span id="phase-chip">\s*<span class="chip ([^"]*)"[^>]*>([^<]*)</span>', page)
    assert chip is not None and chip.groups() == ("warn", "waiting for quota")
    assert 'action="/clusters/beta/retry"' in page  # look again now, without waiting for the next check
