"""One outcome per reconcile: the status a cluster is left in and when it needs the next look, both
from `decide` (the loop no longer re-derives the schedule). No real Terraform here: the launcher
points at a binary that does not exist, so a decision to run ends as a configuration error."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from reconciler.engine.hub import Hub, make_hub
from reconciler.engine.reconcile import reconcile
from reconciler.model.settings import Settings
from reconciler.model.status import Drift, Phase, Reason, Status, read_status, write_status
from reconciler.terraform import Launcher

DATA = Path(__file__).parent.parent / "data"
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def _hub(tmp_path: Path, now: dt.datetime = T0) -> Hub:
    settings = Settings(specs_dir=tmp_path / "specs", clusters_dir=tmp_path / "clusters", drift_interval=600)
    settings.specs_dir.mkdir()
    spec = yaml.safe_load((DATA / "specs" / "base.yaml").read_text())
    spec["cluster_name"] = "hpc"
    (settings.specs_dir / "hpc.yaml").write_text(yaml.safe_dump(spec))
    launcher = Launcher(tmp_path / "no-terraform-here", version="1.0.3")
    return make_hub(settings, terraform=launcher, clock=lambda: now)


def _built(hub: Hub, **changes: Any) -> Status:
    observed = hub.specs.observe("hpc")
    status = Status(
        name="hpc", phase=Phase.BUILD_SUCCESS, reason=Reason.APPLIED, observed_hash=observed.hash,
        applied_hash=observed.hash, resources=["module.openstack.x"], updated_at=T0, **changes,
    )  # fmt: skip
    write_status(hub.clusters, status)
    return status


def test_a_built_cluster_never_checked_for_drift_is_looked_at_one_interval_after_its_build(
    tmp_path: Path,
) -> None:
    """decide counts the drift interval from the last update when no check is on record; the
    loop used to wait for the next resync instead."""
    hub = _hub(tmp_path, now=T0 + dt.timedelta(minutes=1))
    _built(hub)
    outcome = reconcile("hpc", hub)
    assert outcome.status.phase == Phase.BUILD_SUCCESS
    assert outcome.next_at == T0 + dt.timedelta(seconds=600)


def test_a_drift_check_due_now_is_looked_at_now(tmp_path: Path) -> None:
    now = T0 + dt.timedelta(minutes=30)
    hub = _hub(tmp_path, now=now)
    _built(hub, drift=Drift(checked_at=T0))
    # The decision of this pass would start Terraform; the preflight-free hub has no binary, so
    # the run fails as a configuration error and the outcome says "wait for a change".
    outcome = reconcile("hpc", hub)
    assert outcome.status.phase == Phase.PLAN_ERROR
    assert outcome.status.reason == Reason.CONFIG_ERROR
    assert outcome.next_at is None
    assert read_status(hub.clusters, "hpc") == outcome.status  # recorded once, as returned


def test_a_failure_waits_for_its_backoff(tmp_path: Path) -> None:
    hub = _hub(tmp_path)
    retry = T0 + dt.timedelta(seconds=45)
    _built(hub)
    failed = read_status(hub.clusters, "hpc")
    assert failed is not None
    failed = failed.started(T0, Phase.PLAN_RUNNING, Reason.RETRY_DUE, "r1", failed.observed_hash)
    failed = failed.failed(T0, Reason.CLOUD_ERROR, "boom", next_attempt_at=retry)
    write_status(hub.clusters, failed)
    outcome = reconcile("hpc", hub)
    assert outcome.status.phase == Phase.PLAN_ERROR  # an error while planning stays a plan error
    assert outcome.next_at == retry


def test_an_invalid_spec_waits_for_a_change_and_is_recorded(tmp_path: Path) -> None:
    hub = _hub(tmp_path)
    (hub.settings.specs_dir / "hpc.yaml").write_text("cluster_name: hpc\nnb_users: many\n")
    outcome = reconcile("hpc", hub)
    assert outcome.status.phase == Phase.INVALID
    assert outcome.next_at is None
    assert read_status(hub.clusters, "hpc") == outcome.status


def test_a_spec_never_seen_and_gone_leaves_no_record(tmp_path: Path) -> None:
    hub = _hub(tmp_path)
    outcome = reconcile("ghost", hub)
    assert outcome.next_at is None
    assert read_status(hub.clusters, "ghost") is None


def test_the_hubs_own_limits_apply_to_a_spec_committed_through_git(tmp_path: Path) -> None:
    hub = _hub(tmp_path)
    small = replace(hub.settings, max_hosts=2)  # the spec has 4 hosts
    hub = make_hub(small, terraform=hub.terraform, clock=hub.clock)
    outcome = reconcile("hpc", hub)
    assert outcome.status.phase == Phase.INVALID
    assert "at most 2 (setting max_hosts)" in outcome.status.message


def test_a_guest_password_given_in_the_form_is_applied_at_the_next_look(tmp_path: Path) -> None:
    """A password kept out of the spec changes no spec, but the cluster must get it: the hash says so."""
    from reconciler.model.secrets import store_guest_password

    hub = _hub(tmp_path)
    before = hub.specs.observe("hpc").hash
    store_guest_password(hub.clusters, "hpc", "a-new-guest-password")
    assert hub.specs.observe("hpc").hash != before
