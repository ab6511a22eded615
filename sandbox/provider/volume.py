"""`openstack_blockstorage_volume_v3` as terraform-provider-openstack 3.4 plans and applies it.

`size` is not ForceNew: any change is an in-place update that calls Cinder's `os-extend`, so a
shrink plans as an update and fails at apply with Cinder's 400; an attached (`in-use`) volume
grows only with `enable_online_resize = true` (microversion 3.42). `volume_type` is retyped in
place (`os-retype`, `volume_retype_policy` "never" by default, since 3.1.0). Name, description
and metadata change in place; availability zone and the sources of the data replace it.
"""

from __future__ import annotations

from typing import Any

from sandbox.provider.client import Cloud, CloudError, NotFound, gophercloud_error, wait_for, wait_gone
from sandbox.provider.framework import (
    BOOL,
    NUM,
    STR_MAP,
    CloudResource,
    Partial,
    ProviderError,
    Schema,
    State,
    known,
    optional,
    region,
    required,
    settable,
)

CREATE_TIMEOUT = DELETE_TIMEOUT = UPDATE_TIMEOUT = 10 * 60.0
FIELDS = {"availability_zone": "availability_zone", "consistencygroup_id": "consistency_group_id",
          "description": "description", "imageRef": "image_id", "metadata": "metadata", "name": "name",
          "size": "size", "snapshot_id": "snapshot_id", "source_replica": "source_replica",
          "source_volid": "source_vol_id", "volume_type": "volume_type", "backup_id": "backup_id"}
RETYPE_POLICIES = ("never", "on-demand")
ONLINE_RESIZE, FROM_BACKUP = "3.42", "3.47"
ONLINE_RESIZE_DISABLED = (
    "Error extending openstack_blockstorage_volume_v3 {id},\n"
    "\t\t\t\t\tvolume is attached to the instance and\n"
    "\t\t\t\t\tresizing online is disabled,\n"
    "\t\t\t\t\tsee enable_online_resize option"
)  # the real provider's words, indentation included (a Go raw string)


def _microversion(version: str) -> dict[str, str]:
    """gophercloud's headers for a block-storage microversion."""
    return {"X-OpenStack-Volume-API-Version": version, "OpenStack-API-Version": f"volume {version}"}


def _volume(cloud: Cloud, volume_id: str) -> dict[str, Any]:
    return dict(cloud.get("volume", f"/volumes/{volume_id}")["volume"])


def _wait(cloud: Cloud, volume_id: str, pending: tuple[str, ...], targets: tuple[str, ...], timeout: float,
          what: str = "become ready") -> None:
    """blockStorageVolumeV3StateRefreshFunc in a StateChangeConf: 404 reads as "deleted"."""
    def probe() -> dict[str, Any]:
        try:
            return _volume(cloud, volume_id)
        except NotFound:
            return {"status": "deleted"}

    def failed(volume: dict[str, Any]) -> str | None:
        status = str(volume.get("status"))
        if status == "error":
            return (f"Error waiting for openstack_blockstorage_volume_v3 {volume_id} to {what}: The "
                    "volume is in error status. Please check with your cloud admin or check the Block "
                    "Storage API logs to see why this error occurred.")
        if status in targets or status in pending:
            return None
        return (f"Error waiting for openstack_blockstorage_volume_v3 {volume_id} to {what}: unexpected "
                f"state '{status}', wanted target '{', '.join(targets)}'")

    wait_for(f"openstack_blockstorage_volume_v3 {volume_id} to {what}", probe,
             lambda v: v.get("status") in targets, timeout, failed)


class Volume(CloudResource):
    type_suffix = "blockstorage_volume_v3"
    schema = Schema(attributes=[
        settable("id"), region(), required("size", NUM), optional("enable_online_resize", BOOL),
        optional("name"), optional("description"), settable("availability_zone", force_new=True),
        settable("metadata", STR_MAP), optional("snapshot_id", force_new=True),
        optional("source_vol_id", force_new=True), optional("image_id", force_new=True),
        optional("backup_id", force_new=True), settable("volume_type"),
        optional("volume_retype_policy", default="never"), optional("consistency_group_id", force_new=True),
        optional("source_replica", force_new=True),
    ])

    def validate(self, diags: Any, type_name: str, config: State) -> None:
        super().validate(diags, type_name, config)
        policy = config.get("volume_retype_policy")
        if isinstance(policy, str) and policy.lower() not in RETYPE_POLICIES:
            diags.add_error(f'expected volume_retype_policy to be one of ["never" "on-demand"], got {policy}',
                            path=["volume_retype_policy"])

    def _create(self, planned: State) -> State:
        cloud = self.cloud
        body = {api: planned[name] for api, name in FIELDS.items()
                if known(planned.get(name)) and planned[name]}
        headers = _microversion(FROM_BACKUP) if body.get("backup_id") else None
        volume_id = cloud.post("volume", "/volumes", {"volume": body}, headers=headers)["volume"]["id"]
        state = {**planned, "id": volume_id}
        try:
            _wait(cloud, volume_id, ("downloading", "creating"), ("available",), CREATE_TIMEOUT)
        except CloudError as exc:
            raise Partial(state, exc) from exc
        return self._observed(state, _volume(cloud, volume_id))

    def _observed(self, state: State, volume: dict[str, Any]) -> State:
        """What the real provider's Read sets."""
        read = {key: volume.get(field) or "" for key, field in (
            ("description", "description"), ("availability_zone", "availability_zone"), ("name", "name"),
            ("snapshot_id", "snapshot_id"), ("backup_id", "backup_id"), ("source_vol_id", "source_volid"),
            ("volume_type", "volume_type"))}
        observed = {**state, **read, "size": volume.get("size"), "region": self.region(state),
                    "metadata": dict(volume.get("metadata") or {})}
        if not observed.get("volume_retype_policy"):
            observed["volume_retype_policy"] = "never"
        return observed

    def _read(self, current: State) -> State | None:
        try:
            return self._observed(current, _volume(self.cloud, current["id"]))
        except NotFound:
            return None

    def _update(self, current: State, planned: State) -> State:
        cloud, volume_id = self.cloud, current["id"]
        changes: dict[str, Any] = {key: planned.get(key) or "" for key in ("name", "description")}
        if planned.get("metadata") != current.get("metadata"):
            changes["metadata"] = planned.get("metadata") or {}
        if planned.get("size") != current.get("size"):
            self._extend(volume_id, planned)
        if planned.get("volume_type") != current.get("volume_type"):
            self._retype(volume_id, planned)
        cloud.put("volume", f"/volumes/{volume_id}", {"volume": changes})
        return self._observed({**planned, "id": volume_id}, _volume(cloud, volume_id))

    def _extend(self, volume_id: str, planned: State) -> None:
        cloud, size = self.cloud, planned["size"]
        headers = None
        if _volume(cloud, volume_id).get("status") == "in-use":
            if not planned.get("enable_online_resize"):
                raise ProviderError(ONLINE_RESIZE_DISABLED.format(id=volume_id))
            headers = _microversion(ONLINE_RESIZE)
        try:
            cloud.post("volume", f"/volumes/{volume_id}/action", {"os-extend": {"new_size": size}},
                       headers=headers)
        except CloudError as exc:
            raise ProviderError(f"Error extending openstack_blockstorage_volume_v3 {volume_id} size: "
                                f"{gophercloud_error(exc, (202,))}") from exc
        _wait(cloud, volume_id, ("extending",), ("available", "in-use"), CREATE_TIMEOUT)

    def _retype(self, volume_id: str, planned: State) -> None:
        cloud = self.cloud
        _volume(cloud, volume_id)
        retype = {"new_type": planned.get("volume_type") or "",
                  "migration_policy": str(planned.get("volume_retype_policy") or "never")}
        try:
            cloud.post("volume", f"/volumes/{volume_id}/action", {"os-retype": retype})
        except CloudError as exc:
            words = gophercloud_error(exc, (202,))
            raise ProviderError(f"Error changing volume {volume_id} type: {words}") from exc
        _wait(cloud, volume_id, ("retyping",), ("available", "in-use"), UPDATE_TIMEOUT)

    def _delete(self, current: State) -> None:
        cloud, volume_id = self.cloud, current["id"]
        try:
            volume = _volume(cloud, volume_id)
        except NotFound:
            return
        for attachment in volume.get("attachments") or []:
            path = f"/servers/{attachment.get('server_id')}/os-volume_attachments/{attachment.get('id')}"
            try:
                cloud.delete("compute", path)
            except CloudError as exc:
                if exc.status != 409:  # another detach is under way: fine
                    raise
        if volume.get("attachments"):
            _wait(cloud, volume_id, ("in-use", "attaching", "detaching"), ("available", "deleted"),
                  DELETE_TIMEOUT, "become available")
        if volume.get("status") != "deleting":
            cloud.delete("volume", f"/volumes/{volume_id}")
        wait_gone(f"openstack_blockstorage_volume_v3 {volume_id} to Delete",
                  lambda: _volume(cloud, volume_id), lambda v: v.get("status") == "deleted", DELETE_TIMEOUT)
