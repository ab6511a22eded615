"""`mchub doctor CLOUD`: every check the hub can make against one cloud before a first cluster, one
line each, `ready` or `fix: <what to do>`: credentials, each catalog part, network discovery, the
router, quota headroom for one small cluster, images, volume types, Terraform, the providers
`terraform init` needs, and the egress a Magic Castle module needs. Exit 0 when all are ready.
The line wording is quoted by docs/real-cloud.md's first-day checklist: keep it stable."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Sequence

from reconciler.cloud.checks import UNCHECKED
from reconciler.cloud.fetch import CatalogError, connect, fetch_snapshot, guard
from reconciler.cloud.figures import PARTS, QUOTA_PARTS, QUOTA_UNITS, Snapshot
from reconciler.cloud.networks import discover, reachable, router_fix
from reconciler.cloud.secgroups import rules_of, security_group_needs
from reconciler.cloud.sizing import ROLE_MINIMUMS
from reconciler.entry import doctor_tools
from reconciler.entry.doctor_tools import Line
from reconciler.model.settings import CloudConfig, Settings
from reconciler.terraform import TerraformError, find_terraform, terraform_version

# What the smallest Magic Castle cluster takes (mgmt, a public login with proxy, one node, at the
# role minimums; one volume): a quota with less free says "fix" before the first spec does.
SMALLEST_CLUSTER = {
    "instances": 3,
    "cores": sum(cpu for cpu, _ in ROLE_MINIMUMS.values()),
    "ram": sum(ram for _, ram in ROLE_MINIMUMS.values()),
    "volumes": 1,
    "gigabytes": 10,
    "floating_ips": 1,
}
SMALLEST_TAGS = ("mgmt", "nfs", "puppet", "login", "public", "proxy", "node")
QUOTA_WORDS = {"security_groups": "security groups", "security_group_rules": "security group rules",
               "floating_ips": "floating IPs", "ram": "RAM"}  # fmt: skip


def run(args: argparse.Namespace, settings: Settings) -> int:
    cloud = settings.cloud(args.cloud)  # SettingsError: one line from main()
    lines = list(checks(settings, cloud, timeout=args.timeout))
    for line in lines:
        print(line)
    bad = [line for line in lines if not line.ready and not line.skipped]
    print(f"{len(bad)} to fix" if bad else f"cloud {cloud.name} is ready")
    return 1 if bad else 0


def checks(settings: Settings, cloud: CloudConfig, timeout: float = 10.0,
           egress: Sequence[tuple[str, int]] = doctor_tools.EGRESS) -> Iterator[Line]:  # fmt: skip
    """Every check, in the order a person fixes them: the cloud first, then this machine."""
    snapshot = None
    credentials = _credentials(cloud, timeout)
    yield credentials
    if credentials.ready:
        try:
            snapshot = fetch_snapshot(cloud, timeout)
        except CatalogError as exc:
            yield Line("catalog", False, str(exc))
    if snapshot is None:
        why = "the cloud could not be read"
        yield from (
            Line(name, False, why, skipped=True) for name in ("network", "router", "quotas", "images")
        )
    else:
        yield from _catalog(snapshot, cloud)
    yield from _local(settings, cloud, timeout, egress)


def _credentials(cloud: CloudConfig, timeout: float) -> Line:
    try:
        conn = connect(cloud, timeout)
        try:
            guard(cloud.name, "authentication", conn.session.get_project_id)
            auth_type = str(conn.config.config.get("auth_type") or "password")
        finally:
            conn.close()
    except CatalogError as exc:
        return Line("credentials", False, str(exc))
    if "password" in auth_type:
        return Line("credentials", True, "with a password: application credentials are recommended, "
                    "`openstack application credential create mchub`, then auth_type v3applicationcredential "
                    "in clouds.yaml")  # fmt: skip
    return Line("credentials", True, auth_type)


def _catalog(snap: Snapshot, cloud: CloudConfig) -> Iterator[Line]:
    for part in PARTS:
        why = snap.unknown.get(part)
        fix = f"{why}: let these credentials read {UNCHECKED[part]}, or the pre-flight cannot check them"
        yield Line(f"catalog {part.replace('_', ' ')}", why is None, fix if why else "")
    yield from _network(snap, cloud)
    yield from _quotas(snap, cloud)
    if "images" not in snap.unknown:
        active = sorted({i.name for i in snap.images if i.active})
        fix = "the project sees no active image: upload one, or ask the cloud's operators"
        yield Line("images", bool(active), f"{len(active)} active" if active else fix)
    if "volume_types" not in snap.unknown:
        names = [t.name + (" (default)" if t.default else "") for t in snap.volume_types]
        fix = "the cloud offers no volume type: volumes cannot be created"
        yield Line("volume types", bool(names), ", ".join(names) if names else fix)


def _network(snap: Snapshot, cloud: CloudConfig) -> Iterator[Line]:
    if "networks" in snap.unknown:
        yield Line("network", False, "networks could not be read", skipped=True)
        return
    placement = discover(cloud, snap.networks)
    if placement.problems:
        yield Line("network", False, "; ".join(placement.problems))
    elif placement.subnet is not None and placement.network is not None:
        subnet = placement.subnet.name or placement.subnet.id
        yield Line("network", True, f"{placement.network.name}, subnet {subnet}")
    if placement.external is None:
        yield Line("external network", False, placement.external_problem or "none")
        yield Line("router", False, "no external network chosen", skipped=True)
        return
    yield Line("external network", True, placement.external.name)
    if placement.subnet is None:
        yield Line("router", False, "no subnet chosen", skipped=True)
    elif reachable(placement.subnet, placement.external, snap.routers):
        yield Line(
            "router",
            True,
            f"{placement.subnet.name or placement.subnet.id} reaches {placement.external.name}",
        )
    else:
        yield Line("router", False, router_fix(placement.subnet, placement.external))


def smallest_cluster(cloud: CloudConfig) -> dict[str, int]:
    """SMALLEST_CLUSTER with the security groups and rules it gets on `cloud`."""
    groups, rules = security_group_needs(SMALLEST_TAGS, rules_of(cloud))
    return {**SMALLEST_CLUSTER, "security_groups": groups, "security_group_rules": rules}


def _quotas(snap: Snapshot, cloud: CloudConfig) -> Iterator[Line]:
    for key, need in smallest_cluster(cloud).items():
        name = f"quota {QUOTA_WORDS.get(key, key)}"
        if QUOTA_PARTS[key] in snap.unknown:
            yield Line(name, False, f"{QUOTA_PARTS[key].replace('_', ' ')} could not be read", skipped=True)
            continue
        quota = snap.quotas.get(key)
        if quota is None or quota.limit is None:
            yield Line(name, True, "unlimited")
            continue
        free, unit = quota.limit - quota.in_use, f" {QUOTA_UNITS[key]}" if key in QUOTA_UNITS else ""
        detail = f"{free}{unit} free of {quota.limit}{unit}"
        fix = (f"{detail}, the smallest cluster needs {need}{unit}: free some, or ask the cloud's operators "
               "for more")  # fmt: skip
        yield Line(name, free >= need, detail if free >= need else fix)


def _local(settings: Settings, cloud: CloudConfig, timeout: float,
           egress: Sequence[tuple[str, int]]) -> Iterator[Line]:  # fmt: skip
    try:
        binary = find_terraform(settings.terraform)
        version = terraform_version(binary)
    except TerraformError as exc:
        yield Line("terraform", False, str(exc))
    else:
        old = doctor_tools.too_old(version)
        yield Line("terraform", not old, f"{version} at {binary}" if not old else old)
    yield doctor_tools.providers(cloud, timeout)
    yield doctor_tools.egress(cloud, egress, min(timeout, 5.0))
