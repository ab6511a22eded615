"""Broken state is a status, not a crash: an unreadable status, run record, approval or secrets file
is kept aside for a person and shown on its cluster while every other cluster carries on (the
metrics load, start-up recovery, one reconcile, the loop); a run the hub resumes by itself shows
`pending`; a retry request acts on a failed cluster at once; a spec that is a link is never run.
No real Terraform: the launcher points at a binary that does not exist, so a run fails as a
configuration error (which is all these tests need of a run)."""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from reconciler.engine import loop as loop_module
from reconciler.engine.hub import Hub, make_hub
from reconciler.engine.loop import HubBusy, Loop, take_hub_lock
from reconciler.engine.metrics import Metrics
from reconciler.engine.reconcile import reconcile
from reconciler.engine.recover import recover
from reconciler.model import runs
from reconciler.model.approvals import approval_path
from reconciler.model.retries import request_retry
from reconciler.model.settings import Settings
from reconciler.model.status import Phase, PlanInfo, Reason, Status, read_status, write_status
from reconciler.terraform import Launcher

DATA = Path(__file__).parent.parent / "data"
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def _spec(settings: Settings, name: str) -> None:
    spec = yaml.safe_load((DATA / "specs" / "base.yaml").read_text())
    spec["cluster_name"] = name
    (settings.specs_dir / f"{name}.yaml").write_text(yaml.safe_dump(spec))


def _hub(tmp_path: Path, *names: str, clock: Clock | None = None, metrics: Metrics | None = None) -> Hub:
    settings = Settings(specs_dir=tmp_path / "specs", clusters_dir=tmp_path / "clusters", drift_interval=600)
    settings.specs_dir.mkdir(exist_ok=True)
    settings.clusters_dir.mkdir(exist_ok=True)
    for name in names:
        _spec(settings, name)
    launcher = Launcher(tmp_path / "no-terraform-here", version="1.0.3")
    return make_hub(settings, metrics=metrics, terraform=launcher, clock=clock or Clock())


def _corrupt_status(hub: Hub, name: str, blob: str = '{"name": "x", "phase": "exploded"') -> Path:
    path = hub.clusters / name / "status.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(blob)
    return path


def _kept(hub: Hub, name: str, prefix: str = "status.json.broken-") -> list[str]:
    return sorted(p.name for p in (hub.clusters / name).iterdir() if p.name.startswith(prefix))


def test_a_corrupt_status_is_kept_aside_and_shown_as_an_error_that_waits_for_a_person(tmp_path: Path) -> None:
    hub = _hub(tmp_path, "hpc")
    _corrupt_status(hub, "hpc")
    outcome = reconcile("hpc", hub)
    status = outcome.status
    assert (status.phase, status.reason) == (Phase.PLAN_ERROR, Reason.STATUS_UNREADABLE)
    assert status.message.startswith("clusters/hpc/status.json is not a status this hub can read")
    assert "kept as status.json.broken-20261127T120000Z" in status.message
    assert "mchub retry hpc" in status.message
    assert _kept(hub, "hpc") == ["status.json.broken-20261127T120000Z"]
    assert read_status(hub.clusters, "hpc") == status and outcome.next_at is None
    assert reconcile("hpc", hub).status == status  # no Terraform meanwhile: it waits for a person
    assert runs.list_records(hub.clusters, "hpc") == []


def test_a_retry_plans_again_after_an_unreadable_status(tmp_path: Path) -> None:
    clock = Clock()
    hub = _hub(tmp_path, "hpc", clock=clock)
    _corrupt_status(hub, "hpc")
    reconcile("hpc", hub)
    clock.advance(60)
    request_retry(hub.settings.specs_dir, "hpc", "alice", clock.now - dt.timedelta(seconds=1))
    status = reconcile("hpc", hub).status
    assert len(runs.list_records(hub.clusters, "hpc")) == 1  # a run was made (and failed: no binary)
    assert runs.list_records(hub.clusters, "hpc")[0].reason == "retry_due"
    assert status.reason == Reason.CONFIG_ERROR


def test_a_retry_request_acts_on_a_configuration_error_at_once_and_once(tmp_path: Path) -> None:
    clock = Clock()
    hub = _hub(tmp_path, "hpc", clock=clock)
    assert reconcile("hpc", hub).status.reason == Reason.CONFIG_ERROR  # permanent: waits for a change
    clock.advance(60)
    assert reconcile("hpc", hub).status.reason == Reason.CONFIG_ERROR
    assert len(runs.list_records(hub.clusters, "hpc")) == 1
    request_retry(hub.settings.specs_dir, "hpc", "alice", clock.now)
    clock.advance(1)
    reconcile("hpc", hub)
    assert [r.reason for r in runs.list_records(hub.clusters, "hpc")] == ["retry_due", "new_spec"]
    clock.advance(60)
    reconcile("hpc", hub)  # the request was acted on: no second run for it
    assert len(runs.list_records(hub.clusters, "hpc")) == 2


def test_the_metrics_load_survives_a_corrupt_status(tmp_path: Path) -> None:
    hub = _hub(tmp_path)
    _corrupt_status(hub, "broken")
    write_status(hub.clusters, Status(name="fine", phase=Phase.BUILD_SUCCESS, updated_at=T0))
    metrics = Metrics()
    _hub(tmp_path, metrics=metrics)  # make_hub loads the metrics: it used to raise here
    assert b'mchub_clusters{phase="build_success"} 1.0' in metrics.render()


def test_recovery_keeps_a_corrupt_status_aside_and_resumes_the_others_as_pending(tmp_path: Path) -> None:
    hub = _hub(tmp_path, "broken", "hpc")
    _corrupt_status(hub, "broken")
    record = runs.RunRecord(id="20261127T115900Z-build-aa", cluster="hpc", action="build", reason="new_spec",
                            spec_hash="h", started_at=T0, hub_pid=1, terraform_pid=None)  # fmt: skip
    runs.write_record(hub.clusters, record)
    running = Status(name="hpc", phase=Phase.BUILD_RUNNING, reason=Reason.NEW_SPEC, run_id=record.id,
                     observed_hash="h", resources=["a"], updated_at=T0)  # fmt: skip
    write_status(hub.clusters, running)
    assert recover(hub, ["broken", "hpc"], wait_for_terraform=0) == ["hpc"]
    resumed = read_status(hub.clusters, "hpc")
    assert resumed is not None
    # A polling client (the seed's workflow) keeps waiting: pending, not build_error.
    assert (resumed.phase, resumed.reason) == (Phase.PENDING, Reason.INTERRUPTED)
    assert resumed.failures == 0 and resumed.resources == ["a"]
    assert runs.read_record(hub.clusters, "hpc", record.id).result == "interrupted"  # type: ignore[union-attr]
    broken = read_status(hub.clusters, "broken")
    assert broken is not None and broken.reason == Reason.STATUS_UNREADABLE
    assert _kept(hub, "broken") == ["status.json.broken-20261127T120000Z"]


def test_an_unreadable_run_record_at_start_up_is_kept_aside(tmp_path: Path) -> None:
    hub = _hub(tmp_path, "hpc")
    folder = runs.runs_dir(hub.clusters, "hpc")
    folder.mkdir(parents=True)
    (folder / "r1.json").write_text("{half")
    write_status(hub.clusters, Status(name="hpc", phase=Phase.PLAN_RUNNING, run_id="r1", updated_at=T0))
    assert recover(hub, ["hpc"], wait_for_terraform=0) == ["hpc"]
    assert sorted(p.name for p in folder.iterdir()) == ["r1.json.broken-20261127T120000Z"]
    assert read_status(hub.clusters, "hpc").phase == Phase.PENDING  # type: ignore[union-attr]


def test_an_unreadable_approval_is_kept_aside_and_approves_nothing(tmp_path: Path) -> None:
    hub = _hub(tmp_path, "hpc")
    observed = hub.specs.observe("hpc")
    plan = PlanInfo(id="p1", spec_hash=observed.hash or "", created_at=T0)
    waiting = Status(name="hpc", phase=Phase.AWAITING_APPROVAL, reason=Reason.AWAITING_APPROVAL,
                     observed_hash=observed.hash, plan=plan, updated_at=T0)  # fmt: skip
    write_status(hub.clusters, waiting)
    path = approval_path(hub.settings.specs_dir, "hpc")
    path.parent.mkdir()
    path.write_text('{"plan_id": ')
    status = reconcile("hpc", hub).status
    assert status.phase == Phase.AWAITING_APPROVAL and runs.list_records(hub.clusters, "hpc") == []
    assert ".approvals/hpc.json is not valid JSON" in status.message
    assert "approve the plan again" in status.message
    assert sorted(p.name for p in path.parent.iterdir()) == ["hpc.json.broken-20261127T120000Z"]


def test_a_broken_secrets_file_stops_the_run_for_a_person(tmp_path: Path) -> None:
    hub = _hub(tmp_path, "hpc")
    secrets_file = hub.clusters / "hpc" / "secrets.json"
    secrets_file.parent.mkdir()
    secrets_file.write_text('{"guest_passwd": "the-guests-know-th')
    status = reconcile("hpc", hub).status
    assert (status.phase, status.reason) == (Phase.PLAN_ERROR, Reason.CONFIG_ERROR)
    assert "clusters/hpc/secrets.json is not valid JSON" in status.message
    assert "kept as secrets.json.broken-20261127T120000Z" in status.message
    assert "restore it to keep the guest password" in status.message
    assert _kept(hub, "hpc", "secrets.json.broken-") == ["secrets.json.broken-20261127T120000Z"]


@pytest.mark.timeout(20)
def test_a_spec_that_is_a_link_is_invalid_and_never_run(tmp_path: Path) -> None:
    hub = _hub(tmp_path)
    _spec(hub.settings, "real")
    os.replace(hub.settings.specs_dir / "real.yaml", tmp_path / "elsewhere.yaml")
    (hub.settings.specs_dir / "hpc.yaml").symlink_to(tmp_path / "elsewhere.yaml")
    (hub.settings.specs_dir / "zero.yaml").symlink_to("/dev/zero")
    for name, why in (("hpc", "symbolic link"), ("zero", "symbolic link")):
        status = reconcile(name, hub).status
        assert status.phase == Phase.INVALID and why in status.message, status.message
        assert runs.list_records(hub.clusters, name) == []
    os.mkfifo(hub.settings.specs_dir / "pipe.yaml")
    status = reconcile("pipe", hub).status
    assert status.phase == Phase.INVALID and "specs/pipe.yaml is a named pipe (FIFO)" in status.message


def test_one_clusters_exception_never_kills_the_loop_and_is_retried_with_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = _hub(tmp_path, "bad", "good")
    calls: list[str] = []

    def flaky(name: str, hub: Hub, policy: object = None) -> object:
        calls.append(name)
        raise RuntimeError(f"bug while reconciling {name}")

    monkeypatch.setattr(loop_module, "reconcile", flaky)
    loop = Loop(hub)
    with loop.cond:
        loop.inflight.add("bad")
    before = time.monotonic()
    loop._work("bad", hub.policy)
    assert "bad" not in loop.inflight  # never "in flight" forever
    assert loop.crashes == {"bad": 1}
    assert 15 * 0.8 <= loop.due["bad"] - before <= 15 * 1.2 + 1  # the first step of the backoff
    loop._work("bad", hub.policy)
    assert loop.crashes == {"bad": 2}
    monkeypatch.setattr(loop_module, "reconcile", reconcile)  # the file was fixed
    loop.poke("bad", delay=0)
    loop._work("bad", hub.policy)
    assert loop.crashes == {} and calls == ["bad", "bad"]
    loop.pool.shutdown()


def test_a_failing_turn_is_logged_and_the_loop_goes_on_with_a_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = _hub(tmp_path)
    hub = replace(hub, settings=replace(hub.settings, resync_interval=0.05))
    loop = Loop(hub)
    turns = {"n": 0}

    def failing_universe() -> set[str]:
        turns["n"] += 1
        if turns["n"] in (2, 3):  # the first call is the start-up listing
            raise OSError("clusters/ went away for a moment")
        return set()

    monkeypatch.setattr(loop, "_universe", failing_universe)
    monkeypatch.setattr(loop_module, "retry_delay", lambda name, n, backoff=(): 0.05)
    worker = threading.Thread(target=loop.run, daemon=True)
    worker.start()
    deadline = time.monotonic() + 10
    while turns["n"] < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert turns["n"] >= 6 and worker.is_alive() and loop.alive()
    beat = loop.heartbeat
    time.sleep(0.2)
    assert loop.heartbeat > beat  # it still turns
    loop.stop()
    worker.join(timeout=10)
    assert not worker.is_alive() and not loop.alive()  # a loop that returned is not alive


def test_a_stale_heartbeat_is_not_alive(tmp_path: Path) -> None:
    loop = Loop(_hub(tmp_path))
    assert loop.alive()
    loop.heartbeat -= 3 * loop.settings.resync_interval + 1
    assert not loop.alive()
    loop.beat()
    assert loop.alive()
    loop.pool.shutdown()


def test_the_hub_lock_is_never_taken_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "precious"
    target.write_text("keep me")
    clusters = tmp_path / "clusters"
    clusters.mkdir()
    (clusters / ".mchub.lock").symlink_to(target)
    with pytest.raises(HubBusy, match="remove it if it is a link"):
        take_hub_lock(clusters)
    assert target.read_text() == "keep me"


def test_retry_requests_wake_the_loop(tmp_path: Path) -> None:
    specs = tmp_path / "specs"
    assert loop_module._name_of(str(specs / ".retries" / "hpc.json"), specs) == "hpc"
    assert loop_module._name_of(str(specs / ".approvals" / "hpc.json"), specs) == "hpc"
    assert loop_module._name_of(str(specs / ".retries" / "hpc.json.tmp"), specs) is None
