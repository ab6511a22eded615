"""The reconcile loop: watches `specs/`, debounces edits, and runs `reconcile_one` on a bounded pool
(one run per cluster at a time), waking on the next due time or a file event. The only module that
touches watchdog and threads. Supervised: an exception in one cluster's work is logged and that
cluster looked at again after a backoff, an exception in the loop's own turn is logged and the loop
goes on; its heartbeat (`alive`) tells `/healthz` whether it still turns."""

from __future__ import annotations

import datetime as dt
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from reconciler.engine.decide import Policy, is_deployed, retry_delay
from reconciler.engine.hub import Hub
from reconciler.engine.reconcile import reconcile
from reconciler.engine.recover import recover
from reconciler.engine.sharing import Sharing
from reconciler.model.approvals import APPROVALS_DIR
from reconciler.model.files import UnreadableFile
from reconciler.model.retries import RETRIES_DIR
from reconciler.model.spec import CLUSTER_NAME_RE
from reconciler.model.specfiles import spec_names
from reconciler.model.status import Status, known_clusters, read_status

log = logging.getLogger("mchub.loop")


STALE_TURNS = 3  # a heartbeat older than this many of the loop's longest waits: the loop is dead
REQUEST_DIRS = (APPROVALS_DIR, RETRIES_DIR)  # what people ask of a cluster, beside the specs


class HubBusy(Exception):
    """Another hub process already reconciles this clusters directory (or its lock file is not one)."""


def take_hub_lock(clusters_dir: Path) -> IO[str]:
    """One hub per clusters directory: an exclusive lock held for the life of the process."""
    clusters_dir.mkdir(parents=True, exist_ok=True)
    path = clusters_dir / ".mchub.lock"
    try:  # never through a link: the pid is written into this file
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        why = f"cannot open the hub's lock {path}: {exc.strerror}; remove it if it is a link"
        raise HubBusy(why) from None
    handle = os.fdopen(fd, "r+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise HubBusy(f"another mchub (pid {holder}) is reconciling {clusters_dir}; stop it first") from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _name_of(path: str, specs_dir: Path) -> str | None:
    p = Path(path)
    if p.parent == specs_dir and p.suffix == ".yaml" and CLUSTER_NAME_RE.fullmatch(p.stem):
        return p.stem
    in_requests = p.parent.name in REQUEST_DIRS and p.parent.parent == specs_dir
    if in_requests and p.suffix == ".json" and CLUSTER_NAME_RE.fullmatch(p.stem):
        return p.stem
    return None


class _Events(FileSystemEventHandler):  # type: ignore[misc]
    def __init__(self, loop: Loop) -> None:
        self.loop = loop

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            name = _name_of(os.fsdecode(path), self.loop.specs_dir) if path else None
            if name:
                self.loop.poke(name)
                for listener in self.loop.listeners:
                    listener(name)


class Loop:
    def __init__(self, hub: Hub, only: Iterable[str] | None = None, sharing: Sharing | None = None) -> None:
        self.hub = hub
        self.sharing = sharing  # several hubs: work only on the clusters whose lease this hub holds
        self.settings = hub.settings
        self.specs_dir = hub.settings.specs_dir.resolve()
        self.only = set(only) if only else None
        self.due: dict[str, float] = {}
        self.inflight: set[str] = set()
        self.again: set[str] = set()
        self.cond = threading.Condition()
        self.pool = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="reconcile")
        self.observer: Any = None
        self.stopping = threading.Event()
        self.crashes: dict[str, int] = {}  # unexpected exceptions in a row, by cluster
        self.heartbeat = time.monotonic()  # the loop thread's last turn
        self.finished = threading.Event()  # `run` returned (or died)
        self.known = 0  # clusters at the last listing (resync or orphan scan)
        # told the name of each cluster whose spec, approval or retry request changed on disk (`mchub
        # serve`: the web view's change counter, webview.state.Files.note, so polls see it at once)
        self.listeners: list[Callable[[str], None]] = []

    # -- liveness --------------------------------------------------------------------------------
    def beat(self) -> None:
        self.heartbeat = time.monotonic()

    def alive(self) -> bool:
        """Whether the loop still turns: running, and its heartbeat fresher than STALE_TURNS of its
        longest wait (it wakes at least once a resync interval). `/healthz` answers 503 when not."""
        longest = max(self.settings.resync_interval, 1.0)
        return not self.finished.is_set() and time.monotonic() - self.heartbeat < STALE_TURNS * longest

    # -- scheduling ------------------------------------------------------------------------------
    def poke(self, name: str, delay: float | None = None) -> None:
        """A file event (or a caller) says `name` should be looked at after the debounce."""
        if self.only is not None and name not in self.only:
            return
        with self.cond:
            when = time.monotonic() + (self.settings.debounce if delay is None else delay)
            if name in self.inflight:
                self.again.add(name)
            self.due[name] = when if delay is None else min(self.due.get(name, when), when)
            self.cond.notify_all()

    def _universe(self) -> set[str]:
        names = set(spec_names(self.settings.specs_dir)) | set(known_clusters(self.settings.clusters_dir))
        names = names if self.only is None else names & self.only
        self.known = len(names)  # the clusters a fair share of leases is counted from
        return names

    def _policy(self) -> Policy:
        """Hold pruning when a large share of the deployed clusters lost their spec at once."""
        policy = self.hub.policy
        if not policy.prune:
            return policy
        specs = set(spec_names(self.settings.specs_dir))
        clusters = self.settings.clusters_dir
        deployed = [n for n in known_clusters(clusters) if is_deployed(_readable_status(clusters, n))]
        missing = [n for n in deployed if n not in specs]
        held = len(missing) > 1 and len(missing) > self.settings.max_removed_fraction * len(deployed)
        if held != policy.prune_held:
            log.warning(
                "pruning %s: %d of %d deployed specs removed",
                "held" if held else "resumed",
                len(missing),
                len(deployed),
            )
        return Policy(**{**policy.__dict__, "prune_held": held})

    def _work(self, name: str, policy: Policy, total: int = 0) -> None:
        next_in: float | None = None  # seconds; None: the work failed unexpectedly
        try:
            if self.sharing is not None and not self.sharing.claim(name, total, self.hub):
                next_in = self.settings.resync_interval  # another hub's; orphan scans look sooner
                return
            next_in = self._seconds_until(reconcile(name, self.hub, policy).next_at)
            if self.sharing is not None:
                self.sharing.pushed(name)  # the run's last record, after its last status
            self.crashes.pop(name, None)
        except Exception:  # the loop never dies: log, and look again after a backoff
            self.crashes[name] = self.crashes.get(name, 0) + 1
            log.exception("reconcile of %s failed unexpectedly", name, extra={"cluster": name})
        finally:  # whatever happened, the cluster is no longer in flight
            with self.cond:
                self.inflight.discard(name)
                if next_in is None:
                    next_in = retry_delay(name, self.crashes.get(name, 1), self.hub.policy.backoff)
                    log.warning("%s: looking at it again in %.0f s", name, next_in, extra={"cluster": name})
                if name in self.again:  # a file event meanwhile (a fix, perhaps): look again soon
                    self.again.discard(name)
                    self.due[name] = min(self.due.get(name, 0.0), time.monotonic() + self.settings.debounce)
                else:
                    self.due.setdefault(name, time.monotonic() + next_in)
                # In flight; those due meanwhile are counted when the loop, woken here, dispatches
                # them. (A scan of every due time after each cluster costs O(clusters²) a resync.)
                self.hub.recorder.queue(len(self.inflight))
                self.cond.notify_all()

    def _seconds_until(self, when: dt.datetime | None) -> float:
        """From decide's wall-clock time to the loop's monotonic schedule, at most one resync away."""
        resync = self.settings.resync_interval
        if when is None:
            return resync
        return max(0.0, min(resync, (when - self.hub.clock()).total_seconds()))

    def _report_queue(self) -> None:
        now = time.monotonic()
        self.hub.recorder.queue(
            len(self.inflight) + sum(1 for n, t in self.due.items() if t <= now and n not in self.inflight)
        )

    def _dispatch(self) -> list[Future[None]]:
        now = time.monotonic()
        ready = [n for n, t in self.due.items() if t <= now and n not in self.inflight]
        if not ready:
            return []
        policy = self._policy()
        futures = []
        for name in sorted(ready, key=lambda n: self.due[n]):
            del self.due[name]
            self.inflight.add(name)
            futures.append(self.pool.submit(self._work, name, policy, self.known))
        self._report_queue()
        return futures

    # -- running ---------------------------------------------------------------------------------
    def start_watching(self) -> None:
        self.settings.specs_dir.mkdir(parents=True, exist_ok=True)
        for folder in REQUEST_DIRS:
            (self.settings.specs_dir / folder).mkdir(exist_ok=True)
        observer = Observer()
        observer.schedule(_Events(self), str(self.specs_dir), recursive=True)
        observer.daemon = True
        observer.start()
        self.observer = observer

    def run(self, once: bool = False) -> None:
        """Reconcile until stopped; with `once`, each cluster once, then return."""
        try:
            self.beat()
            names = sorted(self._universe())
            if self.sharing is None:  # several hubs: a cluster is recovered when its lease is taken
                recover(self.hub, names, beat=self.beat)
            if once:
                policy = self._policy()
                with self.cond:
                    self.inflight.update(names)
                for future in [self.pool.submit(self._work, name, policy, len(names)) for name in names]:
                    future.result()
                return
            self.start_watching()
            self._turns()
        finally:
            self.finished.set()

    def _turns(self) -> None:
        """The loop itself: resync, dispatch what is due, wait for the next due time or an event.
        A turn that fails (a listing, the pruning policy) is logged, and the loop goes on."""
        last_resync, last_scan, failures = 0.0, 0.0, 0
        with self.cond:
            while not self.stopping.is_set():
                self.beat()
                try:
                    if time.monotonic() - last_resync >= self.settings.resync_interval:
                        last_resync = last_scan = time.monotonic()
                        for name in self._universe():
                            self.due.setdefault(name, last_resync)
                    elif self.sharing is not None and time.monotonic() - last_scan >= self.sharing.scan_every:
                        last_scan = time.monotonic()  # a dead hub's clusters: taken over within a lease
                        for name in self.sharing.orphans(self._universe() - self.inflight):
                            self.due[name] = min(self.due.get(name, last_scan), last_scan)
                    self._dispatch()
                    waits = [t - time.monotonic() for n, t in self.due.items() if n not in self.inflight]
                    if self.sharing is not None:
                        waits.append(self.sharing.scan_every)
                    timeout, failures = min([self.settings.resync_interval, *waits]), 0
                except Exception:
                    failures += 1
                    log.exception("a turn of the reconcile loop failed; it goes on")
                    delay = retry_delay("loop", failures, self.hub.policy.backoff)
                    timeout = min(delay, self.settings.resync_interval)
                self.cond.wait(timeout=max(0.01, timeout))

    def stop(self) -> None:
        """Ask running Terraform processes to stop (SIGINT, then their grace period) and wait."""
        self.stopping.set()
        with self.cond:
            self.cond.notify_all()
        self.hub.terraform.stop_all()
        if self.observer is not None:
            self.observer.stop()
        self.pool.shutdown(wait=True)


def _readable_status(clusters_dir: Path, name: str) -> Status | None:
    """The status, or None when it cannot be read (the cluster's own reconcile keeps it aside)."""
    try:
        return read_status(clusters_dir, name)
    except UnreadableFile:
        return None
