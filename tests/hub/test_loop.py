"""The loop and crash safety: file events drive reconciles (debounced), removed specs are kept as
orphans unless pruning is on, mass removals are held, and a hub killed with SIGKILL in the middle
of an apply converges on restart with no duplicate servers and no lock left behind."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import pytest

from reconciler.engine.loop import Loop
from reconciler.model import runs
from reconciler.model.status import Phase, Reason, Status, read_status, write_status

from .conftest import HubEnv

pytestmark = [pytest.mark.terraform, pytest.mark.timeout(300)]


def wait_for(check: Callable[[], bool], timeout: float = 120, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def running_loop(env: HubEnv) -> Iterator[Loop]:
    env.hub = replace(env.hub, clock=lambda: dt.datetime.now(dt.UTC))
    loop = Loop(env.hub)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.stop()
        thread.join(timeout=30)


def phase_of(env: HubEnv, name: str = "hpc") -> Phase | None:
    status = read_status(env.settings.clusters_dir, name)
    return status.phase if status else None


def test_many_quick_edits_make_one_run_for_the_last_version(hubenv: HubEnv) -> None:
    with running_loop(hubenv):
        time.sleep(0.5)  # the loop is idle and watching
        for count in range(1, 9):
            hubenv.write_spec(instances__node__count=count)
            time.sleep(0.05)
        wait_for(lambda: phase_of(hubenv) == Phase.BUILD_SUCCESS, what="build_success")
        time.sleep(1.0)  # nothing else is queued
    records = runs.list_records(hubenv.settings.clusters_dir, "hpc")
    assert [r.action for r in records] == ["build"]
    assert len([n for n in hubenv.servers() if n.startswith("node")]) == 8


def test_removed_spec_is_orphaned_then_pruned(hubenv: HubEnv) -> None:
    hubenv.write_spec()
    assert hubenv.reconcile().phase == Phase.BUILD_SUCCESS
    (hubenv.settings.specs_dir / "hpc.yaml").unlink()
    status = hubenv.reconcile()
    assert status.orphaned and status.reason == Reason.SPEC_REMOVED
    assert status.phase == Phase.BUILD_SUCCESS
    assert len(hubenv.servers()) == 3  # kept: pruning is off

    hubenv.hub = replace(hubenv.hub, policy=replace(hubenv.hub.policy, prune=True))
    status = hubenv.reconcile()
    assert status.phase == Phase.DESTROYED, status.message
    assert hubenv.servers() == {}


def test_mass_removal_is_held_for_a_person(hubenv: HubEnv) -> None:
    hubenv.hub = replace(hubenv.hub, policy=replace(hubenv.hub.policy, prune=True))
    now = dt.datetime.now(dt.UTC)
    for name in ("aa", "bb", "cc"):
        write_status(
            hubenv.settings.clusters_dir,
            Status(
                name=name,
                phase=Phase.BUILD_SUCCESS,
                applied_hash="h",
                observed_hash="h",
                resources=["x"],
                updated_at=now,
            ),
        )
    hubenv.write_spec("cc")
    loop = Loop(hubenv.hub)
    assert loop._policy().prune_held  # 2 of 3 deployed clusters lost their spec at once
    hubenv.write_spec("bb")
    assert not loop._policy().prune_held  # 1 of 3: under the default 50% share
    loop.pool.shutdown()


def _hub_command(env: HubEnv, *args: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reconciler.entry.cli",
        "reconcile",
        "--specs",
        str(env.settings.specs_dir),
        "--clusters",
        str(env.settings.clusters_dir),
        *args,
    ]


def test_kill_9_during_apply_converges_without_duplicates(hubenv: HubEnv) -> None:
    hubenv.box.faults.boot_delay = 4.0  # servers take a while: the kill lands mid-apply
    environ = {**os.environ, "MCHUB_SANDBOX_DATA": str(hubenv.info.data_dir)}
    hubenv.write_spec(instances__node__count=2)
    log = (hubenv.root / "hub.log").open("w")
    hub = subprocess.Popen(_hub_command(hubenv), env=environ, stdout=log, stderr=log, start_new_session=True)

    def applying() -> bool:
        status = read_status(hubenv.settings.clusters_dir, "hpc")
        return (
            status is not None
            and status.phase == Phase.BUILD_RUNNING
            and any(p.state == "running" for p in status.progress.values())
        )

    try:
        wait_for(applying, what="the apply to start")
    finally:
        os.kill(hub.pid, signal.SIGKILL)
        hub.wait()
        log.close()
    status = read_status(hubenv.settings.clusters_dir, "hpc")
    assert status is not None and status.phase == Phase.BUILD_RUNNING  # what the dead hub left

    hubenv.box.faults.boot_delay = 0.2
    done = subprocess.run(
        _hub_command(hubenv, "--once", "hpc"), env=environ, capture_output=True, text=True, timeout=240
    )
    status = read_status(hubenv.settings.clusters_dir, "hpc")
    assert status is not None and status.phase == Phase.BUILD_SUCCESS, (done.stdout, done.stderr)
    names = [s.name for s in hubenv.conn.compute.servers()]
    assert sorted(names) == ["hpc-login1", "hpc-mgmt1", "hpc-node1", "hpc-node2"]  # no duplicates
    workdir = hubenv.settings.clusters_dir / "hpc"
    assert not (workdir / ".terraform.tfstate.lock.info").exists()
    records = runs.list_records(hubenv.settings.clusters_dir, "hpc")
    assert [r.result for r in records][-1] == "interrupted"
    assert records[0].result == "succeeded"


def test_second_hub_on_the_same_clusters_is_refused(hubenv: HubEnv, tmp_path: Path) -> None:
    from reconciler.engine.loop import HubBusy, take_hub_lock

    lock = take_hub_lock(hubenv.settings.clusters_dir)
    try:
        with pytest.raises(HubBusy, match=f"pid {os.getpid()}"):
            take_hub_lock(hubenv.settings.clusters_dir)
    finally:
        lock.close()


def test_ctrl_c_during_apply_saves_state_and_converges(hubenv: HubEnv) -> None:
    """A graceful stop (what Ctrl-C does): Terraform gets SIGINT, finishes the calls in flight,
    saves its state; the next start re-plans from that state and creates nothing twice."""
    hubenv.box.faults.boot_delay = 3.0
    hubenv.write_spec(instances__node__count=2)
    with running_loop(hubenv):
        wait_for(
            lambda: any(
                p.state == "running"
                for p in (
                    read_status(hubenv.settings.clusters_dir, "hpc") or Status(name="x")
                ).progress.values()
            ),
            what="the apply to start",
        )
    status = hubenv.status()
    # Resumed by the hub itself: pending, never an error phase a polling client would stop at.
    assert status.phase == Phase.PENDING and status.reason == Reason.INTERRUPTED, status.message
    assert runs.list_records(hubenv.settings.clusters_dir, "hpc")[0].result == "interrupted"
    hubenv.box.faults.boot_delay = 0.2
    hubenv.hub.terraform.resume()  # the same process goes on after the stop
    status = hubenv.reconcile()
    assert status.phase == Phase.BUILD_SUCCESS, status.message
    names = sorted(s.name for s in hubenv.conn.compute.servers())
    assert names == ["hpc-login1", "hpc-mgmt1", "hpc-node1", "hpc-node2"]


def test_clusters_dropped_together_build_in_parallel(hubenv: HubEnv) -> None:
    """Several specs at once, several workers: every one builds (concurrent `terraform init`s
    once raced on a shared plugin cache and left clusters in plan_error)."""
    hubenv.hub = replace(hubenv.hub, settings=replace(hubenv.settings, workers=4))
    names = [f"par{i}" for i in range(4)]  # the default seed has 4 floating IPs
    with running_loop(hubenv) as loop:
        assert loop.settings.workers == 4
        for name in names:
            hubenv.write_spec(name, instances__node__count=1)

        def all_built() -> bool:
            return all(phase_of(hubenv, n) == Phase.BUILD_SUCCESS for n in names)

        wait_for(all_built, timeout=240, what="every cluster to build")
    assert all(len(hubenv.servers(n)) == 3 for n in names)


def test_start_up_reports_state_locks_and_removes_only_stale_ones(hubenv: HubEnv) -> None:
    import json

    from reconciler.engine.recover import recover

    now = dt.datetime.now(dt.UTC)
    info = {"ID": "f00d", "Operation": "OperationTypeApply", "Who": "root@old", "Created": "2026-11-27"}
    for name in ("stale", "held"):
        workdir = hubenv.settings.clusters_dir / name
        workdir.mkdir(parents=True)
        (workdir / ".terraform.tfstate.lock.info").write_text(json.dumps(info))
        (workdir / "terraform.tfstate").write_text("{}")
        write_status(
            hubenv.settings.clusters_dir, Status(name=name, phase=Phase.BUILD_SUCCESS, updated_at=now)
        )
    # Another live process holds the lock, as a running Terraform would (POSIX locks belong to a
    # process, so the test cannot hold it itself).
    holder_code = (
        "import fcntl, sys, time; f = open(sys.argv[1], 'r+'); fcntl.lockf(f, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(60)"
    )
    state = hubenv.settings.clusters_dir / "held" / "terraform.tfstate"
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code, str(state)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        recover(hubenv.hub, ["stale", "held"])
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    held = read_status(hubenv.settings.clusters_dir, "held")
    stale = read_status(hubenv.settings.clusters_dir, "stale")
    assert stale is not None and "removed the stale note of state lock f00d" in stale.message
    assert not (hubenv.settings.clusters_dir / "stale" / ".terraform.tfstate.lock.info").exists()
    assert held is not None and "lock f00d (OperationTypeApply) by root@old" in held.message
    assert "held by a live process" in held.message
    assert (hubenv.settings.clusters_dir / "held" / ".terraform.tfstate.lock.info").exists()


def test_a_corrupt_status_stops_nothing_and_a_retry_wakes_the_loop(hubenv: HubEnv) -> None:
    """One cluster's unreadable status.json is kept aside and shown; the loop carries on building
    the others; a person's retry request (a file in specs/.retries/) wakes the loop at once."""
    from reconciler.model.retries import request_retry

    hubenv.write_spec("broken")
    path = hubenv.settings.clusters_dir / "broken" / "status.json"
    path.parent.mkdir(parents=True)
    path.write_text('{"name": "broken", "phase": ')
    hubenv.write_spec("hpc")
    with running_loop(hubenv) as loop:
        wait_for(lambda: phase_of(hubenv, "hpc") == Phase.BUILD_SUCCESS, what="hpc to build")
        broken = hubenv.status("broken")
        assert broken.phase == Phase.PLAN_ERROR and broken.reason == Reason.STATUS_UNREADABLE
        assert any(p.name.startswith("status.json.broken-") for p in path.parent.iterdir())
        assert loop.alive()
        time.sleep(0.5)
        request_retry(hubenv.settings.specs_dir, "broken", "alice", dt.datetime.now(dt.UTC))
        wait_for(lambda: phase_of(hubenv, "broken") == Phase.BUILD_SUCCESS, what="the retried cluster")
    assert runs.list_records(hubenv.settings.clusters_dir, "broken")[0].reason == "retry_due"
