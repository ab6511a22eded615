"""What a real project can lack beyond flavors and quota: a network the cluster can go on, a router
from its subnet to the external network (for public hosts), the volume types a spec names and their
per-type quotas. The pre-flight (preflight.py) runs these after sizing.preflight; `mchub doctor`
runs the network ones without a spec. Pure: figures, settings and a spec in, sentences out."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.cloud.figures import Snapshot
from reconciler.cloud.networks import Placement, discover, reachable, router_fix
from reconciler.cloud.shortfall import Shortfall
from reconciler.cloud.sizing import Usage
from reconciler.model.settings import CloudConfig
from reconciler.model.spec import ClusterSpec

# Catalog part -> what the pre-flight could not check without it (said when it refuses anyway).
UNCHECKED = {
    "flavors": "flavors",
    "images": "images",
    "networks": "networks and routers",
    "volume_types": "volume types",
    "compute_quotas": "instance, core and RAM quotas",
    "volume_quotas": "volume quotas",
    "network_quotas": "floating IP and security group quotas",
}


def cloud_problems(spec: ClusterSpec, snapshot: Snapshot, cloud: CloudConfig, need: Usage,
                   own_by_type: Mapping[str, tuple[int, int]] | None = None) -> list[str]:  # fmt: skip
    """Network, router and volume type problems of `spec` on the snapshot's cloud, per-type quota
    shortfalls included (as lines). `need` is what the spec needs in all (sizing.needs);
    `own_by_type` what the built cluster holds per volume type."""
    problems, short = cloud_fit(spec, snapshot, cloud, need, own_by_type)
    return problems + [s.line() for s in short]


def cloud_fit(spec: ClusterSpec, snapshot: Snapshot, cloud: CloudConfig, need: Usage,
              own_by_type: Mapping[str, tuple[int, int]] | None = None,
              ) -> tuple[list[str], list[Shortfall]]:  # fmt: skip
    """`cloud_problems` told apart: what needs a spec or cloud change (networks, routers, unknown
    volume types), and the per-type quota shortfalls a cluster can wait out."""
    problems: list[str] = []
    short: list[Shortfall] = []
    if "networks" not in snapshot.unknown:
        problems += network_problems(spec, snapshot, cloud)
    if "volume_types" not in snapshot.unknown:
        problems += unknown_volume_types(spec, snapshot)
        short += type_shortfalls(spec, snapshot, need, own_by_type or {})
    return problems, short


def unchecked(snapshot: Snapshot) -> str | None:
    """The line that says what the pre-flight could not check, or None when it checked all."""
    if not snapshot.unknown:
        return None
    parts = "; ".join(f"{UNCHECKED.get(p, p)} ({why})" for p, why in snapshot.unknown.items())
    return f"(not checked, the cloud did not tell: {parts})"


def public_prefixes(spec: ClusterSpec) -> list[str]:
    return [p for p, inst in spec.instances.items() if "public" in inst.tags and inst.count]


def network_problems(spec: ClusterSpec | None, snapshot: Snapshot, cloud: CloudConfig) -> list[str]:
    """Discovery, and router reachability when some host is public (every check without a spec)."""
    placement = discover(cloud, snapshot.networks)
    public = public_prefixes(spec) if spec is not None else ["(any)"]
    problems = list(placement.problems)
    if public and placement.external_problem:
        problems.append(placement.external_problem)
    if public:
        problems += router_problems(placement, snapshot, cloud, public)
    return problems


def router_problems(placement: Placement, snapshot: Snapshot, cloud: CloudConfig,
                    public: list[str]) -> list[str]:  # fmt: skip
    subnet, external = placement.subnet, placement.external
    if subnet is None or external is None or reachable(subnet, external, snapshot.routers):
        return []
    hosts = "" if public == ["(any)"] else f"instances.{public[0]}: public hosts need floating IPs, but "
    return [f"{hosts}cloud {cloud.name}: external network {external.name} is not reachable from subnet "
            f"{subnet.name or subnet.id}: {router_fix(subnet, external)}"]  # fmt: skip


def volume_type_problems(spec: ClusterSpec, snapshot: Snapshot, need: Usage,
                         own_by_type: Mapping[str, tuple[int, int]]) -> list[str]:  # fmt: skip
    """Unknown volume types, then per-type quota shortfalls, as lines."""
    short = type_shortfalls(spec, snapshot, need, own_by_type)
    return unknown_volume_types(spec, snapshot) + [s.line() for s in short]


def unknown_volume_types(spec: ClusterSpec, snapshot: Snapshot) -> list[str]:
    """Every volume's type exists on the cloud (else the spec must name another)."""
    names = [t.name for t in snapshot.volume_types]
    problems: list[str] = []
    for tag, volumes in spec.volumes.items():
        for name, volume in volumes.items():
            if volume.type is not None and volume.type not in names:
                choices = ", ".join(sorted(names)) or "none"
                problems.append(f'volumes.{tag}.{name}.type: volume type "{volume.type}" does not exist; '
                                f"choose one of {choices}")  # fmt: skip
    return problems


def type_shortfalls(spec: ClusterSpec, snapshot: Snapshot, need: Usage,
                    own_by_type: Mapping[str, tuple[int, int]]) -> list[Shortfall]:  # fmt: skip
    """Each volume type's volumes and gigabytes against its per-type quota (Cinder's
    `volumes_<type>`, `gigabytes_<type>`). A volume without a type, and every boot volume, gets the
    default type: what `need` holds beyond the typed volumes. Unknown types are skipped here."""
    names = [t.name for t in snapshot.volume_types]
    default = next((t.name for t in snapshot.volume_types if t.default), None)
    want: dict[str, list[int]] = {}  # type -> [volumes, gigabytes]
    for tag, volumes in spec.volumes.items():
        hosts = sum(inst.count for inst in spec.instances.values() if tag in inst.tags)
        for volume in volumes.values():
            if volume.type is not None and volume.type in names and volume.type != default:
                typed = want.setdefault(volume.type, [0, 0])
                typed[0], typed[1] = typed[0] + hosts, typed[1] + hosts * volume.size
    if default is not None:  # the rest: untyped volumes and boot volumes
        others = [sum(w[i] for w in want.values()) for i in (0, 1)]
        want[default] = [need.volumes - others[0], need.gigabytes - others[1]]
    short: list[Shortfall] = []
    for kind, (count, gigabytes) in sorted(want.items()):
        own_count, own_gb = own_by_type.get(kind, (0, 0))
        pairs = ((f"volumes_{kind}", count, own_count), (f"gigabytes_{kind}", gigabytes, own_gb))
        for key, amount, own in pairs:
            quota = snapshot.quotas.get(key)
            if quota is None or quota.limit is None:
                continue
            free = quota.limit - max(quota.in_use - own, 0)
            if amount > free:
                short.append(Shortfall(key, amount, free, quota.limit))
    return short
