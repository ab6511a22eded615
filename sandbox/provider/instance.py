"""`openstack_compute_instance_v2`: a Nova server, with the real provider's attribute names.

Create waits for ACTIVE; a flavor change resizes and confirms in place; image, key pair, user
data, network or block device changes replace the server; a server gone from the cloud reads
as null so Terraform creates it again (drift repair).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sandbox.provider import lookup
from sandbox.provider.client import Cloud, CloudError, NotFound, wait_for, wait_gone
from sandbox.provider.framework import (
    BOOL,
    NUM,
    STR_MAP,
    Block,
    CloudResource,
    ListNestedBlock,
    Partial,
    Schema,
    State,
    Unknown,
    computed,
    known,
    optional,
    required,
    settable,
    settle,
)

BUILD_TIMEOUT = 30 * 60.0
DELETE_TIMEOUT = 30 * 60.0
RESIZE_TIMEOUT = 30 * 60.0
NO_IMAGE = "Attempt to boot from volume - no image supplied"
OPTIONAL_FIELDS = {"key_name": "key_pair", "metadata": "metadata", "availability_zone": "availability_zone",
                   "config_drive": "config_drive", "adminPass": "admin_pass", "accessIPv4": "access_ip_v4",
                   "accessIPv6": "access_ip_v6"}  # Nova's name -> the provider's
BDM_KEYS = ("uuid", "source_type", "destination_type", "volume_size", "boot_index", "delete_on_termination",
            "volume_type", "device_type", "disk_bus", "guest_format")

NETWORK = ListNestedBlock("network", Block(attributes=[
    settable("uuid", replace=True), settable("name", replace=True), settable("port", replace=True),
    settable("fixed_ip_v4", replace=True), settable("fixed_ip_v6", replace=True), computed("mac"),
    optional("access_network", BOOL),
]))
BLOCK_DEVICE = ListNestedBlock("block_device", Block(attributes=[
    optional("uuid"), required("source_type"), optional("destination_type"), optional("volume_size", NUM),
    optional("boot_index", NUM), optional("delete_on_termination", BOOL), optional("volume_type"),
    optional("device_type"), optional("disk_bus"), optional("guest_format"), optional("multiattach", BOOL),
]))


def _user_data(text: str) -> str:
    """Nova wants base64; like gophercloud, pass text that already is base64 unchanged."""
    try:
        base64.b64decode(text, validate=True)
        return text
    except (binascii.Error, ValueError):
        return base64.b64encode(text.encode()).decode()


def _boots_from_volume(planned: State) -> bool:
    return any(bd.get("boot_index") == 0 and bd.get("destination_type") == "volume"
               for bd in planned.get("block_device") or [])


def _server(cloud: Cloud, server_id: str) -> dict[str, Any]:
    return dict(cloud.get("compute", f"/servers/{server_id}")["server"])


def _fault(server: dict[str, Any]) -> str | None:
    if server.get("status") != "ERROR":
        return None
    fault = server.get("fault") or {}
    return f"Server {server.get('id')} went to ERROR: {fault.get('message') or 'no fault message'}"


class Instance(CloudResource):
    type_suffix = "compute_instance_v2"
    schema = Schema(
        attributes=[
            computed("id"), required("name"), settable("image_id", replace=True),
            settable("image_name", replace=True), settable("flavor_id"), settable("flavor_name"),
            optional("key_pair", replace=True), optional("user_data", replace=True),
            optional("metadata", STR_MAP),
            settable("availability_zone", replace=True), optional("config_drive", BOOL, replace=True),
            optional("admin_pass", sensitive=True, replace=True), optional("force_delete", BOOL),
            optional("stop_before_destroy", BOOL), settable("access_ip_v4"), settable("access_ip_v6"),
            computed("all_metadata", STR_MAP), settable("power_state"),
        ],
        block_types=[NETWORK, BLOCK_DEVICE],
    )

    @classmethod
    def replace_on(cls, prior: State, planned: State) -> list[str]:
        return [name for name in ("network", "block_device") if prior.get(name) != planned.get(name)]

    def plan(self, ctx: Any, current: State | None, planned: State) -> State:
        changed = ctx.changed_fields
        if "flavor_name" in changed and "flavor_id" not in changed:
            planned["flavor_id"] = Unknown
        if "flavor_id" in changed and "flavor_name" not in changed:
            planned["flavor_name"] = Unknown
        if "metadata" in changed:
            planned["all_metadata"] = Unknown
        return planned

    # ---- create ----
    def _create(self, planned: State) -> State:
        cloud = self.cloud
        flavor_id = self._flavor_id(planned)
        body: dict[str, Any] = {"name": planned["name"], "flavorRef": flavor_id}
        image_id = None
        if not _boots_from_volume(planned):
            image_id = planned.get("image_id") if known(planned.get("image_id")) else None
            if image_id is None and known(planned.get("image_name")):
                image_id = lookup.image_id_by_name(cloud, planned["image_name"])
            if image_id is None:
                raise CloudError("Either image_id or image_name is required unless booting from a volume")
            body["imageRef"] = image_id
        networks = [self._network_request(n) for n in planned.get("network") or []]
        if networks:
            body["networks"] = networks
        devices = [{k: bd[k] for k in BDM_KEYS if bd.get(k) is not None}
                   for bd in planned.get("block_device") or []]
        if devices:
            body["block_device_mapping_v2"] = devices
        for api_name, name in OPTIONAL_FIELDS.items():
            if known(planned.get(name)):
                body[api_name] = planned[name]
        if known(planned.get("user_data")):
            body["user_data"] = _user_data(planned["user_data"])
        server_id = cloud.post("compute", "/servers", {"server": body})["server"]["id"]
        state = {**planned, "id": server_id, "flavor_id": flavor_id}
        try:
            server = wait_for(f"server {server_id} to become ACTIVE", lambda: _server(cloud, server_id),
                              lambda s: s.get("status") == "ACTIVE", BUILD_TIMEOUT, _fault)
        except CloudError as exc:
            raise Partial(state, exc) from exc
        return self._settled(state, server, image_id)

    def _settled(self, state: State, server: dict[str, Any], image_id: str | None) -> State:
        observed = self._observed(server, state, image_id)
        return {**settle(state, observed), "network": observed["network"]}

    def _flavor_id(self, planned: State) -> str:
        if known(planned.get("flavor_id")):
            return str(planned["flavor_id"])
        if known(planned.get("flavor_name")):
            return lookup.flavor_id_by_name(self.cloud, planned["flavor_name"])
        raise CloudError("Either flavor_id or flavor_name is required")

    def _network_request(self, block: State) -> dict[str, Any]:
        if known(block.get("port")):
            return {"port": block["port"]}
        uuid = block.get("uuid") if known(block.get("uuid")) else None
        if uuid is None and known(block.get("name")):
            uuid = lookup.find_network(self.cloud, name=block["name"])["id"]
        if uuid is None:
            raise CloudError("A network block needs one of uuid, name or port")
        request = {"uuid": uuid}
        if known(block.get("fixed_ip_v4")):
            request["fixed_ip"] = block["fixed_ip_v4"]
        return request

    # ---- what the cloud says ----
    def _observed(self, server: dict[str, Any], state: State, image_id: str | None) -> State:
        flavor = server.get("flavor") or {}
        flavor_id = flavor.get("id") or state.get("flavor_id")
        flavor_name = flavor.get("original_name") or self._flavor_name(str(flavor_id), state)
        image = server.get("image") or {}
        if _boots_from_volume(state):
            image_id = NO_IMAGE
        elif isinstance(image, dict) and image.get("id"):
            image_id = str(image["id"])
        blocks = [self._network_state(server, block) for block in state.get("network") or []]
        access = server.get("accessIPv4") or next(
            (b["fixed_ip_v4"] for b in blocks if b.get("access_network") and b.get("fixed_ip_v4")),
            next((b["fixed_ip_v4"] for b in blocks if b.get("fixed_ip_v4")), ""))
        observed = {
            "id": server["id"], "name": server.get("name"), "flavor_id": flavor_id,
            "flavor_name": flavor_name,
            "image_id": image_id, "all_metadata": server.get("metadata") or {}, "access_ip_v4": access,
            "access_ip_v6": server.get("accessIPv6") or "", "network": blocks,
            "availability_zone": server.get("OS-EXT-AZ:availability_zone") or "",
            "power_state": str(server.get("status", "")).lower(),
        }
        if image_id and image_id != NO_IMAGE and not known(state.get("image_name")):
            observed["image_name"] = self._image_name(image_id)
        return observed

    def _flavor_name(self, flavor_id: str, state: State) -> Any:
        try:
            return lookup.flavor_by_id(self.cloud, flavor_id).get("name")
        except NotFound:  # a flavor deleted since: the server keeps running on it
            return state.get("flavor_name") if known(state.get("flavor_name")) else ""

    def _image_name(self, image_id: str) -> str:
        try:
            return str(self.cloud.get("image", f"/images/{image_id}").get("name") or "")
        except NotFound:
            return ""

    def _network_state(self, server: dict[str, Any], block: State) -> State:
        cloud = self.cloud
        mac = fixed4 = fixed6 = None
        network_id = block.get("uuid") if known(block.get("uuid")) else None
        if known(block.get("port")):
            port = cloud.get("network", f"/ports/{block['port']}")["port"]
            network_id, mac = port.get("network_id"), port.get("mac_address")
            ips = [ip.get("ip_address", "") for ip in port.get("fixed_ips") or []]
            fixed4 = next((ip for ip in ips if ":" not in ip), None)
            fixed6 = next((ip for ip in ips if ":" in ip), None)
        name = block.get("name") if known(block.get("name")) else None
        if network_id and not name:
            name = lookup.network_by_id(cloud, str(network_id)).get("name")
        elif name and not network_id:
            network_id = lookup.find_network(cloud, name=name)["id"]
        for address in (server.get("addresses") or {}).get(name or "", []):
            if address.get("OS-EXT-IPS:type", "fixed") != "fixed":
                continue
            if mac and address.get("OS-EXT-IPS-MAC:mac_addr") not in (None, mac):
                continue
            mac = mac or address.get("OS-EXT-IPS-MAC:mac_addr")
            if address.get("version") == 6:
                fixed6 = fixed6 or address.get("addr")
            else:
                fixed4 = fixed4 or address.get("addr")
        observed = {"uuid": network_id, "name": name, "port": block.get("port"), "fixed_ip_v4": fixed4 or "",
                    "fixed_ip_v6": fixed6 or "", "mac": mac or ""}
        return {**block, **{k: v for k, v in observed.items() if not known(block.get(k)) or k == "mac"}}

    # ---- read / update / delete ----
    def _read(self, current: State) -> State | None:
        try:
            server = _server(self.cloud, current["id"])
        except NotFound:
            return None  # gone: Terraform plans to create it again
        if server.get("status") in ("DELETED", "SOFT_DELETED"):
            return None
        observed = self._observed(server, current, current.get("image_id"))
        if server.get("key_name") or current.get("key_pair"):
            observed["key_pair"] = server.get("key_name") or None
        if current.get("image_id") == NO_IMAGE or not known(observed.get("image_id")):
            observed["image_id"] = current.get("image_id")
        return {**current, **observed}

    def _update(self, current: State, planned: State) -> State:
        cloud, server_id = self.cloud, current["id"]
        state = {**planned, "id": server_id}
        if planned["name"] != current.get("name"):
            cloud.put("compute", f"/servers/{server_id}", {"server": {"name": planned["name"]}})
        if planned.get("metadata") != current.get("metadata"):
            metadata = {"metadata": planned.get("metadata") or {}}
            cloud.put("compute", f"/servers/{server_id}/metadata", metadata)
        flavor_id = self._flavor_id(planned)
        if flavor_id != current.get("flavor_id"):
            self._resize(server_id, flavor_id, current)
        state["flavor_id"] = flavor_id
        return self._settled(state, _server(cloud, server_id), current.get("image_id"))

    def _resize(self, server_id: str, flavor_id: str, current: State) -> None:
        cloud = self.cloud
        cloud.post("compute", f"/servers/{server_id}/action", {"resize": {"flavorRef": flavor_id}})
        try:
            def resized(s: dict[str, Any]) -> bool:  # some clouds confirm by themselves
                now_active = s.get("status") == "ACTIVE" and (s.get("flavor") or {}).get("id") == flavor_id
                return s.get("status") == "VERIFY_RESIZE" or now_active

            server = wait_for(f"server {server_id} to resize", lambda: _server(cloud, server_id), resized,
                              RESIZE_TIMEOUT, _fault)
            if server.get("status") == "VERIFY_RESIZE":
                cloud.post("compute", f"/servers/{server_id}/action", {"confirmResize": None})
                wait_for(f"server {server_id} to confirm its resize", lambda: _server(cloud, server_id),
                         lambda s: s.get("status") == "ACTIVE", RESIZE_TIMEOUT, _fault)
        except CloudError as exc:
            raise Partial(current, exc) from exc

    def _delete(self, current: State) -> None:
        cloud, server_id = self.cloud, current["id"]
        cloud.delete("compute", f"/servers/{server_id}")
        wait_gone(f"server {server_id} to be deleted", lambda: _server(cloud, server_id),
                  lambda s: s.get("status") in ("DELETED", "SOFT_DELETED"), DELETE_TIMEOUT, _fault)
