"""The hubs' one PostgreSQL: a small connection pool that reconnects by itself after the server
restarts, the schema every hub creates at start (idempotent, under a lock, since several hubs start
at once), and the two ways it fails: `StoreUnavailable` (the server cannot be reached now: retry)
and `SchemaTooNew` (a newer MC Hub made this database: upgrade this hub). No message ever carries
the URL's password."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import conninfo
from psycopg_pool import ConnectionPool

log = logging.getLogger("mchub.store")

SCHEMA_VERSION = 1
SCHEMA_LOCK = 0x6D636875_00000001  # pg_advisory_xact_lock keys: "mchu" + what the lock guards
CHANGES_LOCK = 0x6D636875_00000002

Connection = psycopg.Connection[tuple[Any, ...]]

# Every write takes a version from `mchub_changes` while holding CHANGES_LOCK until it commits, so
# versions become visible in order and a reader that saw version N has seen every version below.
SCHEMA = """
CREATE SEQUENCE IF NOT EXISTS mchub_changes;
CREATE SEQUENCE IF NOT EXISTS public.global_states_id_seq AS bigint;
CREATE TABLE IF NOT EXISTS mchub_leases (
    name text PRIMARY KEY, holder text NOT NULL, epoch bigint NOT NULL, expires_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS mchub_leases_holder ON mchub_leases (holder);
CREATE TABLE IF NOT EXISTS mchub_hubs (
    name text PRIMARY KEY, seen_at timestamptz NOT NULL, started_at timestamptz NOT NULL);
CREATE TABLE IF NOT EXISTS mchub_clusters (
    name text PRIMARY KEY, status jsonb, version bigint NOT NULL, updated_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS mchub_clusters_version ON mchub_clusters (version);
CREATE TABLE IF NOT EXISTS mchub_runs (
    cluster text NOT NULL, id text NOT NULL, record jsonb NOT NULL, log text NOT NULL,
    version bigint NOT NULL, PRIMARY KEY (cluster, id));
CREATE INDEX IF NOT EXISTS mchub_runs_version ON mchub_runs (version);
CREATE TABLE IF NOT EXISTS mchub_requests (
    kind text NOT NULL, cluster text NOT NULL, body jsonb NOT NULL, at timestamptz NOT NULL,
    version bigint NOT NULL, PRIMARY KEY (kind, cluster));
CREATE INDEX IF NOT EXISTS mchub_requests_version ON mchub_requests (version);
CREATE TABLE IF NOT EXISTS mchub_secrets (
    cluster text PRIMARY KEY, body jsonb NOT NULL, given_at text, version bigint NOT NULL);
CREATE INDEX IF NOT EXISTS mchub_secrets_version ON mchub_secrets (version);
"""


class StoreUnavailable(Exception):
    """PostgreSQL cannot be reached or answer now (down, restarting, refused): try again later."""


class SchemaTooNew(Exception):
    """The database was made by a newer MC Hub than this one: this hub must be upgraded."""


def public_url(url: str) -> str:
    """`url` without its password (in the user part or a `password=` parameter), for messages."""
    if "://" not in url:  # key=value form
        try:
            params = conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError:
            return "(a PostgreSQL connection string)"
        params.pop("password", None)
        return conninfo.make_conninfo(**{k: str(v) for k, v in params.items()})
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        user, host = netloc.rsplit("@", 1)
        netloc = f"{user.split(':', 1)[0]}@{host}"
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "password"])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def _password(url: str) -> str | None:
    try:
        value = conninfo.conninfo_to_dict(url).get("password")
    except psycopg.ProgrammingError:
        return None
    return str(value) if value else None


class Database:
    """The pool every store function borrows from. `connection()` gives a connection in a
    transaction, committed when the block ends; any failure to reach the server is StoreUnavailable.
    A broken connection (the server restarted) is noticed when borrowed and replaced."""

    def __init__(self, url: str, max_size: int = 8, connect_timeout: float = 3.0, wait: float = 5.0) -> None:
        self.where = public_url(url)
        self._secret = _password(url)
        self.wait = wait
        self._pool: ConnectionPool[Connection] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            open=False,
            check=ConnectionPool.check_connection,
            kwargs={"connect_timeout": max(1, round(connect_timeout)), "application_name": "mchub"},
            name="mchub",
            timeout=wait,
            # Give up a background reconnection after a few seconds, so that the next borrower starts
            # a fresh attempt at once instead of waiting out an ever longer backoff.
            reconnect_timeout=max(wait, 5.0),
        )
        self._pool.open(wait=False)

    def _explain(self, exc: BaseException) -> str:
        detail = " ".join(str(exc).split()) or type(exc).__name__
        if self._secret:
            detail = detail.replace(self._secret, "***")
        return f"PostgreSQL at {self.where} is unavailable: {detail[:500]}"

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        try:
            with self._pool.connection(timeout=self.wait) as conn:
                yield conn
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:  # PoolTimeout is one
            raise StoreUnavailable(self._explain(exc)) from None

    def ensure_schema(self) -> None:
        """Create what is missing (idempotent). Raises SchemaTooNew when a newer hub made the schema."""
        with self.connection() as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS mchub_schema (version integer NOT NULL)")
            row = conn.execute("SELECT max(version) FROM mchub_schema").fetchone()
            found = row[0] if row else None
            if found is not None and found > SCHEMA_VERSION:
                raise SchemaTooNew(
                    f"upgrade this hub: the database was made by a newer MC Hub (schema version {found}; "
                    f"this hub knows versions up to {SCHEMA_VERSION})"
                )
            for statement in filter(str.strip, SCHEMA.split(";")):
                conn.execute(statement)
            if found is None:
                conn.execute("INSERT INTO mchub_schema (version) VALUES (%s)", (SCHEMA_VERSION,))
            elif found < SCHEMA_VERSION:
                conn.execute("UPDATE mchub_schema SET version = %s", (SCHEMA_VERSION,))

    def close(self) -> None:
        self._pool.close()


class Outage:
    """Logs a lost database once per outage, and its return once, for a thread that keeps trying."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.down = False

    def failed(self, exc: Exception) -> None:
        if not self.down:
            log.warning("%s: %s; retrying", self.what, exc)
        self.down = True

    def ok(self) -> None:
        if self.down:
            log.info("%s: PostgreSQL is reachable again", self.what)
        self.down = False
