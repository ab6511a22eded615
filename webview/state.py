"""What the web view reads: specs, status records, run history and the catalog. Files are read fresh
on each request, but a parsed file is kept while its (mtime, size, inode) stays the same
(`reconciler.model.specfiles.FileCache`), so polling and a 1,000-cluster dashboard cost mostly `stat`
calls. The list's ETag is a change counter kept in memory (`Files.look`): a write the web view is
told of (`Files.note`: its own saves, the hub's statuses, the loop's spec events) is looked at alone,
every file only once an interval shared by every request (longer for a hub whose look costs more),
and each cluster keeps the counter of its last change, so a poll asks for only what changed
(`Look.since`) and a cluster page's poll of an unchanged status is a 304 from memory.
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
LOOK_INTERVAL = 1.0  # seconds a look is reused for, at least, when nobody told of a write
LOOK_SHARE = 0.05  # of one core, at most, spent looking at every file: a larger hub looks less often
LOOK_LONGEST = 10.0  # seconds, the longest a write nobody told of waits to be seen
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
        self._full_at = float("-inf")  # when the last look at every file began
        self._full_cost = 0.0  # seconds the last look at every file took
        self._dirty = True
        self._noted: set[str] = set()  # clusters told of since the last look
        self._note_lock = threading.Lock()
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

    def status_etag(self, name: str) -> str | None:
        """`name`'s status ETag as the last look saw it, while that look stands (not due, and this
        cluster not told of since): a cluster page's poll of an unchanged status is answered from
        memory, without a stat. None: ask `status`, which looks at the file."""
        sigs = self._sigs
        if self._look is None or name in self._noted or self.due():
            return None
        seen = sigs.get(name)
        return f'W/"s-{seen[1]}"' if seen is not None and seen[1] is not None else None

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
        """Cluster `name`'s spec or status was written (a save by the web view, a status recorded by
        the hub, a spec event seen by its loop): the next request looks at that cluster's files
        only, however recent the last look. Without a valid name: at every file."""
        with self._note_lock:
            if name and CLUSTER_NAME_RE.fullmatch(name):
                self._noted.add(name)
            else:
                self._dirty = True

    @property
    def last(self) -> Look | None:
        """The last look, as it stands (None before the first): no file is looked at."""
        return self._look

    def interval_now(self) -> float:
        """Seconds between looks at every file: `interval`, or longer for a hub whose look costs
        more than LOOK_SHARE of that (10,000 clusters: some 0.2 s of stat calls, every 4 s). What
        this process writes is told (`note`) and seen at once; only other writers wait for it."""
        return min(max(self.interval, self._full_cost / LOOK_SHARE), LOOK_LONGEST)

    def due(self, now: float | None = None) -> bool:
        """Whether `look` would look at the files (a caller on the event loop then asks it in a
        worker thread), rather than answer from memory."""
        last = self._look
        if last is None or self._dirty or self._noted or len(last.versions) < SMALL_HUB:
            return True
        return (time.monotonic() if now is None else now) - self._full_at >= self.interval_now()

    def clusters(self) -> tuple[str, list[Cluster]]:
        """Every cluster, and an ETag of the hub's change counter (`look`)."""
        seen = self.look()
        return seen.etag, seen.clusters

    def look(self) -> Look:
        """What every spec and status file held at the last look. Taken again at every file only
        when the last such look is older than `interval_now()` or when told of a write without a
        name; at the files of the clusters told of (`note`) only, otherwise (a hub of fewer than
        SMALL_HUB clusters looks at every file every time: that costs less than the request). One
        look at a time: a request that waited for another's look, begun after it arrived, takes
        its answer. So a poll of an unchanged list costs a comparison, not a stat of every file,
        and a status written costs a stat of that cluster's two files."""
        arrived = time.monotonic()
        last = self._look
        if last is not None and not self.due(arrived):
            return last
        if last is not None and len(last.versions) >= SMALL_HUB and self._lock.locked():
            return last  # a look under way: a large hub's pollers keep the last (a moment old)
        with self._lock:
            if self._look is not None and self._looked_at >= arrived:
                return self._look
            self._looked_at = began = time.monotonic()
            with self._note_lock:
                noted, self._noted, dirty, self._dirty = self._noted, set(), self._dirty, False
            old = self._look
            if dirty or old is None or len(old.versions) < SMALL_HUB or not noted:
                self._full_at = began
                self._look = self._take_look()
                if old is not None:  # not the first: that one parsed every file
                    self._full_cost = time.monotonic() - began
            else:
                self._look = self._take_partial(old, noted)
            return self._look

    def _read_both(self, name: str, spec: bool, folder: bool) -> tuple[tuple[Any, Any], Cluster | None]:
        """The signatures of `name`'s spec and status files, and the cluster they make (None for
        neither, or only the status of a cluster forgotten: history only, not listed)."""
        spec_sig, spec_file = self.specs.get(f"{self.specs_dir}/{name}.yaml") if spec else (None, None)
        status_sig, status = (
            self.statuses.get(f"{self.clusters_dir}/{name}/status.json") if folder else (None, None)
        )
        if spec_file is not None or (status is not None and not forgotten(False, status)):
            return (spec_sig, status_sig), Cluster(name, spec_file, status)
        return (spec_sig, status_sig), None

    def _take_look(self) -> Look:
        """A look at every spec and status file."""
        found: dict[str, Cluster] = {}
        sigs: dict[str, tuple[Any, Any]] = {}
        specs, dirs = set(spec_names(self.specs_dir)), self._cluster_dirs()
        for name in sorted(specs | dirs):  # names checked against CLUSTER_NAME_RE by both listings
            sig, cluster = self._read_both(name, name in specs, name in dirs)
            if cluster is not None:
                sigs[name], found[name] = sig, cluster
        return self._next_look(found, sigs, list(found))

    def _take_partial(self, old: Look, names: set[str]) -> Look:
        """A look at the files of `names` only; every other cluster as the last look saw it."""
        found, sigs = dict(old.by_name), dict(self._sigs)
        for name in names:
            spec = os.path.lexists(f"{self.specs_dir}/{name}.yaml")
            try:  # a folder made by the hub; a link named like a cluster is not one
                folder = stat.S_ISDIR(os.lstat(f"{self.clusters_dir}/{name}").st_mode)
            except (FileNotFoundError, NotADirectoryError):
                folder = False
            sig, cluster = self._read_both(name, spec, folder)
            found.pop(name, None)
            sigs.pop(name, None)
            if cluster is not None:
                sigs[name], found[name] = sig, cluster
        same_names = len(found) == len(old.by_name) and all(n in old.by_name for n in names if n in found)
        order = old.names if same_names else sorted(found)
        return self._next_look(found, sigs, order, names)

    def _next_look(
        self,
        found: dict[str, Cluster],
        sigs: dict[str, tuple[Any, Any]],
        order: list[str],
        examined: set[str] | None = None,  # the names looked at (None: every one)
    ) -> Look:
        """The look after the last one: the change counter moved on when any cluster changed, and
        each changed cluster's version (and each removed one's) set to it."""
        old = self._look
        out = [found[n] for n in order]
        before = old.by_name if old else {}
        looked = sigs if examined is None else [n for n in examined if n in sigs]
        changed = [n for n in looked if self._sigs.get(n) != sigs[n]]
        was = self._sigs if examined is None else [n for n in examined if n in self._sigs]
        gone = [n for n in was if n not in sigs]
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
        return Look(f"{self._epoch}.{counter}", out, versions, removed, floor, found, order)


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
    by_name: dict[str, Cluster] = field(default_factory=dict)  # the same clusters, by name
    names: list[str] = field(default_factory=list)  # their names, in order

    @property
    def etag(self) -> str:
        return f'W/"l-{self.version}"'

    @property
    def counter(self) -> int:
        """The change counter this look was taken at (its version without the epoch)."""
        return int(self.version.partition(".")[2])

    def clusters_by_name(self) -> dict[str, Cluster]:
        return self.by_name

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
