"""Neutron's checks on a security group rule before it is made: direction, ethertype, protocol,
port range (ICMP type and code for ICMP), one remote at most and a prefix of the rule's IP version,
with Neutron's messages. neutron_model.new_rule calls it; the record is neutron_records'."""

from __future__ import annotations

import ipaddress
from typing import Any

from sandbox.cloud.web import CloudError, Record

PROTOCOLS = ("ah", "dccp", "egp", "esp", "gre", "hopopt", "icmp", "igmp", "ip", "ipip", "ipv6-encap",
             "ipv6-frag", "ipv6-icmp", "icmpv6", "ipv6-nonxt", "ipv6-opts", "ipv6-route", "ospf", "pgm",
             "rsvp", "sctp", "tcp", "udp", "udplite", "vrrp")
PORTED = ("tcp", "udp", "dccp", "sctp", "udplite", "6", "17", "33", "132", "136")
ICMP = ("icmp", "icmpv6", "ipv6-icmp", "1", "58")


def _bad(message: str) -> CloudError:
    return CloudError(400, message, "BadRequest")


def _port(value: Any, field: str) -> int | None:
    if value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise CloudError(400, f"Invalid input for {field}. Reason: '{value}' is not an integer.",
                         "HTTPBadRequest") from None
    return number


def _protocol(value: Any) -> str | None:
    if value is None or value == "any":
        return None
    text = str(value).lower()
    if text in PROTOCOLS or (text.isdigit() and 0 <= int(text) <= 255):
        return text
    raise CloudError(400, f"Security group rule protocol {value} not supported. Only protocol values "
                          f"[None, {', '.join(repr(p) for p in PROTOCOLS)}] and integer representations "
                          f"[0 to 255] are supported.", "SecurityGroupRuleInvalidProtocol")


def _check_ports(protocol: str | None, low: int | None, high: int | None) -> None:
    if (low is not None or high is not None) and protocol is None:
        raise _bad("Must also specify protocol if port range is given.")
    for field, number in (("port_range_min", low), ("port_range_max", high)):
        if number is not None and not 0 <= number <= 65535:
            raise CloudError(400, f"Invalid input for {field}. Reason: '{number}' is not in range 0 through "
                                  f"65535.", "HTTPBadRequest")
    if protocol in PORTED and (low is not None or high is not None):
        if low == 0 or high == 0:
            raise CloudError(400, "Invalid value for port 0", "SecurityGroupInvalidPortValue")
        if low is None or high is None or low > high:
            raise CloudError(400, "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                             "SecurityGroupInvalidPortRange")
    elif protocol in ICMP:
        for field, name, number in (("port_range_min", "type", low), ("port_range_max", "code", high)):
            if number is not None and not 0 <= number <= 255:
                raise CloudError(400, f"Invalid value for ICMP {field} ({name}): {number}. It must be 0 to "
                                      f"255.", "SecurityGroupInvalidIcmpValue")
        if high is not None and low is None:
            raise CloudError(400, f"ICMP code (port-range-max) {high} is provided but ICMP type "
                                  f"(port-range-min) is missing.", "SecurityGroupMissingIcmpType")


def _check_prefix(prefix: Any, ethertype: str) -> str | None:
    if prefix is None:
        return None
    try:
        network = ipaddress.ip_network(str(prefix), strict=False)
    except ValueError:
        raise CloudError(400, f"Invalid input for remote_ip_prefix. Reason: '{prefix}' is not a valid IP "
                              f"prefix.", "HTTPBadRequest") from None
    if f"IPv{network.version}" != ethertype:
        raise _bad(f"Conflicting value ethertype {ethertype} for CIDR {prefix}")
    return str(network)


def checked_rule(body: Record) -> Record:
    """The rule's body as Neutron stores it (protocol lowered, ports as numbers, prefix normalised)
    after Neutron's checks; the security groups themselves are checked by the caller."""
    direction, ethertype = body.get("direction"), body.get("ethertype", "IPv4")
    if direction not in ("ingress", "egress"):
        raise CloudError(400, f"Invalid input for direction. Reason: {direction!r} is not in "
                              f"['ingress', 'egress'].", "HTTPBadRequest")
    if ethertype not in ("IPv4", "IPv6"):
        raise CloudError(400, f"Invalid input for ethertype. Reason: '{ethertype}' is not in "
                              f"['IPv4', 'IPv6'].", "HTTPBadRequest")
    protocol = _protocol(body.get("protocol"))
    low, high = _port(body.get("port_range_min"), "port_range_min"), _port(body.get("port_range_max"),
                                                                            "port_range_max")
    _check_ports(protocol, low, high)
    if body.get("remote_ip_prefix") is not None and body.get("remote_group_id") is not None:
        raise _bad("Only remote_ip_prefix or remote_group_id may be provided.")
    prefix = _check_prefix(body.get("remote_ip_prefix"), ethertype)
    return {**body, "ethertype": ethertype, "protocol": protocol, "port_range_min": low,
            "port_range_max": high, "remote_ip_prefix": prefix}
