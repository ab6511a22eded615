"""Neutron v2.0 for the sandbox: networks, subnets, ports, floating IPs, routers, security groups,
quotas with details and the extension list, served by one generic collection handler."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.cloud import neutron_model as model
from sandbox.cloud import neutron_routers as routers
from sandbox.cloud import quota
from sandbox.cloud.faults import Faults
from sandbox.cloud.neutron_records import touch
from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record, filter_records, host_url, is_paged, read_json, select_fields

PREFIX = "/network"
V2 = PREFIX + "/v2.0"
Creator = Callable[[Store, Record, Faults | None], Record]
QUOTAS = ("floatingip", "network", "port", "rbac_policy", "router", "security_group", "security_group_rule",
          "subnet", "subnetpool")
EXTENSIONS = {
    "external-net": "Neutron external network", "router": "Neutron L3 Router",
    "security-group": "security-group", "quotas": "Quota management support",
    "quota_details": "Quota details management support", "port-security": "Port Security",
    "allowed-address-pairs": "Allowed Address Pairs", "binding": "Port Binding",
    "standard-attr-description": "standard-attr-description",
    "standard-attr-revisions": "Resource revision numbers", "standard-attr-timestamp": "Resource timestamps",
    "fip-port-details": "Floating IP Port Details Extension", "standard-attr-tag": "Tag support",
}


@dataclass(frozen=True)
class Kind:
    """One Neutron collection: URL name, body key, store table, how to create, what PUT may change."""

    collection: str
    singular: str
    table: str
    create: Creator
    updatable: tuple[str, ...] = ("name", "description")
    extra: tuple[str, ...] = field(default_factory=tuple)


KINDS = (
    Kind("networks", "network", "networks", model.new_network,
         ("name", "description", "admin_state_up", "shared", "mtu", "port_security_enabled",
          "router:external")),
    Kind("subnets", "subnet", "subnets", model.new_subnet,
         ("name", "description", "gateway_ip", "enable_dhcp", "dns_nameservers", "allocation_pools")),
    Kind("ports", "port", "ports", model.new_port,
         ("name", "description", "device_id", "device_owner", "security_groups", "admin_state_up",
          "allowed_address_pairs", "port_security_enabled", "binding:vnic_type")),
    Kind("floatingips", "floatingip", "floatingips", model.new_floatingip,
         ("description", "port_id", "fixed_ip_address")),
    Kind("routers", "router", "routers", routers.new_router,
         ("name", "description", "admin_state_up", "external_gateway_info", "routes")),
    Kind("security-groups", "security_group", "security_groups", model.new_security_group,
         ("name", "description", "stateful")),
    Kind("security-group-rules", "security_group_rule", "security_group_rules", model.new_rule,
         ("description",)),
)


class Neutron:
    """Routes under /network."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store, self.faults = store, faults

    def routes(self) -> list[BaseRoute]:
        routes: list[BaseRoute] = [
            Route(PREFIX, self.versions, methods=["GET"]),
            Route(PREFIX + "/", self.versions, methods=["GET"]),
            Route(V2, self.resources, methods=["GET"]),
            Route(V2 + "/", self.resources, methods=["GET"]),
            Route(V2 + "/extensions", self.extensions, methods=["GET"]),
            Route(V2 + "/extensions/{alias}", self.extensions, methods=["GET"]),
            Route(V2 + "/quotas/{project_id}", self.quotas, methods=["GET"]),
            Route(V2 + "/quotas/{project_id}/details", self.quotas, methods=["GET"]),
            Route(V2 + "/{collection}/{item_id}/tags", self.tags, methods=["GET", "PUT", "DELETE"]),
            Route(V2 + "/routers/{item_id}/{verb:str}", self.router_interface, methods=["PUT"]),
        ]
        for kind in KINDS:
            routes.append(Route(f"{V2}/{kind.collection}", self._collection(kind), methods=["GET", "POST"]))
            routes.append(Route(f"{V2}/{kind.collection}/{{item_id}}", self._item(kind),
                                methods=["GET", "PUT", "DELETE"]))
        return routes

    async def versions(self, request: Request) -> Response:
        href = host_url(request) + V2 + "/"
        return JSONResponse({"versions": [{"id": "v2.0", "status": "CURRENT",
                                           "links": [{"rel": "self", "href": href}]}]})

    async def resources(self, request: Request) -> Response:
        base = host_url(request) + V2
        return JSONResponse({"resources": [
            {"name": k.singular, "collection": k.collection,
             "links": [{"rel": "self", "href": f"{base}/{k.collection}"}]} for k in KINDS]})

    async def extensions(self, request: Request) -> Response:
        found = [{"alias": alias, "name": name, "description": name, "links": [],
                  "updated": "2013-01-01T00:00:00Z"} for alias, name in EXTENSIONS.items()]
        alias = request.path_params.get("alias")
        if alias is None:
            return JSONResponse({"extensions": found})
        for ext in found:
            if ext["alias"] == alias:
                return JSONResponse({"extension": ext})
        raise CloudError(404, f"Extension with alias {alias} does not exist", "HTTPNotFound")

    async def quotas(self, request: Request) -> Response:
        with self.store.lock:
            table = quota.view(self.store, self.faults)
        if not request.url.path.endswith("/details"):
            return JSONResponse({"quota": {n: table[n]["limit"] if n in table else -1 for n in QUOTAS}})
        details = {n: {"limit": table[n]["limit"], "used": table[n]["in_use"], "reserved": 0}
                   if n in table else {"limit": -1, "used": 0, "reserved": 0} for n in QUOTAS}
        return JSONResponse({"quota": details})

    def _render(self, kind: Kind, record: Record, request: Request) -> Record:
        if kind.table == "security_groups":
            rules = self.store.find("security_group_rules", security_group_id=record["id"])
            record = {**record, "security_group_rules": rules}
        return select_fields(record, request)

    def _collection(self, kind: Kind) -> Callable[[Request], object]:
        async def handler(request: Request) -> Response:
            if request.method == "POST":
                body = await read_json(request, kind.singular)
                # Records belong to the token's project; another project's id is not honoured.
                body = {k: v for k, v in body.items() if k not in ("project_id", "tenant_id")}
                with self.store.change():
                    record = kind.create(self.store, body, self.faults)
                    return JSONResponse({kind.singular: self._render(kind, record, request)}, 201)
            with self.store.lock:
                table = self.store.table(kind.table).values()
                records = [] if is_paged(request) else filter_records(table, request)
                key = kind.collection.replace("-", "_")  # Neutron's key: "security_groups"
                return JSONResponse({key: [self._render(kind, r, request) for r in records]})
        return handler

    def _item(self, kind: Kind) -> Callable[[Request], object]:
        async def handler(request: Request) -> Response:
            item_id = request.path_params["item_id"]
            if request.method == "GET":
                with self.store.lock:
                    record = model.lookup(self.store, kind.table, item_id)
                    return JSONResponse({kind.singular: self._render(kind, record, request)})
            body = await read_json(request, kind.singular) if request.method == "PUT" else {}
            with self.store.change():
                record = model.lookup(self.store, kind.table, item_id)
                if request.method == "DELETE":
                    self._delete(kind, record)
                    return Response(status_code=204)
                self._update(kind, record, body)
                return JSONResponse({kind.singular: self._render(kind, record, request)})
        return handler

    def _update(self, kind: Kind, record: Record, body: Record) -> None:
        bad = sorted(set(body) - set(kind.updatable))
        if bad:
            raise CloudError(400, f"Cannot update read-only attribute {bad[0]}", "HTTPBadRequest")
        if kind.table == "floatingips" and "port_id" in body:
            model.associate(self.store, record, body["port_id"], body.get("fixed_ip_address"))
            body = {k: v for k, v in body.items() if k not in ("port_id", "fixed_ip_address")}
        if kind.table == "routers" and "external_gateway_info" in body:
            routers.set_gateway(self.store, record, body.pop("external_gateway_info"))
        if kind.table == "ports" and "device_id" in body:
            record["status"] = "ACTIVE" if body["device_id"] else "DOWN"
        for group in body.get("security_groups", []) if kind.table == "ports" else []:
            model.lookup(self.store, "security_groups", group)
        record.update(body)
        touch(record)

    def _delete(self, kind: Kind, record: Record) -> None:
        store, key = self.store, record["id"]
        if kind.table == "networks":
            if store.find("ports", network_id=key):
                raise CloudError(409, f"Unable to complete operation on network {key}. There are one or more "
                                      f"ports still in use on the network.", "NetworkInUse")
            for subnet_id in record["subnets"]:
                store.remove("subnets", subnet_id)
        elif kind.table == "subnets":
            if any(ip["subnet_id"] == key for p in store.table("ports").values() for ip in p["fixed_ips"]):
                raise CloudError(409, f"Unable to complete operation on subnet {key}: One or more ports have "
                                      f"an IP allocation from this subnet.", "SubnetInUse")
            network = store.get("networks", record["network_id"])
            if network and key in network["subnets"]:
                network["subnets"].remove(key)
        elif kind.table == "ports":
            for fip in store.find("floatingips", port_id=key):
                model.associate(store, fip, None)
        elif kind.table == "security_groups":
            if any(key in p["security_groups"] for p in store.table("ports").values()):
                raise CloudError(409, f"Security Group {key} in use.", "SecurityGroupInUse")
            for rule in store.find("security_group_rules", security_group_id=key):
                store.remove("security_group_rules", rule["id"])
        elif kind.table == "routers":
            routers.check_delete(store, record)
        store.remove(kind.table, key)

    async def tags(self, request: Request) -> Response:
        """The tag extension's replace-all (PUT {"tags": [...]}), list and remove-all."""
        kind = next((k for k in KINDS if k.collection == request.path_params["collection"]), None)
        if kind is None:
            raise CloudError(404, "The resource could not be found.", "HTTPNotFound")
        body = await read_json(request) if request.method == "PUT" else {}
        tags = body.get("tags")
        if request.method == "PUT" and not (isinstance(tags, list) and all(isinstance(t, str) for t in tags)):
            raise CloudError(400, "Invalid input for tags. Reason: must be a list of strings.",
                             "HTTPBadRequest")
        with self.store.change():
            record = model.lookup(self.store, kind.table, request.path_params["item_id"])
            if request.method == "GET":
                return JSONResponse({"tags": list(record.get("tags") or [])})
            record["tags"] = sorted(set(tags or []))
            touch(record)
            if request.method == "DELETE":
                return Response(status_code=204)
            return JSONResponse({"tags": record["tags"]})

    async def router_interface(self, request: Request) -> Response:
        return await routers.router_interface(self.store, self.faults, request)
