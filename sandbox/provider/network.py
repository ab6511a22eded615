"""Neutron resources: `openstack_networking_port_v2`, `openstack_networking_floatingip_v2` and
`openstack_networking_floatingip_associate_v2`, with the real provider's attribute names.
"""

from __future__ import annotations

import os
from typing import Any

from tf.blocks import SetNestedBlock
from tf.types import Set

from sandbox.provider import lookup
from sandbox.provider.client import CloudError, NotFound
from sandbox.provider.framework import (
    BOOL,
    STR,
    STR_LIST,
    Block,
    CloudResource,
    Schema,
    State,
    Unknown,
    computed,
    known,
    optional,
    required,
    settable,
    settle,
)

STR_SET = Set(STR)
FIXED_IP = SetNestedBlock("fixed_ip", Block(attributes=[optional("subnet_id"), optional("ip_address")]))


def _given(state: State, key: str) -> bool:
    return known(state.get(key))


def _association(fip: dict[str, Any]) -> State:
    return {"port_id": fip.get("port_id") or "", "fixed_ip": fip.get("fixed_ip_address") or ""}


class Port(CloudResource):
    type_suffix = "networking_port_v2"
    schema = Schema(
        attributes=[
            computed("id"), optional("name"), optional("description"), required("network_id", replace=True),
            settable("admin_state_up", BOOL), settable("mac_address", replace=True),
            settable("port_security_enabled", BOOL), optional("security_group_ids", STR_SET),
            optional("no_security_groups", BOOL), computed("all_fixed_ips", STR_LIST),
            computed("all_security_group_ids", STR_SET),
        ],
        block_types=[FIXED_IP],
    )

    def plan(self, ctx: Any, current: State | None, planned: State) -> State:
        if current is not None and current.get("fixed_ip") != planned.get("fixed_ip"):
            planned["all_fixed_ips"] = Unknown
        if "security_group_ids" in ctx.changed_fields or "no_security_groups" in ctx.changed_fields:
            planned["all_security_group_ids"] = Unknown
        return planned

    @staticmethod
    def _body(planned: State, current: State | None = None) -> dict[str, Any]:
        fields = {"name": planned.get("name"), "description": planned.get("description"),
                  "admin_state_up": planned.get("admin_state_up"),
                  "port_security_enabled": planned.get("port_security_enabled")}
        body = {k: v for k, v in fields.items() if known(v)}
        if planned.get("no_security_groups"):
            body["security_groups"] = []
        elif _given(planned, "security_group_ids"):
            body["security_groups"] = sorted(planned["security_group_ids"])
        if planned.get("fixed_ip") and (current is None or current.get("fixed_ip") != planned["fixed_ip"]):
            body["fixed_ips"] = [{k: v for k, v in ip.items() if known(v)} for ip in planned["fixed_ip"]]
        return body

    @staticmethod
    def _observed(port: dict[str, Any]) -> State:
        return {"id": port["id"], "admin_state_up": port.get("admin_state_up", True),
                "mac_address": port.get("mac_address", ""),
                "port_security_enabled": port.get("port_security_enabled", True),
                "all_fixed_ips": [ip.get("ip_address") for ip in port.get("fixed_ips") or []],
                "all_security_group_ids": list(port.get("security_groups") or [])}

    def _create(self, planned: State) -> State:
        body = {"network_id": planned["network_id"], **self._body(planned)}
        if _given(planned, "mac_address"):
            body["mac_address"] = planned["mac_address"]
        port = self.cloud.post("network", "/ports", {"port": body})["port"]
        return settle(planned, self._observed(port))

    def _read(self, current: State) -> State | None:
        try:
            port = self.cloud.get("network", f"/ports/{current['id']}")["port"]
        except NotFound:
            return None
        refreshed = {**current, **self._observed(port)}
        for key in ("name", "description"):
            if port.get(key) or current.get(key) is not None:
                refreshed[key] = port.get(key) or ""
        return refreshed

    def _update(self, current: State, planned: State) -> State:
        body = {"port": self._body(planned, current)}
        port = self.cloud.put("network", f"/ports/{current['id']}", body)["port"]
        return settle(planned, self._observed(port))

    def _delete(self, current: State) -> None:
        self.cloud.delete("network", f"/ports/{current['id']}")


class FloatingIP(CloudResource):
    type_suffix = "networking_floatingip_v2"
    schema = Schema(attributes=[
        computed("id"), settable("address", replace=True), settable("pool", replace=True),
        settable("port_id"), settable("fixed_ip"), optional("description"),
        optional("subnet_id", replace=True),
    ])

    def _create(self, planned: State) -> State:
        cloud = self.cloud
        pool = planned.get("pool") if _given(planned, "pool") else os.environ.get("OS_POOL_NAME")
        if not pool:
            raise CloudError("pool is required (or OS_POOL_NAME)")
        try:
            network_id = lookup.find_network(cloud, name=pool)["id"]
        except CloudError as exc:
            raise CloudError(f"Unable to find floating IP pool {pool}: {exc.message}") from exc
        fields = {"floating_ip_address": planned.get("address"), "port_id": planned.get("port_id"),
                  "fixed_ip_address": planned.get("fixed_ip"), "description": planned.get("description"),
                  "subnet_id": planned.get("subnet_id")}
        body = {"floating_network_id": network_id, **{k: v for k, v in fields.items() if known(v)}}
        fip = cloud.post("network", "/floatingips", {"floatingip": body})["floatingip"]
        return settle(planned, {"id": fip["id"], "address": fip.get("floating_ip_address"), "pool": pool,
                                **_association(fip)})

    def _read(self, current: State) -> State | None:
        try:
            fip = self.cloud.get("network", f"/floatingips/{current['id']}")["floatingip"]
        except NotFound:
            return None
        refreshed = {**current, "address": fip.get("floating_ip_address", current.get("address"))}
        # The association is usually made by openstack_networking_floatingip_associate_v2: follow it
        # here only when this resource set it, so the other's work does not read as a change.
        if current.get("port_id"):
            refreshed.update(_association(fip))
        return refreshed

    def _update(self, current: State, planned: State) -> State:
        changes = {"port_id": planned.get("port_id") or None}
        if _given(planned, "fixed_ip"):
            changes["fixed_ip_address"] = planned["fixed_ip"]
        if planned.get("description") != current.get("description"):
            changes["description"] = planned.get("description") or ""
        path = f"/floatingips/{current['id']}"
        fip = self.cloud.put("network", path, {"floatingip": changes})["floatingip"]
        return settle(planned, _association(fip))

    def _delete(self, current: State) -> None:
        self.cloud.delete("network", f"/floatingips/{current['id']}")


class FloatingIPAssociate(CloudResource):
    type_suffix = "networking_floatingip_associate_v2"
    schema = Schema(attributes=[
        computed("id"), required("floating_ip", replace=True), required("port_id", replace=True),
        settable("fixed_ip", replace=True),
    ])

    def _create(self, planned: State) -> State:
        cloud, address = self.cloud, planned["floating_ip"]
        found = cloud.get("network", "/floatingips", floating_ip_address=address)["floatingips"]
        match = [f for f in found if f.get("floating_ip_address") == address]
        if not match:
            raise CloudError(f"Unable to find floating IP {address}")
        change: dict[str, Any] = {"port_id": planned["port_id"]}
        if _given(planned, "fixed_ip"):
            change["fixed_ip_address"] = planned["fixed_ip"]
        fip = cloud.put("network", f"/floatingips/{match[0]['id']}", {"floatingip": change})["floatingip"]
        return settle(planned, {"id": fip["id"], "fixed_ip": fip.get("fixed_ip_address") or ""})

    def _read(self, current: State) -> State | None:
        try:
            fip = self.cloud.get("network", f"/floatingips/{current['id']}")["floatingip"]
        except NotFound:
            return None
        if not fip.get("port_id"):
            return None  # disassociated behind our back: associate again
        return {**current, "port_id": fip["port_id"], "floating_ip": fip.get("floating_ip_address"),
                "fixed_ip": fip.get("fixed_ip_address") or current.get("fixed_ip")}

    def _update(self, current: State, planned: State) -> State:
        return settle(planned, current)

    def _delete(self, current: State) -> None:
        try:
            self.cloud.put("network", f"/floatingips/{current['id']}", {"floatingip": {"port_id": None}})
        except NotFound:
            pass
