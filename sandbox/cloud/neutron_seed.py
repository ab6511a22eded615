"""The seed's networks, subnets, routers and the project's `default` security group made into
Neutron records (store.py calls it on a fresh data dir and on reset). No quota applies: the seed is
what the cloud already has."""

from __future__ import annotations

from collections.abc import Callable

from sandbox.cloud import neutron_records as records
from sandbox.cloud.seed_networks import NetworkSeed, RouterSeed, network_cidrs, subnet_names
from sandbox.cloud.web import Record

Put = Callable[[str, Record], Record]


def seed_networks(put: Put, networks: list[NetworkSeed], routers: list[RouterSeed], project_id: str,
                  other_project: str) -> None:
    """Networks (external and shared ones owned by `other_project`), their subnets, the routers
    with their gateways and interface ports."""
    by_name: dict[str, list[Record]] = {}
    network_ids: dict[str, Record] = {}
    for net, cidrs, names in zip(networks, network_cidrs(networks), subnet_names(networks), strict=True):
        owner = other_project if net.external or net.shared else project_id  # the cloud's, not the project's
        network = put("networks", records.network_record(
            {"name": net.name, "router:external": net.external, "shared": net.shared or net.external}, owner))
        network_ids[net.name] = network
        made = []
        for (subnet, cidr), name in zip(cidrs, names, strict=True):
            body: Record = {"network_id": network["id"], "cidr": cidr, "name": name,
                            "enable_dhcp": subnet.enable_dhcp}
            if subnet.no_gateway:
                body["gateway_ip"] = None
            elif subnet.gateway_ip:
                body["gateway_ip"] = subnet.gateway_ip
            record = put("subnets", records.subnet_record(body, owner, network, records.parse_cidr(body)))
            records.attach_subnet(network, record)
            made.append(record)
            by_name[name] = [record]
        first_v4 = [s for s in made if s["ip_version"] == 4][:1]
        by_name.setdefault(net.name, first_v4 if not net.external else made[:1])
    for router in routers:
        _seed_router(put, router, network_ids, by_name, project_id)


def _seed_router(put: Put, router: RouterSeed, networks: dict[str, Record], subnets: dict[str, list[Record]],
                 project_id: str) -> None:
    gateway = None
    if router.external_network is not None:
        external = networks[router.external_network]
        # The gateway takes the last address of the pool: floating IPs count up from the first.
        fixed = [{"subnet_id": s["id"], "ip_address": s["allocation_pools"][-1]["end"]}
                 for s in subnets[router.external_network][:1]]
        gateway = {"network_id": external["id"], "enable_snat": True, "external_fixed_ips": fixed}
    record = put("routers", records.router_record({"name": router.name}, project_id, gateway))
    for name in router.interfaces:
        for subnet in subnets.get(name, []):
            put("ports", records.interface_port(record, subnet, project_id))


def seed_default_group(put: Put, project_id: str) -> None:
    """The `default` security group Neutron gives every project, with its four rules."""
    group = put("security_groups", records.security_group_record(
        {"name": "default", "description": "Default security group"}, project_id))
    for rule in records.default_group_rules(group["id"]):
        put("security_group_rules", records.rule_record(rule, project_id, group))
