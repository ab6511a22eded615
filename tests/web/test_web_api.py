"""The JSON API, in process: every route, good and bad input, conditional requests."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient
from webfakes import KEY, spec_dict, write_phase
from webhelpers import read_spec, write_spec

from reconciler.model import runs
from reconciler.model.approvals import read_approval
from reconciler.model.settings import Settings

JSON = {"Content-Type": "application/json"}


def post(client: TestClient, url: str, data: Any, **headers: str) -> Any:
    return client.post(url, content=json.dumps(data), headers={**JSON, **headers})


def test_healthz(client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}


def test_list_is_empty_then_shows_specs_and_orphans(client: TestClient, settings: Settings) -> None:
    assert client.get("/api/clusters").json() == {"clusters": []}
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "gone", "build_success", spec_dict("gone"))  # status, no spec
    items = {c["name"]: c for c in client.get("/api/clusters").json()["clusters"]}
    assert items["alpha"]["status"] == "pending" and items["alpha"]["spec"] == "valid"
    assert items["gone"]["spec"] == "missing" and items["gone"]["status"] == "build_success"


def test_list_supports_etag(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    first = client.get("/api/clusters")
    etag = first.headers["etag"]
    assert client.get("/api/clusters", headers={"If-None-Match": etag}).status_code == 304
    write_phase(settings.clusters_dir, "alpha", "build_running")
    again = client.get("/api/clusters", headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["etag"] != etag


def test_create_writes_the_spec(client: TestClient, settings: Settings) -> None:
    r = post(client, "/api/clusters", spec_dict("beta"))
    assert r.status_code == 201, r.text
    assert r.headers["location"] == "/api/clusters/beta"
    assert read_spec(settings, "beta")["instances"]["node"]["count"] == 2
    assert [c["name"] for c in client.get("/api/clusters").json()["clusters"]] == ["beta"]


def test_create_accepts_yaml(client: TestClient, settings: Settings) -> None:
    r = client.post(
        "/api/clusters",
        content=yaml.safe_dump(spec_dict("gamma")),
        headers={"Content-Type": "application/yaml"},
    )
    assert r.status_code == 201, r.text
    assert (settings.specs_dir / "gamma.yaml").exists()


def test_yaml_aliases_are_refused(client: TestClient) -> None:
    text = yaml.safe_dump(spec_dict("gamma")) + "extra: &a [1, 2]\nmore: *a\n"
    r = client.post("/api/clusters", content=text, headers={"Content-Type": "application/yaml"})
    assert r.status_code == 422
    assert "aliases" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"cluster_name": "Bad_Name"}, "cluster_name"),
        ({"instances": {"node": {"type": "p2-3gb", "tags": ["node"], "count": -1}}}, "instances.node.count"),
        ({"instances": {"node": {"type": "p2-3gb", "tags": ["bogus"]}}}, "instances.node.tags"),
        ({"public_keys": ["not a key"]}, "public_keys.0"),  # the key's own path
        ({"volumes": {"gpu": {"x": {"size": 10}}}}, "volumes.gpu"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_create_refuses_an_invalid_spec_with_field_paths(
    client: TestClient, settings: Settings, change: dict[str, Any], path: str
) -> None:
    r = post(client, "/api/clusters", spec_dict("beta", **change))
    assert r.status_code == 422, r.text
    paths = [e["path"] for e in r.json()["errors"]]
    assert path in paths
    assert not any(settings.specs_dir.glob("*.yaml"))


@pytest.mark.parametrize("body", ["{not json", "[1, 2]", '"text"'])
def test_create_refuses_bodies_that_are_not_a_mapping(client: TestClient, body: str) -> None:
    r = client.post("/api/clusters", content=body, headers=JSON)
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == ""


def test_create_refuses_a_duplicate(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "beta")
    r = post(client, "/api/clusters", spec_dict("beta"))
    assert r.status_code == 409


def test_body_size_is_limited(client: TestClient) -> None:
    big = spec_dict("beta", hieradata="x: " + "a" * 300_000)
    r = post(client, "/api/clusters", big)
    assert r.status_code == 413


def test_writes_need_json_or_a_token_against_csrf(client: TestClient, settings: Settings) -> None:
    body = json.dumps(spec_dict("beta"))
    # A form-encoded or text/plain POST is what another site can send without a preflight.
    assert (
        client.post("/api/clusters", content=body, headers={"Content-Type": "text/plain"}).status_code == 403
    )
    assert client.post("/api/clusters", content=body).status_code == 403
    # A JSON body from another origin is refused even if a browser were to send it.
    r = client.post("/api/clusters", content=body, headers={**JSON, "Origin": "http://evil.example"})
    assert r.status_code == 403
    r = client.post("/api/clusters", content=body, headers={**JSON, "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    write_spec(settings, "alpha")
    assert client.delete("/api/clusters/alpha").status_code == 403
    assert client.post("/api/clusters/alpha/approve").status_code == 403
    # The same request from the hub's own pages is fine.
    ok = client.post("/api/clusters", content=body, headers={**JSON, "Origin": "http://127.0.0.1:5000"})
    assert ok.status_code == 201


def test_get_cluster_hides_the_guest_password(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha", guest_passwd="s3cret-passw0rd")
    write_phase(settings.clusters_dir, "alpha", "build_success")
    data = client.get("/api/clusters/alpha").json()
    assert data["spec"]["guest_passwd"] == "(hidden)"
    assert "s3cret-passw0rd" not in json.dumps(data)
    assert data["status"]["status"] == "build_success"
    assert data["spec_valid"] is True


def test_get_cluster_reports_an_invalid_spec(client: TestClient, settings: Settings) -> None:
    (settings.specs_dir / "alpha.yaml").write_text("cluster_name: alpha\ndomain: x\n")
    data = client.get("/api/clusters/alpha").json()
    assert data["spec_valid"] is False and data["spec"] is None
    assert {"image", "instances", "public_keys"} <= {e["path"] for e in data["spec_errors"]}


@pytest.mark.parametrize("name", ["nope", "UPPER", "a", "x" * 60, "bad_name", "-dash", "a.b"])
def test_unknown_or_invalid_names_are_404(client: TestClient, name: str) -> None:
    for url in (f"/api/clusters/{name}", f"/api/clusters/{name}/status", f"/api/clusters/{name}/logs"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert "error" in r.json()


def test_path_traversal_never_reaches_the_disk(client: TestClient, settings: Settings) -> None:
    (settings.specs_dir.parent / "secret.yaml").write_text("cluster_name: secret\n")
    for url in ("/api/clusters/..%2Fsecret", "/api/clusters/%2e%2e", "/api/clusters/..%5csecret"):
        assert client.get(url).status_code == 404
    r = client.put("/api/clusters/..%2Fsecret", content="{}", headers=JSON)
    assert r.status_code in (404, 405)


def test_put_creates_then_updates(client: TestClient, settings: Settings) -> None:
    data = spec_dict("delta")
    del data["cluster_name"]  # taken from the URL
    r = client.put("/api/clusters/delta", content=json.dumps(data), headers=JSON)
    assert r.status_code == 201, r.text
    data["instances"]["node"]["count"] = 4
    r = client.put("/api/clusters/delta", content=json.dumps(data), headers=JSON)
    assert r.status_code == 200
    assert read_spec(settings, "delta")["instances"]["node"]["count"] == 4


def test_put_refuses_a_different_name(client: TestClient) -> None:
    r = client.put("/api/clusters/delta", content=json.dumps(spec_dict("other")), headers=JSON)
    assert r.status_code == 422
    assert r.json()["errors"][0]["path"] == "cluster_name"


def test_put_keeps_a_hidden_password(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha", guest_passwd="s3cret-passw0rd")
    spec = client.get("/api/clusters/alpha").json()["spec"]
    spec["nb_users"] = 7
    assert client.put("/api/clusters/alpha", content=json.dumps(spec), headers=JSON).status_code == 200
    saved = read_spec(settings, "alpha")
    assert saved["guest_passwd"] == "s3cret-passw0rd" and saved["nb_users"] == 7


def test_delete_sets_ensure_absent(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    r = client.delete("/api/clusters/alpha", headers=JSON)
    assert r.status_code == 202
    assert read_spec(settings, "alpha")["ensure"] == "absent"
    assert client.delete("/api/clusters/nope", headers=JSON).status_code == 404


def test_status_of_a_new_spec_is_pending(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    data = client.get("/api/clusters/alpha/status").json()
    assert data["status"] == "pending" and data["progress"] == {}


def test_status_has_progress_and_is_conditional(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_running", done=3)
    r = client.get("/api/clusters/alpha/status")
    data = r.json()
    assert {"status", "reason", "message", "progress"} <= set(data)
    assert data["status"] == "build_running" and data["counts"]["done"] == 3
    assert all(p["state"] in ("queued", "running", "done", "failed") for p in data["progress"].values())
    etag = r.headers["etag"]
    cached = client.get("/api/clusters/alpha/status", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b"" and cached.headers["etag"] == etag
    write_phase(settings.clusters_dir, "alpha", "build_success")
    fresh = client.get("/api/clusters/alpha/status", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.json()["status"] == "build_success"
    assert fresh.json()["outputs"]["public_ip"] == {"login1": "198.51.100.12"}


def test_logs_lists_runs_and_returns_the_text(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_error", message="Quota exceeded for cores")
    data = client.get("/api/clusters/alpha/logs").json()
    assert len(data["runs"]) == 1 and data["runs"][0]["result"] == "failed"
    assert "Quota exceeded" in data["log"]
    assert client.get("/api/clusters/alpha/logs?run=../../x").status_code == 400
    assert client.get("/api/clusters/alpha/logs?tail=abc").status_code == 400
    assert client.get(f"/api/clusters/alpha/logs?run={data['run']}&tail=1").json()["log"].startswith("Error")


def test_approve(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha", apply="manual")
    assert post(client, "/api/clusters/alpha/approve", {}).status_code == 409  # nothing to approve
    write_phase(settings.clusters_dir, "alpha", "awaiting_approval")
    assert post(client, "/api/clusters/alpha/approve", {"plan_id": "plan-old"}).status_code == 409
    r = post(client, "/api/clusters/alpha/approve", {"plan_id": "plan-1234"})
    assert r.status_code == 202 and r.json()["plan_id"] == "plan-1234"
    assert read_approval(settings.specs_dir, "alpha") == "plan-1234"


def test_resources_is_the_catalog_payload(client: TestClient, catalog: Any) -> None:
    r = client.get("/api/resources")
    data = r.json()
    assert data["quotas"]["cores"] == {"limit": 64, "in_use": 0, "remaining": 64, "cluster_usage": 0}
    assert client.get("/api/resources", headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert client.get("/api/resources?cloud=nowhere").status_code == 400
    assert client.get("/api/resources?cluster=Bad_Name").status_code == 400
    client.get("/api/resources?cloud=sandbox&cluster=alpha")
    assert catalog.calls[-1] == ("sandbox", "alpha")


def test_metrics_counts_phases(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_success")
    text = client.get("/metrics").text
    assert 'mchub_clusters{phase="build_success"} 1' in text


def test_run_records_are_listed_newest_first(client: TestClient, settings: Settings) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "alpha", "build_running")
    write_phase(settings.clusters_dir, "alpha", "build_error")
    ids = [r["id"] for r in client.get("/api/clusters/alpha/logs").json()["runs"]]
    assert ids == [r.id for r in runs.list_records(settings.clusters_dir, "alpha")]
    assert len(ids) == 2


def test_key_fixture_is_a_valid_key() -> None:
    assert KEY.startswith("ssh-ed25519 ")


def test_metrics_from_the_hub_when_given(settings: Settings, catalog: Any) -> None:
    from webhelpers import BASE_URL, TestClient

    from webview.app import create_app

    class Metrics:
        def render(self) -> bytes:
            return b"mchub_terraform_runs_total 3.0\n"

    with TestClient(create_app(settings, catalog, metrics=Metrics()), base_url=BASE_URL) as c:
        r = c.get("/metrics")
    assert r.text == "mchub_terraform_runs_total 3.0\n"
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
