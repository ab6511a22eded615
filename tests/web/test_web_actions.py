"""Every action answered at once, in the web view (webview/actions.py, acks.py): the redirect's
notice says what was asked until the status moves on; a stale double action (a plan approved
already, a destroy asked for already) gets its message on the cluster page, not a bare error page;
Forget removes a destroyed or never-built cluster's spec (a commit by the person), frees its name and
takes it off the list, is refused for one that may still have resources, and the reconciler then
moves its history aside (clusters/.forgotten/)."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import subprocess
from pathlib import Path

import yaml
from starlette.testclient import TestClient
from webfakes import spec_dict, write_phase
from webhelpers import csrf_from, read_spec, write_spec

from reconciler.engine.hub import make_hub
from reconciler.engine.reconcile import reconcile
from reconciler.model.names import FORGOTTEN_DIR
from reconciler.model.settings import Settings
from reconciler.model.status import read_status
from reconciler.terraform import Launcher

JSON = {"Content-Type": "application/json"}


def notice(page: str) -> str | None:
    """The acknowledgement the page shows (its role="status" region), or None."""
    m = re.search(r'<p class="notice ack[^"]*" id="ack"[^>]*>(.*?)</p>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip() if m else None


def refusal(page: str) -> str | None:
    m = re.search(r'<p [^>]*id="action-refused"[^>]*>(.*?)</p>', page, re.S)
    return html.unescape(m.group(1)) if m else None


def edit(client: TestClient, name: str, **changes: str) -> str:
    """Post the edit form as it is filled, with `changes`; the redirect's location."""
    page = client.get(f"/clusters/{name}/edit").text
    fields = dict(re.findall(r'<input [^>]*name="([^"]+)"[^>]*value="([^"]*)"', page))
    for m in re.finditer(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', m.group(2))
        fields[m.group(1)] = chosen.group(1) if chosen else ""
    for m in re.finditer(r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', page, re.S):
        fields[m.group(1)] = html.unescape(m.group(2))
    fields = {k: html.unescape(v) for k, v in fields.items() if "__i__" not in k} | changes
    r = client.post(f"/clusters/{name}/edit", data=fields)
    assert r.status_code == 303, r.text
    return str(r.headers["location"])


def test_a_saved_change_says_so_until_the_hub_plans_it(client: TestClient, settings: Settings) -> None:
    data = write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_success", data, message="built")
    location = edit(client, "alpha", nb_users="7")
    assert "done=saved" in location and read_spec(settings, "alpha")["nb_users"] == 7
    page = client.get(location).text
    assert notice(page) == "Change saved, planning…"
    assert "Up to date" not in page  # not the old state
    assert 'data-partial-url="/partials/clusters/alpha?done=saved' in page
    # The poll's partial keeps the same view while the status has not moved.
    query = location.split("?", 1)[1]
    assert "Up to date" not in client.get(f"/partials/clusters/alpha?{query}").text
    # The hub picks the change up: the page shows the status itself.
    write_phase(settings.clusters_dir, "alpha", "plan_running", data)
    page = client.get(location).text
    assert notice(page) is None and "Planning the changes" in page


def test_a_save_that_changes_nothing_says_so(client: TestClient, settings: Settings) -> None:
    data = write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_success", data, message="built")
    location = edit(client, "alpha")
    assert "done=unchanged" in location
    assert notice(client.get(location).text) == "Nothing to save: the spec already says that."


def test_approve_is_acknowledged_and_a_second_approve_gets_a_plain_message(
    client: TestClient, settings: Settings
) -> None:
    data = write_spec(settings, "alpha", apply="manual")
    write_phase(settings.clusters_dir, "alpha", "awaiting_approval", data)
    token = csrf_from(client, "/clusters/alpha")
    r = client.post("/clusters/alpha/approve", data={"csrf_token": token, "plan_id": "plan-1234"})
    assert r.status_code == 303 and "done=approved" in r.headers["location"]
    page = client.get(r.headers["location"]).text
    assert notice(page) == "Approved: applying…"
    assert "Approve plan" not in page  # no live Approve button while the approval is on its way
    # The hub took the plan up; a second tab still shows the Approve button and posts it again.
    write_phase(settings.clusters_dir, "alpha", "build_running", data)
    again = client.post("/clusters/alpha/approve", data={"csrf_token": token, "plan_id": "plan-1234"})
    assert again.status_code == 409
    assert 'id="cluster"' in again.text  # the cluster page, as it is now
    said = refusal(again.text)
    assert said == "Plan plan-1234 was already approved and the hub has taken it up; now: building."


def test_a_second_destroy_gets_a_plain_message(client: TestClient, settings: Settings) -> None:
    data = write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_success", data)
    token = csrf_from(client, "/clusters/alpha")
    r = client.post("/clusters/alpha/destroy", data={"csrf_token": token, "confirm": "alpha"})
    assert r.status_code == 303 and "done=destroy" in r.headers["location"]
    assert notice(client.get(r.headers["location"]).text).startswith("Destroy requested")  # type: ignore[union-attr]
    again = client.post("/clusters/alpha/destroy", data={"csrf_token": token, "confirm": "alpha"})
    assert again.status_code == 409 and 'id="cluster"' in again.text
    assert refusal(again.text) == (
        'Destroying "alpha" was already asked for (its spec says ensure: absent); now: build success.'
    )


def test_retry_is_acknowledged_until_the_hub_looks_again(client: TestClient, settings: Settings) -> None:
    data = write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_error", data)
    token = csrf_from(client, "/clusters/alpha")
    r = client.post("/clusters/alpha/retry", data={"csrf_token": token})
    assert r.status_code == 303 and "done=retry" in r.headers["location"]
    assert notice(client.get(r.headers["location"]).text).startswith("Retry requested")  # type: ignore[union-attr]
    write_phase(settings.clusters_dir, "alpha", "build_error", data)  # looked again, failed again
    assert notice(client.get(r.headers["location"]).text) is None


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True)
    return done.stdout


def test_forget_a_destroyed_cluster(client: TestClient, settings: Settings) -> None:
    git(settings.specs_dir, "init", "-q")
    write_spec(settings, "alpha", ensure="absent")
    git(settings.specs_dir, "add", "alpha.yaml")
    git(settings.specs_dir, "-c", "user.name=t", "-c", "user.email=t@x", "commit", "-qm", "add alpha")
    write_phase(settings.clusters_dir, "alpha", "destroyed")
    assert "Forget…" in client.get("/").text
    assert client.post("/api/clusters", json=spec_dict("alpha")).status_code == 409  # the spec names it
    confirm = client.get("/clusters/alpha/forget")
    assert confirm.status_code == 200 and "Forget alpha?" in confirm.text
    token = csrf_from(client, "/clusters/alpha/forget")
    unconfirmed = client.post("/clusters/alpha/forget", data={"csrf_token": token})
    assert "Forget alpha?" in unconfirmed.text and (settings.specs_dir / "alpha.yaml").exists()
    r = client.post("/clusters/alpha/forget", data={"csrf_token": token, "confirmed": "yes"})
    assert r.status_code == 303 and r.headers["location"] == "/?forgot=alpha"
    assert not (settings.specs_dir / "alpha.yaml").exists()
    user = re.search(r'title="Signed in as ([^"]+)"', confirm.text).group(1)  # type: ignore[union-attr]
    assert git(settings.specs_dir, "log", "-1", "--format=%an|%s").strip() == (
        f"{html.unescape(user)}|Forget cluster alpha (web view)"  # authored by the person
    )
    assert git(settings.specs_dir, "ls-files").strip() == ""  # the removal is committed
    dashboard = client.get(r.headers["location"]).text
    assert 'data-cluster="alpha"' not in dashboard and "Forgot <strong>alpha</strong>" in dashboard
    assert [c["name"] for c in client.get("/api/clusters").json()["clusters"]] == []
    assert (settings.clusters_dir / "alpha" / "status.json").exists()  # the history stays
    created = client.post("/api/clusters", json=spec_dict("alpha"), headers=JSON)
    assert created.status_code == 201, created.text  # the name is free again


def test_forget_is_refused_for_a_cluster_with_resources(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_success")
    assert "Forget…" not in client.get("/").text
    token = csrf_from(client, "/clusters/alpha")
    page = client.post("/clusters/alpha/forget", data={"csrf_token": token, "confirmed": "yes"})
    api = client.post("/api/clusters/alpha/forget", headers=JSON)
    assert (page.status_code, api.status_code) == (409, 409)
    assert refusal(page.text) == api.json()["error"]
    assert "Destroy it first" in api.json()["error"]
    assert (settings.specs_dir / "alpha.yaml").exists()


def test_forget_through_the_api_a_never_built_cluster(client: TestClient, settings: Settings) -> None:
    (settings.specs_dir / "beta.yaml").write_text("cluster_name: beta\n")  # never valid, never built
    write_phase(settings.clusters_dir, "beta", "invalid")
    assert client.post("/api/clusters/beta/forget").status_code == 403  # the API's CSRF rules
    stale = client.post("/api/clusters/beta/forget", headers={**JSON, "If-Match": '"0"'})
    assert stale.status_code == 412 and (settings.specs_dir / "beta.yaml").exists()
    r = client.post("/api/clusters/beta/forget", headers=JSON)
    assert r.status_code == 200 and r.json()["forgotten"] is True
    assert not (settings.specs_dir / "beta.yaml").exists()
    assert client.post("/api/clusters/beta/forget", headers=JSON).status_code == 404


def test_the_reconciler_moves_a_forgotten_clusters_history_aside(tmp_path: Path) -> None:
    now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
    settings = Settings(specs_dir=tmp_path / "specs", clusters_dir=tmp_path / "clusters")
    settings.specs_dir.mkdir()
    hub = make_hub(
        settings, terraform=Launcher(tmp_path / "no-terraform", version="1.0.3"), clock=lambda: now
    )
    write_phase(settings.clusters_dir, "alpha", "destroyed")  # its spec is gone: forgotten
    write_phase(settings.clusters_dir, "bravo", "build_success")  # an orphan: kept where it is
    reconcile("alpha", hub)
    reconcile("bravo", hub)
    assert read_status(settings.clusters_dir, "alpha") is None
    kept = settings.clusters_dir / FORGOTTEN_DIR / "alpha-20261127T120000Z"
    assert json.loads((kept / "status.json").read_text())["phase"] == "destroyed"
    assert read_status(settings.clusters_dir, "bravo") is not None
    # A new cluster by the forgotten name starts afresh.
    (settings.specs_dir / "alpha.yaml").write_text(yaml.safe_dump(spec_dict("alpha")))
    assert reconcile("alpha", hub).status.phase.value != "destroyed"
