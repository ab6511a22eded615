"""Network discovery (cloud/networks.py) and the pre-flight's network, router and volume type checks
(cloud/checks.py) as tables: what a project has, what the settings say, and the sentence a person
reads when the choice is ambiguous or missing."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cloud.checks import cloud_problems, unchecked
from reconciler.cloud.figures import Network, Quota, Router, Snapshot, Subnet, VolumeType
from reconciler.cloud.networks import discover, reachable
from reconciler.cloud.sizing import Usage
from reconciler.model.settings import CloudConfig
from reconciler.model.spec import parse_spec

BASE = yaml.safe_load((Path(__file__).parent.parent / "data" / "specs" / "base.yaml").read_text())
LAN = Network("lan", id="n-lan", subnets=(Subnet("s-lan", "lan-v4", "10.0.0.0/24"),))
EXT = Network("ext", external=True, id="n-ext", subnets=(Subnet("s-ext", "ext-v4", "203.0.113.0/24"),))
ROUTER = Router("r", "r-1", gateway="n-ext", subnets=("s-lan",))
CLOUD = CloudConfig("arbutus")


def cloud(**settings: Any) -> CloudConfig:
    return replace(CLOUD, **settings)


DISCOVERY = [
    pytest.param([LAN, EXT], {}, ("lan", "lan-v4", "ext"), None, id="one of each"),
    pytest.param(
        [LAN, replace(LAN, name="shared", id="n-sh", shared=True), EXT], {}, ("lan", "lan-v4", "ext"), None,
        id="the project's own network before a shared one",
    ),
    pytest.param(
        [LAN, replace(LAN, name="lan2", id="n-2"), EXT], {}, (None, None, "ext"),
        "cloud arbutus has 2 internal networks (lan, lan2): set clouds.arbutus.network to one of them "
        "in the settings file", id="two internal networks",
    ),
    pytest.param(
        [LAN, replace(LAN, name="lan2", id="n-2"), EXT], {"network": "n-2"}, ("lan2", "lan-v4", "ext"), None,
        id="settled by clouds.X.network (an id)",
    ),
    pytest.param(
        [LAN, EXT], {"network": "nope"}, (None, None, "ext"),
        'clouds.arbutus.network: cloud arbutus has no internal network named "nope"; internal networks: lan',
        id="a network setting that names nothing",
    ),
    pytest.param(
        [replace(LAN, subnets=(Subnet("v6", "lan-v6", "fd00::/64", 6), Subnet("nodhcp", "lan-static",
                                                                             dhcp=False))), EXT],
        {}, (None, None, "ext"),
        "cloud arbutus has no internal network with an IPv4 subnet with DHCP (networks: lan)",
        id="no IPv4 subnet with DHCP",
    ),
    pytest.param(
        [replace(LAN, subnets=(*LAN.subnets, Subnet("s-2", "lan-b", "10.0.1.0/24"))), EXT], {},
        ("lan", None, "ext"),
        "network lan of cloud arbutus has 2 IPv4 subnets with DHCP (lan-b, lan-v4): "
        "set clouds.arbutus.subnet to one of them in the settings file", id="two subnets",
    ),
    pytest.param(
        [replace(LAN, subnets=(*LAN.subnets, Subnet("s-2", "lan-b", "10.0.1.0/24"))), EXT], {"subnet": "s-2"},
        ("lan", "lan-b", "ext"), None, id="settled by clouds.X.subnet",
    ),
    pytest.param([EXT], {}, (None, None, "ext"), "cloud arbutus has no internal network", id="none"),
]  # fmt: skip


@pytest.mark.parametrize(("networks", "settings", "chosen", "problem"), DISCOVERY)
def test_discovery(networks: list[Network], settings: dict[str, Any], chosen: tuple[str | None, ...],
                   problem: str | None) -> None:  # fmt: skip
    placement = discover(cloud(**settings), networks)
    got = tuple(x.name if x is not None else None for x in (placement.network, placement.subnet,
                                                           placement.external))  # fmt: skip
    assert got == chosen
    if problem is None:
        assert placement.problems == ()
    else:
        assert len(placement.problems) == 1 and placement.problems[0].startswith(problem)


def test_external_network_ambiguity_names_the_setting() -> None:
    two = [LAN, EXT, replace(EXT, name="ext2", id="n-ext2")]
    assert discover(CLOUD, two).external_problem == (
        "cloud arbutus has 2 external networks (ext, ext2): set clouds.arbutus.external_network to one of "
        "them in the settings file"
    )
    assert discover(cloud(external_network="ext2"), two).external is not None
    assert discover(CLOUD, [LAN]).external_problem is not None


def test_reachability_needs_a_gateway_and_an_interface() -> None:
    assert reachable(LAN.subnets[0], EXT, [ROUTER])
    assert not reachable(LAN.subnets[0], EXT, [replace(ROUTER, gateway=None)])
    assert not reachable(LAN.subnets[0], EXT, [replace(ROUTER, subnets=())])
    assert not reachable(LAN.subnets[0], EXT, [])


# -- the pre-flight's cloud checks ---------------------------------------------------------------


def snap(**changes: Any) -> Snapshot:
    base = Snapshot("arbutus", 1.0, networks=(EXT, LAN), routers=(ROUTER,),
                    volume_types=(VolumeType("__DEFAULT__", default=True), VolumeType("ssd")))  # fmt: skip
    return replace(base, **changes)


def spec(**changes: Any) -> Any:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return parse_spec(data)


NEED = Usage(volumes=7, gigabytes=250)  # base.yaml: 3 volumes of 200 GB in all, 4 boot volumes of 50


def test_a_project_with_network_router_and_types_has_no_problems() -> None:
    assert cloud_problems(spec(), snap(), CLOUD, NEED) == []


def test_no_router_for_public_hosts() -> None:
    assert cloud_problems(spec(), snap(routers=()), CLOUD, NEED) == [
        "instances.login: public hosts need floating IPs, but cloud arbutus: external network ext is not "
        "reachable from subnet lan-v4: "
        "create a router with a gateway on ext and an interface on subnet lan-v4"
    ]
    private = copy.deepcopy(BASE)
    private["instances"]["login"]["tags"] = ["login", "proxy"]
    assert cloud_problems(parse_spec(private), snap(routers=()), CLOUD, NEED) == []


def test_unknown_volume_type_lists_the_cloud_types() -> None:
    data = spec(volumes={"nfs": {"home": {"size": 100, "type": "fast"}}})
    assert cloud_problems(data, snap(), CLOUD, NEED) == [
        'volumes.nfs.home.type: volume type "fast" does not exist; choose one of __DEFAULT__, ssd'
    ]


def test_per_type_quotas() -> None:
    data = spec(volumes={"nfs": {"home": {"size": 100, "type": "ssd"}, "scratch": {"size": 50}}})
    quotas = {"gigabytes_ssd": Quota(150, 80), "volumes___DEFAULT__": Quota(10, 7)}
    problems = cloud_problems(data, snap(quotas=quotas), CLOUD, Usage(volumes=6, gigabytes=200))
    assert problems == [
        "volumes___DEFAULT__: needs 5, 3 remaining of 10 (volume type __DEFAULT__)",
        "gigabytes_ssd: needs 100 GB, 70 GB remaining of 150 GB (volume type ssd)",
    ]
    # editing: the built cluster's own ssd volume is given back
    assert cloud_problems(data, snap(quotas=quotas), CLOUD, Usage(volumes=6, gigabytes=200),
                          {"ssd": (1, 100), "__DEFAULT__": (5, 100)}) == []  # fmt: skip


def test_parts_the_catalog_could_not_read_are_skipped_and_named() -> None:
    blind = snap(networks=(), routers=(), volume_types=(), unknown={"networks": "403", "volume_types": "503"})
    assert cloud_problems(spec(), blind, CLOUD, NEED) == []
    assert unchecked(blind) == (
        "(not checked, the cloud did not tell: networks and routers (403); volume types (503))"
    )
    assert unchecked(snap()) is None
