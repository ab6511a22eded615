"""Token-mode sessions that logout ends on the server, not only in the browser. A session cookie is
signed (auth.py) and carries a random id; logout records that id here, so a copy of the cookie
taken before logout is refused afterwards. The record lives in memory and, when the hub has a
clusters directory, in `<clusters_dir>/.webview-sessions-revoked.json` (0600) beside the web view's
key, so it survives a restart. Entries leave the record when their session would have expired."""

from __future__ import annotations

import json
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from itsdangerous import BadData, URLSafeTimedSerializer

from reconciler.model.atomic import write_atomic

log = logging.getLogger("mchub.webview")

REVOKED_FILE = ".webview-sessions-revoked.json"
MAX_REVOKED = 10_000  # past this, the oldest are folded into `not_before` (they stay refused)
MAX_FILE_BYTES = 2 * 1024 * 1024


@dataclass
class Revocations:
    """Which sessions logout ended: ids (with when each was issued), and a time before which every
    session is refused (an unreadable record, or ids folded in when there are too many)."""

    max_age: int
    path: Path | None = None
    clock: Callable[[], float] = time.time
    revoked: dict[str, int] = field(default_factory=dict)  # session id -> issued at (epoch seconds)
    not_before: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def kept_in(cls, clusters_dir: Path, max_age: int) -> Revocations:
        """The record kept beside the web view's key; read once, at start."""
        store = cls(max_age=max_age, path=clusters_dir / REVOKED_FILE)
        store._load()
        return store

    def is_revoked(self, session_id: str, issued_at: int) -> bool:
        return issued_at < self.not_before or session_id in self.revoked

    def revoke(self, session_id: str, issued_at: int) -> None:
        """End one session for good; the record is saved before this returns (a failed save is
        logged: the session stays refused until the hub restarts)."""
        with self._lock:
            now = int(self.clock())
            self.revoked = {s: t for s, t in self.revoked.items() if t + self.max_age >= now}
            self.revoked[session_id] = issued_at
            if len(self.revoked) > MAX_REVOKED:
                self._fold(len(self.revoked) - MAX_REVOKED)
            self._save()

    def _fold(self, count: int) -> None:
        """Too many ids: refuse every session issued up to the newest of the `count` oldest, and
        forget their ids. Over-refusing (others log in again) is safe; forgetting one is not."""
        oldest = sorted(self.revoked.values())[count - 1]
        self.not_before = max(self.not_before, oldest + 1)
        self.revoked = {s: t for s, t in self.revoked.items() if t >= self.not_before}

    def _save(self) -> None:
        if self.path is None:
            return
        blob = json.dumps({"not_before": self.not_before, "revoked": self.revoked}, sort_keys=True)
        try:
            write_atomic(self.path, blob, mode=0o600)
        except OSError as exc:
            log.error(
                "could not record a logout in %s (%s): the session stays refused until the hub "
                "restarts; free space or fix the permissions of that folder",
                self.path,
                exc.strerror or exc,
            )

    def _load(self) -> None:
        """A missing record is an empty one. A record that cannot be read is not trusted to be
        complete: every session issued before now is refused (people log in again)."""
        assert self.path is not None
        try:
            data = json.loads(read_small_file(self.path, MAX_FILE_BYTES))
            revoked, not_before = data["revoked"], data["not_before"]
            if not (
                isinstance(revoked, dict)
                and all(isinstance(s, str) and type(t) is int for s, t in revoked.items())
                and type(not_before) is int
            ):
                raise ValueError("unexpected content")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
            self.not_before = int(self.clock()) + 1
            log.warning(
                "%s cannot be read (%s): every session is refused, people log in again; the file is "
                "rewritten at the next logout",
                self.path,
                exc,
            )
            return
        self.revoked, self.not_before = revoked, not_before


def signed_session(
    serializer: URLSafeTimedSerializer, raw: str, token_tag: Callable[[str], str], max_age: int
) -> tuple[str, str, int] | None:
    """(user, session id, issued at) of a cookie this hub signed for the user's current token
    (`token_tag(user)`: its fingerprint; "-" when the user has no token), unexpired."""
    try:
        data, signed = serializer.loads(raw, max_age=max_age, return_timestamp=True)
    except BadData:
        return None
    if not (
        isinstance(data, dict)
        and isinstance(data.get("u"), str)
        and isinstance(data.get("s"), str)  # sessions from before logouts were recorded: log in again
        and data.get("t") != "-"
        and data.get("t") == token_tag(data["u"])
    ):
        return None
    return data["u"], data["s"], int(signed.timestamp())


def read_small_file(path: Path, limit: int) -> bytes:
    """A regular file's bytes, never through a link, refused when larger than `limit`."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ValueError("not a regular file")
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise ValueError(f"larger than {limit} bytes")
    return data
