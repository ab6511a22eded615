"""Where specs live on disk: `specs/<name>.yaml`, one file per cluster. The engine lists and reads
them each pass and the web view on each request, so both share this listing, the name check that
builds every path, and a parse cache keyed by each file's (mtime, size, inode)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from reconciler.model.spec import CLUSTER_NAME_RE

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
    """Names of the spec files, sorted (files whose stem is not a valid name are skipped)."""
    try:
        stems = [e.name[:-5] for e in os.scandir(specs_dir) if e.name.endswith(".yaml") and e.is_file()]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(s for s in stems if CLUSTER_NAME_RE.fullmatch(s))


def signature(path: str | Path) -> str | None:
    """A cheap fingerprint of a file's current version; None when it does not exist. Writers
    replace files by rename, so the inode changes even when mtime and size do not."""
    try:
        st = os.stat(path)
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
