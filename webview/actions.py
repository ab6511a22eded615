"""The cluster page's buttons, posted as forms: Destroy, Approve, Retry now and Forget. Each is
answered at once: a redirect whose one-shot notice (acks.py) says what was asked until the status
shows that the hub took it up; or, when the action is stale (a plan approved already, a destroy
asked for already, a cluster that still has resources), the page again with a plain message beside
the state it is really in (409), never a bare error page."""

from __future__ import annotations

import datetime as dt
import time

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from reconciler.model import approvals, retries
from reconciler.model.names import not_forgettable
from reconciler.model.specfiles import VersionMismatch
from reconciler.model.status import Phase, Status
from webview import acks, authz, csrf, present, specstore
from webview.context import Web, cluster_name, form_text
from webview.formpages import is_absent
from webview.pages import Pages

FORGET_CONFIRM = "confirmed"  # the Forget form's field: "yes" once the person confirmed


class Actions:
    def __init__(self, web: Web, pages: Pages) -> None:
        self.web, self.pages = web, pages

    async def _form(self, request: Request) -> tuple[str, FormData]:
        name = cluster_name(request)
        form = await request.form(max_files=0, max_fields=10)
        self.web.check_form(request, form.get(csrf.FIELD))
        return name, form

    def _done(self, name: str, kind: str, status: Status | None) -> Response:
        """The redirect to the cluster page with the notice of `kind` against `status` as it was."""
        url = acks.redirect(f"/clusters/{name}", kind, present.status_json(name, status), time.time() - 1)
        return RedirectResponse(url, status_code=303)

    async def refused(self, request: Request, name: str, message: str, status_code: int = 409) -> Response:
        """The cluster page as it is now, with why the action was not taken in an alert."""
        context = await self.pages._cluster_context(request, name)
        context["refusal"] = message
        return self.web.render(request, "cluster.html", context, status_code=status_code)

    async def destroy(self, request: Request) -> Response:
        name, form = await self._form(request)
        spec_file = self.web.files.spec(name)
        if spec_file is None:
            raise HTTPException(404, f'no spec named "{name}"')
        status = self.web.files.status(name)[1]
        if is_absent(spec_file, self.web.settings.limits):
            now = present.phase_label(status.phase.value if status else Phase.PENDING.value)
            message = f'Destroying "{name}" was already asked for (its spec says ensure: absent); now: {now}.'
            return await self.refused(request, name, message)
        if form_text(form, "confirm").strip() != name:
            context = await self.pages._cluster_context(request, name)
            context["destroy_error"] = f'Type the cluster\'s name, "{name}", to confirm.'
            return self.web.render(request, "cluster.html", context, status_code=422)
        try:
            await run_in_threadpool(
                specstore.mark_absent,
                self.web.settings.specs_dir,
                name,
                authz.identity(request),
                remote=request.app.state.specs_remote,
            )
        except FileNotFoundError:
            raise HTTPException(404, f'no spec named "{name}"') from None
        finally:  # the lists' polls see it at once (state.Files.note)
            self.web.files.note(name)
        return self._done(name, acks.DESTROY, status)

    async def approve(self, request: Request) -> Response:
        name, form = await self._form(request)
        status = self.web.files.status(name)[1]
        wanted = form_text(form, "plan_id") or None
        try:
            plan_id = approvals.approvable_plan(name, status, wanted).id
        except approvals.NotApprovable as exc:
            return await self.refused(request, name, self._not_approvable(name, status, wanted, exc))
        await run_in_threadpool(
            approvals.approve,
            self.web.settings.specs_dir,
            name,
            plan_id,
            self.web.user(request),
            dt.datetime.now(dt.UTC),
        )
        return self._done(name, acks.APPROVED, status)

    def _not_approvable(
        self, name: str, status: Status | None, wanted: str | None, exc: approvals.NotApprovable
    ) -> str:
        """A second Approve of a plan the hub already took up says so; other refusals say why."""
        try:
            approved = approvals.read_approval(self.web.settings.specs_dir, name)
        except ValueError:  # an approval file that is not one: the engine keeps it aside
            approved = None
        if wanted and approved == wanted and status is not None:
            now = present.phase_label(status.phase.value)
            return f"Plan {wanted} was already approved and the hub has taken it up; now: {now}."
        return str(exc)  # the API's words

    async def retry(self, request: Request) -> Response:
        """The "Retry now" button of a failed cluster (retries.check_retryable: refused otherwise)."""
        name = (await self._form(request))[0]
        if self.web.files.cluster(name) is None:
            raise HTTPException(404, f'no cluster named "{name}"')
        status = self.web.files.status(name)[1]
        try:
            retries.check_retryable(name, status)
        except retries.NotRetryable as exc:
            return await self.refused(request, name, str(exc))  # the API's and the CLI's words
        now = dt.datetime.now(dt.UTC)
        await run_in_threadpool(
            retries.request_retry, self.web.settings.specs_dir, name, self.web.user(request), now
        )
        return self._done(name, acks.RETRY, status)

    async def _confirm_forget(self, request: Request, name: str) -> Response | None:
        """The page asking to confirm Forget, or why it cannot be (None: it may be forgotten)."""
        if self.web.files.spec(name) is None:
            raise HTTPException(404, f'no spec named "{name}": there is nothing to forget')
        refusal = not_forgettable(name, self.web.files.status(name)[1])
        if refusal is not None:
            return await self.refused(request, name, refusal)  # the API's words
        return None

    async def forget_form(self, request: Request) -> Response:
        """The cluster page with Forget's confirmation (the Forget button and the dashboard link)."""
        name = cluster_name(request)
        refused = await self._confirm_forget(request, name)
        if refused is not None:
            return refused
        context = await self.pages._cluster_context(request, name)
        context["confirm_forget"] = True
        return self.web.render(request, "cluster.html", context)

    async def forget(self, request: Request) -> Response:
        """Forget a destroyed or never-built cluster: its spec is removed (a commit by the person),
        its name is free and the dashboard no longer lists it; the hub keeps its history. A post
        without the confirmation (`confirmed=yes`) gets the confirmation page."""
        name, form = await self._form(request)
        refused = await self._confirm_forget(request, name)
        if refused is not None:
            return refused
        if form_text(form, FORGET_CONFIRM) != "yes":
            return await self.forget_form(request)
        version = form_text(form, "version") or None
        try:
            await run_in_threadpool(
                specstore.forget_spec,
                self.web.settings.specs_dir,
                name,
                authz.identity(request),
                [version] if version else None,
                remote=request.app.state.specs_remote,
            )
        except FileNotFoundError:
            raise HTTPException(404, f'no spec named "{name}": there is nothing to forget') from None
        except VersionMismatch:
            message = f'The spec of "{name}" changed since this page was shown: look at it again first.'
            return await self.refused(request, name, message)
        finally:
            self.web.files.note(name)
        return RedirectResponse(f"/?forgot={name}", status_code=303)
