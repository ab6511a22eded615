"""`POST /api/clusters/{name}/preview`, in process with a fake Previewer: the body is checked exactly
as a PUT checks it (422 with field paths, a past `expires`, the name in the path, 404/409/412 as PUT),
the spec the hub is asked about is the file as the PUT would write it, a failed plan is a 502, no
preview function is a 503, and nothing is ever written."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient
from webfakes import FakePreview, spec_dict, write_phase
from webhelpers import write_spec

from reconciler.model.settings import Settings
from webview.auth import AuthConfig

JSON = {"Content-Type": "application/json"}
NOON = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
TOKEN = "a-token-of-sixteen-chars"


def snapshot(settings: Settings) -> dict[str, bytes]:
    """Every file under specs/ and clusters/: a preview changes none of them."""
    return {
        str(p.relative_to(settings.specs_dir.parent)): p.read_bytes()
        for root in (settings.specs_dir, settings.clusters_dir)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def preview(client: TestClient, name: str, data: Any, **headers: str) -> Any:
    return client.post(f"/api/clusters/{name}/preview", content=json.dumps(data), headers={**JSON, **headers})


@pytest.fixture
def fake() -> FakePreview:
    return FakePreview()


@pytest.fixture
def web(make_client: Callable[..., TestClient], fake: FakePreview) -> TestClient:
    return make_client(preview=fake, clock=lambda: NOON)


def test_an_edit_is_previewed_as_the_put_would_write_it(
    web: TestClient, fake: FakePreview, settings: Settings
) -> None:
    write_spec(settings, "alpha", guest_passwd="kept-secret-1")
    before = snapshot(settings)
    version = web.get("/api/clusters/alpha").json()["version"]
    spec = web.get("/api/clusters/alpha").json()["spec"]  # guest password "(hidden)"
    spec["instances"]["node"]["count"] = 1
    r = preview(web, "alpha", spec)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"] == "3 create; nothing lost" and body["changes"] == {"create": 3}
    assert body["name"] == "alpha" and body["version"] == version and body["new_cluster"] is False
    assert r.headers["cache-control"] == "no-store"
    asked = fake.specs[-1]
    assert asked.instances["node"].count == 1
    assert asked.guest_passwd == "kept-secret-1"  # a GET's "(hidden)" sent back keeps the password
    assert snapshot(settings) == before


def test_a_new_name_previews_a_new_cluster_and_writes_nothing(
    web: TestClient, fake: FakePreview, settings: Settings
) -> None:
    r = web.post(
        "/api/clusters/beta/preview",
        content=yaml.safe_dump(spec_dict("beta")),
        headers={"Content-Type": "application/yaml"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["new_cluster"] is True and r.json()["version"] is None
    assert fake.specs[-1].cluster_name == "beta"
    assert snapshot(settings) == {}


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"cluster_name": "other"}, "cluster_name"),
        ({"instances": {"node": {"type": "p2-3gb", "tags": ["node"], "count": -1}}}, "instances.node.count"),
        ({"public_keys": ["not a key"]}, "public_keys.0"),  # the key's own path
        ({"expires": "2026-11-29"}, "expires"),  # already past (the app's today is 2026-11-30)
        ({"ensure": "absent"}, "ensure"),  # nothing to build, so nothing to plan
        ({"flavour": "p2-3gb"}, "flavour"),
    ],
)
def test_an_invalid_spec_is_a_422_with_the_field_and_no_plan(
    web: TestClient, fake: FakePreview, settings: Settings, change: dict[str, Any], path: str
) -> None:
    write_spec(settings, "alpha")
    before = snapshot(settings)
    r = preview(web, "alpha", spec_dict("alpha", **change))
    assert r.status_code == 422, r.text
    assert path in [e["path"] for e in r.json()["errors"]]
    assert fake.specs == [] and snapshot(settings) == before


def test_a_body_that_is_not_a_spec_is_a_422(web: TestClient, fake: FakePreview) -> None:
    r = web.post("/api/clusters/alpha/preview", content="{not json", headers=JSON)
    assert r.status_code == 422 and "invalid JSON" in r.json()["errors"][0]["message"]
    assert fake.specs == []


def test_the_rules_of_put_about_names_and_versions(
    web: TestClient, fake: FakePreview, settings: Settings
) -> None:
    write_spec(settings, "alpha")
    write_phase(settings.clusters_dir, "gone", "build_success", spec_dict("gone"))  # an orphan
    before = snapshot(settings)
    assert preview(web, "Bad_Name", spec_dict("alpha")).status_code == 404
    taken = preview(web, "gone", spec_dict("gone"))
    assert taken.status_code == 409 and "still keeps its resources" in taken.json()["error"]
    stale = preview(web, "alpha", spec_dict("alpha"), **{"If-Match": '"0123456789abcdef"'})
    assert stale.status_code == 412 and stale.json()["version"]
    assert preview(web, "nobody", spec_dict("nobody"), **{"If-Match": "*"}).status_code == 412
    assert preview(web, "alpha", spec_dict("alpha"), **{"If-None-Match": "*"}).status_code == 409
    version = web.get("/api/clusters/alpha").json()["version"]
    ok = preview(web, "alpha", spec_dict("alpha"), **{"If-Match": f'"{version}"'})
    assert ok.status_code == 200 and ok.json()["version"] == version
    assert [s.cluster_name for s in fake.specs] == ["alpha"]
    assert snapshot(settings) == before


def test_a_failed_plan_is_a_502_with_the_hubs_words(
    make_client: Callable[..., TestClient], settings: Settings
) -> None:
    web = make_client(preview=FakePreview(error="Error: Failed to query available provider packages"))
    r = preview(web, "beta", spec_dict("beta"))
    assert r.status_code == 502
    assert r.json() == {
        "error": "the hub could not plan this spec: Error: Failed to query available provider packages"
    }
    assert snapshot(settings) == {}


def test_without_a_preview_function_previews_are_not_available(
    make_client: Callable[..., TestClient], settings: Settings
) -> None:
    web = make_client()  # a web view on its own, as the tests' fake hubs run it
    r = preview(web, "beta", spec_dict("beta"))
    assert r.status_code == 503 and "not available here" in r.json()["error"]
    assert preview(web, "beta", spec_dict("beta", nb_users=-3)).status_code == 422  # still checked
    assert snapshot(settings) == {}


def test_previews_under_way_are_bounded(make_client: Callable[..., TestClient]) -> None:
    gate = threading.Event()
    fake = FakePreview(gate=gate)
    web = make_client(preview=fake)
    with ThreadPoolExecutor(3) as pool:
        held = [pool.submit(preview, web, f"c{i}", spec_dict(f"c{i}")) for i in range(2)]
        deadline = threading.Event()
        while len(fake.specs) < 2 and not deadline.wait(0.02):
            pass
        busy = preview(web, "c9", spec_dict("c9"))
        gate.set()
        assert [f.result().status_code for f in held] == [200, 200]
    assert busy.status_code == 503 and busy.headers["retry-after"] == "5"
    assert preview(web, "c9", spec_dict("c9")).status_code == 200  # free again


def test_access_and_csrf_as_for_every_api_write(
    make_client: Callable[..., TestClient], fake: FakePreview, settings: Settings, tmp_path: Path
) -> None:
    local = make_client(preview=fake)
    body = json.dumps(spec_dict("beta"))
    cross = {**JSON, "Origin": "http://evil.example.org", "Sec-Fetch-Site": "cross-site"}
    assert local.post("/api/clusters/beta/preview", content=body, headers=cross).status_code == 403
    plain = {"Content-Type": "text/plain"}  # a form-like post, without the CSRF header
    assert local.post("/api/clusters/beta/preview", content=body, headers=plain).status_code == 403
    exposed = make_client(AuthConfig(token=TOKEN), base_url="http://hub.example.org", preview=fake)
    r = exposed.post("/api/clusters/beta/preview", content=body, headers=JSON)
    assert r.status_code == 401
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert exposed.post("/api/clusters/beta/preview", content=body, headers=bearer).status_code == 200
    assert len(fake.specs) == 1 and snapshot(settings) == {}
