"""`openstack_compute_instance_v2` as terraform-provider-openstack 3.4 plans and applies it.

In place: name, metadata, admin_pass, power_state (default "active": a server stopped by hand is
started), flavor (resize and confirm), image_id/image_name (rebuild: the root disk is re-imaged,
the server id stays). Replaced: key_pair, user_data, config_drive,
availability_zone, network and block_device changes, and a flavor the operator deleted (read as
"", then CustomizeDiff forces a new server). Every read refreshes image_name from Glance.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sandbox.provider import instance_actions as act
from sandbox.provider import instance_read as read
from sandbox.provider.client import CloudError, NotFound, wait_for, wait_gone
from sandbox.provider.framework import (
    BOOL,
    NUM,
    STR_MAP,
    Block,
    CloudResource,
    ListNestedBlock,
    Partial,
    Path,
    Schema,
    State,
    computed,
    known,
    optional,
    region,
    required,
    settable,
)

BUILD_TIMEOUT = DELETE_TIMEOUT = 30 * 60.0
POWER_CHOICES = ("active", "shutoff", "shelved_offloaded", "paused")
BDM_KEYS = ("uuid", "volume_size", "boot_index", "delete_on_termination", "guest_format", "volume_type",
            "device_type", "disk_bus", "source_type", "destination_type")
VOLUME_TYPE_VERSION, MULTIATTACH_VERSION = "2.67", "2.60"


NETWORK = ListNestedBlock("network", Block(attributes=[
    settable("uuid", force_new=True), settable("name", force_new=True), settable("port", force_new=True),
    settable("fixed_ip_v4", force_new=True), settable("fixed_ip_v6", force_new=True), computed("mac"),
    optional("access_network", BOOL, default=False),
]), force_new=True)
BLOCK_DEVICE = ListNestedBlock("block_device", Block(attributes=[
    required("source_type", force_new=True), optional("uuid", force_new=True),
    optional("volume_size", NUM, force_new=True), optional("destination_type", force_new=True),
    optional("boot_index", NUM, force_new=True),
    optional("delete_on_termination", BOOL, force_new=True, default=False),
    optional("guest_format", force_new=True), optional("volume_type", force_new=True),
    optional("device_type", force_new=True), optional("disk_bus", force_new=True),
    optional("multiattach", BOOL, force_new=True, default=False),
]))


def _microversion(version: str) -> dict[str, str]:
    """gophercloud's headers for a compute microversion."""
    return {"X-OpenStack-Nova-API-Version": version, "OpenStack-API-Version": f"compute {version}"}


def _block_devices(planned: State) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """block_device_mapping_v2 as gophercloud sends it (boot_index and delete_on_termination always)."""
    devices: list[dict[str, Any]] = []
    headers: dict[str, str] = {}
    for bd in planned.get("block_device") or []:
        device = {k: bd.get(k) for k in BDM_KEYS if bd.get(k) not in (None, "", 0)}
        device.update(boot_index=bd.get("boot_index") or 0,
                      delete_on_termination=bool(bd.get("delete_on_termination")))
        if bd.get("source_type") != "blank" and not bd.get("uuid"):
            raise CloudError(f"You must specify a uuid for {bd.get('source_type')} block device types")
        from_image = bd.get("source_type") == "image" and bd.get("destination_type") == "volume"
        if from_image and not bd.get("volume_size"):
            raise CloudError("You must specify a volume_size when creating a volume from an image")
        headers = _microversion(MULTIATTACH_VERSION) if bd.get("multiattach") else headers
        headers = _microversion(VOLUME_TYPE_VERSION) if bd.get("volume_type") else headers
        devices.append(device)
    return devices, headers


class Instance(CloudResource):
    type_suffix = "compute_instance_v2"
    schema = Schema(
        attributes=[
            settable("id"), region(), required("name"), settable("image_id"), settable("image_name"),
            settable("flavor_id"), settable("flavor_name"),
            optional("user_data", force_new=True),
            settable("availability_zone", force_new=True), optional("metadata", STR_MAP),
            optional("config_drive", BOOL, force_new=True), optional("admin_pass", sensitive=True),
            computed("access_ip_v4"), computed("access_ip_v6"), optional("key_pair", force_new=True),
            optional("stop_before_destroy", BOOL, default=False),
            optional("force_delete", BOOL, default=False),
            computed("all_metadata", STR_MAP), optional("power_state", default="active"), computed("created"),
            computed("updated"),
        ],
        block_types=[NETWORK, BLOCK_DEVICE],
    )

    @classmethod
    def customize_diff(cls, prior: State, planned: State) -> list[Path]:
        """The real CustomizeDiff and DiffSuppressFunc: a flavor read as "" (deleted by the
        operator) cannot be resized away from, so a new flavor forces a new server; an instance
        in error or migrating shows no power_state change; one still building, no network change."""
        if prior.get("power_state") in ("error", "migrating"):
            planned["power_state"] = prior["power_state"]
        if prior.get("power_state") == "build":
            planned["network"] = prior.get("network")
        return [(key,) for key in ("flavor_id", "flavor_name")
                if prior.get(key) == "" and planned.get(key) not in ("", None)]

    def validate(self, diags: Any, type_name: str, config: State) -> None:
        super().validate(diags, type_name, config)
        state = config.get("power_state")
        if isinstance(state, str) and state.lower() not in POWER_CHOICES:
            choices = " ".join(f'"{c}"' for c in POWER_CHOICES)
            diags.add_error(f"expected power_state to be one of [{choices}], got {state}",
                            path=["power_state"])

    # ---- create ----
    def _image_id(self, planned: State) -> str:
        """getImageIDFromConfig: none when booting from a volume; the image_id; the one image of
        that image_name (two images of one name fail, as the real provider does)."""
        if not read.needs_image(planned):
            return ""
        if known(planned.get("image_id")) and planned["image_id"]:
            return str(planned["image_id"])
        if known(planned.get("image_name")) and planned["image_name"]:
            return act.image_id_from_name(self.cloud, "image", planned["image_name"])
        raise CloudError("Neither a boot device, image ID, or image name were able to be determined")

    def _flavor_id(self, planned: State) -> str:
        if known(planned.get("flavor_id")) and planned["flavor_id"]:
            return str(planned["flavor_id"])
        if known(planned.get("flavor_name")) and planned["flavor_name"]:
            return act.flavor_id_from_name(self.cloud, planned["flavor_name"])
        raise CloudError("Neither a flavor_id or flavor_name could be determined")

    def _create_body(self, planned: State) -> tuple[dict[str, Any], dict[str, str]]:
        networks = [{k: n[k] for k in ("uuid", "port", "fixed_ip") if n[k]}
                    for n in read.instance_networks(self.cloud, planned)]
        body: dict[str, Any] = {"name": planned["name"], "imageRef": self._image_id(planned),
                                "flavorRef": self._flavor_id(planned),
                                "config_drive": bool(planned.get("config_drive")),
                                "user_data": _user_data(planned.get("user_data") or "")}
        optional_fields = {"availability_zone": planned.get("availability_zone"), "networks": networks,
                           "metadata": planned.get("metadata"), "adminPass": planned.get("admin_pass"),
                           "key_name": planned.get("key_pair")}
        body.update({k: v for k, v in optional_fields.items() if known(v) and v})
        devices, headers = _block_devices(planned)
        if devices:
            body["block_device_mapping_v2"] = devices
        return body, headers

    def _create(self, planned: State) -> State:
        cloud = self.cloud
        body, headers = self._create_body(planned)
        answer = cloud.post("compute", "/servers", {"server": body}, headers=headers or None)
        server_id = answer["server"]["id"]
        state = {**planned, "id": server_id}
        try:
            wait_for(f"instance ({server_id}) to become ready", lambda: read.get_server(cloud, server_id),
                     lambda s: s.get("status") == "ACTIVE", BUILD_TIMEOUT, _fault)
            if str(planned.get("power_state")).lower() == "shutoff":
                act.action(cloud, server_id, {"os-stop": None})
                act.wait_status(cloud, server_id, ["SHUTOFF"], what="become inactive(shutoff)")
        except CloudError as exc:
            raise Partial(state, exc) from exc
        return self._observed(state)

    def _observed(self, state: State) -> State:
        server = read.get_server(self.cloud, state["id"])
        return read.observe(self.cloud, server, state, self.region(state))

    # ---- read / update / delete ----
    def _read(self, current: State) -> State | None:
        try:
            server = read.get_server(self.cloud, current["id"])
        except NotFound:
            return None  # gone: Terraform plans to create it again
        if server.get("status") in ("DELETED", "SOFT_DELETED"):
            return None
        return read.observe(self.cloud, server, current, self.region(current))

    def _update(self, current: State, planned: State) -> State:
        cloud, server_id = self.cloud, current["id"]
        state = {**planned, "id": server_id}
        try:
            if planned.get("name") != current.get("name"):
                cloud.put("compute", f"/servers/{server_id}", {"server": {"name": planned["name"]}})
            if planned.get("power_state") != current.get("power_state"):
                old, new = (str(s.get("power_state") or "") for s in (current, planned))
                act.change_power(cloud, server_id, old, new, str(current.get("availability_zone") or ""))
            if (planned.get("metadata") or {}) != (current.get("metadata") or {}):
                act.update_metadata(cloud, server_id, current.get("metadata") or {},
                                    planned.get("metadata") or {})
            if planned.get("admin_pass") != current.get("admin_pass") and planned.get("admin_pass"):
                act.action(cloud, server_id, {"changePassword": {"adminPass": planned["admin_pass"]}})
            if any(planned.get(k) != current.get(k) for k in ("flavor_id", "flavor_name")):
                act.resize(cloud, server_id, self._new_flavor_id(current, planned))
            if any(planned.get(k) != current.get(k) for k in ("image_id", "image_name")):
                act.rebuild(cloud, server_id, act.rebuild_image_id(cloud, current, planned))
        except CloudError as exc:
            raise Partial(current, exc) from exc
        return self._observed(state)

    def _new_flavor_id(self, current: State, planned: State) -> str:
        if planned.get("flavor_id") != current.get("flavor_id"):
            return str(planned.get("flavor_id") or "")
        return act.flavor_id_from_name(self.cloud, str(planned.get("flavor_name") or ""))

    def _delete(self, current: State) -> None:
        cloud, server_id = self.cloud, current["id"]
        if current.get("stop_before_destroy"):
            try:
                act.action(cloud, server_id, {"os-stop": None})
                act.wait_status(cloud, server_id, ["SHUTOFF"], ["ACTIVE"], what="stop",
                                timeout=DELETE_TIMEOUT)
            except CloudError:
                pass  # the real provider logs a warning and deletes anyway
        if current.get("force_delete"):
            act.action(cloud, server_id, {"forceDelete": None})
        else:
            cloud.delete("compute", f"/servers/{server_id}")
        wait_gone(f"instance ({server_id}) to Delete", lambda: read.get_server(cloud, server_id),
                  lambda s: s.get("status") in ("DELETED", "SOFT_DELETED"), DELETE_TIMEOUT, _fault)


def _user_data(text: str) -> str:
    """Nova wants base64; like gophercloud, pass text that already is base64 unchanged."""
    try:
        base64.b64decode(text, validate=True)
        return text
    except (binascii.Error, ValueError):
        return base64.b64encode(text.encode()).decode()


def _fault(server: dict[str, Any]) -> str | None:
    if server.get("status") != "ERROR":
        return None
    fault = server.get("fault") or {}
    return f"Server {server.get('id')} went to ERROR: {fault.get('message') or 'no fault message'}"
