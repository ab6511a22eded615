"""Previews: what a proposed spec would do, before anyone writes it. The form's Preview button and
`POST /api/clusters/{name}/preview` check the spec exactly as Spawn, Save or a PUT would, work out the
file as it would be written (`specstore.proposed`, which writes nothing), and hand that spec to the
hub's Previewer (`state.py`: a speculative plan); the web view runs no Terraform itself."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from reconciler.model.spec import ClusterSpec, FieldError, SpecError
from reconciler.model.specfiles import SpecExists, VersionMismatch
from webview import forms, previewtext, specstore
from webview.api import Api
from webview.conditional import json_bytes
from webview.context import Web, cluster_name
from webview.formpages import FORM_STATE, FormPages
from webview.state import PreviewFailed

MAX_RUNNING = 2  # previews under way at once; each is a Terraform process
MESSAGE_LIMIT = 2000
NOT_HERE = (
    "previews are not available here: this web view runs without the hub's Terraform "
    "(`mchub serve` runs both)"
)
BUSY = "other previews are running; try again in a few seconds"
ABSENT = (
    "the spec says ensure: absent, so writing it destroys the cluster (or keeps it destroyed): "
    "there is nothing to build, so nothing to preview"
)
FORM_ABSENT = 'Saving keeps this cluster destroyed. Tick "Build it again" to preview building it.'
FORM_STALE = (
    "Someone changed this cluster since you opened the form, so a preview would not show what "
    "Save does. Save shows you the change (it writes nothing then), or reload the form."
)


class Previews:
    """The preview routes, the one way both the form and the API ask the hub for a preview."""

    def __init__(self, web: Web, api: Api, form: FormPages) -> None:
        self.web, self.api, self.form = web, api, form
        self.running = 0  # counted on the event loop's thread only

    async def plan(self, spec: ClusterSpec, **how: Any) -> dict[str, Any]:
        """What writing `spec` with `how` (specstore.save_spec's keys, expected, create_only) would
        do. Raises as a write would (SpecError, VersionMismatch, SpecExists), or HTTPException:
        503 when previews are not available here or too many are running, 502 when the hub could
        not plan it."""
        settings = self.web.settings
        written, version = await run_in_threadpool(
            lambda: specstore.proposed(
                settings.specs_dir, spec, today=self.web.today(), limits=settings.limits, **how
            )
        )
        if written.ensure == "absent":
            raise SpecError([FieldError(path="ensure", message=ABSENT)])
        previewer = self.web.preview
        if previewer is None:
            raise HTTPException(503, NOT_HERE)
        if self.running >= MAX_RUNNING:
            raise HTTPException(503, BUSY, headers={"Retry-After": "5"})
        self.running += 1
        try:
            result = await run_in_threadpool(previewer, written)
        except PreviewFailed as exc:
            message = str(exc).strip()[:MESSAGE_LIMIT] or "no reason given"
            raise HTTPException(502, f"the hub could not plan this spec: {message}") from None
        finally:
            self.running -= 1
        return {**result, "name": written.cluster_name, "version": version, "new_cluster": version is None}

    async def api_preview(self, request: Request) -> Response:
        """`POST /api/clusters/{name}/preview`: a PUT's body and headers, planned, not written."""
        name = cluster_name(request)
        self.api.guard(request)
        spec, expected, create_only = await self.api.put_spec(request, name)
        result = await self.plan(spec, expected=expected, create_only=create_only)
        return json_bytes(result, headers={"Cache-Control": "no-store"})

    async def form_preview(self, request: Request) -> Response:
        """The form's Preview button: its fields taken as Spawn or Save takes them, answered with
        `_preview.html`, a fragment for the form's live region, whatever the outcome."""
        status = 200
        try:
            result = await self._form_plan(request)
        except SpecError as exc:
            view = self._view(request)
            absent = FORM_ABSENT if view is not None and view.absent else ""
            status, said = 422, previewtext.said_invalid(exc.errors, view, absent)
        except SpecExists as exc:
            taken = FieldError(path="cluster_name", message=self.web.taken(exc.name) or "this name is taken")
            status, said = 409, previewtext.said_invalid([taken], self._view(request))
        except VersionMismatch:
            status, said = 409, previewtext.said_error(FORM_STALE)
        except HTTPException as exc:
            status, said = exc.status_code, previewtext.said_error(str(exc.detail))
        else:
            said = previewtext.said(result, self._view(request))
        headers = {"Cache-Control": "no-store"}
        return self.web.render(request, "_preview.html", {"said": said}, status_code=status, headers=headers)

    async def _form_plan(self, request: Request) -> dict[str, Any]:
        if "name" not in request.path_params:
            return await self.plan(await self.form.new_spec(request), create_only=True)
        spec, keys, expected = await self.form.edited_spec(request, cluster_name(request))
        return await self.plan(spec, keys=keys, expected=expected)

    @staticmethod
    def _view(request: Request) -> forms.FormView | None:
        view = request.scope.get(FORM_STATE)
        return view if isinstance(view, forms.FormView) else None
