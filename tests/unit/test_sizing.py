"""sizing.py as tables: what a spec needs (boot-volume rule, volumes per tag, floating IPs), what a
built cluster holds (from its state), remaining quota with unlimited limits, roles per flavor, and
each kind of pre-flight refusal with its numbers."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cloud.figures import Flavor, Image, Quota, Snapshot
from reconciler.cloud.payload import payload_flavors, snapshot_payload
from reconciler.cloud.secgroups import BUNDLED_FIREWALL, rules_of, security_group_needs
from reconciler.cloud.sizing import (
    Usage,
    boot_volume_gb,
    cluster_usage_from_state,
    flavor_roles,
    flavors_by_role,
    needs,
    ordered,
    preflight,
    remaining,
    role_of,
    state_usage,
)
from reconciler.model.settings import CloudConfig
from reconciler.model.spec import ClusterSpec, parse_spec

BASE = yaml.safe_load((Path(__file__).parent.parent / "data" / "specs" / "base.yaml").read_text())

FLAVORS = [
    Flavor("p1-1.5gb", 1, 1536, 0, "id-p1"),
    Flavor("p2-3gb", 2, 3072, 0, "id-p2"),
    Flavor("p4-6gb", 4, 6144, 0, "id-p4"),
    Flavor("c2-7.5gb-31", 2, 7680, 31, "id-c2"),
    Flavor("c4-15gb-15", 4, 15360, 15, "id-c4"),
    Flavor("g4-6gb", 4, 6144, 20, "id-g4"),
]
QUOTAS = {
    "instances": Quota(20, 4),
    "cores": Quota(64, 40),
    "ram": Quota(131072, 8192),
    "volumes": Quota(20, 2),
    "gigabytes": Quota(2000, 100),
    "floating_ips": Quota(4, 1),
}


def spec(**changes: Any) -> ClusterSpec:
    data = copy.deepcopy(BASE)
    for key, value in changes.items():
        if key.startswith("instances."):
            data["instances"][key.split(".", 1)[1]] = value
        else:
            data[key] = value
    return parse_spec(data)


def snapshot(quotas: dict[str, Quota] | None = None, flavors: list[Flavor] | None = None) -> Snapshot:
    return Snapshot(
        "sandbox",
        1000.0,
        flavors=tuple(FLAVORS if flavors is None else flavors),
        images=(Image("Rocky-9"), Image("AlmaLinux-9")),
        quotas=QUOTAS if quotas is None else quotas,
    )


# -- what a spec needs -------------------------------------------------------------------------

# base.yaml: mgmt p4-6gb x1 (nfs, 3 volumes 100+50+50), login p2-3gb x1 (public), node p2-3gb x2.
NEEDS_CASES = [
    pytest.param(
        {}, Usage(4, 4 + 2 + 4, 6144 + 3072 * 3, 3 + 4, 200 + 20 + 10 * 3, 1), id="base: boot volumes on all"
    ),
    pytest.param(
        {"instances.mgmt": {"type": "c2-7.5gb-31", "tags": ["puppet", "mgmt", "nfs"]}},
        Usage(4, 2 + 2 + 4, 7680 + 3072 * 3, 3 + 3, 200 + 10 * 3, 1),
        id="mgmt flavor with 31 GB disk: no boot volume",
    ),
    pytest.param(
        {"instances.mgmt": {"type": "c4-15gb-15", "tags": ["puppet", "mgmt", "nfs"]}},
        Usage(4, 4 + 2 + 4, 15360 + 3072 * 3, 3 + 4, 200 + 20 + 10 * 3, 1),
        id="15 GB disk: under mgmt's 20 GB, so a 20 GB boot volume",
    ),
    pytest.param(
        {"instances.node": {"type": "c4-15gb-15", "tags": ["node"], "count": 2}},
        Usage(4, 4 + 2 + 8, 6144 + 3072 + 15360 * 2, 3 + 2, 200 + 20 + 10, 1),
        id="15 GB disk on nodes: enough, no boot volume",
    ),
    pytest.param(
        {"instances.node": {"type": "g4-6gb", "tags": ["node"], "count": 3, "disk_size": 50}},
        Usage(5, 4 + 2 + 12, 6144 + 3072 + 6144 * 3, 3 + 2 + 3, 200 + 20 + 10 + 50 * 3, 1),
        id="disk_size 50 over a 20 GB flavor disk: 50 GB boot volumes",
    ),
    pytest.param(
        {"instances.node": {"type": "p2-3gb", "tags": ["node", "public"], "count": 0}},
        Usage(2, 4 + 2, 6144 + 3072, 3 + 2, 200 + 20 + 10, 1),
        id="count 0 needs nothing",
    ),
    pytest.param(
        {"instances.node": {"type": "p2-3gb", "tags": ["node", "public"], "count": 2}},
        Usage(4, 10, 6144 + 3072 * 3, 7, 250, 3),
        id="public nodes need floating IPs",
    ),
    pytest.param(
        {"instances.node": {"type": "p9-huge", "tags": ["node"], "count": 2}},
        Usage(4, 4 + 2, 6144 + 3072, 3 + 2, 200 + 20 + 10, 1),
        id="unknown flavor adds instances only",
    ),
]


# Every case keeps base.yaml's login host (login, public, proxy), under the bundled module's rules:
# the global group (1 rule), a login group (SSH, ICMP) and a proxy group (HTTP, HTTPS); 2 egress each.
BASE_GROUPS = {"security_groups": 3, "security_group_rules": 1 + 2 + 2 + 3 * 2}


@pytest.mark.parametrize(("changes", "expected"), NEEDS_CASES)
def test_needs(changes: dict[str, Any], expected: Usage) -> None:
    assert needs(spec(**changes), FLAVORS) == replace(expected, **BASE_GROUPS)


THREE_NETWORKS = CloudConfig("site", ssh_cidrs=("192.0.2.0/24", "198.51.100.0/24", "2001:db8::/32"))
SECURITY_CASES = [
    pytest.param(["node"], BUNDLED_FIREWALL, (1, 1 + 2), id="no firewall tags: the global group only"),
    pytest.param(["login"], BUNDLED_FIREWALL, (2, 1 + 2 + 2 * 2), id="login: SSH and ICMP"),
    pytest.param(["login"], rules_of(THREE_NETWORKS), (2, 1 + 6 + 2 * 2), id="login, three ssh_cidrs"),
    pytest.param(["login", "proxy", "dtn"], BUNDLED_FIREWALL, (4, 1 + 6 + 2 * 4), id="every tag with rules"),
    pytest.param(
        ["login", "proxy"],
        rules_of(CloudConfig("mc", module="magic_castle:15.6.1")),
        (3, 1 + 3 + 2 * 3),
        id="Magic Castle 15: no ICMP rule",
    ),
]


@pytest.mark.parametrize(("tags", "rules", "expected"), SECURITY_CASES)
def test_security_groups_and_rules_per_cluster(
    tags: list[str], rules: dict[str, dict[str, Any]], expected: tuple[int, int]
) -> None:
    assert security_group_needs(tags, rules) == expected


def test_security_group_quotas_are_checked_and_given_back() -> None:
    quotas = {**QUOTAS, "security_groups": Quota(10, 8), "security_group_rules": Quota(100, 95)}
    assert preflight(spec(), snapshot(quotas)) == [
        "security_groups: needs 3, 2 remaining of 10",
        "security_group_rules: needs 11, 5 remaining of 100",
    ]
    built = Usage(security_groups=3, security_group_rules=11)  # editing: the cluster holds them already
    assert preflight(spec(), snapshot(quotas), built) == []
    assert cluster_usage_from_state(SECGROUP_STATE, FLAVORS) == Usage(
        security_groups=2, security_group_rules=2 + 1
    )


def test_volumes_per_tag_count_each_carrier() -> None:
    s = spec(
        **{"instances.node": {"type": "c2-7.5gb-31", "tags": ["node"], "count": 3}},
        volumes={"nfs": {"home": {"size": 100}}, "node": {"scratch": {"size": 5}}},
    )
    used = needs(s, FLAVORS)
    assert (used.volumes, used.gigabytes) == (1 + 3 + 2, 100 + 15 + 20 + 10)


@pytest.mark.parametrize(
    ("disk", "root", "boot"),
    [(0, 10, 10), (9, 10, 10), (10, 10, 0), (10, 20, 20), (19, 20, 20), (20, 20, 0), (31, 20, 0)],
)
def test_boot_volume_rule(disk: int, root: int, boot: int) -> None:
    assert boot_volume_gb(Flavor("f", 2, 4096, disk), root) == boot


# -- roles -------------------------------------------------------------------------------------

ROLE_CASES = [
    (Flavor("a", 1, 1024, 0), ()),
    (Flavor("b", 1, 2048, 0), ("node",)),
    (Flavor("c", 2, 2048, 0), ("login", "node")),
    (Flavor("d", 2, 6143, 0), ("login", "node")),
    (Flavor("e", 2, 6144, 0), ("mgmt", "login", "node")),
    (Flavor("f", 1, 65536, 0), ("node",)),
]


@pytest.mark.parametrize(("flavor", "roles"), ROLE_CASES, ids=[c[0].name for c in ROLE_CASES])
def test_flavor_roles(flavor: Flavor, roles: tuple[str, ...]) -> None:
    assert flavor_roles(flavor) == roles


def test_flavors_by_role_are_ordered_by_ram_then_vcpus() -> None:
    mixed = [Flavor("big", 8, 8192, 0), Flavor("wide", 4, 6144, 0), Flavor("narrow", 2, 6144, 0),
             Flavor("tiny", 1, 2048, 0), Flavor("none", 1, 512, 0)]  # fmt: skip
    assert flavors_by_role(mixed) == {
        "mgmt": ["narrow", "wide", "big"],
        "login": ["narrow", "wide", "big"],
        "node": ["tiny", "narrow", "wide", "big"],
    }


@pytest.mark.parametrize(
    ("tags", "role"),
    [
        (["puppet", "mgmt", "nfs"], "mgmt"),
        (["login", "public", "proxy"], "login"),
        (["mgmt", "login"], "mgmt"),
        (["node"], "node"),
        (["nfs"], "node"),
        ([], "node"),
    ],
)
def test_role_of_tags(tags: list[str], role: str) -> None:
    assert role_of(tags) == role


def test_the_payload_lists_flavors_smallest_first_both_ways() -> None:
    # A fetcher may hand flavors in any order; readers of the payload (the form's script) no longer
    # sort them, so the payload does, and reading it back keeps the same order.
    shuffled = Snapshot("c", 0.0, flavors=tuple(reversed(FLAVORS)))
    data = snapshot_payload(shuffled, Usage(), 1.0)
    names = [f["name"] for f in data["flavors"]]
    assert names == [f.name for f in ordered(FLAVORS)]
    back = payload_flavors({"flavors": list(reversed(data["flavors"]))})
    assert [f.name for f in back] == names
    assert back[0] == Flavor("p1-1.5gb", 1, 1536, 0)  # ids are not part of the payload


# -- remaining, unlimited, own usage -------------------------------------------------------------

REMAINING_CASES = [
    pytest.param({"cores": Quota(64, 40)}, None, 24, id="limit minus in use"),
    pytest.param({"cores": Quota(None, 40)}, None, None, id="unlimited stays unlimited"),
    pytest.param({"cores": Quota.of(-1, 40)}, Usage(cores=10), None, id="-1 is unlimited, own usage too"),
    pytest.param({"cores": Quota(64, 40)}, Usage(cores=10), 34, id="own usage given back"),
    pytest.param({"cores": Quota(64, 4)}, Usage(cores=10), 64, id="own usage never beyond in use"),
    pytest.param({"cores": Quota(64, 70)}, None, -6, id="over quota shows negative"),
    pytest.param({}, None, None, id="missing quota is unlimited"),
]


@pytest.mark.parametrize(("quotas", "own", "left"), REMAINING_CASES)
def test_remaining(quotas: dict[str, Quota], own: Usage | None, left: int | None) -> None:
    assert remaining(quotas, own)["cores"] == left


def test_floating_ips_are_given_back_when_editing() -> None:
    # MC Hub forgot this one: an edited cluster's own floating IPs count as free again.
    quotas = {**QUOTAS, "floating_ips": Quota(2, 2)}
    assert remaining(quotas)["floating_ips"] == 0
    assert remaining(quotas, Usage(floating_ips=1))["floating_ips"] == 1
    assert preflight(spec(), snapshot(quotas)) == ["floating_ips: needs 1, 0 remaining of 2"]
    assert preflight(spec(), snapshot(quotas), Usage(floating_ips=1)) == []


# -- a built cluster's usage, from its state -----------------------------------------------------


def _res(kind: str, name: str, items: dict[str, dict[str, Any]], mode: str = "managed") -> dict[str, Any]:
    return {"module": "module.openstack", "mode": mode, "type": kind, "name": name,
            "instances": [{"index_key": k, "attributes": a} for k, a in items.items()]}  # fmt: skip


STATE = {
    "version": 4,
    "resources": [
        _res("openstack_compute_flavor_v2", "flavors", {"mgmt": {"vcpus": 99}}, mode="data"),
        _res(
            "openstack_compute_instance_v2",
            "instances",
            {
                "mgmt1": {
                    "flavor_name": "p4-6gb",
                    "block_device": [
                        {"source_type": "image", "destination_type": "volume", "volume_size": 20}
                    ],
                },
                "login1": {
                    "flavor_name": "",
                    "flavor_id": "id-p2",
                    "block_device": [
                        {"source_type": "image", "destination_type": "volume", "volume_size": 10}
                    ],
                },
                "node1": {"flavor_name": "c2-7.5gb-31", "block_device": []},
            },
        ),  # fmt: skip
        _res(
            "openstack_blockstorage_volume_v3",
            "volumes",
            {"mgmt1-nfs-home": {"size": 100}, "mgmt1-nfs-project": {"size": 50}},
        ),  # fmt: skip
        _res("openstack_networking_floatingip_v2", "fip", {"login1": {"address": "203.0.113.5"}}),
        _res("openstack_networking_port_v2", "nic", {"mgmt1": {}, "login1": {}, "node1": {}}),
    ],
}


SECGROUP_STATE = {"version": 4, "resources": [
    _res("openstack_networking_secgroup_v2", "global", {"": {"name": "hpc-secgroup"}}),
    _res("openstack_networking_secgroup_v2", "bare", {"": {"delete_default_rules": True}}),
    _res("openstack_networking_secgroup_rule_v2", "tcp", {"": {"protocol": "tcp"}}),
]}  # fmt: skip


def test_cluster_usage_from_state() -> None:
    assert cluster_usage_from_state(STATE, FLAVORS) == Usage(
        instances=3,
        cores=4 + 2 + 2,
        ram=6144 + 3072 + 7680,
        volumes=2 + 2,
        gigabytes=30 + 150,
        floating_ips=1,
    )


def test_state_usage_reads_the_cluster_dir(tmp_path: Path) -> None:
    assert state_usage(tmp_path, "nope", FLAVORS) == Usage()
    (tmp_path / "built").mkdir()
    (tmp_path / "built" / "terraform.tfstate").write_text(json.dumps(STATE))
    assert state_usage(tmp_path, "built", FLAVORS).floating_ips == 1
    (tmp_path / "built" / "terraform.tfstate").write_text("{not json")
    assert state_usage(tmp_path, "built", FLAVORS) == Usage()


# -- pre-flight --------------------------------------------------------------------------------

# base.yaml needs: 4 instances, 10 cores, 15360 MiB, 7 volumes, 250 GB, 1 floating IP.
SHORTFALL_CASES = [
    ("instances", Quota(5, 2), "instances: needs 4, 3 remaining of 5"),
    ("cores", Quota(64, 58), "cores: needs 10, 6 remaining of 64"),
    ("ram", Quota(16384, 2048), "ram: needs 15360 MiB, 14336 MiB remaining of 16384 MiB"),
    ("volumes", Quota(10, 4), "volumes: needs 7, 6 remaining of 10"),
    ("gigabytes", Quota(1000, 800), "gigabytes: needs 250 GB, 200 GB remaining of 1000 GB"),
    ("floating_ips", Quota(4, 4), "floating_ips: needs 1, 0 remaining of 4"),
]


@pytest.mark.parametrize(("key", "quota", "message"), SHORTFALL_CASES, ids=[c[0] for c in SHORTFALL_CASES])
def test_each_quota_shortfall_is_named_with_numbers(key: str, quota: Quota, message: str) -> None:
    assert preflight(spec(), snapshot({**QUOTAS, key: quota})) == [message]


@pytest.mark.parametrize(("key", "quota", "message"), SHORTFALL_CASES, ids=[c[0] for c in SHORTFALL_CASES])
def test_unlimited_is_never_a_shortfall(key: str, quota: Quota, message: str) -> None:
    assert preflight(spec(), snapshot({**QUOTAS, key: Quota(None, quota.in_use + 10_000)})) == []


def test_editing_gives_own_usage_back_before_comparing() -> None:
    tight = {**QUOTAS, "cores": Quota(64, 60)}  # 4 left; the cluster itself holds 10 of the 60
    assert preflight(spec(), snapshot(tight)) == ["cores: needs 10, 4 remaining of 64"]
    assert preflight(spec(), snapshot(tight), Usage(cores=10)) == []
    bigger = spec(**{"instances.node": {"type": "p2-3gb", "tags": ["node"], "count": 5}})
    assert preflight(bigger, snapshot(tight), Usage(cores=10)) == ["cores: needs 16, 14 remaining of 64"]


def test_missing_flavor_lists_the_flavors_fit_for_the_role() -> None:
    s = spec(**{"instances.mgmt": {"type": "p9-huge", "tags": ["puppet", "mgmt", "nfs"]}})
    assert preflight(s, snapshot())[0] == (
        'instances.mgmt.type: flavor "p9-huge" does not exist; '
        "choose one of g4-6gb, p4-6gb, c2-7.5gb-31, c4-15gb-15"
    )
    s = spec(**{"instances.node": {"type": "p9-huge", "tags": ["node"], "count": 2}})
    assert preflight(s, snapshot())[0].endswith(
        "choose one of p2-3gb, g4-6gb, p4-6gb, c2-7.5gb-31, c4-15gb-15"
    )


def test_missing_images_are_named_with_their_field() -> None:
    s = spec(image="Foo", **{"instances.node": {"type": "p2-3gb", "tags": ["node"], "image": "Bar"}})
    assert preflight(s, snapshot()) == [
        'image: image "Foo" matches no image on this cloud; active images: AlmaLinux-9, Rocky-9',
        'instances.node.image: image "Bar" matches no image on this cloud; '
        "active images: AlmaLinux-9, Rocky-9",
    ]


def test_images_match_as_magic_castle_matches_them() -> None:
    images = (Image("Rocky-9.4", id="a", created_at="2026-01-01"), Image("Rocky-9.5", status="deactivated"),
              Image("Alma-9", status="queued"))  # fmt: skip
    snap = replace(snapshot(), images=images)
    assert preflight(spec(image="Rocky-9"), snap) == []  # a regex searched in the names
    assert preflight(spec(image="Alma"), snap) == [
        'image: image "Alma" matches only images that cannot boot: Alma-9 (queued); active images: Rocky-9.4'
    ]


def test_what_the_catalog_could_not_read_is_not_refused() -> None:
    snap = replace(snapshot({}), flavors=(), images=(), unknown={"flavors": "403", "images": "503"})
    assert preflight(spec(image="Foo"), snap) == []


def test_every_problem_is_reported_at_once() -> None:
    # 30 more nodes: 66 cores of 24 left, 33 instances of 16, 33 volumes of 18; RAM and GB still fit.
    s = spec(image="Foo", **{"instances.node": {"type": "p2-3gb", "tags": ["node"], "count": 30}})
    problems = preflight(s, snapshot())
    assert [p.split(":")[0] for p in problems] == ["image", "instances", "cores", "volumes"]


def test_a_spec_that_fits_has_no_problems() -> None:
    assert preflight(spec(), snapshot()) == []
