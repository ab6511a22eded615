"""`POST /hooks/git`: the specs' git server says "something was pushed", and the hub pulls now rather
than at its next interval. A machine's request: no login session and no CSRF token, but the shared
secret (settings.hook_secret), in the form the git server sends it: GitHub's and Gitea's
`X-Hub-Signature-256: sha256=<HMAC-SHA256 of the body>`, GitLab's `X-Gitlab-Token`, or
`Authorization: Bearer <secret>`, each compared in constant time. The body is only signed, never
read: whatever was pushed, the pull finds out. Without a secret (or without a remote) the route
answers 404, as if it did not exist."""

from __future__ import annotations

import hashlib
import hmac
import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from reconciler.gitsync.remote import SpecsRemote

log = logging.getLogger("mchub.webview")
MAX_HOOK_BODY = 1 << 20  # 1 MiB: a push event is a few KiB (the app's own limit may be lower)


def signed(secret: str, body: bytes, signature: str) -> bool:
    """Whether `signature` is GitHub's `sha256=<hex>` of `body` under `secret`."""
    scheme, _, digest = signature.strip().partition("=")
    if scheme.lower() != "sha256" or not digest:
        return False
    wanted = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(wanted, digest.strip().lower())


def authentic(request: Request, secret: str, body: bytes) -> bool:
    """Whether the request proves it knows `secret`, in any of the forms git servers send."""
    headers = request.headers
    if "x-hub-signature-256" in headers:
        return signed(secret, body, headers["x-hub-signature-256"])
    given = headers.get("x-gitlab-token")
    if given is None:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        given = value.strip() if scheme.lower() == "bearer" else None
    return given is not None and hmac.compare_digest(given.encode(), secret.encode())


class Hooks:
    """The webhook's endpoint, over the hub's secret and its clone (None: no remote here)."""

    def __init__(self, secret: str | None, remote: SpecsRemote | None) -> None:
        self.secret, self.remote = secret, remote

    async def git(self, request: Request) -> Response:
        if not self.secret or self.remote is None:
            raise HTTPException(404, "Not Found")
        if int(request.headers.get("content-length") or 0) > MAX_HOOK_BODY:
            return PlainTextResponse("request body too large\n", status_code=413)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_HOOK_BODY:
                return PlainTextResponse("request body too large\n", status_code=413)
        if not authentic(request, self.secret, body):
            log.warning("git webhook refused: no valid secret or signature (from %s)", _peer(request))
            return PlainTextResponse("bad or missing webhook secret\n", status_code=401)
        self.remote.poke()
        return PlainTextResponse("pulling\n", status_code=202)


def _peer(request: Request) -> str:
    return request.client.host if request.client else "?"
