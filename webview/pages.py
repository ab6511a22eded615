"""The HTML pages: dashboard, cluster page (password, run logs); its buttons are actions.py, the form
is formpages.py. Server-rendered; app.js polls the JSON status and swaps in the `partials/`
fragments these endpoints also serve."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from reconciler.cloud.payload import payload_flavors
from reconciler.cloud.sizing import needs
from reconciler.model import retries, runs, secrets
from reconciler.model.names import forgettable
from reconciler.model.status import Status
from webview import acks, csrf, failures, history, hosts, present
from webview.api import RUN_ID_RE
from webview.context import Web, cluster_name
from webview.dashboard import Dashboard
from webview.gitlog import SpecHistory
from webview.state import Cluster


def spec_usage(cluster: Cluster, payload: dict[str, Any]) -> dict[str, int] | None:
    spec = cluster.spec.spec if cluster.spec else None
    flavors = payload_flavors(payload)
    return needs(spec, flavors).as_dict() if spec is not None and flavors else None


def retry_offer(name: str, status: Status | None, asked: dt.datetime | None) -> dict[str, Any] | None:
    """The cluster page's "Retry now" for a cluster that may be retried (retries.check_retryable),
    with when one was asked for since its last status (None: not asked, or already taken up)."""
    try:
        retries.check_retryable(name, status)
    except retries.NotRetryable:
        return None
    updated = status.updated_at if status is not None else None
    pending = asked is not None and (updated is None or asked > updated)
    return {"asked": asked if pending else None}


class Pages:
    def __init__(self, web: Web) -> None:
        self.web = web
        # the specs' git history: owners and ages on the list (shared with the cluster page)
        self.spec_history = SpecHistory(web.settings.specs_dir)
        self.list = Dashboard(web, self.spec_history)

    # -- dashboard (webview/dashboard.py: columns, filters, sorting, caches) -------------------

    async def dashboard(self, request: Request) -> Response:
        return await self.list.page(request)

    async def dashboard_partial(self, request: Request) -> Response:
        return await self.list.partial(request)

    # -- the cluster page -----------------------------------------------------------------------

    async def _cluster_context(self, request: Request, name: str, wait: bool = False) -> dict[str, Any]:
        cluster = self.web.files.cluster(name)
        if cluster is None:
            raise HTTPException(404, f'no cluster named "{name}"')
        spec = cluster.spec.spec if cluster.spec else None
        status = cluster.status
        clusters_dir = self.web.settings.clusters_dir
        records = runs.list_records(clusters_dir, name)[:25]
        log_run = status.run_id if status and status.run_id else (records[0].id if records else None)
        cloud = spec.cloud if spec and spec.cloud in self.web.settings.clouds else None
        settled = None
        if status and status.updated_at and not present.is_running(status.phase.value):
            settled = status.updated_at.timestamp()
        payload = await self.web.payload(cloud, newer_than=settled, wait=wait)
        return {
            "cluster": cluster,
            "name": name,
            "spec": spec,
            "status": status,
            "phase": cluster.phase,
            "status_json": (status_json := present.status_json(name, status)),
            "counts": present.progress_counts(status),
            "spec_text": present.redact_spec_text(cluster.spec.text, spec) if cluster.spec else None,
            "spec_errors": cluster.spec.errors if cluster.spec else [],
            "main_tf": present.read_limited(clusters_dir / name / "main.tf"),
            "records": records,
            "log_run": log_run,
            "log_tail": present.log_tail(runs.log_path(clusters_dir, name, log_run)) if log_run else "",
            "instances": (rows := present.instances(spec, status)),
            "host_groups": hosts.groups(rows),
            "failure": (failure := failures.explain(status)),
            "waiting": failure if status is not None and status.reason.value == "quota_wait" else None,
            "run_words": {r.id: history.run_words(r) for r in records},
            # who did what: the spec's commits, who each run was for (git may run: in a thread)
            **await run_in_threadpool(history.who_did_what, self.spec_history, name, records),
            "reason_words": history.reason_words,
            "volumes": present.volumes(spec, status),
            "access": present.access(spec, status),
            "provisioning": present.provisioning(status),
            "payload": payload,
            "quotas": present.quota_rows(payload),
            "usage": spec_usage(cluster, payload),
            "has_password": bool(spec and spec.nb_users),
            "expiry": present.expiry(spec, self.web.today()),
            "retry": retry_offer(name, status, retries.read_retry(self.web.settings.specs_dir, name)),
            "destroy_error": "",
            "ack": acks.pending(request.query_params, status_json),  # the one-shot notice (actions.py)
            "refusal": "",  # why an action was not taken (actions.py)
            "forgettable": cluster.spec is not None and forgettable(status),
            "confirm_forget": False,
            "phase_labels": present.CHIPS,
        }

    async def cluster_page(self, request: Request) -> Response:
        name = cluster_name(request)
        context = await self._cluster_context(request, name)
        return self.web.render(request, "cluster.html", context)

    async def cluster_partial(self, request: Request) -> Response:
        name = cluster_name(request)
        context = await self._cluster_context(request, name, wait=True)
        return self.web.render(request, "_cluster_body.html", context, headers={"Cache-Control": "no-cache"})

    async def password(self, request: Request) -> Response:
        """The guest password, on demand (a POST with the CSRF header, so no other site can read it)."""
        name = cluster_name(request)
        if not csrf.valid(request, self.web.auth.secret_key, request.headers.get(csrf.HEADER)):
            raise HTTPException(403, "missing or invalid X-CSRF-Token")
        spec_file = self.web.files.spec(name)
        spec = spec_file.spec if spec_file else None
        passwd = (
            spec.guest_passwd
            if spec and spec.guest_passwd
            else secrets.stored_guest_password(self.web.settings.clusters_dir, name)
        )
        if not passwd:
            return JSONResponse(
                {"error": "no guest password yet: it is made on the first build"}, status_code=404
            )
        return JSONResponse({"password": passwd}, headers={"Cache-Control": "no-store"})

    async def run_log(self, request: Request) -> Response:
        name = cluster_name(request)
        run_id = str(request.path_params.get("run_id", ""))
        if not RUN_ID_RE.fullmatch(run_id):
            raise HTTPException(404, "no such run")
        text = present.read_limited(
            runs.log_path(self.web.settings.clusters_dir, name, run_id), 4 * 1024 * 1024
        )
        if text is None:
            raise HTTPException(404, f"no log for run {run_id}")
        return PlainTextResponse(text, headers={"Cache-Control": "no-cache"})
