"""Who may use which route: the web view's side of the one rule (reconciler.model.access.allowed).
`RULES` maps every route of the app to its rule, and `protect` wraps each route's endpoint so the
rule is checked before the endpoint runs; a route missing from the table is admins-only (and the
route-table test fails). Handlers ask the finer questions through the helpers here: `identity`,
`can`, `cluster_or_404`, `create_or_403` and `visible`.

A cluster a caller may not see answers 404 with the same body as a missing one, so its name is not
revealed; creating into a project that is not theirs answers 403 naming the projects they may use.
The project of an existing cluster is its spec's `project` (read as plain YAML when the spec does
not validate); a cluster without a readable spec (an orphan, a file that is not YAML) is for
admins only. With no `projects:` configured, everyone may do everything, as before."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route

from reconciler.model.access import Action, Identity, Rules, allowed
from reconciler.model.limits import Limits
from reconciler.model.spec import SpecError, load_yaml
from reconciler.model.specfiles import BadName, checked_name
from webview.state import Cluster, Files

IDENTITY = "mchub.identity"  # request scope key: the caller's Identity (auth.AuthMiddleware)
Rule = Literal[
    "public", "any user", "cluster:see", "cluster:change", "cluster:change or create", "create", "admin"
]
T = TypeVar("T")
Endpoint = Callable[[Request], Awaitable[Response]]

# Every route, by "METHOD path" as declared in app.py, and who may use it:
# - public: anyone, logged in or not;   any user: anyone logged in (lists are filtered by `visible`);
# - cluster:see / cluster:change: people of the cluster's project (404 for others, as if missing);
# - cluster:change or create: change when the cluster exists, else a create (the handler checks
#   the new spec's project with `create_or_403`);
# - create: people in at least one project (the handler checks the spec's project);  admin: admins.
RULES: dict[str, Rule] = {
    "GET /": "any user",
    "GET /healthz": "public",
    "GET /login": "public",
    "POST /login": "public",
    "POST /logout": "any user",
    "GET /clusters/new": "create",
    "POST /clusters/new": "create",
    "POST /clusters/new/preview": "create",
    "GET /clusters/{name}": "cluster:see",
    "GET /clusters/{name}/edit": "cluster:change",
    "POST /clusters/{name}/edit": "cluster:change",
    "POST /clusters/{name}/edit/preview": "cluster:change",
    "POST /clusters/{name}/destroy": "cluster:change",
    "POST /clusters/{name}/approve": "cluster:change",
    "POST /clusters/{name}/retry": "cluster:change",
    "GET /clusters/{name}/forget": "cluster:change",
    "POST /clusters/{name}/forget": "cluster:change",
    "POST /clusters/{name}/password": "cluster:see",
    "GET /clusters/{name}/runs/{run_id}/log": "cluster:see",
    "GET /partials/dashboard": "any user",
    "GET /partials/clusters/{name}": "cluster:see",
    "GET /api/clusters": "any user",
    "POST /api/clusters": "create",
    "GET /api/clusters/{name}": "cluster:see",
    "PUT /api/clusters/{name}": "cluster:change or create",
    "DELETE /api/clusters/{name}": "cluster:change",
    "GET /api/clusters/{name}/status": "cluster:see",
    "GET /api/clusters/{name}/logs": "cluster:see",
    "POST /api/clusters/{name}/approve": "cluster:change",
    "POST /api/clusters/{name}/retry": "cluster:change",
    "POST /api/clusters/{name}/forget": "cluster:change",
    "POST /api/clusters/{name}/preview": "cluster:change or create",
    "GET /api/resources": "any user",
    "GET /api/schema": "any user",
    "GET /api/names/{name}": "any user",
    "GET /metrics": "any user",
    "POST /hooks/git": "public",  # the git server's webhook: it proves itself with the shared secret
    "MOUNT /static": "public",
}
CLUSTER_RULES: dict[Rule, Action] = {
    "cluster:see": "see",
    "cluster:change": "change",
    "cluster:change or create": "change",
}


def route_keys(route: BaseRoute) -> list[str]:
    """The table's keys for one route: "METHOD path" for each method (HEAD goes with GET)."""
    if isinstance(route, Mount):
        return [f"MOUNT {route.path}"]
    if isinstance(route, Route):
        methods = sorted((route.methods or {"GET"}) - {"HEAD"})
        return [f"{m} {route.path}" for m in methods]
    return [f"? {getattr(route, 'path', route)!r}"]


def rule_of(route: BaseRoute) -> Rule | None:
    """The route's rule; None when the table does not list it (or lists its methods differently)."""
    found = {RULES.get(key) for key in route_keys(route)}
    return found.pop() if len(found) == 1 and None not in found else None


# -- who is asking ------------------------------------------------------------------------------


def identity(request: Request) -> Identity:
    """The caller as auth.AuthMiddleware learned it (a plain user, admin of nothing, if unset)."""
    who = request.scope.get(IDENTITY)
    if isinstance(who, Identity):
        return who
    return Identity(str(request.scope.get("mchub.user") or "anonymous"))


def rules_of(request: Request) -> Rules:
    """The settings' admins and projects, as `protect` left them on the app."""
    rules = getattr(request.app.state, "rules", None)
    return rules if isinstance(rules, Rules) else Rules()


def can(request: Request, action: Action, project: str | None) -> bool:
    return allowed(rules_of(request), identity(request), action, project)


def restricted(request: Request) -> bool:
    """Whether the caller sees only some clusters (projects configured, and not an admin)."""
    return rules_of(request).projects_of(identity(request)) is not None


def not_found(name: str) -> HTTPException:
    """The one 404 for a cluster: missing, or not the caller's (the same words either way)."""
    return HTTPException(404, f'no cluster named "{name}"')


def cluster_or_404(request: Request, name: str, project: str | None, action: Action = "see") -> None:
    """404, as for a missing cluster, when the caller may not `action` a cluster of `project`."""
    if not can(request, action, project):
        raise not_found(name)


def my_projects(request: Request) -> tuple[str, ...] | None:
    """The projects the caller may create in (None: any, or no projects configured)."""
    return rules_of(request).projects_of(identity(request))


def create_or_403(request: Request, project: str | None) -> None:
    """403 naming the projects the caller may use, when they may not create in `project`."""
    if can(request, "create", project):
        return
    mine = my_projects(request) or ()
    where = f'project "{project}"' if project else "no project"
    if mine:
        choices = ", ".join(mine)
        raise HTTPException(403, f"project: you may not create clusters in {where}; choose one of {choices}")
    raise HTTPException(
        403,
        "you are not a member of any project of this hub: ask an admin to add you to one "
        "(projects: in the settings)",
    )


def visible(request: Request, rows: Iterable[T], project_of: Callable[[T], str | None]) -> list[T]:
    """The rows of clusters the caller may see (all of them when nothing is restricted)."""
    rules, who = rules_of(request), identity(request)
    mine = rules.projects_of(who)
    if mine is None:
        return list(rows)
    return [row for row in rows if project_of(row) in mine]


def cluster_project(cluster: Cluster | None, limits: Limits) -> str | None:
    """The project of a cluster: its spec's `project`, read as plain YAML from a spec that does
    not validate (so people can still see and fix their own broken spec). None without a
    readable spec: only admins see such a cluster."""
    spec_file = cluster.spec if cluster is not None else None
    if spec_file is None:
        return None
    if spec_file.spec is not None:
        return spec_file.spec.project
    if not spec_file.text:
        return None
    try:
        raw = load_yaml(spec_file.text, limits=limits)
    except SpecError:
        return None
    project = raw.get("project") if isinstance(raw, dict) else None
    return project if isinstance(project, str) else None


# -- enforcing the table ------------------------------------------------------------------------


def protect(routes: list[BaseRoute], rules: Rules, files: Files, limits: Limits) -> list[BaseRoute]:
    """The routes again, each endpoint wrapped in a check of its rule from `RULES` (a route the
    table does not list: admins only). Mounts (static files) are left as they are."""
    out: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Route):
            rule: Rule = rule_of(route) or "admin"
            guarded = _guard(rule, route.endpoint, files, limits)
            methods = sorted(route.methods - {"HEAD"}) if route.methods else None
            out.append(Route(route.path, guarded, methods=methods, name=route.name))
        else:
            out.append(route)
    return out


def _guard(rule: Rule, endpoint: Callable[..., object], files: Files, limits: Limits) -> Endpoint:
    call: Endpoint = endpoint  # type: ignore[assignment]

    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        check(request, rule, files, limits)
        return await call(request)

    return guarded


def check(request: Request, rule: Rule, files: Files, limits: Limits) -> None:
    """Raise the refusal `rule` calls for, or return when the caller may go on."""
    if rule in ("public", "any user"):
        return  # the access middleware already refused anonymous callers off public paths
    rules, who = rules_of(request), identity(request)
    if rule == "admin":
        if not rules.is_admin(who):
            raise HTTPException(403, "only the hub's admins (admins: in the settings) may do this")
        return
    mine = rules.projects_of(who)
    if mine is None:
        return  # admins, or no projects configured: the endpoint decides alone, as before
    if rule == "create":
        if not mine:
            create_or_403(request, None)
        return
    try:
        name = checked_name(str(request.path_params.get("name", "")))
    except BadName:
        return  # the endpoint answers 404 for a name that cannot be a cluster's
    cluster = files.cluster(name)
    if cluster is None:
        if rule == "cluster:change or create":
            return  # a create: the endpoint checks the new spec's project
        raise not_found(name)
    cluster_or_404(request, name, cluster_project(cluster, limits), CLUSTER_RULES[rule])
