"""The catalog against a real sandbox cloud, through the real openstacksdk over HTTP, seeded with
numbers of our own: remaining quota for a new cluster and for editing a built one, unlimited
quotas, roles and boot volumes per flavor, stale figures when the cloud stops, a clear error on a
bad password, and the reconciler's pre-flight refusing a spec that does not fit without ever
starting Terraform."""

from __future__ import annotations

import argparse
import json
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.cloud.catalog import Catalog, CatalogError, fetch_snapshot
from reconciler.cloud.figures import Snapshot
from reconciler.cloud.preflight import make_preflight
from reconciler.engine.hub import Hub, make_hub
from reconciler.engine.reconcile import reconcile_one
from reconciler.entry import resources as resources_cli
from reconciler.model.settings import CloudConfig, Settings
from reconciler.model.spec import parse_spec
from reconciler.model.status import Phase, Reason, read_status
from reconciler.terraform import Launcher
from sandbox.cloud.faults import Faults
from sandbox.server import Sandbox, SandboxInfo

# The seed's in_use counts the built cluster "edit" below (2 instances, 6 cores, 12288 MiB,
# 2 volumes of 60 GB, 1 floating IP) plus other workloads of the project.
SEED = """
project: catalog-test
flavors:
  - {name: s1-1gb, vcpus: 1, ram: 1024, disk: 5}
  - {name: n1-2gb, vcpus: 1, ram: 2048, disk: 0}
  - {name: n1-2gb-20, vcpus: 1, ram: 2048, disk: 20}
  - {name: l2-4gb, vcpus: 2, ram: 4096, disk: 0}
  - {name: m4-8gb, vcpus: 4, ram: 8192, disk: 30}
  - {name: c16-4gb, vcpus: 16, ram: 4096, disk: 20}
  - {name: r2-32gb, vcpus: 2, ram: 32768, disk: 20}
images:
  - {name: Rocky-9}
  - {name: Alma-9}
networks:
  - {name: lan}
  - {name: ext, external: true}
quotas:
  instances: {limit: 10, in_use: 3}
  cores: {limit: 24, in_use: 8}
  ram: {limit: 49152, in_use: 14336}
  volumes: {limit: 10, in_use: 3}
  gigabytes: {limit: 500, in_use: 110}
  floatingip: {limit: 3, in_use: 2}
"""
# Neutron's defaults (10 groups, 100 rules); the project's `default` group holds 1 and 4 of them.
NEW_REMAINING = {"instances": 7, "cores": 16, "ram": 34816, "volumes": 7, "gigabytes": 390, "floating_ips": 1,
                 "security_groups": 9, "security_group_rules": 96}  # fmt: skip
OWN = {"instances": 2, "cores": 6, "ram": 12288, "volumes": 2, "gigabytes": 60, "floating_ips": 1,
       "security_groups": 0, "security_group_rules": 0}  # fmt: skip
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMT9GXhBldsu07Rklam11D72R5uODSJtBW9p5nUB9bI t@example.org"


def cli_args(cloud: str, json: bool = True) -> argparse.Namespace:
    """`mchub resources --cloud CLOUD [--json]` as the command line parses it."""
    return argparse.Namespace(cloud=cloud, project=None, cluster=None, json=json)


@pytest.fixture(autouse=True)
def clean_os_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No OS_* variable of the machine reaches openstacksdk: only the clouds.yaml under test."""
    for name in list(os.environ):
        if name.startswith("OS_"):
            monkeypatch.delenv(name)


def _seed(tmp: Path, text: str) -> Path:
    path = tmp / "seed.yaml"
    path.write_text(text)
    return path


def _settings(tmp: Path, info: SandboxInfo, clouds_yaml: Path | None = None) -> Settings:
    cloud = CloudConfig("sandbox", clouds_yaml=clouds_yaml or info.clouds_yaml)
    return Settings(specs_dir=tmp / "specs", clusters_dir=tmp / "clusters", sandbox_data=tmp).with_cloud(
        cloud
    )


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxInfo]:
    """One sandbox for the tests that only read from it."""
    tmp = tmp_path_factory.mktemp("catalog-cloud")
    cloud = Sandbox(tmp / "data", seed=_seed(tmp, SEED))
    yield cloud.start()
    cloud.stop()


@pytest.fixture
def settings(tmp_path: Path, box: SandboxInfo) -> Settings:
    (tmp_path / "specs").mkdir()
    (tmp_path / "clusters").mkdir()
    return _settings(tmp_path, box)


@pytest.fixture
def catalog(settings: Settings) -> Iterator[Catalog]:
    cat = Catalog(settings)
    yield cat
    cat.stop()


def spec_data(name: str = "hpc", **instances: dict[str, Any]) -> dict[str, Any]:
    """mgmt m4-8gb (no boot volume), login l2-4gb (public, 10 GB boot volume), one node; nfs home 50 GB."""
    data: dict[str, Any] = {
        "cluster_name": name, "domain": "example.org", "image": "Rocky-9", "public_keys": [KEY],
        "instances": {
            "mgmt": {"type": "m4-8gb", "tags": ["puppet", "mgmt", "nfs"], "count": 1},
            "login": {"type": "l2-4gb", "tags": ["login", "public", "proxy"], "count": 1},
            "node": {"type": "n1-2gb-20", "tags": ["node"], "count": 1},
        },
        "volumes": {"nfs": {"home": {"size": 50}}},
    }  # fmt: skip
    data["instances"].update(instances)
    return data


def write_spec(settings: Settings, data: dict[str, Any]) -> None:
    (settings.specs_dir / f"{data['cluster_name']}.yaml").write_text(yaml.safe_dump(data))


def fake_state(settings: Settings, name: str) -> None:
    """The Terraform state of a built cluster: what `edit` holds (see OWN), without running Terraform."""

    def res(kind: str, rname: str, items: dict[str, dict[str, Any]]) -> dict[str, Any]:
        return {"module": "module.openstack", "mode": "managed", "type": kind, "name": rname,
                "instances": [{"index_key": k, "attributes": a} for k, a in items.items()]}  # fmt: skip

    boot = [{"source_type": "image", "destination_type": "volume", "volume_size": 10, "boot_index": 0}]
    state = {"version": 4, "terraform_version": "1.0.3", "resources": [
        res("openstack_compute_instance_v2", "instances", {
            "mgmt1": {"flavor_name": "m4-8gb", "block_device": []},
            "login1": {"flavor_name": "l2-4gb", "block_device": boot}}),
        res("openstack_blockstorage_volume_v3", "volumes", {"mgmt1-nfs-home": {"size": 50}}),
        res("openstack_networking_floatingip_v2", "fip", {"login1": {"address": "203.0.113.9"}}),
    ]}  # fmt: skip
    (settings.clusters_dir / name).mkdir(parents=True, exist_ok=True)
    (settings.clusters_dir / name / "terraform.tfstate").write_text(json.dumps(state))


def remaining_of(payload: dict[str, Any]) -> dict[str, int | None]:
    return {k: q["remaining"] for k, q in payload["quotas"].items()}


# -- figures -----------------------------------------------------------------------------------


def test_figures_for_a_new_cluster(catalog: Catalog, settings: Settings) -> None:
    data = catalog.payload("sandbox", None, settings.clusters_dir)
    assert (data["cloud"], data["stale"], data["error"]) == ("sandbox", False, None)
    assert data["fetched_at"] and data["age_seconds"] is not None and data["age_seconds"] < 30
    assert remaining_of(data) == NEW_REMAINING
    assert data["quotas"]["cores"] == {"limit": 24, "in_use": 8, "remaining": 16, "cluster_usage": 0}
    assert data["images"] == ["Alma-9", "Rocky-9"]
    assert data["networks"] == [{"name": "ext", "external": True}, {"name": "lan", "external": False}]
    assert data["volume_types"] == [
        {"name": "__DEFAULT__", "description": "Default Volume Type", "default": True}
    ]
    assert data["unknown"] == {}
    assert data["quotas"]["security_groups"] == {"limit": 10, "in_use": 1, "remaining": 9, "cluster_usage": 0}
    json.dumps(data)  # the API serves it as is


def test_flavors_with_roles_and_boot_volumes(catalog: Catalog, settings: Settings) -> None:
    data = catalog.payload("sandbox", None, settings.clusters_dir)
    flavors = {f["name"]: f for f in data["flavors"]}
    assert [f["name"] for f in data["flavors"]] == [
        "s1-1gb", "n1-2gb", "n1-2gb-20", "l2-4gb", "c16-4gb", "m4-8gb", "r2-32gb"]  # fmt: skip
    assert flavors["s1-1gb"]["roles"] == []
    assert flavors["n1-2gb"] == {"name": "n1-2gb", "vcpus": 1, "ram": 2048, "disk": 0, "roles": ["node"],
                                 "boot_volume_gb": 10, "boot_volume_gb_mgmt": 20}  # fmt: skip
    assert (flavors["s1-1gb"]["boot_volume_gb"], flavors["s1-1gb"]["boot_volume_gb_mgmt"]) == (10, 20)
    assert (flavors["n1-2gb-20"]["boot_volume_gb"], flavors["n1-2gb-20"]["boot_volume_gb_mgmt"]) == (0, 0)
    assert (flavors["m4-8gb"]["boot_volume_gb"], flavors["m4-8gb"]["boot_volume_gb_mgmt"]) == (0, 0)
    assert data["flavors_by_role"] == {
        "mgmt": ["m4-8gb", "r2-32gb"],
        "login": ["l2-4gb", "c16-4gb", "m4-8gb", "r2-32gb"],
        "node": ["n1-2gb", "n1-2gb-20", "l2-4gb", "c16-4gb", "m4-8gb", "r2-32gb"],
    }


def test_figures_when_editing_a_built_cluster(catalog: Catalog, settings: Settings) -> None:
    write_spec(settings, spec_data("edit"))
    fake_state(settings, "edit")
    data = catalog.payload(None, "edit", settings.clusters_dir)  # the cloud comes from the spec
    assert data["cloud"] == "sandbox" and data["cluster"] == "edit"
    assert {k: q["cluster_usage"] for k, q in data["quotas"].items()} == OWN
    assert remaining_of(data) == {k: NEW_REMAINING[k] + OWN[k] for k in OWN}
    assert data["quotas"]["floating_ips"] == {"limit": 3, "in_use": 2, "remaining": 2, "cluster_usage": 1}
    with pytest.raises(CatalogError, match="not a cluster name"):
        catalog.payload(None, "../etc", settings.clusters_dir)


def test_unlimited_quotas(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    seed = SEED.replace("cores: {limit: 24", "cores: {limit: -1").replace(
        "floatingip: {limit: 3", "floatingip: {limit: -1"
    )
    with Sandbox(tmp_path / "data", seed=_seed(tmp_path, seed)) as info:
        settings = _settings(tmp_path, info)
        catalog = Catalog(settings)
        data = catalog.payload("sandbox", None, settings.clusters_dir)
        assert data["quotas"]["cores"] == {"limit": None, "in_use": 8, "remaining": None, "cluster_usage": 0}
        assert data["quotas"]["floating_ips"]["remaining"] is None
        assert json.loads(json.dumps(data))["quotas"]["cores"]["limit"] is None  # null in the API
        huge = spec_data(node={"type": "c16-4gb", "tags": ["node", "public"], "count": 1})
        assert make_preflight(catalog, settings)(parse_spec(huge)).fits  # 22 cores, 2 IPs: unlimited
        assert resources_cli.run(cli_args("sandbox", json=False), settings) == 0
        out = capsys.readouterr().out
        assert "cores" in out and "unlimited" in out and "m4-8gb" in out and "mgmt, login, node" in out
        catalog.stop()


def test_resources_command_json_is_the_payload(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert resources_cli.run(cli_args("sandbox"), settings) == 0
    printed = json.loads(capsys.readouterr().out)
    assert remaining_of(printed) == NEW_REMAINING
    assert resources_cli.run(cli_args("nowhere"), settings) == 2
    assert 'cloud "nowhere" is not configured' in capsys.readouterr().err


# -- when the cloud misbehaves -------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_stopped_cloud_leaves_stale_figures_with_their_age(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    cloud = Sandbox(tmp_path / "data", seed=_seed(tmp_path, SEED))
    settings = _settings(tmp_path, cloud.start())
    catalog = Catalog(settings, ttl=60, clock=clock)
    try:
        fresh = catalog.get("sandbox")
        assert fresh.has_figures and not fresh.stale
        cloud.stop()
        clock.now += 120  # past the TTL: the next question starts a refresh in the background ...
        started = time.monotonic()
        old = catalog.get("sandbox")
        assert time.monotonic() - started < 0.5  # ... and is answered at once from the cache
        assert old.fetched_at == fresh.fetched_at
        stale = _wait_for(lambda: catalog.get("sandbox"), lambda s: s.stale)
        assert stale.quotas == fresh.quotas and stale.flavors == fresh.flavors
        assert stale.error is not None and stale.error.startswith("cloud sandbox did not answer:")
        data = catalog.payload("sandbox", None, settings.clusters_dir)
        assert data["stale"] is True and data["age_seconds"] == 120.0
        assert remaining_of(data) == NEW_REMAINING
        for _ in range(5):  # more questions, more failed refreshes: the error is logged once
            catalog.get("sandbox")
            clock.now += 61
            _wait_for(lambda: catalog.get("sandbox"), lambda s: s.error is not None)
            time.sleep(0.05)
        logged = [r.message for r in caplog.records if r.name == "reconciler.cloud.catalog"]
        assert len(logged) == 1 and "did not answer" in logged[0]
    finally:
        catalog.stop()
        cloud.stop()


def test_first_question_waits_only_so_long_for_a_slow_cloud(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "data", seed=_seed(tmp_path, SEED), faults=Faults(latency=0.4)) as info:
        catalog = Catalog(_settings(tmp_path, info), first_timeout=0.2)
        started = time.monotonic()
        first = catalog.get("sandbox")
        assert time.monotonic() - started < 1.0
        assert (
            not first.has_figures
            and first.error == "cloud sandbox did not answer within 0.2 s (still trying)"
        )
        later = _wait_for(lambda: catalog.get("sandbox"), lambda s: s.has_figures)
        assert later.has_figures and not later.stale
        catalog.stop()


def test_cloud_that_never_answered(tmp_path: Path) -> None:
    settings = Settings(sandbox_data=tmp_path).with_cloud(
        CloudConfig("sandbox", clouds_yaml=tmp_path / "none.yaml")
    )
    (tmp_path / "none.yaml").write_text(yaml.safe_dump({"clouds": {"sandbox": {"auth": {
        "auth_url": "http://127.0.0.1:9/identity/v3", "username": "u", "password": "p", "project_name": "p",
        "user_domain_name": "Default", "project_domain_name": "Default"}}}}))  # fmt: skip
    catalog = Catalog(settings)
    snap = catalog.get("sandbox")
    assert not snap.has_figures and snap.error is not None and "did not answer" in snap.error
    data = catalog.payload("sandbox", None, tmp_path)
    assert (data["fetched_at"], data["age_seconds"], data["quotas"], data["stale"]) == (None, None, {}, True)
    assert make_preflight(catalog, settings)(parse_spec(spec_data())).fits  # no figures: Terraform will tell
    catalog.stop()


def test_bad_password_is_a_clear_error_not_retried_in_a_loop(tmp_path: Path, box: SandboxInfo) -> None:
    clouds = yaml.safe_load(box.clouds_yaml.read_text())
    good = box.clouds_yaml.read_text()
    clouds["clouds"]["sandbox"]["auth"]["password"] = "wrong"
    bad = tmp_path / "clouds.yaml"
    bad.write_text(yaml.safe_dump(clouds))
    settings = _settings(tmp_path, box, clouds_yaml=bad)
    with pytest.raises(CatalogError) as err:
        fetch_snapshot(settings.cloud("sandbox"))
    assert err.value.kind == "auth"
    assert str(err.value).startswith(
        "authentication to cloud sandbox failed: check the credentials in clouds.yaml"
    )
    calls: list[str] = []

    def counting(cloud: CloudConfig) -> Snapshot:
        calls.append(cloud.name)
        return fetch_snapshot(cloud)

    clock = Clock()
    catalog = Catalog(settings, ttl=1, fetcher=counting, clock=clock)
    for _ in range(5):
        snap = catalog.get("sandbox")
        clock.now += 2  # past the TTL, but within the slower retry after an authentication failure
    assert not snap.has_figures and snap.error and "check the credentials in clouds.yaml" in snap.error
    assert calls == ["sandbox"]
    bad.write_text(good)  # fixed: the next question tries again at once
    later = os.stat(bad).st_mtime + 5
    os.utime(bad, (later, later))
    assert catalog.get("sandbox").has_figures and len(calls) == 2
    catalog.stop()


def _wait_for(get: Any, ok: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = get()
        if ok(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


# -- the reconciler's pre-flight -----------------------------------------------------------------


@pytest.fixture
def hub(settings: Settings, catalog: Catalog, tmp_path: Path) -> Hub:
    """A hub whose "Terraform" only records that it was started (and fails)."""
    script = tmp_path / "terraform"
    script.write_text(f'#!/bin/sh\necho "$@" >> {tmp_path / "terraform-calls.log"}\nexit 1\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return make_hub(settings, catalog, terraform=Launcher(script, version="1.0.3"))


def terraform_calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "terraform-calls.log"
    return log.read_text().splitlines() if log.exists() else []


# Remaining for a new cluster: 7 instances, 16 cores, 34816 MiB, 7 volumes, 390 GB, 1 floating IP.
OVERSIZED = [
    ("instances", {"node": {"type": "n1-2gb-20", "tags": ["node"], "count": 6}},
     "instances: needs 8, 7 remaining of 10"),
    ("cores", {"node": {"type": "c16-4gb", "tags": ["node"]}}, "cores: needs 22, 16 remaining of 24"),
    ("ram", {"node": {"type": "r2-32gb", "tags": ["node"]}},
     "ram: needs 45056 MiB, 34816 MiB remaining of 49152 MiB"),
    ("volumes", {"volumes": {"nfs": {n: {"size": 1} for n in "abcdefg"}}},
     "volumes: needs 8, 7 remaining of 10"),
    ("gigabytes", {"volumes": {"nfs": {"home": {"size": 400}}}},
     "gigabytes: needs 410 GB, 390 GB remaining of 500 GB"),
    ("floating_ips", {"node": {"type": "n1-2gb-20", "tags": ["node", "public"]}},
     "floating_ips: needs 2, 1 remaining of 3"),
    ("flavor", {"node": {"type": "p9-huge", "tags": ["node"]}},
     'instances.node.type: flavor "p9-huge" does not exist; '
     "choose one of n1-2gb, n1-2gb-20, l2-4gb, c16-4gb, m4-8gb, r2-32gb"),
    ("image", {"image": "Foo"},
     'image: image "Foo" matches no image on this cloud; active images: Alma-9, Rocky-9'),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "change", "message"), OVERSIZED, ids=[c[0] for c in OVERSIZED])
def test_preflight_refuses_a_spec_that_does_not_fit(
    kind: str, change: dict[str, Any], message: str, hub: Hub, settings: Settings, tmp_path: Path
) -> None:
    data = spec_data()
    for key, value in change.items():
        if key in ("volumes", "image"):
            data[key] = value
        else:
            data["instances"][key] = value
    write_spec(settings, data)
    status = reconcile_one("hpc", hub)
    if kind in ("flavor", "image"):  # the spec must change: invalid
        assert (status.phase, status.reason) == (Phase.INVALID, Reason.PREFLIGHT_FAILED)
        assert status.message.startswith("does not fit the cloud: " + message)
    else:  # short of quota: it waits, and builds by itself once there is room (issue 13)
        assert (status.phase, status.reason) == (Phase.PENDING, Reason.QUOTA_WAIT)
        key, figures = message.split(": needs ")
        assert status.quota_wait is not None and status.quota_wait.needs == {
            key: int(figures.split()[0].strip(","))
        }
        assert status.message.startswith("Waiting for quota: needs ")
    assert read_status(settings.clusters_dir, "hpc") == status
    assert terraform_calls(tmp_path) == []  # no Terraform process was started
    assert reconcile_one("hpc", hub).phase == status.phase  # and none later, until it fits or changes
    assert terraform_calls(tmp_path) == []


def test_preflight_gives_an_edited_cluster_its_own_usage_back(
    hub: Hub, settings: Settings, tmp_path: Path
) -> None:
    # 22 cores: more than the 16 a new cluster has, within the 22 this built cluster may use.
    write_spec(settings, spec_data("edit", node={"type": "c16-4gb", "tags": ["node"]}))
    fake_state(settings, "edit")
    status = reconcile_one("edit", hub)
    assert status.reason != Reason.PREFLIGHT_FAILED
    assert terraform_calls(tmp_path)  # past the pre-flight: our stand-in Terraform was started
    assert status.phase in (Phase.PLAN_ERROR, Phase.BUILD_ERROR)


def test_catalog_questions_from_many_threads_share_one_fetch(settings: Settings) -> None:
    calls: list[str] = []
    gate = threading.Event()

    def slow(cloud: CloudConfig) -> Snapshot:
        calls.append(cloud.name)
        gate.wait(5)
        return fetch_snapshot(cloud)

    catalog = Catalog(settings, fetcher=slow)
    results: list[Snapshot] = []
    threads = [threading.Thread(target=lambda: results.append(catalog.get("sandbox"))) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.1)
    gate.set()
    for t in threads:
        t.join()
    assert calls == ["sandbox"] and all(r.has_figures for r in results)
    catalog.stop()
