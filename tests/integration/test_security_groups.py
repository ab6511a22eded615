"""The bundled module's firewall and images on real Terraform, the stand-in provider and the sandbox
cloud, checked through the real openstacksdk: a cluster gets Magic Castle's security groups
(one for the cluster, one per firewall tag its instances carry) and rules, its ports carry them, as
many as network.tf's header says; a second plan shows no change; a changed cidr replaces that one
rule; subnet_id puts the ports on that subnet; an image id boots that image; a name regex boots
the newest active match.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from reconciler.cloud.secgroups import security_group_needs

if TYPE_CHECKING:
    from conftest import Workdir

pytestmark = [pytest.mark.terraform, pytest.mark.slow, pytest.mark.timeout(600)]
RULE = "module.openstack.openstack_networking_secgroup_rule_v2"


def with_arguments(work: Workdir, text: str, **changes: Any) -> None:
    """Render the example cluster with extra module arguments (HCL lines) in its module block."""
    work.render(**changes)
    main = work.path / "main.tf"
    main.write_text(main.read_text().replace("  nb_users     = 10\n", f"  nb_users     = 10\n{text}\n", 1))


def no_changes(work: Workdir) -> bool:
    return work.run("plan", "-input=false", "-detailed-exitcode", expect=(0, 2)).returncode == 0


def groups(conn: Any, cluster: str) -> dict[str, Any]:
    return {g.name: g for g in conn.network.security_groups() if g.name.startswith(f"{cluster}-secgroup")}


def ingress(group: Any) -> list[tuple[Any, ...]]:
    """A group's ingress rules as (protocol, from, to, cidr, remote group) tuples, sorted."""
    rules = [
        (r["protocol"], r["port_range_min"], r["port_range_max"], r["remote_ip_prefix"], r["remote_group_id"])
        for r in group.security_group_rules
        if r["direction"] == "ingress"
    ]
    return sorted(rules, key=lambda r: (str(r[0]), r[1] or 0, str(r[3])))


def port_groups(conn: Any, work: Workdir) -> dict[str, set[str]]:
    """Each host's port's security groups, by group name."""
    names = {g.id: g.name for g in conn.network.security_groups()}
    prefix, suffix = f"{work.cluster}-", "-port"
    return {
        p.name[len(prefix) : -len(suffix)]: {names[g] for g in p.security_group_ids}
        for p in conn.network.ports()
        if p.name.startswith(prefix) and p.name.endswith(suffix)
    }


def planned_changes(work: Workdir) -> dict[str, list[str]]:
    work.run("plan", "-input=false", "-out=plan.tfplan")
    shown = json.loads(work.run("show", "-json", "plan.tfplan").stdout)
    return {
        rc["address"]: rc["change"]["actions"]
        for rc in shown.get("resource_changes") or []
        if rc["change"]["actions"] != ["no-op"]
    }


def test_a_cluster_gets_magic_castles_groups_and_rules(workdir: Workdir, conn: Any) -> None:
    quota_before = conn.network.get_quota(conn.current_project_id, details=True)
    workdir.apply()

    found = groups(conn, "hpc1")
    assert sorted(found) == ["hpc1-secgroup", "hpc1-secgroup-login", "hpc1-secgroup-proxy"]  # no dtn host
    own = found["hpc1-secgroup"]
    assert ingress(own) == [(None, None, None, None, own.id)]  # everything between the cluster's hosts
    assert ingress(found["hpc1-secgroup-login"]) == [
        ("icmp", None, None, "0.0.0.0/0", None),  # ports 0 are left out: every ICMP type
        ("tcp", 22, 22, "0.0.0.0/0", None),
    ]
    assert ingress(found["hpc1-secgroup-proxy"]) == [
        ("tcp", 80, 80, "0.0.0.0/0", None),
        ("tcp", 443, 443, "0.0.0.0/0", None),
    ]
    assert found["hpc1-secgroup-login"].tags == ["login"]
    assert port_groups(conn, workdir) == {
        "mgmt1": {"hpc1-secgroup"},
        "node1": {"hpc1-secgroup"},
        "node2": {"hpc1-secgroup"},
        "login1": {"hpc1-secgroup", "hpc1-secgroup-login", "hpc1-secgroup-proxy"},
    }
    # network.tf's count: 3 groups; 1 + 4 rules of ours, plus Neutron's 2 egress rules per group;
    # the pre-flight (cloud/secgroups.py) counts the same.
    quota_after = conn.network.get_quota(conn.current_project_id, details=True)
    used = {
        k: quota_after[k]["used"] - quota_before[k]["used"]
        for k in ("security_groups", "security_group_rules")
    }
    assert used == {"security_groups": 3, "security_group_rules": 11}
    tags = {"mgmt", "nfs", "puppet", "login", "public", "proxy", "node"}
    assert security_group_needs(tags) == (3, 11)
    assert no_changes(workdir)

    workdir.run("destroy", "-input=false", "-auto-approve")
    assert groups(conn, "hpc1") == {}


def test_a_changed_cidr_replaces_only_that_rule(workdir: Workdir, conn: Any) -> None:
    rules = """  firewall_rules = {
    ssh   = { from_port = 22, to_port = 22, tag = "login", cidr = "%s" }
    icmp  = { from_port = 0, to_port = 0, tag = "login", protocol = "icmp", cidr = "192.0.2.0/24" }
    https = { from_port = 443, to_port = 443, tag = "proxy" }
  }"""
    with_arguments(workdir, rules % "198.51.100.0/24")
    workdir.apply()
    login = groups(conn, "hpc1")["hpc1-secgroup-login"]
    assert ingress(login) == [
        ("icmp", None, None, "192.0.2.0/24", None),  # 0-0: every ICMP type
        ("tcp", 22, 22, "198.51.100.0/24", None),
    ]
    assert no_changes(workdir)
    kept = {r["id"] for r in login.security_group_rules if r["protocol"] == "icmp"}

    with_arguments(workdir, rules % "203.0.113.7/32")
    assert planned_changes(workdir) == {f'{RULE}.rule["ssh"]': ["delete", "create"]}
    workdir.run("apply", "-input=false", "plan.tfplan")
    login = groups(conn, "hpc1")["hpc1-secgroup-login"]
    assert ingress(login) == [
        ("icmp", None, None, "192.0.2.0/24", None),
        ("tcp", 22, 22, "203.0.113.7/32", None),
    ]
    assert {r["id"] for r in login.security_group_rules if r["protocol"] == "icmp"} == kept
    assert no_changes(workdir)


def test_an_image_id_boots_that_image(workdir: Workdir, conn: Any) -> None:
    alma = conn.image.find_image("AlmaLinux-9")
    with_arguments(workdir, "", mgmt_type="c2-7.5gb-31", node_type="c2-7.5gb-31", node_count=1)
    main = workdir.path / "main.tf"
    main.write_text(main.read_text().replace('image        = "Rocky-9"', f'image        = "{alma.id}"'))
    workdir.apply()

    built = {s.name: s for s in conn.compute.servers() if s.name.startswith("hpc1-")}
    assert {built[n].image.id for n in ("hpc1-mgmt1", "hpc1-node1")} == {alma.id}
    assert no_changes(workdir)


def test_a_name_regex_boots_the_newest_active_match(workdir: Workdir, conn: Any) -> None:
    seeded = conn.image.find_image("Rocky-9")
    time.sleep(1.1)  # Glance's created_at counts seconds
    newer = conn.image.create_image(
        name="Rocky-9",
        data=b"a newer upload",
        disk_format="qcow2",
        container_format="bare",
        allow_duplicates=True,
    )
    time.sleep(1.1)
    queued = conn.image.create_image(
        name="Rocky-9", disk_format="qcow2", container_format="bare", allow_duplicates=True
    )  # newest, but not active: cannot boot
    assert conn.image.get_image(queued.id).status == "queued"
    workdir.render(mgmt_type="c2-7.5gb-31", node_type="c2-7.5gb-31", node_count=1)
    workdir.apply()

    built = {s.name: s for s in conn.compute.servers() if s.name.startswith("hpc1-")}
    assert {built[n].image.id for n in ("hpc1-mgmt1", "hpc1-node1")} == {newer.id}
    assert newer.id != seeded.id


def test_subnet_id_picks_the_network_and_the_ports_addresses(workdir: Workdir, conn: Any) -> None:
    private = conn.network.find_network("private")
    second = conn.network.create_subnet(
        network_id=private.id, cidr="10.99.0.0/24", ip_version=4, name="second"
    )
    # As on a real project, floating IPs reach a subnet only through a router interface on it.
    conn.network.add_interface_to_router(next(conn.network.routers()), subnet_id=second.id)
    with_arguments(workdir, f'  subnet_id = "{second.id}"', node_count=1)
    workdir.apply()

    ports = [p for p in conn.network.ports() if p.name.startswith("hpc1-") and p.name.endswith("-port")]
    assert len(ports) == 3
    assert {ip["subnet_id"] for p in ports for ip in p.fixed_ips} == {second.id}
    assert workdir.outputs()["public_instances"]["login1"]["local_ip"].startswith("10.99.0.")
    assert no_changes(workdir)
