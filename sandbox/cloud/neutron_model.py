"""Neutron's rules: networks, subnets (IP allocation), ports, floating IPs (reachable through a
router only) and security groups, checked against the store and the quotas, then built by
neutron_records. Nova creates ports here; routers are neutron_routers'."""

from __future__ import annotations

import ipaddress
import random
import secrets
from typing import Any

from sandbox.cloud import neutron_records as records
from sandbox.cloud import quota
from sandbox.cloud.faults import Faults
from sandbox.cloud.neutron_rules import checked_rule
from sandbox.cloud.store import Store
from sandbox.cloud.web import CloudError, Record

NOT_FOUND = {  # table -> (Neutron error type, message format)
    "networks": ("NetworkNotFound", "Network {} could not be found."),
    "subnets": ("SubnetNotFound", "Subnet {} could not be found."),
    "ports": ("PortNotFound", "Port {} could not be found."),
    "floatingips": ("FloatingIPNotFound", "Floating IP {} could not be found."),
    "routers": ("RouterNotFound", "Router {} could not be found."),
    "security_groups": ("SecurityGroupNotFound", "Security group {} does not exist"),
    "security_group_rules": ("SecurityGroupRuleNotFound", "Security group rule {} does not exist"),
}


def lookup(store: Store, table: str, key: Any) -> Record:
    record = store.get(table, str(key))
    if record is None:
        kind, message = NOT_FOUND[table]
        raise CloudError(404, message.format(key), kind)
    return record


def check_quota(store: Store, faults: Faults | None, **requested: int) -> None:
    if faults is None:  # already counted: a new security group's default rules
        return
    over = quota.overs(store, faults, requested)
    if over:
        names = [o.name for o in over]
        raise CloudError(409, f"Quota exceeded for resources: {names}.", "OverQuota")


def new_network(store: Store, body: Record, faults: Faults | None = None) -> Record:
    check_quota(store, faults, network=1)
    return store.put("networks", records.network_record(body, store.project_id))


def new_subnet(store: Store, body: Record, faults: Faults | None = None) -> Record:
    network = lookup(store, "networks", body.get("network_id"))
    cidr = records.parse_cidr(body)
    check_quota(store, faults, subnet=1)
    subnet = store.put("subnets", records.subnet_record(body, store.project_id, network, cidr))
    records.attach_subnet(network, subnet)
    return subnet


def _used_addresses(store: Store, subnet: Record) -> set[str]:
    used: set[str] = set()
    for port in store.table("ports").values():
        used.update(ip["ip_address"] for ip in port["fixed_ips"] if ip["subnet_id"] == subnet["id"])
    for fip in store.table("floatingips").values():
        used.add(fip["floating_ip_address"])
    for router in store.table("routers").values():
        gateway = router.get("external_gateway_info") or {}
        used.update(str(ip["ip_address"]) for ip in gateway.get("external_fixed_ips") or [])
    return used


def allocate_ip(store: Store, subnet: Record, wanted: str | None = None, spread: bool = False) -> str:
    """`wanted` if it is free and in the subnet, else the lowest free address of the pools; with
    `spread`, a random free one first (floating IPs: two sandboxes on one machine then rarely hand
    out the same loopback address, where each may start a simulated login node)."""
    used = _used_addresses(store, subnet)
    if wanted:
        inside = _inside(wanted, subnet)
        if not inside:
            raise CloudError(400, f"IP address {wanted} is not a valid IP for the specified subnet.",
                             "InvalidIpForSubnet")
        if wanted in used:
            raise CloudError(409, f"IP address {wanted} already allocated in subnet {subnet['id']}",
                             "IpAddressAlreadyAllocated")
        return wanted
    used.add(str(subnet.get("gateway_ip")))
    pools = [(int(ipaddress.ip_address(p["start"])), int(ipaddress.ip_address(p["end"])))
             for p in subnet["allocation_pools"]]
    for _ in range(32 if spread and pools else 0):
        low, high = random.choice(pools)
        address = str(ipaddress.ip_address(random.randint(low, high)))
        if address not in used:
            return address
    for pool in subnet["allocation_pools"]:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        for number in range(int(start), min(int(end), int(start) + 65536) + 1):
            address = str(start.__class__(number))
            if address not in used:
                return address
    raise CloudError(409, f"No more IP addresses available on network {subnet['network_id']}.",
                     "IpAddressGenerationFailure")


def _inside(address: Any, subnet: Record) -> bool:
    try:
        ip, net = ipaddress.ip_address(str(address)), ipaddress.ip_network(subnet["cidr"])
    except ValueError:
        return False
    return ip.version == net.version and ip in net


def _fixed_ips(store: Store, network: Record, requested: Any) -> list[Record]:
    if not network["subnets"]:
        return []
    if not requested:
        subnets = [lookup(store, "subnets", s) for s in network["subnets"]]
        subnet = next((s for s in subnets if s["ip_version"] == 4), subnets[0])
        return [{"subnet_id": subnet["id"], "ip_address": allocate_ip(store, subnet)}]
    if not isinstance(requested, list):
        raise CloudError(400, "Invalid input for fixed_ips. Reason: must be a list.")
    result = []
    for item in requested:
        subnet_id = item.get("subnet_id") if isinstance(item, dict) else None
        address = item.get("ip_address") if isinstance(item, dict) else None
        if subnet_id is None and address:
            subnet_id = next((s for s in network["subnets"] if _inside(address, lookup(store, "subnets", s))),
                             None)
        subnet = lookup(store, "subnets", subnet_id or network["subnets"][0])
        if subnet["network_id"] != network["id"]:
            raise CloudError(400, f"Invalid input for operation: Failed to create port on network "
                                  f"{network['id']}, because fixed_ips included invalid subnet "
                                  f"{subnet['id']}.")
        result.append({"subnet_id": subnet["id"], "ip_address": allocate_ip(store, subnet, address)})
    return result


def default_security_group(store: Store) -> str | None:
    return next((g["id"] for g in store.table("security_groups").values() if g["name"] == "default"), None)


def new_port(store: Store, body: Record, faults: Faults | None = None) -> Record:
    network = lookup(store, "networks", body.get("network_id"))
    check_quota(store, faults, port=1)
    groups = body.get("security_groups")
    if groups is None:
        default = default_security_group(store)
        groups = [default] if default else []
    for group in groups:
        lookup(store, "security_groups", group)
    mac = "fa:16:3e:" + ":".join(secrets.token_hex(1) for _ in range(3))
    device_id = str(body.get("device_id", ""))
    return store.put("ports", records.base_record(
        body, store.project_id, network_id=network["id"], mac_address=body.get("mac_address", mac),
        admin_state_up=bool(body.get("admin_state_up", True)), status="ACTIVE" if device_id else "DOWN",
        device_id=device_id, device_owner=str(body.get("device_owner", "")),
        fixed_ips=_fixed_ips(store, network, body.get("fixed_ips")), security_groups=list(groups),
        allowed_address_pairs=list(body.get("allowed_address_pairs", [])), extra_dhcp_opts=[],
        port_security_enabled=bool(body.get("port_security_enabled", True)),
        **{"binding:vnic_type": body.get("binding:vnic_type", "normal")},
    ))


def associate(store: Store, fip: Record, port_id: Any, fixed_ip: Any = None) -> None:
    """Point a floating IP at a port (None: disassociate), as PUT /floatingips/{id} does."""
    if port_id is None:
        fip.update(port_id=None, fixed_ip_address=None, status="DOWN", port_details=None, router_id=None)
        return
    port = lookup(store, "ports", port_id)
    if not port["fixed_ips"]:
        raise CloudError(400, f"Bad floatingip request: Port {port['id']} does not have any fixed IP "
                              f"addresses.", "BadRequest")
    entry = next((ip for ip in port["fixed_ips"] if ip["ip_address"] == (fixed_ip or ip["ip_address"])), None)
    if entry is None:
        raise CloudError(400, f"Bad floatingip request: Port {port['id']} does not have fixed ip {fixed_ip}.",
                         "BadRequest")
    address = entry["ip_address"]
    for other in store.find("floatingips", port_id=port["id"]):
        if other["id"] != fip["id"]:
            raise CloudError(409, f"Cannot associate floating IP {fip['floating_ip_address']} "
                                  f"({fip['id']}) with port {port['id']} using fixed IP {address}, as that "
                                  f"fixed IP already has a floating IP on external network "
                                  f"{other['floating_network_id']}.",
                             "FloatingIPPortAlreadyAssociated")
    details = {"name": port["name"], "network_id": port["network_id"], "mac_address": port["mac_address"],
               "admin_state_up": port["admin_state_up"], "status": port["status"],
               "device_id": port["device_id"], "device_owner": port["device_owner"]}
    router = reachable_router(store, fip["floating_network_id"], entry["subnet_id"])
    if router is None:
        raise CloudError(404, f"External network {fip['floating_network_id']} is not reachable from subnet "
                              f"{entry['subnet_id']}.  Therefore, cannot associate Port {port['id']} with a "
                              f"Floating IP.", "ExternalGatewayForFloatingIPNotFound")
    fip.update(port_id=port["id"], fixed_ip_address=address, status="ACTIVE", port_details=details,
               router_id=router["id"])


def reachable_router(store: Store, external_id: str, subnet_id: str) -> Record | None:
    """The router with its gateway on the external network and an interface on the subnet, as
    Neutron looks for one before it associates a floating IP."""
    for router in store.table("routers").values():
        if (router.get("external_gateway_info") or {}).get("network_id") != external_id:
            continue
        for port in store.find("ports", device_id=router["id"], device_owner=records.ROUTER_INTERFACE):
            if any(ip["subnet_id"] == subnet_id for ip in port["fixed_ips"]):
                return router
    return None


def new_floatingip(store: Store, body: Record, faults: Faults | None = None) -> Record:
    network = lookup(store, "networks", body.get("floating_network_id"))
    if not network["router:external"] or not network["subnets"]:
        raise CloudError(400, f"Bad floatingip request: Network {network['id']} is not a valid external "
                              f"network.", "BadRequest")
    check_quota(store, faults, floatingip=1)
    subnet = lookup(store, "subnets", network["subnets"][0])
    address = allocate_ip(store, subnet, body.get("floating_ip_address"), spread=True)
    fip = records.base_record(
        body, store.project_id, floating_ip_address=address, floating_network_id=network["id"],
        router_id=None, port_id=None, fixed_ip_address=None, status="DOWN", port_details=None,
        qos_policy_id=None, dns_domain="", dns_name="")
    fip.pop("name")
    associate(store, fip, body.get("port_id"), body.get("fixed_ip_address"))
    return store.put("floatingips", fip)


def new_security_group(store: Store, body: Record, faults: Faults | None = None) -> Record:
    check_quota(store, faults, security_group=1, security_group_rule=2)
    group = store.put("security_groups", records.security_group_record(body, store.project_id))
    for rule in records.DEFAULT_RULES:
        new_rule(store, {"security_group_id": group["id"], **rule})
    return group


def new_rule(store: Store, body: Record, faults: Faults | None = None) -> Record:
    group = lookup(store, "security_groups", body.get("security_group_id"))
    body = checked_rule(body)
    if body.get("remote_group_id") is not None:
        lookup(store, "security_groups", body["remote_group_id"])
    check_quota(store, faults, security_group_rule=1)
    rule = records.rule_record(body, store.project_id, group)
    for other in store.find("security_group_rules", security_group_id=group["id"]):
        if all(other.get(k) == rule.get(k) for k in records.RULE_KEYS):
            raise CloudError(409, f"Security group rule already exists. Rule id is {other['id']}.",
                             "SecurityGroupRuleExists")
    return store.put("security_group_rules", rule)
