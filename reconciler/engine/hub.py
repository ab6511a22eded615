"""What a reconcile needs from the outside world, as one value passed in (never a global): settings,
the Terraform binary, the policy, the clock, hooks, and the Terraform processes running now."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.engine.decide import Observed, Policy
from reconciler.engine.render import module_digest
from reconciler.model.runs import RunRecord
from reconciler.model.settings import Settings
from reconciler.model.status import Phase, Reason, Status, write_status
from reconciler.terraform import Terraform

log = logging.getLogger("mchub.reconcile")

Preflight = Callable[[Any], list[str]]  # spec -> problems (empty when it fits)


@dataclass
class Hub:
    """What a reconcile needs from the outside world, passed in (never global)."""

    settings: Settings
    binary: Path
    terraform_version: str
    policy: Policy = field(default_factory=Policy)
    preflight: Preflight | None = None
    terraform: Callable[..., Terraform] = Terraform  # tests may pass a fake of our own wrapper
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    on_status: Callable[[Status], None] = lambda s: None
    on_run: Callable[[RunRecord], None] = lambda r: None  # a run finished (metrics)
    on_queue: Callable[[int], None] = lambda n: None  # clusters due or in flight (metrics)
    # Running Terraform per cluster, so shutdown can interrupt them.
    running: dict[str, Terraform] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    init_lock: threading.Lock = field(default_factory=threading.Lock)
    parsed: dict[str, tuple[tuple[int, int, int], Observed]] = field(default_factory=dict)  # by file stat
    _module_digests: dict[str, tuple[float, str]] = field(default_factory=dict)
    _templates_stamp: tuple[float, float] = (0.0, 0.0)  # (checked at, newest mtime)
    _logged: dict[str, tuple[Phase, Reason]] = field(default_factory=dict)

    @property
    def clusters(self) -> Path:
        return self.settings.clusters_dir

    def module_digest(self, cloud_name: str | None) -> str:
        cloud = self.settings.cloud(cloud_name)
        tdir = self.settings.templates_dir
        checked, stamp = self._templates_stamp
        if time.monotonic() - checked > 2.0:  # walk the templates at most every 2 s
            stamp = max((p.stat().st_mtime for p in tdir.rglob("*") if p.is_file()), default=0.0)
            self._templates_stamp = (time.monotonic(), stamp)
        cached = self._module_digests.get(cloud.name)
        if cached is None or cached[0] != stamp:
            cached = (stamp, module_digest(cloud, tdir))
            self._module_digests[cloud.name] = cached
        return cached[1]

    def record(self, status: Status) -> Status:
        write_status(self.clusters, status)
        self.on_status(status)
        seen = (status.phase, status.reason)
        if self._logged.get(status.name) != seen:  # one log line per change of phase or reason
            self._logged[status.name] = seen
            level = logging.WARNING if status.phase.value.endswith(("_error", "invalid")) else logging.INFO
            extra = {"cluster": status.name, "run_id": status.run_id}
            log.log(
                level,
                "%s: %s (%s) %s",
                status.name,
                status.phase.value,
                status.reason.value,
                status.message.splitlines()[0] if status.message else "",
                extra=extra,
            )
        return status


def make_hub(settings: Settings, catalog: Any = None, metrics: Any = None) -> Hub:
    """The hub for these settings: Terraform found and its version read once; with a catalog,
    the quota pre-flight runs before every plan; with metrics, every status and run is counted."""
    from reconciler.cloud.preflight import make_preflight
    from reconciler.terraform import find_terraform, terraform_version

    binary = find_terraform(settings.terraform)
    policy = Policy(
        prune=settings.prune,
        drift_interval=settings.drift_interval,
        drift_remediate=settings.drift_remediate,
        drift_fight_limit=settings.drift_fight_limit,
    )
    preflight = make_preflight(catalog, settings) if catalog is not None else None
    hub = Hub(
        settings=settings,
        binary=binary,
        terraform_version=terraform_version(binary),
        policy=policy,
        preflight=preflight,
    )
    if metrics is not None:
        metrics.load(settings.clusters_dir)
        hub.on_status, hub.on_run, hub.on_queue = (
            metrics.status_recorded,
            metrics.run_finished,
            metrics.queue_depth,
        )
        if catalog is not None:
            metrics.watch_catalog(catalog.health)
    return hub
