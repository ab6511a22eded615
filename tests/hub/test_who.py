"""Who did what, on the real Terraform and the sandbox: a spec written through the web by one person
(the proxy names her), approved by another, then changed by a plain `git commit` of a third; the
run history on the cluster page says who each run was for, from the run records the engine writes
(`approved_by`, `triggered_by`, `spec_blob`) and the specs' git history."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from html import unescape

import pytest
import yaml
from starlette.testclient import TestClient

from reconciler.cloud.catalog import Catalog
from reconciler.engine.decide import Action, Decision
from reconciler.engine.readback import asked_by
from reconciler.model import approvals, retries, runs
from reconciler.model.status import Phase, Reason, Status
from webview.app import create_app
from webview.auth import AuthConfig

from .conftest import SPEC, HubEnv

pytestmark = [pytest.mark.terraform, pytest.mark.timeout(300)]
JSON = {"Content-Type": "application/json", "Origin": "http://hub.example.org"}
ALICE = {"X-Remote-User": "alice", "displayName": "Alice Liddell", "mail": "alice@uni.example"}
CAROL = {"X-Remote-User": "carol", "displayName": "Carol Approver", "mail": "carol@uni.example"}


def git(env: HubEnv, *args: str) -> str:
    specs = str(env.settings.specs_dir)
    return subprocess.run(["git", "-C", specs, *args], capture_output=True, text=True, check=True).stdout


def run_rows(html: str) -> list[str]:
    """The run history table's rows as text, newest first."""
    body = html.split('id="runs"', 1)[1].split("</table>", 1)[0].split("<tbody>", 1)[1]
    rows = re.findall(r"<tr>(.*?)</tr>", body, re.S)
    return [" ".join(unescape(re.sub(r"<[^>]+>", " ", r)).split()) for r in rows]


def test_run_history_says_who_wrote_approved_and_pushed(hubenv: HubEnv) -> None:
    git(hubenv, "init", "-q")
    catalog = Catalog(hubenv.settings)
    app = create_app(hubenv.settings, catalog, AuthConfig(proxy_header="X-Remote-User"))
    try:
        with TestClient(app, base_url="http://hub.example.org", client=("127.0.0.1", 40000)) as web:
            spec = {**SPEC, "apply": "manual"}
            made = web.post("/api/clusters", content=json.dumps(spec), headers={**JSON, **ALICE})
            assert made.status_code == 201, made.text
            assert hubenv.reconcile().phase == Phase.AWAITING_APPROVAL
            plan = hubenv.status().plan
            assert plan is not None
            approved = web.post("/api/clusters/hpc/approve", content=json.dumps({"plan_id": plan.id}),
                                headers={**JSON, **CAROL})  # fmt: skip
            assert approved.status_code == 202, approved.text
            hubenv.clock.advance(60)
            assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
            hubenv.clock.advance(60)
            # Dave changes the spec with plain git, as with a push; the hub plans it (manual: it waits).
            path = hubenv.settings.specs_dir / "hpc.yaml"
            data = yaml.safe_load(path.read_text())
            data["instances"]["node"]["count"] = 2
            path.write_text(yaml.safe_dump(data))
            git(hubenv, "add", "hpc.yaml")
            git(hubenv, "-c", "user.name=Dave Pusher", "-c", "user.email=dave@uni.example",
                "-c", "commit.gpgsign=false", "commit", "-q", "-m", "Two compute nodes")  # fmt: skip
            assert hubenv.reconcile().phase == Phase.AWAITING_APPROVAL
            page = web.get("/clusters/hpc", headers=CAROL).text
    finally:
        catalog.stop()

    records = sorted(runs.list_records(hubenv.settings.clusters_dir, "hpc"), key=lambda r: r.started_at)
    assert [(r.action, r.approved_by, r.triggered_by) for r in records] == [
        ("plan", None, None),
        ("apply", "carol", "carol"),
        ("plan", None, None),
    ]
    assert records[2].spec_blob == git(hubenv, "rev-parse", "HEAD:hpc.yaml").strip()
    rows = run_rows(page)
    assert len(rows) == 3
    assert "Dave Pusher" in rows[0]  # the plain commit's author started the newest plan
    assert "approved by carol" in rows[1]
    assert "Alice Liddell" in rows[2]  # the web commit's author started the first plan
    assert "Two compute nodes" in page  # and the spec history lists the commit itself


def test_a_retry_request_names_who_asked(hubenv: HubEnv) -> None:
    """The engine's reading of who asked for a run: a retry request newer than the failure names
    its requester; one the hub already acted on (older than the status) names nobody; an approved
    plan's run names the approver."""
    failed_at = hubenv.clock()
    retries.request_retry(hubenv.settings.specs_dir, "hpc", "erin", failed_at + dt.timedelta(seconds=5))
    retry = Decision(Action.PLAN, Reason.RETRY_DUE)
    assert asked_by(hubenv.hub, "hpc", Status(name="hpc", updated_at=failed_at), retry) == {
        "triggered_by": "erin"
    }
    acted = Status(name="hpc", updated_at=failed_at + dt.timedelta(seconds=10))
    assert asked_by(hubenv.hub, "hpc", acted, retry) == {}
    approvals.approve(hubenv.settings.specs_dir, "hpc", "plan-1", "frank", failed_at)
    approved = asked_by(hubenv.hub, "hpc", acted, Decision(Action.APPLY, Reason.APPROVED))
    assert approved == {"triggered_by": "frank", "approved_by": "frank"}
