"""Property-based fuzzing of who a request says it is: identity headers (random, empty, joined,
repeated), bearer tokens and session cookies close to the real ones, X-Forwarded-*, Host, Origin,
on the hub in proxy mode (the identity header believed from a trusted proxy only: loopback) and in
token mode. Never a 5xx, never a secret, within 2 s; an identity header from a peer that is not a
trusted proxy, or sent twice, never gets in; a token or a session cookie that is not exactly the
hub's never gets in: not one signed with another key or for another token, not one ended by logout,
not the hub's own with another user put in it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from hostilefigures import count, examples
from hostilegen import strings
from hostileworld import World, csrf_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webfakes import FakeCatalog
from webhelpers import BASE_URL, TestClient

from webview.app import create_app
from webview.auth import SESSION_COOKIE, TOKEN_USER, AuthConfig

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
FUZZ = settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
IDENTITY = "X-Remote-User"
PATHS = st.sampled_from(["/api/clusters", "/api/clusters/target/status", "/", "/clusters/target", "/metrics"])
OTHER_HEADERS = (
    "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded", "X-Real-IP", "Host", "Origin",
    "Sec-Fetch-Site", "X-CSRF-Token", "Content-Type", "Cookie", "Authorization",
)  # fmt: skip
# A header value as HTTP carries it: Latin-1 text without line breaks.
values = st.one_of(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60),
    st.sampled_from(["alice", "alice, bob", "", " ", "admin", "root", "a" * 300, "127.0.0.1", "https"]),
    strings.map(lambda s: "".join(c for c in s if "\x20" <= c <= "\xff" and c != "\x7f")),
)


def latin1(headers: list[tuple[str, str]]) -> list[tuple[str, bytes]]:
    """Headers as they go on the wire (the client would send text as ASCII only)."""
    return [(name, value.encode("latin-1")) for name, value in headers]


@pytest.fixture(scope="module")
def proxied(world: World) -> Iterator[dict[bool, TestClient]]:
    """The hub in proxy mode over the world's folders: reached from loopback (a trusted proxy) or
    from anywhere else."""
    app = create_app(world.settings, FakeCatalog(), AuthConfig(proxy_header=IDENTITY, secret_key=world.key))
    clients = {
        True: TestClient(app, base_url=BASE_URL, follow_redirects=False, client=("127.0.0.1", 50000)),
        False: TestClient(app, base_url=BASE_URL, follow_redirects=False, client=("203.0.113.9", 50000)),
    }
    for client in clients.values():
        client.__enter__()
    yield clients
    for client in clients.values():
        client.__exit__(None, None, None)


@FUZZ
@given(identity=st.lists(values, max_size=3), trusted=st.booleans(), path=PATHS,
       others=st.lists(st.tuples(st.sampled_from(OTHER_HEADERS), values), max_size=5))  # fmt: skip
def test_an_identity_header_gets_in_only_once_and_from_a_trusted_proxy(
    world: World,
    proxied: dict[bool, TestClient],
    identity: list[str],
    others: list[tuple[str, str]],
    trusted: bool,
    path: str,
) -> None:
    headers = [(IDENTITY, v) for v in identity] + others
    with world.case():
        r = world.call("GET", path, via=proxied[trusted], headers=latin1(headers))
        count(f"proxy mode, {'trusted' if trusted else 'untrusted'} peer", r.status_code)
        if r.status_code < 300:  # let in: by a trusted proxy naming one person, once
            assert trusted and len(identity) == 1, (identity, r.status_code)
            assert identity[0].strip() and "," not in identity[0] and len(identity[0].strip()) <= 200
        elif identity and not trusted:
            assert r.status_code == 401


def _near(real: str) -> st.SearchStrategy[str]:
    """Values close to the hub's token: cut, grown, one character changed, cased otherwise."""
    return st.one_of(
        st.integers(0, len(real) - 1).map(lambda i: real[:i]),
        st.text(max_size=3, alphabet="aZ9=_-").filter(bool).map(lambda extra: real + extra),
        st.integers(0, len(real) - 1).map(lambda i: real[:i] + "AB"[real[i] == "A"] + real[i + 1 :]),
        st.just(real.swapcase()),
    )


def _tampered(real: str, user: str) -> str:
    """The hub's own session cookie with its payload changed to another user, signature kept."""
    payload, rest = real.split(".", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["u"] = user
    changed = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=")
    return f"{changed.decode()}.{rest}"


@pytest.fixture(scope="module")
def revoked(world: World) -> str:
    """A session cookie of a person who has logged out since (a copy kept by someone else)."""
    with TestClient(world.client.app, base_url=BASE_URL, follow_redirects=False) as person:
        person.post("/login", data={"csrf_token": csrf_of(person, "/login"), "token": world.token})
        cookie = person.cookies.get(SESSION_COOKIE)
        assert cookie and person.get("/api/clusters").status_code == 200
        person.post("/logout", data={"csrf_token": csrf_of(person, "/clusters/new")})
    return cookie


def forged_sessions(world: World, revoked: str) -> st.SearchStrategy[str]:
    """Session cookies that are not a valid one of this hub: signed with another key, for another
    token, ended by logout, the hub's own with another user in it or something added, random."""
    real = world.client.cookies.get(SESSION_COOKIE) or ""
    other_key = AuthConfig(token=world.token, secret_key="not-the-hubs-key-at-all")
    other_token = AuthConfig(token=world.token + "-rotated", secret_key=world.key)
    users = st.sampled_from(["mchub-user", "admin", "root", "", "alice"])
    return st.one_of(
        users.map(other_key.session_cookie),
        users.map(other_token.session_cookie),
        st.just(revoked),
        users.filter(lambda user: user != TOKEN_USER).map(lambda user: _tampered(real, user)),
        st.text(max_size=3, alphabet="aZ9_-.").filter(bool).map(lambda extra: real + extra),
        values,
    )


@FUZZ
@given(data=st.data(), path=PATHS)
def test_a_token_or_session_that_is_not_the_hubs_never_gets_in(
    world: World, revoked: str, data: st.DataObject, path: str
) -> None:
    token = data.draw(st.one_of(st.none(), _near(world.token), values), label="token")
    forged = data.draw(st.one_of(st.none(), forged_sessions(world, revoked)), label="session")
    headers = [("Authorization", f"Bearer {token}")] if token is not None else []
    if forged is not None:
        headers.append(("Cookie", f"{SESSION_COOKIE}={forged}"))
    with world.case(), TestClient(world.client.app, base_url=BASE_URL, follow_redirects=False) as stranger:
        r = world.call("GET", path, via=stranger, headers=latin1(headers))
        count("token mode, a stranger", r.status_code)
        assert r.status_code in (303, 401), (token, forged, r.status_code)  # the login form, or 401
