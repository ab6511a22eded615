"""Catalog: what a cloud offers (flavors, images, networks, volume types) and how much quota it has
left, read with openstacksdk (fetch.py, part by part) and cached per cloud. Feeds the form,
`GET /api/resources`, `mchub resources` and the pre-flight check the reconciler runs before plan
(preflight.py, sizing.py)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reconciler.cloud.fetch import CatalogError, ErrorKind, fetch_snapshot
from reconciler.cloud.figures import Snapshot
from reconciler.cloud.payload import snapshot_payload
from reconciler.cloud.sizing import Usage, state_usage
from reconciler.model.settings import CloudConfig, Settings, SettingsError
from reconciler.model.spec import CLUSTER_NAME_RE, SpecError, load_spec

log = logging.getLogger(__name__)

__all__ = ["Catalog", "CatalogError", "ErrorKind", "fetch_snapshot"]


# -- cache: per cloud, short TTL, refreshed in the background -----------------------------------


@dataclass
class _Entry:
    snapshot: Snapshot | None = None
    error: CatalogError | None = None
    logged: str | None = None  # kind of the error last logged: an outage is logged once, not per try
    retry_at: float = 0.0  # no fetch before this (TTL, or the slower retry after an auth failure)
    running: threading.Event | None = None  # set when the fetch under way ends
    deadline: float = 0.0  # how long a caller with no figures yet waits for that fetch
    config_mtime: float | None = None  # clouds.yaml as it was when authentication failed
    failures: int = 0  # fetches that failed since the hub started (for /metrics)


Fetcher = Callable[[CloudConfig], Snapshot]


class Catalog:
    """Figures per cloud. `get` answers from the cache and refreshes it in a background thread
    once older than `ttl`; only the very first question for a cloud waits (up to `first_timeout`)."""

    def __init__(self, settings: Settings, ttl: float = 60.0, fetcher: Fetcher = fetch_snapshot,
                 clock: Callable[[], float] = time.time, first_timeout: float = 15.0,
                 auth_retry: float = 300.0) -> None:  # fmt: skip
        self.settings, self.ttl, self.fetcher, self.clock = settings, ttl, fetcher, clock
        self.first_timeout, self.auth_retry = first_timeout, auth_retry
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def cloud(self, name: str | None) -> CloudConfig:
        try:
            return self.settings.cloud(name)
        except SettingsError as exc:
            raise CatalogError("request", str(exc)) from None

    def get(self, cloud_name: str | None = None) -> Snapshot:
        """The latest figures; never waits on the cloud once it has answered once."""
        return self._get(self.cloud(cloud_name), force=False)

    def refresh(self, cloud_name: str | None = None) -> Snapshot:
        """Fetch now (unless a fetch is under way, or auth failed and clouds.yaml is unchanged) and wait
        for it, up to `first_timeout`. For the pre-flight, which must not refuse on old figures."""
        return self._get(self.cloud(cloud_name), force=True)

    def _get(self, cloud: CloudConfig, force: bool) -> Snapshot:
        with self._lock:
            entry = self._entries.setdefault(cloud.name, _Entry())
            self._maybe_start(cloud, entry, force)
            running, wait = entry.running, entry.snapshot is None or force
        if running is not None and wait:
            running.wait(max(entry.deadline - self.clock(), 0.0))
        with self._lock:
            return self._current(cloud.name, entry)

    def _maybe_start(self, cloud: CloudConfig, entry: _Entry, force: bool) -> None:
        now = self.clock()
        if entry.running is not None or self._stopping.is_set():
            return
        if entry.error is not None and entry.error.kind == "auth" and entry.config_mtime != _mtime(cloud):
            entry.retry_at = 0.0  # clouds.yaml changed since authentication failed: try it at once
        elif now < entry.retry_at and (not force or entry.error is not None and entry.error.kind == "auth"):
            return
        entry.running, entry.deadline = threading.Event(), now + self.first_timeout
        thread = threading.Thread(target=self._fetch, args=(cloud, entry, entry.running),
                                  name=f"catalog-refresh-{cloud.name}", daemon=True)  # fmt: skip
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _fetch(self, cloud: CloudConfig, entry: _Entry, done: threading.Event) -> None:
        error: CatalogError | None = None
        try:
            snapshot = self.fetcher(cloud)
        except CatalogError as exc:
            error = exc
        except Exception as exc:  # a bug or a surprise from the SDK: report it like an outage
            log.exception("catalog: fetching from cloud %s failed", cloud.name)
            error = CatalogError("unreachable", f"cloud {cloud.name} did not answer: {exc}")
        with self._lock:
            now = self.clock()
            if error is None:
                before = entry.snapshot.unknown if entry.snapshot is not None else {}
                if snapshot.unknown and set(snapshot.unknown) != set(before):  # once per change
                    log.warning("catalog: cloud %s: %s", cloud.name, "; ".join(snapshot.unknown.values()))
                entry.snapshot, entry.error = replace(snapshot, fetched_at=now, error=None), None
                entry.retry_at = now + self.ttl
                if entry.logged is not None:
                    log.warning("catalog: cloud %s answers again", cloud.name)
                entry.logged = None
            else:
                entry.error = error
                entry.failures += 1
                entry.retry_at = now + (self.auth_retry if error.kind == "auth" else min(self.ttl, 30.0))
                entry.config_mtime = _mtime(cloud)
                if entry.logged != error.kind:  # once per outage, not once per request or retry
                    log.warning("catalog: %s", error)
                    entry.logged = error.kind
            entry.running = None
        done.set()

    def _current(self, name: str, entry: _Entry) -> Snapshot:
        error = str(entry.error) if entry.error is not None else None
        if entry.snapshot is not None:
            return replace(entry.snapshot, error=error)
        if error is None and entry.running is not None:
            error = f"cloud {name} did not answer within {self.first_timeout:g} s (still trying)"
        return Snapshot(name, None, error=error or f"cloud {name} has not been asked yet")

    def health(self) -> dict[str, tuple[float | None, int]]:
        """Per cloud asked so far: age of its figures in seconds (None = none yet), failed fetches."""
        with self._lock:
            now = self.clock()
            return {
                name: (e.snapshot.age(now) if e.snapshot is not None else None, e.failures)
                for name, e in self._entries.items()
            }

    def stop(self, timeout: float = 2.0) -> None:
        """No more refreshes; wait briefly for any under way (they are daemon threads)."""
        self._stopping.set()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(deadline - time.monotonic(), 0.0))

    # -- the resources payload -----------------------------------------------------------------

    def payload(
        self, cloud_name: str | None, cluster: str | None, clusters_dir: Path | None = None
    ) -> dict[str, Any]:
        """What `GET /api/resources?cloud=NAME[&cluster=NAME]` serves; with a cluster, its own usage
        (from its Terraform state) is given back to what remains. Without a cloud, a cluster's
        figures are those of the cloud it runs on (its project's, when it names one)."""
        if cluster is not None and not CLUSTER_NAME_RE.match(cluster):
            raise CatalogError("request", f'"{cluster}" is not a cluster name')
        if cloud_name is None and cluster is not None:
            cloud_name = self._cloud_of(cluster)
        snap = self.get(cloud_name)
        clusters = clusters_dir or self.settings.clusters_dir
        own = state_usage(clusters, cluster, snap.flavors) if cluster else Usage()
        return snapshot_payload(snap, own, self.clock(), cluster)

    def _cloud_of(self, cluster: str) -> str | None:
        try:
            spec = load_spec(self.settings.specs_dir / f"{cluster}.yaml", self.settings.limits)
        except (OSError, SpecError):
            return None
        return self.settings.cloud_of(spec.cloud, spec.project)


def _mtime(cloud: CloudConfig) -> float | None:
    try:
        return cloud.clouds_yaml.stat().st_mtime if cloud.clouds_yaml else None
    except OSError:
        return None
