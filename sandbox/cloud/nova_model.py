"""Nova's servers as data: lookups, the lazily computed status (BUILD -> ACTIVE after the boot
delay), creation with ports and boot volumes, deletion, quota errors and the API view of a server."""

from __future__ import annotations

import hashlib
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sandbox.cloud import cinder, cinder_quota, cinder_types, quota
from sandbox.cloud import neutron_model as neutron
from sandbox.cloud.faults import Faults
from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record, iso, links, microversion, new_id

V21 = "/compute/v2.1"
MIN_VERSION, MAX_VERSION = "2.1", "2.96"
# status -> (vm_state, task_state, power_state)
STATES = {
    "ACTIVE": ("active", None, 1), "BUILD": ("building", "spawning", 0), "SHUTOFF": ("stopped", None, 4),
    "RESIZE": ("active", "resize_migrating", 1), "VERIFY_RESIZE": ("resized", None, 1),
    "REVERT_RESIZE": ("resized", "resize_reverting", 1), "REBOOT": ("active", "rebooting", 1),
    "HARD_REBOOT": ("active", "rebooting_hard", 1), "ERROR": ("error", None, 0),
    "REBUILD": ("active", "rebuilding", 0),
}


def version(request: Request) -> tuple[int, int]:
    return microversion(request, "compute", MIN_VERSION, MAX_VERSION)


def reply(request: Request, body: object, status: int = 200) -> Response:
    """JSON with the microversion headers Nova sends back."""
    major, minor = version(request)
    headers = {"OpenStack-API-Version": f"compute {major}.{minor}",
               "X-OpenStack-Nova-API-Version": f"{major}.{minor}",
               "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"}
    if body is None:
        return Response(status_code=status, headers=headers)
    return JSONResponse(body, status, headers)


def lookup(store: Store, server_id: str) -> Record:
    server = store.get("servers", server_id)
    if server is None:
        raise CloudError(404, f"Instance {server_id} could not be found.")
    return server


def find_flavor(store: Store, ref: Any) -> Record | None:
    key = str(ref or "").rstrip("/").rsplit("/", 1)[-1]
    return store.get("flavors", key)


def check_image(store: Store, image_id: str) -> Record:
    """The image a server boots from: it must exist and be active (not queued, not deactivated)."""
    image = store.get("images", image_id)
    if image is None:
        raise CloudError(400, f"Image {image_id} could not be found.")
    if image["status"] != "active":
        raise CloudError(400, f"Image {image_id} is not active.")
    return image


def root_volume(store: Store, server: Record) -> Record | None:
    """The boot volume of a volume-backed server (None when it boots from a local disk)."""
    if server["image_id"]:
        return None
    entry = next((v for v in server["volumes"] if v["boot_index"] == 0), None)
    return store.get("volumes", entry["volume_id"]) if entry else None


def status_of(server: Record, now: float | None = None) -> str:
    """The transitional status until its deadline, then the settled one (no background task needed)."""
    pending = server.get("pending")
    if pending and (now or time.time()) < pending["until"]:
        return str(pending["status"])
    return str(server["status"])


def set_pending(server: Record, status: str, settled: str, delay: float) -> None:
    pending = {"status": status, "until": time.time() + delay}
    server.update(status=settled, pending=pending, updated=time.time())


def require_status(server: Record, action: str, allowed: tuple[str, ...]) -> str:
    """Nova's 409 for an action the server's current state does not allow."""
    status = status_of(server)
    if status not in allowed:
        vm_state, task_state, _ = STATES[status]
        # Nova checks the vm_state first, then that no task is running.
        wrong_vm_state = vm_state not in {STATES[s][0] for s in allowed}
        attr, state = (("vm_state", vm_state) if wrong_vm_state or not task_state
                       else ("task_state", task_state))
        raise CloudError(409, f"Cannot '{action}' instance {server['id']} while it is in {attr} {state}")
    return status


def compute_quota_error(store: Store, faults: Faults, requested: dict[str, int]) -> None:
    """403 `Quota exceeded for cores: Requested 4, but already used 62 of 64 cores`, as Nova says it."""
    over = quota.overs(store, faults, requested)
    if over:
        names = ", ".join(o.name for o in over)
        requested_, used, limits = (", ".join(str(getattr(o, k)) for o in over)
                                    for k in ("requested", "used", "limit"))
        raise CloudError(403, f"Quota exceeded for {names}: Requested {requested_}, but already used {used} "
                              f"of {limits} {names}")


def next_device(store: Store, server: Record) -> str:
    taken = {v["device"] for v in server["volumes"]}
    if server["image_id"]:
        taken.add("/dev/vda")  # the local root disk
    for letter in "abcdefghijklmnopqrstuvwxyz":
        if f"/dev/vd{letter}" not in taken:
            return f"/dev/vd{letter}"
    raise CloudError(400, "No free device name left on the server.")


def attach_volume(store: Store, server: Record, volume: Record, device: str | None = None,
                  delete_on_termination: bool = False, boot_index: int | None = None) -> Record:
    device = device or next_device(store, server)
    attachment_id = new_id()
    cinder.attach(volume, server["id"], device, attachment_id)
    entry = {"volume_id": volume["id"], "device": device, "attachment_id": attachment_id,
             "delete_on_termination": delete_on_termination, "boot_index": boot_index, "tag": None}
    server["volumes"].append(entry)
    return entry


def _volume_requests(store: Store, server: Record) -> list[Record]:
    """Validate block_device_mapping_v2 into {volume | new volume body, boot_index, delete_on_termination}."""
    result = []
    for index, bdm in enumerate(server.pop("bdms", None) or []):
        if not isinstance(bdm, dict):
            raise CloudError(400, f"Invalid block_device_mapping_v2[{index}]: expected an object")
        source, dest = bdm.get("source_type"), bdm.get("destination_type", "volume")
        if source not in ("image", "volume", "blank"):
            raise CloudError(400, f"Invalid block_device_mapping_v2[{index}]: source_type must be one of "
                                  f"image, volume, blank, got {source!r}")
        if dest == "local":
            continue  # the image on the local disk: the same as imageRef
        boot = bdm.get("boot_index")
        boot_index = int(boot) if boot not in (None, "", "none") else None
        entry: Record = {"boot_index": boot_index,
                         "delete_on_termination": bool(bdm.get("delete_on_termination", False))}
        if source == "volume":
            entry["volume"] = cinder.lookup(store, str(bdm.get("uuid")))
            if entry["volume"]["status"] != "available":
                raise CloudError(400, f"Invalid volume: volume {bdm.get('uuid')} status must be 'available'")
        else:
            size = int(bdm.get("volume_size") or 0)
            if size < 1:
                raise CloudError(400, f"Images with destination_type 'volume' need to have a non-zero size "
                                      f"specified (block_device_mapping_v2[{index}])")
            entry["new"] = {"size": size, "name": ""}
            if bdm.get("volume_type"):
                entry["new"]["volume_type"] = _volume_type(store, str(bdm["volume_type"]))
            if source == "image":
                entry["new"]["imageRef"] = check_image(store, str(bdm.get("uuid")))["id"]
        result.append(entry)
    return result


def _volume_type(store: Store, ref: str) -> str:
    try:
        return str(cinder_types.find_type(store, ref)["id"])
    except CloudError as exc:
        raise CloudError(400, f"Volume type {ref} could not be found.") from exc


def build(store: Store, faults: Faults, server: Record, networks: list[Record], group_ids: list[str]) -> None:
    """Attach networks and volumes to a new server record (checked by the caller) and store it.
    A Cinder quota failure leaves the server in ERROR with a fault, as Nova's compute does."""
    requests = _volume_requests(store, server)
    new = [r["new"] for r in requests if "new" in r]
    store.put("servers", server)
    try:
        for kind in {str(n.get("volume_type") or "") for n in new}:  # each type's quota, then the total
            typed = [n["size"] for n in new if str(n.get("volume_type") or "") == kind]
            cinder_quota.check_quota(store, faults, len(typed), sum(typed),
                                     cinder_types.find_type(store, kind) if kind else None)
        if new:
            cinder_quota.check_quota(store, faults, len(new), sum(n["size"] for n in new))
    except CloudError as exc:
        server["fault"] = {"code": 500, "created": iso(time.time()),
                           "message": f"Build of instance {server['id']} aborted: {exc.message}"}
        set_pending(server, "BUILD", "ERROR", faults.boot_delay)
        return
    for net in networks:
        if "port" in net:
            port = neutron.lookup(store, "ports", net["port"])
            port.update(device_id=server["id"], device_owner="compute:nova", status="ACTIVE")
        else:
            body = {"network_id": net["uuid"], "device_id": server["id"], "device_owner": "compute:nova",
                    "security_groups": group_ids}
            if net.get("fixed_ip"):
                body["fixed_ips"] = [{"ip_address": net["fixed_ip"]}]
            try:
                port = neutron.new_port(store, body, faults)
            except CloudError as exc:
                if exc.kind == "OverQuota":
                    raise CloudError(403, "Maximum number of ports exceeded") from exc
                raise
            server["own_ports"].append(port["id"])
        server["ports"].append(port["id"])
    for request in sorted(requests, key=lambda r: (r["boot_index"] is None, r["boot_index"] or 0)):
        volume = request.get("volume") or cinder.new_volume(store, faults, request["new"])
        device = "/dev/vda" if request["boot_index"] == 0 else None
        attach_volume(store, server, volume, device, request["delete_on_termination"], request["boot_index"])
    set_pending(server, "BUILD", "ACTIVE", faults.boot_delay)


def destroy(store: Store, server: Record) -> None:
    """Delete a server: detach (or delete) its volumes, free or delete its ports."""
    for entry in server["volumes"]:
        volume = store.get("volumes", entry["volume_id"])
        if volume is not None:
            cinder.detach(volume)
            if entry["delete_on_termination"]:
                store.remove("volumes", volume["id"])
    for port_id in server["ports"]:
        port = store.get("ports", port_id)
        if port is None:
            continue
        if port_id in server["own_ports"]:
            for fip in store.find("floatingips", port_id=port_id):
                neutron.associate(store, fip, None)
            store.remove("ports", port_id)
        else:
            port.update(device_id="", device_owner="", status="DOWN")
    store.remove("servers", server["id"])


def addresses(store: Store, server: Record) -> dict[str, list[Record]]:
    """{network name: [fixed IPs, then floating IPs of the port]}."""
    result: dict[str, list[Record]] = {}
    for port_id in server["ports"]:
        port = store.get("ports", port_id)
        if port is None:
            continue
        network = store.get("networks", port["network_id"]) or {"name": port["network_id"]}
        entries = result.setdefault(network["name"], [])
        base = {"version": 4, "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]}
        entries.extend({**base, "addr": ip["ip_address"], "OS-EXT-IPS:type": "fixed"}
                       for ip in port["fixed_ips"])
        entries.extend({**base, "addr": fip["floating_ip_address"], "OS-EXT-IPS:type": "floating"}
                       for fip in store.find("floatingips", port_id=port_id))
    return result


def render_flavor_ref(flavor: Record, version: tuple[int, int]) -> Record:
    if version >= (2, 47):
        return {"vcpus": flavor["vcpus"], "ram": flavor["ram"], "disk": flavor["disk"],
                "ephemeral": flavor["ephemeral"], "swap": flavor["swap"], "original_name": flavor["name"],
                "extra_specs": flavor["extra_specs"]}
    return {"id": flavor["id"], "links": [{"rel": "bookmark", "href": f"/flavors/{flavor['id']}"}]}


def render_server(store: Store, server: Record, request: Request) -> Record:
    status = status_of(server)
    vm_state, task_state, power_state = STATES[status]
    addrs = addresses(store, server)
    image_links = [{"rel": "bookmark", "href": f"/images/{server['image_id']}"}]
    image: Any = {"id": server["image_id"], "links": image_links} if server["image_id"] else ""
    body: Record = {
        "id": server["id"], "name": server["name"], "status": status, "tenant_id": store.project_id,
        "user_id": store.identity["user_id"], "metadata": server["metadata"],
        "hostId": hashlib.sha224(f"{store.project_id}sandbox-host".encode()).hexdigest(),
        "image": image, "flavor": render_flavor_ref(server["flavor"], version(request)),
        "created": iso(server["created"]), "updated": iso(server["updated"]), "addresses": addrs,
        "accessIPv4": server["access_ipv4"], "accessIPv6": "",  # only what the user set, as in Nova
        "links": links(request, f"{V21}/servers/{server['id']}"),
        "OS-DCF:diskConfig": "MANUAL", "progress": 0 if status == "BUILD" else 100,
        "OS-EXT-AZ:availability_zone": "nova", "config_drive": "", "key_name": server["key_name"],
        "OS-SRV-USG:launched_at": None if status == "BUILD" else iso(server["created"], micro=True),
        "OS-SRV-USG:terminated_at": None, "security_groups": [{"name": n} for n in server["security_groups"]],
        "OS-EXT-STS:vm_state": vm_state, "OS-EXT-STS:task_state": task_state,
        "OS-EXT-STS:power_state": power_state,
        "os-extended-volumes:volumes_attached": [{"id": v["volume_id"],
                                                  "delete_on_termination": v["delete_on_termination"]}
                                                 for v in server["volumes"]],
        "locked": False, "locked_reason": None, "description": server["description"], "tags": [],
        "trusted_image_certificates": None, "server_groups": [],
    }
    if status == "ERROR" and server.get("fault"):
        body["fault"] = server["fault"]
    return body
