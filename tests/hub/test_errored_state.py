"""A run whose state could not be saved (PostgreSQL unreachable at the end of an apply, a full
disk) leaves Terraform's `errored.tfstate`, the only record of what it created. The next run
pushes it back before planning, on the real Terraform: the cluster is not built a second time."""

from __future__ import annotations

import json
import shutil

from reconciler.model.status import Phase

from .conftest import HubEnv


def test_an_errored_state_is_pushed_back_before_the_next_plan(hubenv: HubEnv) -> None:
    hubenv.write_spec()
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    built = sorted(hubenv.servers())
    workdir = hubenv.settings.clusters_dir / "hpc"
    # What Terraform leaves when it cannot save: the full state aside, the backend's one older.
    full = json.loads((workdir / "terraform.tfstate").read_text())
    shutil.copy2(workdir / "terraform.tfstate", workdir / "errored.tfstate")
    older = {**full, "serial": full["serial"] - 1, "resources": [], "outputs": {}}
    (workdir / "terraform.tfstate").write_text(json.dumps(older))

    hubenv.write_spec(nb_users=3)  # a change: the next reconcile plans
    status = hubenv.reconcile()

    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert sorted(hubenv.servers()) == built  # not created again beside the first ones
    assert hubenv.cloud_counts()["servers"] == len(built)
    assert not (workdir / "errored.tfstate").exists()
    assert list(workdir.glob("errored.tfstate.pushed-*"))
    assert json.loads((workdir / "terraform.tfstate").read_text())["resources"]
