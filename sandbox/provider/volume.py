"""`openstack_blockstorage_volume_v3`: a Cinder volume. A bigger size extends it in place, a
smaller one replaces it; name, description and metadata change in place.
"""

from __future__ import annotations

from typing import Any

from sandbox.provider.client import Cloud, CloudError, NotFound, wait_for, wait_gone
from sandbox.provider.framework import (
    BOOL,
    NUM,
    STR_MAP,
    CloudResource,
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

CREATE_TIMEOUT = 30 * 60.0
DELETE_TIMEOUT = 30 * 60.0
FIELDS = {"size": "size", "name": "name", "description": "description", "volume_type": "volume_type",
          "availability_zone": "availability_zone", "metadata": "metadata", "snapshot_id": "snapshot_id",
          "source_volid": "source_vol_id", "imageRef": "image_id"}  # Cinder's name -> the provider's
ONLINE_EXTEND = {"OpenStack-API-Version": "volume 3.42"}  # extending an in-use volume


def _volume(cloud: Cloud, volume_id: str) -> dict[str, Any]:
    return dict(cloud.get("volume", f"/volumes/{volume_id}")["volume"])


def _failed(volume: dict[str, Any]) -> str | None:
    status = str(volume.get("status", ""))
    return f"Volume {volume.get('id')} went to status {status}" if status.startswith("error") else None


class Volume(CloudResource):
    type_suffix = "blockstorage_volume_v3"
    schema = Schema(attributes=[
        computed("id"), required("size", NUM), optional("name"), optional("description"),
        settable("volume_type", replace=True), settable("availability_zone", replace=True),
        settable("metadata", STR_MAP), optional("snapshot_id", replace=True),
        optional("source_vol_id", replace=True), optional("image_id", replace=True),
        optional("enable_online_resize", BOOL),
    ])

    @classmethod
    def replace_on(cls, prior: State, planned: State) -> list[str]:
        old, new = prior.get("size"), planned.get("size")
        shrinks = isinstance(old, int | float) and isinstance(new, int | float) and new < old
        return ["size"] if shrinks else []

    def _create(self, planned: State) -> State:
        cloud = self.cloud
        body = {api_name: planned[name] for api_name, name in FIELDS.items() if known(planned.get(name))}
        volume_id = cloud.post("volume", "/volumes", {"volume": body})["volume"]["id"]
        state = {**planned, "id": volume_id}
        try:
            volume = wait_for(f"volume {volume_id} to become available", lambda: _volume(cloud, volume_id),
                              lambda v: v.get("status") == "available", CREATE_TIMEOUT, _failed)
        except CloudError as exc:
            raise Partial(state, exc) from exc
        return settle(state, self._observed(volume))

    @staticmethod
    def _observed(volume: dict[str, Any]) -> State:
        return {"volume_type": volume.get("volume_type") or "", "metadata": volume.get("metadata") or {},
                "availability_zone": volume.get("availability_zone") or ""}

    def _read(self, current: State) -> State | None:
        try:
            volume = _volume(self.cloud, current["id"])
        except NotFound:
            return None
        if volume.get("status") == "deleting":
            return None
        refreshed = {**current, **self._observed(volume), "size": volume.get("size", current["size"])}
        for key in ("name", "description"):  # a null in the configuration stays null for an empty value
            if volume.get(key) or current.get(key) is not None:
                refreshed[key] = volume.get(key) or ""
        return refreshed

    def _update(self, current: State, planned: State) -> State:
        cloud, volume_id = self.cloud, current["id"]
        changes = {key: planned.get(key) for key in ("name", "description", "metadata")
                   if planned.get(key) is not Unknown and planned.get(key) != current.get(key)}
        if changes:
            cloud.put("volume", f"/volumes/{volume_id}", {"volume": changes})
        state = {**planned, "id": volume_id}
        if planned["size"] > current["size"]:
            self._extend(volume_id, planned["size"], state)
        return settle(state, self._observed(_volume(cloud, volume_id)))

    def _extend(self, volume_id: str, size: int, state: State) -> None:
        cloud = self.cloud
        in_use = _volume(cloud, volume_id).get("status") == "in-use"
        action = {"os-extend": {"new_size": size}}
        headers = ONLINE_EXTEND if in_use else None
        cloud.post("volume", f"/volumes/{volume_id}/action", action, headers=headers)
        try:
            wait_for(f"volume {volume_id} to grow to {size} GB", lambda: _volume(cloud, volume_id),
                     lambda v: v.get("size") == size and v.get("status") in ("available", "in-use"),
                     CREATE_TIMEOUT, _failed)
        except CloudError as exc:
            raise Partial(state, exc) from exc

    def _delete(self, current: State) -> None:
        cloud, volume_id = self.cloud, current["id"]
        cloud.delete("volume", f"/volumes/{volume_id}")
        wait_gone(f"volume {volume_id} to be deleted", lambda: _volume(cloud, volume_id),
                  lambda v: v.get("status") == "deleted", DELETE_TIMEOUT, _failed)
