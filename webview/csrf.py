"""Cross-site request forgery protection, a signed double-submit token: the browser holds a random
`mchub_csrf` cookie; forms carry (and scripts send as `X-CSRF-Token`) an HMAC of it under the hub's
secret key. Bearer-token API calls need no token: a browser never adds that header by itself. The
git webhook (`POST /hooks/git`, hooks.py) needs none either: it proves itself with a shared secret."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "mchub_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"
JSON_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml")


def _sign(secret: str, nonce: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{nonce}".encode(), hashlib.sha256).hexdigest()


def nonce_of(request: Request) -> str:
    """This browser's nonce: from its cookie, or a fresh one (the response then sets the cookie)."""
    nonce = request.cookies.get(COOKIE, "")
    if len(nonce) < 20:
        nonce = request.scope.setdefault("mchub.csrf_new", secrets.token_urlsafe(24))
    return nonce


def token_for(request: Request, secret: str) -> str:
    return _sign(secret, nonce_of(request))


def set_cookie_if_new(request: Request, response: Response) -> None:
    nonce = request.scope.get("mchub.csrf_new")
    if nonce:
        response.set_cookie(
            COOKIE, nonce, httponly=True, samesite="strict", path="/", secure=request.url.scheme == "https"
        )


def valid(request: Request, secret: str, submitted: str | None) -> bool:
    nonce = request.cookies.get(COOKIE, "")
    if len(nonce) < 20 or not submitted:
        return False
    return hmac.compare_digest(_sign(secret, nonce), submitted)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from another site."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True
    netloc = origin.partition("://")[2]  # the scheme may differ behind a TLS-terminating proxy
    hosts = {request.headers.get("host", ""), request.headers.get("x-forwarded-host", "")}
    return origin != "null" and netloc in hosts - {""}


def api_write_allowed(request: Request, secret: str) -> bool:
    """An API call that changes something must prove it is not a forged cross-site request:
    a bearer token, a valid X-CSRF-Token, or a same-origin request with a JSON/YAML body (a type
    that browsers only send cross-site after a CORS preflight, which this hub never grants)."""
    if request.scope.get("mchub.bearer"):
        return True
    if not same_origin(request):
        return False
    if valid(request, secret, request.headers.get(HEADER)):
        return True
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    return ctype in JSON_TYPES
