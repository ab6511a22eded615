"""The resources payload: a catalog snapshot as the JSON that `GET /api/resources`, `mchub resources`
and the cluster form read, and the flavors read back out of it by the web view. One home for the
format, both ways, and for which cloud a project's figures come from. Pure: the caller passes the
clock's reading."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from reconciler.cloud.figures import NETWORK_QUOTA_KEYS, QUOTA_KEYS, QUOTA_PARTS, Flavor, Snapshot
from reconciler.cloud.sizing import (
    MGMT_ROOT_DISK_GB,
    Usage,
    boot_volume_gb,
    flavor_roles,
    flavors_by_role,
    ordered,
    remaining,
)
from reconciler.model.projects import Project


def snapshot_payload(snap: Snapshot, own: Usage, now: float, cluster: str | None = None) -> dict[str, Any]:
    """The snapshot as JSON data; `own` (a cluster's own usage) is given back to what remains.
    Flavors come smallest first, so readers (the form's script too) never sort them again."""
    age = snap.age(now)
    return {
        "cloud": snap.cloud,
        "cluster": cluster,
        "fetched_at": None if snap.fetched_at is None else _iso(snap.fetched_at),
        "age_seconds": None if age is None else round(age, 1),
        "stale": snap.stale,
        "error": snap.error,
        "quotas": _quotas(snap, own) if snap.has_figures else {},
        "flavors": [_flavor(f) for f in ordered(snap.flavors)],
        "flavors_by_role": flavors_by_role(snap.flavors),
        "images": sorted({i.name for i in snap.images if i.active}),  # only those that can boot
        "networks": [{"name": n.name, "external": n.external} for n in snap.networks],
        "volume_types": [
            {"name": t.name, "description": t.description, "default": t.default} for t in snap.volume_types
        ],  # fmt: skip
        "unknown": dict(snap.unknown),  # catalog part -> why it could not be read this time
    }


def project_cloud(projects: Mapping[str, Project], project: str, cloud: str | None = None) -> str:
    """The cloud entry whose figures a project's clusters use (`?project=NAME`, `--project NAME`):
    its allocation, so its quota. ValueError, naming the choices, for a project this hub does not
    have or a `cloud` that is not the project's."""
    known = projects.get(project)
    if known is None:
        if not projects:
            raise ValueError(f'project "{project}": this hub has no projects; leave project out')
        raise ValueError(
            f'project "{project}" is not a project of this hub; choose one of {", ".join(sorted(projects))}'
        )
    if cloud is not None and cloud != known.cloud:
        raise ValueError(
            f"project {project} runs on cloud {known.cloud}; leave cloud out, or set it to {known.cloud}"
        )
    return known.cloud


def payload_flavors(payload: Mapping[str, Any]) -> list[Flavor]:
    """The payload's flavors as figures, smallest first whatever order they came in."""
    return ordered(
        Flavor(str(f["name"]), int(f["vcpus"]), int(f["ram"]), int(f.get("disk") or 0))
        for f in payload.get("flavors") or []
    )


def _quotas(snap: Snapshot, own: Usage) -> dict[str, dict[str, Any]]:
    """Per quota: limit (None = unlimited), in use, remaining, the cluster's own usage; a quota whose
    part could not be read has all three None and `"unknown": true` (never shown as unlimited)."""
    left, own_d = remaining(snap.quotas, own), own.as_dict()
    quotas: dict[str, dict[str, Any]] = {}
    for key in QUOTA_KEYS + NETWORK_QUOTA_KEYS:
        q = snap.quotas.get(key)
        if QUOTA_PARTS[key] in snap.unknown:
            quotas[key] = {"limit": None, "in_use": None, "remaining": None, "cluster_usage": own_d[key],
                           "unknown": True}  # fmt: skip
            continue
        quotas[key] = {"limit": q.limit if q else None, "in_use": q.in_use if q else 0,
                       "remaining": left[key] if q else None, "cluster_usage": own_d[key]}  # fmt: skip
    return quotas


def _flavor(f: Flavor) -> dict[str, Any]:
    return {
        "name": f.name,
        "vcpus": f.vcpus,
        "ram": f.ram,
        "disk": f.disk,
        "roles": list(flavor_roles(f)),
        "boot_volume_gb": boot_volume_gb(f),
        "boot_volume_gb_mgmt": boot_volume_gb(f, MGMT_ROOT_DISK_GB),
    }


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
