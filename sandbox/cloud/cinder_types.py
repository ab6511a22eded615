"""Cinder volume types for the sandbox: the seeded types (the first is the default), lookups by
name or id, their API view, per-type quota usage and `os-retype`, with Cinder's rules and messages.
A type's `volume_backend_name` extra spec stands for its backend: changing it needs a migration."""

from __future__ import annotations

import time
import uuid

from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record

MIGRATION_POLICIES = ("on-demand", "never")
RETYPE_REFUSED = ("Invalid volume: Retype needs volume to be in available or in-use state, not be part of an "
                  "active migration or a consistency group, requested type has to be different that the one "
                  "from the volume, and for in-use volumes front-end qos specs cannot change.")


def find_type(store: Store, ref: str) -> Record:
    """A type by id, or by name (Cinder's get_by_name_or_id); 404 when neither matches."""
    kind = store.get("volume_types", ref)
    if kind is not None:
        return kind
    for kind in store.table("volume_types").values():
        if kind["name"] == ref:
            return kind
    try:
        uuid.UUID(ref)
    except ValueError:
        raise CloudError(404, f"Volume type with name {ref} could not be found.") from None
    raise CloudError(404, f"Volume type {ref} could not be found.")


def default_type(store: Store) -> Record:
    kinds = list(store.table("volume_types").values())
    return next((k for k in kinds if k.get("is_default")), kinds[0])


def type_of(store: Store, volume: Record) -> Record:
    """The volume's type; volumes saved by an older sandbox have the default one."""
    return store.get("volume_types", str(volume.get("volume_type_id"))) or default_type(store)


def render_type(kind: Record) -> Record:
    return {"id": kind["id"], "name": kind["name"], "description": kind["description"] or None,
            "is_public": kind["is_public"], "os-volume-type-access:is_public": kind["is_public"],
            "extra_specs": dict(kind["extra_specs"]), "qos_specs_id": None}


def type_quotas(store: Store) -> dict[str, dict[str, int]]:
    """Cinder's per-type quota entries (`volumes_<type>`, `gigabytes_<type>`, `snapshots_<type>`):
    the seed's limit (unlimited by default) and usage (the seed's outside usage plus the volumes)."""
    entries: dict[str, dict[str, int]] = {}
    volumes = list(store.table("volumes").values())
    seeded = store.state["quotas"]
    for kind in store.table("volume_types").values():
        typed = [v for v in volumes if type_of(store, v)["id"] == kind["id"]]
        used = {"volumes": len(typed), "gigabytes": sum(int(v["size"]) for v in typed), "snapshots": 0}
        for name, count in used.items():
            seed = seeded.get(f"{name}_{kind['name']}") or {"limit": -1, "in_use": 0}
            entries[f"{name}_{kind['name']}"] = {"limit": int(seed["limit"]),
                                                 "in_use": int(seed["in_use"]) + count}
    return entries


def retype(store: Store, volume: Record, body: Record) -> None:
    """`os-retype`: 202 once accepted. A move to another backend needs `migration_policy: on-demand`;
    with `never` Cinder's volume manager gives up after accepting it, and the volume keeps its type."""
    new_type, policy = body.get("new_type"), body.get("migration_policy")
    if not isinstance(new_type, str):
        raise CloudError(400, f"Invalid input for field/attribute new_type. Value: {new_type!r}. "
                              f"{new_type!r} is not of type 'string'")
    if policy is not None and policy not in MIGRATION_POLICIES:
        raise CloudError(400, f"Invalid input for field/attribute migration_policy. Value: {policy}. "
                              f"{policy!r} is not one of {list(MIGRATION_POLICIES)}")
    target, current = find_type(store, new_type), type_of(store, volume)
    if volume["status"] not in ("available", "in-use") or target["id"] == current["id"]:
        raise CloudError(400, RETYPE_REFUSED)
    backend = "volume_backend_name"
    migrates = target["extra_specs"].get(backend) != current["extra_specs"].get(backend)
    if migrates and policy != "on-demand":
        return  # "Retype requires migration but is not allowed." (in the volume's messages, not the reply)
    volume.update(volume_type_id=target["id"], updated=time.time())
