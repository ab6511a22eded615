"""Neutron resources as terraform-provider-openstack 3.4 plans and applies them:
`openstack_networking_port_v2` (network_id and mac_address replace it; fixed_ip is a list block
sent only when it changes), `openstack_networking_floatingip_v2` (address and pool replace it; the
association it reads is whatever Neutron says) and `openstack_networking_floatingip_associate_v2`
(floating_ip replaces it; port_id and fixed_ip update in place; a floating IP disassociated by
hand reads with port_id "" and is associated again by an update).
"""

from __future__ import annotations

from typing import Any

from sandbox.provider import lookup
from sandbox.provider.client import Cloud, CloudError, NotFound, wait_for
from sandbox.provider.framework import (
    BOOL,
    STR_LIST,
    STR_SET,
    Block,
    CloudResource,
    ListNestedBlock,
    Schema,
    State,
    Unknown,
    computed,
    known,
    optional,
    region,
    required,
    settable,
)
from sandbox.provider.sdkdiff import same

TIMEOUT = 10 * 60.0
FIXED_IP = ListNestedBlock("fixed_ip", Block(attributes=[optional("subnet_id"), optional("ip_address")]))
PORT_FIELDS = ("name", "description", "admin_state_up", "device_owner", "device_id")


def _fixed_ips(planned: State) -> list[dict[str, str]] | None:
    """expandNetworkingPortFixedIPV2: [] for no_fixed_ip, none when no block is given."""
    if planned.get("no_fixed_ip"):
        return []
    blocks = planned.get("fixed_ip") or []
    return [{k: ip[k] for k in ("subnet_id", "ip_address") if ip.get(k)} for ip in blocks] or None


def _active(cloud: Cloud, path: str, key: str, what: str) -> None:
    """Wait for a port or floating IP to be ACTIVE or DOWN (Neutron's settled states)."""
    wait_for(f"{what} to become available", lambda: cloud.get("network", path)[key],
             lambda r: r.get("status") in ("ACTIVE", "DOWN"), TIMEOUT)


class Port(CloudResource):
    type_suffix = "networking_port_v2"
    schema = Schema(
        attributes=[
            settable("id"), region(), optional("name"), optional("description"),
            required("network_id", force_new=True), settable("admin_state_up", BOOL),
            settable("mac_address", force_new=True), settable("tenant_id", force_new=True),
            settable("device_owner", force_new=True), optional("security_group_ids", STR_SET),
            optional("no_security_groups", BOOL), settable("device_id", force_new=True),
            optional("no_fixed_ip", BOOL), computed("all_fixed_ips", STR_LIST),
            computed("all_security_group_ids", STR_SET), settable("port_security_enabled", BOOL),
        ],
        block_types=[FIXED_IP],
    )

    def _create(self, planned: State) -> State:
        groups = sorted(planned.get("security_group_ids") or [])
        if planned.get("no_security_groups") and groups:
            raise CloudError("Cannot have both no_security_groups and security_group_ids set for "
                             "openstack_networking_port_v2")
        fields = {k: planned.get(k) for k in ("network_id", *PORT_FIELDS, "mac_address", "tenant_id")}
        body: dict[str, Any] = {k: v for k, v in fields.items() if known(v) and v not in ("", None)}
        if known(planned.get("admin_state_up")):
            body["admin_state_up"] = planned["admin_state_up"]
        if planned.get("no_security_groups") or groups:
            body["security_groups"] = [] if planned.get("no_security_groups") else groups
        if _fixed_ips(planned) is not None:
            body["fixed_ips"] = _fixed_ips(planned)
        if known(planned.get("port_security_enabled")):
            body["port_security_enabled"] = planned["port_security_enabled"]
        port = self.cloud.post("network", "/ports", {"port": body})["port"]
        _active(self.cloud, f"/ports/{port['id']}", "port", f"openstack_networking_port_v2 {port['id']}")
        return self._read({**planned, "id": port["id"]}) or planned

    def _read(self, current: State) -> State | None:
        try:
            port = self.cloud.get("network", f"/ports/{current['id']}")["port"]
        except NotFound:
            return None
        observed = {k: port.get(k) for k in (*PORT_FIELDS, "network_id", "mac_address", "tenant_id",
                                              "port_security_enabled")}
        return {**current, **observed, "region": self.region(current),
                "all_fixed_ips": [ip.get("ip_address") for ip in port.get("fixed_ips") or []],
                "all_security_group_ids": list(port.get("security_groups") or [])}

    def _update(self, current: State, planned: State) -> State:
        changes: dict[str, Any] = {
            k: "" if planned.get(k) is None else planned[k] for k in PORT_FIELDS
            if planned.get(k) is not Unknown and not same(planned.get(k), current.get(k))}
        if planned.get("no_security_groups") and not current.get("no_security_groups"):
            changes["security_groups"] = []
        if sorted(planned.get("security_group_ids") or []) != sorted(current.get("security_group_ids") or []):
            changes["security_groups"] = sorted(planned.get("security_group_ids") or [])
        fixed_changed = any(planned.get(k) != current.get(k) for k in ("fixed_ip", "no_fixed_ip"))
        if fixed_changed and _fixed_ips(planned) is not None:
            changes["fixed_ips"] = _fixed_ips(planned)
        if planned.get("port_security_enabled") != current.get("port_security_enabled"):
            changes["port_security_enabled"] = bool(planned.get("port_security_enabled"))
        if changes:
            self.cloud.put("network", f"/ports/{current['id']}", {"port": changes})
        return self._read({**planned, "id": current["id"]}) or planned

    def _delete(self, current: State) -> None:
        cloud = self.cloud
        cloud.delete("network", f"/ports/{current['id']}")
        wait_for(f"openstack_networking_port_v2 {current['id']} to Delete",
                 lambda: _gone(cloud, "ports", current), bool, TIMEOUT)


def _gone(cloud: Cloud, kind: str, current: State) -> bool:
    try:
        cloud.get("network", f"/{kind}/{current['id']}")
    except NotFound:
        return True
    return False


class FloatingIP(CloudResource):
    type_suffix = "networking_floatingip_v2"
    schema = Schema(attributes=[
        settable("id"), region(), optional("description"), settable("address", force_new=True),
        required("pool", force_new=True, env_default="OS_POOL_NAME"), settable("port_id"),
        settable("tenant_id", force_new=True), settable("fixed_ip"), settable("subnet_id"),
    ])

    def _create(self, planned: State) -> State:
        cloud, pool = self.cloud, planned.get("pool")
        try:
            network_id = lookup.find_network(cloud, name=pool)["id"]
        except CloudError as exc:
            raise CloudError(f"Error retrieving ID for openstack_networking_floatingip_v2 pool name {pool}: "
                             f"{exc.message}") from exc
        fields = {"description": planned.get("description"), "floating_ip_address": planned.get("address"),
                  "port_id": planned.get("port_id"), "tenant_id": planned.get("tenant_id"),
                  "fixed_ip_address": planned.get("fixed_ip"), "subnet_id": planned.get("subnet_id")}
        body = {"floating_network_id": network_id, **{k: v for k, v in fields.items() if known(v) and v}}
        fip = cloud.post("network", "/floatingips", {"floatingip": body})["floatingip"]
        what = f"openstack_networking_floatingip_v2 {fip['id']}"
        _active(cloud, f"/floatingips/{fip['id']}", "floatingip", what)
        state = {**planned, "id": fip["id"], "subnet_id": body.get("subnet_id", "")}
        return self._read(state) or state

    def _read(self, current: State) -> State | None:
        try:
            fip = self.cloud.get("network", f"/floatingips/{current['id']}")["floatingip"]
        except NotFound:
            return None
        pool = lookup.network_by_id(self.cloud, str(fip.get("floating_network_id"))).get("name")
        return {**current, "description": fip.get("description") or "",
                "address": fip.get("floating_ip_address"),
                "port_id": fip.get("port_id") or "", "fixed_ip": fip.get("fixed_ip_address") or "",
                "tenant_id": fip.get("tenant_id") or fip.get("project_id") or "", "pool": pool,
                "region": self.region(current)}

    def _update(self, current: State, planned: State) -> State:
        changes: dict[str, Any] = {}
        if planned.get("description") != current.get("description"):
            changes["description"] = planned.get("description") or ""
        if any(planned.get(k) != current.get(k) for k in ("port_id", "fixed_ip")):
            changes["port_id"] = planned.get("port_id") or None
        if planned.get("fixed_ip") != current.get("fixed_ip") and planned.get("fixed_ip"):
            changes["fixed_ip_address"] = planned["fixed_ip"]
        if changes:
            self.cloud.put("network", f"/floatingips/{current['id']}", {"floatingip": changes})
        return self._read({**planned, "id": current["id"]}) or planned

    def _delete(self, current: State) -> None:
        cloud = self.cloud
        cloud.delete("network", f"/floatingips/{current['id']}")
        wait_for(f"openstack_networking_floatingip_v2 {current['id']} to Delete",
                 lambda: _gone(cloud, "floatingips", current), bool, TIMEOUT)


class FloatingIPAssociate(CloudResource):
    type_suffix = "networking_floatingip_associate_v2"
    schema = Schema(attributes=[
        settable("id"), region(), required("floating_ip", force_new=True), required("port_id"),
        settable("fixed_ip"),
    ])

    def _create(self, planned: State) -> State:
        cloud, address = self.cloud, planned["floating_ip"]
        found = cloud.get("network", "/floatingips", floating_ip_address=address)["floatingips"]
        if len(found) != 1:
            many = "no" if not found else "more than one"
            raise CloudError(f"Unable to get ID of openstack_networking_floatingip_associate_v2 floating_ip "
                             f"{address}: there are {many} openstack_networking_floatingip_v2 with "
                             f"{address} IP")
        change: dict[str, Any] = {"port_id": planned["port_id"]}
        if known(planned.get("fixed_ip")) and planned["fixed_ip"]:
            change["fixed_ip_address"] = planned["fixed_ip"]
        cloud.put("network", f"/floatingips/{found[0]['id']}", {"floatingip": change})
        state = {**planned, "id": found[0]["id"]}
        return self._read(state) or state

    def _read(self, current: State) -> State | None:
        try:
            fip = self.cloud.get("network", f"/floatingips/{current['id']}")["floatingip"]
        except NotFound:
            return None
        return {**current, "floating_ip": fip.get("floating_ip_address"), "port_id": fip.get("port_id") or "",
                "fixed_ip": fip.get("fixed_ip_address") or "", "region": self.region(current)}

    def _update(self, current: State, planned: State) -> State:
        change: dict[str, Any] = {"port_id": planned.get("port_id")}
        fixed_ip = planned.get("fixed_ip")
        if fixed_ip != current.get("fixed_ip") and known(fixed_ip) and fixed_ip:
            change["fixed_ip_address"] = planned["fixed_ip"]
        self.cloud.put("network", f"/floatingips/{current['id']}", {"floatingip": change})
        return self._read({**planned, "id": current["id"]}) or planned

    def _delete(self, current: State) -> None:
        try:
            self.cloud.put("network", f"/floatingips/{current['id']}", {"floatingip": {"port_id": None}})
        except NotFound:
            pass
