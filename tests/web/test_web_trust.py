"""Proxy mode: the identity header is believed only from `trusted_proxies` (default loopback), only
once per request; the setting itself; the bind check; X-Forwarded-Proto from a trusted proxy."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from reconciler.model.settings import SettingsError, load_settings
from webview.auth import AuthConfig, BindRefused, check_bind

HEADER = "X-Remote-User"
TOKEN = "correct-horse-battery-staple"
PROXY = ("127.0.0.1", 40000)
STRANGER = ("203.0.113.9", 40000)


def proxied(make_client: Callable[..., TestClient], peer: tuple[str, int], **auth: Any) -> TestClient:
    return make_client(
        AuthConfig(proxy_header=HEADER, **auth), base_url="http://hub.example.org", client=peer
    )


def test_the_identity_header_from_a_loopback_proxy_is_believed(
    make_client: Callable[..., TestClient],
) -> None:
    client = proxied(make_client, PROXY)
    r = client.get("/api/clusters", headers={HEADER: "alice@example.org"})
    assert r.status_code == 200
    assert "alice@example.org" in client.get("/", headers={HEADER: "alice@example.org"}).text
    # A dual-stack listener sees an IPv4 proxy as ::ffff:127.0.0.1.
    mapped = proxied(make_client, ("::ffff:127.0.0.1", 40000))
    assert mapped.get("/api/clusters", headers={HEADER: "alice"}).status_code == 200
    assert proxied(make_client, ("::1", 40000)).get("/", headers={HEADER: "alice"}).status_code == 200


def test_the_identity_header_from_any_other_peer_is_refused_and_logged_once(
    make_client: Callable[..., TestClient], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mchub.webview")
    client = proxied(make_client, STRANGER)
    for _ in range(3):
        r = client.get("/api/clusters", headers={HEADER: "admin"})
        assert r.status_code == 401 and "trusted proxy" in r.json()["error"]
    page = client.get("/", headers={HEADER: "admin"})
    assert page.status_code == 401 and "admin" not in page.text
    assert client.get("/healthz", headers={HEADER: "admin"}).status_code == 401
    refused = [r for r in caplog.records if "refused X-Remote-User" in r.getMessage()]
    assert len(refused) == 1 and "203.0.113.9" in refused[0].getMessage()
    # Another peer is logged once too.
    proxied(make_client, ("198.51.100.4", 1)).get("/", headers={HEADER: "admin"})
    assert len([r for r in caplog.records if "refused X-Remote-User" in r.getMessage()]) == 2
    # Without the header, a stranger is simply not identified.
    assert client.get("/api/clusters").status_code == 401
    assert client.get("/healthz").status_code == 200


def test_a_peer_that_is_not_an_address_is_never_a_trusted_proxy(
    make_client: Callable[..., TestClient],
) -> None:
    client = proxied(make_client, ("testclient", 50000))
    assert client.get("/api/clusters", headers={HEADER: "alice"}).status_code == 401


def test_only_the_listed_proxies_are_trusted(make_client: Callable[..., TestClient]) -> None:
    listed = ("10.0.0.0/24", "192.0.2.7/32")
    assert (
        proxied(make_client, ("10.0.0.7", 1), trusted_proxies=listed)
        .get("/api/clusters", headers={HEADER: "alice"})
        .status_code
        == 200
    )
    assert (
        proxied(make_client, ("192.0.2.7", 1), trusted_proxies=listed)
        .get("/api/clusters", headers={HEADER: "alice"})
        .status_code
        == 200
    )
    # Loopback is no longer trusted once the list names other proxies.
    assert (
        proxied(make_client, PROXY, trusted_proxies=listed)
        .get("/api/clusters", headers={HEADER: "alice"})
        .status_code
        == 401
    )


@pytest.mark.parametrize(
    "headers",
    [
        [(HEADER, "mallory"), (HEADER, "alice")],  # a proxy that appends its header after the client's
        [(HEADER, "mallory, alice")],  # Apache's `RequestHeader append` joins them with a comma
        [(HEADER, "x" * 201)],
    ],
)
def test_a_duplicated_identity_header_is_refused(
    make_client: Callable[..., TestClient], headers: list[tuple[str, str]]
) -> None:
    client = proxied(make_client, PROXY)
    r = client.get("/api/clusters", headers=headers)
    assert r.status_code == 400 and "mallory" not in r.text
    page = client.get("/", headers=headers)
    assert page.status_code == 400 and "mallory" not in page.text


def test_a_stranger_may_still_use_the_token_when_both_are_set(
    make_client: Callable[..., TestClient],
) -> None:
    client = proxied(make_client, STRANGER, token=TOKEN)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert client.get("/api/clusters", headers=bearer).status_code == 200
    # ... but not while also claiming an identity.
    assert client.get("/api/clusters", headers={**bearer, HEADER: "alice"}).status_code == 401


def test_the_bind_check_refuses_a_proxy_mode_that_trusts_everyone() -> None:
    everyone = AuthConfig(proxy_header=HEADER, trusted_proxies=("0.0.0.0/0",))
    with pytest.raises(BindRefused, match="MCHUB_TRUSTED_PROXIES"):
        check_bind("0.0.0.0", everyone)
    with pytest.raises(BindRefused, match="::/0"):
        check_bind("::", AuthConfig(proxy_header=HEADER, trusted_proxies=("::/0",)))
    check_bind("127.0.0.1", everyone)  # only local peers can reach it
    check_bind("0.0.0.0", AuthConfig(proxy_header=HEADER))  # strangers get 401
    check_bind("0.0.0.0", AuthConfig(proxy_header=HEADER, trusted_proxies=("172.17.0.0/16",)))


def test_trusted_proxies_setting_from_the_file_and_the_environment(tmp_path: Path) -> None:
    assert load_settings(environ={}).trusted_proxies == ("127.0.0.0/8", "::1/128")
    env = {"MCHUB_TRUSTED_PROXIES": "10.0.0.5, 192.168.0.0/16 ::1"}
    assert load_settings(environ=env).trusted_proxies == ("10.0.0.5/32", "192.168.0.0/16", "::1/128")
    path = tmp_path / "settings.yaml"
    path.write_text("trusted_proxies: [172.17.0.1, fd00::/8]\n")
    assert load_settings(path, environ={}).trusted_proxies == ("172.17.0.1/32", "fd00::/8")
    auth = AuthConfig.from_env(None, {"MCHUB_PROXY_USER_HEADER": HEADER}, ("10.1.2.3/32",))
    assert auth.trusts("10.1.2.3") and not auth.trusts("127.0.0.1")


@pytest.mark.parametrize(
    "text, message",
    [
        ("trusted_proxies: proxy.example.org\n", "'proxy.example.org' is not an IP address or network"),
        ("trusted_proxies: [10.0.0.5/24]\n", "has host bits set"),
        ("trusted_proxies: []\n", "expected a list of IP addresses"),
        ("trusted_proxies: 5\n", "expected a list of IP addresses"),
    ],
)
def test_a_trusted_proxies_setting_that_is_not_addresses_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "settings.yaml"
    path.write_text(text)
    with pytest.raises(SettingsError, match="trusted_proxies") as err:
        load_settings(path, environ={})
    assert message in str(err.value)
    with pytest.raises(SettingsError, match="MCHUB_TRUSTED_PROXIES: 'nope'"):
        load_settings(environ={"MCHUB_TRUSTED_PROXIES": "nope"})


def test_forwarded_proto_is_believed_from_a_trusted_proxy_only(
    make_client: Callable[..., TestClient],
) -> None:
    def cookie_of(peer: tuple[str, int]) -> str:
        client = make_client(AuthConfig(token=TOKEN), base_url="http://hub.example.org", client=peer)
        r = client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert r.status_code == 200
        return r.headers["set-cookie"].lower()

    assert "secure" in cookie_of(PROXY)  # TLS ends at the proxy: cookies stay on https
    assert "secure" not in cookie_of(STRANGER)


def test_serve_leaves_the_peer_address_to_the_web_view(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's proxy headers would replace the TCP peer with an X-Forwarded-For address."""
    import uvicorn

    from reconciler.entry import serve

    seen: dict[str, Any] = {}

    class Server:
        def __init__(self, config: uvicorn.Config) -> None:
            seen["proxy_headers"] = config.proxy_headers

        def run(self, sockets: Any) -> None:
            pass

    monkeypatch.setattr(uvicorn, "Server", Server)
    serve._run_web(object(), None)  # type: ignore[arg-type]
    assert seen == {"proxy_headers": False}
