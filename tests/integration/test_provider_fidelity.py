"""The stand-in provider plans and applies as terraform-provider-openstack 3.4 does, on the real
Terraform (1.0.3, and any newer terraform/tofu on PATH) and the sandbox cloud: a volume shrink is
an update Cinder refuses; an image change rebuilds the same server; a server stopped by hand is
started; a flavor deleted by the operator forces a new server; a renamed or deleted image shows in
image_name; an attached volume grows only with online resize; a volume type changes in place; a
floating IP moves to another port in place. Each test writes a small configuration of its own.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import Workdir

pytestmark = [pytest.mark.terraform, pytest.mark.slow, pytest.mark.timeout(600)]

HEADER = """
terraform {
  required_providers {
    openstack = {
      source  = "terraform-provider-openstack/openstack"
      version = ">= 3.1.0, < 4.0.0"
    }
  }
}
"""
VM = "openstack_compute_instance_v2.vm"
DATA = "openstack_blockstorage_volume_v3.data"


def server(image: str = "Rocky-9", flavor: str = "p2-3gb") -> str:
    return f"""
resource "openstack_compute_instance_v2" "vm" {{
  name        = "fid-vm"
  image_name  = "{image}"
  flavor_name = "{flavor}"
  network {{
    name = "private"
  }}
}}
"""


def volume(size: int, *extra: str, attached: bool = False) -> str:
    lines = "\n  ".join(extra)
    attachment = """
resource "openstack_compute_volume_attach_v2" "data" {
  instance_id = openstack_compute_instance_v2.vm.id
  volume_id   = openstack_blockstorage_volume_v3.data.id
}
""" if attached else ""
    return f"""
resource "openstack_blockstorage_volume_v3" "data" {{
  name = "fid-data"
  size = {size}
  {lines}
}}
{attachment}"""


def configure(work: Workdir, *parts: str) -> None:
    """Replace the example cluster with this configuration (the provider stays initialised)."""
    (work.path / "main.tf").write_text(HEADER + "".join(parts))
    work.run("init", "-input=false")


def plan(work: Workdir) -> dict[str, dict[str, Any]]:
    """The saved plan's changes by address (no-ops left out), from `terraform show -json`."""
    work.run("plan", "-input=false", "-out=plan.tfplan")
    shown = json.loads(work.run("show", "-json", "plan.tfplan").stdout)
    return {rc["address"]: rc["change"] for rc in shown.get("resource_changes") or []
            if rc["change"]["actions"] != ["no-op"]}


def apply_saved(work: Workdir, expect: tuple[int, ...] = (0,)) -> str:
    done = work.run("apply", "-input=false", "plan.tfplan", expect=expect)
    return " ".join((done.stdout + done.stderr).split())


def changed(change: dict[str, Any]) -> list[str]:
    before, after = change.get("before") or {}, change.get("after") or {}
    return sorted(k for k in after if before.get(k) != after.get(k))


def no_changes(work: Workdir) -> bool:
    return work.run("plan", "-input=false", "-detailed-exitcode", expect=(0, 2)).returncode == 0


def test_a_volume_shrink_is_an_update_that_cinder_refuses(workdir: Workdir, conn: Any) -> None:
    configure(workdir, volume(10))
    workdir.apply()
    (before,) = [v for v in conn.block_storage.volumes() if v.name == "fid-data"]

    configure(workdir, volume(5))
    change = plan(workdir)[DATA]
    assert change["actions"] == ["update"]  # not a replacement: the data stays
    assert (change["before"]["size"], change["after"]["size"]) == (10, 5)
    text = apply_saved(workdir, expect=(1,))
    words = f"Error extending openstack_blockstorage_volume_v3 {before.id} size: Expected HTTP response code"
    assert f"{words} [202] when accessing [POST " in text
    assert "but got 400 instead:" in text and "New size for extend must be greater than current size" in text
    assert conn.block_storage.get_volume(before.id).size == 10


def test_an_image_change_rebuilds_the_same_server(workdir: Workdir, conn: Any) -> None:
    configure(workdir, server(image="Rocky-9"))
    workdir.apply()
    (vm,) = [s for s in conn.compute.servers() if s.name == "fid-vm"]

    configure(workdir, server(image="AlmaLinux-9"))
    change = plan(workdir)[VM]
    assert change["actions"] == ["update"]
    assert change["before"]["image_name"] == "Rocky-9" and change["after"]["image_name"] == "AlmaLinux-9"
    apply_saved(workdir)
    alma = conn.image.find_image("AlmaLinux-9")
    after = conn.compute.get_server(vm.id)  # the same server, re-imaged
    assert (after.status, after.image.id) == ("ACTIVE", alma.id)
    assert no_changes(workdir)


def test_a_server_stopped_by_hand_is_started(workdir: Workdir, conn: Any) -> None:
    configure(workdir, server())
    workdir.apply()
    (vm,) = [s for s in conn.compute.servers() if s.name == "fid-vm"]
    conn.compute.stop_server(vm)
    conn.compute.wait_for_server(vm, status="SHUTOFF", wait=60)

    change = plan(workdir)[VM]
    assert change["actions"] == ["update"] and changed(change) == ["power_state"]
    assert (change["before"]["power_state"], change["after"]["power_state"]) == ("shutoff", "active")
    apply_saved(workdir)
    assert conn.compute.get_server(vm.id).status == "ACTIVE"
    assert no_changes(workdir)


def test_a_flavor_deleted_by_the_operator_forces_a_new_server(workdir: Workdir, conn: Any) -> None:
    flavor = conn.compute.create_flavor(name="fid-retired", vcpus=1, ram=1024, disk=0)
    configure(workdir, server(flavor="fid-retired"))
    workdir.apply()
    (vm,) = [s for s in conn.compute.servers() if s.name == "fid-vm"]
    conn.compute.delete_flavor(flavor)

    change = plan(workdir)[VM]  # read as "": it cannot be resized away from, so it is replaced
    assert change["actions"] == ["delete", "create"]
    assert (change["before"]["flavor_name"], change["before"]["flavor_id"]) == ("", "")
    configure(workdir, server(flavor="p2-3gb"))
    assert plan(workdir)[VM]["actions"] == ["delete", "create"]
    apply_saved(workdir)
    (new,) = [s for s in conn.compute.servers() if s.name == "fid-vm"]
    assert new.id != vm.id and new.flavor["original_name"] == "p2-3gb"
    assert no_changes(workdir)


def test_image_name_follows_the_image_at_every_read(workdir: Workdir, conn: Any) -> None:
    configure(workdir, server(image="Ubuntu-22.04"))
    workdir.apply()
    image = conn.image.find_image("Ubuntu-22.04")
    conn.image.update_image(image, name="Ubuntu-22.04-old")

    change = plan(workdir)[VM]  # a rebuild, which the hub holds for a person
    assert change["actions"] == ["update"] and changed(change) == ["image_name"]
    names = (change["before"]["image_name"], change["after"]["image_name"])
    assert names == ("Ubuntu-22.04-old", "Ubuntu-22.04")

    conn.image.delete_image(image)
    change = plan(workdir)[VM]
    assert change["actions"] == ["update"] and change["before"]["image_name"] == "Image not found"


def test_an_attached_volume_grows_only_with_online_resize(workdir: Workdir, conn: Any) -> None:
    configure(workdir, server(), volume(1, attached=True))
    workdir.apply()
    (data,) = [v for v in conn.block_storage.volumes() if v.name == "fid-data"]
    assert conn.block_storage.get_volume(data.id).status == "in-use"

    configure(workdir, server(), volume(2, attached=True))
    assert plan(workdir)[DATA]["actions"] == ["update"]
    text = apply_saved(workdir, expect=(1,))
    assert (f"Error extending openstack_blockstorage_volume_v3 {data.id}, volume is attached to the instance "
            "and resizing online is disabled, see enable_online_resize option") in text
    assert conn.block_storage.get_volume(data.id).size == 1

    configure(workdir, server(), volume(2, "enable_online_resize = true", attached=True))
    assert plan(workdir)[DATA]["actions"] == ["update"]
    apply_saved(workdir)
    assert conn.block_storage.get_volume(data.id).size == 2
    assert no_changes(workdir)


def test_a_volume_type_changes_in_place(workdir: Workdir, conn: Any) -> None:
    configure(workdir, volume(1))
    workdir.apply()
    (data,) = [v for v in conn.block_storage.volumes() if v.name == "fid-data"]
    assert data.volume_type == "__DEFAULT__"

    configure(workdir, volume(1, 'volume_type = "volumes-ssd"', 'volume_retype_policy = "on-demand"'))
    change = plan(workdir)[DATA]
    assert change["actions"] == ["update"]  # retyped (3.1+), not replaced
    assert change["after"]["volume_type"] == "volumes-ssd"
    apply_saved(workdir)
    assert conn.block_storage.get_volume(data.id).volume_type == "volumes-ssd"
    assert no_changes(workdir)


FLOATING = """
data "openstack_networking_network_v2" "private" {
  name = "private"
}

resource "openstack_networking_port_v2" "one" {
  name       = "fid-one"
  network_id = data.openstack_networking_network_v2.private.id
}

resource "openstack_networking_port_v2" "two" {
  name       = "fid-two"
  network_id = data.openstack_networking_network_v2.private.id
}

resource "openstack_networking_floatingip_v2" "fip" {
  pool = "public"
}

resource "openstack_networking_floatingip_associate_v2" "fip" {
  floating_ip = openstack_networking_floatingip_v2.fip.address
  port_id     = openstack_networking_port_v2.%s.id
}
"""


def test_a_floating_ip_moves_to_another_port_in_place(workdir: Workdir, conn: Any) -> None:
    configure(workdir, FLOATING % "one")
    workdir.apply()
    (fip,) = list(conn.network.ips())

    configure(workdir, FLOATING % "two")
    changes = plan(workdir)
    assert changes["openstack_networking_floatingip_associate_v2.fip"]["actions"] == ["update"]
    apply_saved(workdir)
    (two,) = [p for p in conn.network.ports() if p.name == "fid-two"]
    assert conn.network.get_ip(fip.id).port_id == two.id
    assert no_changes(workdir)
