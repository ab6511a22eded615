"""Sizing: what a spec asks of a cloud, measured against what the cloud has left. Pure arithmetic
on the catalog's figures (figures.py), used by the pre-flight check before plan and by the form.
No network, no disk, no clock here (except `state_usage`, which reads one state file)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from reconciler.cloud import images
from reconciler.cloud.figures import NETWORK_QUOTA_KEYS, QUOTA_KEYS, Flavor, Quota, Snapshot
from reconciler.cloud.secgroups import BUNDLED_FIREWALL, DEFAULT_EGRESS_RULES, Rules, security_group_needs
from reconciler.cloud.shortfall import Shortfall
from reconciler.model.files import read_regular
from reconciler.model.spec import ClusterSpec, Instance
from reconciler.model.tfstate import state_file

# Magic Castle's minimum flavor per role (vCPUs, RAM in MiB), as MC Hub offered them. The order is
# the order `role_of` tries them in; an instance group with none of these tags is a node.
ROLE_MINIMUMS: dict[str, tuple[int, int]] = {
    "mgmt": (2, 6 * 1024),
    "login": (2, 2 * 1024),
    "node": (1, 2 * 1024),
}
DEFAULT_ROLE = "node"
# Magic Castle's root disk: 10 GB, 20 GB on mgmt; a flavor with less gets a boot volume that size.
ROOT_DISK_GB = 10
MGMT_ROOT_DISK_GB = 20


@dataclass(frozen=True)
class Usage:
    """An amount of each quota: what a spec needs, or what a built cluster holds."""

    instances: int = 0
    cores: int = 0
    ram: int = 0
    volumes: int = 0
    gigabytes: int = 0
    floating_ips: int = 0
    security_groups: int = 0
    security_group_rules: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(*(a + b for a, b in zip(self.values(), other.values(), strict=True)))

    def values(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


# -- flavors ---------------------------------------------------------------------------------


def role_of(tags: Iterable[str]) -> str:
    """The Magic Castle role an instance group plays, by its tags: mgmt, else login, else node."""
    tags = set(tags)
    return next((role for role in ROLE_MINIMUMS if role in tags), DEFAULT_ROLE)


def flavor_roles(flavor: Flavor) -> tuple[str, ...]:
    """The roles (mgmt, login, node) whose Magic Castle minimums this flavor meets."""
    return tuple(r for r, (cpu, ram) in ROLE_MINIMUMS.items() if flavor.vcpus >= cpu and flavor.ram >= ram)


def ordered(flavors: Iterable[Flavor]) -> list[Flavor]:
    """Smallest first: by RAM, then vCPUs, then name."""
    return sorted(flavors, key=lambda f: (f.ram, f.vcpus, f.name))


def flavors_by_role(flavors: Iterable[Flavor]) -> dict[str, list[str]]:
    """For each role, the flavor names that may serve it, smallest first."""
    sized = ordered(flavors)
    return {role: [f.name for f in sized if role in flavor_roles(f)] for role in ROLE_MINIMUMS}


def root_disk_gb(instance: Instance) -> int:
    if instance.disk_size is not None:
        return instance.disk_size
    return MGMT_ROOT_DISK_GB if role_of(instance.tags) == "mgmt" else ROOT_DISK_GB


def boot_volume_gb(flavor: Flavor, root_gb: int = ROOT_DISK_GB) -> int:
    """Size of the boot volume an instance of this flavor gets (0: it boots from the flavor's disk)."""
    return root_gb if flavor.disk < root_gb else 0


# -- what a spec needs, what a cluster holds ---------------------------------------------------


def needs(
    spec: ClusterSpec, flavors: Mapping[str, Flavor] | Iterable[Flavor], rules: Rules = BUNDLED_FIREWALL
) -> Usage:
    """The quota a spec consumes once built. An unknown flavor adds no cores, RAM or boot volume
    (the pre-flight reports it separately). Security groups: secgroups.py."""
    by_name = _by_name(flavors)
    tags = {t for inst in spec.instances.values() if inst.count for t in inst.tags}
    groups, rule_count = security_group_needs(tags, rules)
    total = Usage(security_groups=groups, security_group_rules=rule_count)
    for inst in spec.instances.values():
        n = inst.count
        flavor = by_name.get(inst.type)
        boot = boot_volume_gb(flavor, root_disk_gb(inst)) if flavor else 0
        total += Usage(
            instances=n,
            cores=n * flavor.vcpus if flavor else 0,
            ram=n * flavor.ram if flavor else 0,
            volumes=n if boot else 0,
            gigabytes=n * boot,
            floating_ips=n if "public" in inst.tags else 0,
        )
        for tag in inst.tags:
            sizes = [v.size for v in spec.volumes.get(tag, {}).values()]
            total += Usage(volumes=n * len(sizes), gigabytes=n * sum(sizes))
    return total


_VOLUME_TYPES = ("openstack_blockstorage_volume_v3", "openstack_blockstorage_volume_v2")
_FIP_TYPES = ("openstack_networking_floatingip_v2", "openstack_compute_floatingip_v2")
_GROUP_TYPE, _RULE_TYPE = "openstack_networking_secgroup_v2", "openstack_networking_secgroup_rule_v2"


def cluster_usage_from_state(
    state: Mapping[str, Any], flavors: Mapping[str, Flavor] | Iterable[Flavor]
) -> Usage:
    """What a built cluster holds, from its Terraform state (format 4). Cores and RAM need the
    flavors, since the state names an instance's flavor but not its size."""
    by_name = _by_name(flavors)
    by_id = {f.id: f for f in by_name.values() if f.id}
    total = Usage()
    for res in state.get("resources") or []:
        if res.get("mode", "managed") != "managed":
            continue
        kind = res.get("type")
        for item in res.get("instances") or []:
            attrs = item.get("attributes") or {}
            if kind == "openstack_compute_instance_v2":
                flavor = by_name.get(attrs.get("flavor_name") or "") or by_id.get(
                    attrs.get("flavor_id") or ""
                )
                total += Usage(
                    instances=1, cores=flavor.vcpus if flavor else 0, ram=flavor.ram if flavor else 0
                )
                for dev in attrs.get("block_device") or []:
                    if dev.get("destination_type") == "volume" and dev.get("source_type") != "volume":
                        total += Usage(volumes=1, gigabytes=int(dev.get("volume_size") or 0))
            elif kind in _VOLUME_TYPES:
                total += Usage(volumes=1, gigabytes=int(attrs.get("size") or 0))
            elif kind in _FIP_TYPES:
                total += Usage(floating_ips=1)
            elif kind == _GROUP_TYPE:  # with Neutron's own egress rules, unless they were deleted
                egress = 0 if attrs.get("delete_default_rules") else DEFAULT_EGRESS_RULES
                total += Usage(security_groups=1, security_group_rules=egress)
            elif kind == _RULE_TYPE:
                total += Usage(security_group_rules=1)
    return total


def volumes_by_type(state: Mapping[str, Any], default: str | None) -> dict[str, tuple[int, int]]:
    """(volumes, gigabytes) per volume type a built cluster holds; boot volumes and volumes of no
    recorded type count as the default type."""
    out: dict[str, tuple[int, int]] = {}

    def add(kind: str | None, size: int) -> None:
        if kind:
            count, gigabytes = out.get(kind, (0, 0))
            out[kind] = (count + 1, gigabytes + size)

    for res in state.get("resources") or []:
        for item in res.get("instances") or [] if res.get("mode", "managed") == "managed" else []:
            attrs = item.get("attributes") or {}
            if res.get("type") in _VOLUME_TYPES:
                add(attrs.get("volume_type") or default, int(attrs.get("size") or 0))
            elif res.get("type") == "openstack_compute_instance_v2":
                for dev in attrs.get("block_device") or []:
                    if dev.get("destination_type") == "volume" and dev.get("source_type") != "volume":
                        add(default, int(dev.get("volume_size") or 0))
    return out


def read_state(clusters_dir: Path, name: str) -> dict[str, Any]:
    """The cluster's Terraform state (model/tfstate.py), or {} when unbuilt or unreadable."""
    try:
        state = json.loads(read_regular(state_file(clusters_dir / name), 256 << 20))
    except (OSError, ValueError):  # none, refused (a link, too big: UnreadableFile) or not JSON
        return {}
    return state if isinstance(state, dict) else {}


def state_usage(clusters_dir: Path, name: str, flavors: Mapping[str, Flavor] | Iterable[Flavor]) -> Usage:
    """What `clusters/<name>/` holds according to its terraform.tfstate; nothing when unbuilt."""
    return cluster_usage_from_state(read_state(clusters_dir, name), flavors)


def remaining(quotas: Mapping[str, Quota], own_usage: Usage | None = None) -> dict[str, int | None]:
    """limit - in use, per quota, with the cluster's own usage given back (None = unlimited)."""
    own = (own_usage or Usage()).as_dict()
    out: dict[str, int | None] = {}
    for key in QUOTA_KEYS + NETWORK_QUOTA_KEYS:
        quota = quotas.get(key, Quota(None))
        out[key] = None if quota.limit is None else quota.limit - max(quota.in_use - own[key], 0)
    return out


# -- pre-flight ------------------------------------------------------------------------------


def preflight(
    spec: ClusterSpec, snapshot: Snapshot, own_usage: Usage | None = None, rules: Rules = BUNDLED_FIREWALL
) -> list[str]:
    """Every reason the spec's flavors, images and quotas do not fit the snapshot's cloud, in words a
    person can act on; empty when it fits (`catalog_problems`, then each shortfall's line)."""
    found = shortfalls(spec, snapshot, own_usage, rules)
    return catalog_problems(spec, snapshot) + [s.line() for s in found]


def catalog_problems(spec: ClusterSpec, snapshot: Snapshot) -> list[str]:
    """Flavors and images the spec names that the cloud does not offer: the spec (or the cloud)
    must change. A part the catalog could not read is not checked (checks.py says so)."""
    problems: list[str] = []
    by_name = _by_name(snapshot.flavors)
    for prefix, inst in spec.instances.items() if "flavors" not in snapshot.unknown else ():
        if inst.type not in by_name:
            fitting = flavors_by_role(by_name.values())[role_of(inst.tags)]
            choices = fitting or [f.name for f in ordered(by_name.values())]
            problems.append(f'instances.{prefix}.type: flavor "{inst.type}" does not exist; '
                            f"choose one of {_list(choices)}")  # fmt: skip
    wanted = [("image", spec.image)] + [(f"instances.{p}.image", i.image) for p, i in spec.instances.items()
                                        if i.image is not None]  # fmt: skip
    for path, image in wanted if "images" not in snapshot.unknown else ():
        problem = images.problem(image, snapshot.images, f"{path}: image")
        if problem is not None:
            problems.append(problem)
    return problems


def shortfalls(
    spec: ClusterSpec, snapshot: Snapshot, own_usage: Usage | None = None, rules: Rules = BUNDLED_FIREWALL
) -> list[Shortfall]:
    """The quotas the spec needs more of than the cloud has free (a wait, not a spec error).
    `own_usage` is what the cluster already holds (when editing): given back before comparing."""
    need = needs(spec, snapshot.flavors, rules).as_dict()
    left = remaining(snapshot.quotas, own_usage)
    found: list[Shortfall] = []
    for key in QUOTA_KEYS + NETWORK_QUOTA_KEYS:
        free, quota = left[key], snapshot.quotas.get(key)
        if free is not None and quota is not None and quota.limit is not None and need[key] > free:
            found.append(Shortfall(key, need[key], free, quota.limit))
    return found


def _by_name(flavors: Mapping[str, Flavor] | Iterable[Flavor]) -> dict[str, Flavor]:
    if isinstance(flavors, Mapping):
        return dict(flavors)
    return {f.name: f for f in flavors}


def _list(names: list[str], limit: int = 12) -> str:
    if not names:
        return "(none available)"
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
