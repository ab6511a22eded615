"""Network placement on a project with two internal networks (issue 12), on the real Terraform and
the sandbox cloud: without a setting the pre-flight refuses and names the setting to use; with
`network:` the hub renders that network's subnet id and the cluster's ports land on it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from reconciler.cloud.catalog import Catalog
from reconciler.engine.hub import make_hub
from reconciler.model.status import Phase

from .conftest import HubEnv


@pytest.fixture
def scenarios() -> list[str]:
    return ["two-internal-networks"]


def _with_catalog(env: HubEnv, **cloud_settings: str) -> tuple[HubEnv, Catalog]:
    cloud = replace(env.settings.cloud(None), **cloud_settings)
    settings = env.settings.with_cloud(cloud)
    catalog = Catalog(settings, ttl=0.0)
    hub = make_hub(settings, catalog=catalog, terraform=env.hub.terraform, clock=env.clock)
    return replace(env, settings=settings, hub=hub), catalog


@pytest.fixture
def catalogs() -> Iterator[list[Catalog]]:
    made: list[Catalog] = []
    yield made
    for catalog in made:
        catalog.stop()


def test_two_networks_need_a_setting_and_the_cluster_lands_on_the_chosen_one(
    hubenv: HubEnv, catalogs: list[Catalog]
) -> None:
    env, catalog = _with_catalog(hubenv)
    catalogs.append(catalog)
    env.write_spec()
    status = env.reconcile()
    assert status.phase == Phase.INVALID
    assert "2 internal networks (private, private-2)" in status.message
    assert "clouds.sandbox.network" in status.message
    assert env.servers() == {}

    env, catalog = _with_catalog(hubenv, network="private-2")
    catalogs.append(catalog)
    status = env.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    (wanted,) = [
        s for s in env.conn.network.subnets() if s.network_id == env.conn.network.find_network("private-2").id
    ]
    assert f'subnet_id       = "{wanted.id}"' in (env.settings.clusters_dir / "hpc" / "main.tf").read_text()
    ports = [p for p in env.conn.network.ports() if p.name.startswith("hpc-") and p.name.endswith("-port")]
    assert ports and {ip["subnet_id"] for p in ports for ip in p.fixed_ips} == {wanted.id}
