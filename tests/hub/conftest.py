"""Fixtures for reconciler tests on the real Terraform and a real sandbox cloud: a hub whose specs
and clusters live in a tmp dir, a clock the test moves, and openstacksdk to look at the cloud."""

from __future__ import annotations

import copy
import datetime as dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.engine.hub import Hub, make_hub
from reconciler.engine.reconcile import reconcile_one
from reconciler.model.settings import Settings, sandbox_cloud
from reconciler.model.status import Status, read_status
from sandbox.cloud.faults import Faults
from sandbox.server import Sandbox, SandboxInfo

# Ports the project has before any cluster: DHCP agents and the router's interfaces.
INFRA_PORTS = ("network:dhcp", "network:router_interface", "network:router_gateway")

SPEC: dict[str, Any] = {
    "cluster_name": "hpc",
    "domain": "test.localdomain",
    "image": "Rocky-9",
    "nb_users": 2,
    "instances": {
        "mgmt": {"type": "p4-6gb", "tags": ["puppet", "mgmt", "nfs"], "count": 1},
        "login": {"type": "p2-3gb", "tags": ["login", "public", "proxy"], "count": 1},
        "node": {"type": "p1-1.5gb", "tags": ["node"], "count": 1},
    },
    "volumes": {"nfs": {"home": {"size": 10}}},
    "public_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMT9GXhBldsu07Rklam11D72R5uODSJtBW9p5nUB9bI t@x"],
}


class Clock:
    """The hub's clock, moved by the test (backoff and drift schedules without sleeping)."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


@dataclass
class HubEnv:
    root: Path
    box: Sandbox
    info: SandboxInfo
    settings: Settings
    clock: Clock
    hub: Hub
    conn: Any
    specs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def write_spec(self, name: str = "hpc", **changes: Any) -> Path:
        data = copy.deepcopy(self.specs.get(name) or {**SPEC, "cluster_name": name})
        for dotted, value in changes.items():
            *parents, last = dotted.split("__")
            node = data
            for key in parents:
                node = node[key]
            node[last] = value
        self.specs[name] = data
        path = self.settings.specs_dir / f"{name}.yaml"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(yaml.safe_dump(data))
        os.replace(tmp, path)
        return path

    def reconcile(self, name: str = "hpc") -> Status:
        return reconcile_one(name, self.hub)

    def status(self, name: str = "hpc") -> Status:
        status = read_status(self.settings.clusters_dir, name)
        assert status is not None
        return status

    def servers(self, cluster: str = "hpc") -> dict[str, Any]:
        """The cluster's servers by host name (OpenStack names them `<cluster>-<host>`)."""
        prefix = f"{cluster}-"
        return {
            s.name.removeprefix(prefix): s for s in self.conn.compute.servers() if s.name.startswith(prefix)
        }

    def cloud_counts(self) -> dict[str, int]:
        c = self.conn
        return {
            "servers": len(list(c.compute.servers())),
            "volumes": len(list(c.block_storage.volumes())),
            "floating_ips": len(list(c.network.ips())),
            "keypairs": len(list(c.compute.keypairs())),
            "ports": len([p for p in c.network.ports() if p.device_owner not in INFRA_PORTS]),
        }


@pytest.fixture
def scenarios() -> list[str]:
    """The sandbox's seed scenarios (sandbox/cloud/scenarios.py); a test module overrides this."""
    return []


@pytest.fixture
def hubenv(tmp_path: Path, scenarios: list[str]) -> Iterator[HubEnv]:
    box = Sandbox(tmp_path / "cloud", faults=Faults(boot_delay=0.2), scenarios=scenarios)
    info = box.start()
    specs, clusters = tmp_path / "specs", tmp_path / "clusters"
    specs.mkdir()
    cloud = replace(
        sandbox_cloud(info.data_dir),
        clouds_yaml=info.clouds_yaml,
        terraform_cli_config=info.terraform_cli_config,
        ssh_port=info.ssh_port,
    )
    settings = Settings(
        specs_dir=specs, clusters_dir=clusters, debounce=0.2, drift_interval=600, terraform_grace=10
    ).with_cloud(cloud)
    clock = Clock()
    hub = make_hub(settings, clock=clock)
    import openstack

    config = openstack.config.OpenStackConfig(config_files=[str(info.clouds_yaml)])
    conn = openstack.connection.Connection(config=config.get_one(cloud="sandbox"))
    try:
        yield HubEnv(tmp_path, box, info, settings, clock, hub, conn)
    finally:
        box.stop()
