"""Cinder v3 for the sandbox: volumes (create, update, delete) and their actions (extend, retype,
bootable), limits, quota sets with usage, volume types (cinder_types). Nova creates boot volumes
and attaches volumes through here."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.cloud import cinder_quota, cinder_types, quota
from sandbox.cloud.faults import Faults
from sandbox.cloud.store import Store
from sandbox.cloud.web import (
    CloudError,
    Record,
    filter_records,
    host_url,
    is_paged,
    iso,
    links,
    microversion,
    new_id,
    read_json,
)

PREFIX = "/volume"
V3 = PREFIX + "/v3/{project_id}"
MIN_VERSION, MAX_VERSION = "3.0", "3.70"
EXTEND_IN_USE = (3, 42)  # the microversion from which an attached volume may grow
DELETE_REFUSED = ("Invalid volume: Volume status must be available or error or error_restoring or "
                  "error_extending or error_managing and must not be migrating, attached, belong to a group, "
                  "have snapshots, awaiting a transfer, or be disassociated from snapshots after volume "
                  "transfer.")


def lookup(store: Store, volume_id: str) -> Record:
    volume = store.get("volumes", volume_id)
    if volume is None:
        raise CloudError(404, f"Volume {volume_id} could not be found.")
    return volume


def _size(value: object, field: str = "size") -> int:
    """A positive size in GB (Cinder also takes a string of digits)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise CloudError(400, f"Invalid input received: '{field}' parameter must be an integer greater "
                              f"than 0, got {value!r}.")
    return value


def new_volume(store: Store, faults: Faults, body: Record) -> Record:
    """Validate and create a volume (immediately available), counting it against the quotas."""
    size = _size(body.get("size"))
    kind = (cinder_types.find_type(store, str(body["volume_type"])) if body.get("volume_type")
            else cinder_types.default_type(store))
    image = None
    if body.get("imageRef"):
        image = store.get("images", str(body["imageRef"]))
        if image is None:
            raise CloudError(400, "Invalid image identifier or unable to access requested image.")
        if image["status"] != "active":
            raise CloudError(400, f"Invalid input received: Image {image['id']} is not active.")
        if size < image["min_disk"]:
            raise CloudError(400, f"Invalid input received: Volume size {size}GB cannot be smaller than "
                                  f"the image minDisk size {image['min_disk']}GB.")
    cinder_quota.check_quota(store, faults, 1, size, kind)
    stamp = time.time()
    return store.put("volumes", {
        "id": new_id(), "name": body.get("name") or "", "description": body.get("description"), "size": size,
        "status": "available", "attachments": [], "metadata": dict(body.get("metadata") or {}),
        "bootable": image is not None, "image_id": image["id"] if image else None,
        "image_name": image["name"] if image else None, "created": stamp, "updated": stamp,
        "availability_zone": body.get("availability_zone") or "nova", "volume_type_id": kind["id"],
    })


def attach(volume: Record, server_id: str, device: str, attachment_id: str) -> None:
    if volume["status"] != "available":
        raise CloudError(400, f"Invalid volume: volume {volume['id']} status must be 'available', "
                              f"not '{volume['status']}'")
    volume["attachments"] = [{"id": volume["id"], "attachment_id": attachment_id, "volume_id": volume["id"],
                              "server_id": server_id, "host_name": None, "device": device,
                              "attached_at": iso(time.time(), micro=True)}]
    volume.update(status="in-use", updated=time.time())


def detach(volume: Record) -> None:
    volume.update(attachments=[], status="available", updated=time.time())


def extend(store: Store, faults: Faults, volume: Record, body: Record, version: tuple[int, int]) -> None:
    """`os-extend`: grow only; an attached volume from microversion 3.42; within the gigabytes quota."""
    new_size = _size((body or {}).get("new_size"), "new_size")
    if new_size <= volume["size"]:
        raise CloudError(400, f"Invalid input received: New size for extend must be greater than current "
                              f"size. (current: {volume['size']}, extended: {new_size}).")
    attached = version >= EXTEND_IN_USE and volume["status"] == "in-use"
    expected = "in-use" if attached else "available"
    if volume["status"] != expected:
        raise CloudError(400, f"Invalid volume: Volume {volume['id']} status must be "
                              f"'{{'status': '{expected}'}}' to extend, currently {volume['status']}.")
    cinder_quota.check_quota(store, faults, 0, new_size - volume["size"], cinder_types.type_of(store, volume))
    volume.update(size=new_size, updated=time.time())


def render_volume(store: Store, volume: Record, request: Request) -> Record:
    kind = cinder_types.type_of(store, volume)
    body: Record = {
        "id": volume["id"], "name": volume["name"], "description": volume["description"],
        "size": volume["size"], "status": volume["status"], "availability_zone": volume["availability_zone"],
        "created_at": iso(volume["created"], micro=True), "updated_at": iso(volume["updated"], micro=True),
        "attachments": volume["attachments"], "volume_type": kind["name"],
        "volume_type_id": kind["id"], "metadata": volume["metadata"],
        "bootable": "true" if volume["bootable"] else "false", "encrypted": False, "multiattach": False,
        "snapshot_id": None, "source_volid": None, "consistencygroup_id": None, "group_id": None,
        "replication_status": None, "migration_status": None, "provider_id": None, "service_uuid": None,
        "shared_targets": False, "cluster_name": None, "consumes_quota": True,
        "user_id": store.identity["user_id"], "os-vol-tenant-attr:tenant_id": store.project_id,
        "links": links(request, f"/volume/v3/{store.project_id}/volumes/{volume['id']}"),
    }
    if volume["image_id"]:
        body["volume_image_metadata"] = {"image_id": volume["image_id"], "image_name": volume["image_name"]}
    return body


class Cinder:
    """Routes under /volume."""

    def __init__(self, store: Store, faults: Faults) -> None:
        self.store, self.faults = store, faults

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PREFIX, self.versions, methods=["GET"]),
            Route(PREFIX + "/", self.versions, methods=["GET"]),
            Route(PREFIX + "/v3", self.versions, methods=["GET"]),
            Route(PREFIX + "/v3/", self.versions, methods=["GET"]),
            Route(V3 + "/volumes", self.volumes, methods=["GET", "POST"]),
            Route(V3 + "/volumes/detail", self.volumes, methods=["GET"]),
            Route(V3 + "/volumes/{volume_id}", self.volume, methods=["GET", "PUT", "DELETE"]),
            Route(V3 + "/volumes/{volume_id}/action", self.action, methods=["POST"]),
            Route(V3 + "/limits", self.limits, methods=["GET"]),
            Route(V3 + "/os-quota-sets/{tenant_id}", self.quota_set, methods=["GET"]),
            Route(V3 + "/os-quota-sets/{tenant_id}/defaults", self.quota_set, methods=["GET"]),
            Route(V3 + "/types", self.types, methods=["GET"]),
            Route(V3 + "/types/{type_id}", self.types, methods=["GET"]),
            Route(V3 + "/snapshots", self.empty, methods=["GET"]),
            Route(V3 + "/snapshots/detail", self.empty, methods=["GET"]),
            Route(V3 + "/os-availability-zone", self.zones, methods=["GET"]),
        ]

    def _reply(self, request: Request, body: object, status: int = 200) -> Response:
        major, minor = microversion(request, "volume", MIN_VERSION, MAX_VERSION)
        headers = {"OpenStack-API-Version": f"volume {major}.{minor}", "Vary": "OpenStack-API-Version"}
        return JSONResponse(body, status, headers)

    async def versions(self, request: Request) -> Response:
        version = {"id": "v3.0", "status": "CURRENT", "version": MAX_VERSION, "min_version": MIN_VERSION,
                   "updated": "2023-08-31T00:00:00Z",
                   "links": [{"rel": "self", "href": host_url(request) + PREFIX + "/v3/"}],
                   "media-types": [{"base": "application/json",
                                    "type": "application/vnd.openstack.volume+json;version=3"}]}
        root = request.url.path.rstrip("/") == PREFIX
        return JSONResponse({"versions": [version]}, 300 if root else 200)

    async def volumes(self, request: Request) -> Response:
        if request.method == "POST":
            body = await read_json(request, "volume")
            with self.store.change():
                volume = new_volume(self.store, self.faults, body)
                return self._reply(request, {"volume": render_volume(self.store, volume, request)}, 202)
        with self.store.lock:
            found = [render_volume(self.store, v, request) for v in self.store.table("volumes").values()]
        ignore = ["all_tenants", "with_count"]
        found = [] if is_paged(request) else filter_records(found, request, ignore=ignore)
        if not request.url.path.endswith("/detail"):
            found = [{"id": v["id"], "name": v["name"], "links": v["links"]} for v in found]
        return self._reply(request, {"volumes": found})

    async def volume(self, request: Request) -> Response:
        volume_id = request.path_params["volume_id"]
        if request.method == "GET":
            with self.store.lock:
                body = render_volume(self.store, lookup(self.store, volume_id), request)
            return self._reply(request, {"volume": body})
        changes = await read_json(request, "volume") if request.method == "PUT" else {}
        with self.store.change():
            volume = lookup(self.store, volume_id)
            if request.method == "DELETE":
                if volume["status"] not in ("available", "error") or volume["attachments"]:
                    raise CloudError(400, DELETE_REFUSED)
                self.store.remove("volumes", volume_id)
                return Response(status_code=202)
            for key in ("name", "description", "metadata"):
                if key in changes:
                    volume[key] = changes[key] if key != "metadata" else dict(changes[key] or {})
            volume["updated"] = time.time()
            return self._reply(request, {"volume": render_volume(self.store, volume, request)})

    async def action(self, request: Request) -> Response:
        body = await read_json(request)
        version = microversion(request, "volume", MIN_VERSION, MAX_VERSION)
        with self.store.change():
            volume = lookup(self.store, request.path_params["volume_id"])
            if "os-extend" in body:
                extend(self.store, self.faults, volume, body["os-extend"], version)
            elif "os-retype" in body:
                cinder_quota.check_retype_quota(self.store, volume, body["os-retype"] or {})
                cinder_types.retype(self.store, volume, body["os-retype"] or {})
            elif "os-set_bootable" in body:
                volume["bootable"] = str((body["os-set_bootable"] or {}).get("bootable")).lower() == "true"
                return Response(status_code=200)
            else:
                raise CloudError(400, f"Invalid input received: There is no such action: {', '.join(body)}")
            return Response(status_code=202)

    async def limits(self, request: Request) -> Response:
        with self.store.lock:
            table = quota.view(self.store, self.faults)
        absolute = {
            "maxTotalVolumes": table["volumes"]["limit"], "totalVolumesUsed": table["volumes"]["in_use"],
            "maxTotalVolumeGigabytes": table["gigabytes"]["limit"],
            "totalGigabytesUsed": table["gigabytes"]["in_use"],
            "maxTotalSnapshots": table["snapshots"]["limit"],
            "totalSnapshotsUsed": table["snapshots"]["in_use"],
            "maxTotalBackups": 10, "totalBackupsUsed": 0, "maxTotalBackupGigabytes": 1000,
            "totalBackupGigabytesUsed": 0,
        }
        return self._reply(request, {"limits": {"rate": [], "absolute": absolute}})

    async def quota_set(self, request: Request) -> Response:
        with self.store.lock:
            table = quota.view(self.store, self.faults)
        usage = request.query_params.get("usage", "").lower() in ("true", "1", "yes")
        limits = {"volumes": table["volumes"], "gigabytes": table["gigabytes"],
                  "snapshots": table["snapshots"], "backups": {"limit": 10, "in_use": 0},
                  "backup_gigabytes": {"limit": 1000, "in_use": 0}, "groups": {"limit": 10, "in_use": 0},
                  "per_volume_gigabytes": {"limit": -1, "in_use": 0}}
        with self.store.lock:
            limits |= cinder_types.type_quotas(self.store)
        quota_set: Record = {"id": request.path_params["tenant_id"]}
        detail = usage and not request.url.path.endswith("/defaults")
        for name, entry in limits.items():
            quota_set[name] = ({"limit": entry["limit"], "in_use": entry["in_use"], "reserved": 0,
                                "allocated": 0} if detail else entry["limit"])
        return self._reply(request, {"quota_set": quota_set})

    async def types(self, request: Request) -> Response:
        """`GET /types` (filtered like the other lists), `/types/{id}` and `/types/default`."""
        wanted = request.path_params.get("type_id")
        with self.store.lock:
            kinds = [cinder_types.render_type(k) for k in self.store.table("volume_types").values()]
            if wanted == "default":
                default = cinder_types.render_type(cinder_types.default_type(self.store))
        if wanted is None:
            found = [] if is_paged(request) else filter_records(kinds, request, ignore=["is_public"])
            return self._reply(request, {"volume_types": found})
        if wanted == "default":
            return self._reply(request, {"volume_type": default})
        match = [k for k in kinds if k["id"] == wanted]
        if not match:
            raise CloudError(404, f"Volume type {wanted} could not be found.")
        return self._reply(request, {"volume_type": match[0]})

    async def empty(self, request: Request) -> Response:
        return self._reply(request, {"snapshots": []})

    async def zones(self, request: Request) -> Response:
        zone = {"zoneName": "nova", "zoneState": {"available": True}}
        return self._reply(request, {"availabilityZoneInfo": [zone]})
