"""Prometheus metrics of the hub: clusters by phase, Terraform runs by action and result with their
durations, the reconcile queue, drift, waits for quota, and the catalog's fetch errors and age. Fed
by the hub's hooks (status recorded, run finished, queue changed); served by the web view at
/metrics."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from reconciler.model.files import UnreadableFile
from reconciler.model.runs import RunRecord
from reconciler.model.status import Phase, Reason, Status, known_clusters, read_status

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DURATION_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, float("inf"))
log = logging.getLogger("mchub.metrics")

Health = Callable[[], dict[str, tuple[float | None, int]]]  # cloud -> (age seconds, failed fetches)


class _Catalog(Collector):
    def __init__(self, health: Health) -> None:
        self.health = health

    def collect(self) -> Iterator[GaugeMetricFamily]:
        age = GaugeMetricFamily("mchub_catalog_age_seconds", "Age of the cloud's figures", labels=["cloud"])
        errors = GaugeMetricFamily(
            "mchub_catalog_fetch_errors", "Catalog fetches that failed since start", labels=["cloud"]
        )
        for cloud, (seconds, failures) in sorted(self.health().items()):
            if seconds is not None:
                age.add_metric([cloud], seconds)
            errors.add_metric([cloud], failures)
        yield age
        yield errors


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.clusters = Gauge("mchub_clusters", "Clusters by phase", ["phase"], registry=r)
        self.orphaned = Gauge("mchub_clusters_orphaned", "Clusters whose spec file is gone", registry=r)
        self.drifted = Gauge(
            "mchub_clusters_drifted", "Clusters whose last drift check found drift", registry=r
        )
        self.quota_wait = Gauge(
            "mchub_clusters_waiting_for_quota", "Clusters whose spec waits for free quota", registry=r
        )
        self.drift_detected = Counter("mchub_drift_detected", "Drift checks that found drift", registry=r)
        self.runs = Counter("mchub_terraform_runs", "Terraform runs", ["action", "result"], registry=r)
        self.duration = Histogram(
            "mchub_terraform_run_duration_seconds",
            "Terraform run duration",
            ["action"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.queue = Gauge("mchub_reconcile_queue_depth", "Clusters due or being reconciled", registry=r)
        self._phases: dict[str, Status] = {}
        self._lock = threading.Lock()

    def watch_catalog(self, health: Health) -> None:
        self.registry.register(_Catalog(health))

    def load(self, clusters_dir: Path) -> None:
        """Start from the statuses on disk (a restart keeps the counts right). One that cannot be
        read is left out: the loop keeps it aside and records what it means, which counts then."""
        for name in known_clusters(clusters_dir):
            try:
                status = read_status(clusters_dir, name)
            except UnreadableFile as exc:
                log.warning("not counted: %s", exc, extra={"cluster": name})
                continue
            if status is not None:
                self.status_recorded(status)

    def status_recorded(self, status: Status) -> None:
        with self._lock:
            before = self._phases.get(status.name)
            self._phases[status.name] = status
            if status.drift.detected and (
                before is None or before.drift.checked_at != status.drift.checked_at
            ):
                self.drift_detected.inc()
            self._refresh(self._phases.values())

    def _refresh(self, statuses: Iterable[Status]) -> None:
        counts = {phase.value: 0 for phase in Phase}
        orphaned = drifted = waiting = 0
        for s in statuses:
            counts[s.phase.value] += 1
            orphaned += s.orphaned
            drifted += s.drift.detected
            waiting += s.reason == Reason.QUOTA_WAIT
        for phase, n in counts.items():
            self.clusters.labels(phase=phase).set(n)
        self.orphaned.set(orphaned)
        self.drifted.set(drifted)
        self.quota_wait.set(waiting)

    def run_finished(self, record: RunRecord) -> None:
        self.runs.labels(action=record.action, result=record.result).inc()
        if record.finished_at is not None:
            seconds = (record.finished_at - record.started_at).total_seconds()
            self.duration.labels(action=record.action).observe(max(seconds, 0.0))

    def queue_depth(self, depth: int) -> None:
        self.queue.set(depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)
