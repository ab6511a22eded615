"""Nova v2.1 flavors for the sandbox: list and show (private ones for the admin only), and the
operator's side, create, delete, describe and extra specs, under Nova's admin policy. A deleted
flavor is gone from here; servers keep their own copy of it (nova_model)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.cloud.keystone import is_admin
from sandbox.cloud.nova_model import V21, reply, version
from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record, is_paged, links, new_id, read_json

F = V21 + "/flavors"
# field in the request -> (field in the record, default, minimum)
NUMBERS = {"ram": ("ram", None, 1), "vcpus": ("vcpus", None, 1), "disk": ("disk", None, 0),
           "OS-FLV-EXT-DATA:ephemeral": ("ephemeral", 0, 0), "swap": ("swap", 0, 0)}


def _policy(request: Request, store: Store, rule: str) -> None:
    """Nova's default policy: flavor management is the admin's."""
    if not is_admin(store, request):
        raise CloudError(403, f"Policy doesn't allow os_compute_api:{rule} to be performed.")


def _invalid(field: str, value: Any, why: str) -> CloudError:
    return CloudError(400, f"Invalid input for field/attribute {field}. Value: {value}. {why}")


def _number(body: Record, field: str, default: int | None, minimum: int) -> int:
    value = body.get(field, default)
    if value is None:
        raise _invalid("flavor", body, f"'{field}' is a required property")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _invalid(field, value, f"{value!r} is not an integer >= {minimum}")
    return value


def new_flavor(body: Record, mv: tuple[int, int]) -> Record:
    """A flavor record from `POST /flavors` (checked like Nova's schema)."""
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255 or name != name.strip():
        raise _invalid("name", name, "It must be 1 to 255 characters, without leading or trailing spaces.")
    flavor_id = body.get("id")
    if flavor_id is None or str(flavor_id).lower() == "auto":
        flavor_id = new_id()
    is_public = body.get("os-flavor-access:is_public", True)
    if not isinstance(is_public, bool):
        raise _invalid("os-flavor-access:is_public", is_public, f"{is_public!r} is not of type 'boolean'")
    record: Record = {"id": str(flavor_id), "name": name, "is_public": is_public, "extra_specs": {},
                      "description": body.get("description") if mv >= (2, 55) else None}
    for field, (key, default, minimum) in NUMBERS.items():
        record[key] = _number(body, field, default, minimum)
    return record


class NovaFlavors:
    """Routes under /compute/v2.1/flavors."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def routes(self) -> list[BaseRoute]:
        return [
            Route(F, self.flavors, methods=["GET", "POST"]),
            Route(F + "/detail", self.flavors, methods=["GET"]),
            Route(F + "/{flavor_id}", self.flavor, methods=["GET", "PUT", "DELETE"]),
            Route(F + "/{flavor_id}/os-extra_specs", self.extra_specs, methods=["GET", "POST"]),
            Route(F + "/{flavor_id}/os-extra_specs/{key}", self.extra_spec, methods=["GET", "PUT", "DELETE"]),
        ]

    def _view(self, flavor: Record, request: Request) -> Record:
        mv = version(request)
        body: Record = {
            "id": flavor["id"], "name": flavor["name"], "vcpus": flavor["vcpus"], "ram": flavor["ram"],
            "disk": flavor["disk"], "OS-FLV-EXT-DATA:ephemeral": flavor["ephemeral"],
            "swap": flavor["swap"] if flavor["swap"] or mv >= (2, 75) else "", "rxtx_factor": 1.0,
            "os-flavor-access:is_public": flavor["is_public"], "OS-FLV-DISABLED:disabled": False,
            "links": links(request, f"{F}/{flavor['id']}"),
        }
        if mv >= (2, 55):
            body["description"] = flavor.get("description")
        if mv >= (2, 61):
            body["extra_specs"] = flavor["extra_specs"]
        return body

    def _lookup(self, request: Request) -> Record:
        """The flavor of the path; a private one is the admin's to see (no flavor access here)."""
        flavor_id = request.path_params["flavor_id"]
        flavor = self.store.get("flavors", flavor_id)
        if flavor is None or not (flavor["is_public"] or is_admin(self.store, request)):
            raise CloudError(404, f"Flavor {flavor_id} could not be found.")
        return flavor

    def _visible(self, request: Request) -> list[Record]:
        """Public flavors; the admin may ask for private ones (`is_public=false` or `none`)."""
        wanted = request.query_params.get("is_public") if is_admin(self.store, request) else None
        if wanted is not None and wanted.lower() not in ("none", "true", "false", "1", "0", "yes", "no"):
            raise CloudError(400, f"Invalid is_public filter [{wanted}]")
        flavors = list(self.store.table("flavors").values())
        if wanted is not None and wanted.lower() == "none":
            return flavors
        public = wanted is None or wanted.lower() in ("true", "1", "yes")
        return [f for f in flavors if f["is_public"] == public]

    async def flavors(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._create(request)
        params = request.query_params
        with self.store.lock:
            found = [] if is_paged(request) else self._visible(request)
        try:
            min_ram, min_disk = int(params.get("minRam", 0)), int(params.get("minDisk", 0))
        except ValueError as exc:
            raise CloudError(400, f"Invalid minRam or minDisk filter: {exc}") from exc
        found = [f for f in found if f["ram"] >= min_ram and f["disk"] >= min_disk]
        if request.url.path.endswith("/detail"):
            return reply(request, {"flavors": [self._view(f, request) for f in found]})
        brief = [{"id": f["id"], "name": f["name"], "links": links(request, f"{F}/{f['id']}")} for f in found]
        return reply(request, {"flavors": brief})

    async def _create(self, request: Request) -> Response:
        body = await read_json(request, "flavor")
        _policy(request, self.store, "os-flavor-manage:create")
        flavor = new_flavor(body, version(request))
        with self.store.change():
            if self.store.get("flavors", flavor["id"]) is not None:
                raise CloudError(409, f"Flavor with ID {flavor['id']} already exists.")
            if self.store.find("flavors", name=flavor["name"]):
                raise CloudError(409, f"Flavor with name {flavor['name']} already exists.")
            self.store.put("flavors", flavor)
        return reply(request, {"flavor": self._view(flavor, request)})

    async def flavor(self, request: Request) -> Response:
        if request.method == "GET":
            with self.store.lock:
                return reply(request, {"flavor": self._view(self._lookup(request), request)})
        if request.method == "PUT" and version(request) < (2, 55):
            raise CloudError(404, "The resource could not be found.")
        body = await read_json(request, "flavor") if request.method == "PUT" else {}
        rule = "update" if request.method == "PUT" else "delete"
        _policy(request, self.store, f"os-flavor-manage:{rule}")
        with self.store.change():
            flavor = self._lookup(request)
            if request.method == "DELETE":
                self.store.remove("flavors", flavor["id"])
                return reply(request, None, 202)
            if "description" not in body:
                raise _invalid("flavor", body, "'description' is a required property")
            flavor["description"] = body["description"]
            return reply(request, {"flavor": self._view(flavor, request)})

    async def extra_specs(self, request: Request) -> Response:
        if request.method == "GET":
            with self.store.lock:
                return reply(request, {"extra_specs": dict(self._lookup(request)["extra_specs"])})
        body = await read_json(request, "extra_specs")
        _policy(request, self.store, "os-flavor-extra-specs:create")
        with self.store.change():
            self._lookup(request)["extra_specs"].update({k: str(v) for k, v in body.items()})
        return reply(request, {"extra_specs": body})

    async def extra_spec(self, request: Request) -> Response:
        key = request.path_params["key"]
        body = await read_json(request) if request.method == "PUT" else {}
        if request.method != "GET":
            rule = "update" if request.method == "PUT" else "delete"
            _policy(request, self.store, f"os-flavor-extra-specs:{rule}")
        with self.store.change():
            flavor = self._lookup(request)
            specs = flavor["extra_specs"]
            if request.method == "PUT":
                if list(body) != [key]:
                    raise CloudError(400, "Request body and URI mismatch")
                specs[key] = str(body[key])
            elif key not in specs:
                raise CloudError(404, f"Flavor {flavor['id']} has no extra specs with key {key}.")
            elif request.method == "DELETE":
                del specs[key]
                return reply(request, None, 200)
            return reply(request, {key: specs[key]})
