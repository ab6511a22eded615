"""Who is asking: the web view's access rules. Local only (127.0.0.1, no login) by default; a shared
token (login form + signed cookie that logout revokes, or `Authorization: Bearer`) or a reverse
proxy's identity headers, believed only from `trusted_proxies`, when exposed; per-user tokens for
scripts beside the shared one (tokens.py). An ASGI middleware puts the caller's Identity in
`scope["mchub.identity"]` and their user id in `scope["mchub.user"]`: the local user and the shared
token's holder are admins; the others are what `admins:` and `projects:` make them (authz.py)."""

from __future__ import annotations

import getpass
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from itsdangerous import URLSafeTimedSerializer
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from reconciler.model.access import Identity
from reconciler.model.atomic import write_atomic
from reconciler.model.settings import TRUSTED_PROXIES_DEFAULT, Settings
from webview.proxyauth import (
    IdentityRefused,
    Network,
    PeerNotes,
    ProxyAttributes,
    forwarded_scheme,
    is_trusted,
    networks_of,
    peer_of,
    proxy_identity,
    proxy_user,
    refusal,
)
from webview.sessions import Revocations, read_small_file, signed_session
from webview.tokens import read_token_users, token_holder

log = logging.getLogger("mchub.webview")

SESSION_COOKIE = "mchub_session"
SESSION_MAX_AGE = 7 * 24 * 3600
TOKEN_USER = "mchub-user"
KEY_FILE = ".webview-secret-key"
# Paths anyone may fetch: the health check, the login form, the static assets, and the git webhook
# (which checks its own shared secret, webview/hooks.py).
PUBLIC_PREFIXES = ("/healthz", "/login", "/static/", "/hooks/")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")

IDENTITY = "mchub.identity"  # request scope key (authz.identity reads it)

Mode = Literal["local", "token", "proxy"]


class AccessError(ValueError):
    """Access settings that cannot be used; the message says what to change."""


class BindRefused(AccessError):
    """Binding to a reachable address without any access control."""


@dataclass(frozen=True)
class AuthConfig:
    """Access settings. Neither token nor proxy header: local mode (loopback, no login).
    `sessions` records logouts (in memory, or kept beside the key by `from_env`); `token_users`
    are per-user tokens ({user: token}); `attributes` name the proxy's attribute headers."""

    token: str | None = None
    proxy_header: str | None = None
    secret_key: str = ""
    trusted_proxies: tuple[str, ...] = TRUSTED_PROXIES_DEFAULT
    sessions: Revocations = field(default_factory=lambda: Revocations(SESSION_MAX_AGE), compare=False)
    token_users: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    attributes: ProxyAttributes = ProxyAttributes()
    networks: tuple[Network, ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.secret_key:
            object.__setattr__(self, "secret_key", secrets.token_urlsafe(32))
        try:
            networks = networks_of(self.trusted_proxies)
        except ValueError as exc:
            raise AccessError(f"trusted_proxies: {exc}; list IP addresses or networks") from None
        object.__setattr__(self, "networks", networks)

    @property
    def mode(self) -> Mode:
        if self.proxy_header:
            return "proxy"
        return "token" if self.tokens else "local"

    @property
    def tokens(self) -> bool:
        """Whether any token (the shared one, or a user's) is accepted."""
        return bool(self.token or self.token_users)

    @classmethod
    def from_env(
        cls,
        clusters_dir: Path | None = None,
        environ: Mapping[str, str] | None = None,
        trusted_proxies: tuple[str, ...] = TRUSTED_PROXIES_DEFAULT,
        settings: Settings | None = None,
    ) -> AuthConfig:
        """MCHUB_TOKEN, MCHUB_PROXY_USER_HEADER, MCHUB_SECRET_KEY, and the `trusted_proxies`
        setting; with `settings`, also its token users file and proxy attribute headers. Without a
        secret key, one is generated and kept in `<clusters_dir>/.webview-secret-key` (0600) so
        logins survive restarts; logouts are kept beside it (sessions.py)."""
        env = os.environ if environ is None else environ
        token = env.get("MCHUB_TOKEN") or None
        if token is not None and len(token) < 16:
            raise AccessError("MCHUB_TOKEN must be at least 16 characters (e.g. `openssl rand -hex 16`)")
        key = env.get("MCHUB_SECRET_KEY") or (_kept_key(clusters_dir) if clusters_dir else "")
        kept = Revocations.kept_in(clusters_dir, SESSION_MAX_AGE) if clusters_dir else None
        header = env.get("MCHUB_PROXY_USER_HEADER") or None
        users = settings.token_users_file if settings else None
        return cls(
            token,
            header,
            key,
            trusted_proxies,
            kept or Revocations(SESSION_MAX_AGE),
            read_token_users(users) if users else {},
            ProxyAttributes.of(settings) if settings else ProxyAttributes(),
        )

    def serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt="mchub-session")

    def session_cookie(self, user: str) -> str:
        """A new session: the user, their token's fingerprint and a random id that logout revokes."""
        tag = self.token_tag(user)
        return self.serializer().dumps({"u": user, "t": tag, "s": secrets.token_urlsafe(18)})

    def session_user(self, raw: str) -> str | None:
        """The user of a valid session cookie that no logout has ended."""
        session = signed_session(self.serializer(), raw, self.token_tag, SESSION_MAX_AGE)
        if session is None or self.sessions.is_revoked(session[1], session[2]):
            return None
        return session[0]

    def end_session(self, raw: str) -> None:
        """Logout: this session's cookie, and every copy of it, stops working."""
        session = signed_session(self.serializer(), raw, self.token_tag, SESSION_MAX_AGE)
        if session is not None:
            self.sessions.revoke(session[1], session[2])

    def trusts(self, peer: str | None) -> bool:
        """Whether the connecting address is one of `trusted_proxies`."""
        return is_trusted(self.networks, peer)

    def token_tag(self, user: str = TOKEN_USER) -> str:
        """A fingerprint of the user's token in each session: changing MCHUB_TOKEN logs its holders
        out, changing (or removing) a user's token logs that user out."""
        token = self.token if user == TOKEN_USER else self.token_users.get(user)
        if token is None:
            return "-"  # no token: no session is valid (a signed "-" is refused, see session_user)
        return hashlib.sha256(f"mchub-session:{token}".encode()).hexdigest()[:16]

    def token_ok(self, candidate: str) -> bool:
        return self.token is not None and hmac.compare_digest(candidate.encode(), self.token.encode())

    def token_user(self, candidate: str) -> str | None:
        """Whose token `candidate` is (TOKEN_USER for the shared one), or None."""
        return token_holder(candidate, self.token, self.token_users, TOKEN_USER)


def _kept_key(clusters_dir: Path) -> str:
    path = clusters_dir / KEY_FILE
    try:
        key = read_small_file(path, 4096).decode("utf-8", "replace").strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        raise AccessError(
            f"{path}: cannot be read as the web view's key ({exc}); remove it (a new one is made, "
            "everyone logs in again) or set MCHUB_SECRET_KEY"
        ) from None
    key = secrets.token_urlsafe(32)
    write_atomic(path, key.encode(), mode=0o600)
    return key


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, auth: AuthConfig) -> None:
    """Refuse to listen on a reachable address when nothing asks who is calling, or when anyone
    could claim an identity (proxy mode trusting every address)."""
    if is_loopback(host):
        return
    everyone = [str(n) for n in auth.networks if n.prefixlen == 0]
    if auth.mode == "proxy" and everyone:
        raise BindRefused(
            f"refusing to bind the web view to {host} with trusted_proxies (MCHUB_TRUSTED_PROXIES) "
            f"containing {everyone[0]}: anyone who can reach this address could send "
            f"{auth.proxy_header} and be whoever they name. List only your reverse proxy's addresses."
        )
    if auth.mode != "local":
        return
    raise BindRefused(
        f"refusing to bind the web view to {host}: it would let anyone who can reach this address "
        "create and destroy clusters. Either bind to 127.0.0.1 (the default) and reach it through an "
        "SSH tunnel, or pick an access method: set MCHUB_TOKEN to a shared secret of 16+ characters "
        "(login form and `Authorization: Bearer` for the API), or run behind a reverse proxy that "
        "authenticates users and set MCHUB_PROXY_USER_HEADER to the header carrying their identity "
        "(e.g. X-Remote-User); the header is believed only from the addresses in MCHUB_TRUSTED_PROXIES "
        "(the trusted_proxies setting; default: loopback only)."
    )


def local_user() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser() or "local user"
    except (KeyError, OSError):
        return "local user"


def identify(
    auth: AuthConfig, headers: Headers, cookies: Mapping[str, str], peer: str | None = None
) -> Identity | None:
    """Who is calling, or None when the request carries no acceptable credentials. `peer` is the
    connecting address; IdentityRefused when it sends an identity header it may not send. The
    local user and the shared token's holder are admins."""
    if auth.proxy_header:
        user = proxy_user(auth.proxy_header, auth.networks, headers, peer)
        if user:
            return proxy_identity(user, auth.attributes, headers)
    if auth.tokens:
        holder = bearer_holder(auth, headers)
        if holder is None:
            raw = cookies.get(SESSION_COOKIE)
            holder = auth.session_user(raw) if raw else None
        return Identity(holder, admin=holder == TOKEN_USER) if holder else None
    if auth.mode == "local":
        return Identity(local_user(), admin=True)
    return None


def bearer_holder(auth: AuthConfig, headers: Headers) -> str | None:
    """Whose `Authorization: Bearer` token the request carries, if any."""
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return auth.token_user(value.strip()) if scheme.lower() == "bearer" and auth.tokens else None


def bearer_used(auth: AuthConfig, headers: Headers) -> bool:
    return bearer_holder(auth, headers) is not None


class AuthMiddleware:
    """Sets `scope["mchub.user"]`, or answers 401 (API) / redirects to the login form (pages).
    In local mode it also refuses Host names other than loopback ones (DNS rebinding); in proxy
    mode, an identity header from anyone but a trusted proxy, or sent twice (proxyauth.py)."""

    def __init__(self, app: ASGIApp, auth: AuthConfig) -> None:
        self.app = app
        self.auth = auth
        self.notes = PeerNotes(auth.proxy_header)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        path: str = scope["path"]
        if self.auth.mode == "local" and not _local_host(headers.get("host", "")):
            await PlainTextResponse("This hub only answers on localhost.", status_code=421)(
                scope, receive, send
            )
            return
        peer = peer_of(scope)
        if self.auth.trusts(peer):
            forwarded_scheme(scope, headers)
        try:
            who = identify(self.auth, headers, _cookies(headers), peer)
        except IdentityRefused as exc:
            self.notes.note(peer, exc)
            await refusal(path, exc)(scope, receive, send)
            return
        user = who.user if who else None
        scope[IDENTITY] = who
        scope["mchub.user"] = user
        scope["mchub.bearer"] = bearer_used(self.auth, headers)
        if user is None and not path.startswith(PUBLIC_PREFIXES):
            await self._refuse(path, scope)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refuse(self, path: str, scope: Scope) -> Response:
        if path.startswith("/api/"):
            if self.auth.mode == "proxy" and not self.auth.tokens:
                detail = f"no identity: the reverse proxy must set {self.auth.proxy_header}"
            else:
                detail = "log in first, or send Authorization: Bearer <MCHUB_TOKEN>"
            return JSONResponse({"error": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if self.auth.mode == "proxy" and not self.auth.tokens:
            return PlainTextResponse(
                f"No identity: this hub expects the reverse proxy to set {self.auth.proxy_header}.",
                status_code=401,
            )
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def session_cookie_of(headers: Headers) -> str | None:
    """The session cookie the middleware reads (the first one, when a request carries several)."""
    return _cookies(headers).get(SESSION_COOKIE)


def _local_host(host: str) -> bool:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return name.lower() in LOCAL_HOSTS or name.lower().endswith(".localhost")


def _cookies(headers: Headers) -> dict[str, str]:
    out: dict[str, str] = {}
    for chunk in headers.get("cookie", "").split(";"):
        key, sep, value = chunk.strip().partition("=")
        if sep and key not in out:
            out[key] = value
    return out


def safe_next(target: str | None) -> str:
    """Where to go after login: only a local path, never another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
