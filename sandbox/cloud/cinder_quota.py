"""Cinder's quota checks for the sandbox: a new or grown volume against `volumes` and `gigabytes`,
then against its type's `volumes_<type>` and `gigabytes_<type>`; a retype against the new type's.
Refusals are Cinder's 413s, worded as Cinder words them."""

from __future__ import annotations

from sandbox.cloud import cinder_types, quota
from sandbox.cloud.faults import Faults
from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record


def _type_overs(store: Store, kind: Record, volumes: int, gigabytes: int) -> list[quota.Over]:
    """The per-type quotas (`volumes_<type>`, `gigabytes_<type>`) a request would exceed."""
    entries = cinder_types.type_quotas(store)
    result = []
    for name, wanted in ((f"gigabytes_{kind['name']}", gigabytes), (f"volumes_{kind['name']}", volumes)):
        entry = entries[name]
        if wanted > 0 and entry["limit"] >= 0 and entry["in_use"] + wanted > entry["limit"]:
            result.append(quota.Over(name, wanted, entry["in_use"], entry["limit"]))
    return result


def check_quota(store: Store, faults: Faults, volumes: int, gigabytes: int,
                kind: Record | None = None) -> None:
    """Cinder's 413 for a request past the volumes or gigabytes quota, then past its type's."""
    overs = quota.overs(store, faults, {"volumes": volumes, "gigabytes": gigabytes})
    _refuse(overs + _type_overs(store, kind or cinder_types.default_type(store), volumes, gigabytes))


def check_retype_quota(store: Store, volume: Record, body: Record) -> None:
    """A retype moves the volume's count and size to the new type's quotas, as Cinder reserves them."""
    new_type = body.get("new_type")
    if isinstance(new_type, str):
        target = cinder_types.find_type(store, new_type)
        if target["id"] != cinder_types.type_of(store, volume)["id"]:
            _refuse(_type_overs(store, target, 1, int(volume["size"])))


def _refuse(overs: list[quota.Over]) -> None:
    for over in sorted(overs, key=lambda o: "gigabytes" not in o.name):
        if over.name.startswith("gigabytes"):
            raise CloudError(413, f"VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds "
                                  f"allowed {over.name} quota. Requested {over.requested}G, quota is "
                                  f"{over.limit}G and {over.used}G has been consumed.")
        raise CloudError(413, f"VolumeLimitExceeded: Maximum number of volumes allowed ({over.limit}) "
                              f"exceeded for quota '{over.name}'.")
