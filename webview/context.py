"""What every endpoint needs, passed in once by `create_app`: settings, the catalog, access rules, the
file readers and the templates. Plus the small request helpers pages and API share."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from reconciler.model.expiry import utc_today
from reconciler.model.names import name_taken
from reconciler.model.settings import Settings
from reconciler.model.spec import ClusterSpec
from reconciler.model.specfiles import BadName, checked_name
from webview import authz, csrf, present, specstore
from webview.auth import AuthConfig
from webview.state import CatalogLike, Cluster, Files, MetricsLike, Previewer

log = logging.getLogger("mchub.webview")
HERE = Path(__file__).parent
REFRESH_GAP = 10.0


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_templates() -> Jinja2Templates:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        phase_label=present.phase_label,
        phase_tone=present.phase_tone,
        timestamp=present.timestamp,
        short_time=present.short_time,
    )
    env.globals.update(is_running=present.is_running, is_error=present.is_error, chip_of=present.chip_of)
    return Jinja2Templates(env=env)


@dataclass
class Web:
    settings: Settings
    catalog: CatalogLike
    auth: AuthConfig
    files: Files
    templates: Jinja2Templates
    metrics: MetricsLike | None = None
    clock: Callable[[], dt.datetime] = utc_now
    preview: Previewer | None = None  # the hub's previews; None: "not available here"
    # cloud -> (the change a refresh was asked for, when it was asked)
    refreshed: dict[str, tuple[float, float]] = field(default_factory=dict)

    def user(self, request: Request) -> str:
        return str(request.scope.get("mchub.user") or "local user")

    def taken(self, name: str, request: Request | None = None) -> str | None:
        """Why `name` cannot be given to a new cluster (a spec, or an orphan's kept state), or None.
        For a caller who may not see that cluster, only that it is taken: nothing about it."""
        taken = name_taken(name, self.files.spec(name) is not None, self.files.status(name)[1])
        if taken is not None and request is not None and not self.may_see(request, name):
            return f'the name "{name}" is taken; choose another name'
        return taken

    def project_of(self, cluster: Cluster | None) -> str | None:
        """The project a cluster belongs to (authz.cluster_project)."""
        return authz.cluster_project(cluster, self.settings.limits)

    def may_see(self, request: Request, name: str) -> bool:
        """Whether the caller may see cluster `name` (True for one that does not exist)."""
        if not authz.restricted(request):
            return True
        cluster = self.files.cluster(name)
        return cluster is None or authz.can(request, "see", self.project_of(cluster))

    def visible(self, request: Request, clusters: list[Cluster]) -> list[Cluster]:
        """The clusters the caller may see (every one when nothing is restricted)."""
        if not authz.restricted(request):
            return clusters
        return authz.visible(request, clusters, self.project_of)

    @staticmethod
    def viewer_tag(request: Request) -> str:
        """A short tag of what the caller may see, for the ETags of lists (empty: everything)."""
        mine = authz.my_projects(request)
        if mine is None:
            return ""
        return "-p" + hashlib.sha1(";".join(sorted(mine)).encode(), usedforsecurity=False).hexdigest()[:8]

    async def save(self, request: Request, spec: ClusterSpec, **how: Any) -> specstore.Saved:
        """specstore.save_spec in a thread, as the signed-in person, dated today (the form's and the
        API's one save): a guest password given goes to the cluster's secret store, never the file;
        with specs_remote the commit is pushed; the lists' polls see the save at once."""
        settings = self.settings
        try:
            return await run_in_threadpool(
                lambda: specstore.save_spec(
                    settings.specs_dir,
                    spec,
                    authz.identity(request),
                    today=self.today(),
                    clusters_dir=settings.clusters_dir,
                    limits=settings.limits,
                    remote=request.app.state.specs_remote,
                    **how,
                )  # fmt: skip
            )
        finally:  # not at the next look (state.Files.note)
            self.files.note(spec.cluster_name)

    def today(self) -> dt.date:
        """The server's UTC date, which expiry is counted in (tests pass a clock)."""
        return utc_today(self.clock())

    async def payload(
        self,
        cloud: str | None,
        cluster: str | None = None,
        newer_than: float | None = None,
        wait: bool = False,
    ) -> dict[str, Any]:
        """The catalog's figures. With `newer_than` (when a cluster last changed), figures fetched
        before it are refreshed, once per change (again after REFRESH_GAP s): awaited when `wait`
        (the pages' background fetches), else in a thread for the next look."""
        data = await self._payload(cloud, cluster)
        refresh = getattr(self.catalog, "refresh", None)
        if newer_than is None or not callable(refresh) or data.get("error") or not _older(data, newer_than):
            return data
        key = str(data.get("cloud") or cloud)
        asked_for, asked_at = self.refreshed.get(key, (0.0, -REFRESH_GAP))
        if newer_than <= asked_for and time.monotonic() - asked_at < REFRESH_GAP:
            return data  # already asked for this change (a fetch may be under way)
        self.refreshed[key] = (newer_than, time.monotonic())
        if not wait:
            threading.Thread(
                target=_quietly, args=(refresh, cloud), name="webview-catalog-refresh", daemon=True
            ).start()
            return data
        await run_in_threadpool(_quietly, refresh, cloud)
        return await self._payload(cloud, cluster)

    async def _payload(self, cloud: str | None, cluster: str | None) -> dict[str, Any]:
        """The catalog's figures; a catalog that fails still gives a page (with the error shown)."""
        defaults: dict[str, Any] = {
            "cloud": cloud or self.settings.default_cloud,
            "error": None,
            "stale": False,
            "age_seconds": None,
            "fetched_at": None,
            "quotas": {},
            "flavors": [],
            "images": [],
            "networks": [],
        }
        try:
            data = await run_in_threadpool(self.catalog.payload, cloud, cluster, self.settings.clusters_dir)
            return {**defaults, **{k: v for k, v in data.items() if v is not None or k not in defaults}}
        except Exception as exc:  # the catalog's own errors, or a bug in it: show, do not crash
            if getattr(exc, "kind", None) == "request":
                raise HTTPException(400, str(exc)) from None
            log.warning("catalog failed: %s", exc)
            return {**defaults, "error": str(exc), "stale": True}

    def render(
        self,
        request: Request,
        name: str,
        context: dict[str, Any],
        status_code: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        who = request.scope.get("mchub.identity")
        base = {
            "user": request.scope.get("mchub.user") or "",
            "user_label": getattr(who, "label", "") or request.scope.get("mchub.user") or "",
            # Log out: token sessions end on the hub; behind a proxy, the identity provider's logout
            "can_log_out": self.auth.mode == "token" or bool(self.settings.logout_url and who),
            "auth_mode": self.auth.mode,
            "csrf_token": csrf.token_for(request, self.auth.secret_key),
            "clouds": sorted(self.settings.clouds),
        }
        response = self.templates.TemplateResponse(
            request, name, {**base, **context}, status_code=status_code, headers=headers
        )
        csrf.set_cookie_if_new(request, response)
        return response

    def check_form(self, request: Request, submitted: Any) -> None:
        if not csrf.valid(request, self.auth.secret_key, submitted if isinstance(submitted, str) else None):
            raise HTTPException(
                403, "The form expired or came from another site: reload the page and try again."
            )


def _older(payload: dict[str, Any], moment: float) -> bool:
    fetched = payload.get("fetched_at")
    if not isinstance(fetched, str):
        return False
    try:
        # fetched_at has a one-second grain: within that second, count the figures as current
        return dt.datetime.fromisoformat(fetched.replace("Z", "+00:00")).timestamp() + 1.0 < moment
    except ValueError:
        return False


def _quietly(refresh: Callable[[str | None], object], cloud: str | None) -> None:
    try:
        refresh(cloud)
    except Exception as exc:  # the page shows the catalog's error on its next look
        log.warning("catalog refresh failed: %s", exc)


def form_text(form: FormData, key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def cluster_name(request: Request) -> str:
    """The `{name}` path parameter, checked before any file path is built from it."""
    raw = str(request.path_params.get("name", ""))
    try:
        return checked_name(raw)
    except BadName as exc:
        raise HTTPException(404, str(exc)) from None
