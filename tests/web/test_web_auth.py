"""Access: local mode (loopback, no login), shared token (login form + signed cookie, or bearer),
trusted proxy header; the bind check; CSRF rules across them."""

from __future__ import annotations

import json
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from webfakes import KEY, spec_dict
from webhelpers import csrf_from, form_fields, write_spec

from reconciler.model.settings import Settings
from webview.auth import KEY_FILE, AccessError, AuthConfig, BindRefused, check_bind

TOKEN = "correct-horse-battery-staple"
JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "[::1]", "127.0.0.2"])
def test_loopback_binds_need_nothing(host: str) -> None:
    check_bind(host, AuthConfig())


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "hub.example.org"])
def test_exposed_binds_need_a_token_or_a_proxy_header(host: str) -> None:
    with pytest.raises(BindRefused) as err:
        check_bind(host, AuthConfig())
    assert "MCHUB_TOKEN" in str(err.value) and "MCHUB_PROXY_USER_HEADER" in str(err.value)
    assert "MCHUB_TRUSTED_PROXIES" in str(err.value)
    check_bind(host, AuthConfig(token=TOKEN))
    check_bind(host, AuthConfig(proxy_header="X-Remote-User"))


def test_from_env(tmp_path: Path) -> None:
    auth = AuthConfig.from_env(tmp_path, {"MCHUB_TOKEN": TOKEN})
    assert auth.mode == "token" and auth.token == TOKEN
    kept = tmp_path / KEY_FILE
    assert kept.read_text() == auth.secret_key and stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert AuthConfig.from_env(tmp_path, {}).secret_key == auth.secret_key  # survives a restart
    assert AuthConfig.from_env(tmp_path, {"MCHUB_SECRET_KEY": "k" * 32}).secret_key == "k" * 32
    proxy = AuthConfig.from_env(tmp_path, {"MCHUB_PROXY_USER_HEADER": "X-Remote-User"})
    assert proxy.mode == "proxy"
    assert AuthConfig.from_env(None, {}).mode == "local"
    with pytest.raises(AccessError, match="16 characters"):
        AuthConfig.from_env(tmp_path, {"MCHUB_TOKEN": "short"})


def test_local_mode_answers_only_to_local_host_names(make_client: Callable[..., TestClient]) -> None:
    assert make_client(base_url="http://localhost:5000").get("/").status_code == 200
    assert make_client(base_url="http://[::1]:5000").get("/healthz").status_code == 200
    evil = make_client(base_url="http://rebound.example:5000")  # DNS rebinding
    assert evil.get("/api/clusters").status_code == 421


def test_token_mode_api_needs_the_bearer(make_client: Callable[..., TestClient], settings: Settings) -> None:
    client = make_client(AuthConfig(token=TOKEN), base_url="http://hub.example.org")
    assert client.get("/healthz").status_code == 200  # health checks need no login
    r = client.get("/api/clusters")
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert (
        client.get("/api/clusters", headers={"Authorization": "Bearer wrong-token-wrong"}).status_code == 401
    )
    auth = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/clusters", headers=auth).status_code == 200
    # A bearer call needs no CSRF token and no JSON content type to write.
    r = client.post("/api/clusters", content=json.dumps(spec_dict("beta")), headers=auth)
    assert r.status_code == 201
    assert client.delete("/api/clusters/beta", headers=auth).status_code == 202


def test_token_mode_pages_go_through_the_login_form(
    make_client: Callable[..., TestClient], settings: Settings
) -> None:
    client = make_client(AuthConfig(token=TOKEN), base_url="http://hub.example.org")
    r = client.get("/clusters/new?x=1")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fclusters%2Fnew%3Fx%3D1"
    token = csrf_from(client, "/login")
    bad = client.post("/login", data={"csrf_token": token, "token": "nope", "next": "/clusters/new"})
    assert bad.status_code == 401 and "not right" in bad.text
    assert client.post("/login", data={"token": TOKEN}).status_code == 403  # login forms have CSRF too
    ok = client.post("/login", data={"csrf_token": token, "token": TOKEN, "next": "/clusters/new"})
    assert ok.status_code == 303 and ok.headers["location"] == "/clusters/new"
    assert "httponly" in ok.headers["set-cookie"].lower()
    page = client.get("/clusters/new")
    assert page.status_code == 200 and "mchub-user" in page.text
    # With the session cookie, an API write must prove it is same-origin JSON (or carry X-CSRF-Token).
    body = json.dumps(spec_dict("beta"))
    assert (
        client.post("/api/clusters", content=body, headers={"Content-Type": "text/plain"}).status_code == 403
    )
    assert (
        client.post(
            "/api/clusters", content=body, headers={"Content-Type": "text/plain", "X-CSRF-Token": token}
        ).status_code
        == 201
    )
    # Log out.
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303
    assert client.get("/clusters/new").status_code == 303


def test_a_forged_session_cookie_is_refused(make_client: Callable[..., TestClient]) -> None:
    auth = AuthConfig(token=TOKEN, secret_key="the-hub-key-the-hub-key")
    client = make_client(auth, base_url="http://hub.example.org")
    client.cookies.set("mchub_session", auth.session_cookie("mchub-user"))
    assert client.get("/").status_code == 200
    other = AuthConfig(token=TOKEN, secret_key="another-key-another-key")
    client.cookies.set("mchub_session", other.session_cookie("mchub-user"))
    assert client.get("/").status_code == 303
    # A new token ends the sessions made with the old one.
    old = AuthConfig(token="an-older-token-an-older-token", secret_key="the-hub-key-the-hub-key")
    client.cookies.set("mchub_session", old.session_cookie("mchub-user"))
    assert client.get("/").status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil.example"])
def test_login_never_redirects_off_site(make_client: Callable[..., TestClient], target: str) -> None:
    client = make_client(AuthConfig(token=TOKEN), base_url="http://hub.example.org")
    token = csrf_from(client, "/login")
    r = client.post("/login", data={"csrf_token": token, "token": TOKEN, "next": target})
    assert r.headers["location"] == "/"


def test_login_page_redirects_home_without_a_token(client: TestClient) -> None:
    assert client.get("/login").status_code == 303


def test_proxy_header_identifies_the_user(make_client: Callable[..., TestClient], settings: Settings) -> None:
    subprocess.run(["git", "init", "-q", str(settings.specs_dir)], check=True)
    proxy = ("127.0.0.1", 40000)  # the reverse proxy on the hub's host (trusted_proxies: loopback)
    client = make_client(
        AuthConfig(proxy_header="X-Remote-User"), base_url="http://hub.example.org", client=proxy
    )
    assert client.get("/").status_code == 401
    assert client.get("/api/clusters").status_code == 401
    client.headers["X-Remote-User"] = "alice@example.org"
    html = client.get("/clusters/new").text
    assert "alice@example.org" in html
    fields = form_fields(html)
    fields.update({"cluster_name": "demo", "public_keys": KEY})
    assert client.post("/clusters/new", data=fields).status_code == 303
    log = subprocess.run(
        ["git", "-C", str(settings.specs_dir), "log", "--format=%an <%ae>|%s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert log == "alice@example.org <alice@example.org>|Create cluster demo (web view)"


def test_local_user_is_the_git_author(
    client: TestClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("USER", "bob")
    subprocess.run(["git", "init", "-q", str(settings.specs_dir)], check=True)
    write_spec(settings, "alpha")
    token = csrf_from(client, "/clusters/alpha")
    client.post("/clusters/alpha/destroy", data={"csrf_token": token, "confirm": "alpha"})
    log = subprocess.run(
        ["git", "-C", str(settings.specs_dir), "log", "--format=%an <%ae>|%s"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert log == "bob <bob@mchub.invalid>|Destroy cluster alpha (web view: ensure absent)"
