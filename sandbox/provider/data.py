"""Data sources as terraform-provider-openstack 3.4 declares and reads them:
`openstack_networking_network_v2`, `openstack_networking_subnet_v2`, `openstack_images_image_v2`
(active images only, filtered by name_regex and properties, `most_recent` to pick one of several)
and `openstack_compute_flavor_v2`: one result, or the real provider's "no results" / "more than one
result" errors.
"""

from __future__ import annotations

from typing import Any

from sandbox.provider import lookup
from sandbox.provider.framework import (
    BOOL,
    NUM,
    STR_LIST,
    STR_MAP,
    STR_SET,
    CloudDataSource,
    Schema,
    State,
    computed,
    optional,
    region,
    settable,
)


class Network(CloudDataSource):
    type_suffix = "networking_network_v2"
    schema = Schema(attributes=[
        settable("id"), region(), optional("network_id"), optional("name"), optional("description"),
        optional("status"), optional("matching_subnet_cidr"), optional("tenant_id"),
        computed("admin_state_up"),
        computed("shared"), optional("external", BOOL), computed("availability_zone_hints", STR_LIST),
        optional("transparent_vlan", BOOL), optional("tags", STR_SET), optional("mtu", NUM),
        computed("dns_domain"), computed("subnets", STR_LIST), computed("all_tags", STR_SET),
    ])

    def _read(self, config: State) -> State:
        net = lookup.find_network(self.cloud, name=config.get("name"), network_id=config.get("network_id"),
                                  external=config.get("external"), status=config.get("status"),
                                  tenant_id=config.get("tenant_id"))
        return {
            "id": net["id"], "network_id": net["id"], "name": net.get("name", ""),
            "description": net.get("description", ""), "status": config.get("status"),
            "external": bool(net.get("router:external")), "tenant_id": net.get("tenant_id")
            or net.get("project_id", ""), "admin_state_up": str(net.get("admin_state_up", True)).lower(),
            "shared": str(net.get("shared", False)).lower(), "mtu": net.get("mtu", 1500),
            "subnets": list(net.get("subnets") or []), "dns_domain": net.get("dns_domain") or "",
            "availability_zone_hints": list(net.get("availability_zone_hints") or []),
            "all_tags": list(net.get("tags") or []), "transparent_vlan": bool(net.get("vlan_transparent")),
        }


class Subnet(CloudDataSource):
    """Magic Castle finds its subnet with subnet_id (null: any), ip_version = 4, dhcp_enabled = true."""

    type_suffix = "networking_subnet_v2"
    schema = Schema(attributes=[
        settable("id"), region(), settable("name"), settable("description"), optional("dhcp_enabled", BOOL),
        settable("network_id"), settable("tenant_id"), settable("ip_version", NUM), settable("gateway_ip"),
        settable("cidr"), settable("subnet_id"), optional("dns_publish_fixed_ip", BOOL),
        computed("enable_dhcp", BOOL), computed("dns_nameservers", STR_SET),
        computed("service_types", STR_SET),
        settable("ipv6_address_mode", force_new=True), settable("ipv6_ra_mode", force_new=True),
        settable("segment_id"), settable("subnetpool_id"), optional("tags", STR_SET),
        computed("all_tags", STR_SET),
    ])

    def _read(self, config: State) -> State:
        subnet = lookup.find_subnet(self.cloud, config)
        return {
            "id": subnet["id"], "subnet_id": config.get("subnet_id") or subnet["id"],
            "name": subnet.get("name") or "", "description": subnet.get("description") or "",
            "tenant_id": subnet.get("tenant_id") or subnet.get("project_id") or "",
            "network_id": subnet.get("network_id"), "cidr": subnet.get("cidr"),
            "ip_version": subnet.get("ip_version"),
            "ipv6_address_mode": subnet.get("ipv6_address_mode") or "",
            "ipv6_ra_mode": subnet.get("ipv6_ra_mode") or "", "gateway_ip": subnet.get("gateway_ip") or "",
            "enable_dhcp": bool(subnet.get("enable_dhcp")), "segment_id": subnet.get("segment_id") or "",
            "subnetpool_id": subnet.get("subnetpool_id") or "",
            "all_tags": list(subnet.get("tags") or []),
            "dns_nameservers": list(subnet.get("dns_nameservers") or []),
            "service_types": list(subnet.get("service_types") or []),
        }


class Image(CloudDataSource):
    type_suffix = "images_image_v2"
    schema = Schema(attributes=[
        settable("id"), region(), optional("name", force_new=True), optional("visibility", force_new=True),
        optional("member_status", force_new=True), optional("owner", force_new=True),
        optional("size_min", NUM, force_new=True), optional("size_max", NUM, force_new=True),
        optional("sort", force_new=True, default="name:asc"), optional("tag", force_new=True),
        optional("most_recent", BOOL, force_new=True, default=False),
        optional("properties", STR_MAP, force_new=True),
        optional("hidden", BOOL, default=False), optional("name_regex", force_new=True),
        optional("container_format"), optional("disk_format"), computed("min_disk_gb", NUM),
        computed("min_ram_mb", NUM), computed("protected", BOOL), computed("checksum"),
        computed("size_bytes", NUM),
        computed("metadata", STR_MAP), computed("created_at"), computed("updated_at"), computed("file"),
        computed("schema"), settable("tags", STR_SET),
    ])

    def _read(self, config: State) -> State:
        image = lookup.find_image(self.cloud, config)
        return {
            "id": image["id"], "name": image.get("name", ""), "tags": list(image.get("tags") or []),
            "container_format": image.get("container_format") or "",
            "disk_format": image.get("disk_format") or "",
            "min_disk_gb": image.get("min_disk") or 0, "min_ram_mb": image.get("min_ram") or 0,
            "owner": image.get("owner") or "", "protected": bool(image.get("protected")),
            "visibility": image.get("visibility") or "", "checksum": image.get("checksum") or "",
            "size_bytes": image.get("size") or 0, "metadata": {}, "created_at": image.get("created_at") or "",
            "updated_at": image.get("updated_at") or "", "file": image.get("file") or "",
            "schema": image.get("schema") or "", "hidden": bool(image.get("os_hidden")),
            "properties": lookup.image_properties(image),
        }


class Flavor(CloudDataSource):
    type_suffix = "compute_flavor_v2"
    schema = Schema(attributes=[
        settable("id"), settable("region"), optional("flavor_id", force_new=True),
        optional("name", force_new=True),
        optional("min_ram", NUM, force_new=True), optional("ram", NUM, force_new=True),
        optional("vcpus", NUM, force_new=True), optional("min_disk", NUM, force_new=True),
        optional("disk", NUM, force_new=True), optional("swap", NUM, force_new=True),
        optional("rx_tx_factor", NUM, force_new=True), optional("is_public", BOOL, force_new=True),
        optional("description", force_new=True), computed("extra_specs", STR_MAP),
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
