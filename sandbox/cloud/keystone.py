"""Keystone v3 for the sandbox: version documents, tokens from a password or an application
credential, the service catalog, token validation. Tokens are signed, so they survive restarts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record, host_url, iso, read_json

TOKEN_LIFETIME = 12 * 3600.0
UNAUTHORIZED = "The request you have made requires authentication."
# The sandbox's user is also the cloud's admin (flavors, image actions, as an operator works);
# its application credential carries only the member roles, like MC Hub's users' credentials.
ROLES = {"password": ("admin", "member", "reader", "load-balancer_member"),
         "application_credential": ("member", "reader", "load-balancer_member")}

# (type, name, path under the host; "{project_id}" filled in)
SERVICES = (
    ("identity", "keystone", "/identity"),
    ("compute", "nova", "/compute/v2.1"),
    ("image", "glance", "/image"),
    ("network", "neutron", "/network"),
    ("block-storage", "cinder", "/volume/v3/{project_id}"),
    ("volumev3", "cinderv3", "/volume/v3/{project_id}"),
)


def issue_token(store: Store, method: str, scoped: bool = True) -> str:
    """A token: base64 JSON claims plus an HMAC under the data dir's token key."""
    claims = {"m": method, "s": scoped, "exp": time.time() + TOKEN_LIFETIME, "iat": time.time(),
              "n": secrets.token_hex(4)}
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"sbx{body}.{_sign(store, body)}"


def verify_token(store: Store, token: str | None) -> Record | None:
    """The token's claims, or None when it is missing, forged or expired."""
    if not token or not token.startswith("sbx") or "." not in token:
        return None
    body, _, signature = token[3:].partition(".")
    if not hmac.compare_digest(signature, _sign(store, body)):
        return None
    try:
        claims: Record = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except ValueError:
        return None
    return claims if float(claims.get("exp", 0)) > time.time() else None


def is_admin(store: Store, request: Request) -> bool:
    """Whether the request's token carries the admin role (policy checks that need an operator)."""
    claims = verify_token(store, request.headers.get("x-auth-token"))
    return claims is not None and "admin" in ROLES.get(str(claims.get("m")), ())


def _sign(store: Store, body: str) -> str:
    key = store.credentials.token_key.encode()
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()[:43]


def catalog(store: Store, request: Request) -> list[Record]:
    region = store.identity["region"]
    base = host_url(request)
    entries = []
    for kind, name, path in SERVICES:
        url = base + path.format(project_id=store.project_id)
        endpoints = [{"id": uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{iface}").hex, "interface": iface,
                      "region": region, "region_id": region, "url": url}
                     for iface in ("public", "internal", "admin")]
        entries.append({"id": uuid.uuid5(uuid.NAMESPACE_URL, kind).hex, "type": kind, "name": name,
                        "endpoints": endpoints})
    return entries


def token_body(store: Store, request: Request, claims: Record, scoped: bool = True) -> Record:
    ident, creds = store.identity, store.credentials
    domain = {"id": ident["domain_id"], "name": ident["domain_name"]}
    token: Record = {
        "methods": [claims["m"]], "expires_at": iso(claims["exp"], micro=True) + "Z",
        "issued_at": iso(claims["iat"], micro=True) + "Z", "audit_ids": [claims["n"]],
        "user": {"id": ident["user_id"], "name": ident["user_name"], "domain": domain,
                 "password_expires_at": None},
    }
    if scoped:
        token.update({
            "project": {"id": ident["project_id"], "name": ident["project_name"], "domain": domain},
            "is_domain": False,
            "roles": [{"id": uuid.uuid5(uuid.NAMESPACE_URL, role).hex, "name": role}
                      for role in ROLES[claims["m"]]],
            "catalog": catalog(store, request),
        })
    if claims["m"] == "application_credential":
        token["application_credential"] = {"id": creds.application_credential_id,
                                           "name": "mchub-sandbox", "restricted": True}
    return token


def _matches_domain(ref: Any, store: Store) -> bool:
    if not isinstance(ref, dict):
        return False
    ident = store.identity
    by_name = str(ref.get("name", "")).lower() == ident["domain_name"].lower()
    return bool(ref.get("id") == ident["domain_id"] or by_name)


def _check_password(store: Store, auth: Record) -> None:
    user = auth.get("password", {}).get("user", {}) if isinstance(auth.get("password"), dict) else {}
    ident, creds = store.identity, store.credentials
    if user.get("id") == ident["user_id"]:
        known = True
    else:
        known = user.get("name") == creds.username and _matches_domain(user.get("domain"), store)
    if not (known and hmac.compare_digest(str(user.get("password", "")), creds.password)):
        raise CloudError(401, UNAUTHORIZED)


def _check_scope(store: Store, scope: Any) -> bool:
    """True when the request asks for a project-scoped token for our project."""
    if scope is None:
        return False
    project = scope.get("project") if isinstance(scope, dict) else None
    if not isinstance(project, dict):
        raise CloudError(401, UNAUTHORIZED)
    ident = store.identity
    by_id = project.get("id") == ident["project_id"]
    by_name = project.get("name") == ident["project_name"] and _matches_domain(project.get("domain"), store)
    if not (by_id or by_name):
        wanted = project.get("id") or project.get("name")
        raise CloudError(401, f"User {ident['user_id']} has no access to project {wanted}")
    return True


def _check_app_credential(store: Store, auth: Record) -> None:
    cred = auth.get("application_credential")
    creds = store.credentials
    if not isinstance(cred, dict):
        raise CloudError(400, "Expecting to find application_credential in identity.")
    ok_id = cred.get("id") == creds.application_credential_id or cred.get("name") == "mchub-sandbox"
    if not (ok_id and hmac.compare_digest(str(cred.get("secret", "")), creds.application_credential_secret)):
        raise CloudError(401, UNAUTHORIZED)


class Keystone:
    """Routes under /identity."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def routes(self) -> list[BaseRoute]:
        p = "/identity"
        return [
            Route(p, self.versions, methods=["GET"]),
            Route(p + "/", self.versions, methods=["GET"]),
            Route(p + "/v3", self.version, methods=["GET"]),
            Route(p + "/v3/", self.version, methods=["GET"]),
            Route(p + "/v3/auth/tokens", self.tokens, methods=["GET", "HEAD", "POST", "DELETE"]),
            Route(p + "/v3/auth/catalog", self.auth_catalog, methods=["GET"]),
            Route(p + "/v3/auth/projects", self.auth_projects, methods=["GET"]),
            Route(p + "/v3/projects", self.auth_projects, methods=["GET"]),
            Route(p + "/v3/users/{user_id}/projects", self.auth_projects, methods=["GET"]),
            Route(p + "/v3/projects/{project_id}", self.project, methods=["GET"]),
        ]

    def _version(self, request: Request) -> Record:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": host_url(request) + "/identity/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    async def versions(self, request: Request) -> Response:
        return JSONResponse({"versions": {"values": [self._version(request)]}}, 300)

    async def version(self, request: Request) -> Response:
        return JSONResponse({"version": self._version(request)})

    async def tokens(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._authenticate(request)
        if verify_token(self.store, request.headers.get("x-auth-token")) is None:
            raise CloudError(401, UNAUTHORIZED)
        subject = request.headers.get("x-subject-token")
        claims = verify_token(self.store, subject)
        if claims is None:
            raise CloudError(404, f"Could not find token: {subject}.")
        if request.method == "DELETE":
            return Response(status_code=204)
        if request.method == "HEAD":
            return Response(status_code=200, headers={"X-Subject-Token": str(subject)})
        body = token_body(self.store, request, claims, bool(claims.get("s", True)))
        return JSONResponse({"token": body}, headers={"X-Subject-Token": str(subject)})

    async def _authenticate(self, request: Request) -> Response:
        auth = await read_json(request, "auth")
        identity = auth.get("identity")
        if not isinstance(identity, dict) or not isinstance(identity.get("methods"), list):
            raise CloudError(400, "Expecting to find identity in auth. The server could not comply with the "
                                  "request since it is either malformed or otherwise incorrect.")
        methods = identity["methods"]
        if "application_credential" in methods:
            _check_app_credential(self.store, identity)
            method, scoped = "application_credential", True
        elif "password" in methods:
            _check_password(self.store, identity)
            method, scoped = "password", _check_scope(self.store, auth.get("scope"))
        else:
            raise CloudError(401, UNAUTHORIZED)
        token = issue_token(self.store, method, scoped)
        claims = verify_token(self.store, token)
        assert claims is not None
        body = token_body(self.store, request, claims, scoped)
        return JSONResponse({"token": body}, 201, headers={"X-Subject-Token": token})

    async def auth_catalog(self, request: Request) -> Response:
        return JSONResponse({"catalog": catalog(self.store, request), "links": {}})

    def _project(self) -> Record:
        ident = self.store.identity
        return {"id": ident["project_id"], "name": ident["project_name"], "domain_id": ident["domain_id"],
                "enabled": True, "is_domain": False, "parent_id": ident["domain_id"], "description": "",
                "tags": [], "options": {}}

    async def auth_projects(self, request: Request) -> Response:
        """The one project the user can reach (also answers /v3/projects?name=... lookups)."""
        projects = [self._project()]
        name = request.query_params.get("name")
        projects = [p for p in projects if name in (None, p["name"])]
        return JSONResponse({"projects": projects, "links": {"self": None, "next": None, "previous": None}})

    async def project(self, request: Request) -> Response:
        wanted = request.path_params["project_id"]
        if wanted != self.store.project_id:
            raise CloudError(404, f"Could not find project: {wanted}.")
        return JSONResponse({"project": self._project()})
