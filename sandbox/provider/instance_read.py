"""What the real provider's Read of an `openstack_compute_instance_v2` sets, from Nova, Neutron and
Glance: networks matched to the server's addresses, the image's current name ("Image not found"
when it is gone), the flavor's name ("" for both flavor attributes when the operator deleted it),
the power state. Used after every create and update too, as the SDK's resources do.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sandbox.provider.client import Cloud, CloudError, NotFound
from sandbox.provider.framework import State, Unknown

NO_IMAGE = "Attempt to boot from volume - no image supplied"
IMAGE_GONE = "Image not found"
POWER_STATES = ("active", "shutoff", "error", "migrating", "shelved_offloaded", "shelved", "build", "paused")
Record = dict[str, Any]


def get_server(cloud: Cloud, server_id: str) -> Record:
    return dict(cloud.get("compute", f"/servers/{server_id}")["server"])


def needs_image(state: State) -> bool:
    """With block devices, only an image copied to the local disk needs an image (the SDK's rule)."""
    devices = [bd for bd in state.get("block_device") or [] if isinstance(bd, dict)]
    return not devices or any(bd.get("source_type") == "image" and bd.get("destination_type") == "local"
                              for bd in devices)


def _text(value: Any) -> str:
    """A planned value as text: "" while it is null or not known yet."""
    return "" if value is None or value is Unknown else str(value)


def _one(found: list[Record], what: str, query: str, term: str) -> Record:
    if not found:
        raise CloudError(f"Error trying to get network information from the Network API: "
                         f"Could not find any matching {what} for {query} {term}")
    if len(found) > 1:
        raise CloudError(f"Error trying to get network information from the Network API: "
                         f"More than one {what} found for {query} {term}")
    return found[0]


def _network_info(cloud: Cloud, query: str, term: str) -> Record:
    """getInstanceNetworkInfoNeutron: a port leads to its network; networks are found ACTIVE."""
    if query == "port":
        port = _one(cloud.get("network", "/ports", id=term)["ports"], "port", query, term)
        query, term = "id", str(port.get("network_id"))
    filters = {"status": "ACTIVE", "name" if query == "name" else "id": term}
    network = _one(cloud.get("network", "/networks", **filters)["networks"], "network", query, term)
    return {"uuid": network.get("id", ""), "name": network.get("name", "")}


def instance_networks(cloud: Cloud, state: State) -> list[Record]:
    """getAllInstanceNetworks: each network block with both its network id and name found."""
    found = []
    for block in state.get("network") or []:
        uuid, name, port = (_text(block.get(k)) for k in ("uuid", "name", "port"))
        if not (uuid or name or port):
            raise CloudError("At least one of network.uuid, network.name, or network.port must be set")
        entry = {"uuid": uuid, "name": name, "port": port, "fixed_ip": _text(block.get("fixed_ip_v4")),
                 "access_network": block.get("access_network") is True}
        if not (uuid and name):
            query, term = ("port", port) if port else ("id", uuid) if uuid else ("name", name)
            entry.update(_network_info(cloud, query, term))
        found.append(entry)
    return found


def _nics(addresses: list[Record]) -> list[Record]:
    """getInstanceAddresses for one network: NICs keyed by MAC, fixed IPv4 and IPv6 filled in."""
    nics: list[Record] = []
    for address in addresses:
        nic = {"mac": str(address.get("OS-EXT-IPS-MAC:mac_addr") or ""), "fixed_ip_v4": "", "fixed_ip_v6": ""}
        if address.get("OS-EXT-IPS:type") in ("fixed", None):
            key = "fixed_ip_v6" if address.get("version") == 6 else "fixed_ip_v4"
            nic[key] = str(address.get("addr") or "")
        same = next((n for n in nics if n["mac"] == nic["mac"]), None)
        if same is None:
            nics.append(nic)
        else:
            same.update({k: v for k, v in nic.items() if v})
    return nics


def flatten_networks(cloud: Cloud, server: Record, state: State) -> list[Record]:
    """flattenInstanceNetworks: one entry per network block that has addresses on the server."""
    by_name = {name: _nics(list(addrs)) for name, addrs in (server.get("addresses") or {}).items()}
    result = []
    for network in instance_networks(cloud, state):
        nics = by_name.get(network["name"]) or []
        if nics:
            nic = nics[0]
            nics[:] = nics[1:] + nics[-1:]  # the next block on this network takes the next NIC
            result.append({"name": network["name"], "uuid": network["uuid"], "port": network["port"],
                           "access_network": network["access_network"], **nic})
    return result


def access_addresses(networks: list[Record]) -> tuple[str, str]:
    """getInstanceAccessAddresses: the first fixed IPs, or those of an access_network."""
    v4 = v6 = ""
    for network in networks:
        if network.get("fixed_ip_v4") and (not v4 or network.get("access_network")):
            v4 = network["fixed_ip_v4"]
        if network.get("fixed_ip_v6") and (not v6 or network.get("access_network")):
            v6 = network["fixed_ip_v6"]
    return v4, v6


def flavor_names(cloud: Cloud, server: Record) -> tuple[str, str]:
    """(flavor_id, flavor_name); both "" when the flavor was deleted since (Nova still runs it)."""
    flavor_id = str((server.get("flavor") or {}).get("id") or "")
    if not flavor_id:
        raise CloudError(f"Error setting OpenStack server's flavor: {server.get('flavor')}")
    try:
        return flavor_id, str(cloud.get("compute", f"/flavors/{flavor_id}")["flavor"].get("name") or "")
    except NotFound:
        return "", ""


def image_information(cloud: Cloud, server: Record, state: State) -> State:
    """setImageInformation: image_id from the server, image_name from Glance at every read."""
    if not needs_image(state):
        return {"image_id": NO_IMAGE}
    image = server.get("image")
    image_id = str(image.get("id") or "") if isinstance(image, dict) else ""
    if not image_id:
        return {}
    try:
        name = cloud.get("image", f"/images/{image_id}").get("name") or ""
    except NotFound:
        name = IMAGE_GONE
    return {"image_id": image_id, "image_name": name}


def _go_time(text: Any) -> str:
    """Nova's ISO 8601 time as Go's time.Time.String() prints it (the SDK stores that)."""
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return str(text or "")
    return moment.strftime("%Y-%m-%d %H:%M:%S +0000 UTC")


def observe(cloud: Cloud, server: Record, state: State, region: str) -> State:
    """The state after the real provider's Read of `server`."""
    networks = flatten_networks(cloud, server, state)
    v4, v6 = access_addresses(networks)
    status = str(server.get("status", "")).lower()
    if status not in POWER_STATES:
        raise CloudError(f"Invalid power_state for instance {server.get('id')}: {server.get('status')}")
    flavor_id, flavor_name = flavor_names(cloud, server)
    return {
        **state, "id": server["id"], "name": server.get("name"), "created": _go_time(server.get("created")),
        "updated": _go_time(server.get("updated")), "network": networks,
        "access_ip_v4": v4 or server.get("accessIPv4") or "",
        "access_ip_v6": v6 or server.get("accessIPv6") or "",
        "all_metadata": dict(server.get("metadata") or {}), "key_pair": server.get("key_name") or "",
        "flavor_id": flavor_id, "flavor_name": flavor_name, **image_information(cloud, server, state),
        "availability_zone": server.get("OS-EXT-AZ:availability_zone") or "", "region": region,
        "power_state": status,
    }
