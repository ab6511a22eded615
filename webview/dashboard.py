"""The dashboard: every cluster the caller may see, with its project, owner (first author in git),
age and expiry, filtered and sorted on the server (webview/listing.py), and the free quota beside.

Built to stay cheap at thousands of clusters and many people polling it:
- every cluster's row is built once per version of the files (state.Files: parsed files kept by
  signature), of git's HEAD (gitlog.SpecHistory: one `git log` per new commit) and of the date;
- a request then filters those rows by who is asking (authz.visible) and by its query, both passes
  over dictionaries, and renders one page of them;
- the rendered HTML is kept per (rows, figures, query, caller's projects), so a poll whose answer
  did not change is a 304 without rendering, and people with the same view share one render."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from reconciler.model.expiry import describe
from reconciler.model.names import forgettable
from reconciler.model.spec import CLUSTER_NAME_RE
from webview import authz, present
from webview.conditional import if_none_match, not_modified
from webview.context import Web
from webview.gitlog import Commit, SpecHistory
from webview.listing import GROUPS, SORT_CHOICES, Listing, ListQuery, Order, age_words, status_group
from webview.state import SMALL_HUB, Cluster, Look

RENDERS_KEPT = 64  # distinct (query, projects) views kept rendered for the current files
ROWS_KEPT = 50_000  # rows kept for reuse (a crude bound, as specfiles.FileCache's)
FIGURES_REUSED = 1.0  # seconds the catalog's figures are reused for by the list's polls


class Dashboard:
    def __init__(self, web: Web, history: SpecHistory) -> None:
        self.web = web
        self.history = history
        self._rows: tuple[str, list[dict[str, Any]]] = ("", [])
        self._origins: tuple[str | None, dict[str, Commit]] = (None, {})
        self._html: dict[str, Markup] = {}
        self._html_base = ""
        self._lock = threading.Lock()  # one look at thousands of files at a time
        self._looked_at = float("-inf")  # when the last look began (time.monotonic)
        self._built: tuple[str, int, str | None, dt.date] | None = None  # rows': epoch, counter, HEAD, day
        self._built_from: object = None  # the state.Look the rows were built from
        # name -> (what its row was built from, the row)
        self._row_cache: dict[str, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        # (cloud, newest settled status) -> (when asked, the catalog's payload, its part of the ETag)
        self._figures: dict[tuple[str | None, float | None], tuple[float, dict[str, Any], str]] = {}
        # view (the caller's projects) -> (rows key, the rows it sees, its newest settled status)
        # (view, query but its page) -> (rows key, the rows it matches in its order: listing.Order)
        self._orders: dict[tuple[str, str], tuple[str, Order]] = {}
        # the rows' last change: (rows key before, rows key after, rows taken out, rows put in)
        self._change: tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]] | None = None
        self._views: dict[str, tuple[str, list[dict[str, Any]], float | None]] = {}

    # -- the endpoints ----------------------------------------------------------------------------

    async def page(self, request: Request) -> Response:
        query = ListQuery.from_params(request.query_params)
        _, html = await self._render(request, query)
        forgot = request.query_params.get("forgot", "")  # actions.forget's one-shot notice
        forgot = forgot if CLUSTER_NAME_RE.fullmatch(forgot) and self.web.files.spec(forgot) is None else ""
        context = {
            "dashboard": html,
            "forgot": forgot,
            "query": query,
            "groups": GROUPS,
            "sort_choices": SORT_CHOICES,
            "project_choices": self._project_choices(request),
            "restricted": authz.restricted(request),
            "poll_url": query.url("/partials/dashboard"),
        }
        return self.web.render(request, "dashboard.html", context)

    async def partial(self, request: Request) -> Response:
        etag, html = await self._render(request, ListQuery.from_params(request.query_params), wait=True)
        if if_none_match(request, etag):
            return not_modified(etag)
        return HTMLResponse(html, headers={"ETag": etag, "Cache-Control": "no-cache"})

    # -- rows -------------------------------------------------------------------------------------

    def rows(self) -> tuple[str, list[dict[str, Any]]]:
        """(version, every cluster's row), rebuilt only when a file, git's HEAD or the date moved.
        While the files' last look stands (state.Files.due), the rows built from it are answered
        as they are: no lock, no git. One look at the files at a time: a request that waited for
        another's look, begun after it arrived, takes that look's answer (as fresh as its own
        would be), so many people polling at once cost one pass over the files, not one each."""
        arrived = time.monotonic()
        files = self.web.files
        if self._built_from is files.last and not files.due(arrived) and self._built is not None:
            if self._built[3] == self.web.today():
                return self._rows  # nothing written, git looked at with the files: unchanged
        if len(self._rows[1]) >= SMALL_HUB and self._lock.locked():
            return self._rows  # rows being rebuilt for a large hub: the last ones, a moment old
        with self._lock:
            if self._looked_at >= arrived:
                return self._rows
            self._looked_at = time.monotonic()
            look = files.look()
            today = self.web.today()
            head = self.history.head()
            key = f"{look.etag}:{head}:{today.isoformat()}"
            if self._rows[0] != key:
                before, since = self._rows, self._since(look, head, today)
                self._rows = (key, self._rebuild(look, head, today, since))
                self._change = None if since is None else self._changed(before, self._rows, look, since)
            self._built_from = look
            return self._rows

    def _since(self, look: Look, head: str | None, today: dt.date) -> int | None:
        """The change counter the rows were last built at, when they may be built on (the same
        process, git HEAD and date); None: every row is to be built again."""
        epoch, built = look.version.partition(".")[0], self._built
        return built[1] if built is not None and built[0] == epoch and built[2:] == (head, today) else None

    @staticmethod
    def _changed(
        before: tuple[str, list[dict[str, Any]]],
        after: tuple[str, list[dict[str, Any]]],
        look: Look,
        since: int,
    ) -> tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]]:
        """The rows' change from `before` to `after`: the rows taken out (changed or removed
        clusters, as they were) and put in (changed or new ones, as they are now)."""
        versions = look.versions
        put_in = [r for r in after[1] if versions.get(r["name"], 0) > since]
        names = {r["name"] for r in put_in} | {n for n, (v, _) in look.removed.items() if v > since}
        taken_out = [r for r in before[1] if r["name"] in names] if names else []
        return before[0], after[0], taken_out, put_in

    def _rebuild(
        self, look: Look, head: str | None, today: dt.date, since: int | None
    ) -> list[dict[str, Any]]:
        """Every row: those of clusters unchanged since the rows were last built (`since`: a
        cluster version not newer) as they were; the others built again."""
        if self._origins[0] != head:
            self._origins = (head, self.history.origins())
        origins = self._origins[1]
        self._built = (look.version.partition(".")[0], look.counter, head, today)
        if since is None:
            return [self._row(c, today, origins.get(c.name)) for c in look.clusters]
        versions, kept = look.versions, self._row_cache
        return [
            kept[c.name][1]
            if versions.get(c.name, 0) <= since and c.name in kept
            else self._row(c, today, origins.get(c.name))
            for c in look.clusters
        ]

    def _row(self, c: Cluster, today: dt.date, origin: Commit | None) -> dict[str, Any]:
        """The row of `c`: the one built before while its parsed spec and status are the same
        objects (state.Files hands out the same object while a file is unchanged), and its
        origin, first run and the date too; else built anew. A change to one cluster of thousands
        rebuilds one row (`_rebuild` does not even ask the others)."""
        first_run = self.web.files.first_run(c.name)
        inputs = (c.spec, c.status, origin, first_run, today)
        kept = self._row_cache.get(c.name)
        if kept is not None and all(a is b or a == b for a, b in zip(kept[0], inputs, strict=True)):
            return kept[1]
        row = self._build_row(c, today, origin, first_run)
        if len(self._row_cache) > ROWS_KEPT:
            self._row_cache.clear()
        self._row_cache[c.name] = (inputs, row)
        return row

    def _build_row(
        self, c: Cluster, today: dt.date, origin: Commit | None, first_run: dt.datetime | None
    ) -> dict[str, Any]:
        spec = c.spec.spec if c.spec else None
        reason = c.status.reason.value if c.status else ""
        created = _earliest(
            origin.time if origin else None,
            first_run,
            dt.datetime.fromtimestamp(c.spec.mtime, dt.UTC) if c.spec else None,
        )
        spec_state = "valid" if spec else ("invalid" if c.spec else "missing")
        return {
            "name": c.name,
            "phase": c.phase,
            "status": c.status,
            "group": status_group(c.phase, reason, spec_state == "invalid"),
            "project": authz.cluster_project(c, self.web.settings.limits) or "",
            "owner": origin.author if origin else "",
            "created": created,
            "age": age_words(created, today),
            "counts": present.progress_counts(c.status),
            "shape": " · ".join(f"{i.count}× {p}" for p, i in spec.instances.items()) if spec else "",
            "ensure": c.ensure,
            "spec_state": spec_state,
            "last_change": c.last_change,
            "expiry": present.expiry(spec, today),
            "expires_when": seen.when if (seen := describe(spec.expires if spec else None, today)) else "",
            "forgettable": c.spec is not None and forgettable(c.status),
            # when its status settled (not during a run): the quota panel's figures must be newer
            "settled": None
            if c.status is None or c.status.updated_at is None or present.is_running(c.phase)
            else c.status.updated_at.timestamp(),
        }

    # -- one view ---------------------------------------------------------------------------------

    async def _render(self, request: Request, query: ListQuery, wait: bool = False) -> tuple[str, Markup]:
        """The table and quota panel for this caller and query, and its ETag."""
        due = self.web.files.due()  # a look at the files (stat calls, git after a commit): a thread
        rows_key, rows = await run_in_threadpool(self.rows) if due else self.rows()
        scope = authz.my_projects(request)
        view = "*" if scope is None else ",".join(scope)
        mine, newest = self._mine(request, rows_key, rows, view)
        cloud = self._quota_cloud(query, scope)
        payload, figures = await self._payload(cloud, newest, wait)
        digest = hashlib.sha1(f"{rows_key}|{figures}|{query.key()}|{view}".encode(), usedforsecurity=False)
        etag = f'W/"d-{digest.hexdigest()[:24]}"'
        if self._html_base != rows_key:
            self._html, self._html_base = {}, rows_key  # renders of older files are never asked again
        cached = self._html.get(etag)
        if cached is not None:
            return etag, cached
        listing = self._listing(request, view, rows_key, mine, query)
        template = self.web.templates.get_template("_dashboard.html")
        html = Markup(
            template.render(
                listing=listing,
                rows=listing.rows,
                query=query,
                groups=GROUPS,
                show_project=bool(self.web.settings.projects) or any(r["project"] for r in mine),
                payload=payload,
                quotas=present.quota_rows(payload),
            )
        )
        if len(self._html) >= RENDERS_KEPT:
            self._html.clear()
        self._html[etag] = html
        return etag, html

    async def _payload(
        self, cloud: str | None, newest: float | None, wait: bool
    ) -> tuple[dict[str, Any], str]:
        """The quota panel's figures and their part of the ETag, reused for FIGURES_REUSED s: a
        poll every few seconds by each of many people asks the catalog (a thread, a payload of
        every flavor and image, a JSON dump for the ETag) once a second at most, not once each."""
        now, key = time.monotonic(), (cloud, newest)
        kept = self._figures.get(key)
        if kept is not None and now - kept[0] < FIGURES_REUSED:
            return kept[1], kept[2]
        payload = await self.web.payload(cloud, newer_than=newest, wait=wait)
        figures = json.dumps(
            [payload.get("quotas"), payload.get("error"), payload.get("cloud")], sort_keys=True
        )
        if len(self._figures) >= RENDERS_KEPT:
            self._figures.clear()
        self._figures[key] = (now, payload, figures)
        return payload, figures

    def _listing(
        self, request: Request, view: str, rows_key: str, mine: list[dict[str, Any]], query: ListQuery
    ) -> Listing:
        """The page `query` asks for, cut from its sorted index (listing.Order): the index kept
        per (view, query) and moved on by the rows' last change when it was built just before it,
        so a poll after a status changed moves a row or two instead of sorting every cluster."""
        key = (view, urlencode(sorted(query.params(page=1).items())))
        kept, change, order = self._orders.get(key), self._change, None
        if kept is not None and kept[0] == rows_key:
            order = kept[1]
        elif kept is not None and change is not None and change[:2] == (kept[0], rows_key):
            seen = [authz.visible(request, rows, lambda r: r["project"] or None) for rows in change[2:]]
            order = kept[1] if kept[1].update(seen[0], seen[1]) else None
        if order is None:
            order = Order(mine, query)
        if key not in self._orders and len(self._orders) >= RENDERS_KEPT:
            self._orders.clear()
        self._orders[key] = (rows_key, order)
        return order.page(len(mine), query.page)

    def _mine(
        self, request: Request, rows_key: str, rows: list[dict[str, Any]], view: str
    ) -> tuple[list[dict[str, Any]], float | None]:
        """The rows this view may see and when the newest settled status among them was written,
        kept per (rows, view): a poll of an unchanged list makes no pass over thousands of rows."""
        kept = self._views.get(view)
        if kept is not None and kept[0] == rows_key:
            return kept[1], kept[2]
        mine = authz.visible(request, rows, lambda r: r["project"] or None)
        settled = [r["settled"] for r in mine if r["settled"] is not None]
        if len(self._views) >= RENDERS_KEPT:
            self._views.clear()
        self._views[view] = (rows_key, mine, max(settled, default=None))
        return mine, max(settled, default=None)

    def _quota_cloud(self, query: ListQuery, scope: tuple[str, ...] | None) -> str | None:
        """Whose free quota the panel shows: the filtered project's cloud, else the one cloud of
        the caller's projects, else the default cloud (None)."""
        settings = self.web.settings
        if query.project in settings.projects and (scope is None or query.project in scope):
            return settings.cloud_of(None, query.project)
        clouds = {settings.cloud_of(None, p) for p in scope or ()}
        return clouds.pop() if len(clouds) == 1 else None

    def _project_choices(self, request: Request) -> list[str]:
        """The projects the filter offers: the caller's own; everyone's for an admin (and the
        projects named by specs the settings do not know, so an admin can find them)."""
        scope = authz.my_projects(request)
        if scope is not None:
            return sorted(scope)
        named = {r["project"] for r in self._rows[1] if r["project"]}  # built by this request
        return sorted(set(self.web.settings.projects) | named)


def _earliest(*moments: dt.datetime | None) -> dt.datetime | None:
    """The spec's birth as best known: its creating commit, the first run kept, the file's time."""
    return min((m for m in moments if m is not None), default=None)
