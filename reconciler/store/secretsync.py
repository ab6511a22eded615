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
`scan_every` seconds (and spaces its looks so that they take at most 1/SCAN_SHARE of a core), by
their signature (inode, size, mtime), and reads only those that changed. The holder does not wait
for a look: the mirror pushes a cluster's secrets with each status it pushes.
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

import psycopg

from reconciler.model.atomic import write_atomic
from reconciler.model.files import UnreadableFile, label, read_regular
from reconciler.model.secrets import GIVEN_AT, SECRETS_LIMIT, secrets_path
from reconciler.model.spec import CLUSTER_NAME_RE
from reconciler.store.db import Database
from reconciler.store.shared import StoredSecrets, get_secrets, put_generated, put_given, secrets_since

log = logging.getLogger("mchub.store")

SCAN_EVERY = 2.0  # seconds between two looks for changed secrets files, at least
SCAN_SHARE = 20  # and at least this many times the CPU time the last look took (10,000 clusters: ~0.1 s)
Signature = tuple[int, int, int]  # inode, size, mtime: a file not changed since we last looked
Secrets = dict[str, str]
SECRETS_FILE = "secrets.json"  # in clusters/<name>/ (model.secrets.secrets_path)

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


def signature(path: Path | str) -> Signature | None:
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
        self.scan_every, self.scan_share = scan_every, SCAN_SHARE
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
        if scan_now or time.monotonic() >= self._next_scan:
            spent = time.thread_time()
            changed = self._changed()
            spent = time.thread_time() - spent
            self._next_scan = time.monotonic() + max(self.scan_every, self.scan_share * spent)
            for name, sig in changed:
                with self._lock:
                    synced = self._synced.get(name) == sig
                if not synced:
                    self._sync_one(name)
                with self._lock:  # after the push: a failed one is tried again at the next look
                    self._scanned[name] = sig

    def _changed(self) -> list[tuple[str, Signature]]:
        """The clusters whose secrets file changed since the last look, and its signature now."""
        root = str(self.clusters)
        try:
            names = [e.name for e in os.scandir(root) if CLUSTER_NAME_RE.fullmatch(e.name)]
        except (FileNotFoundError, NotADirectoryError):
            return []
        changed = []
        for name in names:
            sig = signature(os.path.join(root, name, SECRETS_FILE))
            if sig is not None and self._scanned.get(name) != sig:  # read without the lock: a dict get
                changed.append((name, sig))
        return changed

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
