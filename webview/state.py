"""What the web view reads: specs, status records, run history and the catalog. Files are read fresh
on each request, but a parsed file is kept while its (mtime, size, inode) stays the same
(`reconciler.model.specfiles.FileCache`), so polling and a 1,000-cluster dashboard cost mostly `stat`
calls. The list's ETag is a change counter kept in memory (`Files.look`): the files are looked at
again when a write is noted or, at most, once a second shared by every request, and each cluster
keeps the counter of its last change, so a poll asks for only what changed (`Look.since`).
Every file is read as a regular file within its limit (reconciler.model.files):
a spec that is a link, a pipe or a device is shown as invalid with its reason,
never its target's content; a status that cannot be read is shown as the error it is."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from reconciler.model.files import UnreadableFile
from reconciler.model.limits import DEFAULT_LIMITS, Limits
from reconciler.model.names import forgotten
from reconciler.model.spec import (
    CLUSTER_NAME_RE,
    ClusterSpec,
    FieldError,
    SpecError,
    parse_spec_file,
)
from reconciler.model.specfiles import FileCache, read_spec_file, spec_names, spec_path, spec_version
from reconciler.model.status import Phase, Status, known_clusters, load_status, status_path

SMALL_HUB = 100  # clusters under which every request looks at the files (exact, and cheap)
LOOK_INTERVAL = 1.0  # seconds a look is reused for, at most, when nobody told of a write
REMOVED_KEPT = 10_000  # names removed that a `since` poll is told of


class CatalogLike(Protocol):
    """The catalog as the web view uses it (reconciler.cloud.catalog.Catalog, or a test's fake)."""

    def payload(self, cloud_name: str | None, cluster: str | None, clusters_dir: Path) -> dict[str, Any]: ...


class MetricsLike(Protocol):
    """The hub's Prometheus metrics (reconciler.engine.metrics.Metrics): the exposition text."""

    def render(self) -> bytes: ...


class PreviewFailed(Exception):
    """A preview the hub could not make (Terraform failed, the cloud did not answer, a setting is
    wrong). Its message is shown to the person as it is: already redacted, in words."""


class Previewer(Protocol):
    """What a proposed spec would do, asked of the hub (`mchub serve` passes
    `lambda spec: reconciler.engine.preview.preview(hub, spec).as_json()`, with the engine's
    PreviewError raised again as PreviewFailed); the web view never runs Terraform itself.

    The contract:
    - `spec` is the spec exactly as the web view would write it (validated, merged with the file,
      expiry checked, `ensure: present`); the call writes nothing the web view or the reconciler
      reads (no spec, no status, no run, no lock on the cluster's state).
    - It blocks for seconds (a speculative `terraform plan`): the web view calls it in a worker
      thread, a few at a time, and only when a person or a client asks for a preview.
    - It returns JSON data: `summary` (str), `changes` ({kind: count}, kinds `create`, `update`,
      `rebuild`, `replace`, `delete`), `losing` (list of "<address>: <kind>, <why>"), `refused`
      (list of "<field path>: <why>": the spec could only fail, and no Terraform ran),
      `nothing_lost` (bool), `seconds` (float).
    - It raises PreviewFailed when no plan could be made; the web view answers 502 with its
      message. Any other exception is a bug (500)."""

    def __call__(self, spec: ClusterSpec) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SpecFile:
    """One spec file as read: its text, and the spec or the reasons it does not validate."""

    name: str
    text: str
    spec: ClusterSpec | None
    errors: list[FieldError] = field(default_factory=list)
    mtime: float = 0.0
    version: str = ""  # specfiles.spec_version of the bytes read: the ETag and the form's version

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def _read_spec(path: Path, limits: Limits = DEFAULT_LIMITS) -> SpecFile:
    mtime = path.lstat().st_mtime
    try:
        data = read_spec_file(path)
    except SpecError as exc:  # not a regular file within the limit: its reason, never its content
        return SpecFile(path.stem, "", None, exc.errors, mtime, "")
    version = spec_version(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return SpecFile(
            path.stem, "", None, [FieldError(path="", message="file is not UTF-8 text")], mtime, version
        )
    try:
        return SpecFile(path.stem, text, parse_spec_file(text, path, limits), [], mtime, version)
    except SpecError as exc:
        return SpecFile(path.stem, text, None, exc.errors, mtime, version)


def _read_status(path: Path) -> Status | None:
    """The status; one that cannot be read is shown as the error it is, dated by the file (the
    engine keeps it aside and records the same at its next look: the web view writes nothing)."""
    try:
        return load_status(path)
    except UnreadableFile as exc:
        when = dt.datetime.fromtimestamp(path.lstat().st_mtime, dt.UTC)
        message = f"{exc}; the hub keeps it aside for a person at its next look at this cluster"
        return Status(name=path.parent.name).unreadable(when, message, None)


@dataclass(frozen=True)
class Cluster:
    """A cluster as the dashboard lists it: its spec file (if any) and its status (if any)."""

    name: str
    spec: SpecFile | None
    status: Status | None

    @property
    def phase(self) -> str:
        return self.status.phase.value if self.status else Phase.PENDING.value

    @property
    def ensure(self) -> str:
        return self.spec.spec.ensure if self.spec and self.spec.spec else "present"

    @property
    def last_change(self) -> float | None:
        times = [self.spec.mtime] if self.spec else []
        if self.status and self.status.updated_at:
            times.append(self.status.updated_at.timestamp())
        return max(times) if times else None


def _first_run(folder: Path) -> dt.datetime | None:
    """When the oldest run kept in a cluster's `runs/` folder started, from the file names alone
    (run ids start with their UTC time, runs.new_run_id): no record is read."""
    try:
        if not stat.S_ISDIR(folder.lstat().st_mode):
            return None  # only the hub makes this folder: a link or a file here is not its history
        stamps = [e.name[:16] for e in os.scandir(folder) if e.name.endswith(".json")]
    except (FileNotFoundError, NotADirectoryError):
        return None
    times = []
    for stamp in stamps:
        try:
            times.append(dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC))
        except ValueError:
            continue
    return min(times, default=None)


class Files:
    """Readers over `specs/` and `clusters/` for one app."""

    def __init__(
        self,
        specs_dir: Path,
        clusters_dir: Path,
        limits: Limits = DEFAULT_LIMITS,
        interval: float | None = None,  # LOOK_INTERVAL
    ) -> None:
        self.specs_dir = specs_dir
        self.clusters_dir = clusters_dir
        self.specs: FileCache[SpecFile] = FileCache(partial(_read_spec, limits=limits))
        self.statuses: FileCache[Status | None] = FileCache(_read_status)
        # keyed by the runs folder's own signature: a run added or pruned changes its mtime
        self.first_runs: FileCache[dt.datetime | None] = FileCache(_first_run)
        self.interval = LOOK_INTERVAL if interval is None else interval
        self._lock = threading.Lock()  # one look at thousands of files at a time
        self._look: Look | None = None
        self._looked_at = float("-inf")  # when the last look began (time.monotonic)
        self._dirty = True
        self._epoch = secrets.token_hex(4)
        self._counter = 0
        self._sigs: dict[str, tuple[Any, Any]] = {}

    def first_run(self, name: str) -> dt.datetime | None:
        """When the oldest run the hub keeps of `name` started (the list's age when git has none)."""
        return self.first_runs.get(f"{self.clusters_dir}/{name}/runs")[1]

    def spec(self, name: str) -> SpecFile | None:
        return self.specs.get(spec_path(self.specs_dir, name))[1]

    def status(self, name: str) -> tuple[str, Status | None]:
        """The status and its ETag (quoted, weak)."""
        sig, status = self.statuses.get(status_path(self.clusters_dir, name))
        return f'W/"s-{sig or "none"}"', status

    def names(self) -> list[str]:
        return sorted(set(spec_names(self.specs_dir)) | set(known_clusters(self.clusters_dir)))

    def _cluster_dirs(self) -> set[str]:
        try:
            entries = list(os.scandir(self.clusters_dir))
        except FileNotFoundError:
            return set()
        # A link named like a cluster is not one: only the hub makes folders here.
        folders = (e for e in entries if e.is_dir(follow_symlinks=False))
        return {e.name for e in folders if CLUSTER_NAME_RE.fullmatch(e.name)}

    def cluster(self, name: str) -> Cluster | None:
        spec = self.spec(name)
        status = self.status(name)[1]
        if spec is None and status is None:
            return None
        return Cluster(name, spec, status)

    def note(self, name: str = "") -> None:
        """Something was written (a spec saved by the web view, a status recorded by the hub in this
        process, `name` for the record): the next request looks, however recent the last look."""
        self._dirty = True

    def due(self, now: float | None = None) -> bool:
        """Whether `look` would look at the files (a caller on the event loop then asks it in a
        worker thread), rather than answer from memory."""
        last = self._look
        if last is None or self._dirty or len(last.versions) < SMALL_HUB:
            return True
        return (time.monotonic() if now is None else now) - self._looked_at >= self.interval

    def clusters(self) -> tuple[str, list[Cluster]]:
        """Every cluster, and an ETag of the hub's change counter (`look`)."""
        seen = self.look()
        return seen.etag, seen.clusters

    def look(self) -> Look:
        """What every spec and status file held at the last look, taken again only when told of a
        write (`note`) or when the last look is older than `interval` (a hub of fewer than
        SMALL_HUB clusters looks every time: a look costs less than the request). One look at a
        time: a request that waited for another's look, begun after it arrived, takes its answer.
        So a poll of an unchanged list costs a comparison, not a stat of every file."""
        arrived = time.monotonic()
        last = self._look
        if last is not None and not self.due(arrived):
            return last
        if last is not None and len(last.versions) >= SMALL_HUB and self._lock.locked():
            return last  # a look under way: a large hub's pollers keep the last (a second old at most)
        with self._lock:
            if self._look is not None and self._looked_at >= arrived:
                return self._look
            self._looked_at = time.monotonic()
            self._dirty = False
            self._look = self._take_look()
            return self._look

    def _take_look(self) -> Look:
        out = []
        sigs: dict[str, tuple[Any, Any]] = {}
        specs, dirs = set(spec_names(self.specs_dir)), self._cluster_dirs()
        specs_dir, clusters_dir = str(self.specs_dir), str(self.clusters_dir)
        for name in sorted(specs | dirs):  # names checked against CLUSTER_NAME_RE by both listings
            spec_sig, spec = self.specs.get(f"{specs_dir}/{name}.yaml") if name in specs else (None, None)
            status_sig, status = (
                self.statuses.get(f"{clusters_dir}/{name}/status.json") if name in dirs else (None, None)
            )
            if spec is not None or (status is not None and not forgotten(False, status)):
                sigs[name] = (spec_sig, status_sig)
                out.append(Cluster(name, spec, status))  # not one forgotten: history only
        old = self._look
        before = old.clusters_by_name() if old else {}
        changed = [n for n in sigs if self._sigs.get(n) != sigs[n]]
        gone = [n for n in self._sigs if n not in sigs]
        counter = self._counter + (1 if changed or gone or old is None else 0)
        versions = dict(old.versions) if old else {}
        removed = dict(old.removed) if old else {}
        for name in changed:
            versions[name] = counter
            removed.pop(name, None)
        for name in gone:
            versions.pop(name, None)
            removed[name] = (counter, before[name])
        if len(removed) > REMOVED_KEPT:  # the oldest forgotten: a poll that old gets the whole list
            removed = dict(sorted(removed.items(), key=lambda kv: kv[1][0])[-REMOVED_KEPT:])
        self._counter, self._sigs = counter, sigs
        floor = min((v for v, _ in removed.values()), default=0) if len(removed) >= REMOVED_KEPT else 0
        return Look(f"{self._epoch}.{counter}", out, versions, removed, floor)


@dataclass(frozen=True)
class Look:
    """One look at every spec and status: the clusters, the version of the whole list (the hub's
    change counter, prefixed with this process's epoch: a version from another process or an
    older hub is never mistaken for one of ours), each cluster's version (the counter when it last
    changed), and the names gone since, with the version they went at and how they were last seen."""

    version: str
    clusters: list[Cluster]
    versions: dict[str, int]
    removed: dict[str, tuple[int, Cluster]]
    floor: int = 0  # a `since` older than this may miss removed names: answer the whole list

    @property
    def etag(self) -> str:
        return f'W/"l-{self.version}"'

    def clusters_by_name(self) -> dict[str, Cluster]:
        return {c.name: c for c in self.clusters}

    def since(self, version: str) -> tuple[list[Cluster], list[Cluster]] | None:
        """(clusters changed after `version`, clusters removed after it, as last seen), or None when
        `version` is not one of this process's (the caller answers the whole list)."""
        epoch, _, count = version.partition(".")
        mine, _, now = self.version.partition(".")
        if epoch != mine or not count.isdigit() or int(count) > int(now) or int(count) < self.floor:
            return None
        after = int(count)
        changed = [c for c in self.clusters if self.versions.get(c.name, 0) > after]
        removed = [seen for v, seen in self.removed.values() if v > after]
        return changed, removed
