"""Neutron's records as the API shows them, built from a request body and nothing else: no store,
no quota. The Neutron rules (neutron_model.py) and the seed (store.py) both build them here."""

from __future__ import annotations

import ipaddress
import secrets
import time
from typing import Any

from sandbox.cloud.web import CloudError, Record, iso, new_id

# The rules every new security group starts with: all traffic out.
DEFAULT_RULES: tuple[Record, ...] = (
    {"direction": "egress", "ethertype": "IPv4"},
    {"direction": "egress", "ethertype": "IPv6"},
)
ROUTER_INTERFACE = "network:router_interface"
RULE_KEYS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
             "remote_group_id")  # two rules with the same values are the same rule


def base_record(body: Record, project_id: str, **fields: Any) -> Record:
    """The fields every Neutron record has; owned by the body's project, else `project_id`."""
    stamp = iso(time.time())
    owner = str(body.get("project_id") or project_id)
    return {"id": new_id(), "name": str(body.get("name", "")),
            "description": str(body.get("description", "")), "tenant_id": owner, "project_id": owner,
            "tags": [], "created_at": stamp, "updated_at": stamp, "revision_number": 1, **fields}


def touch(record: Record) -> None:
    record["updated_at"] = iso(time.time())
    record["revision_number"] = int(record.get("revision_number", 0)) + 1


def network_record(body: Record, project_id: str) -> Record:
    external = bool(body.get("router:external", False))
    return base_record(
        body, project_id, status="ACTIVE", admin_state_up=bool(body.get("admin_state_up", True)),
        shared=bool(body.get("shared", False)), subnets=[], mtu=int(body.get("mtu", 1500)),
        port_security_enabled=bool(body.get("port_security_enabled", True)),
        availability_zones=["nova"], availability_zone_hints=[], ipv4_address_scope=None,
        ipv6_address_scope=None, is_default=False, **{"router:external": external},
    )


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_cidr(body: Record) -> Network:
    """The subnet's range; `ip_version`, when given, must agree with it (Neutron's 400 otherwise)."""
    try:
        cidr = ipaddress.ip_network(str(body.get("cidr")), strict=False)
    except ValueError as exc:
        reason = f"'{body.get('cidr')}' is not a valid IP subnet."
        raise CloudError(400, f"Invalid input for cidr. Reason: {reason}") from exc
    version = body.get("ip_version", cidr.version)
    if version not in (4, 6):
        raise CloudError(400, f"Invalid input for ip_version. Reason: {version!r} is not in [4, 6].")
    if version != cidr.version:
        raise CloudError(400, f"Invalid input for operation: cidr '{cidr}' does not match ip_version "
                              f"'{version}'.")
    return cidr


def subnet_record(body: Record, project_id: str, network: Record, cidr: Network) -> Record:
    """A subnet of `network` over `cidr`: gateway and pool default to its first and other addresses
    (an explicit `gateway_ip: null` is a subnet without a gateway)."""
    if cidr.num_addresses < 8:
        raise CloudError(400, f"Invalid input for cidr. Reason: '{cidr}' is too small.")
    first, last = cidr.network_address + 1, cidr.broadcast_address - (1 if cidr.version == 4 else 0)
    gateway = body.get("gateway_ip", str(first))
    start = first + 1 if gateway == str(first) else first
    pools = body.get("allocation_pools") or [{"start": str(start), "end": str(last)}]
    return base_record(
        body, project_id, network_id=network["id"], ip_version=cidr.version, cidr=str(cidr),
        gateway_ip=gateway,
        allocation_pools=pools, enable_dhcp=bool(body.get("enable_dhcp", True)),
        dns_nameservers=list(body.get("dns_nameservers", [])), host_routes=[], subnetpool_id=None,
        ipv6_address_mode=None, ipv6_ra_mode=None, service_types=[],
    )


def attach_subnet(network: Record, subnet: Record) -> None:
    network["subnets"].append(subnet["id"])
    touch(network)


def router_record(body: Record, project_id: str, gateway: Record | None) -> Record:
    return base_record(
        body, project_id, status="ACTIVE", admin_state_up=bool(body.get("admin_state_up", True)),
        external_gateway_info=gateway, routes=[], distributed=False, ha=False,
        availability_zones=["nova"], availability_zone_hints=[], flavor_id=None)


def interface_port(router: Record, subnet: Record, project_id: str) -> Record:
    """The port a router interface makes on a subnet: it takes the subnet's gateway address."""
    mac = "fa:16:3e:" + ":".join(secrets.token_hex(1) for _ in range(3))
    return base_record(
        {}, project_id, network_id=subnet["network_id"], mac_address=mac,
        admin_state_up=True, status="ACTIVE", device_id=router["id"], device_owner=ROUTER_INTERFACE,
        fixed_ips=[{"subnet_id": subnet["id"], "ip_address": subnet["gateway_ip"]}], security_groups=[],
        allowed_address_pairs=[], extra_dhcp_opts=[], port_security_enabled=False,
        **{"binding:vnic_type": "normal"})


def default_group_rules(group_id: str) -> list[Record]:
    """The `default` group's rules as Neutron makes them: all out, and all in from the group itself."""
    ingress = [{"direction": "ingress", "ethertype": e, "remote_group_id": group_id}
               for e in ("IPv4", "IPv6")]
    return [*DEFAULT_RULES, *ingress]


def security_group_record(body: Record, project_id: str) -> Record:
    return base_record(body, project_id, stateful=bool(body.get("stateful", True)))


def rule_record(body: Record, project_id: str, group: Record) -> Record:
    values = {k: body.get(k) for k in RULE_KEYS if k != "ethertype"}
    rule = base_record(body, project_id, security_group_id=group["id"],
                       ethertype=body.get("ethertype", "IPv4"), **values, remote_address_group_id=None,
                       normalized_cidr=body.get("remote_ip_prefix"))
    rule.pop("name")  # rules have none
    return rule
