"""Keeps a hub's own files and the shared database in step, so the engine, the CLI and the web view
keep working on files. The holder of a cluster's lease pushes its files after each status write
(`push`, fenced by the lease); every other hub pulls what changed into its `clusters/` (`pull`, run
by `follow` every half second), and people's requests and each cluster's secrets travel both ways
(`sync_requests`; store/secretsync.py, whose rules say which password wins). A push
that fails because PostgreSQL is away marks the cluster dirty and is retried by `follow`, so nothing
is lost across a restart of the server."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from reconciler.model import runs
from reconciler.model.files import UnreadableFile
from reconciler.store import localcopy
from reconciler.store.db import Database, Outage, StoreUnavailable
from reconciler.store.localcopy import RunSignature
from reconciler.store.requestsync import RequestSync
from reconciler.store.secretsync import SecretSync
from reconciler.store.shared import RUNS_KEPT, changes_since, cluster, put_run, put_status, terraform_state

log = logging.getLogger("mchub.store")


class Mirror:
    """One hub's mirror. `mine(name)` says which clusters this hub holds (`Leases.mine`): those are
    pushed, never pulled by `follow`. `listeners` are told each cluster name after it is pulled."""

    def __init__(
        self,
        db: Database,
        specs_dir: Path,
        clusters_dir: Path,
        holder: str,
        mine: Callable[[str], bool],
        runs_kept: int = RUNS_KEPT,
    ) -> None:
        self.db, self.clusters, self.holder, self.mine = db, clusters_dir, holder, mine
        self.runs_kept = runs_kept
        self.listeners: list[Callable[[str], None]] = []
        self.requests = RequestSync(db, specs_dir)
        self.secrets = SecretSync(db, clusters_dir, holder, mine)
        self.cursor = 0  # changes up to this version are in our files
        self._dirty: set[str] = set()  # pushes that failed for want of the database
        self._synced: dict[tuple[str, str], RunSignature] = {}  # runs' files as last pushed or pulled
        self._status_synced: dict[str, tuple[int, int, int] | None] = {}  # status.json as last pushed
        self._runs_cursor: dict[str, int] = {}  # per cluster: run versions up to this one pulled
        self._state_md5: dict[str, str | None] = {}
        self._lock = threading.Lock()
        self._pushing: dict[str, threading.Lock] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._follow_outage = Outage(f"hub {holder}: following the shared database")
        self._push_outage = Outage(f"hub {holder}: pushing clusters to the shared database")

    # -- the holder's side ----------------------------------------------------------------------

    def dirty(self) -> set[str]:
        """Clusters whose last push has not reached the database yet."""
        with self._lock:
            return set(self._dirty)

    def push(self, name: str) -> bool:
        """Write this hub's files of `name` to the database: the runs changed since the last push,
        then the status if it changed. Never raises: without the database the name is kept dirty
        for `follow` to retry; a push this hub's lease no longer covers is dropped (the new
        holder's rows win). True when something was written (an idle look writes nothing)."""
        wrote = False
        try:
            with self._name_lock(name):  # the engine's push and follow's retry, one at a time
                wrote = self._push(name)
            self.secrets.push(name)  # a password generated for the run this status starts
        except StoreUnavailable as exc:
            with self._lock:
                self._dirty.add(name)
            self._push_outage.failed(exc)
            return False
        except Exception:
            log.exception("%s: pushing its files to the shared database failed", name)
        with self._lock:
            self._dirty.discard(name)
        self._push_outage.ok()
        return wrote

    def _name_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._pushing.setdefault(name, threading.Lock())

    def _push(self, name: str) -> bool:
        signature = localcopy.status_signature(self.clusters, name)
        try:
            status = localcopy.read_status_json(self.clusters, name)
        except UnreadableFile as exc:
            log.warning("%s: not pushed: %s", name, exc)
            return False
        wrote = False
        for run_id in localcopy.run_ids(self.clusters, name):
            sig = localcopy.run_signature(self.clusters, name, run_id)
            with self._lock:
                if sig is None or self._synced.get((name, run_id)) == sig:
                    continue
            run = localcopy.read_run(self.clusters, name, run_id)
            if run is None:
                continue
            if put_run(self.db, name, run[0], run[1], self.holder, keep=self.runs_kept) is None:
                return self._refused(name)
            wrote = True
            with self._lock:
                self._synced[(name, run_id)] = sig
        with self._lock:
            if not wrote and name in self._status_synced and self._status_synced[name] == signature:
                return False  # nothing new: no write, no version for the other hubs to pull
        if put_status(self.db, name, status, self.holder) is None:
            return self._refused(name)
        with self._lock:
            self._status_synced[name] = signature
        return True

    def _refused(self, name: str) -> bool:
        log.info("%s: not pushed: hub %s no longer holds its lease", name, self.holder)
        return False

    # -- everyone else's side -------------------------------------------------------------------

    def pull(self, name: str) -> None:
        """Make this hub's files of `name` what the database holds: its runs changed since the last
        pull, its status (a cluster gone from the database loses its status.json; one the database
        never had keeps its files), and the copy of Terraform's state; skipped while this hub has a
        push of `name` pending (its files are newer). And its secrets, in step both ways (a lease just
        taken: the run applies the password the cluster has). Raises StoreUnavailable."""
        if not localcopy.valid_name(name):
            log.warning("ignoring a cluster in the shared database named %r", name[:60])
            return
        self.secrets.pull(name)
        self._pull(name)

    def _pull(self, name: str) -> None:
        """`pull` without the secrets (`follow` syncs those by their own cursor)."""
        if not localcopy.valid_name(name):
            log.warning("ignoring a cluster in the shared database named %r", name[:60])
            return
        with self._lock:
            if name in self._dirty:
                return
            since = self._runs_cursor.get(name, 0)
        stored = cluster(self.db, name, since)
        for run in stored.runs:
            try:
                localcopy.write_run(self.clusters, name, run)
            except ValueError as exc:  # a row this hub cannot read (a newer hub's): the others still
                log.warning("%s: run not pulled: %s", name, exc)
                continue
            sig = localcopy.run_signature(self.clusters, name, run.id)
            with self._lock:
                if sig is not None:
                    self._synced[(name, run.id)] = sig
        if stored.version:
            try:
                localcopy.write_status_json(self.clusters, name, stored.status)
            except ValueError as exc:
                log.warning("%s: status not pulled: %s", name, exc)
        self._pull_state(name)
        if stored.runs:
            runs.prune(self.clusters, name, self.runs_kept)
        with self._lock:
            self._runs_cursor[name] = max([since, *(r.version for r in stored.runs)])
        for listener in self.listeners:
            listener(name)

    def copy_state(self, name: str) -> None:
        """The holder's side: refresh this hub's copy of Terraform's state of `name` after its own
        runs (what reads a state without running Terraform reads the copy). Never raises."""
        try:
            self._pull_state(name)
        except StoreUnavailable:
            pass  # the next push or pull refreshes it
        except Exception:
            log.exception("%s: copying Terraform's state from the shared database failed", name)

    def _pull_state(self, name: str) -> None:
        if name not in self._state_md5:
            self._state_md5[name] = localcopy.state_md5(self.clusters, name)
        state = terraform_state(self.db, name, unless_md5=self._state_md5[name])
        if state is not None:
            self._state_md5[name] = localcopy.write_state_copy(self.clusters, name, state)

    def sync_requests(self) -> None:
        """Approvals and retry requests both ways (the newer `at` wins). Raises StoreUnavailable."""
        self.requests.sync()

    def catch_up(self) -> None:
        """Pull every cluster this hub does not hold, and every request (at start-up). Raises
        StoreUnavailable."""
        names, latest = changes_since(self.db, 0)
        self._pull_each(names)
        self.cursor = max(self.cursor, latest)
        self.sync_requests()
        self.secrets.sync(scan_now=True)

    def tick(self) -> None:
        """One turn of `follow`: pull what changed, sync requests and secrets, retry pushes left
        dirty."""
        names, latest = changes_since(self.db, self.cursor)
        self._pull_each(names)
        self.cursor = latest
        self.sync_requests()
        self.secrets.sync()
        for name in sorted(self.dirty()):
            self.push(name)

    def _pull_each(self, names: set[str]) -> None:
        for name in sorted(names):
            if self.mine(name):
                continue
            try:
                self._pull(name)
            except StoreUnavailable:
                raise
            except Exception:  # one cluster's bad row or a full disk must not stop the others
                log.exception("%s: pulling it from the shared database failed", name)

    def follow(self, interval: float = 0.5) -> None:
        """Run `tick` every `interval` seconds until `stop()`; an outage is logged once and waited out."""
        while not self._stop.is_set():
            try:
                self.tick()
                self._follow_outage.ok()
            except StoreUnavailable as exc:
                self._follow_outage.failed(exc)
            except Exception:
                log.exception("hub %s: following the shared database failed; trying again", self.holder)
            self._stop.wait(interval)

    def start(self, interval: float = 0.5) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self.follow, args=(interval,), name=f"mchub-mirror-{self.holder}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
