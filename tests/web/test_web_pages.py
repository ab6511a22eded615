"""The HTML pages, in process: dashboard, form (new, edit, errors), cluster page in each phase,
destroy, approve, password on demand, run logs, escaping and security headers."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient
from webfakes import KEY, FakeCatalog, spec_dict, write_phase
from webhelpers import csrf_from, form_fields, read_spec, write_spec

from reconciler.model.approvals import read_approval
from reconciler.model.secrets import guest_password
from reconciler.model.settings import Settings


def test_dashboard_empty(client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert "No clusters yet" in r.text
    assert 'href="/clusters/new"' in r.text


def test_dashboard_lists_phase_progress_marks_and_quota(
    client: TestClient, settings: Settings, catalog: FakeCatalog
) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_running", done=4)
    write_spec(settings, "beta")
    status = write_phase(settings.clusters_dir, "beta", "build_success")
    from reconciler.model.status import write_status

    write_status(
        settings.clusters_dir, status.drift_checked(status.updated_at, ["module.x"], remediating=False)
    )  # type: ignore[arg-type]
    write_phase(settings.clusters_dir, "gamma", "build_success", spec_dict("gamma"))
    from reconciler.model.status import read_status

    gamma = read_status(settings.clusters_dir, "gamma")
    assert gamma is not None and gamma.updated_at is not None
    write_status(settings.clusters_dir, gamma.marked_orphaned(gamma.updated_at, True, gamma.reason))
    catalog.in_use["cores"] = 60
    html = client.get("/").text
    row = lambda name: re.search(rf'<tr data-cluster="{name}">(.*?)</tr>', html, re.S).group(1)  # noqa: E731
    assert 'class="chip running" data-phase="build_running">building' in row("alpha")
    assert '<progress max="7" value="4"' in row("alpha")
    assert 'data-phase="build_success">build success' in row("beta") and ">drift<" in row("beta")
    assert ">orphaned<" in row("gamma")
    assert "1× mgmt · 1× login · 2× node" in row("alpha")
    assert re.search(r'data-quota="cores".*?<strong>4</strong> free of 64', html, re.S)
    assert re.search(r'data-quota="ram".*?<strong>128 GiB</strong> free', html, re.S)


def test_dashboard_partial_is_conditional(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    r = client.get("/partials/dashboard")
    assert r.status_code == 200 and "<html" not in r.text and "alpha" in r.text
    assert client.get("/partials/dashboard", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    write_phase(settings.clusters_dir, "alpha", "plan_running")
    assert client.get("/partials/dashboard", headers={"If-None-Match": r.headers["etag"]}).status_code == 200


def test_catalog_errors_are_shown_not_fatal(make_client: object, settings: Settings) -> None:
    from webview.app import create_app  # noqa: F401  (the client fixture builds it)

    class Broken:
        def payload(self, *args: object) -> dict[str, object]:
            raise RuntimeError("cloud sandbox did not answer")

    from webhelpers import BASE_URL, TestClient

    with TestClient(create_app(settings, Broken()), base_url=BASE_URL) as c:
        assert "cloud sandbox did not answer" in c.get("/").text
        assert "cloud sandbox did not answer" in c.get("/clusters/new").text


def test_new_form_is_a_standard_cluster_from_the_catalog(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "cluster1")
    html = client.get("/clusters/new").text
    fields = form_fields(html)
    assert fields["cluster_name"] == "cluster2"  # a free name
    assert fields["domain"] == "sandbox.localdomain"
    assert fields["image"] == "Rocky-9"
    rows = [
        (fields[f"inst-{i}-prefix"], fields[f"inst-{i}-type"], fields[f"inst-{i}-tags"]) for i in range(3)
    ]
    assert rows == [
        ("mgmt", "p4-6gb", "puppet mgmt nfs"),
        ("login", "p2-3gb", "login public proxy"),
        ("node", "p2-3gb", "node"),
    ]
    vols = [(fields[f"vol-{j}-tag"], fields[f"vol-{j}-name"], fields[f"vol-{j}-size"]) for j in range(3)]
    assert vols == [("nfs", "home", "100"), ("nfs", "project", "50"), ("nfs", "scratch", "50")]
    # Flavors below the mgmt minimum are not offered for mgmt; the catalog is embedded for the live check.
    mgmt_select = re.search(r'<select id="inst-0-type".*?</select>', html, re.S).group(0)
    assert "p2-3gb" not in mgmt_select and "p4-6gb" in mgmt_select
    catalog = json.loads(
        re.search(r'<script type="application/json" id="catalog-data">(.*?)</script>', html, re.S).group(1)
    )
    assert catalog["quotas"]["cores"]["limit"] == 64
    assert 'for="nb_users"' in html and 'for="inst-2-count"' in html  # labelled inputs


def _submit(client: TestClient, url: str, fields: dict[str, str]) -> object:
    return client.post(url, data=fields)


def test_spawn_writes_the_spec_and_goes_to_the_cluster_page(client: TestClient, settings: Settings) -> None:
    fields = form_fields(client.get("/clusters/new").text)
    fields.update({"cluster_name": "demo", "public_keys": KEY, "inst-2-count": "3"})
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 303, r.text
    assert re.fullmatch(r"/clusters/demo\?since=\d+&done=created&from=\S+", r.headers["location"])
    spec = read_spec(settings, "demo")
    assert spec["instances"]["node"] == {"type": "p2-3gb", "tags": ["node"], "count": 3}
    assert spec["volumes"]["nfs"]["home"] == {"size": 100}
    assert spec["public_keys"] == [KEY]
    page = client.get(r.headers["location"])
    assert page.status_code == 200 and "Waiting for the hub" in page.text


def test_spawn_shows_errors_next_to_their_fields(client: TestClient, settings: Settings) -> None:
    fields = form_fields(client.get("/clusters/new").text)
    fields.update(
        {
            "cluster_name": "Demo!",
            "public_keys": "not-a-key",
            "inst-2-count": "-2",
            "inst-1-tags": "login public bogus",
            "vol-0-size": "0",
        }
    )
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 422
    html = r.text
    for name in ("cluster_name", "public_keys", "inst-2-count", "inst-1-tags", "vol-0-size"):
        assert f'id="err-{name}"' in html, name
        assert re.search(rf'id="{name}"[^>]*aria-invalid="true"', html), name
    assert "not a valid name" in html and "unknown tag &#34;bogus&#34;" in html
    # What the user typed is kept.
    assert form_fields(html)["cluster_name"] == "Demo!" and form_fields(html)["inst-2-count"] == "-2"
    assert not any(settings.specs_dir.glob("*.yaml"))


def test_spawn_errors_without_an_input_go_on_top(client: TestClient) -> None:
    fields = form_fields(client.get("/clusters/new").text)
    fields.update(
        {
            "cluster_name": "demo",
            "public_keys": KEY,
            "inst-1-tags": "login proxy",
            "inst-2-tags": "node proxy",
        }
    )
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 422
    assert re.search(r'id="err-instances"[^>]*>[^<]*proxy tag', r.text) or "proxy tag" in r.text


def test_spawn_refuses_duplicates_and_blank_prefixes(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "demo")
    fields = form_fields(client.get("/clusters/new").text)
    fields.update({"cluster_name": "demo", "public_keys": KEY})
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 409 and "already exists" in r.text  # a conflict, as the API's
    assert 'id="err-cluster_name"' in r.text
    fields.update({"cluster_name": "other", "inst-1-prefix": "mgmt"})
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 422 and 'id="err-inst-1-prefix"' in r.text and "used twice" in r.text
    fields.update({"inst-1-prefix": "", "inst-1-tags": "login"})
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 422 and "give this group a host name prefix" in r.text


def test_rows_can_be_added_and_removed(client: TestClient, settings: Settings) -> None:
    fields = form_fields(client.get("/clusters/new").text)
    fields.update({"cluster_name": "demo", "public_keys": KEY})
    for key in [k for k in fields if k.startswith("vol-2-")]:
        del fields[key]  # removed the scratch volume
    fields.update(
        {
            "inst-7-prefix": "gpu",
            "inst-7-type": "p8-12gb",
            "inst-7-count": "2",
            "inst-7-tags": "node",
            "inst-7-disk_size": "50",
        }
    )
    assert client.post("/clusters/new", data=fields).status_code == 303
    spec = read_spec(settings, "demo")
    assert set(spec["volumes"]["nfs"]) == {"home", "project"}
    assert spec["instances"]["gpu"] == {"type": "p8-12gb", "tags": ["node"], "count": 2, "disk_size": 50}


def test_forms_need_the_csrf_token(client: TestClient, settings: Settings) -> None:
    fields = form_fields(client.get("/clusters/new").text)
    fields.update({"cluster_name": "demo", "public_keys": KEY})
    bad = dict(fields, csrf_token="forged")
    assert client.post("/clusters/new", data=bad).status_code == 403
    missing = {k: v for k, v in fields.items() if k != "csrf_token"}
    assert client.post("/clusters/new", data=missing).status_code == 403
    client.cookies.clear()  # the token belongs to the cookie it was made for
    assert client.post("/clusters/new", data=fields).status_code == 403
    assert not any(settings.specs_dir.glob("*.yaml"))


def test_edit_is_the_same_form_prefilled(
    client: TestClient, settings: Settings, catalog: FakeCatalog
) -> None:
    write_spec(settings, "alpha", guest_passwd="s3cret-passw0rd", apply="manual")
    html = client.get("/clusters/alpha/edit").text
    fields = form_fields(html)
    assert fields["cluster_name"] == "alpha" and fields["inst-2-count"] == "2" and fields["apply"] == "manual"
    assert fields["guest_passwd"] == "" and "s3cret-passw0rd" not in html
    assert catalog.calls[-1] == (None, "alpha")  # its own usage is given back
    fields["inst-2-count"] = "5"
    fields["cluster_name"] = "renamed"  # ignored: a cluster keeps its name
    r = client.post("/clusters/alpha/edit", data=fields)
    assert r.status_code == 303, r.text
    spec = read_spec(settings, "alpha")
    assert spec["instances"]["node"]["count"] == 5
    assert spec["guest_passwd"] == "s3cret-passw0rd" and spec["apply"] == "manual"
    assert not (settings.specs_dir / "renamed.yaml").exists()


def test_edit_errors_rerender_the_edit_form(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    fields = form_fields(client.get("/clusters/alpha/edit").text)
    fields["inst-0-type"] = ""
    r = client.post("/clusters/alpha/edit", data=fields)
    assert r.status_code == 422
    assert 'action="/clusters/alpha/edit"' in r.text and 'id="err-inst-0-type"' in r.text


def test_edit_of_an_invalid_spec_shows_its_errors(client: TestClient, settings: Settings) -> None:
    (settings.specs_dir / "alpha.yaml").write_text(
        "cluster_name: alpha\ndomain: sandbox.localdomain\nimage: Rocky-9\n"
        "instances: {node: {type: p2-3gb, tags: [node], count: -1}}\npublic_keys: [x]\n"
    )
    html = client.get("/clusters/alpha/edit").text
    assert 'id="err-inst-0-count"' in html and 'id="err-public_keys"' in html


def test_edit_and_pages_of_unknown_clusters_are_404(client: TestClient) -> None:
    for url in (
        "/clusters/nope",
        "/clusters/nope/edit",
        "/clusters/Bad_Name",
        "/partials/clusters/nope",
        "/clusters/%2e%2e",
    ):
        assert client.get(url).status_code == 404, url
    assert "Not found" in client.get("/clusters/nope").text


def test_cluster_page_while_building(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_running", done=2)
    html = client.get("/clusters/alpha").text
    assert 'class="loader"' in html and "Building your cluster" in html
    assert "2 of 7 resources done" in html
    assert "openstack_compute_instance_v2.instances[&#34;mgmt1&#34;]" in html  # per-resource progress
    assert 'data-status-url="/api/clusters/alpha/status"' in html
    assert 'id="success-dialog"' in html


def test_cluster_page_when_built(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha", guest_passwd="s3cret-passw0rd")
    write_phase(settings.clusters_dir, "alpha", "build_success")
    (settings.clusters_dir / "alpha" / "main.tf").write_text('module "openstack" {\n  source = "x"\n}\n')
    html = client.get("/clusters/alpha").text
    assert 'class="loader"' not in html
    table = re.search(r'<div id="instances-table" class="host-groups">.*?</section>', html, re.S).group(0)
    assert table.count("<tr>") == 7  # a header per group (mgmt, login, node) + mgmt1, login1, node1, node2
    assert "198.51.100.12" in table and "p4-6gb" in table
    assert "ssh centos@198.51.100.12" in html
    assert "user1 … user5" in html
    assert "mgmt1-nfs-home" in html
    assert "module &#34;openstack&#34;" in html  # main.tf, escaped
    assert "s3cret-passw0rd" not in html and "guest_passwd: &#34;(hidden)&#34;" in html
    assert 'id="show-password"' in html
    assert re.search(r'data-quota="instances"', html)


def test_cluster_page_error_panel_has_message_and_log(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_error", message="Quota exceeded for cores")
    html = client.get("/clusters/alpha").text
    panel = re.search(r'<section class="card error-panel".*?</section>', html, re.S).group(0)
    assert "The cloud&#39;s quota is used up" in panel and "Quota exceeded for cores" in panel
    assert "already used 60 of 64" in panel  # the log excerpt
    assert 'Next attempt <span class="countdown"' in panel


def test_cluster_page_invalid_spec(client: TestClient, settings: Settings) -> None:
    (settings.specs_dir / "alpha.yaml").write_text("cluster_name: alpha\n")
    write_phase(settings.clusters_dir, "alpha", "invalid", message="image: Field required")
    html = client.get("/clusters/alpha").text
    assert "The spec is not valid" in html and "<code>public_keys</code>" in html


def test_approve_from_the_page(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha", apply="manual")
    write_phase(settings.clusters_dir, "alpha", "awaiting_approval")
    html = client.get("/clusters/alpha").text
    assert "A plan is waiting for your approval" in html and 'value="plan-1234"' in html
    token = csrf_from(client, "/clusters/alpha")
    assert (
        client.post("/clusters/alpha/approve", data={"csrf_token": token, "plan_id": "old"}).status_code
        == 409
    )
    assert client.post("/clusters/alpha/approve", data={"plan_id": "plan-1234"}).status_code == 403
    r = client.post("/clusters/alpha/approve", data={"csrf_token": token, "plan_id": "plan-1234"})
    assert r.status_code == 303
    assert read_approval(settings.specs_dir, "alpha") == "plan-1234"


def test_destroy_needs_the_typed_name(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_success")
    token = csrf_from(client, "/clusters/alpha")
    r = client.post("/clusters/alpha/destroy", data={"csrf_token": token, "confirm": "alph"})
    assert r.status_code == 422 and 'id="err-confirm"' in r.text
    assert "ensure" not in read_spec(settings, "alpha")
    assert client.post("/clusters/alpha/destroy", data={"confirm": "alpha"}).status_code == 403
    r = client.post("/clusters/alpha/destroy", data={"csrf_token": token, "confirm": "alpha"})
    assert r.status_code == 303 and r.headers["location"].startswith("/clusters/alpha?")  # with its notice
    assert read_spec(settings, "alpha")["ensure"] == "absent"
    assert "ensure: absent" in client.get("/clusters/alpha").text


def test_destroy_works_on_an_invalid_spec(client: TestClient, settings: Settings) -> None:
    (settings.specs_dir / "alpha.yaml").write_text("cluster_name: alpha\nimage: Rocky-9\n")
    token = csrf_from(client, "/clusters/alpha")
    r = client.post("/clusters/alpha/destroy", data={"csrf_token": token, "confirm": "alpha"})
    assert r.status_code == 303
    assert read_spec(settings, "alpha") == {"cluster_name": "alpha", "image": "Rocky-9", "ensure": "absent"}


def test_password_on_demand(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    token = csrf_from(client, "/clusters/alpha")
    assert client.post("/clusters/alpha/password").status_code == 403
    assert client.post("/clusters/alpha/password", headers={"X-CSRF-Token": token}).status_code == 404
    generated = guest_password(settings.clusters_dir, "alpha", None)
    r = client.post("/clusters/alpha/password", headers={"X-CSRF-Token": token})
    assert r.status_code == 200 and r.json() == {"password": generated}
    assert r.headers["cache-control"] == "no-store"
    write_spec(settings, "alpha", guest_passwd="from-the-spec-1")
    assert (
        client.post("/clusters/alpha/password", headers={"X-CSRF-Token": token}).json()["password"]
        == "from-the-spec-1"
    )


def test_run_log_page(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    status = write_phase(settings.clusters_dir, "alpha", "build_error")
    r = client.get(f"/clusters/alpha/runs/{status.run_id}/log")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "Quota exceeded" in r.text
    assert client.get("/clusters/alpha/runs/nope/log").status_code == 404
    assert client.get("/clusters/alpha/runs/..%2F..%2Fstatus.json/log").status_code == 404


@pytest.mark.parametrize("evil", ['<script>alert("x")</script>', '"><img src=x onerror=alert(1)>'])
def test_everything_is_escaped(client: TestClient, settings: Settings, evil: str) -> None:
    write_spec(settings, "alpha", hieradata=f"note: '{evil}'")
    write_phase(settings.clusters_dir, "alpha", "build_error", message=evil)
    for url in ("/", "/clusters/alpha", "/clusters/alpha/edit", "/partials/clusters/alpha"):
        html = client.get(url).text
        assert evil not in html, url
    fields = form_fields(client.get("/clusters/new").text)
    fields.update({"cluster_name": "beta", "domain": evil, "public_keys": KEY})
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 422 and evil not in r.text


def test_security_headers(client: TestClient) -> None:
    r = client.get("/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "<script>" not in r.text.replace('<script type="application/json"', "")  # no inline script


def test_static_assets(client: TestClient) -> None:
    assert client.get("/static/app.css").status_code == 200
    assert "clusterForm" in client.get("/static/app.js").text
    assert client.get("/static/../app.py").status_code == 404


def test_method_not_allowed_is_an_error_page(client: TestClient) -> None:
    assert client.delete("/").status_code == 405
    assert client.patch("/api/clusters").json()["error"]


def test_figures_older_than_a_finished_build_are_refreshed(
    client: TestClient, settings: Settings, catalog: FakeCatalog
) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_running")
    client.get("/partials/clusters/alpha")
    assert catalog.refreshes == []  # figures change all along a build: no refresh for each step
    write_phase(settings.clusters_dir, "alpha", "build_success")
    client.get("/partials/clusters/alpha")  # the page's background fetch waits for fresh figures
    assert catalog.refreshes == [None]
    client.get("/partials/clusters/alpha")
    client.get("/partials/dashboard")
    assert catalog.refreshes == [None]  # now newer than the build: nothing more to ask


def test_an_unreachable_cloud_is_not_asked_again_and_again(
    client: TestClient, settings: Settings, catalog: FakeCatalog
) -> None:
    catalog.error = "cloud sandbox did not answer"
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_success")
    for _ in range(3):
        client.get("/partials/clusters/alpha")
    assert catalog.refreshes == []


def test_each_finished_change_refreshes_the_figures_once(
    client: TestClient, settings: Settings, catalog: FakeCatalog
) -> None:
    import time

    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_success")
    client.get("/partials/clusters/alpha")
    catalog.fetched_at = "2026-01-01T00:00:00Z"  # as if the fetch had not happened yet
    client.get("/partials/clusters/alpha")
    assert catalog.refreshes == [None]  # asked once for this change
    time.sleep(2.1)  # later than the refreshed figures (which have a one-second grain)
    write_phase(settings.clusters_dir, "alpha", "build_success")
    client.get("/partials/clusters/alpha")
    assert catalog.refreshes == [None, None]  # a new change: asked again at once
