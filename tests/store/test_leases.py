"""Leases between hubs on a real PostgreSQL, with a 3-second ttl: a cluster is held by one hub at a
time, a hub that stops renewing loses it within the ttl (and knows it), its writes are refused from
then on, and hubs racing for one cluster never both win."""

from __future__ import annotations

import threading
import time

import psycopg

from reconciler.store.db import Database
from reconciler.store.leases import Leases
from reconciler.store.shared import cluster, put_status

TTL = 3.0


def _epoch(pg_url: str, name: str) -> int:
    with psycopg.connect(pg_url) as conn:
        row = conn.execute("SELECT epoch FROM mchub_leases WHERE name = %s", (name,)).fetchone()
    assert row is not None
    return int(row[0])


def test_a_lease_passes_to_another_hub_only_after_the_holder_stops_renewing(
    db: Database, other_db: Database, pg_url: str
) -> None:
    a, b = Leases(db, "hub-a", TTL), Leases(other_db, "hub-b", TTL)
    assert a.take("alpha")
    assert a.mine("alpha") and a.held() == {"alpha"}
    assert not b.take("alpha")
    assert not b.mine("alpha")
    assert b.holder_of("alpha") == "hub-a"
    assert put_status(db, "alpha", {"name": "alpha", "phase": "pending"}, "hub-a") is not None
    first_epoch = _epoch(pg_url, "alpha")

    # A renews past the ttl: it keeps the cluster
    for _ in range(3):
        time.sleep(TTL / 2)
        assert a.renew() == {"alpha"}
        assert not b.take("alpha")
    assert a.mine("alpha")

    # A stops renewing (cut off, or dead): within the ttl it stops counting the cluster as its own
    time.sleep(TTL + 0.2)
    assert not a.mine("alpha") and a.held() == set()
    assert b.take("alpha")
    assert b.mine("alpha") and b.holder_of("alpha") == "hub-b"
    assert _epoch(pg_url, "alpha") == first_epoch + 1

    # A's writes are fenced off; B's land
    assert put_status(db, "alpha", {"name": "alpha", "phase": "destroyed"}, "hub-a") is None
    assert a.renew() == set()
    assert put_status(other_db, "alpha", {"name": "alpha", "phase": "build_running"}, "hub-b") is not None
    stored = cluster(db, "alpha")
    assert stored.status is not None and stored.status["phase"] == "build_running"


def test_racing_hubs_never_both_win(pg_url: str, db: Database) -> None:
    pools = [Database(pg_url) for _ in range(6)]
    hubs = [Leases(p, f"hub-{i}", TTL) for i, p in enumerate(pools)]
    try:
        for round_ in range(5):
            name = f"race-{round_}"
            start = threading.Barrier(len(hubs))
            won: list[str] = []

            def take(
                hub: Leases, name: str = name, start: threading.Barrier = start, won: list[str] = won
            ) -> None:
                start.wait()
                if hub.take(name):
                    won.append(hub.holder)

            threads = [threading.Thread(target=take, args=(h,)) for h in hubs]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert len(won) == 1, won
            assert hubs[0].holder_of(name) == won[0]
            assert [h.holder for h in hubs if h.mine(name)] == won
    finally:
        for p in pools:
            p.close()


def test_release_hands_the_cluster_over_at_once(db: Database, other_db: Database) -> None:
    a, b = Leases(db, "hub-a", TTL), Leases(other_db, "hub-b", TTL)
    assert a.take("one") and a.take("two")
    a.release("one")
    assert not a.mine("one") and a.mine("two")
    assert b.take("one")
    a.release_all()
    assert a.held() == set()
    assert b.take("two")


def test_live_hubs_and_fair_shares_follow_the_heartbeats(db: Database, other_db: Database) -> None:
    a, b = Leases(db, "hub-a", TTL), Leases(other_db, "hub-b", TTL)
    a.renew()
    assert a.fair_share(10) == 11  # alone: everything (plus one)
    b.renew()
    a.renew()
    assert a.live_hubs() == ["hub-a", "hub-b"]
    assert a.fair_share(10) == 6
    b.release_all()  # a clean shutdown leaves at once
    assert a.live_hubs() == ["hub-a"]
    assert a.renew() == set() and a.fair_share(10) == 11


def test_the_renewing_thread_keeps_leases_past_the_ttl(db: Database, other_db: Database) -> None:
    a, b = Leases(db, "hub-a", TTL), Leases(other_db, "hub-b", TTL)
    assert a.take("kept")
    a.start_renewing()
    try:
        time.sleep(TTL * 1.7)
        assert a.mine("kept")
        assert not b.take("kept")
    finally:
        a.stop()
    time.sleep(TTL + 0.2)
    assert not a.mine("kept")
    assert b.take("kept")
