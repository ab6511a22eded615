"""The cluster's firewall, in one place: which `firewall_rules` a cluster gets on its cloud (Magic
Castle's defaults for its release, the bundled module's, or SSH and ICMP from the cloud's
`ssh_cidrs`), and how many Neutron security groups and rules that creates, so the pre-flight can
check the project's `security_group` and `security_group_rule` quotas (Neutron's defaults, 10 and
100, run out on the 3rd or 4th cluster). render.py renders these rules; sizing.py counts them.

The counts follow Magic Castle's openstack/network-1.tf, which the bundled module copies (see the
header of templates/modules/openstack-vms/network.tf): one "global" group with one rule (everything
between the cluster's members), one group per tag that has rules and is carried by some instance,
one rule per such entry; Neutron adds 2 egress rules (IPv4, IPv6) to every new group. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.model.settings import CloudConfig

Rules = Mapping[str, Mapping[str, Any]]

DEFAULT_SSH_CIDRS = ("0.0.0.0/0",)
GLOBAL_RULES = 1  # the global group's rule: everything from the group itself
DEFAULT_EGRESS_RULES = 2  # Neutron's own rules on every new group: all egress, IPv4 and IPv6

# Magic Castle's firewall_rules defaults (common/variables.tf), by release.
MC15_FIREWALL: dict[str, dict[str, Any]] = {
    "ssh": {"from_port": 22, "to_port": 22, "tag": "login"},
    "http": {"from_port": 80, "to_port": 80, "tag": "proxy"},
    "https": {"from_port": 443, "to_port": 443, "tag": "proxy"},
    "GlobusHTTPS": {"from_port": 443, "to_port": 443, "tag": "dtn"},
    "GridFTP": {"from_port": 50000, "to_port": 51000, "tag": "dtn"},
}
MC14_FIREWALL: dict[str, dict[str, Any]] = {
    "ssh": {"from_port": 22, "to_port": 22, "tag": "login"},
    "http": {"from_port": 80, "to_port": 80, "tag": "proxy"},
    "https": {"from_port": 443, "to_port": 443, "tag": "proxy"},
    "Globus": {"from_port": 2811, "to_port": 2811, "cidr": "54.237.254.192/29", "tag": "dtn"},
    "MyProxy": {"from_port": 7512, "to_port": 7512, "tag": "dtn"},
    "GridFTP": {"from_port": 50000, "to_port": 51000, "tag": "dtn"},
}
# ICMP to the login nodes (ping, path MTU discovery): ports 0 are left out of the request, which
# means every ICMP type and code. The bundled module has it by default; Magic Castle does not.
ICMP = {"from_port": 0, "to_port": 0, "tag": "login", "protocol": "icmp"}
BUNDLED_FIREWALL: dict[str, dict[str, Any]] = {**MC15_FIREWALL, "icmp": ICMP}


def default_rules(module: str) -> dict[str, dict[str, Any]]:
    """The rules a module applies when main.tf passes none."""
    if module == "bundled":
        return BUNDLED_FIREWALL
    release = module.split(":", 1)[1] if module.startswith("magic_castle:") else ""
    return MC14_FIREWALL if release.startswith("14.") else MC15_FIREWALL


def firewall_rules(cloud: CloudConfig) -> dict[str, dict[str, Any]] | None:
    """What main.tf passes as `firewall_rules`: SSH and ICMP to the login nodes from
    `cloud.ssh_cidrs` only, the module's other default rules kept; None (the module's default)
    while SSH is open to all."""
    if tuple(cloud.ssh_cidrs) == DEFAULT_SSH_CIDRS:
        return None
    rules = {name: dict(rule) for name, rule in default_rules(cloud.module).items() if rule["tag"] != "login"}
    for i, cidr in enumerate(cloud.ssh_cidrs):
        suffix = "" if len(cloud.ssh_cidrs) == 1 else f"-{i + 1}"
        family = {"ethertype": "IPv6"} if ":" in cidr else {}
        rules[f"ssh{suffix}"] = {"from_port": 22, "to_port": 22, "tag": "login", "cidr": cidr, **family}
        rules[f"icmp{suffix}"] = {**ICMP, "cidr": cidr, **family}
    return rules


def rules_of(cloud: CloudConfig) -> dict[str, dict[str, Any]]:
    """The rules a cluster on `cloud` really gets."""
    return firewall_rules(cloud) or default_rules(cloud.module)


def security_group_needs(tags: Iterable[str], rules: Rules = BUNDLED_FIREWALL) -> tuple[int, int]:
    """(groups, rules counted by Neutron's security_group_rule quota) of a cluster whose
    instances carry `tags`, under `rules`."""
    carried = set(tags)
    applied = [rule for rule in rules.values() if rule["tag"] in carried]
    groups = 1 + len({rule["tag"] for rule in applied})
    return groups, GLOBAL_RULES + len(applied) + DEFAULT_EGRESS_RULES * groups
