"""Each cluster's secrets (`clusters/<name>/secrets.json`, the guests' password: model/secrets.py)
shared between hubs through `mchub_secrets`, so that a hub taking a cluster over applies the same
password as the hub before it (a new one would change every guest's password), and a password a
person gives on any hub reaches the hub that holds the cluster. The rules, which make hubs converge
whatever order they sync in:

- A person's password (the file has `guest_passwd_given_at`) wins over a generated one and over an
  older person's one: the newer given_at wins, compared in SQL on the way in and here on the way
  out. Any hub pushes it.
- A generated password (no given_at) is pushed only by the holder of the cluster's lease (`mine`,
  and fenced by the lease in the same transaction), and only when the database has none for the
  cluster: the first writer wins. A hub that does not hold the cluster never pushes its generated
  one (a preview there may have made one) and takes the database's when there is one. On equal
  given_at (two generated passwords) the database wins, so a holder that lost the race takes the
  winner's too.
- Pulling writes secrets.json atomically with mode 0600 and never replaces a local file with an
  older one, nor a file this hub cannot read (the engine keeps that aside for a person).

Cheap with many clusters: the database side reads only the rows written since the last sync (a
version cursor, like the other shared rows); the local side looks for changed files at most every
`scan_every` seconds, by their signature (inode, size, mtime), and reads only those that changed.
No message here carries a password: they name the cluster, never the file's content."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from psycopg.types.json import Jsonb

from reconciler.model.atomic import write_atomic
from reconciler.model.files import UnreadableFile, label, read_regular
from reconciler.model.secrets import GIVEN_AT, SECRETS_LIMIT, secrets_path
from reconciler.model.spec import CLUSTER_NAME_RE
from reconciler.store.db import CHANGES_LOCK, Database
from reconciler.store.shared import fenced_write

log = logging.getLogger("mchub.store")

SCAN_EVERY = 2.0  # seconds between two looks for changed secrets files
Signature = tuple[int, int, int]  # inode, size, mtime: a file not changed since we last looked
Secrets = dict[str, str]

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
_COLUMNS = "SELECT cluster, body, given_at, version FROM mchub_secrets"


class StoredSecrets(NamedTuple):
    cluster: str
    body: Any  # secrets.json's object, as a hub stored it (checked before it is written)
    given_at: str | None  # None: a generated password
    version: int


NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)


def given_when(value: object) -> dt.datetime | None:
    """When a person gave the password (aware), None for a generated one; a given_at that is not an
    ISO time counts as given before any other (NEVER), and is never pushed."""
    if not value:
        return None
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return NEVER
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when


def database_wins(local: Secrets | None, stored: StoredSecrets) -> bool:
    """Whether the database's secrets replace the local ones: a local file without a password always
    loses; a person's password beats a generated one; between two people's the later wins, and
    between two generated ones (or equal times) the database's."""
    if not local or not local.get("guest_passwd"):
        return True
    mine, theirs = given_when(local.get(GIVEN_AT)), given_when(stored.given_at)
    if theirs is None:
        return mine is None
    return mine is None or theirs >= mine


def _stored(row: tuple[Any, ...]) -> StoredSecrets:
    return StoredSecrets(str(row[0]), row[1], None if row[2] is None else str(row[2]), int(row[3]))


def _body(secrets: Secrets) -> Jsonb:
    return Jsonb(secrets)


def put_given(db: Database, name: str, secrets: Secrets) -> int | None:
    """Store a person's password; its version, or None when the database holds one at least as new."""
    with db.connection() as conn:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (CHANGES_LOCK,))
        row = conn.execute(_PUT_GIVEN, (name, _body(secrets), secrets[GIVEN_AT])).fetchone()
    return int(row[0]) if row else None


def put_generated(db: Database, name: str, secrets: Secrets, holder: str) -> int | None:
    """Store a generated password; its version, or None when `holder` does not hold the lease of
    `name` or the database has secrets for it already."""
    with db.connection() as conn:
        if not fenced_write(conn, name, holder):
            return None
        row = conn.execute(_PUT_GENERATED, (name, _body(secrets))).fetchone()
    return int(row[0]) if row else None


def secrets_since(db: Database, version: int) -> tuple[list[StoredSecrets], int]:
    """The secrets written after `version`, oldest first, and the latest version seen."""
    with db.connection() as conn:
        rows = conn.execute(f"{_COLUMNS} WHERE version > %s ORDER BY version", (version,)).fetchall()
    found = [_stored(r) for r in rows]
    return found, max([version, *(s.version for s in found)])


def get_secrets(db: Database, name: str) -> StoredSecrets | None:
    with db.connection() as conn:
        row = conn.execute(f"{_COLUMNS} WHERE cluster = %s", (name,)).fetchone()
    return _stored(row) if row else None


def read_local(path: Path) -> Secrets | None:
    """A secrets file's strings; None when there is none. UnreadableFile (naming the file, never
    quoting it) when it is not a regular file within SECRETS_LIMIT holding a JSON object."""
    shown = label(path, 3)
    try:
        data = json.loads(read_regular(path, SECRETS_LIMIT, shown))
    except FileNotFoundError:
        return None
    except UnreadableFile:
        raise
    except (ValueError, RecursionError):
        raise UnreadableFile(path, "is not valid JSON", shown) from None
    if not isinstance(data, dict):
        raise UnreadableFile(path, "does not hold a JSON object", shown)
    return {k: v for k, v in data.items() if isinstance(v, str)}


def signature(path: Path) -> Signature | None:
    try:
        st = os.stat(path, follow_symlinks=False)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


class SecretSync:
    """Syncs one hub's `clusters/*/secrets.json` with the database. Thread-safe: the mirror's thread
    syncs, the engine's workers push and pull single clusters; one cluster at a time each."""

    def __init__(
        self,
        db: Database,
        clusters_dir: Path,
        holder: str,
        mine: Callable[[str], bool],
        scan_every: float = SCAN_EVERY,
    ) -> None:
        self.db, self.clusters, self.holder, self.mine = db, clusters_dir, holder, mine
        self.scan_every = scan_every
        self.cursor = 0  # secrets written up to this version are pulled
        self._next_scan = 0.0
        self._scanned: dict[str, Signature] = {}  # files as the last scan saw them
        self._synced: dict[str, Signature] = {}  # files known to be in step with the database
        self._lock = threading.Lock()
        self._names: dict[str, threading.Lock] = {}

    def _name_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._names.setdefault(name, threading.Lock())

    def _in_step(self, name: str) -> None:
        sig = signature(secrets_path(self.clusters, name))
        with self._lock:
            if sig is None:
                self._synced.pop(name, None)
            else:
                self._synced[name] = self._scanned[name] = sig

    # -- the whole folder, from the mirror's thread ---------------------------------------------

    def sync(self, scan_now: bool = False) -> None:
        """Pull the secrets written since the last sync; then, at most every `scan_every` seconds (or
        now), push the local files changed since the last look. Raises StoreUnavailable (the next
        sync picks up where this one stopped)."""
        found, latest = secrets_since(self.db, self.cursor)
        for stored in found:
            if not CLUSTER_NAME_RE.fullmatch(stored.cluster):
                log.warning("ignoring secrets in the shared database for %r", stored.cluster[:60])
                continue
            with self._name_lock(stored.cluster):
                self._take(stored)
        self.cursor = latest
        now = time.monotonic()
        if scan_now or now >= self._next_scan:
            self._next_scan = now + self.scan_every
            self._scan()

    def _scan(self) -> None:
        try:
            names = [e.name for e in os.scandir(self.clusters) if CLUSTER_NAME_RE.fullmatch(e.name)]
        except (FileNotFoundError, NotADirectoryError):
            return
        for name in names:
            sig = signature(secrets_path(self.clusters, name))
            with self._lock:
                if sig is None or self._scanned.get(name) == sig:
                    continue
                synced = self._synced.get(name) == sig
            if not synced:
                self._sync_one(name)
            with self._lock:  # after the push: a failed one is tried again at the next scan
                self._scanned[name] = sig

    # -- one cluster, from the engine's workers ------------------------------------------------

    def push(self, name: str) -> None:
        """After the holder writes a status of `name`: its secrets file pushed if it changed since it
        was last in step (a password generated for the run just started). Raises StoreUnavailable."""
        sig = signature(secrets_path(self.clusters, name))
        with self._lock:
            if sig is None or self._synced.get(name) == sig:
                return
        self._sync_one(name)

    def pull(self, name: str) -> None:
        """Bring the secrets of `name` in step both ways now (a lease just taken: before the first
        run, so that the hub applies the password the cluster has). Raises StoreUnavailable."""
        self._sync_one(name)

    def _sync_one(self, name: str) -> None:
        with self._name_lock(name):
            try:
                self._sync_locked(name)
            except psycopg.DatabaseError as exc:  # the server's message may quote a value: not shown
                log.warning("%s: its secrets were not synced: the database refused them (%s)",
                            name, exc.sqlstate or type(exc).__name__)  # fmt: skip

    def _sync_locked(self, name: str) -> None:
        path = secrets_path(self.clusters, name)
        try:
            local = read_local(path)
        except UnreadableFile as exc:
            log.warning("%s: its secrets were not synced: %s", name, exc)
            return
        if local and local.get("guest_passwd"):
            given = local.get(GIVEN_AT)
            if given:
                if given_when(given) == NEVER:
                    log.warning("%s: its guest password is not shared: %s is not an ISO time", name, GIVEN_AT)
                    return
                if put_given(self.db, name, local) is not None:
                    return self._in_step(name)
            elif self.mine(name) and put_generated(self.db, name, local, self.holder) is not None:
                return self._in_step(name)
        stored = get_secrets(self.db, name)
        if stored is not None:
            self._take(stored)
        elif not local or self.mine(name):
            self._in_step(name)  # nothing to share, or a generated one the lease no longer covers
        # else: a generated one of a hub not holding the cluster, never pushed: not in step

    def _take(self, stored: StoredSecrets) -> None:
        """Write the database's secrets unless the local file is newer, the same, or unreadable."""
        name, path = stored.cluster, secrets_path(self.clusters, stored.cluster)
        body = stored.body
        if not (isinstance(body, dict) and isinstance(body.get("guest_passwd"), str)):
            log.warning("%s: ignoring secrets in the shared database that hold no guest password", name)
            return
        try:
            local = read_local(path)
        except UnreadableFile as exc:
            log.warning("%s: its secrets were not taken from the shared database: %s", name, exc)
            return
        if local == body or not database_wins(local, stored):
            return self._in_step(name) if local == body else None
        with contextlib.suppress(FileExistsError):  # made as the reconciler makes it: private
            path.parent.mkdir(parents=True, mode=0o700)
        write_atomic(path, json.dumps(body).encode(), mode=0o600)
        log.info("%s: guest password taken from the shared database", name)
        self._in_step(name)
