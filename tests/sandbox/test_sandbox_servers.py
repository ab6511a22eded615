"""Servers through the real openstacksdk: a port and a boot volume, BUILD then ACTIVE, a data
volume attached, a floating IP in the addresses, resize (confirm and revert), delete cleans up."""

from __future__ import annotations

from typing import Any

import pytest
from openstack import exceptions

from sandbox.server import Sandbox


def wait(conn: Any, server: Any, status: str = "ACTIVE") -> Any:
    """Wait from the server's current state (the SDK returns at once if the object already matches)."""
    server = conn.compute.get_server(server.id)
    return conn.compute.wait_for_server(server, status=status, interval=0.1, wait=10)


def test_server_with_port_boot_volume_attachment_and_floating_ip(conn: Any, boot: Any) -> None:
    lan, wan = conn.network.find_network("lan"), conn.network.find_network("wan")
    port = conn.network.create_port(network_id=lan.id, name="node1-nic")
    assert port.fixed_ips[0]["ip_address"].startswith("192.168.7.")

    server = boot("node1", volume_size=12, port=port)
    assert conn.compute.get_server(server.id).status == "BUILD"
    server = wait(conn, server)
    assert server.status == "ACTIVE"
    assert conn.network.get_port(port.id).device_id == server.id
    boot_volume = conn.block_storage.get_volume(server.attached_volumes[0]["id"])
    assert (boot_volume.size, boot_volume.status, boot_volume.is_bootable) == (12, "in-use", True)
    assert boot_volume.attachments[0]["device"] == "/dev/vda"

    data = conn.block_storage.create_volume(size=5, name="node1-home")
    conn.block_storage.wait_for_status(data, "available", interval=0.1, wait=5)
    attachment = conn.compute.create_volume_attachment(server, volume_id=data.id)
    assert attachment.device == "/dev/vdb"
    data = conn.block_storage.get_volume(data.id)
    assert data.status == "in-use" and data.attachments[0]["server_id"] == server.id
    assert [a.volume_id for a in conn.compute.volume_attachments(server)] == [boot_volume.id, data.id]

    fip = conn.network.create_ip(floating_network_id=wan.id)
    assert fip.floating_ip_address.startswith("127.77.")
    conn.network.update_ip(fip, port_id=port.id)
    addresses = conn.compute.get_server(server.id).addresses["lan"]
    assert {(a["addr"], a["OS-EXT-IPS:type"]) for a in addresses} == {
        (port.fixed_ips[0]["ip_address"], "fixed"), (fip.floating_ip_address, "floating")}
    assert conn.compute.get_server(server.id).access_ipv4 == ""  # Nova leaves it to the user
    assert conn.network.ips(port_id=port.id).__next__().id == fip.id

    # Detach, then delete: the boot volume goes with the server, the data volume and the port stay.
    conn.compute.delete_volume_attachment(server, data.id)
    assert conn.block_storage.get_volume(data.id).status == "available"
    conn.compute.delete_server(server)
    assert conn.compute.find_server("node1") is None
    with pytest.raises(exceptions.NotFoundException):
        conn.block_storage.get_volume(boot_volume.id)
    assert conn.network.get_port(port.id).device_id == ""
    assert conn.network.get_ip(fip.id).port_id == port.id


def test_resize_confirm_and_revert(conn: Any, boot: Any) -> None:
    server = wait(conn, boot("login1", flavor="tiny-1"))
    conn.compute.resize_server(server, conn.compute.find_flavor("small-2").id)
    server = wait(conn, server, "VERIFY_RESIZE")
    assert server.flavor.original_name == "small-2"
    assert conn.compute.get_limits().absolute.total_cores_used == 2 + 2
    conn.compute.confirm_server_resize(server)
    server = conn.compute.get_server(server.id)
    assert server.status == "ACTIVE"

    conn.compute.resize_server(server, conn.compute.find_flavor("tiny-1").id)
    server = wait(conn, server, "VERIFY_RESIZE")
    conn.compute.revert_server_resize(server)
    server = wait(conn, server)
    assert server.flavor.original_name == "small-2"


def test_server_actions_metadata_and_listing(conn: Any, boot: Any) -> None:
    server = wait(conn, boot("mgmt1"))
    conn.compute.stop_server(server)
    assert conn.compute.get_server(server.id).status == "SHUTOFF"
    with pytest.raises(exceptions.ConflictException, match="Cannot 'stop' instance"):
        conn.compute.stop_server(server)
    conn.compute.start_server(server)
    conn.compute.reboot_server(server, "SOFT")
    assert wait(conn, server).status == "ACTIVE"

    conn.compute.set_server_metadata(server, role="mgmt")
    conn.compute.update_server(server, name="mgmt1-renamed")
    server = conn.compute.get_server(server.id)
    assert (server.name, server.metadata) == ("mgmt1-renamed", {"role": "mgmt"})
    assert [s.name for s in conn.compute.servers(name="renamed")] == ["mgmt1-renamed"]
    assert list(conn.compute.servers(name="^renamed")) == []


def test_keypairs(conn: Any) -> None:
    public = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0K1dN2eWcVZ6fH1C4jN7pVvM0gkQG7a1f0eUuY0ZqY test@example")
    pair = conn.compute.create_keypair(name="cluster-key", public_key=public)
    assert pair.fingerprint.count(":") == 15
    assert [k.name for k in conn.compute.keypairs()] == ["cluster-key"]
    with pytest.raises(exceptions.ConflictException):
        conn.compute.create_keypair(name="cluster-key", public_key=public)
    with pytest.raises(exceptions.BadRequestException, match="Keypair data is invalid"):
        conn.compute.create_keypair(name="bad", public_key="not a key")
    conn.compute.delete_keypair("cluster-key")
    assert list(conn.compute.keypairs()) == []


def test_boot_volume_over_the_volume_quota_leaves_the_server_in_error(conn: Any, boot: Any) -> None:
    server = boot("big1", volume_size=95)  # 10 GB in use outside the hub, 100 GB allowed
    server = conn.compute.wait_for_server(server, status="ERROR", failures=[], interval=0.1, wait=10)
    assert "VolumeSizeExceedsAvailableQuota" in server.fault["message"]
    assert list(conn.block_storage.volumes()) == []


def test_volume_in_use_cannot_be_deleted(conn: Any, boot: Any, sandbox: Sandbox) -> None:
    server = wait(conn, boot("node2"))
    volume = conn.block_storage.create_volume(size=3, name="scratch")
    conn.compute.create_volume_attachment(server, volume_id=volume.id)
    with pytest.raises(exceptions.BadRequestException, match="Invalid volume"):
        conn.block_storage.delete_volume(volume)
    conn.block_storage.extend_volume(volume, 4)  # in-use extend needs 3.42, which the SDK negotiates
    assert conn.block_storage.get_volume(volume.id).size == 4
    conn.compute.delete_server(server)
    assert conn.block_storage.get_volume(volume.id).status == "available"
    conn.block_storage.delete_volume(volume)
    assert list(conn.block_storage.volumes()) == []
