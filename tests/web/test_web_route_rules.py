"""Every route of the app has a rule in webview/authz.py's table, and the rule is enforced: the test
walks `app.routes`, fails on a route the table does not list, and calls each route as someone the
rule keeps out (404 for a cluster, 403 to create or for admins' routes, 401 with no identity) and
as someone it lets in (neither 404 nor 403, whatever else the route answers)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.routing import Mount, Route
from webfakes import two_projects, write_phase
from webhelpers import TestClient, write_spec

from reconciler.model.settings import Settings
from webview import authz
from webview.app import create_app
from webview.auth import AuthConfig

HEADER = "X-Remote-User"
HUB = "http://hub.example.org"
PROXY = ("127.0.0.1", 40000)
REFUSED = {"public": (), "any user": (401,), "create": (403,), "admin": (403,)}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return two_projects(tmp_path)


def test_every_route_has_a_rule(settings: Settings, catalog: object) -> None:
    app = create_app(settings, catalog)  # type: ignore[arg-type]
    missing = [key for route in app.routes if authz.rule_of(route) is None for key in authz.route_keys(route)]
    assert not missing, f"routes without a rule in webview/authz.py RULES: {missing}"
    listed = {key for route in app.routes for key in authz.route_keys(route)}
    assert not set(authz.RULES) - listed, "RULES lists routes the app does not have"


def _csrf(client: TestClient) -> str:
    """The CSRF token of the page's meta tag (sets the cookie); "" for someone with no identity."""
    page = client.get("/api/schema")  # any page sets the cookie; the token is derived from it
    if page.status_code != 200:
        return ""
    found = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/").text)
    assert found, "no CSRF token in the page"
    return found.group(1)


def _call(client: TestClient, method: str, path: str) -> int:
    """The route called as a page or a script would call it: form posts with the CSRF token, API
    writes as same-origin JSON, the password reveal with the CSRF header."""
    token = _csrf(client)
    if method == "GET":
        return client.get(path).status_code
    if path.startswith("/api/"):
        return client.request(method, path, json={}, headers={"Content-Type": "application/json"}).status_code
    if path.endswith("/password"):
        return client.post(path, headers={"X-CSRF-Token": token}).status_code
    return client.post(path, data={"csrf_token": token}).status_code


def test_every_rule_is_enforced(make_client: Callable[..., TestClient], settings: Settings) -> None:
    def person(user: str | None) -> TestClient:
        client = make_client(AuthConfig(proxy_header=HEADER), base_url=HUB, client=PROXY)
        if user:
            client.headers[HEADER] = user
        return client

    alice, bob, carol, nobody, anonymous = (person(u) for u in ("alice", "bob", "carol", "mallory", None))
    app = alice.app
    checked = set()
    for i, route in enumerate(app.routes):  # type: ignore[attr-defined]
        rule = authz.rule_of(route)
        assert rule is not None, route
        if isinstance(route, Mount):
            assert anonymous.get(f"{route.path}/app.css").status_code == 200
            continue
        assert isinstance(route, Route)
        if route.path.startswith("/hooks/"):  # no login: its shared secret decides (test_web_specs_remote)
            assert rule == "public"
            continue
        name = f"c{i}"  # a cluster of alice's project for each route (some routes remove theirs)
        write_spec(settings, name, project="physics", guest_passwd="correct-horse-battery")
        run_id = write_phase(settings.clusters_dir, name, "build_error").run_id
        path = route.path.replace("{name}", name).replace("{run_id}", str(run_id))
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            where = f"{method} {route.path} ({rule})"
            if rule.startswith("cluster:"):
                outsider, member = bob, alice
                refused: tuple[int, ...] = (404,)
            elif rule == "admin":
                outsider, member, refused = alice, carol, (403,)
            elif rule == "create":
                outsider, member, refused = nobody, alice, (403,)
            else:
                outsider, member, refused = anonymous, nobody, REFUSED[rule]
            if refused:
                assert _call(outsider, method, path) in refused, f"{where}: the outsider got in"
            assert _call(member, method, path) not in (401, 403, 404), f"{where}: the member was refused"
            checked.add(rule)
    assert {"public", "any user", "cluster:see", "cluster:change", "create"} <= checked


def test_another_projects_cluster_is_hidden_from_every_cluster_route(
    make_client: Callable[..., TestClient], settings: Settings
) -> None:
    """Each cluster route answers bob exactly as it answers for a cluster that does not exist."""
    bob = make_client(AuthConfig(proxy_header=HEADER), base_url=HUB, client=PROXY)
    bob.headers[HEADER] = "bob"
    write_spec(settings, "quark", project="physics")
    for route in bob.app.routes:  # type: ignore[attr-defined]
        if not isinstance(route, Route) or not (authz.rule_of(route) or "").startswith("cluster:"):
            continue
        for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
            if authz.rule_of(route) == "cluster:change or create":
                continue  # for a name that is free, a create (tested in test_web_people)
            theirs = route.path.replace("{name}", "quark").replace("{run_id}", "r1")
            missing = route.path.replace("{name}", "nothere").replace("{run_id}", "r1")
            a, b = _call(bob, method, theirs), _call(bob, method, missing)
            assert a == b == 404, f"{method} {route.path}"
