"""The one way the hub and the web view read a file they did not just write: a spec, or a record
under `clusters/`. A file is opened without following a link, must be a regular file, and is read
up to a limit only, so a link to `/proc/self/environ`, a pipe or `/dev/zero` in `specs/` is refused
with a reason instead of being shown, parsed or read forever. Plus how the engine keeps a file it
cannot use aside for a person (`set_aside`)."""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

# Opening a pipe for reading would wait for a writer: O_NONBLOCK returns at once (and changes
# nothing for a regular file). O_NOFOLLOW refuses a link as the last part of the path.
_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
ONLY_REGULAR = "the hub reads regular files only"


class UnreadableFile(ValueError):
    """A file the hub cannot use as it is: refused by `read_regular`, or not in a format the hub
    knows. `label` names it as people know it (`specs/x.yaml`), `problem` says what is wrong."""

    def __init__(self, path: Path | str, problem: str, label: str | None = None) -> None:
        self.path, self.problem, self.label = Path(path), problem, label or str(path)
        super().__init__(f"{self.label} {problem}")


class FileRefused(UnreadableFile):
    """Not a regular file (a link, a pipe, a device, a folder), not readable, or over its limit."""


def label(path: Path | str, parts: int) -> str:
    """The last `parts` parts of `path`, as messages name files (`clusters/x/status.json`)."""
    return "/".join(Path(path).parts[-parts:])


def _what(mode: int) -> str:
    """What a file that is not a regular one is, in words."""
    for test, what in (
        (stat.S_ISLNK, "is a symbolic link"),
        (stat.S_ISDIR, "is a directory"),
        (stat.S_ISFIFO, "is a named pipe (FIFO)"),
        (stat.S_ISCHR, "is a device"),
        (stat.S_ISBLK, "is a device"),
        (stat.S_ISSOCK, "is a socket"),
    ):
        if test(mode):
            return what
    return "is not a regular file"


@contextlib.contextmanager
def _opened(path: Path | str, shown: str) -> Iterator[int]:
    """A descriptor on `path`, a regular file. FileNotFoundError when there is nothing there."""
    try:
        fd = os.open(path, _FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise FileNotFoundError(errno.ENOENT, "no such file", str(path)) from None
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link (or links loop in the folders above)
            raise FileRefused(path, f"is a symbolic link; {ONLY_REGULAR}", shown) from None
        if exc.errno in (errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP):  # a socket, a device
            raise FileRefused(path, f"is not a regular file; {ONLY_REGULAR}", shown) from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            denied = "cannot be read (permission denied); check its owner and mode"
            raise FileRefused(path, denied, shown) from None
        raise  # anything else (too many open files, I/O error) is the hub's trouble, not the file's
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise FileRefused(path, f"{_what(mode)}; {ONLY_REGULAR}", shown)
        yield fd
    finally:
        os.close(fd)


def read_regular(path: Path | str, limit: int, shown: str | None = None) -> bytes:
    """The bytes of `path`, a regular file of at most `limit` bytes (at most limit + 1 are read).
    Raises FileNotFoundError when nothing is there, FileRefused for anything else that is not
    such a file; `shown` names the file in the message (default: the path)."""
    shown = shown or str(path)
    with _opened(path, shown) as fd, os.fdopen(os.dup(fd), "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise FileRefused(path, f"is larger than {limit} bytes; the hub reads files up to that size", shown)
    return data


def read_head(path: Path | str, max_bytes: int, shown: str | None = None) -> bytes:
    """At most `max_bytes` + 1 bytes from the start of `path`, a regular file (the caller says
    "truncated" when it got more than `max_bytes`). Raises like `read_regular`."""
    with _opened(path, shown or str(path)) as fd, os.fdopen(os.dup(fd), "rb") as f:
        return f.read(max_bytes + 1)


def read_tail(path: Path | str, max_bytes: int, shown: str | None = None) -> bytes:
    """The last `max_bytes` bytes of `path`, a regular file (a run log as the web view tails it).
    Raises like `read_regular`, but a larger file is not refused: its end is read."""
    with _opened(path, shown or str(path)) as fd, os.fdopen(os.dup(fd), "rb") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(max(size - max_bytes, 0))
        return f.read(max_bytes)


def set_aside(path: Path, now: dt.datetime) -> Path:
    """Rename `path` (a file the engine cannot use) to `<name>.broken-<UTC time>` beside it, for a
    person to look at; returns the new path. The engine's only way to clear a broken record: it
    never deletes one. A link is renamed, never followed."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.broken-{stamp}")
    n = 1
    while os.path.lexists(target):
        n += 1
        target = path.with_name(f"{path.name}.broken-{stamp}-{n}")
    os.rename(path, target)
    return target
