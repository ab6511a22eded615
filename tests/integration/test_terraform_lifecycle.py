"""A cluster's whole life on real Terraform (1.0.3, and any newer terraform/tofu on PATH) with
the bundled module, the stand-in provider and the sandbox cloud; the cloud is checked through
the real openstacksdk: build, no-change plan, drift repair, scaling, destroy, quota failure.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml

from sandbox.mirror import PROVIDER_VERSION, install_mirror

if TYPE_CHECKING:
    from conftest import Workdir

pytestmark = [pytest.mark.terraform, pytest.mark.slow, pytest.mark.timeout(600)]
NO_CHANGES, CHANGES = 0, 2  # `plan -detailed-exitcode`


def servers(conn: Any, cluster: str) -> dict[str, Any]:
    """The cluster's servers by host name (`hpc1-node1` -> `node1`)."""
    prefix = f"{cluster}-"
    return {s.name[len(prefix):]: s for s in conn.compute.servers() if s.name.startswith(prefix)}


def leftovers(conn: Any) -> dict[str, list[str]]:
    return {
        "servers": sorted(s.name for s in conn.compute.servers()),
        "volumes": sorted(f"{v.name}:{v.id}" for v in conn.block_storage.volumes()),
        "floating_ips": sorted(f.floating_ip_address for f in conn.network.ips()),
        "ports": sorted(p.id for p in conn.network.ports()),
        "keypairs": sorted(k.name for k in conn.compute.keypairs()),
    }


def plan_exit(work: Workdir) -> int:
    return work.run("plan", "-input=false", "-detailed-exitcode", expect=(NO_CHANGES, CHANGES)).returncode


def check_built(work: Workdir, conn: Any, nodes: int) -> None:
    built = servers(conn, work.cluster)
    assert sorted(built) == sorted(["mgmt1", "login1", *(f"node{i}" for i in range(1, nodes + 1))])
    assert {host: s.status for host, s in built.items()} == {host: "ACTIVE" for host in built}
    assert all(s.metadata["cluster_name"] == work.cluster for s in built.values())

    volumes = {v.name: v for v in conn.block_storage.volumes() if v.name and v.name.startswith(work.cluster)}
    for name in ("home", "project", "scratch"):
        volume = volumes[f"{work.cluster}-mgmt1-nfs-{name}"]
        assert volume.status == "in-use"
        assert [a["server_id"] for a in volume.attachments] == [built["mgmt1"].id]

    login_ports = list(conn.network.ports(device_id=built["login1"].id))
    assert len(login_ports) == 1
    fips = [f for f in conn.network.ips() if f.port_id == login_ports[0].id]
    assert len(fips) == 1
    outputs = work.outputs()
    assert outputs["public_ip"] == {"login1": fips[0].floating_ip_address}
    assert outputs["public_instances"]["login1"]["local_ip"] == login_ports[0].fixed_ips[0]["ip_address"]
    assert outputs["accounts"]["guests"]["usernames"] == "user[01-10]"


def test_build_check_and_destroy(workdir: Workdir, conn: Any) -> None:
    before = leftovers(conn)
    workdir.apply()
    check_built(workdir, conn, nodes=2)

    assert plan_exit(workdir) == NO_CHANGES

    workdir.run("destroy", "-input=false", "-auto-approve")
    assert leftovers(conn) == before
    assert not servers(conn, workdir.cluster)


def test_drift_is_repaired(workdir: Workdir, conn: Any) -> None:
    workdir.apply()
    lost = servers(conn, workdir.cluster)["node1"]
    conn.compute.delete_server(lost)
    conn.compute.wait_for_delete(lost, wait=60)

    done = workdir.run("plan", "-input=false", "-detailed-exitcode", expect=(CHANGES,))
    assert 'openstack_compute_instance_v2.instances["node1"] will be created' in done.stdout
    workdir.apply()

    again = servers(conn, workdir.cluster)["node1"]
    assert again.id != lost.id
    assert again.status == "ACTIVE"
    assert plan_exit(workdir) == NO_CHANGES


def test_scale_up_then_down(workdir: Workdir, conn: Any) -> None:
    workdir.apply()
    check_built(workdir, conn, nodes=2)

    workdir.render(node_count=4)
    workdir.apply()
    check_built(workdir, conn, nodes=4)
    assert plan_exit(workdir) == NO_CHANGES

    workdir.render(node_count=1)
    workdir.apply()
    check_built(workdir, conn, nodes=1)
    assert plan_exit(workdir) == NO_CHANGES
    ports = [p.name for p in conn.network.ports() if p.name.startswith(workdir.cluster)]
    assert sorted(ports) == [f"{workdir.cluster}-{h}-port" for h in ("login1", "mgmt1", "node1")]


def test_resize_and_volume_growth_in_place(workdir: Workdir, conn: Any) -> None:
    workdir.apply()
    first = servers(conn, workdir.cluster)

    workdir.render(node_type="p4-6gb", home_size=20)
    done = workdir.run("plan", "-input=false", "-out=plan.tfplan")
    assert "0 to destroy" in done.stdout
    workdir.run("apply", "-input=false", "plan.tfplan")

    after = servers(conn, workdir.cluster)
    assert {h: s.id for h, s in after.items()} == {h: s.id for h, s in first.items()}
    assert conn.compute.get_server(after["node1"].id).flavor["original_name"] == "p4-6gb"
    home = next(v for v in conn.block_storage.volumes() if v.name == f"{workdir.cluster}-mgmt1-nfs-home")
    assert home.size == 20
    assert plan_exit(workdir) == NO_CHANGES


def test_quota_exceeded_reports_the_cloud_message(workdir: Workdir, conn: Any) -> None:
    limits = conn.compute.get_limits().absolute
    free_cores = limits.total_cores - limits.total_cores_used - 4 - 2  # mgmt p4-6gb, login p2-3gb
    workdir.render(node_type="p4-6gb", node_count=free_cores // 4 + 1)

    done = workdir.run("apply", "-input=false", "-auto-approve", expect=(1,))

    text = " ".join((done.stdout + done.stderr).split())
    expected = r"Error creating openstack_compute_instance_v2: Quota exceeded for cores: \S"
    assert re.search(expected, text), text
    assert "Traceback" not in text


def test_credentials_from_application_credential_and_os_variables(workdir: Workdir, sandbox: Any) -> None:
    workdir.env["OS_CLOUD"] = "sandbox-appcred"
    assert plan_exit(workdir) == CHANGES

    auth = yaml.safe_load(sandbox.clouds_yaml.read_text())["clouds"]["sandbox"]["auth"]
    for name in ("OS_CLOUD", "OS_CLIENT_CONFIG_FILE"):
        del workdir.env[name]
    workdir.env.update(
        OS_AUTH_URL=auth["auth_url"], OS_USERNAME=auth["username"], OS_PASSWORD=auth["password"],
        OS_PROJECT_NAME=auth["project_name"], OS_USER_DOMAIN_NAME=auth["user_domain_name"],
        OS_PROJECT_DOMAIN_NAME=auth["project_domain_name"], OS_REGION_NAME="RegionOne",
    )
    assert plan_exit(workdir) == CHANGES

    workdir.env["OS_PASSWORD"] = "wrong"
    done = workdir.run("plan", "-input=false", expect=(1,))
    assert "Authentication failed: The request you have made requires authentication." in done.stderr


def test_mirror_install_is_idempotent(tmp_path: Path) -> None:
    terraformrc = install_mirror(tmp_path)
    launchers = list((tmp_path / "mirror").rglob(f"terraform-provider-openstack_v{PROVIDER_VERSION}"))
    assert len(launchers) == 1 and os.access(launchers[0], os.X_OK)
    assert f'path    = "{tmp_path / "mirror"}"' in terraformrc.read_text()
    stamps = [(p, p.stat().st_mtime_ns) for p in (terraformrc, launchers[0])]
    time.sleep(0.01)

    assert install_mirror(tmp_path) == terraformrc
    assert [(p, p.stat().st_mtime_ns) for p, _ in stamps] == stamps  # unchanged content: not rewritten
