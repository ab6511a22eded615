"""Token mode: logout revokes the session on the server, so a copy of the cookie stops working, and
the record of it survives a restart of the hub; the record's own failure modes."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from webhelpers import csrf_from

from reconciler.model.settings import Settings
from webview import sessions
from webview.auth import KEY_FILE, SESSION_COOKIE, SESSION_MAX_AGE, AccessError, AuthConfig
from webview.sessions import REVOKED_FILE, Revocations

TOKEN = "correct-horse-battery-staple"
HUB = "http://hub.example.org"


def hub_auth(settings: Settings) -> AuthConfig:
    """The access settings `mchub serve` makes: key and logouts kept in clusters_dir."""
    return AuthConfig.from_env(settings.clusters_dir, {"MCHUB_TOKEN": TOKEN})


def log_in(client: TestClient) -> tuple[str, str]:
    """(session cookie, CSRF token) of a fresh login."""
    token = csrf_from(client, "/login")
    r = client.post("/login", data={"csrf_token": token, "token": TOKEN})
    assert r.status_code == 303
    return client.cookies[SESSION_COOKIE], token


def test_a_session_cookie_copied_before_logout_stops_working(
    make_client: Callable[..., TestClient], settings: Settings
) -> None:
    auth = hub_auth(settings)
    browser = make_client(auth, base_url=HUB)
    copied, token = log_in(browser)
    thief = make_client(auth, base_url=HUB)
    thief.cookies.set(SESSION_COOKIE, copied)
    assert thief.get("/").status_code == 200
    assert browser.post("/logout", data={"csrf_token": token}).status_code == 303
    assert thief.get("/").status_code == 303  # the login page
    assert thief.get("/").headers["location"].startswith("/login")
    assert thief.get("/api/clusters").status_code == 401
    # A restarted hub (new AuthConfig from the same clusters_dir) still refuses it.
    restarted = make_client(hub_auth(settings), base_url=HUB)
    restarted.cookies.set(SESSION_COOKIE, copied)
    assert restarted.get("/api/clusters").status_code == 401
    record = settings.clusters_dir / REVOKED_FILE
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    # Logging in again works.
    fresh = make_client(hub_auth(settings), base_url=HUB)
    again, _ = log_in(fresh)
    assert again != copied and fresh.get("/").status_code == 200


def test_logout_ends_only_its_own_session(make_client: Callable[..., TestClient], settings: Settings) -> None:
    auth = hub_auth(settings)
    laptop, desktop = (make_client(auth, base_url=HUB) for _ in range(2))
    _, token = log_in(laptop)
    log_in(desktop)
    laptop.post("/logout", data={"csrf_token": token})
    assert laptop.get("/").status_code == 303
    assert desktop.get("/").status_code == 200


def test_a_session_without_an_id_is_refused(make_client: Callable[..., TestClient]) -> None:
    """Cookies from before logouts were recorded cannot be revoked: they are refused."""
    auth = AuthConfig(token=TOKEN, secret_key="the-hub-key-the-hub-key")
    client = make_client(auth, base_url=HUB)
    client.cookies.set(SESSION_COOKIE, auth.serializer().dumps({"u": "mchub-user", "t": auth.token_tag()}))
    assert client.get("/").status_code == 303


def test_revocations_are_forgotten_when_their_session_would_have_expired(tmp_path: Path) -> None:
    now = [1_000_000.0]
    store = Revocations(SESSION_MAX_AGE, tmp_path / REVOKED_FILE, clock=lambda: now[0])
    store.revoke("old", 1_000_000)
    assert store.is_revoked("old", 1_000_000)
    now[0] += SESSION_MAX_AGE + 10
    store.revoke("new", int(now[0]))
    assert set(store.revoked) == {"new"}
    assert set(json.loads((tmp_path / REVOKED_FILE).read_text())["revoked"]) == {"new"}


def test_too_many_revocations_never_let_one_back_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sessions, "MAX_REVOKED", 3)
    store = Revocations(SESSION_MAX_AGE, tmp_path / REVOKED_FILE, clock=lambda: 2_000_000.0)
    for i in range(6):
        store.revoke(f"s{i}", 1_999_000 + i)
    assert len(store.revoked) <= 3
    assert all(store.is_revoked(f"s{i}", 1_999_000 + i) for i in range(6))
    assert not store.is_revoked("other", 1_999_100)  # sessions issued later still work
    kept = Revocations.kept_in(tmp_path, SESSION_MAX_AGE)
    assert all(kept.is_revoked(f"s{i}", 1_999_000 + i) for i in range(6))


@pytest.mark.parametrize("damage", ["garbage", "wrong shape", "link", "too large"])
def test_an_unreadable_revocation_record_refuses_every_earlier_session(
    make_client: Callable[..., TestClient], settings: Settings, damage: str
) -> None:
    browser = make_client(hub_auth(settings), base_url=HUB)
    cookie, _ = log_in(browser)
    record = settings.clusters_dir / REVOKED_FILE
    if damage == "garbage":
        record.write_text("{not json")
    elif damage == "wrong shape":
        record.write_text(json.dumps({"revoked": ["a"], "not_before": 0}))
    elif damage == "link":
        (settings.clusters_dir / "elsewhere.json").write_text(json.dumps({"revoked": {}, "not_before": 0}))
        os.symlink(settings.clusters_dir / "elsewhere.json", record)
    else:
        record.write_text(" " * (sessions.MAX_FILE_BYTES + 1))
    restarted = make_client(hub_auth(settings), base_url=HUB)  # starts, never crashes
    restarted.cookies.set(SESSION_COOKIE, cookie)
    assert restarted.get("/api/clusters").status_code == 401


def test_a_key_file_that_is_a_link_is_never_read(settings: Settings) -> None:
    secret = settings.clusters_dir / "secret"
    secret.write_text("some-other-file")
    os.symlink(secret, settings.clusters_dir / KEY_FILE)
    with pytest.raises(AccessError, match=KEY_FILE):
        AuthConfig.from_env(settings.clusters_dir, {"MCHUB_TOKEN": TOKEN})
