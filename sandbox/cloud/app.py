"""The sandbox cloud as one Starlette app: every service's routes, a guard in front of them
(latency, injected 503s, token check) and the admin API under /_sandbox/."""

from __future__ import annotations

import asyncio
import base64
import hmac
import random

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.cloud import quota, scenarios
from sandbox.cloud.cinder import Cinder
from sandbox.cloud.faults import FaultError, Faults
from sandbox.cloud.glance import Glance
from sandbox.cloud.keystone import UNAUTHORIZED, Keystone, verify_token
from sandbox.cloud.neutron import Neutron
from sandbox.cloud.nova import Nova
from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, error_response, host_url, read_json

PREFIXES = {"/identity": "identity", "/compute": "compute", "/image": "image", "/network": "network",
            "/volume": "volume", "/_sandbox": "admin"}
# Version documents and the token request answer without a token, as in OpenStack.
PUBLIC = {"/identity", "/identity/", "/identity/v3", "/identity/v3/", "/identity/v3/auth/tokens",
          "/compute", "/compute/", "/compute/v2.1", "/compute/v2.1/", "/image", "/image/", "/image/versions",
          "/network", "/network/", "/volume", "/volume/", "/volume/v3", "/volume/v3/"}
INJECTED = "The server is currently unavailable. Please try again at a later time. (sandbox fault injection)"


def service_of(path: str) -> str | None:
    for prefix, service in PREFIXES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


class Guard:
    """ASGI middleware in front of the cloud services: latency, error rate, then the token."""

    def __init__(self, app: ASGIApp, store: Store, faults: Faults) -> None:
        self.app, self.store, self.faults = app, store, faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = service_of(scope.get("path", "")) if scope["type"] == "http" else None
        if service is None or service == "admin":
            await self.app(scope, receive, send)
            return
        if self.faults.latency > 0:
            await asyncio.sleep(self.faults.latency)
        rate = self.faults.error_rate.get(service, 0.0)
        if rate > 0 and random.random() < rate:
            accept = Request(scope).headers.get("accept", "")
            injected = error_response(service, CloudError(503, INJECTED, "ServiceUnavailable"), accept=accept)
            await injected(scope, receive, send)
            return
        if scope["path"] not in PUBLIC:
            request = Request(scope)
            claims = verify_token(self.store, request.headers.get("x-auth-token"))
            if claims is None or (service != "identity" and not claims.get("s", True)):  # unscoped
                challenge = {"WWW-Authenticate": f'Keystone uri="{host_url(request)}/identity"'}
                await error_response(service, CloudError(401, UNAUTHORIZED), challenge)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Admin:
    """/_sandbox/: faults, reset and a state summary; a token or the sandbox password (Basic auth)."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store, self.faults = store, faults

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_sandbox/faults", self.fault_settings, methods=["GET", "PUT"]),
            Route("/_sandbox/reset", self.reset, methods=["POST"]),
            Route("/_sandbox/state", self.state, methods=["GET"]),
        ]

    def _authorize(self, request: Request) -> None:
        if verify_token(self.store, request.headers.get("x-auth-token")) is not None:
            return
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                user, _, password = base64.b64decode(encoded).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                user, password = "", ""
            creds = self.store.credentials
            if user == creds.username and hmac.compare_digest(password, creds.password):
                return
        raise CloudError(401, UNAUTHORIZED)

    async def fault_settings(self, request: Request) -> Response:
        self._authorize(request)
        if request.method == "PUT":
            changes = await read_json(request)
            try:
                self.faults.update(changes)
            except FaultError as exc:
                error = {"code": 422, "message": str(exc), "title": "Unprocessable Entity"}
                return JSONResponse({"error": error}, 422)
        return JSONResponse(self.faults.to_dict())

    async def reset(self, request: Request) -> Response:
        """Start the cloud afresh from its seed; `{"scenarios": [...]}` changes the seed first."""
        self._authorize(request)
        body = await read_json(request)
        try:
            chosen = scenarios.names(body.get("scenarios"))
            self.store.reset(chosen)
        except ValueError as exc:
            error = {"code": 422, "message": f"scenarios: {exc}", "title": "Unprocessable Entity"}
            return JSONResponse({"error": error}, 422)
        return JSONResponse(self.store.summary())

    async def state(self, request: Request) -> Response:
        self._authorize(request)
        with self.store.lock:
            summary = self.store.summary()
            summary["quotas"] = quota.view(self.store, self.faults)
        summary["faults"] = self.faults.to_dict()
        return JSONResponse(summary)


def _accept(request: Request) -> str:
    return request.headers.get("accept", "")


async def on_cloud_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CloudError)
    return error_response(service_of(request.url.path) or "identity", exc, accept=_accept(request))


async def on_http_error(request: Request, exc: Exception) -> Response:
    """Unknown paths and methods answer in the service's own error format."""
    assert isinstance(exc, HTTPException)
    message = "The resource could not be found." if exc.status_code == 404 else str(exc.detail)
    return error_response(service_of(request.url.path) or "identity", CloudError(exc.status_code, message),
                          accept=_accept(request))


async def on_crash(request: Request, exc: Exception) -> Response:
    """A bug in the sandbox still answers in the service's format (and uvicorn logs the traceback)."""
    message = f"Unexpected error in the sandbox cloud: {type(exc).__name__}: {exc}"
    return error_response(service_of(request.url.path) or "identity", CloudError(500, message),
                          accept=_accept(request))


def create_app(store: Store, faults: Faults) -> Starlette:
    routes: list[BaseRoute] = [
        *Keystone(store).routes(), *Nova(store, faults).routes(), *Glance(store).routes(),
        *Neutron(store, faults).routes(), *Cinder(store, faults).routes(), *Admin(store, faults).routes(),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(Guard, store=store, faults=faults)],
        exception_handlers={CloudError: on_cloud_error, HTTPException: on_http_error, Exception: on_crash},
    )
