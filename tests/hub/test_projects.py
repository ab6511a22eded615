"""Projects on the real Terraform and two sandbox clouds (issue 14): each project's clusters are built
on its own cloud entry (its credentials, so its allocation and quota), a project short of quota
waits while another builds, two projects on one cloud entry share its quota, and a spec naming no
project, an unknown one, or a cloud not its project's is invalid, naming the choices."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import openstack
import pytest
import yaml

from reconciler.cloud.catalog import Catalog
from reconciler.engine.hub import make_hub
from reconciler.entry import resources
from reconciler.model.projects import Project
from reconciler.model.settings import sandbox_cloud
from reconciler.model.status import Phase, Reason
from sandbox.cloud.faults import Faults
from sandbox.server import Sandbox, SandboxInfo

from .conftest import HubEnv

pytestmark = [pytest.mark.terraform, pytest.mark.timeout(420)]


@dataclass
class TwoClouds:
    env: HubEnv  # its hub builds on `arbutus` (the first sandbox) and `chem` (the second)
    chem_box: Sandbox
    chem_conn: Any

    def servers(self, conn: Any, cluster: str) -> list[str]:
        return sorted(s.name for s in conn.compute.servers() if s.name.startswith(f"{cluster}-"))


def renamed_clouds_yaml(info: SandboxInfo, name: str, folder: Path) -> Path:
    """The sandbox's clouds.yaml with its entry named `name`: Terraform and openstacksdk pick the
    entry by the cloud's name (OS_CLOUD), as a real hub's clouds.yaml names each allocation."""
    data = yaml.safe_load(info.clouds_yaml.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {name: data["clouds"][info.cloud_name]}}))
    path.chmod(0o600)
    return path


def cloud_entry(info: SandboxInfo, name: str, folder: Path) -> Any:
    return replace(
        sandbox_cloud(info.data_dir),
        name=name,
        clouds_yaml=renamed_clouds_yaml(info, name, folder),
        terraform_cli_config=info.terraform_cli_config,
        ssh_port=info.ssh_port,
    )


@pytest.fixture
def two(hubenv: HubEnv, tmp_path: Path) -> Iterator[TwoClouds]:
    box2 = Sandbox(tmp_path / "cloud2", faults=Faults(boot_delay=0.2))
    info2 = box2.start()
    try:
        arbutus = cloud_entry(hubenv.info, "arbutus", tmp_path / "arbutus")
        chem = cloud_entry(info2, "chem", tmp_path / "chem")
        projects = {
            "physics": Project("physics", "arbutus", ("alice",)),
            "astro": Project("astro", "arbutus", ("erin",)),  # shares physics' allocation
            "chemistry": Project("chemistry", "chem", ("bob",)),
        }
        settings = replace(hubenv.settings, projects=projects).with_cloud(arbutus).with_cloud(chem)
        catalog = Catalog(settings, clock=lambda: hubenv.clock().timestamp())
        hub = make_hub(settings, catalog=catalog, terraform=hubenv.hub.terraform, clock=hubenv.clock)
        config = openstack.config.OpenStackConfig(config_files=[str(chem.clouds_yaml)])
        conn2 = openstack.connection.Connection(config=config.get_one(cloud="chem"))
        try:
            yield TwoClouds(replace(hubenv, settings=settings, hub=hub), box2, conn2)
        finally:
            catalog.stop()
    finally:
        box2.stop()


def project_resources(env: HubEnv, project: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """`mchub resources --project NAME --json`, as a person would run it."""
    args = argparse.Namespace(cloud=None, project=project, cluster=None, json=True)
    assert resources.run(args, env.settings) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_each_project_builds_on_its_own_cloud_and_waits_for_its_own_quota(
    two: TwoClouds, capsys: pytest.CaptureFixture[str]
) -> None:
    env = two.env
    two.chem_box.faults.update({"quota": {"cores": 4}})  # chemistry's allocation: 4 vCPUs; a cluster needs 7
    env.write_spec("phys", project="physics")
    env.write_spec("chem1", project="chemistry")

    built = env.reconcile("phys")
    waiting = env.reconcile("chem1")
    assert built.phase == Phase.BUILD_SUCCESS, built.message
    assert (waiting.phase, waiting.reason) == (Phase.PENDING, Reason.QUOTA_WAIT), waiting.message
    assert "7 needed, 4 free" in waiting.message  # chemistry's quota, not physics'
    assert two.servers(env.conn, "phys") == ["phys-login1", "phys-mgmt1", "phys-node1"]
    assert two.servers(two.chem_conn, "phys") == []  # physics' cluster is on physics' cloud only

    # The catalog per project: chemistry sees its own 4 vCPUs; astro shares physics' entry, so
    # physics' cluster is in use there too (two projects on one cloud entry share its quota).
    chem = project_resources(env, "chemistry", capsys)
    assert chem["cloud"] == "chem" and chem["project"] == "chemistry"
    assert chem["quotas"]["cores"]["limit"] == 4 and chem["quotas"]["cores"]["in_use"] == 0
    astro = project_resources(env, "astro", capsys)
    assert astro["cloud"] == "arbutus" and astro["quotas"]["cores"]["in_use"] == 7

    # Chemistry's allocation grows: its cluster builds there, on its own cloud.
    two.chem_box.faults.update({"quota": {}})
    env.clock.advance(60)
    status = env.reconcile("chem1")
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert two.servers(two.chem_conn, "chem1") == ["chem1-login1", "chem1-mgmt1", "chem1-node1"]
    assert two.servers(env.conn, "chem1") == []


def test_a_spec_without_a_known_project_is_invalid_naming_the_choices(two: TwoClouds) -> None:
    env = two.env
    env.write_spec("stray", project="biology")
    status = env.reconcile("stray")
    assert (status.phase, status.reason) == (Phase.INVALID, Reason.SPEC_INVALID)
    assert (
        status.message
        == 'project: "biology" is not a project of this hub; choose one of astro, chemistry, physics'
    )

    env.write_spec("nobody")  # no project at all, on a hub with projects
    status = env.reconcile("nobody")
    assert status.phase == Phase.INVALID
    assert status.message == "project: required on this hub; choose one of astro, chemistry, physics"

    env.write_spec("elsewhere", project="physics", cloud="chem")  # not physics' allocation
    status = env.reconcile("elsewhere")
    assert status.phase == Phase.INVALID
    assert status.message == (
        "cloud: project physics runs on cloud arbutus; leave cloud out, or set it to arbutus"
    )
    assert env.cloud_counts()["servers"] == 0 and not list(two.chem_conn.compute.servers())  # nothing built

    # Fixed in the spec: it builds, on its project's cloud.
    env.write_spec("stray", project="chemistry")
    status = env.reconcile("stray")
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert two.servers(two.chem_conn, "stray") == ["stray-login1", "stray-mgmt1", "stray-node1"]


def test_moving_a_built_cluster_to_another_clouds_project_is_refused_until_it_is_destroyed(
    two: TwoClouds,
) -> None:
    """A built cluster whose project (so its cloud entry) changes would be planned on the other
    cloud: Terraform would build a second cluster there and leave the first one running, out of
    anyone's hands. The hub refuses, says why, and destroys it where it was built when asked."""
    env = two.env
    env.write_spec("mover", project="physics")
    assert env.reconcile("mover").phase == Phase.BUILD_SUCCESS
    built = env.servers("mover")

    env.write_spec("mover", project="chemistry")
    status = env.reconcile("mover")
    assert (status.phase, status.reason) == (Phase.INVALID, Reason.SPEC_INVALID)
    assert "resources are on cloud arbutus" in status.message and "cloud chem" in status.message
    assert "ensure: absent" in status.message
    assert two.servers(two.chem_conn, "mover") == []  # nothing was planned on the other cloud
    assert env.servers("mover") == built

    env.write_spec("mover", project="astro")  # another project on the same cloud entry: fine
    assert env.reconcile("mover").phase == Phase.BUILD_SUCCESS
    assert env.servers("mover") == built

    env.write_spec("mover", project="chemistry", ensure="absent")  # destroyed where it was built
    status = env.reconcile("mover")
    assert status.phase == Phase.DESTROYED, status.message
    assert env.servers("mover") == {} and two.servers(two.chem_conn, "mover") == []
