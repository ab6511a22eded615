"""Safe change on the real Terraform and the sandbox: every policy path of a plan (applied at once,
held for a person, refused before Terraform) for both `apply` modes, whatever triggered the plan
(an edit, a drift check, an expiry)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from reconciler.model import runs
from reconciler.model.approvals import approve
from reconciler.model.status import Phase, Reason

from .conftest import HubEnv

pytestmark = [pytest.mark.terraform, pytest.mark.slow]


def _runs(env: HubEnv) -> list[runs.RunRecord]:
    return sorted(runs.list_records(env.settings.clusters_dir, "hpc"), key=lambda r: r.started_at)


def _home(env: HubEnv) -> Any:
    """The `nfs.home` volume (instances on small flavors boot from volumes of their own)."""
    (volume,) = [v for v in env.conn.block_storage.volumes() if v.name.endswith("-nfs-home")]
    return volume


def _approve_current(env: HubEnv) -> None:
    status = env.status()
    assert status.plan is not None
    approve(env.settings.specs_dir, "hpc", status.plan.id, "tester", env.clock())


@pytest.mark.parametrize("mode", ["auto", "manual"])
def test_a_lossless_edit(hubenv: HubEnv, mode: str) -> None:
    """auto: applied at once; manual: waits for a person as always, saying nothing is lost."""
    hubenv.write_spec(apply=mode)
    if mode == "manual":
        assert hubenv.reconcile().phase == Phase.AWAITING_APPROVAL
        _approve_current(hubenv)
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    hubenv.write_spec(instances__node__count=2)
    status = hubenv.reconcile()
    if mode == "manual":
        assert (status.phase, status.reason) == (Phase.AWAITING_APPROVAL, Reason.AWAITING_APPROVAL)
        assert status.plan is not None and status.plan.losing == []
        _approve_current(hubenv)
        status = hubenv.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert sorted(hubenv.servers()) == ["login1", "mgmt1", "node1", "node2"]
    last = _runs(hubenv)[-1]
    assert last.changes.get("create", 0) >= 1 and last.losing == []


@pytest.mark.parametrize("mode", ["auto", "manual"])
def test_an_edit_that_loses_data_waits_for_a_person(hubenv: HubEnv, mode: str) -> None:
    hubenv.write_spec(instances__node__count=2)
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    node2 = hubenv.servers()["node2"].id
    hubenv.write_spec(instances__node__count=1, apply=mode)
    status = hubenv.reconcile()
    assert status.phase == Phase.AWAITING_APPROVAL, status.message
    assert status.reason == (Reason.DATA_LOSS if mode == "auto" else Reason.AWAITING_APPROVAL)
    assert status.plan is not None
    assert any('"node2"' in what and "erased" in what for what in status.plan.losing)
    assert "node2" in status.message and "erased" in status.message
    assert hubenv.servers()["node2"].id == node2  # nothing applied
    assert hubenv.reconcile().phase == Phase.AWAITING_APPROVAL  # and nothing by itself later

    _approve_current(hubenv)
    status = hubenv.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    assert sorted(hubenv.servers()) == ["login1", "mgmt1", "node1"]
    assert _runs(hubenv)[-1].losing  # the history says what was lost, and that a person approved


@pytest.mark.parametrize("mode", ["auto", "manual"])
def test_a_volume_shrink_is_refused_before_terraform(hubenv: HubEnv, mode: str) -> None:
    hubenv.write_spec()
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    before = len(_runs(hubenv))
    hubenv.write_spec(volumes={"nfs": {"home": {"size": 4}}}, apply=mode)
    status = hubenv.reconcile()
    assert (status.phase, status.reason) == (Phase.INVALID, Reason.SPEC_INVALID)
    assert "volumes.nfs.home.size: 4 GB is smaller than the 10 GB volume" in status.message
    assert len(_runs(hubenv)) == before  # no Terraform
    assert _home(hubenv).size == 10
    hubenv.clock.advance(3600)
    assert hubenv.reconcile().phase == Phase.INVALID  # still refused, still no run
    assert len(_runs(hubenv)) == before

    hubenv.write_spec(volumes={"nfs": {"home": {"size": 12}}}, apply="auto")  # growing is fine
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    assert _home(hubenv).size == 12


def test_drift_repair_never_loses_data_by_itself(hubenv: HubEnv) -> None:
    """A volume grown by hand: the repair plan would shrink it back, which loses data (or fails):
    the drift check holds it for a person and leaves the volume alone."""
    hubenv.write_spec()
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    volume = _home(hubenv)
    hubenv.conn.block_storage.extend_volume(volume, 20)
    hubenv.clock.advance(601)
    status = hubenv.reconcile()
    assert (status.phase, status.reason) == (Phase.AWAITING_APPROVAL, Reason.DATA_LOSS), status.message
    assert status.drift.detected
    assert hubenv.conn.block_storage.get_volume(volume.id).size == 20


def test_an_expiry_destroys_with_the_destroy_plan_on_record(hubenv: HubEnv) -> None:
    tomorrow = hubenv.clock().date() + dt.timedelta(days=1)
    hubenv.write_spec(expires=tomorrow.isoformat())
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    hubenv.clock.advance(2 * 86400)
    status = hubenv.reconcile()
    assert (status.phase, status.reason) == (Phase.DESTROYED, Reason.EXPIRED), status.message
    assert hubenv.servers() == {}
    destroy = _runs(hubenv)[-1]
    assert destroy.action == "destroy" and destroy.changes.get("delete", 0) > 0
    assert any("erased" in what for what in destroy.losing)


def test_a_spec_already_expired_when_written_is_refused(hubenv: HubEnv) -> None:
    yesterday = hubenv.clock().date() - dt.timedelta(days=1)
    hubenv.write_spec(expires=yesterday.isoformat())
    status = hubenv.reconcile()
    assert (status.phase, status.reason) == (Phase.INVALID, Reason.SPEC_INVALID)
    assert status.message.startswith(f"expires: {yesterday} is already past")
    assert _runs(hubenv) == []


def test_drift_repair_starts_a_server_stopped_by_hand(hubenv: HubEnv) -> None:
    """A lossless repair (the provider's `power_state` defaults to active) is applied by itself."""
    hubenv.write_spec()
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    node = hubenv.servers()["node1"]
    hubenv.conn.compute.stop_server(node)
    hubenv.conn.compute.wait_for_server(node, status="SHUTOFF", wait=30)
    hubenv.clock.advance(601)
    status = hubenv.reconcile()
    assert (status.phase, status.reason) == (Phase.BUILD_SUCCESS, Reason.DRIFT_REMEDIATED), status.message
    assert _runs(hubenv)[-1].changes == {"update": 1} and _runs(hubenv)[-1].losing == []
    assert hubenv.conn.compute.get_server(node.id).status == "ACTIVE"


def test_a_flavor_deleted_by_the_operator_holds_the_replacement_for_a_person(hubenv: HubEnv) -> None:
    hubenv.write_spec()
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    node = hubenv.servers()["node1"]
    # The operator replaces the flavor: same name, new id (how flavors are "edited" in Nova).
    old = hubenv.conn.compute.find_flavor("p1-1.5gb")
    hubenv.conn.compute.delete_flavor(old)
    hubenv.conn.compute.create_flavor(name=old.name, ram=old.ram, vcpus=old.vcpus, disk=old.disk)
    hubenv.clock.advance(601)
    status = hubenv.reconcile()
    assert (status.phase, status.reason) == (Phase.AWAITING_APPROVAL, Reason.DATA_LOSS), status.message
    assert "node1" in status.message and "flavor was deleted by the cloud's operator" in status.message
    assert hubenv.conn.compute.get_server(node.id).status == "ACTIVE"  # left alone
