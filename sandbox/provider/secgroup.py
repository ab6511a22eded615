"""Neutron security groups as terraform-provider-openstack 3.4 plans and applies them:
`openstack_networking_secgroup_v2` (name, description, stateful and tags update in place;
tenant_id and delete_default_rules replace it; tags are set through Neutron's tag API, and a
delete is retried while a port still uses the group) and `openstack_networking_secgroup_rule_v2`
(no update at all: every argument replaces the rule; checked at plan time as the real provider's
ValidateFunc, ConflictsWith and RequiredWith do). Magic Castle builds a cluster's firewall from them.
"""

from __future__ import annotations

import time
from typing import Any

from sandbox.provider.client import Cloud, CloudError, NotFound, wait_for
from sandbox.provider.framework import (
    BOOL,
    NUM,
    STR_SET,
    CloudResource,
    ProviderError,
    Schema,
    State,
    computed,
    known,
    optional,
    region,
    required,
    settable,
)

TIMEOUT = 10 * 60.0
RULE = "openstack_networking_secgroup_rule_v2"
GROUP = "openstack_networking_secgroup_v2"
DIRECTIONS = ("ingress", "egress")
ETHERTYPES = ("IPv4", "IPv6")
# gophercloud's rules.RuleProtocol names ("" is ProtocolAny); any number 0-255 is accepted too.
PROTOCOLS = frozenset(
    {
        "ah",
        "dccp",
        "egp",
        "esp",
        "gre",
        "icmp",
        "igmp",
        "ipv6-encap",
        "ipv6-frag",
        "ipv6-icmp",
        "ipv6-nonxt",
        "ipv6-opts",
        "ipv6-route",
        "ospf",
        "pgm",
        "rsvp",
        "sctp",
        "tcp",
        "udp",
        "udplite",
        "vrrp",
        "ipip",
        "",
    }
)
REMOTES = ("remote_group_id", "remote_ip_prefix", "remote_address_group_id")


def _replace_tags(cloud: Cloud, group_id: str, tags: list[str]) -> None:
    """attributestags.ReplaceAll: PUT /security-groups/{id}/tags."""
    try:
        cloud.put("network", f"/security-groups/{group_id}/tags", {"tags": sorted(tags)})
    except CloudError as exc:
        raise ProviderError(f"Error setting tags on {GROUP} {group_id}: {exc.message}") from exc


def _set(value: Any) -> set[str]:
    return {str(v) for v in value} if known(value) and isinstance(value, (list, set, tuple)) else set()


class SecGroup(CloudResource):
    type_suffix = "networking_secgroup_v2"
    schema = Schema(
        attributes=[
            settable("id"),
            region(),
            required("name"),
            settable("description"),
            settable("tenant_id", force_new=True),
            optional("delete_default_rules", BOOL, force_new=True),
            settable("stateful", BOOL),
            optional("tags", STR_SET),
            computed("all_tags", STR_SET),
        ]
    )

    def _create(self, planned: State) -> State:
        cloud = self.cloud
        body: dict[str, Any] = {"name": planned["name"]}
        for key in ("description", "tenant_id"):
            if known(planned.get(key)) and planned[key]:
                body[key] = planned[key]
        if known(planned.get("stateful")):
            body["stateful"] = planned["stateful"]
        group = cloud.post("network", "/security-groups", {"security_group": body})["security_group"]
        if planned.get("delete_default_rules"):
            found = cloud.get("network", f"/security-groups/{group['id']}")["security_group"]
            for rule in found.get("security_group_rules") or []:
                cloud.delete("network", f"/security-group-rules/{rule['id']}", missing_ok=False)
        tags = sorted(_set(planned.get("tags")))
        if tags:
            _replace_tags(cloud, group["id"], tags)
        state = {**planned, "id": group["id"]}
        return self._read(state) or state

    def _read(self, current: State) -> State | None:
        try:
            group = self.cloud.get("network", f"/security-groups/{current['id']}")["security_group"]
        except NotFound:
            return None
        all_tags = _set(group.get("tags"))
        wanted = _set(current.get("tags"))
        # expandObjectReadTags: `tags` shrinks to the ones still on the group, never grows.
        tags = current.get("tags") if wanted <= all_tags else sorted(wanted & all_tags)
        return {
            **current,
            "name": group.get("name") or "",
            "description": group.get("description") or "",
            "tenant_id": group.get("tenant_id") or group.get("project_id") or "",
            "stateful": bool(group.get("stateful", True)),
            "all_tags": sorted(all_tags),
            "tags": tags,
            "region": self.region(current),
        }

    def _update(self, current: State, planned: State) -> State:
        cloud, changes = self.cloud, {}
        for key in ("name", "description", "stateful"):
            if known(planned.get(key)) and planned.get(key) != current.get(key):
                changes[key] = planned[key]
        if changes:
            try:
                cloud.put("network", f"/security-groups/{current['id']}", {"security_group": changes})
            except CloudError as exc:
                raise ProviderError(f"Error updating {GROUP}: {exc.message}") from exc
        if _set(planned.get("tags")) != _set(current.get("tags")):
            # expandObjectUpdateTags: tags set by others stay, the old configured ones go.
            kept = _set(current.get("all_tags")) - _set(current.get("tags"))
            _replace_tags(cloud, current["id"], sorted(kept | _set(planned.get("tags"))))
        return self._read({**planned, "id": current["id"]}) or planned

    def _delete(self, current: State) -> None:
        """networkingSecgroupV2StateRefreshFuncDelete: DELETE again while Neutron says 409 (in use)."""
        cloud, group_id = self.cloud, current["id"]
        deadline, delay = time.monotonic() + TIMEOUT, 0.05
        while True:
            try:
                cloud.delete("network", f"/security-groups/{group_id}", missing_ok=False)
                cloud.get("network", f"/security-groups/{group_id}")
            except NotFound:
                return
            except CloudError as exc:
                if exc.status != 409:
                    raise ProviderError(f"Error deleting {GROUP}: {exc.message}") from exc
            if time.monotonic() > deadline:
                raise ProviderError(
                    f"Error deleting {GROUP}: timeout while waiting for state to become "
                    f"'DELETED' (last state: 'ACTIVE', timeout: 10m0s)"
                )
            cloud.sleep(delay)
            delay = min(delay * 1.6, 3.0)


def _rule_problems(config: State) -> list[tuple[str, str]]:
    """The real schema's ValidateFunc, ConflictsWith and RequiredWith, as (attribute, message)."""
    problems: list[tuple[str, str]] = []
    direction, ethertype, protocol = config.get("direction"), config.get("ethertype"), config.get("protocol")
    if isinstance(direction, str) and direction not in DIRECTIONS:
        problems.append(("direction", f'unknown "{direction}" direction for {RULE}'))
    if isinstance(ethertype, str) and ethertype not in ETHERTYPES:
        problems.append(("ethertype", f'unknown "{ethertype}" ethertype for {RULE}s'))
    if isinstance(protocol, str) and protocol not in PROTOCOLS:
        number = protocol.isdigit() and 0 <= int(protocol) <= 255
        if not number:
            problems.append(("protocol", f'unknown "{protocol}" protocol for {RULE}'))
    for key in ("port_range_min", "port_range_max"):
        value = config.get(key)
        if isinstance(value, (int, float)) and not 0 <= value <= 65535:
            problems.append((key, f"expected {key} to be in the range (0 - 65535), got {int(value)}"))
        if value is not None:
            together = sorted({key, "protocol", "port_range_min", "port_range_max"})
            if any(config.get(other) is None for other in together):
                problems.append((key, f'"{key}": all of `{",".join(together)}` must be specified'))
    for key in REMOTES:
        if config.get(key) is not None:
            problems += [
                (key, f'"{key}": conflicts with {other}')
                for other in REMOTES
                if other != key and config.get(other) is not None
            ]
    return problems


class SecGroupRule(CloudResource):
    type_suffix = "networking_secgroup_rule_v2"
    schema = Schema(
        attributes=[
            settable("id"),
            region(),
            optional("description", force_new=True),
            required("direction", force_new=True),
            required("ethertype", force_new=True),
            optional("port_range_min", NUM, force_new=True),
            optional("port_range_max", NUM, force_new=True),
            optional("protocol", force_new=True),
            settable("remote_group_id", force_new=True),
            settable("remote_ip_prefix", force_new=True),
            settable("remote_address_group_id", force_new=True),
            required("security_group_id", force_new=True),
            settable("tenant_id", force_new=True),
        ]
    )

    def validate(self, diags: Any, type_name: str, config: State) -> None:
        super().validate(diags, type_name, config)
        for attribute, message in _rule_problems(config):
            diags.add_error(message, path=[attribute])

    def _create(self, planned: State) -> State:
        if not planned.get("protocol") and (planned.get("port_range_min") or planned.get("port_range_max")):
            raise ProviderError("A protocol must be specified when using port_range_min and port_range_max")
        body: dict[str, Any] = {
            "direction": planned["direction"],
            "ethertype": planned["ethertype"],
            "security_group_id": planned["security_group_id"],
        }
        # gophercloud's CreateOpts leave out empty strings and zero ports (omitempty).
        for key in ("protocol", "port_range_min", "port_range_max", "description", *REMOTES):
            if known(planned.get(key)) and planned[key] not in ("", 0):
                body[key] = int(planned[key]) if key.startswith("port_range") else planned[key]
        if known(planned.get("tenant_id")) and planned["tenant_id"]:
            body["project_id"] = planned["tenant_id"]
        rule = self.cloud.post("network", "/security-group-rules", {"security_group_rule": body})
        state = {**planned, "id": rule["security_group_rule"]["id"]}
        return self._read(state) or state

    def _read(self, current: State) -> State | None:
        try:
            rule = self.cloud.get("network", f"/security-group-rules/{current['id']}")["security_group_rule"]
        except NotFound:
            return None
        prefix = rule.get("remote_ip_prefix") or ""
        return {
            **current,
            "description": rule.get("description") or "",
            "direction": rule.get("direction"),
            "ethertype": rule.get("ethertype"),
            "protocol": rule.get("protocol") or "",
            "port_range_min": rule.get("port_range_min") or 0,
            "port_range_max": rule.get("port_range_max") or 0,
            "remote_group_id": rule.get("remote_group_id") or "",
            "remote_ip_prefix": prefix.lower(),
            "remote_address_group_id": rule.get("remote_address_group_id") or "",
            "security_group_id": rule.get("security_group_id"),
            "tenant_id": rule.get("tenant_id") or rule.get("project_id") or "",
            "region": self.region(current),
        }

    def _update(self, current: State, planned: State) -> State:
        return {**current, **{k: v for k, v in planned.items() if known(v)}}  # all else replaces it

    def _delete(self, current: State) -> None:
        cloud, rule_id = self.cloud, current["id"]
        try:
            cloud.delete("network", f"/security-group-rules/{rule_id}", missing_ok=False)
        except NotFound:
            return
        wait_for(f"{RULE} {rule_id} to Delete", lambda: _gone(cloud, rule_id), bool, TIMEOUT)


def _gone(cloud: Cloud, rule_id: str) -> bool:
    try:
        cloud.get("network", f"/security-group-rules/{rule_id}")
    except NotFound:
        return True
    return False
