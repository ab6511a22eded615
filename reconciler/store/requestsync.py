"""People's requests between a hub's `specs/` and the database, both ways: an approval
(`specs/.approvals/<name>.json`) or a retry request (`specs/.retries/<name>.json`) written on any hub
reaches the hub that holds the cluster. Each is a last-writer-wins document: the newer `at` wins,
in SQL on the way in and here on the way out, so hubs converge whatever order they sync in."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

from reconciler.model.approvals import APPROVAL_LIMIT, APPROVALS_DIR
from reconciler.model.atomic import write_atomic
from reconciler.model.files import read_regular
from reconciler.model.retries import MAX_BYTES, RETRIES_DIR, request_at
from reconciler.model.spec import CLUSTER_NAME_RE
from reconciler.store.db import Database
from reconciler.store.shared import Request, get_request, put_request, requests_since

log = logging.getLogger("mchub.store")

# kind -> the folder under specs/ and the largest file of it read
KINDS: dict[str, tuple[str, int]] = {
    "approval": (APPROVALS_DIR, APPROVAL_LIMIT),
    "retry": (RETRIES_DIR, MAX_BYTES),
}
Signature = tuple[int, int, int]  # inode, size, mtime: a file not changed since we last synced it


class RequestSync:
    """Syncs the request files of one hub's `specs_dir` with the database. Not re-entrant: one
    caller (the mirror's thread) at a time."""

    def __init__(self, db: Database, specs_dir: Path) -> None:
        self.db, self.specs_dir = db, specs_dir
        self.cursor = 0  # the database version of requests already pulled
        self._seen: dict[tuple[str, str], Signature] = {}  # files as they were when last synced
        self._lock = threading.Lock()

    def _path(self, kind: str, name: str) -> Path:
        return self.specs_dir / KINDS[kind][0] / f"{name}.json"

    def _local(self, kind: str, name: str) -> tuple[dict[str, Any], dt.datetime] | None:
        try:
            body = json.loads(read_regular(self._path(kind, name), KINDS[kind][1]))
        except (OSError, ValueError, RecursionError):  # missing, refused, not JSON: not a request
            return None
        at = request_at(body)
        return (body, at) if at is not None else None

    def _signature(self, path: Path) -> Signature | None:
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def sync(self) -> None:
        """Pull the requests written since the last sync, then push the local files changed since.
        Raises StoreUnavailable (the next sync picks up where this one stopped)."""
        with self._lock:
            found, latest = requests_since(self.db, self.cursor)
            for request in found:
                self._write(request)
            self.cursor = latest
            for kind, (folder, _) in KINDS.items():
                for name in self._names(self.specs_dir / folder):
                    self._push(kind, name)

    def _names(self, folder: Path) -> list[str]:
        try:
            files = [e.name for e in os.scandir(folder) if e.name.endswith(".json")]
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n[:-5] for n in files if CLUSTER_NAME_RE.fullmatch(n[:-5]))

    def _write(self, request: Request) -> None:
        """Write a request from the database unless the local file is at least as new."""
        if request.kind not in KINDS or not CLUSTER_NAME_RE.fullmatch(request.cluster):
            log.warning("ignoring a request in the database for %r (%r)", request.cluster, request.kind)
            return
        local = self._local(request.kind, request.cluster)
        if local is not None and local[1] >= request.at:
            return
        path = self._path(request.kind, request.cluster)
        write_atomic(path, json.dumps(request.body).encode())
        sig = self._signature(path)
        if sig is not None:
            self._seen[(request.kind, request.cluster)] = sig

    def _push(self, kind: str, name: str) -> None:
        sig = self._signature(self._path(kind, name))
        if sig is None or self._seen.get((kind, name)) == sig:
            return
        local = self._local(kind, name)
        if local is not None and put_request(self.db, kind, name, local[0]) is None:
            # the database holds a newer one (a hub whose clock runs ahead): take it
            newer = get_request(self.db, kind, name)
            if newer is not None:
                self._write(newer)
                sig = self._signature(self._path(kind, name)) or sig
        self._seen[(kind, name)] = sig
