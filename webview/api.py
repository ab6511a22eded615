"""The JSON API beside the pages: specs in and out, status (with ETag / 304 for cheap polling), run
logs, approvals and the catalog. A spec's ETag is its file's version; `PUT` and `DELETE` honour
`If-Match`. Every refusal is raised, never returned: an HTTPException becomes `{"error": ...}` with its
status, a SpecError a 422 with field paths, a stale `If-Match` a 412, a name taken a 409 (app.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from reconciler.cloud.payload import project_cloud
from reconciler.model import approvals, retries, runs
from reconciler.model.names import not_forgettable
from reconciler.model.spec import (
    CLUSTER_NAME_RE,
    ClusterSpec,
    FieldError,
    SpecError,
    json_schema,
    load_json,
    load_yaml,
    parse_spec,
)
from reconciler.model.specfiles import BadName
from reconciler.model.status import Phase
from webview import authz, csrf, forms, present, specstore
from webview.conditional import if_match, if_none_match, json_bytes, not_modified
from webview.context import Web, cluster_name
from webview.specstore import Saved
from webview.state import Cluster

RUN_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_-]{0,80}$")
JSON_CACHE_LIMIT = 4096
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # as prometheus_client serves it
RETRY_ASKED = "the hub tries again within seconds"


def metrics_from_files(clusters: list[Cluster]) -> str:
    """/metrics without the hub's metrics (a web view run on its own): only the gauges the hub's
    reconciler.engine.metrics also has, with the same names and help, read from the status files,
    so a dashboard built on one works on the other."""
    phases = dict.fromkeys((p.value for p in Phase), 0)
    orphaned = drifted = 0
    for c in clusters:
        phases[c.phase] = phases.get(c.phase, 0) + 1
        orphaned += bool(c.status and c.status.orphaned)
        drifted += bool(c.status and c.status.drift.detected)
    lines = ["# HELP mchub_clusters Clusters by phase", "# TYPE mchub_clusters gauge"]
    lines += [f'mchub_clusters{{phase="{p}"}} {n}' for p, n in phases.items()]
    for metric, value, help_text in (
        ("mchub_clusters_orphaned", orphaned, "Clusters whose spec file is gone"),
        ("mchub_clusters_drifted", drifted, "Clusters whose last drift check found drift"),
    ):
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge", f"{metric} {value}"]
    return "\n".join(lines) + "\n"


class Api:
    def __init__(self, web: Web) -> None:
        self.web = web
        self._status_bodies: dict[tuple[str, str], bytes] = {}

    # -- reading --------------------------------------------------------------------------------

    async def healthz(self, request: Request) -> Response:
        """200 while the hub works; 503 when its reconcile loop stopped turning (a stale heartbeat,
        `create_app(liveness=)`), so that an orchestrator restarts it. A web view alone: 200."""
        liveness = getattr(request.app.state, "liveness", None)
        if liveness is None:
            return json_bytes({"status": "ok"})
        try:
            alive = bool(liveness())
        except Exception:  # a broken probe is no proof of life
            alive = False
        if alive:
            return json_bytes({"status": "ok", "loop": "alive"})
        error = "the reconcile loop has stopped turning (stale heartbeat); restart the hub"
        return json_bytes({"status": "unhealthy", "loop": "stale", "error": error}, status_code=503)

    async def list_clusters(self, request: Request) -> Response:
        """Every cluster the caller may see. With `?since=<version>`: only those changed after it,
        the names `removed` since, and the list's `version` to ask with next; the whole list, with
        `"since": null`, when that version is not this hub's (`?since=0` to begin). A poll of an
        unchanged list is a 304 from memory."""
        files = self.web.files
        look = await run_in_threadpool(files.look) if files.due() else files.look()
        today = self.web.today()
        since = request.query_params.get("since", "")
        # days left change with the date; what the list holds, with who asks
        etag = f'{look.etag[:-1]}-{today.isoformat()}{self.web.viewer_tag(request)}"'
        if if_none_match(request, etag):
            return not_modified(etag)
        delta = look.since(since) if since else None
        clusters, removed = delta if delta is not None else (look.clusters, [])
        gone = [c.name for c in self.web.visible(request, removed)]  # as last seen: theirs to know
        items = [self._item(c, today) for c in self.web.visible(request, clusters)]
        body: dict[str, Any] = {"clusters": items}
        if since:  # a poller's answer: where it now stands, and what it must drop
            body.update(
                version=look.version, since=since if delta is not None else None, removed=sorted(gone)
            )
        return json_bytes(body, headers={"ETag": etag, "Cache-Control": "no-cache"})

    @staticmethod
    def _item(c: Cluster, today: dt.date) -> dict[str, Any]:
        s = c.status
        return {
            "name": c.name,
            "status": c.phase,
            "reason": s.reason.value if s else "new_spec",
            "message": s.message if s else "",
            "ensure": c.ensure,
            "spec": "valid" if c.spec and c.spec.spec else ("invalid" if c.spec else "missing"),
            "counts": present.progress_counts(s),
            "orphaned": bool(s and s.orphaned),
            "drift": bool(s and s.drift.detected),
            "last_change": present.timestamp(c.last_change),
            "expiry": present.expiry(c.spec.spec if c.spec else None, today),
        }

    async def get_cluster(self, request: Request) -> Response:
        name = cluster_name(request)
        cluster = self.web.files.cluster(name)
        if cluster is None:
            raise HTTPException(404, f'no cluster named "{name}"')
        spec_file = cluster.spec
        spec = spec_file.spec if spec_file else None
        return json_bytes(
            {
                "name": name,
                "spec": present.public_spec(spec) if spec else None,
                "spec_valid": spec is not None,
                "spec_errors": [e.model_dump() for e in spec_file.errors] if spec_file else [],
                "spec_yaml": present.redact_spec_text(spec_file.text, spec) if spec_file else None,
                "version": spec_file.version if spec_file else None,
                "expiry": present.expiry(spec, self.web.today()),
                "status": present.status_json(name, cluster.status),
            },
            headers={"ETag": spec_file.etag, "Cache-Control": "no-cache"} if spec_file else None,
        )

    async def status(self, request: Request) -> Response:
        """A cluster's status, with its file's ETag; a poll whose ETag the hub's last look of the
        files still holds (state.Files.status_etag) is a 304 from memory, without touching them."""
        name = cluster_name(request)
        known = self.web.files.status_etag(name)
        if known is not None and if_none_match(request, known):
            return not_modified(known)
        etag, status = self.web.files.status(name)
        if status is None and self.web.files.spec(name) is None:
            raise HTTPException(404, f'no cluster named "{name}"')
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        if if_none_match(request, etag):
            return not_modified(etag)
        key = (name, etag)
        body = self._status_bodies.get(key)
        if body is None:
            body = json.dumps(present.status_json(name, status), separators=(",", ":")).encode()
            if len(self._status_bodies) > JSON_CACHE_LIMIT:
                self._status_bodies.clear()
            self._status_bodies[key] = body
        return Response(body, media_type="application/json", headers=headers)

    async def logs(self, request: Request) -> Response:
        name = cluster_name(request)
        if self.web.files.cluster(name) is None:
            raise HTTPException(404, f'no cluster named "{name}"')
        clusters = self.web.settings.clusters_dir
        records = runs.list_records(clusters, name)
        run_id = request.query_params.get("run") or (records[0].id if records else None)
        if run_id is not None and not RUN_ID_RE.fullmatch(run_id):
            raise HTTPException(400, "run must be a run id as listed in `runs`")
        try:
            tail = max(1, min(int(request.query_params.get("tail", "200")), 5000))
        except ValueError:
            raise HTTPException(400, "tail must be a whole number of lines") from None
        text = present.log_tail(runs.log_path(clusters, name, run_id), tail, 1024 * 1024) if run_id else ""
        return json_bytes(
            {"name": name, "runs": [r.model_dump(mode="json") for r in records], "run": run_id, "log": text}
        )

    async def metrics(self, request: Request) -> Response:
        """Prometheus text: the hub's metrics when given, else the cluster gauges from the files."""
        if self.web.metrics is not None and not authz.restricted(request):
            return Response(self.web.metrics.render(), media_type=METRICS_TYPE)
        # someone who sees only some clusters: the cluster gauges over those only
        _, clusters = self.web.files.clusters()
        return Response(metrics_from_files(self.web.visible(request, clusters)), media_type=METRICS_TYPE)

    async def resources(self, request: Request) -> Response:
        cloud = request.query_params.get("cloud") or None
        cluster = request.query_params.get("cluster") or None
        if cluster is not None and not CLUSTER_NAME_RE.fullmatch(cluster):
            raise HTTPException(400, str(BadName(cluster)))
        if cluster is not None and not self.web.may_see(request, cluster):
            cluster = None  # another project's cluster: answered as for a new name (no usage back)
        if cloud is not None and cloud not in self.web.settings.clouds:
            choices = ", ".join(sorted(self.web.settings.clouds))
            raise HTTPException(400, f'cloud "{cloud}" is not configured; choose one of {choices}')
        project = request.query_params.get("project") or None
        if project is not None:  # a project's figures: its cloud's (its allocation, its quota)
            cloud = self._project_cloud(request, project, cloud)
        data = await self.web.payload(cloud, cluster)
        body = json.dumps(data, separators=(",", ":")).encode()
        etag = f'W/"r-{hashlib.sha1(body, usedforsecurity=False).hexdigest()[:20]}"'
        if if_none_match(request, etag):
            return not_modified(etag)
        return Response(
            body, media_type="application/json", headers={"ETag": etag, "Cache-Control": "no-cache"}
        )

    def _project_cloud(self, request: Request, project: str, cloud: str | None) -> str:
        """The cloud of one of the caller's projects (admins: any); 400 naming their choices."""
        mine = authz.my_projects(request)
        projects = self.web.settings.projects
        if mine is not None and project not in mine:
            choices = ", ".join(mine) or "none: ask an admin to add you to one"
            raise HTTPException(
                400, f'project "{project}" is not one of your projects; choose one of {choices}'
            )
        try:
            return project_cloud(projects, project, cloud)
        except ValueError as exc:
            raise HTTPException(400, str(exc)) from None

    async def schema(self, request: Request) -> Response:
        """The spec's JSON Schema with this hub's limits: what editors and the form's script check."""
        return json_bytes(json_schema(self.web.settings.limits), headers={"Cache-Control": "no-cache"})

    async def name(self, request: Request) -> Response:
        """Whether `name` may be given to a new cluster: `{"name", "available", "problem"}` (the
        form asks as the person types; the create refuses by the same rule)."""
        name = str(request.path_params["name"])
        if not CLUSTER_NAME_RE.fullmatch(name):
            invalid = (
                f'"{name[:40]}" is not a valid name: start with a lower-case letter, then 1 to 40 '
                "lower-case letters, digits or dashes"
            )
            return json_bytes({"name": name, "available": False, "problem": invalid}, status_code=422)
        taken = self.web.taken(name, request)
        body = {"name": name, "available": taken is None, "problem": taken}
        return json_bytes(body, headers={"Cache-Control": "no-store"})

    # -- writing ------------------------------------------------------------------------------

    def guard(self, request: Request) -> None:
        if not csrf.api_write_allowed(request, self.web.auth.secret_key):
            raise HTTPException(
                403,
                "a change needs Authorization: Bearer <token>, an X-CSRF-Token header, "
                "or a same-origin request with Content-Type: application/json",
            )

    async def _body(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise SpecError([FieldError(path="", message="the body is not UTF-8 text")]) from None
        limits = self.web.settings.limits
        if ctype in ("application/yaml", "application/x-yaml", "text/yaml"):
            data = load_yaml(text, limits=limits)  # the spec files' own guard: size, depth, aliases
        else:
            data = load_json(text, limits=limits) if text.strip() else {}  # size and depth first
        if not isinstance(data, dict):
            raise SpecError([FieldError(path="", message="the body must be a spec: a mapping of fields")])
        return data

    async def _save(self, spec: ClusterSpec, request: Request, **how: Any) -> Saved:
        return await self.web.save(request, spec, **how)

    def _check_project(self, spec: ClusterSpec, request: Request) -> None:
        """With projects configured: a 422 for a spec naming no project, an unknown one, or a cloud
        not its project's, naming the caller's projects (forms.project_errors)."""
        mine = authz.my_projects(request)
        problems = forms.project_errors(spec.project, spec.cloud, self.web.settings.projects, mine)
        if problems:
            raise SpecError(problems)

    def _refuse_taken(self, name: str, request: Request) -> None:
        """The cluster form's rule: a spec's name, or an orphan's (its state is still kept), is taken."""
        taken = self.web.taken(name, request)
        if taken is not None:
            raise HTTPException(409, taken)

    def _parse_new(self, data: dict[str, Any], request: Request) -> ClusterSpec:
        """A new spec, every problem at once: a taken name is listed with the spec's errors (a 422);
        alone, it is a 409. Then a project the caller may not create in: a 403 naming theirs."""
        name = data.get("cluster_name")
        taken = None
        if isinstance(name, str) and CLUSTER_NAME_RE.fullmatch(name):
            taken = self.web.taken(name, request)
        try:
            spec = parse_spec(data, limits=self.web.settings.limits)
            self._check_project(spec, request)
        except SpecError as exc:
            if taken is not None:
                exc.errors.insert(0, FieldError(path="cluster_name", message=taken))
            raise
        if taken is not None:
            raise HTTPException(409, taken)
        authz.create_or_403(request, spec.project)
        return spec

    async def create_cluster(self, request: Request) -> Response:
        self.guard(request)
        data = await self._body(request)
        if data.get("guest_passwd") == present.HIDDEN:  # another cluster's GET output: not a password
            data["guest_passwd"] = None
        spec = self._parse_new(data, request)
        saved = await self._save(spec, request, create_only=True)  # of racing creates, one wins
        url = f"/api/clusters/{spec.cluster_name}"
        return json_bytes(
            {
                "name": spec.cluster_name,
                "spec": present.public_spec(spec),
                "url": url,
                "version": saved.version,
                **pending(saved),
            },
            status_code=201,
            headers={"Location": url, "ETag": f'"{saved.version}"'},
        )

    async def put_spec(self, request: Request, name: str) -> tuple[ClusterSpec, list[str] | None, bool]:
        """A PUT's body as a spec, checked as a PUT checks it (also for its preview), with the
        versions it must go over (`If-Match`) and whether it may only create (`If-None-Match: *`)."""
        data = await self._body(request)
        data.setdefault("cluster_name", name)
        if data["cluster_name"] != name:
            raise SpecError(
                [FieldError(path="cluster_name", message=f'must be "{name}", the name in the URL')]
            )
        expected = if_match(request)
        existing = self.web.files.spec(name)
        if existing is None and expected is None:
            self._refuse_taken(name, request)  # a PUT that creates is a create
        if data.get("guest_passwd") == present.HIDDEN:  # a GET's output sent back unchanged:
            data["guest_passwd"] = None  # no new password; the current one stays (specstore)
        create_only = request.headers.get("if-none-match", "").strip() == "*"  # "only if new"
        spec = parse_spec(data, limits=self.web.settings.limits)
        self._check_project(spec, request)
        authz.create_or_403(request, spec.project)  # a new cluster, or one moved, into a project of theirs
        return spec, expected, create_only

    async def put_cluster(self, request: Request) -> Response:
        name = cluster_name(request)
        self.guard(request)
        spec, expected, create_only = await self.put_spec(request, name)
        saved = await self._save(spec, request, expected=expected, create_only=create_only)
        return json_bytes(
            {"name": name, "spec": present.public_spec(spec), "version": saved.version, **pending(saved)},
            status_code=201 if saved.created else 200,
            headers={"ETag": f'"{saved.version}"'},
        )

    async def delete_cluster(self, request: Request) -> Response:
        name = cluster_name(request)
        self.guard(request)
        await request.body()  # unused, but read first: one over the limit is refused before acting
        if self.web.files.spec(name) is None:
            raise HTTPException(404, f'no spec named "{name}"')
        try:
            saved = await run_in_threadpool(
                specstore.mark_absent,
                self.web.settings.specs_dir,
                name,
                authz.identity(request),
                if_match(request),
                remote=request.app.state.specs_remote,
            )
        except FileNotFoundError:
            raise HTTPException(404, f'no spec named "{name}"') from None
        finally:
            self.web.files.note(name)
        return json_bytes(
            {"name": name, "ensure": "absent", "message": "the reconciler will destroy the cluster"},
            status_code=202,
            headers={"ETag": f'"{saved.version}"'},
        )

    async def approve(self, request: Request) -> Response:
        """`{"plan_id": ...}`: approve that plan, if it is the one waiting (409 otherwise, and
        without a plan id: an approval names the plan a person reviewed)."""
        name = cluster_name(request)
        self.guard(request)
        data = await self._body(request)
        wanted = data.get("plan_id")
        try:
            plan_id = approvals.approvable_plan(
                name, self.web.files.status(name)[1], wanted if isinstance(wanted, str) else None
            ).id
        except approvals.NotApprovable as exc:
            raise HTTPException(409, str(exc)) from None
        by = self.web.user(request)
        await run_in_threadpool(
            approvals.approve, self.web.settings.specs_dir, name, plan_id, by, dt.datetime.now(dt.UTC)
        )
        return json_bytes({"name": name, "plan_id": plan_id, "approved_by": by}, status_code=202)

    async def retry(self, request: Request) -> Response:
        """Retry a failed cluster now (409 for one that has not failed). No body needed."""
        name = cluster_name(request)
        self.guard(request)
        await request.body()  # unused, but read first: one over the limit is refused before acting
        if self.web.files.cluster(name) is None:
            raise HTTPException(404, f'no cluster named "{name}"')
        try:
            retries.check_retryable(name, self.web.files.status(name)[1])
        except retries.NotRetryable as exc:
            raise HTTPException(409, str(exc)) from None
        by, now = self.web.user(request), dt.datetime.now(dt.UTC)
        await run_in_threadpool(retries.request_retry, self.web.settings.specs_dir, name, by, now)
        body = {"name": name, "requested_by": by, "at": now.isoformat(), "message": RETRY_ASKED}
        return json_bytes(body, status_code=202)

    async def forget(self, request: Request) -> Response:
        """Forget a destroyed or never-built cluster: its spec is removed (a commit by the person,
        `If-Match` honoured), its name is free and the list no longer shows it; the hub keeps its
        run history. 409, saying what to do, for a cluster that may still have resources."""
        name = cluster_name(request)
        self.guard(request)
        await request.body()  # unused, but read first: one over the limit is refused before acting
        if self.web.files.spec(name) is None:
            raise HTTPException(404, f'no spec named "{name}": there is nothing to forget')
        refusal = not_forgettable(name, self.web.files.status(name)[1])
        if refusal is not None:
            raise HTTPException(409, refusal)
        try:
            version = await run_in_threadpool(
                specstore.forget_spec,
                self.web.settings.specs_dir,
                name,
                authz.identity(request),
                if_match(request),
                remote=request.app.state.specs_remote,
            )
        except FileNotFoundError:
            raise HTTPException(404, f'no spec named "{name}": there is nothing to forget') from None
        finally:
            self.web.files.note(name)
        message = "the spec is removed and the name is free; the hub keeps the cluster's run history"
        return json_bytes({"name": name, "forgotten": True, "version": version, "message": message})


def pending(saved: Saved) -> dict[str, str]:
    """`push_pending` for a save committed here that the specs' git remote did not take yet."""
    return {"push_pending": saved.push_pending} if saved.push_pending else {}
