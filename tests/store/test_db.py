"""The shared database's pool and schema on a real PostgreSQL: several hubs create the schema at
once without tripping over each other, a database made by a newer hub is refused with what to do,
a failure to connect never shows the password, and a restart of the server is ridden out."""

from __future__ import annotations

import threading

import psycopg
import pytest
from pgserver import PgServer

from reconciler.store.db import SCHEMA_VERSION, Database, SchemaTooNew, StoreUnavailable, public_url


def test_two_hubs_create_the_schema_at_once(pg_url: str) -> None:
    hubs = [Database(pg_url) for _ in range(4)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(hubs))

    def create(database: Database) -> None:
        start.wait()
        try:
            database.ensure_schema()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(h,)) for h in hubs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for h in hubs:
        h.close()
    assert errors == []
    with psycopg.connect(pg_url) as conn:
        versions = conn.execute("SELECT version FROM mchub_schema").fetchall()
        tables = {
            r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE tablename LIKE 'mchub_%'")
        }
    assert versions == [(SCHEMA_VERSION,)]
    assert {"mchub_leases", "mchub_hubs", "mchub_clusters", "mchub_runs", "mchub_requests"} <= tables


def test_a_database_of_a_newer_hub_is_refused(db: Database, pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE mchub_schema SET version = %s", (SCHEMA_VERSION + 1,))
    with pytest.raises(SchemaTooNew, match="upgrade this hub: the database was made by a newer MC Hub"):
        db.ensure_schema()


def test_the_password_never_shows_in_an_error(pg_server: PgServer) -> None:
    port = pg_server.port + 1 if pg_server.port < 65535 else pg_server.port - 1
    url = f"postgresql://mchub:s3cret-pw@127.0.0.1:{port}/nowhere?password=s3cret-pw"
    assert "s3cret-pw" not in public_url(url)
    database = Database(url, connect_timeout=1, wait=1)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            database.ensure_schema()
    finally:
        database.close()
    assert "s3cret-pw" not in str(caught.value)
    assert f"127.0.0.1:{port}/nowhere" in str(caught.value)


def test_the_pool_reconnects_after_postgresql_restarts(db: Database, pg_server: PgServer) -> None:
    with db.connection() as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    pg_server.restart()  # every pooled connection is cut
    with db.connection() as conn:  # the next call finds the dead one out and connects again
        assert conn.execute("SELECT 2").fetchone() == (2,)
    pg_server.stop()
    try:
        with pytest.raises(StoreUnavailable, match="is unavailable"):
            db.ensure_schema()
    finally:
        pg_server.start()
    db.ensure_schema()
