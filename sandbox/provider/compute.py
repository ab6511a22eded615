"""`openstack_compute_keypair_v2` and `openstack_compute_volume_attach_v2`: Nova key pairs and
volume attachments, with the real provider's attribute names and ids (`<instance>/<volume>`).
"""

from __future__ import annotations

from typing import Any

from sandbox.provider.client import Cloud, CloudError, NotFound, wait_for
from sandbox.provider.framework import (
    BOOL,
    CloudResource,
    Partial,
    Schema,
    State,
    computed,
    known,
    optional,
    required,
    settable,
    settle,
)

ATTACH_TIMEOUT = 10 * 60.0


class Keypair(CloudResource):
    type_suffix = "compute_keypair_v2"
    schema = Schema(attributes=[
        computed("id"), required("name", replace=True), settable("public_key", replace=True),
        computed("private_key", sensitive=True), computed("fingerprint"), settable("user_id", replace=True),
    ])

    def _create(self, planned: State) -> State:
        body: dict[str, Any] = {"name": planned["name"]}
        if known(planned.get("public_key")):
            body["public_key"] = planned["public_key"]
        pair = self.cloud.post("compute", "/os-keypairs", {"keypair": body})["keypair"]
        return settle(planned, {
            "id": pair.get("name", planned["name"]), "public_key": pair.get("public_key", ""),
            "private_key": pair.get("private_key") or "", "fingerprint": pair.get("fingerprint", ""),
            "user_id": pair.get("user_id", ""),
        })

    def _read(self, current: State) -> State | None:
        try:
            pair = self.cloud.get("compute", f"/os-keypairs/{current['name']}")["keypair"]
        except NotFound:
            return None
        return {**current, "fingerprint": pair.get("fingerprint", current.get("fingerprint"))}

    def _update(self, current: State, planned: State) -> State:
        return settle(planned, current)  # every user-set attribute forces replacement

    def _delete(self, current: State) -> None:
        self.cloud.delete("compute", f"/os-keypairs/{current['name']}")


def _volume_status(cloud: Cloud, volume_id: str) -> str:
    try:
        return str(cloud.get("volume", f"/volumes/{volume_id}")["volume"].get("status", ""))
    except NotFound:
        return "deleted"


def _attach_failed(status: str) -> str | None:
    return f"volume went to status {status}" if status.startswith("error") else None


class VolumeAttach(CloudResource):
    type_suffix = "compute_volume_attach_v2"
    schema = Schema(attributes=[
        computed("id"), required("instance_id", replace=True), required("volume_id", replace=True),
        settable("device", replace=True), optional("multiattach", BOOL, replace=True),
    ])

    def _create(self, planned: State) -> State:
        cloud = self.cloud
        server_id, volume_id = planned["instance_id"], planned["volume_id"]
        body: dict[str, Any] = {"volumeId": volume_id}
        if known(planned.get("device")):
            body["device"] = planned["device"]
        path = f"/servers/{server_id}/os-volume_attachments"
        attachment = cloud.post("compute", path, {"volumeAttachment": body})["volumeAttachment"]
        state = {**planned, "id": f"{server_id}/{volume_id}"}
        try:
            wait_for(f"volume {volume_id} to attach to {server_id}", lambda: _volume_status(cloud, volume_id),
                     lambda status: status == "in-use", ATTACH_TIMEOUT, _attach_failed)
        except CloudError as exc:
            raise Partial(state, exc) from exc
        device = attachment.get("device") or self._device(server_id, volume_id) or ""
        return settle(state, {"device": device})

    def _device(self, server_id: str, volume_id: str) -> str | None:
        path = f"/servers/{server_id}/os-volume_attachments/{volume_id}"
        device = self.cloud.get("compute", path)["volumeAttachment"].get("device")
        return str(device) if device else None

    def _read(self, current: State) -> State | None:
        path = f"/servers/{current['instance_id']}/os-volume_attachments/{current['volume_id']}"
        try:
            attachment = self.cloud.get("compute", path)["volumeAttachment"]
        except NotFound:
            return None  # the server or the attachment is gone: attach again
        return {**current, "device": attachment.get("device") or current.get("device")}

    def _update(self, current: State, planned: State) -> State:
        return settle(planned, current)

    def _delete(self, current: State) -> None:
        cloud, volume_id = self.cloud, current["volume_id"]
        cloud.delete("compute", f"/servers/{current['instance_id']}/os-volume_attachments/{volume_id}")
        wait_for(f"volume {volume_id} to detach", lambda: _volume_status(cloud, volume_id),
                 lambda status: status in ("available", "deleted"), ATTACH_TIMEOUT, _attach_failed)
