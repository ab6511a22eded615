"""Two hubs' folders kept in step through a real PostgreSQL: what the holder of a cluster writes
(status, run record, log, Terraform's state in its pg backend) appears in the other hub's files,
people's requests travel both ways with the newer winning, a cluster gone from the holder loses
its status elsewhere, and a push made while PostgreSQL restarts lands once it is back."""

from __future__ import annotations

import datetime as dt
import json
import os
import time

import psycopg
from pgserver import PgServer
from storedirs import HubDirs

from reconciler.model import approvals, retries, runs
from reconciler.model.status import Phase, Reason, Status, read_status, status_path, write_status
from reconciler.model.tfstate import STATE_COPY, state_schema
from reconciler.store.db import Database
from reconciler.store.leases import Leases
from reconciler.store.mirror import Mirror
from reconciler.store.shared import cluster, terraform_state

NOW = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)


def _run(hub: HubDirs, name: str, run_id: str, log: str, result: runs.Result = "running") -> runs.RunRecord:
    record = runs.RunRecord(
        id=run_id, cluster=name, action="apply", reason="new_spec", spec_hash="h1",
        started_at=NOW, hub_pid=os.getpid(), result=result,
    )  # fmt: skip
    runs.write_record(hub.clusters, record)
    with runs.open_log(hub.clusters, name, run_id) as f:
        f.write(log)
    return record


def _building(hub: HubDirs, name: str, run_id: str) -> Status:
    status = Status(name=name).started(NOW, Phase.BUILD_RUNNING, Reason.NEW_SPEC, run_id, "h1")
    write_status(hub.clusters, status)
    return status


def _terraform_writes_state(pg_url: str, name: str, data: str) -> None:
    """What Terraform's pg backend creates and writes (backend/remote-state/pg)."""
    schema = state_schema(name)
    with psycopg.connect(pg_url) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.states (id bigserial PRIMARY KEY, name text, data text)"
        )
        conn.execute(f"CREATE UNIQUE INDEX IF NOT EXISTS states_by_name ON {schema}.states (name)")
        conn.execute(
            f"INSERT INTO {schema}.states (name, data) VALUES ('default', %s) "
            "ON CONFLICT (name) DO UPDATE SET data = EXCLUDED.data",
            (data,),
        )


def test_terraform_state_is_read_from_the_pg_backends_table(db: Database, pg_url: str) -> None:
    assert terraform_state(db, "alpha") is None  # no schema yet: Terraform never ran
    state = json.dumps({"version": 4, "serial": 3, "resources": [{"type": "openstack_compute_instance_v2"}]})
    _terraform_writes_state(pg_url, "alpha", state)
    assert terraform_state(db, "alpha") == state
    assert terraform_state(db, "alpha-2") is None


def test_two_hubs_see_the_same_cluster(
    db: Database, other_db: Database, hub_a: HubDirs, hub_b: HubDirs, pg_url: str
) -> None:
    lease_a, lease_b = Leases(db, "hub-a", 30), Leases(other_db, "hub-b", 30)
    a = Mirror(db, hub_a.specs, hub_a.clusters, "hub-a", lease_a.mine)
    b = Mirror(other_db, hub_b.specs, hub_b.clusters, "hub-b", lease_b.mine)
    told: list[str] = []
    b.listeners.append(told.append)
    assert lease_a.take("alpha")

    first = _run(hub_a, "alpha", "20250501T120000Z-apply-aaaaaa", "Plan: 3 to add\n")
    status = _building(hub_a, "alpha", first.id)
    _terraform_writes_state(pg_url, "alpha", '{"version": 4, "serial": 1}')
    a.push("alpha")
    assert a.dirty() == set()
    b.tick()
    assert read_status(hub_b.clusters, "alpha") == status
    assert runs.read_record(hub_b.clusters, "alpha", first.id) == first
    assert runs.log_path(hub_b.clusters, "alpha", first.id).read_text() == "Plan: 3 to add\n"
    copy = hub_b.clusters / "alpha" / STATE_COPY
    assert copy.read_text() == '{"version": 4, "serial": 1}'
    assert copy.stat().st_mode & 0o777 == 0o600
    assert told == ["alpha"]

    # the run goes on: its log grows, it ends, a second run starts; the first is not rewritten
    with runs.open_log(hub_a.clusters, "alpha", first.id) as f:
        f.write("Apply complete!\n")
    runs.write_record(hub_a.clusters, first.model_copy(update={"result": "succeeded"}))
    a.push("alpha")
    b.tick()
    assert runs.log_path(hub_b.clusters, "alpha", first.id).read_text() == "Plan: 3 to add\nApply complete!\n"
    first_file = runs.record_path(hub_b.clusters, "alpha", first.id)
    before = first_file.stat().st_mtime_ns
    second = _run(hub_a, "alpha", "20250501T130000Z-apply-bbbbbb", "second run\n")
    status = _building(hub_a, "alpha", second.id)
    a.push("alpha")
    b.tick()
    assert read_status(hub_b.clusters, "alpha") == status
    assert [r.id for r in runs.list_records(hub_b.clusters, "alpha")] == [second.id, first.id]
    assert first_file.stat().st_mtime_ns == before

    # a hub starting late catches up from the database alone
    hub_c = HubDirs(hub_a.clusters.parent.parent / "c")
    c = Mirror(other_db, hub_c.specs, hub_c.clusters, "hub-c", lambda name: False)
    c.catch_up()
    assert read_status(hub_c.clusters, "alpha") == status
    assert len(runs.list_records(hub_c.clusters, "alpha")) == 2

    # the cluster is gone from its holder: gone from the others
    status_path(hub_a.clusters, "alpha").unlink()
    a.push("alpha")
    b.tick()
    assert not status_path(hub_b.clusters, "alpha").exists()
    assert cluster(db, "alpha").status is None


def test_requests_travel_both_ways_and_the_newer_wins(
    db: Database, other_db: Database, hub_a: HubDirs, hub_b: HubDirs
) -> None:
    a = Mirror(db, hub_a.specs, hub_a.clusters, "hub-a", lambda name: False)
    b = Mirror(other_db, hub_b.specs, hub_b.clusters, "hub-b", lambda name: False)
    approvals.approve(hub_b.specs, "alpha", "20250501T120000Z-plan-aaaaaa", "alice", NOW)
    retries.request_retry(hub_a.specs, "beta", "bob", NOW)
    b.sync_requests()
    a.sync_requests()
    b.sync_requests()
    assert approvals.read_approval(hub_a.specs, "alpha") == "20250501T120000Z-plan-aaaaaa"
    assert approvals.read_approver(hub_a.specs, "alpha") == "alice"
    assert retries.read_request(hub_b.specs, "beta") == (NOW, "bob")

    # a later approval on A replaces B's; an older one written late on B does not win
    later = NOW + dt.timedelta(minutes=5)
    approvals.approve(hub_a.specs, "alpha", "20250501T125000Z-plan-cccccc", "carol", later)
    a.sync_requests()
    approvals.approve(
        hub_b.specs, "alpha", "20250501T110000Z-plan-oooooo", "old", NOW - dt.timedelta(hours=1)
    )
    b.sync_requests()
    a.sync_requests()
    for hub in (hub_a, hub_b):
        assert approvals.read_approval(hub.specs, "alpha") == "20250501T125000Z-plan-cccccc"
        assert approvals.read_approver(hub.specs, "alpha") == "carol"


def test_a_push_during_a_postgresql_restart_lands_after_it(
    db: Database, other_db: Database, hub_a: HubDirs, hub_b: HubDirs, pg_server: PgServer
) -> None:
    leases = Leases(db, "hub-a", 30)
    a = Mirror(db, hub_a.specs, hub_a.clusters, "hub-a", leases.mine)
    b = Mirror(other_db, hub_b.specs, hub_b.clusters, "hub-b", lambda name: False)
    assert leases.take("alpha")
    record = _run(hub_a, "alpha", "20250501T120000Z-apply-aaaaaa", "written while the database was down\n")
    pg_server.stop()
    try:
        status = _building(hub_a, "alpha", record.id)
        a.push("alpha")  # never raises
        assert a.dirty() == {"alpha"}
    finally:
        pg_server.start()
    deadline = time.monotonic() + 30
    while a.dirty():  # what follow does every half second
        assert time.monotonic() < deadline, "the dirty push never landed"
        try:
            a.tick()
        except Exception:  # the pool may still be reconnecting
            time.sleep(0.3)
    deadline = time.monotonic() + 30
    while True:
        try:
            b.tick()
            break
        except Exception:
            assert time.monotonic() < deadline
            time.sleep(0.3)
    assert read_status(hub_b.clusters, "alpha") == status
    assert (
        runs.log_path(hub_b.clusters, "alpha", record.id).read_text()
        == "written while the database was down\n"
    )


def test_a_hub_that_lost_the_lease_cannot_push(
    db: Database, other_db: Database, hub_a: HubDirs, hub_b: HubDirs, pg_url: str
) -> None:
    lease_a, lease_b = Leases(db, "hub-a", 3), Leases(other_db, "hub-b", 3)
    a = Mirror(db, hub_a.specs, hub_a.clusters, "hub-a", lease_a.mine)
    b = Mirror(other_db, hub_b.specs, hub_b.clusters, "hub-b", lease_b.mine)
    assert lease_a.take("alpha")
    kept = _building(hub_a, "alpha", "20250501T120000Z-apply-aaaaaa")
    a.push("alpha")
    b.tick()
    with psycopg.connect(pg_url) as conn:  # A's lease runs out (as if A had stopped renewing)
        conn.execute("UPDATE mchub_leases SET expires_at = now() - interval '1 second'")
    assert lease_b.take("alpha")
    gone = Status(name="alpha").started(NOW, Phase.DESTROY_RUNNING, Reason.ABSENT_REQUESTED, "x", None)
    write_status(hub_a.clusters, gone)
    a.push("alpha")
    assert a.dirty() == set()  # refused, not retried
    stored = cluster(db, "alpha").status
    assert stored is not None and Status.model_validate(stored) == kept


def test_an_idle_push_writes_nothing_for_the_other_hubs_to_pull(db: Database, hub_a: HubDirs) -> None:
    """The loop pushes after every look at a cluster it holds; a look that changed no file must not
    give the cluster a new version, or every resync would make every other hub pull every cluster."""
    lease = Leases(db, "hub-a", 30)
    a = Mirror(db, hub_a.specs, hub_a.clusters, "hub-a", lease.mine)
    assert lease.take("alpha")
    first = _run(hub_a, "alpha", "20250501T120000Z-apply-aaaaaa", "Plan: 3 to add\n")
    _building(hub_a, "alpha", first.id)
    assert a.push("alpha") is True
    version = cluster(db, "alpha").version
    assert a.push("alpha") is False
    assert cluster(db, "alpha").version == version
    time.sleep(0.01)  # a new status file: pushed again
    write_status(
        hub_a.clusters, Status(name="alpha").started(NOW, Phase.PLAN_RUNNING, Reason.NEW_SPEC, "r2", "h2")
    )
    assert a.push("alpha") is True
    assert cluster(db, "alpha").version > version
