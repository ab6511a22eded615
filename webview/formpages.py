"""The cluster form, new and edit: filled from the catalog and the spec file, saved through
specstore (a new spec exclusively, an edit only over the version it was filled from), and sent back
with its messages when a save is refused (a spec error, a name taken, a stale form)."""

from __future__ import annotations

import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from reconciler.cloud.payload import payload_flavors
from reconciler.model.limits import Limits, bounds
from reconciler.model.names import name_taken
from reconciler.model.spec import (
    CLUSTER_NAME_RE,
    KNOWN_TAGS,
    ClusterSpec,
    FieldError,
    SpecError,
    json_schema,
    load_yaml,
)
from reconciler.model.specfiles import SpecExists
from reconciler.model.status import Status
from webview import acks, authz, choices, csrf, formcheck, forms, present, specstore
from webview.context import Web, cluster_name, form_text
from webview.state import SpecFile

FORM_STATE = "mchub.form"  # request scope key: the form being submitted, for the refusal handlers


def raw_data(spec_file: SpecFile, limits: Limits, display: bool = False) -> dict[str, Any] | None:
    """A spec file that does not validate, as a mapping (None when it is not one), read with the
    spec files' own guard (size, nesting, no aliases). For `display` (the edit form filled from
    it), also None past a bound (too many groups or volumes, overlong strings): the form shows
    only what the parser accepts, and the file's errors say what to fix."""
    try:
        raw = load_yaml(spec_file.text, limits=limits)
    except SpecError:
        return None
    if not isinstance(raw, dict) or (display and bounds(raw, limits)):
        return None
    return raw


def is_absent(spec_file: SpecFile, limits: Limits) -> bool:
    """The file says `ensure: absent` (read as plain YAML when the spec does not validate)."""
    if spec_file.spec is not None:
        return spec_file.spec.ensure == "absent"
    return (raw_data(spec_file, limits) or {}).get("ensure") == "absent"


def file_cloud(spec_file: SpecFile, limits: Limits) -> str | None:
    """The `cloud` the file names, if any (None: the settings' default cloud)."""
    if spec_file.spec is not None:
        return spec_file.spec.cloud
    cloud = (raw_data(spec_file, limits) or {}).get("cloud")
    return cloud if isinstance(cloud, str) else None


class FormPages:
    def __init__(self, web: Web) -> None:
        self.web = web

    async def form_page(
        self,
        request: Request,
        view: forms.FormView,
        name: str | None = None,
        status_code: int = 200,
        current_text: str | None = None,
    ) -> Response:
        """The cluster form; `current_text`: the spec file as it is now, after a stale save."""
        payload = await self.web.payload(self._cloud(view), name)
        flavors = payload_flavors(payload)
        saved = formcheck.saved_flavors(self._saved_spec(view, name))
        rows = [
            {
                **row,
                "flavors": choices.flavor_choices(flavors, row["tags"], row["type"]),
                "saved": saved.get(row["prefix"].strip(), ("", "")),
            }
            for row in view.instances
        ]
        vols, new_vol = choices.volume_rows(payload, view.volumes)
        images = choices.image_names(payload)
        if view.values.get("image") and view.values["image"] not in images:
            images.append(view.values["image"])
        context = {
            "view": view,
            "rows": rows,
            "vols": vols,
            "new_vol": new_vol,
            "unknown_parts": present.unknown_parts(payload),
            "payload": payload,
            "images": images,
            "name": name,
            "known_tags": KNOWN_TAGS,
            "cloud_options": [(c, c) for c in sorted(self.web.settings.clouds)],
            **self._project_context(request, view),
            "quotas": present.quota_rows(payload),
            "new_row_flavors": choices.flavor_choices(flavors, "node", ""),
            "summary": formcheck.summary(view),
            "guest_hint": formcheck.guest_hint(view.values.get("nb_users", "")),
            "schema": json_schema(self.web.settings.limits),
            "script_rules": choices.script_rules(),
            "current_text": current_text,
            "preview_url": self._preview_url(view, name),
        }
        return self.web.render(request, "form.html", context, status_code=status_code)

    def _cloud(self, view: forms.FormView) -> str | None:
        """The cloud whose figures the form shows: its project's when projects are configured (None
        until one is chosen: the default cloud's), else the one chosen (None: the default)."""
        settings = self.web.settings
        if settings.projects:
            project = settings.projects.get(view.values.get("project", "").strip())
            return project.cloud if project is not None else None
        cloud = view.values.get("cloud") or None
        return cloud if cloud in settings.clouds else None

    def _project_context(self, request: Request, view: forms.FormView) -> dict[str, Any]:
        """The project field: the caller's projects (admins: all), the one already chosen kept; a
        person in exactly one project gets it as a fixed line on a new cluster."""
        projects = self.web.settings.projects
        current = view.values.get("project", "").strip()
        if not projects:
            return {"projects_enabled": False, "project_options": [], "project_fixed": None}
        mine = authz.my_projects(request)
        names = [p for p in sorted(projects) if mine is None or p in mine]
        options = [(p, f"{p} (cloud {projects[p].cloud})") for p in names]
        if current and current not in names:  # an edit keeps what the file says, marked when unknown
            options.append(
                (current, current if current in projects else f"{current} (not a project of this hub)")
            )
        fixed = names[0] if len(names) == 1 and not view.editing and current in ("", names[0]) else None
        if len(options) != 1 and not fixed:
            options.insert(0, ("", "Choose a project"))
        return {"projects_enabled": True, "project_options": options, "project_fixed": fixed}

    def project_errors(
        self, request: Request, spec_project: str | None, cloud: str | None
    ) -> list[FieldError]:
        """With projects configured, a spec names one and leaves `cloud` to it (a 422 naming the
        caller's choices). A project of the hub that is not the caller's is no 422: `create_or_403`
        answers it (403), so that whether it exists is said only to those who may use it."""
        projects, mine = self.web.settings.projects, authz.my_projects(request)
        found = forms.project_errors(spec_project, cloud, projects, mine)
        # The form has no cloud input with projects (the file's own `cloud` is kept): the project
        # field is where a person can fix it, by choosing the project that runs on that cloud.
        return [e.model_copy(update={"path": "project"}) if e.path == "cloud" else e for e in found]

    def _saved_spec(self, view: forms.FormView, name: str | None) -> ClusterSpec | None:
        """The spec being edited, as saved (its groups may keep their flavors)."""
        spec_file = self.web.files.spec(name) if view.editing and name else None
        return spec_file.spec if spec_file else None

    def _preview_url(self, view: forms.FormView, name: str | None) -> str | None:
        """Where the form's Preview button posts (preview.py); None where there are no previews."""
        if self.web.preview is None:
            return None
        return f"/clusters/{name}/edit/preview" if view.editing and name else "/clusters/new/preview"

    async def new_form(self, request: Request) -> Response:
        settings = self.web.settings
        who = authz.identity(request)
        mine = authz.my_projects(request)
        choices = sorted(settings.projects) if mine is None else list(mine)
        project = choices[0] if settings.projects and len(choices) == 1 else ""
        cloud = settings.cloud_of(None, project or None)
        payload = await self.web.payload(cloud)
        domains = settings.clouds[cloud].domains if cloud in settings.clouds else ()
        # The login's own keys (the proxy's keys header); in local mode, the hub user's key file.
        key = forms.identity_keys(who.keys) or (
            forms.home_public_key() if self.web.auth.mode == "local" else ""
        )
        view = forms.default_form(
            payload,
            domains[0] if domains else "localdomain",
            "" if settings.projects else cloud,  # with projects, the project chooses the cloud
            self.web.files.names(),
            key,
            sudoer=forms.sudoer_name(who.user),
            project=project,
        )
        return await self.form_page(request, view)

    async def _submitted(self, request: Request, editing: bool) -> forms.FormView:
        form = await request.form(max_files=0, max_fields=400)
        self.web.check_form(request, form.get(csrf.FIELD))
        view = forms.form_from_post({k: form_text(form, k) for k in form}, editing=editing)
        request.scope[FORM_STATE] = view
        return view

    async def new_spec(self, request: Request) -> ClusterSpec:
        """The new form's spec, checked as Spawn checks it (also for its preview): every problem
        at once, a taken name among them; a taken name alone is a 409 with the form (app.py)."""
        view = await self._submitted(request, editing=False)
        data, found = forms.spec_parts(view)
        found += self.project_errors(request, data.get("project"), data.get("cloud"))
        found += await self._flavor_problems(view, data, None)
        name = str(data["cluster_name"])
        files = self.web.files
        taken = (
            name_taken(name, files.spec(name) is not None, files.status(name)[1])
            if CLUSTER_NAME_RE.fullmatch(name)
            else None
        )
        try:
            spec = formcheck.parse_all(data, found, self.web.settings.limits)
        except SpecError as exc:
            if taken is not None:
                exc.errors.insert(0, FieldError(path="cluster_name", message=taken))
            raise
        if taken is not None:
            raise SpecExists(name)
        authz.create_or_403(request, spec.project)  # a project of the hub, but not the caller's: 403
        return spec

    async def _flavor_problems(
        self, view: forms.FormView, data: dict[str, Any], saved: ClusterSpec | None
    ) -> list[FieldError]:
        """Groups on a flavor below their role's minimum, against the form's cloud's flavors."""
        payload = await self.web.payload(self._cloud(view))
        known = "flavors" not in (payload.get("unknown") or {})  # last figures stand when the cloud is down
        flavors = payload_flavors(payload) if known and payload.get("flavors") else None
        return formcheck.flavor_problems(data, flavors, formcheck.saved_flavors(saved))

    async def create(self, request: Request) -> Response:
        spec = await self.new_spec(request)
        before = self.web.files.status(spec.cluster_name)[1]  # a forgotten cluster's, or none
        saved = await self._save(request, spec, create_only=True)  # of racing creates, one wins
        return self._done(spec.cluster_name, acks.UNPUSHED if saved.push_pending else acks.CREATED, before)

    async def edit_form(self, request: Request) -> Response:
        name = cluster_name(request)
        spec_file = self.web.files.spec(name)
        if spec_file is None:
            raise HTTPException(404, f'no spec named "{name}"')
        if spec_file.spec is not None:
            view = forms.form_from_data(spec_file.spec.canonical())
        else:
            raw = raw_data(spec_file, self.web.settings.limits, display=True)
            view = forms.with_errors(forms.form_from_data(raw or {"cluster_name": name}), spec_file.errors)
        view.values["cluster_name"] = name
        view.version, view.absent = spec_file.version, is_absent(spec_file, self.web.settings.limits)
        return await self.form_page(request, view, name)

    async def edited_spec(
        self, request: Request, name: str
    ) -> tuple[ClusterSpec, tuple[str, ...], list[str] | None]:
        """The edit form's spec, checked as Save checks it (also for its preview), with the keys of
        the file it sets and the version it must go over (None: any)."""
        view = await self._submitted(request, editing=True)
        view.values["cluster_name"] = name  # renaming is making a new cluster
        existing = self.web.files.spec(name)
        if existing is None:
            raise HTTPException(404, f'no spec named "{name}"')
        limits = self.web.settings.limits
        view.absent = is_absent(existing, limits)
        data, found = forms.spec_parts(view)  # no password typed: the file keeps its own (specstore)
        found += await self._flavor_problems(view, data, existing.spec)
        if data.get("cloud") == self.web.settings.default_cloud and not file_cloud(existing, limits):
            del data["cloud"]  # the form shows the default cloud; the file keeps leaving it to settings
        keys: tuple[str, ...] = forms.FORM_KEYS
        if self.web.settings.projects:  # no cloud input: the project chooses; the file keeps its own
            keys = tuple(k for k in keys if k != "cloud")
            data.pop("cloud", None)
        cloud = data.get("cloud") or (file_cloud(existing, limits) if self.web.settings.projects else None)
        found += self.project_errors(request, data.get("project"), cloud)
        if view.absent and view.rebuild:  # only an explicit "build it again" brings it back
            data["ensure"], keys = "present", (*keys, "ensure")
        expected = [view.version] if view.version else None  # a stale form: a 409 with it (app.py)
        spec = formcheck.parse_all(data, found, limits)
        if existing.spec is None or spec.project != existing.spec.project:  # moved: theirs to create in
            authz.create_or_403(request, spec.project)
        return spec, keys, expected

    async def update(self, request: Request) -> Response:
        name = cluster_name(request)
        spec, keys, expected = await self.edited_spec(request, name)
        before = self.web.files.status(name)[1]
        saved = await self._save(request, spec, keys=keys, expected=expected)
        kind = acks.SAVED if saved.changed else acks.UNCHANGED
        return self._done(name, acks.UNPUSHED if saved.push_pending else kind, before)

    def _done(self, name: str, kind: str, before: Status | None) -> RedirectResponse:
        """To the cluster page, which says what was saved until the status shows the hub took it up
        (acks.py: against the status as it was before the save)."""
        url = acks.redirect(f"/clusters/{name}", kind, present.status_json(name, before), time.time() - 1)
        return RedirectResponse(url, status_code=303)

    async def _save(self, request: Request, spec: ClusterSpec, **how: Any) -> specstore.Saved:
        return await self.web.save(request, spec, **how)

    # -- refused saves (app.py's handlers call these for a request that came from the form) -------

    async def invalid(self, request: Request, view: forms.FormView, errors: list[FieldError]) -> Response:
        """The form again, each message beside its input: nothing was written."""
        name = view.values["cluster_name"] if view.editing else None
        view = forms.forget_password(forms.with_errors(view, errors))
        return await self.form_page(request, view, name, status_code=422)

    async def taken(self, request: Request, view: forms.FormView, message: str) -> Response:
        """A Spawn whose name is taken, perhaps by a create a moment earlier: a 409."""
        view = forms.with_errors(view, [FieldError(path="cluster_name", message=message)])
        return await self.form_page(request, forms.forget_password(view), None, status_code=409)

    async def disk_full(self, request: Request, view: forms.FormView, message: str) -> Response:
        """A save the hub's disk had no room for: nothing was written; the form keeps what was typed
        (but the password)."""
        view.general.append(message)
        name = view.values["cluster_name"] if view.editing else None
        return await self.form_page(request, forms.forget_password(view), name, status_code=507)

    async def stale(self, request: Request, view: forms.FormView) -> Response:
        """A save over a file that changed since the form was filled: nothing was written. The form
        keeps what the person typed, now carries the file's current version (so saving again is a
        decision made having seen the change), and shows the file as it is now."""
        name = view.values["cluster_name"]
        spec_file = self.web.files.spec(name)
        if spec_file is None:
            raise HTTPException(404, f'no spec named "{name}"')
        view.version, view.stale = spec_file.version, True
        view.absent = is_absent(spec_file, self.web.settings.limits)
        view.general.append(forms.STALE)
        forms.forget_password(view)
        current = present.redact_spec_text(spec_file.text, spec_file.spec)
        return await self.form_page(request, view, name, status_code=409, current_text=current)
