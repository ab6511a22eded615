"""The Nova calls of an `openstack_compute_instance_v2` update, in the real provider's order and
shapes (gophercloud's bodies): rename, power state (os-start, os-stop, pause, shelve...),
metadata, admin password, resize with confirm, rebuild with a new image; each waits as it does.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sandbox.provider.client import Cloud, CloudError, NotFound, wait_for
from sandbox.provider.framework import State
from sandbox.provider.instance_read import get_server

UPDATE_TIMEOUT = 30 * 60.0


def action(cloud: Cloud, server_id: str, body: dict[str, Any]) -> None:
    cloud.post("compute", f"/servers/{server_id}/action", body)


def wait_status(cloud: Cloud, server_id: str, targets: Iterable[str], pending: Iterable[str] | None = None,
                what: str = "change state", timeout: float = UPDATE_TIMEOUT) -> dict[str, Any]:
    """retry.StateChangeConf on the server's status: done at a target, failed at an unexpected one."""
    targets, waiting = tuple(targets), tuple(pending) if pending is not None else None

    def failed(server: dict[str, Any]) -> str | None:
        status = str(server.get("status"))
        if status in targets or waiting is None or status in waiting:
            return None
        return (f"Error waiting for instance ({server_id}) to {what}: unexpected state '{status}', "
                f"wanted target '{', '.join(targets)}'")

    return dict(wait_for(f"instance ({server_id}) to {what}", lambda: get_server(cloud, server_id),
                         lambda s: s.get("status") in targets, timeout, failed))


def change_power(cloud: Cloud, server_id: str, old: str, new: str, availability_zone: str) -> None:
    """The power_state branch of the provider's Update."""
    old, new = old.lower(), new.lower()
    if new == "shelved_offloaded":
        action(cloud, server_id, {"shelve": None})
        wait_status(cloud, server_id, ["SHELVED_OFFLOADED"], what="become shelve")
    elif new == "paused":
        action(cloud, server_id, {"pause": None})
        wait_status(cloud, server_id, ["PAUSED"], what="become paused")
    elif new == "shutoff":
        action(cloud, server_id, {"os-stop": None})
        wait_status(cloud, server_id, ["SHUTOFF"], what="become inactive(shutoff)")
    elif new == "active":
        if old in ("shelved", "shelved_offloaded"):
            zone = {"availability_zone": availability_zone} if availability_zone else None
            action(cloud, server_id, {"unshelve": zone})
        elif old == "paused":
            action(cloud, server_id, {"unpause": None})
        elif old != "build":
            action(cloud, server_id, {"os-start": None})
        wait_status(cloud, server_id, ["ACTIVE"], what="become active")


def update_metadata(cloud: Cloud, server_id: str, old: dict[str, str], new: dict[str, str]) -> None:
    """Keys gone from the configuration are deleted one by one, the rest set with one POST."""
    for key in [k for k in old if k not in new]:
        try:
            cloud.delete("compute", f"/servers/{server_id}/metadata/{key}", missing_ok=False)
        except NotFound:
            pass
    cloud.post("compute", f"/servers/{server_id}/metadata", {"metadata": dict(new)})


def flavor_id_from_name(cloud: Cloud, name: str) -> str:
    """gophercloud utils' flavors.IDFromName: exactly one flavor of that name in /flavors/detail."""
    found = [f for f in cloud.get("compute", "/flavors/detail")["flavors"] if f.get("name") == name]
    if not found:
        raise CloudError(f"Unable to find flavor with name {name}")
    if len(found) > 1:
        raise CloudError(f"Found {len(found)} flavors matching {name}")
    return str(found[0]["id"])


def image_id_from_name(cloud: Cloud, service: str, name: str) -> str:
    """gophercloud utils' images.IDFromName: exactly one image of that name, any status."""
    found = [i for i in cloud.get(service, "/images", name=name)["images"] if i.get("name") == name]
    if not found:
        raise CloudError(f"Unable to find image with name {name}")
    if len(found) > 1:
        raise CloudError(f"Found {len(found)} images matching {name}")
    return str(found[0]["id"])


def resize(cloud: Cloud, server_id: str, flavor_id: str) -> None:
    """Resize, wait for VERIFY_RESIZE, confirm, wait for ACTIVE (or SHUTOFF)."""
    action(cloud, server_id, {"resize": {"flavorRef": flavor_id}})
    wait_status(cloud, server_id, ["VERIFY_RESIZE"], ["RESIZE"], what="resize")
    action(cloud, server_id, {"confirmResize": None})
    wait_status(cloud, server_id, ["ACTIVE", "SHUTOFF"], ["VERIFY_RESIZE"], what="confirm resize")


def rebuild(cloud: Cloud, server_id: str, image_id: str) -> None:
    """Re-image the root disk in place (the same server id), wait for ACTIVE (or SHUTOFF)."""
    action(cloud, server_id, {"rebuild": {"imageRef": image_id}})
    wait_status(cloud, server_id, ["ACTIVE", "SHUTOFF"], ["REBUILD"], what="rebuild")


def rebuild_image_id(cloud: Cloud, current: State, planned: State) -> str:
    """The image a rebuild boots: the new image_id, else the new image_name looked up. The real
    provider looks the name up through the compute endpoint (Nova's image proxy, /images)."""
    if planned.get("image_id") != current.get("image_id"):
        return str(planned.get("image_id") or "")
    name = str(planned.get("image_name") or "")
    try:
        return image_id_from_name(cloud, "compute", name)
    except NotFound:  # a Nova without its image proxy API (the sandbox): ask Glance itself
        return image_id_from_name(cloud, "image", name)
