"""Record stage: every status the engine decides goes through `Recorder.record`, which writes
`status.json` (model.status), tells the hooks (metrics), and logs one line per change of a
cluster's phase or reason."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.model.runs import RunRecord
from reconciler.model.specfiles import FileCache
from reconciler.model.status import Phase, Reason, Status, load_status, status_path, write_status

log = logging.getLogger("mchub.reconcile")


def _ignore(value: object) -> None:
    return None


@dataclass(frozen=True)
class Hooks:
    """Who else hears of what the engine records (the Prometheus metrics, in `mchub serve`)."""

    on_status: Callable[[Status], None] = _ignore
    on_run: Callable[[RunRecord], None] = _ignore  # a run finished
    on_queue: Callable[[int], None] = _ignore  # clusters due or in flight


@dataclass
class Recorder:
    clusters: Path
    hooks: Hooks = Hooks()
    # told the name of each cluster whose status was written (`mchub serve`: the web view's change
    # counter, webview.state.Files.note, so its polls see the write at once without a look)
    listeners: list[Callable[[str], None]] = field(default_factory=list)
    _logged: dict[str, tuple[Phase, Reason]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _read: FileCache[Status] = field(default_factory=lambda: FileCache(load_status))
    _paths: dict[str, str] = field(default_factory=dict)  # name -> its status file

    def recorded(self, name: str) -> Status | None:
        """The status of `name` as its file holds it (None: none yet), parsed again only when the
        file changed (its signature: mtime, size, inode; every write is a rename), so a resync of
        thousands of unchanged clusters parses none. Raises UnreadableFile as `read_status` does."""
        path = self._paths.get(name)
        if path is None:  # built once per name: a resync asks for every cluster's
            path = self._paths[name] = str(status_path(self.clusters, name))
        return self._read.get(path)[1]

    def record(self, status: Status) -> Status:
        write_status(self.clusters, status)
        self.hooks.on_status(status)
        for listener in self.listeners:
            listener(status.name)
        seen = (status.phase, status.reason)
        with self._lock:
            changed = self._logged.get(status.name) != seen
            self._logged[status.name] = seen
        if changed:  # one log line per change of phase or reason
            level = logging.WARNING if status.phase.value.endswith(("_error", "invalid")) else logging.INFO
            first = status.message.splitlines()[0] if status.message else ""
            extra = {"cluster": status.name, "run_id": status.run_id}
            log.log(level, "%s: %s (%s) %s", status.name, status.phase.value, status.reason.value, first,
                    extra=extra)  # fmt: skip
        return status

    def run_finished(self, record: RunRecord) -> None:
        self.hooks.on_run(record)

    def queue(self, depth: int) -> None:
        self.hooks.on_queue(depth)
