"""What operators do outside the hub, through the real openstacksdk over HTTP: stop and start,
rebuild, resize while stopped, flavors created and deleted, images created, uploaded, staged,
patched, deactivated and deleted, volumes extended, retyped, detached and deleted by hand. Each
asserts what a user sees afterwards, and the refusals OpenStack gives."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions

from sandbox.server import Sandbox, SandboxInfo

OPERATOR_SEED = """
project: test-project
username: tester
flavors:
  - {name: tiny-1, vcpus: 1, ram: 1024}
  - {name: small-2, vcpus: 2, ram: 4096}
  - {name: big-4, vcpus: 4, ram: 8192, disk: 40}
images:
  - {name: TestOS-1, min_disk: 2}
  - {name: TestOS-2}
  - {name: Huge-OS, min_disk: 50}
networks:
  - {name: lan, cidr: 192.168.7.0/24}
volume_types:
  - {name: __DEFAULT__, extra_specs: {volume_backend_name: ceph-hdd}}
  - {name: hdd-replicated, extra_specs: {volume_backend_name: ceph-hdd}}
  - {name: ssd, extra_specs: {volume_backend_name: ceph-ssd}}
quotas:
  cores: {limit: 8, in_use: 2}
  gigabytes: {limit: 100, in_use: 10}
"""
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "operator-seed.yaml"
    path.write_text(OPERATOR_SEED)
    return path


@pytest.fixture
def member(info: SandboxInfo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The application credential's connection: a project member, not the cloud's admin."""
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(info.clouds_yaml))
    connection = openstack.connect(cloud=f"{info.cloud_name}-appcred")
    yield connection
    connection.close()


def wait(conn: Any, server: Any, status: str = "ACTIVE") -> Any:
    server = conn.compute.get_server(server.id)
    return conn.compute.wait_for_server(server, status=status, interval=0.1, wait=10)


def test_stop_and_start_as_nova_does(conn: Any, boot: Any) -> None:
    server = boot("node1")
    with pytest.raises(exceptions.ConflictException, match="while it is in vm_state building"):
        conn.compute.stop_server(server)
    server = wait(conn, server)
    conn.compute.stop_server(server)
    stopped = conn.compute.get_server(server.id)
    assert (stopped.status, stopped.power_state, stopped.vm_state) == ("SHUTOFF", 4, "stopped")
    with pytest.raises(exceptions.ConflictException, match="Cannot 'stop' instance"):
        conn.compute.stop_server(server)
    conn.compute.start_server(server)
    started = conn.compute.get_server(server.id)
    assert (started.status, started.power_state) == ("ACTIVE", 1)
    with pytest.raises(exceptions.ConflictException, match="Cannot 'start' instance .* vm_state active"):
        conn.compute.start_server(server)


def test_rebuild_keeps_the_server_and_changes_its_image(conn: Any, boot: Any) -> None:
    server = wait(conn, boot("login1"))
    other = conn.image.find_image("TestOS-2")
    rebuilt = conn.compute.rebuild_server(server, other.id, name="login1-new")
    assert (rebuilt.id, rebuilt.status, rebuilt.name) == (server.id, "REBUILD", "login1-new")
    assert rebuilt.admin_password
    after = wait(conn, server)
    assert after.image.id == other.id and after.addresses == server.addresses

    conn.compute.stop_server(server)
    conn.compute.rebuild_server(server, conn.image.find_image("TestOS-1").id)
    assert wait(conn, server, "SHUTOFF").image.id != other.id  # a stopped server stays stopped

    with pytest.raises(exceptions.BadRequestException, match="Cannot find image for rebuild"):
        conn.compute.rebuild_server(server, "00000000-0000-4000-8000-000000000000")
    big = wait(conn, boot("disk1", flavor="big-4"))
    with pytest.raises(exceptions.BadRequestException, match="smaller than the minimum size"):
        conn.compute.rebuild_server(big, conn.image.find_image("Huge-OS").id)


def test_rebuild_of_a_volume_backed_server_needs_2_93(conn: Any, boot: Any, http: httpx.Client) -> None:
    server = wait(conn, boot("vol1", volume_size=4))
    other = conn.image.find_image("TestOS-2")
    body = {"rebuild": {"imageRef": other.id}}
    reply = http.post(f"/compute/v2.1/servers/{server.id}/action", json=body,
                      headers={"OpenStack-API-Version": "compute 2.92"})
    assert reply.status_code == 400
    assert "Unable to rebuild with a different image for a volume-backed server" in reply.text
    conn.compute.rebuild_server(server, other.id)  # the SDK speaks 2.96 to this cloud
    wait(conn, server)
    root = conn.block_storage.get_volume(server.attached_volumes[0]["id"])
    assert root.volume_image_metadata["image_id"] == other.id


def test_resize_while_stopped_stays_stopped(conn: Any, boot: Any) -> None:
    server = wait(conn, boot("compute1"))
    conn.compute.stop_server(server)
    conn.compute.resize_server(server, conn.compute.find_flavor("small-2").id)
    server = wait(conn, server, "VERIFY_RESIZE")
    assert conn.compute.get_limits().absolute.total_cores_used == 2 + 2
    conn.compute.confirm_server_resize(server)
    assert conn.compute.get_server(server.id).status == "SHUTOFF"
    with pytest.raises(exceptions.ConflictException, match="Cannot 'confirmResize'"):
        conn.compute.confirm_server_resize(server)


def test_resize_past_the_forced_cores_quota(conn: Any, boot: Any, sandbox: Sandbox) -> None:
    server = wait(conn, boot("node1"))
    sandbox.faults.update({"quota": {"cores": 3}})
    with pytest.raises(exceptions.ForbiddenException, match="Quota exceeded for cores: Requested 1"):
        conn.compute.resize_server(server, conn.compute.find_flavor("small-2").id)
    sandbox.faults.update({"quota": {}})
    conn.compute.resize_server(server, conn.compute.find_flavor("small-2").id)
    assert wait(conn, server, "VERIFY_RESIZE").flavor.original_name == "small-2"


def test_flavors_created_and_deleted_by_the_admin(conn: Any, member: Any, boot: Any,
                                                  http: httpx.Client) -> None:
    flavor = conn.compute.create_flavor(name="p2-custom", vcpus=2, ram=2048, disk=0)
    assert (flavor.vcpus, flavor.ram, flavor.is_public) == (2, 2048, True)
    with pytest.raises(exceptions.ConflictException, match="Flavor with name p2-custom already exists"):
        conn.compute.create_flavor(name="p2-custom", vcpus=1, ram=512, disk=0)
    with pytest.raises(exceptions.ForbiddenException, match="os-flavor-manage:create"):
        member.compute.create_flavor(name="mine", vcpus=1, ram=512, disk=0)

    server = wait(conn, boot("node1", flavor="p2-custom"))
    with pytest.raises(exceptions.ForbiddenException, match="os-flavor-manage:delete"):
        member.compute.delete_flavor(flavor, ignore_missing=False)
    conn.compute.delete_flavor(flavor, ignore_missing=False)
    assert conn.compute.find_flavor("p2-custom") is None
    # From 2.47 Nova embeds the flavor in the server; before, its id no longer resolves.
    assert conn.compute.get_server(server.id).flavor.original_name == "p2-custom"
    old = http.get(f"/compute/v2.1/servers/{server.id}").json()["server"]["flavor"]
    assert old["id"] == flavor.id
    assert http.get(f"/compute/v2.1/flavors/{old['id']}").status_code == 404
    assert conn.compute.get_limits().absolute.total_cores_used == 2 + 2


def test_private_flavors_are_the_admins(conn: Any, member: Any) -> None:
    private = conn.compute.create_flavor(name="gpu-1", vcpus=1, ram=1024, disk=0, is_public=False)
    assert not private.is_public
    assert "gpu-1" in [f.name for f in conn.compute.flavors()]  # the SDK lists with is_public=None
    assert "gpu-1" not in [f.name for f in member.compute.flavors()]
    with pytest.raises(exceptions.NotFoundException):
        member.compute.get_flavor(private.id)
    conn.compute.create_flavor_extra_specs(private, {"resources:VGPU": "1"})
    assert conn.compute.get_flavor(private.id).extra_specs == {"resources:VGPU": "1"}


def test_image_created_and_uploaded(conn: Any) -> None:
    data = b"not really a disk image"
    image = conn.image.create_image(name="custom-os", data=data, disk_format="qcow2",
                                    container_format="bare", allow_duplicates=True)
    image = conn.image.get_image(image.id)
    assert (image.status, image.size, image.checksum) == ("active", len(data), hashlib.md5(data).hexdigest())
    assert image.hash_value == hashlib.sha512(data).hexdigest()
    assert image.owner == conn.current_project_id and image.visibility == "shared"

    queued = conn.image.create_image(name="later-os", disk_format="raw", container_format="bare",
                                     allow_duplicates=True)
    listed = {i.name: i.status for i in conn.image.images()}
    assert (listed["later-os"], listed["custom-os"], listed["TestOS-1"]) == ("queued", "active", "active")
    assert [i.name for i in conn.image.images(status="active", size_max=1000)] == ["custom-os"]
    with pytest.raises(exceptions.BadRequestException, match="is not active"):
        conn.compute.create_server(name="x", flavor_id=conn.compute.find_flavor("tiny-1").id,
                                   image_id=queued.id, networks="none")
    conn.image.stage_image(queued, data=b"staged bytes")
    assert conn.image.get_image(queued.id).status == "uploading"
    conn.image.import_image(queued, method="glance-direct")
    assert conn.image.get_image(queued.id).status == "active"
    reply = conn.image.put(f"/images/{queued.id}/file", data=b"again",
                           headers={"Content-Type": "application/octet-stream"})
    assert reply.status_code == 409 and "from active to saving is not allowed" in reply.text


def test_image_patched(conn: Any) -> None:
    image = conn.image.create_image(name="custom-os", data=b"x", disk_format="qcow2",
                                    container_format="bare", allow_duplicates=True)
    conn.image.update_image(image, name="custom-os-v2", os_distro="rocky", min_disk=3)
    image = conn.image.get_image(image.id)
    assert (image.name, image.os_distro, image.min_disk) == ("custom-os-v2", "rocky", 3)
    assert conn.image.find_image("custom-os") is None

    ops = [{"op": "replace", "path": "/os_distro", "value": "alma"},
           {"op": "add", "path": "/site", "value": "a"}]
    assert conn.image.patch(f"/images/{image.id}", data=json.dumps(ops), headers=PATCH).status_code == 200
    ops = [{"op": "remove", "path": "/site"}]
    assert conn.image.patch(f"/images/{image.id}", data=json.dumps(ops), headers=PATCH).status_code == 200
    shown = conn.image.get(f"/images/{image.id}").json()
    assert shown["os_distro"] == "alma" and "site" not in shown

    refusals = [  # (op, path, value, Content-Type, status, message)
        ("replace", "/nothing", "a", PATCH, 409, "Property nothing does not exist."),
        ("remove", "/name", None, PATCH, 403, "Property name may not be removed."),
        ("replace", "/status", "active", PATCH, 403, "status&#x27; is read-only."),
        ("replace", "/disk_format", "raw", PATCH, 403, "only replaced for a queued image"),
        ("replace", "/name", "n", {"Content-Type": "application/json"}, 415, "PATCH expects Content-Type"),
    ]
    for op, path, value, headers, status, message in refusals:
        change = {"op": op, "path": path} | ({"value": value} if value else {})
        reply = conn.image.patch(f"/images/{image.id}", data=json.dumps([change]), headers=headers)
        assert (reply.status_code, message in reply.text) == (status, True), reply.text


def test_image_deactivated_reactivated_and_deleted(conn: Any, member: Any) -> None:
    seeded = conn.image.find_image("TestOS-2")
    member.image.deactivate_image(seeded)  # the SDK does not look at the answer of an image action
    assert conn.image.get_image(seeded.id).status == "active"
    reply = member.image.post(f"/images/{seeded.id}/actions/deactivate")
    assert reply.status_code == 403 and "not authorized to complete deactivate action" in reply.text
    conn.image.deactivate_image(seeded)
    assert {i.name: i.status for i in conn.image.images()}["TestOS-2"] == "deactivated"
    with pytest.raises(exceptions.BadRequestException, match="is not active"):
        conn.compute.create_server(name="node1", flavor_id=conn.compute.find_flavor("tiny-1").id,
                                   image_id=seeded.id, networks="none")
    conn.image.reactivate_image(seeded)
    assert conn.image.get_image(seeded.id).status == "active"

    queued = member.image.create_image(name="mine", allow_duplicates=True, disk_format="raw",
                                       container_format="bare")
    reply = conn.image.post(f"/images/{queued.id}/actions/deactivate")
    assert reply.status_code == 403 and "Not allowed to deactivate image in status" in reply.text
    member.image.update_image(queued, is_protected=True)
    with pytest.raises(exceptions.ForbiddenException, match="is protected and cannot be deleted"):
        member.image.delete_image(queued, ignore_missing=False)
    member.image.update_image(queued, is_protected=False)
    member.image.delete_image(queued, ignore_missing=False)
    with pytest.raises(exceptions.NotFoundException):
        member.image.delete_image(queued, ignore_missing=False)
    with pytest.raises(exceptions.ForbiddenException, match="publicize_image"):
        member.image.create_image(name="everyone", visibility="public", allow_duplicates=True)


def test_volume_extended_by_hand(conn: Any, boot: Any, sandbox: Sandbox) -> None:
    volume = conn.block_storage.create_volume(size=5, name="data")
    for size in (5, 4):
        with pytest.raises(exceptions.BadRequestException,
                           match=rf"greater than current size. \(current: 5, extended: {size}\)"):
            conn.block_storage.extend_volume(volume, size)
    with pytest.raises(exceptions.HttpException, match="exceeds allowed gigabytes quota") as caught:
        conn.block_storage.extend_volume(volume, 100)  # 10 outside + 5 held, 100 allowed
    assert caught.value.status_code == 413
    sandbox.faults.update({"quota": {"gigabytes": 20}})
    with pytest.raises(exceptions.HttpException, match="Requested 6G, quota is 20G and 15G"):
        conn.block_storage.extend_volume(volume, 11)
    sandbox.faults.update({"quota": {}})

    server = wait(conn, boot("node1"))
    conn.compute.create_volume_attachment(server, volume_id=volume.id)
    body = {"os-extend": {"new_size": 6}}
    reply = conn.block_storage.post(f"/volumes/{volume.id}/action", json=body, microversion="3.41")
    assert reply.status_code == 400
    assert "status must be '{'status': 'available'}' to extend, currently in-use" in reply.text
    conn.block_storage.extend_volume(volume, 6)  # the SDK speaks 3.70: an attached volume grows
    assert conn.block_storage.get_volume(volume.id).size == 6


def test_volume_retyped(conn: Any) -> None:
    assert [t.name for t in conn.block_storage.types()] == ["__DEFAULT__", "hdd-replicated", "ssd"]
    volume = conn.block_storage.create_volume(size=2, name="data")
    assert conn.block_storage.get_volume(volume.id).volume_type == "__DEFAULT__"
    conn.block_storage.retype_volume(volume, "hdd-replicated")  # same backend: no migration needed
    assert conn.block_storage.get_volume(volume.id).volume_type == "hdd-replicated"
    conn.block_storage.retype_volume(volume, "ssd")  # accepted, but Cinder will not migrate ("never")
    assert conn.block_storage.get_volume(volume.id).volume_type == "hdd-replicated"
    conn.block_storage.retype_volume(volume, "ssd", migration_policy="on-demand")
    assert conn.block_storage.get_volume(volume.id).volume_type == "ssd"

    with pytest.raises(exceptions.BadRequestException, match="requested type has to be different"):
        conn.block_storage.retype_volume(volume, "ssd")
    with pytest.raises(exceptions.NotFoundException, match="Volume type with name nvme could not be found"):
        conn.block_storage.retype_volume(volume, "nvme")
    with pytest.raises(exceptions.BadRequestException, match="migration_policy"):
        conn.block_storage.retype_volume(volume, "__DEFAULT__", migration_policy="sometimes")
    usage = conn.block_storage.get_quota_set(conn.current_project_id, usage=True).usage
    assert (usage["gigabytes_ssd"], usage["volumes_ssd"], usage["volumes___DEFAULT__"]) == (2, 1, 0)
    with pytest.raises(exceptions.NotFoundException, match="Volume type with name nvme"):
        conn.block_storage.create_volume(size=1, volume_type="nvme")


def test_volume_detached_and_deleted_by_hand(conn: Any, boot: Any) -> None:
    server = wait(conn, boot("node1"))
    volume = conn.block_storage.create_volume(size=1, name="scratch")
    conn.compute.create_volume_attachment(server, volume_id=volume.id)
    with pytest.raises(exceptions.BadRequestException, match="Volume status must be available"):
        conn.block_storage.delete_volume(volume, ignore_missing=False)
    conn.compute.delete_volume_attachment(server, volume.id)
    assert conn.block_storage.get_volume(volume.id).status == "available"
    assert list(conn.compute.volume_attachments(server)) == []
    with pytest.raises(exceptions.NotFoundException, match="is not attached to instance"):
        conn.compute.delete_volume_attachment(server, volume.id, ignore_missing=False)
    conn.block_storage.delete_volume(volume, ignore_missing=False)
    assert list(conn.block_storage.volumes()) == []


def test_the_token_says_who_is_admin(info: SandboxInfo, http: httpx.Client, member: Any) -> None:
    token = http.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": http.headers["X-Auth-Token"]})
    assert "admin" in [r["name"] for r in token.json()["token"]["roles"]]
    assert "admin" not in member.session.auth.get_access(member.session).role_names


def test_image_errors_follow_the_accept_header(http: httpx.Client, sandbox: Sandbox, conn: Any) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    reply = http.get(f"/image/v2/images/{missing}", headers={"Accept": "application/json"})
    assert reply.json() == {"message": f"No image found with ID {missing}<br /><br />\n\n\n",
                            "code": "404 Not Found", "title": "Not Found"}
    reply = http.get(f"/image/v2/images/{missing}", headers={"Accept": "text/plain"})
    assert reply.headers["content-type"].startswith("text/plain") and reply.text.startswith("404 Not Found")
    sandbox.faults.update({"error_rate": {"image": 1.0}})  # (openstacksdk would retry a 503 for seconds)
    reply = http.post("/image/v2/images", json={"name": "x"}, headers={"Accept": "application/json"})
    assert reply.status_code == 503 and "fault injection" in reply.json()["message"]
    sandbox.faults.update({"error_rate": {}})
    image = conn.image.create_image(name="x", allow_duplicates=True, disk_format="raw",
                                    container_format="bare")
    conn.image.add_tag(image, "gpu")
    assert [i.name for i in conn.image.images(tag="gpu")] == ["x"]


def test_a_data_dir_from_an_older_sandbox_is_brought_up_to_date(sandbox: Sandbox, info: SandboxInfo,
                                                               conn: Any) -> None:
    volume = conn.block_storage.create_volume(size=1, name="old")
    sandbox.stop()
    state_path = info.data_dir / "state.json"
    state = json.loads(state_path.read_text())
    del state["tables"]["volume_types"]  # written before volume types and image statuses existed
    for image in state["tables"]["images"].values():
        for key in ("status", "owner", "tags", "properties", "protected", "os_hidden", "updated"):
            del image[key]
    del state["tables"]["volumes"][volume.id]["volume_type_id"]
    state_path.write_text(json.dumps(state))
    sandbox.start()
    again = openstack.connect(cloud=info.cloud_name)
    try:
        assert {i.status for i in again.image.images()} == {"active"}
        assert again.block_storage.get_volume(volume.id).volume_type == "__DEFAULT__"
        assert [t.name for t in again.block_storage.types()] == ["__DEFAULT__", "hdd-replicated", "ssd"]
    finally:
        again.close()
