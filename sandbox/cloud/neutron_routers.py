"""Neutron routers for the sandbox: create with a gateway on an external network (it takes an
address there), change or clear the gateway, add and remove interfaces on subnets. Floating IPs
reach a port only through such a router (neutron_model.reachable_router)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.cloud import neutron_model as model
from sandbox.cloud import neutron_records as records
from sandbox.cloud.faults import Faults
from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record, read_json


def gateway_info(store: Store, body: object) -> Record | None:
    """`external_gateway_info` as Neutron shows it, with an address taken on the external network."""
    if not body:
        return None
    if not isinstance(body, dict):
        raise CloudError(400, f"Invalid input for external_gateway_info. Reason: {body!r} is not a dict.",
                         "HTTPBadRequest")
    network = model.lookup(store, "networks", body.get("network_id"))
    if not network["router:external"]:
        raise CloudError(400, f"Bad router request: Network {network['id']} is not an external network.",
                         "BadRequest")
    fixed = []
    if network["subnets"]:
        subnet = model.lookup(store, "subnets", network["subnets"][0])
        fixed = [{"subnet_id": subnet["id"], "ip_address": model.allocate_ip(store, subnet)}]
    return {"network_id": network["id"], "enable_snat": bool(body.get("enable_snat", True)),
            "external_fixed_ips": fixed}


def new_router(store: Store, body: Record, faults: Faults | None) -> Record:
    model.check_quota(store, faults, router=1)
    gateway = gateway_info(store, body.get("external_gateway_info"))
    return store.put("routers", records.router_record(body, store.project_id, gateway))


def _fip_needs(store: Store, router: Record, subnet_ids: list[str]) -> bool:
    for fip in store.find("floatingips", router_id=router["id"]):
        port = store.get("ports", str(fip["port_id"])) or {"fixed_ips": []}
        if any(ip["subnet_id"] in subnet_ids for ip in port["fixed_ips"]):
            return True
    return False


def set_gateway(store: Store, router: Record, body: object) -> None:
    """PUT external_gateway_info: refused while floating IPs go through the current gateway."""
    current = router.get("external_gateway_info") or {}
    if current and isinstance(body, dict) and body.get("network_id") == current["network_id"]:
        current["enable_snat"] = bool(body.get("enable_snat", current["enable_snat"]))
        return
    if current and (not body or (isinstance(body, dict) and body.get("network_id") != current["network_id"])):
        if store.find("floatingips", router_id=router["id"]):
            raise CloudError(409, f"Gateway cannot be updated for router {router['id']}, since a gateway to "
                                  f"external network {current['network_id']} is required by one or more "
                                  f"floating IPs.", "RouterExternalGatewayInUseByFloatingIp")
    router["external_gateway_info"] = None  # its address is free again before a new one is taken
    router["external_gateway_info"] = gateway_info(store, body)


def _add_interface(store: Store, faults: Faults, router: Record, body: Record) -> Record:
    if body.get("port_id"):
        port = model.lookup(store, "ports", body["port_id"])
        if port["device_id"]:
            raise CloudError(409, f"Port {port['id']} is in use by another device.", "PortInUse")
    else:
        subnet = model.lookup(store, "subnets", body.get("subnet_id"))
        if not subnet["gateway_ip"]:
            raise CloudError(400, f"Bad router request: Subnet {subnet['id']} does not have a gateway IP.",
                             "BadRequest")
        for other in store.find("ports", device_id=router["id"], device_owner=records.ROUTER_INTERFACE):
            if any(ip["subnet_id"] == subnet["id"] for ip in other["fixed_ips"]):
                raise CloudError(400, f"Bad router request: Router already has a port on subnet "
                                      f"{subnet['id']}.", "BadRequest")
        fixed = [{"subnet_id": subnet["id"], "ip_address": subnet["gateway_ip"]}]
        body = {"network_id": subnet["network_id"], "security_groups": [], "fixed_ips": fixed}
        port = model.new_port(store, body, faults)
    port.update(device_id=router["id"], device_owner=records.ROUTER_INTERFACE, status="ACTIVE")
    return port


def _remove_interface(store: Store, router: Record, body: Record) -> Record:
    ports = [p for p in store.find("ports", device_id=router["id"], device_owner=records.ROUTER_INTERFACE)
             if p["id"] == body.get("port_id") or any(
                 ip["subnet_id"] == body.get("subnet_id") for ip in p["fixed_ips"])]
    if not ports:
        wanted = body.get("port_id") or body.get("subnet_id")
        raise CloudError(404, f"Router {router['id']} does not have an interface with id {wanted}",
                         "RouterInterfaceNotFound")
    port = ports[0]
    subnet_ids = [ip["subnet_id"] for ip in port["fixed_ips"]]
    if _fip_needs(store, router, subnet_ids):
        raise CloudError(409, f"Router interface for subnet {subnet_ids[0]} on router {router['id']} cannot "
                              f"be deleted, as it is required by one or more floating IPs.",
                         "RouterInterfaceInUseByFloatingIP")
    store.remove("ports", port["id"])
    return port


async def router_interface(store: Store, faults: Faults, request: Request) -> Response:
    """PUT /routers/{id}/add_router_interface and .../remove_router_interface."""
    verb = request.path_params["verb"]
    if verb not in ("add_router_interface", "remove_router_interface"):
        raise CloudError(404, "The resource could not be found.", "HTTPNotFound")
    body = await read_json(request)
    with store.change():
        router = model.lookup(store, "routers", request.path_params["item_id"])
        if verb == "add_router_interface":
            port = _add_interface(store, faults, router, body)
        else:
            port = _remove_interface(store, router, body)
        subnet_ids = [ip["subnet_id"] for ip in port["fixed_ips"]]
        return JSONResponse({"id": router["id"], "tenant_id": router["tenant_id"], "port_id": port["id"],
                             "network_id": port["network_id"], "subnet_ids": subnet_ids,
                             "subnet_id": subnet_ids[0] if subnet_ids else None})


def check_delete(store: Store, router: Record) -> None:
    if store.find("ports", device_id=router["id"]):
        raise CloudError(409, f"Router {router['id']} still has ports", "RouterInUse")
