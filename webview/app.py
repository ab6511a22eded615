"""The web view, declared: `create_app(settings, catalog, auth, ...)` returns one Starlette app with
its routes, middleware (security headers, access), exception handlers and a body size limit. It reads
specs, status and the catalog, writes nothing but specs (and approvals, retry requests, and a guest
password a person types, to the cluster's secret store), and asks the hub for
previews through the `preview` function it is given, never running Terraform itself."""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reconciler.gitsync.remote import SpecsRemote
from reconciler.model.settings import Settings
from reconciler.model.spec import SpecError
from reconciler.model.specfiles import SpecExists, VersionMismatch
from webview import authz, forms
from webview.actions import Actions
from webview.api import Api
from webview.auth import AuthConfig, AuthMiddleware
from webview.context import HERE, Web, make_templates, utc_now
from webview.formpages import FORM_STATE, FormPages
from webview.hooks import Hooks
from webview.login import Login
from webview.pages import Pages
from webview.preview import Previews
from webview.state import CatalogLike, Files, MetricsLike, Previewer

log = logging.getLogger("mchub.webview")
MAX_BODY = 256 * 1024
# A write (spec, approval) the disk had no room for. The writers write a temp file and rename it,
# removing the temp file on failure, so nothing was written.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
DISK_FULL_MESSAGE = (
    "the hub's disk is full: nothing was written; free space on the hub's disk (or raise its quota), "
    "then try again"
)
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Adds a strict Content-Security-Policy (no inline script or style) and friends to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class Errors:
    """The exception handlers: JSON for `/api/`, pages for people (the form again, for its saves)."""

    def __init__(self, web: Web, form: FormPages) -> None:
        self.web, self.form = web, form

    @staticmethod
    def _form(request: Request) -> forms.FormView | None:
        view = request.scope.get(FORM_STATE)
        return view if isinstance(view, forms.FormView) and not request.url.path.startswith("/api/") else None

    async def spec_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SpecError)
        view = self._form(request)
        if view is None:
            return JSONResponse(
                {"error": "the spec is not valid", "errors": [e.model_dump() for e in exc.errors]},
                status_code=422,
            )
        return await self.form.invalid(request, view, exc.errors)

    async def version_mismatch(self, request: Request, exc: Exception) -> Response:
        """A write conditional on a version the file is no longer at: nothing was written."""
        assert isinstance(exc, VersionMismatch)
        view = self._form(request)
        if view is not None:
            return await self.form.stale(request, view)
        current = exc.current
        error = (
            f"the spec changed since you read it: it is now at version {current}; read it again, "
            "redo your change on it and send that with If-Match"
            if current
            else "the spec file no longer exists"
        )
        headers = {"ETag": f'"{current}"'} if current else None
        return JSONResponse({"error": error, "version": current}, status_code=412, headers=headers)

    async def spec_exists(self, request: Request, exc: Exception) -> Response:
        """A create that found the name taken (perhaps by a create a moment earlier): a 409."""
        assert isinstance(exc, SpecExists)
        fallback = f'a cluster named "{exc.name}" already exists; choose another name'
        message = self.web.taken(exc.name) or fallback
        view = self._form(request)
        if view is None:
            return JSONResponse({"error": message}, status_code=409)
        return await self.form.taken(request, view, message)

    async def disk_full(self, request: Request, exc: Exception) -> Response:
        """A 507 for a write the disk (or a quota) had no room for; any other OSError stays a 500."""
        assert isinstance(exc, OSError)
        if isinstance(exc, IsADirectoryError | NotADirectoryError):
            return self._in_the_way(request, exc)
        if exc.errno not in DISK_FULL:
            raise exc
        log.error("a write for %s %s failed: %s", request.method, request.url.path, exc)
        view = self._form(request)
        if view is not None:
            return await self.form.disk_full(request, view, DISK_FULL_MESSAGE)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": DISK_FULL_MESSAGE}, status_code=507)
        context = {"code": 507, "detail": DISK_FULL_MESSAGE}
        return self.web.render(request, "error.html", context, status_code=507)

    def _in_the_way(self, request: Request, exc: OSError) -> Response:
        """A folder (or a file) where the web view writes a file of its own (an approval, a retry
        request): a 409 naming it, for a person to remove; nothing was written."""
        target = Path(str(exc.filename2 or exc.filename or "?"))
        root = self.web.settings.specs_dir
        shown = f"specs/{target.relative_to(root)}" if target.is_relative_to(root) else target.name
        detail = f"{shown} is in the way (a folder where the hub writes a file): remove it, then try again"
        log.error("a write for %s %s failed: %s", request.method, request.url.path, exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail}, status_code=409)
        return self.web.render(request, "error.html", {"code": 409, "detail": detail}, status_code=409)

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        headers = dict(exc.headers or {})
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=headers)
        if request.url.path.startswith("/api/") or request.url.path.startswith("/partials/"):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code, headers=headers)
        return self.web.render(
            request,
            "error.html",
            {"code": exc.status_code, "detail": exc.detail},
            status_code=exc.status_code,
            headers=headers,
        )


def create_app(
    settings: Settings,
    catalog: CatalogLike,
    auth: AuthConfig | None = None,
    metrics: MetricsLike | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    preview: Previewer | None = None,
    liveness: Callable[[], bool] | None = None,
    specs_remote: SpecsRemote | None = None,
) -> Starlette:
    """The web view over `settings.specs_dir` and `settings.clusters_dir`. Without `auth`: local
    mode (no login; serve it on 127.0.0.1 only). Without `metrics`: /metrics counts phases from
    the status files. `clock` (UTC now) dates expiry; tests pass their own. `preview` plans a
    proposed spec (the Previewer contract, state.py); without it the form and the API say that
    previews are not available here. `liveness` says whether the hub's reconcile loop still turns
    (`mchub serve` passes its heartbeat): /healthz answers 503 when it does not. `specs_remote`: the
    hub's clone of the specs' git remote (reconciler.gitsync), which the writes push to and the
    webhook pokes; None: specs_dir is the hub's own folder."""
    auth = auth or AuthConfig()
    templates = make_templates()
    templates.env.globals["static_version"] = _static_version()
    files = Files(settings.specs_dir, settings.clusters_dir, settings.limits)
    web = Web(settings, catalog, auth, files, templates, metrics, clock or utc_now, preview)
    pages, form, api, login = Pages(web), FormPages(web), Api(web), Login(web)
    previews, errors = Previews(web, api, form), Errors(web, form)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        settings.specs_dir.mkdir(parents=True, exist_ok=True)
        log.info(
            "web view: specs in %s, clusters in %s, access: %s",
            settings.specs_dir,
            settings.clusters_dir,
            auth.mode,
        )
        yield {}

    hooks = Hooks(settings.hook_secret, specs_remote)
    routes = _routes(pages, form, api, login, previews, Actions(web, pages), hooks)
    app = Starlette(
        # every route checked against its rule in authz.RULES before its endpoint runs
        routes=authz.protect(routes, settings.rules, files, settings.limits),
        middleware=[Middleware(SecurityHeaders), Middleware(AuthMiddleware, auth=auth)],
        exception_handlers={
            SpecError: errors.spec_error,
            VersionMismatch: errors.version_mismatch,
            SpecExists: errors.spec_exists,
            HTTPException: errors.http_error,
            OSError: errors.disk_full,
        },
        lifespan=lifespan,
        max_body_size=MAX_BODY,
    )
    app.state.liveness = liveness  # read by /healthz (api.py); None: a web view without a loop
    app.state.rules = settings.rules  # admins and projects, read by authz
    app.state.files = files  # `mchub serve` tells it of each status the hub writes (Files.note)
    app.state.specs_remote = specs_remote  # the writes push through it (specstore); None: no remote
    return app


def _routes(
    pages: Pages, form: FormPages, api: Api, login: Login, previews: Previews, actions: Actions, hooks: Hooks
) -> list[BaseRoute]:
    return [
        Route("/", pages.dashboard, name="dashboard"),
        Route("/healthz", api.healthz),
        Route("/login", login.login_form, methods=["GET"]),
        Route("/login", login.login, methods=["POST"]),
        Route("/logout", login.logout, methods=["POST"]),
        Route("/clusters/new", form.new_form, methods=["GET"]),
        Route("/clusters/new", form.create, methods=["POST"]),
        Route("/clusters/new/preview", previews.form_preview, methods=["POST"]),
        Route("/clusters/{name}", pages.cluster_page, name="cluster"),
        Route("/clusters/{name}/edit", form.edit_form, methods=["GET"]),
        Route("/clusters/{name}/edit", form.update, methods=["POST"]),
        Route("/clusters/{name}/edit/preview", previews.form_preview, methods=["POST"]),
        Route("/clusters/{name}/destroy", actions.destroy, methods=["POST"]),
        Route("/clusters/{name}/approve", actions.approve, methods=["POST"]),
        Route("/clusters/{name}/retry", actions.retry, methods=["POST"]),
        Route("/clusters/{name}/forget", actions.forget_form, methods=["GET"]),
        Route("/clusters/{name}/forget", actions.forget, methods=["POST"]),
        Route("/clusters/{name}/password", pages.password, methods=["POST"]),
        Route("/clusters/{name}/runs/{run_id}/log", pages.run_log),
        Route("/partials/dashboard", pages.dashboard_partial),
        Route("/partials/clusters/{name}", pages.cluster_partial),
        Route("/api/clusters", api.list_clusters, methods=["GET"]),
        Route("/api/clusters", api.create_cluster, methods=["POST"]),
        Route("/api/clusters/{name}", api.get_cluster, methods=["GET"]),
        Route("/api/clusters/{name}", api.put_cluster, methods=["PUT"]),
        Route("/api/clusters/{name}", api.delete_cluster, methods=["DELETE"]),
        Route("/api/clusters/{name}/status", api.status),
        Route("/api/clusters/{name}/logs", api.logs),
        Route("/api/clusters/{name}/approve", api.approve, methods=["POST"]),
        Route("/api/clusters/{name}/retry", api.retry, methods=["POST"]),
        Route("/api/clusters/{name}/forget", api.forget, methods=["POST"]),
        Route("/api/clusters/{name}/preview", previews.api_preview, methods=["POST"]),
        Route("/api/resources", api.resources),
        Route("/api/schema", api.schema),
        Route("/api/names/{name}", api.name),
        Route("/metrics", api.metrics),
        Route("/hooks/git", hooks.git, methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]


def _static_version() -> str:
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted((HERE / "static").glob("*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]
