"""The shared rows on a real PostgreSQL: versions say what changed since a hub last looked, a run's
log is kept to its last MiB, a late older request changes nothing, text PostgreSQL cannot hold
(NUL) is stored anyway, and the mirror's own thread follows another hub's writes without pulling
over the clusters its hub holds."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path

from reconciler.store.db import Database
from reconciler.store.leases import Leases
from reconciler.store.mirror import Mirror
from reconciler.store.shared import (
    LOG_CAP,
    changes_since,
    cluster,
    put_request,
    put_run,
    put_status,
    requests_since,
)

AT = dt.datetime(2025, 5, 1, 12, 0, tzinfo=dt.UTC)


def _record(name: str, run_id: str, message: str = "") -> dict[str, object]:
    return {
        "id": run_id, "cluster": name, "action": "apply", "reason": "new_spec", "spec_hash": None,
        "started_at": AT.isoformat(), "hub_pid": 1, "message": message,
    }  # fmt: skip


def test_changes_since_names_only_what_changed(db: Database) -> None:
    leases = Leases(db, "hub-a", 30)
    assert leases.take("alpha") and leases.take("beta")
    put_status(db, "alpha", {"name": "alpha"}, "hub-a")
    names, mark = changes_since(db, 0)
    assert names == {"alpha"}
    assert changes_since(db, mark) == (set(), mark)
    put_run(db, "beta", _record("beta", "r1"), "log", "hub-a")
    names, later = changes_since(db, mark)
    assert names == {"beta"} and later > mark
    assert [r.id for r in cluster(db, "beta").runs] == ["r1"]
    assert cluster(db, "beta", runs_since=later).runs == []
    assert put_status(db, "gamma", {"name": "gamma"}, "hub-a") is None  # no lease on gamma: refused


def test_a_runs_log_is_kept_to_its_tail_and_nul_is_stored(db: Database) -> None:
    leases = Leases(db, "hub-a", 30)
    assert leases.take("alpha")
    log = "é" * LOG_CAP + "the end\n"  # 2 MiB of two-byte characters
    put_run(db, "alpha", _record("alpha", "r1", "a\x00b"), log, "hub-a")
    run = cluster(db, "alpha").runs[0]
    assert len(run.log.encode()) <= LOG_CAP and run.log.endswith("é" * 10 + "the end\n")
    assert run.record["message"] == "a\ufffdb"


def test_a_late_older_request_changes_nothing(db: Database) -> None:
    newer = {"cluster": "alpha", "plan_id": "p2", "at": (AT + dt.timedelta(minutes=1)).isoformat()}
    assert put_request(db, "approval", "alpha", newer) is not None
    assert (
        put_request(db, "approval", "alpha", {"cluster": "alpha", "plan_id": "p1", "at": AT.isoformat()})
        is None
    )
    found, _ = requests_since(db, 0)
    assert [(r.kind, r.cluster, r.body["plan_id"]) for r in found] == [("approval", "alpha", "p2")]


def test_the_mirror_thread_follows_other_hubs_but_not_its_own_clusters(
    db: Database, other_db: Database, tmp_path: Path
) -> None:
    writer = Leases(db, "hub-a", 30)
    reader = Leases(other_db, "hub-b", 30)
    mirror = Mirror(other_db, tmp_path / "specs", tmp_path / "clusters", "hub-b", reader.mine)
    seen = threading.Event()
    mirror.listeners.append(lambda name: seen.set() if name == "alpha" else None)
    assert writer.take("alpha") and reader.take("own")
    put_status(other_db, "own", {"name": "own", "phase": "build_running"}, "hub-b")
    mirror.start(interval=0.1)
    try:
        put_status(db, "alpha", {"name": "alpha", "phase": "build_success"}, "hub-a")
        assert seen.wait(10)
    finally:
        mirror.stop()
    assert '"build_success"' in (tmp_path / "clusters" / "alpha" / "status.json").read_text()
    assert not (tmp_path / "clusters" / "own").exists()


def test_a_row_this_hub_cannot_read_does_not_stop_the_others(db: Database, tmp_path: Path) -> None:
    leases = Leases(db, "hub-a", 30)
    assert leases.take("alpha") and leases.take("beta")
    put_status(db, "alpha", {"name": "alpha", "phase": "a-phase-of-a-newer-hub"}, "hub-a")
    put_status(db, "beta", {"name": "beta", "phase": "build_success"}, "hub-a")
    mirror = Mirror(db, tmp_path / "specs", tmp_path / "clusters", "hub-b", lambda name: False)
    mirror.catch_up()
    assert not (tmp_path / "clusters" / "alpha" / "status.json").exists()
    assert '"build_success"' in (tmp_path / "clusters" / "beta" / "status.json").read_text()


def test_a_cluster_gets_an_empty_terraform_state_row_once_and_keeps_its_own(pg_url: str) -> None:
    """Without a row, Terraform's pg backend locks a new workspace with one lock shared by every
    schema, for its whole first apply: the hub makes the row first, and never touches a real one."""
    from reconciler.store.db import Database
    from reconciler.store.shared import ensure_state, terraform_state

    db = Database(pg_url)
    try:
        db.ensure_schema()
        ensure_state(db, "new-cluster")
        first = json.loads(terraform_state(db, "new-cluster") or "{}")
        assert first["resources"] == [] and first["version"] == 4 and first["lineage"]
        with db.connection() as conn:  # Terraform writes its state over it
            conn.execute("UPDATE mchub_tf_new_cluster.states SET data = %s WHERE name = 'default'",
                         ('{"version": 4, "serial": 7, "resources": [{"type": "x"}]}',))  # fmt: skip
        ensure_state(db, "new-cluster")
        assert json.loads(terraform_state(db, "new-cluster") or "{}")["serial"] == 7
    finally:
        db.close()
