"""Finding networks, subnets, images and flavors from names and filters, with the real provider's
"no results" / "more than one result" errors. Used by the data sources and the floating IP.
"""

from __future__ import annotations

import re
from typing import Any

from sandbox.provider.client import Cloud, CloudError
from sandbox.provider.framework import ProviderError

Record = dict[str, Any]
NO_RESULTS = "Your query returned no results. Please change your search criteria and try again."
MANY_RESULTS = "Your query returned more than one result. Please try a more specific search criteria"


def one(found: list[Record], what: str, many: str = MANY_RESULTS) -> Record:
    if not found:
        raise CloudError(NO_RESULTS, None, f"looking up {what}")
    if len(found) > 1:
        raise CloudError(many, None, f"looking up {what}")
    return found[0]


def _keep(record: Record, **wanted: Any) -> bool:
    return all(value is None or record.get(key) == value for key, value in wanted.items())


# ---- networks ----
def networks(cloud: Cloud) -> list[Record]:
    return list(cloud.remember("networks", lambda: cloud.get("network", "/networks")["networks"]))


def network_by_id(cloud: Cloud, network_id: str) -> Record:
    cached = next((n for n in networks(cloud) if n.get("id") == network_id), None)
    return cached or dict(cloud.get("network", f"/networks/{network_id}")["network"])


def find_network(cloud: Cloud, *, name: str | None = None, network_id: str | None = None,
                 external: bool | None = None, status: str | None = None,
                 tenant_id: str | None = None) -> Record:
    found = [n for n in networks(cloud)
             if _keep(n, name=name, id=network_id, status=status, tenant_id=tenant_id)
             and (external is None or bool(n.get("router:external")) == external)]
    return one(found, f"network {name or network_id or ''}".strip())


# ---- subnets ----
SUBNET_FILTERS = {"name": "name", "description": "description", "network_id": "network_id",
                  "tenant_id": "tenant_id", "ip_version": "ip_version", "gateway_ip": "gateway_ip",
                  "cidr": "cidr", "subnet_id": "id", "ipv6_address_mode": "ipv6_address_mode",
                  "ipv6_ra_mode": "ipv6_ra_mode", "segment_id": "segment_id",
                  "subnetpool_id": "subnetpool_id"}


def find_subnet(cloud: Cloud, filters: Record) -> Record:
    """The subnet data source's read: subnets.ListOpts from the set filters (GetOk: "", 0 and
    false are unset, but dhcp_enabled and dns_publish_fixed_ip count when false), then one result."""
    query: Record = {key: filters[name] for name, key in SUBNET_FILTERS.items() if filters.get(name)}
    if query.get("ip_version"):
        query["ip_version"] = int(query["ip_version"])  # Terraform's numbers may arrive as 4.0
    for name, key in (("dhcp_enabled", "enable_dhcp"), ("dns_publish_fixed_ip", "dns_publish_fixed_ip")):
        if filters.get(name) is not None:
            query[key] = str(bool(filters[name])).lower()
    if filters.get("tags"):
        query["tags"] = ",".join(sorted(filters["tags"]))
    found = list(cloud.get("network", "/subnets", **query)["subnets"])
    if not found:
        raise ProviderError("Your query returned no openstack_networking_subnet_v2. "
                            "Please change your search criteria and try again.")
    if len(found) > 1:
        raise ProviderError("Your query returned more than one openstack_networking_subnet_v2. "
                            "Please try a more specific search criteria")
    return dict(found[0])


# ---- flavors ----
def flavors(cloud: Cloud) -> list[Record]:
    return list(cloud.remember("flavors", lambda: cloud.get("compute", "/flavors/detail")["flavors"]))


def flavor_by_id(cloud: Cloud, flavor_id: str) -> Record:
    cached = next((f for f in flavors(cloud) if f.get("id") == flavor_id), None)
    return cached or dict(cloud.get("compute", f"/flavors/{flavor_id}")["flavor"])


def find_flavor(cloud: Cloud, filters: Record) -> Record:
    def matches(f: Record) -> bool:
        swap = f.get("swap") or 0  # Nova says "" for no swap
        return (_keep(f, name=filters.get("name"), vcpus=filters.get("vcpus"), ram=filters.get("ram"),
                      disk=filters.get("disk"), rxtx_factor=filters.get("rx_tx_factor"))
                and (filters.get("swap") is None or swap == filters["swap"])
                and (filters.get("min_ram") is None or f.get("ram", 0) >= filters["min_ram"])
                and (filters.get("min_disk") is None or f.get("disk", 0) >= filters["min_disk"])
                and (filters.get("is_public") is None
                     or f.get("os-flavor-access:is_public", True) == filters["is_public"]))

    if filters.get("flavor_id"):
        return flavor_by_id(cloud, str(filters["flavor_id"]))
    return one([f for f in flavors(cloud) if matches(f)], f"flavor {filters.get('name') or ''}".strip())


def extra_specs(cloud: Cloud, flavor: Record) -> dict[str, str]:
    if isinstance(flavor.get("extra_specs"), dict):
        return {str(k): str(v) for k, v in flavor["extra_specs"].items()}
    try:
        specs = cloud.get("compute", f"/flavors/{flavor['id']}/os-extra_specs").get("extra_specs") or {}
    except CloudError:
        return {}
    return {str(k): str(v) for k, v in specs.items()}


# ---- images ----
IMAGE_FIELDS = {"id", "name", "status", "visibility", "protected", "checksum", "owner", "size", "min_ram",
                "min_disk", "disk_format", "container_format", "created_at", "updated_at", "tags", "file",
                "schema", "self", "os_hidden", "virtual_size", "direct_url", "locations", "os_hash_algo",
                "os_hash_value", "stores"}


def image_properties(image: Record) -> dict[str, str]:
    """An image's other properties, as gophercloud's Image.Properties holds them."""
    return {str(k): str(v) for k, v in image.items() if k not in IMAGE_FIELDS}


def _image_query(filters: Record) -> Record:
    """The query gophercloud's images.ListOpts builds from the data source (active images only)."""
    tags = [*(filters.get("tags") or []), *([filters["tag"]] if filters.get("tag") else [])]
    query = {"name": filters.get("name"), "visibility": filters.get("visibility"),
             "owner": filters.get("owner"), "status": "active", "size_min": filters.get("size_min"),
             "size_max": filters.get("size_max"),
             "sort": filters.get("sort"), "container_format": filters.get("container_format"),
             "disk_format": filters.get("disk_format"), "member_status": filters.get("member_status"),
             "os_hidden": "true" if filters.get("hidden") else None, "tag": tags or None}
    return {k: v for k, v in query.items() if v not in (None, "", 0)}


def images(cloud: Cloud, query: Record) -> list[Record]:
    found: list[Record] = []
    page = cloud.get("image", "/images", **query)
    while True:
        found += page.get("images", [])
        following = page.get("next")
        if not following:
            return found
        page = cloud.get("image", re.sub(r"^/v2", "", str(following)))


def find_image(cloud: Cloud, filters: Record) -> Record:
    """The data source's read: list, filter by properties (when several) and name_regex, then one
    result, or the newest with `most_recent`."""
    found = images(cloud, _image_query(filters))
    wanted: Record = filters.get("properties") or {}
    if len(found) > 1 and wanted:
        found = [i for i in found if all(image_properties(i).get(k) == str(v) for k, v in wanted.items())]
    if filters.get("name_regex"):
        pattern = re.compile(str(filters["name_regex"]))
        found = [i for i in found if i.get("name") and pattern.search(str(i["name"]))]
    if len(found) > 1 and filters.get("most_recent"):
        return max(found, key=lambda i: str(i.get("created_at") or ""))
    return one(found, f"image {filters.get('name') or filters.get('name_regex') or ''}".strip(),
               MANY_RESULTS + ", or set `most_recent` attribute to true.")
