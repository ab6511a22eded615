"""Quota arithmetic shared by Nova, Cinder and Neutron: in use = the seed's outside usage plus
what exists in the sandbox; the limit comes from the seed unless a fault forces one."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.cloud.faults import QUOTA_NAMES, Faults
from sandbox.cloud.store import Store


@dataclass(frozen=True)
class Over:
    """One resource a request would push past its limit."""

    name: str
    requested: int
    used: int
    limit: int


def sandbox_usage(store: Store) -> dict[str, int]:
    """What the sandbox's own resources consume, per quota name."""
    servers = list(store.table("servers").values())
    volumes = list(store.table("volumes").values())
    project = store.project_id

    def owned(table: str) -> int:
        return sum(1 for r in store.table(table).values() if r.get("project_id") == project)

    usage = {name: 0 for name in QUOTA_NAMES}
    usage.update({
        "instances": len(servers),
        "cores": sum(int(s["flavor"]["vcpus"]) for s in servers),
        "ram": sum(int(s["flavor"]["ram"]) for s in servers),
        "key_pairs": len(store.table("keypairs")),
        "volumes": len(volumes),
        "gigabytes": sum(int(v["size"]) for v in volumes),
        "floatingip": owned("floatingips"),
        "port": owned("ports"),
        "network": owned("networks"),
        "subnet": owned("subnets"),
        "router": owned("routers"),
        "security_group": owned("security_groups"),
        "security_group_rule": owned("security_group_rules"),
    })
    return usage


def limit(store: Store, faults: Faults, name: str) -> int:
    forced = faults.quota.get(name)
    return int(store.quota_seed(name)["limit"]) if forced is None else forced


def in_use(store: Store, name: str, usage: dict[str, int] | None = None) -> int:
    usage = sandbox_usage(store) if usage is None else usage
    return int(store.quota_seed(name)["in_use"]) + usage[name]


def view(store: Store, faults: Faults) -> dict[str, dict[str, int]]:
    """{name: {limit, in_use}} for every quota."""
    usage = sandbox_usage(store)
    return {name: {"limit": limit(store, faults, name), "in_use": in_use(store, name, usage)}
            for name in QUOTA_NAMES}


def overs(store: Store, faults: Faults, requested: dict[str, int]) -> list[Over]:
    """The resources (sorted by name) that `requested` more units would push past their limit."""
    usage = sandbox_usage(store)
    result = []
    for name in sorted(requested):
        wanted, cap = requested[name], limit(store, faults, name)
        used = in_use(store, name, usage)
        if wanted > 0 and cap >= 0 and used + wanted > cap:
            result.append(Over(name, wanted, used, cap))
    return result
