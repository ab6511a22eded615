"""The rows several hubs share: each cluster's status (`mchub_clusters`), its runs' records and log
tails (`mchub_runs`), the requests people made on any hub (`mchub_requests`: approvals and retries),
each cluster's secrets (`mchub_secrets`: store/secretsync.py says which win), and Terraform's own
state, which Terraform's `pg` backend writes and the hubs only read. Every write takes a version
from `mchub_changes`, so a hub asks "what changed since version N?" and reads only that. A cluster's
status, runs and generated secrets are written only by the holder of its lease (fenced in the same
transaction), so a hub that lost its lease can no longer overwrite the new holder's work."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, NamedTuple

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from reconciler.model.tfstate import state_schema
from reconciler.store.db import CHANGES_LOCK, SCHEMA_LOCK, Connection, Database

LOG_CAP = 1024 * 1024  # bytes of a run's log kept in the database: its tail
RUNS_KEPT = 50

# FOR SHARE: a hub taking this lease over waits until this write is committed, so every fenced
# write lands before the takeover, never after it.
_FENCE = """
SELECT 1 FROM mchub_leases
WHERE name = %s AND holder = %s AND expires_at > statement_timestamp() FOR SHARE
"""
_PUT_STATUS = """
INSERT INTO mchub_clusters (name, status, version, updated_at)
VALUES (%s, %s, nextval('mchub_changes'), now())
ON CONFLICT (name) DO UPDATE SET
    status = EXCLUDED.status, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at
RETURNING version
"""
_PUT_RUN = """
INSERT INTO mchub_runs (cluster, id, record, log, version)
VALUES (%s, %s, %s, %s, nextval('mchub_changes'))
ON CONFLICT (cluster, id) DO UPDATE SET
    record = EXCLUDED.record, log = EXCLUDED.log, version = EXCLUDED.version
RETURNING version
"""
_PRUNE_RUNS = """
DELETE FROM mchub_runs WHERE cluster = %(name)s AND record->>'result' <> 'running' AND id IN (
    SELECT id FROM mchub_runs WHERE cluster = %(name)s ORDER BY id DESC OFFSET %(keep)s)
"""
# Last writer wins, by the request's own time: an older request arriving late changes nothing.
_PUT_REQUEST = """
INSERT INTO mchub_requests AS r (kind, cluster, body, at, version)
VALUES (%s, %s, %s, %s, nextval('mchub_changes'))
ON CONFLICT (kind, cluster) DO UPDATE SET body = EXCLUDED.body, at = EXCLUDED.at, version = EXCLUDED.version
WHERE r.at < EXCLUDED.at
RETURNING version
"""
# A person's password: stored unless the database holds one given at least as late.
_PUT_GIVEN = """
INSERT INTO mchub_secrets AS s (cluster, body, given_at, version)
VALUES (%s, %s, %s, nextval('mchub_changes'))
ON CONFLICT (cluster) DO UPDATE SET
    body = EXCLUDED.body, given_at = EXCLUDED.given_at, version = EXCLUDED.version
WHERE s.given_at IS NULL OR s.given_at::timestamptz < EXCLUDED.given_at::timestamptz
RETURNING version
"""
# A generated password: the first one stored stays.
_PUT_GENERATED = """
INSERT INTO mchub_secrets (cluster, body, given_at, version)
VALUES (%s, %s, NULL, nextval('mchub_changes'))
ON CONFLICT (cluster) DO NOTHING
RETURNING version
"""
_SECRETS = "SELECT cluster, body, given_at, version FROM mchub_secrets"
_CHANGES = """
SELECT name, version FROM mchub_clusters WHERE version > %(v)s
UNION ALL SELECT cluster, version FROM mchub_runs WHERE version > %(v)s
"""


class StoredRun(NamedTuple):
    id: str
    record: dict[str, Any]  # a RunRecord as JSON
    log: str  # the log's tail (at most LOG_CAP bytes)
    version: int


class Stored(NamedTuple):
    """A cluster as the database has it: its status (None: none, or the cluster is gone), the
    status row's version (0: no row), and its runs changed since the version asked for."""

    status: dict[str, Any] | None
    version: int
    runs: list[StoredRun]


class Request(NamedTuple):
    kind: str  # "approval" or "retry"
    cluster: str
    body: dict[str, Any]  # the request file's JSON
    at: dt.datetime
    version: int


class StoredSecrets(NamedTuple):
    cluster: str
    body: Any  # secrets.json's object, as a hub stored it (checked before it is written)
    given_at: str | None  # None: a generated password
    version: int


def _clean(value: Any) -> Any:
    """`value` without NUL characters, which PostgreSQL's text and jsonb cannot hold."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _json(value: Any) -> Jsonb:
    return Jsonb(_clean(value), dumps=lambda v: json.dumps(v, sort_keys=True))


def tail(log: str, cap: int = LOG_CAP) -> str:
    """The last `cap` bytes of `log` (UTF-8), cut on a character boundary."""
    data = log.encode("utf-8", "replace")
    if len(data) <= cap:
        return log
    return data[-cap:].decode("utf-8", "ignore")


def fenced_write(conn: Connection, name: str, holder: str) -> bool:
    """In the caller's transaction: whether `holder` holds an unexpired lease on `name` (then the
    lease row is locked until commit, and so is the change counter, so versions commit in order)."""
    if conn.execute(_FENCE, (name, holder)).fetchone() is None:
        return False
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHANGES_LOCK,))
    return True


def _version(row: tuple[Any, ...] | None) -> int | None:
    return int(row[0]) if row else None


def put_status(db: Database, name: str, status: dict[str, Any] | None, holder: str) -> int | None:
    """Store the status of `name` (None: the cluster is gone); its version, or None when `holder`
    does not hold an unexpired lease on `name` (nothing written). Raises StoreUnavailable."""
    with db.connection() as conn:
        if not fenced_write(conn, name, holder):
            return None
        body = None if status is None else _json(status)
        return _version(conn.execute(_PUT_STATUS, (name, body)).fetchone())


def put_run(
    db: Database, name: str, record: dict[str, Any], log: str, holder: str, keep: int = RUNS_KEPT
) -> int | None:
    """Store one run of `name` (its record and its log's last LOG_CAP bytes), keeping the newest
    `keep` runs of the cluster (and every running one); fenced like `put_status`."""
    run_id = str(record["id"])
    with db.connection() as conn:
        if not fenced_write(conn, name, holder):
            return None
        row = conn.execute(_PUT_RUN, (name, run_id, _json(record), _clean(tail(log)))).fetchone()
        conn.execute(_PRUNE_RUNS, {"name": name, "keep": keep})
        return _version(row)


def changes_since(db: Database, version: int) -> tuple[set[str], int]:
    """The clusters whose status or runs changed after `version`, and the latest version seen (to
    ask from next time; `version` itself when nothing changed)."""
    with db.connection() as conn:
        rows = conn.execute(_CHANGES, {"v": version}).fetchall()
    return {str(r[0]) for r in rows}, max([version, *(int(r[1]) for r in rows)])


def cluster(db: Database, name: str, runs_since: int = 0) -> Stored:
    """The status of `name` and its runs whose version is above `runs_since` (all by default)."""
    with db.connection() as conn:
        # runs first: a status newer than them is harmless, a run missed would not be
        runs = conn.execute(
            "SELECT id, record, log, version FROM mchub_runs WHERE cluster = %s AND version > %s ORDER BY id",
            (name, runs_since),
        ).fetchall()
        row = conn.execute("SELECT status, version FROM mchub_clusters WHERE name = %s", (name,)).fetchone()
    status, version = (row[0], int(row[1])) if row else (None, 0)
    return Stored(status, version, [StoredRun(str(r[0]), r[1], str(r[2]), int(r[3])) for r in runs])


def put_request(db: Database, kind: str, name: str, body: dict[str, Any]) -> int | None:
    """Store a person's request (`body["at"]`, ISO time, says when it was made); its version, or None
    when the database already has a request of this kind for `name` at least as new."""
    at = dt.datetime.fromisoformat(str(body["at"]))
    at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at
    with db.connection() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHANGES_LOCK,))
        return _version(conn.execute(_PUT_REQUEST, (kind, name, _json(body), at)).fetchone())


def requests_since(db: Database, version: int) -> tuple[list[Request], int]:
    """The requests written after `version`, oldest first, and the latest version seen."""
    sql_text = (
        "SELECT kind, cluster, body, at, version FROM mchub_requests WHERE version > %s ORDER BY version"
    )
    with db.connection() as conn:
        rows = conn.execute(sql_text, (version,)).fetchall()
    found = [Request(str(r[0]), str(r[1]), r[2], r[3], int(r[4])) for r in rows]
    return found, max([version, *(r.version for r in found)])


def get_request(db: Database, kind: str, name: str) -> Request | None:
    """The request of this kind for `name` the database holds, or None."""
    sql_text = "SELECT kind, cluster, body, at, version FROM mchub_requests WHERE kind = %s AND cluster = %s"
    with db.connection() as conn:
        r = conn.execute(sql_text, (kind, name)).fetchone()
    return Request(str(r[0]), str(r[1]), r[2], r[3], int(r[4])) if r else None


def terraform_state(db: Database, name: str, unless_md5: str | None = None) -> str | None:
    """Terraform's state of `name` as its `pg` backend keeps it (schema `state_schema(name)`, table
    `states`, workspace `default`): the JSON text, or None when there is none yet. With `unless_md5`,
    also None when the state's MD5 is that one (unchanged since the caller last read it)."""
    schema = state_schema(name)
    query = sql.SQL("SELECT data FROM {}.states WHERE name = 'default' AND md5(data) IS DISTINCT FROM %s")
    with db.connection() as conn:
        # asked first, so that a cluster Terraform has not run for yet is no error in the server's log
        table = conn.execute("SELECT to_regclass(%s)", (f"{schema}.states",)).fetchone()
        if table is None or table[0] is None:
            return None
        try:
            row = conn.execute(query.format(sql.Identifier(schema)), (unless_md5,)).fetchone()
        except (psycopg.errors.UndefinedTable, psycopg.errors.InvalidSchemaName):
            return None  # dropped in between
    return str(row[0]) if row and row[0] is not None else None


# What Terraform's pg backend makes (backend/remote-state/pg), made here first: the same names, so
# its own CREATE ... IF NOT EXISTS finds them. The sequence is made once by ensure_schema.
_STATES_DDL = (
    "CREATE SCHEMA IF NOT EXISTS {schema}",
    "CREATE TABLE IF NOT EXISTS {schema}.states (id bigint NOT NULL "
    "DEFAULT nextval('public.global_states_id_seq') PRIMARY KEY, name text UNIQUE, data text)",
    "CREATE UNIQUE INDEX IF NOT EXISTS states_by_name ON {schema}.states (name)",
)


def ensure_state(db: Database, name: str) -> None:
    """Give cluster `name` its row of Terraform state (an empty state) before Terraform first locks
    it. Without a row, Terraform's pg backend locks a workspace by one advisory lock shared by every
    schema of the database (-1, "creating a workspace") and holds it for the whole first plan and
    apply: every other new cluster, on every hub, would wait for it. With the row, it locks the
    row's own id. An existing state is never touched. Raises StoreUnavailable."""
    schema = sql.Identifier(state_schema(name))
    empty = json.dumps(
        {"version": 4, "terraform_version": "1.0.0", "serial": 0, "lineage": str(uuid.uuid4()),
         "outputs": {}, "resources": []}
    )  # fmt: skip
    with db.connection() as conn:
        if conn.execute("SELECT to_regclass(%s)", (f"{state_schema(name)}.states",)).fetchone() == (None,):
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))  # two hubs, one schema
            for statement in _STATES_DDL:
                conn.execute(sql.SQL(statement).format(schema=schema))
        insert = (
            "INSERT INTO {schema}.states (name, data) VALUES ('default', %s) ON CONFLICT (name) DO NOTHING"
        )
        conn.execute(sql.SQL(insert).format(schema=schema), (empty,))


def _stored(row: tuple[Any, ...]) -> StoredSecrets:
    return StoredSecrets(str(row[0]), row[1], None if row[2] is None else str(row[2]), int(row[3]))


def put_given(db: Database, name: str, secrets: dict[str, str]) -> int | None:
    """Store a person's password; its version, or None when the database holds one at least as new."""
    with db.connection() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHANGES_LOCK,))
        row = conn.execute(_PUT_GIVEN, (name, _json(secrets), secrets["guest_passwd_given_at"])).fetchone()
    return int(row[0]) if row else None


def put_generated(db: Database, name: str, secrets: dict[str, str], holder: str) -> int | None:
    """Store a generated password; its version, or None when `holder` does not hold the lease of
    `name` or the database has secrets for it already."""
    with db.connection() as conn:
        if not fenced_write(conn, name, holder):
            return None
        row = conn.execute(_PUT_GENERATED, (name, _json(secrets))).fetchone()
    return int(row[0]) if row else None


def secrets_since(db: Database, version: int) -> tuple[list[StoredSecrets], int]:
    """The secrets written after `version`, oldest first, and the latest version seen."""
    with db.connection() as conn:
        rows = conn.execute(f"{_SECRETS} WHERE version > %s ORDER BY version", (version,)).fetchall()
    found = [_stored(r) for r in rows]
    return found, max([version, *(s.version for s in found)])


def get_secrets(db: Database, name: str) -> StoredSecrets | None:
    """The secrets of `name` the database holds, or None."""
    with db.connection() as conn:
        row = conn.execute(f"{_SECRETS} WHERE cluster = %s", (name,)).fetchone()
    return _stored(row) if row else None
