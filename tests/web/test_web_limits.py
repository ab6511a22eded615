"""Limits and hostile bodies, in process: a spec past a limit is a 422 naming the setting (API and
form), the largest spec the limits allow keeps every page under 2 MB, a spec file the parser refuses
(alias bomb, deep nesting, past a bound) is shown as its errors, never expanded, a deeply nested
body or a name with a newline is never a 500, and a full disk is a 507 that wrote nothing."""

from __future__ import annotations

import dataclasses
import errno
import html
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.routing import Route
from starlette.testclient import TestClient
from webfakes import KEY, FakeCatalog, spec_dict, write_phase
from webhelpers import BASE_URL, csrf_from, form_fields, read_spec, write_spec

from reconciler.model.limits import DEFAULT_LIMITS
from reconciler.model.settings import Settings
from reconciler.model.spec import ALIASES_REFUSED, parse_spec
from webview.app import DISK_FULL_MESSAGE, create_app

JSON = {"Content-Type": "application/json"}
PAGE_LIMIT = 2 * 1024 * 1024
# 420 bytes of YAML that a plain loader expands into 9**6 (half a million) strings.
ALIAS_BOMB = (
    "cluster_name: bomb\n"
    "a: &a [xxxxxxxxxx,xxxxxxxxxx,xxxxxxxxxx,xxxxxxxxxx,xxxxxxxxxx,xxxxxxxxxx,xxxxxxxxxx]\n"
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\nimage: [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
)


def _long(char: str, n: int) -> str:
    return char * n


def largest_spec(name: str) -> dict[str, Any]:
    """Every limit at its default, reached at once, with every string as long as allowed: the
    heaviest spec a person can write (hosts all public, so each has an address on the page)."""
    lim = DEFAULT_LIMITS
    flavor, image = _long("f", lim.max_name_length), _long("i", lim.max_name_length)
    groups: dict[str, Any] = {
        "mgmt": {"type": flavor, "tags": ["puppet", "mgmt", "nfs"], "count": 1},
        "login": {"type": flavor, "tags": ["login", "public", "proxy"], "count": 1},
    }
    nodes, left = lim.max_instance_groups - 2, lim.max_hosts - 2
    for i in range(nodes):
        count = left // nodes + (1 if i < left % nodes else 0)
        prefix = f"n{i:02d}" + "x" * 57  # host names at their 64 characters
        groups[prefix] = {"type": flavor, "tags": ["node", "public"], "count": count, "image": image}
    volumes = {
        f"v{j:03d}" + "y" * (lim.max_name_length - 4): {"size": 1, "type": _long("t", lim.max_name_length)}
        for j in range(lim.max_volumes)
    }
    key = (KEY + " " + "c" * lim.max_public_key_length)[: lim.max_public_key_length]
    hiera = "---\n" + "\n".join(f"k{i}: " + "v" * 60 for i in range(lim.max_hieradata_length // 70))
    return spec_dict(
        name,
        instances=groups,
        volumes={"nfs": volumes},
        image=image,
        nb_users=lim.max_nb_users,
        domain=".".join(["a" * 62] * 4)[: lim.max_domain_length].rstrip("."),
        hieradata=hiera,
        public_keys=[key] * 8,
    )


def test_the_largest_spec_the_limits_allow_keeps_every_page_under_2_mb(
    client: TestClient, settings: Settings
) -> None:
    data = largest_spec("huge")
    parse_spec(data)  # allowed: every limit reached, none passed
    text = yaml.safe_dump(data, width=100_000)
    assert len(text.encode()) < 256 * 1024
    (settings.specs_dir / "huge.yaml").write_text(text)
    write_phase(settings.clusters_dir, "huge", "build_running", data)
    write_phase(settings.clusters_dir, "huge", "build_success", data)
    for url in (
        "/clusters/huge",
        "/partials/clusters/huge",
        "/clusters/huge/edit",
        "/api/clusters/huge",
        "/api/clusters/huge/status",
        "/",
        "/api/clusters",
    ):
        r = client.get(url)
        assert r.status_code == 200, url
        assert len(r.content) < PAGE_LIMIT, f"{url}: {len(r.content)} bytes"
    assert "Instances <small>2000</small>" in client.get("/clusters/huge").text


def _groups(n: int, count: int) -> dict[str, Any]:
    return {f"n{i}x": {"type": "p2-3gb", "tags": ["node"], "count": count} for i in range(n)}


def test_a_spec_past_a_limit_is_a_422_naming_the_field_and_the_setting(
    client: TestClient, settings: Settings
) -> None:
    data = spec_dict("big")
    data["instances"] |= _groups(6, 500)
    r = client.post("/api/clusters", content=json.dumps(data), headers=JSON)
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"path": "instances", "message": "3004 hosts; at most 2000 (setting max_hosts)"}
    ]
    r = client.put("/api/clusters/big", content=yaml.safe_dump(data), headers={"Content-Type": "text/yaml"})
    assert r.status_code == 422 and "(setting max_hosts)" in r.text
    data["instances"] = _groups(51, 1)
    r = client.post("/api/clusters", content=json.dumps(data), headers=JSON)
    assert r.status_code == 422
    assert "51 instance groups; at most 50 (setting max_instance_groups)" in r.text
    assert not any(settings.specs_dir.glob("*.yaml"))


def test_the_form_refuses_a_spec_past_a_limit_with_the_setting_named(
    client: TestClient, settings: Settings
) -> None:
    fields = form_fields(client.get("/clusters/new").text)
    fields.update({"cluster_name": "demo", "public_keys": KEY, "nb_users": "5000"})
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 422
    assert "5000 guest accounts; at most 1000 (setting max_nb_users)" in html.unescape(r.text)
    fields.update({"nb_users": "5", "image": "i" * 200})
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 422
    assert "200 characters; at most 128 (setting max_name_length)" in html.unescape(r.text)
    assert re.search(r'id="image"[^>]*aria-invalid="true"', r.text)  # beside its input
    assert not any(settings.specs_dir.glob("*.yaml"))


def test_the_hubs_limits_are_the_ones_the_api_and_the_form_apply(
    settings: Settings, catalog: FakeCatalog
) -> None:
    strict = dataclasses.replace(settings, max_hosts=3)
    with TestClient(create_app(strict, catalog), base_url=BASE_URL, follow_redirects=False) as client:
        r = client.post("/api/clusters", content=json.dumps(spec_dict("beta")), headers=JSON)
        assert r.status_code == 422
        assert r.json()["errors"][0]["message"] == "4 hosts; at most 3 (setting max_hosts)"
        fields = form_fields(client.get("/clusters/new").text)
        fields.update({"cluster_name": "demo", "public_keys": KEY, "inst-2-count": "2"})
        r = client.post("/clusters/new", data=fields)
        assert r.status_code == 422 and "4 hosts; at most 3 (setting max_hosts)" in r.text


# -- spec files the parser refuses are shown as their errors, never expanded ---------------------


def test_an_alias_bomb_spec_file_is_shown_as_its_errors(client: TestClient, settings: Settings) -> None:
    assert len(ALIAS_BOMB) < 450
    (settings.specs_dir / "bomb.yaml").write_text(ALIAS_BOMB)
    for url in (
        "/clusters/bomb/edit",
        "/clusters/bomb",
        "/partials/clusters/bomb",
        "/api/clusters/bomb",
        "/",
    ):
        r = client.get(url)
        assert r.status_code == 200, url
        assert len(r.content) < 64 * 1024, f"{url}: {len(r.content)} bytes"
    edit = html.unescape(client.get("/clusters/bomb/edit").text)
    assert ALIASES_REFUSED in edit and "xxxxxxxxxx" not in form_fields(edit).get("image", "")


def test_a_deeply_nested_spec_file_breaks_no_page(client: TestClient, settings: Settings) -> None:
    text = yaml.safe_dump(spec_dict("deep")).replace("image: Rocky-9", "image: " + "[" * 990 + "]" * 990)
    (settings.specs_dir / "deep.yaml").write_text(text)
    write_spec(settings, "fine")
    for url in ("/", "/api/clusters", "/clusters/deep", "/clusters/deep/edit", "/api/clusters/deep"):
        r = client.get(url)
        assert r.status_code == 200, url
    assert "nested more than 20 levels deep (setting max_depth)" in client.get("/api/clusters/deep").text
    names = {c["name"]: c["spec"] for c in client.get("/api/clusters").json()["clusters"]}
    assert names == {"deep": "invalid", "fine": "valid"}


def test_an_edit_form_past_a_bound_shows_the_errors_not_the_rows(
    client: TestClient, settings: Settings
) -> None:
    data = spec_dict("wide")
    data["instances"] |= _groups(60, 1)
    (settings.specs_dir / "wide.yaml").write_text(yaml.safe_dump(data))
    r = client.get("/clusters/wide/edit")
    assert r.status_code == 200
    assert "63 instance groups; at most 50 (setting max_instance_groups)" in r.text
    assert "inst-3-prefix" not in form_fields(r.text)  # no row filled from the file


# -- bodies and names that cannot break the API ---------------------------------------------------


@pytest.mark.parametrize("kind", ["json", "yaml"])
def test_a_deeply_nested_body_is_a_422(client: TestClient, settings: Settings, kind: str) -> None:
    write_spec(settings, "alpha")
    if kind == "json":
        bodies, headers = ["[" * 100_000 + "]" * 100_000, '{"a":' * 40_000 + "1" + "}" * 40_000], JSON
    else:
        bodies, headers = ["a: " + "[" * 900 + "]" * 900], {"Content-Type": "application/yaml"}
    for body in bodies:
        for method, url in (
            ("POST", "/api/clusters"),
            ("PUT", "/api/clusters/alpha"),
            ("POST", "/api/clusters/alpha/approve"),
            ("POST", "/api/clusters/alpha/preview"),
        ):
            r = client.request(method, url, content=body, headers=headers)
            assert r.status_code == 422, (method, url, r.text[:200])
            assert "(setting max_depth)" in r.text


def _name_routes(client: TestClient) -> list[tuple[str, str]]:
    routes = [r for r in client.app.routes if isinstance(r, Route) and "{name}" in r.path]  # type: ignore[attr-defined]
    return [(m, r.path) for r in routes for m in sorted(r.methods or ()) if m != "HEAD"]


@pytest.mark.parametrize("raw", ["demo%0A", "demo%0D", "demo%00", "demo%0Ax", "DEMO", "%2E%2E"])
def test_a_name_that_is_not_one_is_never_a_5xx(
    make_client: Callable[..., TestClient], settings: Settings, raw: str
) -> None:
    client = make_client(raise_server_exceptions=False)
    write_spec(settings, "demo")
    token = csrf_from(client, "/clusters/demo")
    headers = {**JSON, "X-CSRF-Token": token}
    for method, path in _name_routes(client):
        url = path.replace("{name}", raw).replace("{run_id}", "r1")
        r = client.request(method, url, content=json.dumps(spec_dict("demo")), headers=headers)
        assert r.status_code in (403, 404, 405, 422), (method, url, r.status_code, r.text[:200])


def test_a_name_with_a_newline_in_a_body_or_a_query_is_refused(
    client: TestClient, settings: Settings
) -> None:
    write_spec(settings, "demo")
    r = client.post("/api/clusters", content=json.dumps(spec_dict("demo\n")), headers=JSON)
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "cluster_name"
    r = client.put("/api/clusters/demo", content=json.dumps(spec_dict("demo\n")), headers=JSON)
    assert r.status_code == 422
    assert client.get("/api/resources?cluster=demo%0A").status_code == 400
    assert client.get("/api/clusters/demo/logs?run=r1%0A").status_code == 400
    assert client.get("/clusters/demo/runs/r1%0A/log").status_code == 404


# -- a full disk ----------------------------------------------------------------------------------


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> Callable[[int], None]:
    """Every fsync fails as on a full disk (or a full quota): where the writers notice it."""

    def fill(code: int = errno.ENOSPC) -> None:
        def fsync(fd: int) -> None:
            raise OSError(code, os.strerror(code))

        monkeypatch.setattr(os, "fsync", fsync)

    return fill


def _left_behind(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_a_full_disk_is_a_507_and_writes_nothing(
    client: TestClient, settings: Settings, full_disk: Callable[[int], None]
) -> None:
    write_spec(settings, "alpha", apply="manual")
    write_phase(settings.clusters_dir, "alpha", "awaiting_approval")
    before = _left_behind(settings.specs_dir)
    original = (settings.specs_dir / "alpha.yaml").read_bytes()
    full_disk(errno.ENOSPC)
    r = client.post("/api/clusters", content=json.dumps(spec_dict("beta")), headers=JSON)
    assert (r.status_code, r.json()) == (507, {"error": DISK_FULL_MESSAGE})
    assert r.json()["error"].startswith("the hub's disk is full: nothing was written")
    changed = spec_dict("alpha", nb_users=9, apply="manual")
    assert client.put("/api/clusters/alpha", content=json.dumps(changed), headers=JSON).status_code == 507
    full_disk(errno.EDQUOT)
    r = client.post("/api/clusters/alpha/approve", content=json.dumps({"plan_id": "plan-1234"}), headers=JSON)
    assert r.status_code == 507 and r.json() == {"error": DISK_FULL_MESSAGE}
    assert _left_behind(settings.specs_dir) == before  # no temp file, no approval
    assert (settings.specs_dir / "alpha.yaml").read_bytes() == original


def test_a_full_disk_keeps_the_form_with_the_message(
    client: TestClient, settings: Settings, full_disk: Callable[[int], None]
) -> None:
    fields = form_fields(client.get("/clusters/new").text)
    fields.update({"cluster_name": "demo", "public_keys": KEY, "inst-2-count": "3"})
    full_disk(errno.ENOSPC)
    r = client.post("/clusters/new", data=fields)
    assert r.status_code == 507
    assert "the hub&#39;s disk is full: nothing was written" in r.text
    assert form_fields(r.text)["inst-2-count"] == "3"  # what the person typed is kept
    assert _left_behind(settings.specs_dir) == []
    write_spec(settings, "alpha")
    token = csrf_from(client, "/clusters/alpha")
    r = client.post("/clusters/alpha/destroy", data={"csrf_token": token, "confirm": "alpha"})
    assert r.status_code == 507 and "disk is full" in r.text
    assert read_spec(settings, "alpha").get("ensure", "present") == "present"


def test_any_other_write_error_is_still_a_500(
    make_client: Callable[..., TestClient], settings: Settings, full_disk: Callable[[int], None]
) -> None:
    client = make_client(raise_server_exceptions=False)
    full_disk(errno.EIO)
    r = client.post("/api/clusters", content=json.dumps(spec_dict("beta")), headers=JSON)
    assert r.status_code == 500
