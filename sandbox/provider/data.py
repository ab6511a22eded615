"""Data sources: `openstack_networking_network_v2`, `openstack_images_image_v2` and
`openstack_compute_flavor_v2`, filtered like the real provider's (one result, or an error).
"""

from __future__ import annotations

from typing import Any

from sandbox.provider import lookup
from sandbox.provider.framework import (
    BOOL,
    NUM,
    STR_LIST,
    STR_MAP,
    CloudDataSource,
    Schema,
    State,
    computed,
    optional,
    settable,
)


class Network(CloudDataSource):
    type_suffix = "networking_network_v2"
    schema = Schema(attributes=[
        computed("id"), settable("network_id"), settable("name"), settable("description"), settable("status"),
        settable("external", BOOL), settable("tenant_id"), optional("matching_subnet_cidr"),
        computed("admin_state_up"), computed("shared"), computed("mtu", NUM), computed("subnets", STR_LIST),
        computed("availability_zone_hints", STR_LIST), computed("all_tags", STR_LIST),
    ])

    def _read(self, config: State) -> State:
        net = lookup.find_network(self.cloud, name=config.get("name"), network_id=config.get("network_id"),
                                  external=config.get("external"), status=config.get("status"),
                                  tenant_id=config.get("tenant_id"))
        return {
            "id": net["id"], "network_id": net["id"], "name": net.get("name", ""),
            "description": net.get("description", ""), "status": net.get("status", "ACTIVE"),
            "external": bool(net.get("router:external")), "tenant_id": net.get("tenant_id")
            or net.get("project_id", ""), "admin_state_up": str(net.get("admin_state_up", True)).lower(),
            "shared": str(net.get("shared", False)).lower(), "mtu": net.get("mtu", 1500),
            "subnets": list(net.get("subnets") or []),
            "availability_zone_hints": list(net.get("availability_zone_hints") or []),
            "all_tags": list(net.get("tags") or []),
        }


class Image(CloudDataSource):
    type_suffix = "images_image_v2"
    schema = Schema(attributes=[
        computed("id"), settable("name"), optional("name_regex"), optional("most_recent", BOOL),
        optional("visibility"), optional("owner"), optional("tag"), optional("properties", STR_MAP),
        optional("sort"), optional("member_status"), computed("min_disk_gb", NUM),
        computed("min_ram_mb", NUM),
        computed("size_bytes", NUM), computed("checksum"), computed("created_at"), computed("updated_at"),
        computed("container_format"), computed("disk_format"), computed("file"), computed("schema"),
        computed("protected", BOOL), computed("tags", STR_LIST),
    ])

    def _read(self, config: State) -> State:
        image = lookup.find_image(self.cloud, config)
        return {
            "id": image["id"], "name": image.get("name", ""), "min_disk_gb": image.get("min_disk") or 0,
            "min_ram_mb": image.get("min_ram") or 0, "size_bytes": image.get("size") or 0,
            "checksum": image.get("checksum") or "", "created_at": image.get("created_at") or "",
            "updated_at": image.get("updated_at") or "",
            "container_format": image.get("container_format") or "",
            "disk_format": image.get("disk_format") or "", "file": image.get("file") or "",
            "schema": image.get("schema") or "", "protected": bool(image.get("protected")),
            "tags": list(image.get("tags") or []),
        }


class Flavor(CloudDataSource):
    type_suffix = "compute_flavor_v2"
    schema = Schema(attributes=[
        computed("id"), settable("flavor_id"), settable("name"), optional("min_ram", NUM),
        optional("min_disk", NUM),
        settable("ram", NUM), settable("vcpus", NUM), settable("disk", NUM), settable("swap", NUM),
        settable("rx_tx_factor", NUM), settable("is_public", BOOL), computed("extra_specs", STR_MAP),
        computed("description"),
    ])

    def _read(self, config: State) -> State:
        flavor: dict[str, Any] = lookup.find_flavor(self.cloud, config)
        return {
            "id": flavor["id"], "flavor_id": flavor["id"], "name": flavor.get("name", ""),
            "ram": flavor.get("ram", 0), "vcpus": flavor.get("vcpus", 0), "disk": flavor.get("disk", 0),
            "swap": flavor.get("swap") or 0, "rx_tx_factor": flavor.get("rxtx_factor", 1.0),
            "is_public": flavor.get("os-flavor-access:is_public", True),
            "extra_specs": lookup.extra_specs(self.cloud, flavor),
            "description": flavor.get("description") or "",
        }
