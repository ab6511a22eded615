"""`openstack_compute_keypair_v2` and `openstack_compute_volume_attach_v2` as
terraform-provider-openstack 3.4 plans and applies them: every argument of a key pair, and an
attachment's instance_id, volume_id and multiattach, replace it; an attachment's id is
`<instance>/<attachment>`, read back from Nova.
"""

from __future__ import annotations

import time
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
    region,
    required,
    settable,
)

ATTACH_TIMEOUT = 10 * 60.0
MULTIATTACH = {"X-OpenStack-Nova-API-Version": "2.60", "OpenStack-API-Version": "compute 2.60"}


class Keypair(CloudResource):
    type_suffix = "compute_keypair_v2"
    schema = Schema(attributes=[
        settable("id"), region(), required("name", force_new=True), settable("public_key", force_new=True),
        computed("private_key", sensitive=True), computed("fingerprint"), settable("user_id", force_new=True),
    ])

    def _create(self, planned: State) -> State:
        body: dict[str, Any] = {"name": planned["name"]}
        if known(planned.get("public_key")) and planned["public_key"]:
            body["public_key"] = planned["public_key"]
        pair = self.cloud.post("compute", "/os-keypairs", {"keypair": body})["keypair"]
        state = {**planned, "id": pair.get("name", planned["name"]),
                 "private_key": pair.get("private_key") or "",
                 "user_id": planned.get("user_id") if known(planned.get("user_id")) else ""}
        return self._read(state) or state

    def _read(self, current: State) -> State | None:
        try:
            pair = self.cloud.get("compute", f"/os-keypairs/{current['id']}")["keypair"]
        except NotFound:
            return None
        observed = {**current, "name": pair.get("name"), "public_key": pair.get("public_key") or "",
                    "fingerprint": pair.get("fingerprint") or "", "region": self.region(current)}
        if current.get("user_id"):
            observed["user_id"] = pair.get("user_id") or ""
        return observed

    def _update(self, current: State, planned: State) -> State:
        return {**current, **{k: v for k, v in planned.items() if known(v)}}  # all else replaces it

    def _delete(self, current: State) -> None:
        self.cloud.delete("compute", f"/os-keypairs/{current['id']}")


def _attachment(cloud: Cloud, server_id: str, attachment_id: str) -> dict[str, Any]:
    path = f"/servers/{server_id}/os-volume_attachments/{attachment_id}"
    return dict(cloud.get("compute", path)["volumeAttachment"])


def _attached(cloud: Cloud, server_id: str, attachment_id: str, volume_id: str) -> str:
    """computeVolumeAttachV2AttachFunc: ATTACHED once Nova has it and Cinder says in-use."""
    try:
        _attachment(cloud, server_id, attachment_id)
    except NotFound:
        return "ATTACHING"
    status = cloud.get("volume", f"/volumes/{volume_id}")["volume"].get("status")
    if status == "error":
        raise CloudError("volume entered unexpected error status")
    return "ATTACHED" if status == "in-use" else "ATTACHING"


class VolumeAttach(CloudResource):
    type_suffix = "compute_volume_attach_v2"
    schema = Schema(attributes=[
        settable("id"), region(), required("instance_id", force_new=True),
        required("volume_id", force_new=True),
        settable("device"), optional("multiattach", BOOL, force_new=True),
    ])

    def _create(self, planned: State) -> State:
        cloud = self.cloud
        server_id, volume_id = planned["instance_id"], planned["volume_id"]
        body: dict[str, Any] = {"volumeId": volume_id}
        if known(planned.get("device")) and planned["device"]:
            body["device"] = planned["device"]
        headers = MULTIATTACH if planned.get("multiattach") else None
        path = f"/servers/{server_id}/os-volume_attachments"
        answer = cloud.post("compute", path, {"volumeAttachment": body}, headers=headers)
        attachment = answer["volumeAttachment"]
        state = {**planned, "id": f"{server_id}/{attachment['id']}"}
        try:
            wait_for(f"openstack_compute_volume_attach_v2 {server_id} to attach",
                     lambda: _attached(cloud, server_id, str(attachment["id"]), volume_id),
                     lambda status: status == "ATTACHED", ATTACH_TIMEOUT)
        except CloudError as exc:
            raise Partial(state, exc) from exc
        return self._read(state) or state

    def _read(self, current: State) -> State | None:
        server_id, _, attachment_id = str(current["id"]).partition("/")
        try:
            attachment = _attachment(self.cloud, server_id, attachment_id)
        except NotFound:
            return None  # the server or the attachment is gone: attach again
        return {**current, "instance_id": attachment.get("serverId"), "volume_id": attachment.get("volumeId"),
                "device": attachment.get("device") or "", "region": self.region(current)}

    def _update(self, current: State, planned: State) -> State:
        return {**current, **{k: v for k, v in planned.items() if known(v)}}  # device: no call, as the SDK

    def _delete(self, current: State) -> None:
        """computeVolumeAttachV2DetachFunc: DELETE until Nova no longer shows the attachment."""
        cloud = self.cloud
        server_id, _, attachment_id = str(current["id"]).partition("/")
        path = f"/servers/{server_id}/os-volume_attachments/{attachment_id}"
        deadline, delay = time.monotonic() + ATTACH_TIMEOUT, 0.05
        while True:
            try:
                _attachment(cloud, server_id, attachment_id)
                cloud.delete("compute", path, missing_ok=False)
            except NotFound:
                return
            except CloudError as exc:
                if exc.status != 400:
                    raise
            if time.monotonic() > deadline:
                raise CloudError(f"Error detaching openstack_compute_volume_attach_v2 {current['id']}: "
                                 "timeout")
            cloud.sleep(delay)
            delay = min(delay * 1.6, 1.0)
