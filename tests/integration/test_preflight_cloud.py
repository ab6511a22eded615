"""The pre-flight against a sandbox cloud shaped like a real project (the sandbox's scenarios and
faults), through the real openstacksdk over HTTP: no router, two internal networks, a catalog part
that fails, images that cannot boot, unknown volume types, security group quotas, and compute usage
read from Nova's /detail so that the pre-flight never over-promises."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.cloud.catalog import Catalog
from reconciler.cloud.fetch import fetch_snapshot
from reconciler.cloud.preflight import Verdict, make_preflight
from reconciler.model.settings import CloudConfig, Settings
from reconciler.model.spec import parse_spec
from sandbox.cloud.faults import Faults
from sandbox.server import Sandbox, SandboxInfo

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMT9GXhBldsu07Rklam11D72R5uODSJtBW9p5nUB9bI t@example.org"
SPEC: dict[str, Any] = {
    "cluster_name": "hpc", "domain": "example.org", "image": "Rocky-9", "public_keys": [KEY],
    "instances": {
        "mgmt": {"type": "p4-6gb", "tags": ["puppet", "mgmt", "nfs"], "count": 1},
        "login": {"type": "p2-3gb", "tags": ["login", "public", "proxy"], "count": 1},
        "node": {"type": "p2-3gb", "tags": ["node"], "count": 1},
    },
    "volumes": {"nfs": {"home": {"size": 50}}},
}  # fmt: skip


@pytest.fixture(autouse=True)
def clean_os_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("OS_", "MCHUB_SANDBOX_")):
            monkeypatch.delenv(name)


class Cloud:
    """A sandbox (default seed plus scenarios) with the hub's settings, catalog and pre-flight."""

    def __init__(self, tmp: Path, scenarios: list[str], faults: Faults | None = None, **cloud: Any) -> None:
        self.box = Sandbox(tmp / "cloud", scenarios=scenarios, faults=faults or Faults(boot_delay=0.1))
        self.info: SandboxInfo = self.box.start()
        config = CloudConfig("sandbox", clouds_yaml=self.info.clouds_yaml, **cloud)
        (tmp / "specs").mkdir(exist_ok=True)
        self.settings = Settings(specs_dir=tmp / "specs", clusters_dir=tmp / "clusters",
                                 sandbox_data=tmp).with_cloud(config)  # fmt: skip
        self.catalog = Catalog(self.settings, ttl=0.0)
        self.check = make_preflight(self.catalog, self.settings)

    def verdict(self, **changes: Any) -> Verdict:
        data = copy.deepcopy(SPEC)
        data.update(changes)
        return self.check(parse_spec(data))

    def problems(self, **changes: Any) -> list[str]:
        """Everything the pre-flight found, one line each (problems, quota shortfalls, notes)."""
        return self.verdict(**changes).lines()

    def close(self) -> None:
        self.catalog.stop()
        self.box.stop()


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Any]:
    made: list[Cloud] = []

    def _make(*scenarios: str, **kw: Any) -> Cloud:
        made.append(Cloud(tmp_path / str(len(made)), list(scenarios), **kw))
        return made[-1]

    yield _make
    for cloud in made:
        cloud.close()


def test_the_default_sandbox_fits(make: Any) -> None:
    cloud = make()
    assert cloud.problems() == []
    snap = cloud.catalog.get("sandbox")
    assert snap.unknown == {} and [r.name for r in snap.routers] == ["router1"]
    assert [t.name for t in snap.volume_types if t.default] == ["__DEFAULT__"]


def test_no_router_refuses_public_hosts_and_says_how_to_fix_it(make: Any) -> None:
    cloud = make("no-router")
    assert cloud.problems() == [
        "instances.login: public hosts need floating IPs, but cloud sandbox: external network public is not "
        "reachable from subnet private-subnet: create a router with a gateway on public and an interface on "
        "subnet private-subnet"
    ]
    private = copy.deepcopy(SPEC["instances"])
    private["login"]["tags"] = ["login", "proxy"]
    assert cloud.problems(instances=private) == []  # no floating IP, no router needed


def test_two_internal_networks_name_the_setting(make: Any, tmp_path: Path) -> None:
    cloud = make("two-internal-networks")
    assert cloud.problems() == [
        "cloud sandbox has 2 internal networks (private, private-2): set clouds.sandbox.network to one of "
        "them in the settings file"
    ]
    chosen = make("two-internal-networks", network="private-2")
    assert chosen.problems() == []


def test_a_failing_part_leaves_the_rest_and_is_named(make: Any) -> None:
    cloud = make(faults=Faults(boot_delay=0.1, error_rate={"volume": 1.0}))
    snap = cloud.catalog.get("sandbox")
    assert set(snap.unknown) == {"volume_types", "volume_quotas"}
    assert "503" in snap.unknown["volume_quotas"]
    assert snap.flavors and snap.images and snap.networks and "cores" in snap.quotas
    payload = cloud.catalog.payload("sandbox", None)
    assert set(payload["unknown"]) == {"volume_types", "volume_quotas"}
    assert payload["quotas"]["volumes"] == {"limit": None, "in_use": None, "remaining": None,
                                            "cluster_usage": 0, "unknown": True}  # fmt: skip
    assert payload["quotas"]["cores"]["limit"] == 64 and "unknown" not in payload["quotas"]["cores"]
    assert payload["flavors"] and payload["images"] == ["AlmaLinux-9", "Rocky-9", "Ubuntu-22.04"]
    huge = {"type": "p16-24gb", "tags": ["node"], "count": 4}
    assert cloud.problems(volumes={"nfs": {"home": {"size": 9999}}}) == []  # not checked, not refused
    problems = cloud.problems(instances={**SPEC["instances"], "node": huge})
    assert problems[0] == "cores: needs 70, 64 remaining of 64"
    assert problems[-1].startswith(
        "(not checked, the cloud did not tell: volume types (cloud sandbox answered 503"
    )
    assert "volume quotas (" in problems[-1]


def test_every_part_failing_is_an_error(make: Any) -> None:
    from reconciler.cloud.catalog import CatalogError

    cloud = make()
    cloud.box.faults.update({"error_rate": {s: 1.0 for s in ("compute", "image", "network", "volume")}})
    with pytest.raises(CatalogError, match="503"):
        fetch_snapshot(cloud.settings.cloud("sandbox"))


def test_compute_usage_is_what_servers_use(make: Any) -> None:
    cloud = make()
    import openstack.config
    import openstack.connection

    region = openstack.config.OpenStackConfig(config_files=[str(cloud.info.clouds_yaml)]).get_one(
        cloud="sandbox"
    )
    conn = openstack.connection.Connection(config=region)
    try:
        flavor = conn.compute.find_flavor("p4-6gb")
        image = conn.image.find_image("Rocky-9")
        net = conn.network.find_network("private")
        for i in range(2):
            conn.compute.create_server(name=f"other{i}", flavor_id=flavor.id, image_id=image.id,
                                       networks=[{"uuid": net.id}])  # fmt: skip
    finally:
        conn.close()
    snap = fetch_snapshot(cloud.settings.cloud("sandbox"))
    assert (snap.quotas["cores"].in_use, snap.quotas["ram"].in_use, snap.quotas["instances"].in_use) == (
        8, 2 * 6144, 2)  # fmt: skip


def test_images_that_cannot_boot_and_regex_names(make: Any) -> None:
    cloud = make()
    import openstack.config
    import openstack.connection

    region = openstack.config.OpenStackConfig(config_files=[str(cloud.info.clouds_yaml)]).get_one(
        cloud="sandbox"
    )
    conn = openstack.connection.Connection(config=region)
    try:
        conn.image.deactivate_image(conn.image.find_image("Ubuntu-22.04"))
    finally:
        conn.close()
    assert cloud.problems(image="Rocky") == []  # Magic Castle searches the name as a regex
    assert cloud.problems(image="Ubuntu") == [
        'image: image "Ubuntu" matches only images that cannot boot: Ubuntu-22.04 (deactivated); '
        "active images: AlmaLinux-9, Rocky-9"
    ]
    assert cloud.catalog.payload("sandbox", None)["images"] == ["AlmaLinux-9", "Rocky-9"]


def test_volume_types_and_security_group_quotas(make: Any) -> None:
    cloud = make(faults=Faults(boot_delay=0.1, quota={"security_group": 2}))
    verdict = cloud.verdict(volumes={"nfs": {"home": {"size": 50, "type": "gold"}}})
    # An unknown type needs a spec change; a quota short of room is a wait (issue 13).
    assert verdict.problems == [
        'volumes.nfs.home.type: volume type "gold" does not exist; choose one of __DEFAULT__, volumes-ssd',
    ]
    assert [s.line() for s in verdict.shortfalls] == ["security_groups: needs 3, 1 remaining of 2"]
