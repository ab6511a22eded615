"""Where specs live on disk: `specs/<name>.yaml`, one file per cluster. The engine lists and reads
them each pass and the web view on each request, so both share this listing, the name check that
builds every path, and a parse cache keyed by each file's (mtime, size, inode). Plus the web view's
two ways to write one: create it exclusively, or replace it only if it is still the version read.
A spec is read only as a regular file within the spec size limit (`read_spec_file`): a link, a pipe
or a device named like a spec is listed, and refused with a reason, never read or written through."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from reconciler.model.atomic import write_atomic
from reconciler.model.files import ONLY_REGULAR, FileRefused, label, read_regular
from reconciler.model.spec import CLUSTER_NAME_RE, MAX_SPEC_BYTES, FieldError, SpecError

T = TypeVar("T")
CACHE_LIMIT = 20_000


class BadName(ValueError):
    """A cluster name that cannot name a spec file."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f'"{name[:60]}" is not a cluster name: start with a lower-case letter, then 1 to 40 '
            "lower-case letters, digits or dashes"
        )


def checked_name(name: str) -> str:
    if not CLUSTER_NAME_RE.fullmatch(name):
        raise BadName(name)
    return name


def spec_path(specs_dir: Path, name: str) -> Path:
    """The spec file of `name`. Every path is built from a checked name, so no name can reach
    outside `specs_dir` (raises BadName)."""
    return specs_dir / f"{checked_name(name)}.yaml"


def spec_names(specs_dir: Path) -> list[str]:
    """Names of the spec files, sorted (entries whose stem is not a valid name are skipped). Every
    entry named like a spec counts, whatever it is: a link, a pipe or a folder named `x.yaml` is
    the spec of `x`, refused with a reason when read (`read_spec_file`), not silently left out."""
    try:
        stems = [e.name[:-5] for e in os.scandir(specs_dir) if e.name.endswith(".yaml")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(s for s in stems if CLUSTER_NAME_RE.fullmatch(s))


def read_spec_file(path: Path) -> bytes:
    """The bytes of a spec file: a regular file (not a link to one) of at most MAX_SPEC_BYTES.
    FileNotFoundError when there is none; SpecError naming the file when it is anything else (the
    same refusal for the engine, the web view's pages and API, and every write over the file)."""
    try:
        return read_regular(path, MAX_SPEC_BYTES, label(path, 2))
    except FileRefused as exc:
        message = str(exc)
        if ONLY_REGULAR in exc.problem:
            message += "; replace it with the spec itself, or remove it"
        raise SpecError([FieldError(path="", message=message)], str(path)) from None


def signature(path: str | Path) -> str | None:
    """A cheap fingerprint of a file's current version; None when it does not exist. Writers
    replace files by rename, so the inode changes even when mtime and size do not. A link's own
    (never its target's): a link is refused whatever it points at."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return f"{st.st_mtime_ns:x}-{st.st_size:x}-{st.st_ino:x}"


class FileCache(Generic[T]):
    """Parsed files by path, valid while the file's signature is unchanged."""

    def __init__(self, parse: Callable[[Path], T]) -> None:
        self.parse = parse
        self.entries: dict[str, tuple[str, T]] = {}

    def get(self, path: str | Path) -> tuple[str | None, T | None]:
        """(signature, parsed value), or (None, None) when the file does not exist."""
        key = str(path)  # plain strings: the dashboard looks up thousands of these per request
        sig = signature(key)
        if sig is None:
            self.entries.pop(key, None)
            return None, None
        hit = self.entries.get(key)
        if hit is not None and hit[0] == sig:
            return sig, hit[1]
        try:
            value = self.parse(Path(key))
        except FileNotFoundError:
            return None, None  # removed between the stat and the read
        if len(self.entries) > CACHE_LIMIT:
            self.entries.clear()  # a crude bound: cheaper than LRU bookkeeping on every hit
        self.entries[key] = (sig, value)
        return sig, value


# -- versions and conditional writes ------------------------------------------------------------


class SpecExists(FileExistsError):
    """A create found the spec file of `name` already there (made by another writer first)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"specs/{name}.yaml already exists")
        self.name = name


class VersionMismatch(Exception):
    """A conditional write found the file at another version (None: the file is gone)."""

    def __init__(self, current: str | None) -> None:
        super().__init__(f"the spec file is at version {current}" if current else "the spec file is gone")
        self.current = current


def spec_version(data: bytes) -> str:
    """The version of a spec file's content: the web view's ETag and the edit form's hidden field.
    A content hash rather than `signature`: the same bytes have the same version on every machine
    and after a git checkout rewrites the file (no false conflicts), and any change of content
    gives a new one, even within the file system's mtime grain."""
    return hashlib.sha256(data).hexdigest()[:32]


@contextlib.contextmanager
def _specs_locked(specs_dir: Path) -> Iterator[None]:
    """Serialises the web view's writes (every thread and process on this machine): an advisory
    lock on the folder itself, so no lock file shows up in the specs' git work tree."""
    specs_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(specs_dir, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _create_exclusive(path: Path, blob: bytes) -> None:
    """Write a complete temp file, then hard-link it to `path`: the link fails if `path` exists
    (whoever made it: another request, git, an editor), and a reader sees the whole file or none."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".new")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise SpecExists(path.stem) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _matches(current: str | None, expected: Collection[str]) -> bool:
    return current is not None and ("*" in expected or current in expected)


def current_text(path: Path, expected: Collection[str] | None = None) -> tuple[str | None, str | None]:
    """(text, version) of the spec file at `path` now, or (None, None) when there is none: the
    read every conditional write (and the preview of one) starts from. Never through a link or past
    the size limit (SpecError, as `read_spec_file`); SpecError when it is not UTF-8 text.
    `expected`: the versions (or "*", any) the file must be at, else VersionMismatch."""
    try:
        data: bytes | None = read_spec_file(path)
    except FileNotFoundError:
        data = None
    current = spec_version(data) if data is not None else None
    if expected is not None and not _matches(current, expected):
        raise VersionMismatch(current)
    try:
        text = None if data is None else data.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError([FieldError(path="", message="file is not UTF-8 text")], str(path)) from None
    return text, current


def write_spec_file(
    path: Path, make: Callable[[str | None], str], expected: Collection[str] | None = None
) -> tuple[str, bool]:
    """Write `make(text of the file now, or None)` to `path`, holding the specs lock from the read
    to the write so no other web write comes between. `expected`: the versions (or "*", any) the
    file must be at, else VersionMismatch. A missing file is created exclusively (SpecExists when
    another writer made it first). Returns (version, whether anything was written)."""
    with _specs_locked(path.parent):
        text, current = current_text(path, expected)  # a link, a pipe: SpecError, nothing written
        blob = make(text).encode()
        if text is None:
            _create_exclusive(path, blob)
        elif blob == text.encode():  # UTF-8 text encodes back to the very bytes it was read from
            return spec_version(blob), False
        else:
            write_atomic(path, blob)
        return spec_version(blob), True


def remove_spec_file(path: Path, expected: Collection[str] | None = None) -> str:
    """Remove the spec file at `path` (the web view's Forget), holding the specs lock, if it is at
    one of the `expected` versions (None: any; VersionMismatch otherwise). FileNotFoundError when
    there is none; SpecError for a link, a pipe or a folder in its place (never removed through).
    Returns the version removed."""
    with _specs_locked(path.parent):
        current = spec_version(read_spec_file(path))  # none: FileNotFoundError; a link: SpecError
        if expected is not None and not _matches(current, expected):
            raise VersionMismatch(current)
        path.unlink()
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return current
