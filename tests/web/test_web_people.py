"""People and projects through the real app: several identities arrive as a trusted proxy's headers
(Shibboleth's attribute names), or as per-user tokens, and each sees and changes only the clusters
of their projects. alice is in physics by name, eve by her group, bob in chemistry, carol an admin,
mallory in no project. Someone else's cluster is a 404 with a missing cluster's words."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from webfakes import spec_dict, two_projects, write_phase
from webhelpers import TestClient, csrf_from, read_spec, write_spec

from reconciler.model.projects import Project
from reconciler.model.settings import Settings
from webview.auth import AuthConfig
from webview.proxyauth import ProxyAttributes, proxy_identity
from webview.tokens import TokenUsersError, read_token_users

HEADER = "X-Remote-User"
HUB = "http://hub.example.org"
PROXY = ("127.0.0.1", 40000)  # the reverse proxy, on loopback (trusted by default)
PEOPLE = {
    "alice": {"givenName": "Alice", "surname": "Tremblay", "mail": "alice@example.org"},
    "bob": {"displayName": "Bob Rodriguez"},
    "carol": {},
    "eve": {"isMemberOf": "staff;physics-staff"},
    "mallory": {"isMemberOf": "chemistry-staff-not"},
}
DAVE_TOKEN = "dave-token-0123456789abcdef"
SHARED_TOKEN = "shared-token-0123456789abcdef"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    physics = Project("physics", "sandbox", ("alice", "dave"), ("physics-staff",))
    return two_projects(
        tmp_path,
        projects={**two_projects(tmp_path).projects, "physics": physics},
        logout_url="https://idp.example.org/Shibboleth.sso/Logout",
    )


@pytest.fixture
def people(make_client: Callable[..., TestClient], settings: Settings) -> dict[str, TestClient]:
    """One client per person, each sending that person's headers as the loopback proxy would."""
    write_spec(settings, "quark", project="physics")
    write_spec(settings, "benzene", project="chemistry")
    clients = {}
    for user, extra in PEOPLE.items():
        client = make_client(AuthConfig(proxy_header=HEADER), base_url=HUB, client=PROXY)
        client.headers.update({HEADER: user, **extra})
        clients[user] = client
    return clients


def names(client: TestClient) -> set[str]:
    r = client.get("/api/clusters")
    assert r.status_code == 200, r.text
    return {c["name"] for c in r.json()["clusters"]}


def test_each_person_lists_the_clusters_of_their_projects(people: dict[str, TestClient]) -> None:
    assert names(people["alice"]) == {"quark"}
    assert names(people["eve"]) == {"quark"}  # a member through the groups header
    assert names(people["bob"]) == {"benzene"}
    assert names(people["carol"]) == {"quark", "benzene"}  # admins: everything
    assert names(people["mallory"]) == set()
    # the same list, on the dashboard and its partial
    for path in ("/", "/partials/dashboard"):
        page = people["alice"].get(path)
        assert page.status_code == 200 and "quark" in page.text and "benzene" not in page.text
        page = people["bob"].get(path)
        assert "benzene" in page.text and "quark" not in page.text


def test_another_projects_cluster_answers_as_a_missing_one(people: dict[str, TestClient]) -> None:
    bob = people["bob"]
    for path in ("/api/clusters/{}", "/api/clusters/{}/status", "/api/clusters/{}/logs"):
        theirs, missing = bob.get(path.format("quark")), bob.get(path.format("nothere"))
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["error"].replace("quark", "X") == missing.json()["error"].replace("nothere", "X")
    page, missing_page = bob.get("/clusters/quark"), bob.get("/clusters/nothere")
    assert page.status_code == missing_page.status_code == 404
    assert page.text.replace("quark", "X") == missing_page.text.replace("nothere", "X")
    assert bob.get("/partials/clusters/quark").status_code == 404
    assert people["alice"].get("/clusters/quark").status_code == 200
    assert people["eve"].get("/api/clusters/quark").status_code == 200
    assert people["carol"].get("/clusters/benzene").status_code == 200


def test_nobody_changes_another_projects_cluster(people: dict[str, TestClient], settings: Settings) -> None:
    bob = people["bob"]
    assert bob.delete("/api/clusters/quark").status_code == 404
    token = csrf_from(bob, "/")
    form = {"csrf_token": token, "confirm": "quark"}
    assert bob.post("/clusters/quark/destroy", data=form).status_code == 404
    assert bob.post("/api/clusters/quark/retry").status_code == 404
    assert bob.post("/clusters/quark/password", headers={"X-CSRF-Token": token}).status_code == 404
    assert read_spec(settings, "quark").get("ensure", "present") == "present"
    # alice may: the spec says absent afterwards
    json_body = {"Content-Type": "application/json"}  # a same-origin JSON call passes the CSRF guard
    assert people["alice"].request("DELETE", "/api/clusters/quark", headers=json_body).status_code == 202
    assert read_spec(settings, "quark")["ensure"] == "absent"


def test_creating_into_a_project_that_is_not_yours_is_403(
    people: dict[str, TestClient], settings: Settings
) -> None:
    alice = people["alice"]
    r = alice.post("/api/clusters", json=spec_dict("lepton", project="chemistry"))
    assert r.status_code == 403 and "physics" in r.json()["error"]  # the projects she may use
    assert not (settings.specs_dir / "lepton.yaml").exists()
    assert alice.post("/api/clusters", json=spec_dict("lepton", project="physics")).status_code == 201
    assert read_spec(settings, "lepton")["project"] == "physics"
    # moving her cluster into chemistry is creating there
    moved = alice.put("/api/clusters/lepton", json=spec_dict("lepton", project="chemistry"))
    assert moved.status_code == 403
    assert read_spec(settings, "lepton")["project"] == "physics"
    nobody = people["mallory"].post("/api/clusters", json=spec_dict("muon", project="physics"))
    assert nobody.status_code == 403 and "not a member of any project" in nobody.json()["error"]
    assert people["mallory"].get("/clusters/new").status_code == 403
    assert (
        people["carol"].post("/api/clusters", json=spec_dict("ion", project="chemistry")).status_code == 201
    )


def test_a_name_taken_by_another_project_says_only_taken(people: dict[str, TestClient]) -> None:
    seen = people["alice"].get("/api/names/quark").json()
    assert seen["available"] is False and "already exists" in seen["problem"]
    hidden = people["bob"].get("/api/names/quark").json()
    assert hidden == {
        "name": "quark",
        "available": False,
        "problem": 'the name "quark" is taken; choose another name',
    }
    refused = people["bob"].post("/api/clusters", json=spec_dict("quark", project="chemistry"))
    assert refused.status_code == 409 and refused.json()["error"] == hidden["problem"]


def test_run_logs_metrics_and_broken_specs_follow_the_projects(
    people: dict[str, TestClient], settings: Settings
) -> None:
    status = write_phase(settings.clusters_dir, "quark", "build_error", spec_dict("quark", project="physics"))
    log_url = f"/clusters/quark/runs/{status.run_id}/log"
    assert "Quota exceeded" in people["alice"].get(log_url).text
    assert people["bob"].get(log_url).status_code == 404
    assert "Quota exceeded" in people["eve"].get("/api/clusters/quark/logs").json()["log"]
    # metrics: a person who sees some clusters gets the gauges over those only
    assert 'mchub_clusters{phase="build_error"} 0' in people["bob"].get("/metrics").text
    assert 'mchub_clusters{phase="build_error"} 1' in people["alice"].get("/metrics").text
    # a spec that does not validate is still its project's; one that is not YAML, and an orphan's
    # status without a spec, are for admins only
    (settings.specs_dir / "broken.yaml").write_text(
        "cluster_name: broken\nproject: physics\nnb_users: many\n"
    )
    (settings.specs_dir / "garbled.yaml").write_text("project: physics\n  - [unclosed\n")
    write_phase(settings.clusters_dir, "orphan", "build_success")
    assert names(people["alice"]) == {"quark", "broken"}
    assert people["alice"].get("/clusters/broken").status_code == 200
    assert names(people["carol"]) >= {"quark", "benzene", "broken", "garbled", "orphan"}
    assert people["alice"].get("/clusters/garbled").status_code == 404


def test_the_header_shows_who_is_logged_in_and_logout_goes_to_the_idp(people: dict[str, TestClient]) -> None:
    page = people["alice"].get("/").text
    assert "Alice Tremblay" in page and 'title="Signed in as alice"' in page
    assert "Bob Rodriguez" in people["bob"].get("/").text
    bob = people["bob"]
    out = bob.post("/logout", data={"csrf_token": csrf_from(bob, "/")})
    assert (
        out.status_code == 303 and out.headers["location"] == "https://idp.example.org/Shibboleth.sso/Logout"
    )


def test_proxy_attributes_as_shibboleth_joins_them() -> None:
    from starlette.datastructures import Headers

    keys = "ssh-ed25519 AAAAC3 alice@laptop;ssh-rsa AAAAB3 alice@desk\nssh-ed25519 AAAAC4 third"
    headers = Headers(
        raw=[
            (b"givenname", "Élise".encode()),  # UTF-8 bytes, as Apache passes them
            (b"surname", b"Tremblay"),
            (b"mail", b"elise@example.org"),
            (b"sshpublickey", keys.encode()),
            (b"ismemberof", b"physics-staff; ;staff"),
        ]
    )
    who = proxy_identity("elise@example.org", ProxyAttributes(), headers)
    assert who.name == "Élise Tremblay" and who.mail == "elise@example.org"
    assert len(who.keys) == 3 and who.keys[1] == "ssh-rsa AAAAB3 alice@desk"
    assert who.groups == ("physics-staff", "staff") and not who.admin


def test_a_group_header_sent_twice_or_by_a_stranger_is_refused(
    make_client: Callable[..., TestClient],
) -> None:
    proxy = make_client(AuthConfig(proxy_header=HEADER), base_url=HUB, client=PROXY)
    twice = [(HEADER, "mallory"), ("isMemberOf", "physics-staff"), ("isMemberOf", "x")]
    assert proxy.get("/api/clusters", headers=twice).status_code == 400
    stranger = make_client(AuthConfig(proxy_header=HEADER), base_url=HUB, client=("203.0.113.9", 4000))
    r = stranger.get("/api/clusters", headers={HEADER: "carol", "isMemberOf": "physics-staff"})
    assert r.status_code == 401


def test_per_user_tokens(make_client: Callable[..., TestClient], settings: Settings) -> None:
    write_spec(settings, "quark", project="physics")
    write_spec(settings, "benzene", project="chemistry")
    auth = AuthConfig(token=SHARED_TOKEN, token_users={"dave": DAVE_TOKEN})
    client = make_client(auth, base_url=HUB, client=PROXY)
    dave = {"Authorization": f"Bearer {DAVE_TOKEN}"}
    listed = client.get("/api/clusters", headers=dave).json()["clusters"]
    assert {c["name"] for c in listed} == {"quark"}
    assert client.get("/api/clusters/benzene", headers=dave).status_code == 404
    shared = client.get("/api/clusters", headers={"Authorization": f"Bearer {SHARED_TOKEN}"})
    assert {c["name"] for c in shared.json()["clusters"]} == {"quark", "benzene"}  # the hub's admin
    assert (
        client.get("/api/clusters", headers={"Authorization": "Bearer not-a-token-at-all"}).status_code == 401
    )
    # logging in with dave's token makes a session of dave's
    token = csrf_from(client, "/login")
    r = client.post("/login", data={"csrf_token": token, "token": DAVE_TOKEN, "next": "/"})
    assert r.status_code == 303
    page = client.get("/")
    assert page.status_code == 200 and "quark" in page.text and "benzene" not in page.text
    assert 'title="Signed in as dave"' in page.text
    # dave's token changed: his session ends
    other = AuthConfig(token=SHARED_TOKEN, secret_key=auth.secret_key, token_users={"dave": "x" * 20})
    assert other.session_user(client.cookies["mchub_session"]) is None
    assert auth.session_user(client.cookies["mchub_session"]) == "dave"


def test_the_token_users_file_is_checked(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "tokens.yaml"
    path.write_text(f"dave: {DAVE_TOKEN}\n")
    os.chmod(path, 0o644)
    with pytest.raises(TokenUsersError, match="chmod 600"):
        read_token_users(path)
    os.chmod(path, 0o600)
    assert read_token_users(path) == {"dave": DAVE_TOKEN}
    path.write_text("dave: short\n")
    with pytest.raises(TokenUsersError, match="at least 16"):
        read_token_users(path)
    path.write_text(f"dave: {DAVE_TOKEN}\nerin: {DAVE_TOKEN}\n")
    with pytest.raises(TokenUsersError, match="also another user's"):
        read_token_users(path)
    path.write_text(f"dave: {DAVE_TOKEN}\n")
    from dataclasses import replace

    auth = AuthConfig.from_env(settings.clusters_dir, {}, settings=replace(settings, token_users_file=path))
    assert auth.mode == "token" and auth.token_user(DAVE_TOKEN) == "dave"
    assert AuthConfig.from_env(settings.clusters_dir, {}).mode == "local"
