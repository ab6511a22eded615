"""Who is asking: the web view's access rules. Local only (127.0.0.1, no login) by default; a shared
token (login form + signed cookie, or `Authorization: Bearer`) or a trusted reverse-proxy identity
header when exposed. An ASGI middleware puts the caller's name in `scope["mchub.user"]`."""

from __future__ import annotations

import getpass
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from reconciler.model.atomic import write_atomic

log = logging.getLogger("mchub.webview")

SESSION_COOKIE = "mchub_session"
SESSION_MAX_AGE = 7 * 24 * 3600
TOKEN_USER = "mchub-user"
KEY_FILE = ".webview-secret-key"
# Paths anyone may fetch: the health check, the login form and the static assets.
PUBLIC_PREFIXES = ("/healthz", "/login", "/static/")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]", "::1")

Mode = Literal["local", "token", "proxy"]


class AccessError(ValueError):
    """Access settings that cannot be used; the message says what to change."""


class BindRefused(AccessError):
    """Binding to a reachable address without any access control."""


@dataclass(frozen=True)
class AuthConfig:
    """Access settings. Neither token nor proxy header: local mode (loopback, no login)."""

    token: str | None = None
    proxy_header: str | None = None
    secret_key: str = ""

    def __post_init__(self) -> None:
        if not self.secret_key:
            object.__setattr__(self, "secret_key", secrets.token_urlsafe(32))

    @property
    def mode(self) -> Mode:
        if self.proxy_header:
            return "proxy"
        return "token" if self.token else "local"

    @classmethod
    def from_env(
        cls, clusters_dir: Path | None = None, environ: Mapping[str, str] | None = None
    ) -> AuthConfig:
        """MCHUB_TOKEN, MCHUB_PROXY_USER_HEADER, MCHUB_SECRET_KEY. Without a secret key, one is
        generated and kept in `<clusters_dir>/.webview-secret-key` (0600) so logins survive restarts."""
        env = os.environ if environ is None else environ
        token = env.get("MCHUB_TOKEN") or None
        if token is not None and len(token) < 16:
            raise AccessError("MCHUB_TOKEN must be at least 16 characters (e.g. `openssl rand -hex 16`)")
        key = env.get("MCHUB_SECRET_KEY") or (_kept_key(clusters_dir) if clusters_dir else "")
        return cls(token=token, proxy_header=env.get("MCHUB_PROXY_USER_HEADER") or None, secret_key=key)

    def serializer(self) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.secret_key, salt="mchub-session")

    def session_cookie(self, user: str) -> str:
        return self.serializer().dumps({"u": user, "t": self.token_tag()})

    def token_tag(self) -> str:
        """A fingerprint of the token in each session: changing MCHUB_TOKEN logs everyone out."""
        return hashlib.sha256(f"mchub-session:{self.token}".encode()).hexdigest()[:16]

    def token_ok(self, candidate: str) -> bool:
        return self.token is not None and hmac.compare_digest(candidate.encode(), self.token.encode())


def _kept_key(clusters_dir: Path) -> str:
    path = clusters_dir / KEY_FILE
    try:
        key = path.read_text().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
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
    """Refuse to listen on a reachable address when nothing asks who is calling."""
    if is_loopback(host) or auth.mode != "local":
        return
    raise BindRefused(
        f"refusing to bind the web view to {host}: it would let anyone who can reach this address "
        "create and destroy clusters. Either bind to 127.0.0.1 (the default) and reach it through an "
        "SSH tunnel, or pick an access method: set MCHUB_TOKEN to a shared secret of 16+ characters "
        "(login form and `Authorization: Bearer` for the API), or run behind a reverse proxy that "
        "authenticates users and set MCHUB_PROXY_USER_HEADER to the header carrying their identity "
        "(e.g. X-Remote-User)."
    )


def local_user() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser() or "local user"
    except (KeyError, OSError):
        return "local user"


def identify(auth: AuthConfig, headers: Headers, cookies: Mapping[str, str]) -> str | None:
    """The caller's name, or None when the request carries no acceptable credentials."""
    if auth.proxy_header:
        user = headers.get(auth.proxy_header, "").strip()
        if user:
            return user[:200]
    if auth.token:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and auth.token_ok(value.strip()):
            return TOKEN_USER
        raw = cookies.get(SESSION_COOKIE)
        if raw:
            try:
                data = auth.serializer().loads(raw, max_age=SESSION_MAX_AGE)
            except BadSignature:
                return None
            if (
                isinstance(data, dict)
                and isinstance(data.get("u"), str)
                and data.get("t") == auth.token_tag()
            ):
                return str(data["u"])
        return None
    if auth.mode == "local":
        return local_user()
    return None


def bearer_used(auth: AuthConfig, headers: Headers) -> bool:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and auth.token_ok(value.strip())


class AuthMiddleware:
    """Sets `scope["mchub.user"]`, or answers 401 (API) / redirects to the login form (pages).
    In local mode it also refuses Host names other than loopback ones (DNS rebinding)."""

    def __init__(self, app: ASGIApp, auth: AuthConfig) -> None:
        self.app = app
        self.auth = auth

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
        user = identify(self.auth, headers, _cookies(headers))
        scope["mchub.user"] = user
        scope["mchub.bearer"] = bearer_used(self.auth, headers)
        if user is None and not path.startswith(PUBLIC_PREFIXES):
            await self._refuse(path, scope)(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refuse(self, path: str, scope: Scope) -> Response:
        if path.startswith("/api/"):
            if self.auth.mode == "proxy" and not self.auth.token:
                detail = f"no identity: the reverse proxy must set {self.auth.proxy_header}"
            else:
                detail = "log in first, or send Authorization: Bearer <MCHUB_TOKEN>"
            return JSONResponse({"error": detail}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        if self.auth.mode == "proxy" and not self.auth.token:
            return PlainTextResponse(
                f"No identity: this hub expects the reverse proxy to set {self.auth.proxy_header}.",
                status_code=401,
            )
        query = scope.get("query_string", b"").decode("latin-1")
        target = path + (f"?{query}" if query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


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
