"""A cluster's files on this hub's disk as the mirror reads and writes them: the status, run records
and logs (through the model's readers and writers, atomically), the copy of Terraform's state
(`.mchub-state.json`, 0600), and a signature per run that says whether its files changed since the
mirror last pushed or pulled them. Names and run ids from the database are checked before they
become paths."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from reconciler.model.approvals import PLAN_ID_RE
from reconciler.model.atomic import write_atomic
from reconciler.model.files import UnreadableFile, read_regular, read_tail
from reconciler.model.runs import (
    RECORD_LIMIT,
    RunRecord,
    load_record,
    log_path,
    record_path,
    runs_dir,
    write_record,
)
from reconciler.model.spec import CLUSTER_NAME_RE
from reconciler.model.status import Status, load_status, status_path, write_status
from reconciler.model.tfstate import STATE_COPY
from reconciler.store.shared import LOG_CAP, StoredRun

RunSignature = tuple[int, int, int, int]  # record size and mtime, log size and mtime


def valid_name(name: str) -> bool:
    return CLUSTER_NAME_RE.fullmatch(name) is not None


def read_status_json(clusters_dir: Path, name: str) -> dict[str, Any] | None:
    """The local status as JSON; None without one. UnreadableFile when it is not a status."""
    try:
        return load_status(status_path(clusters_dir, name)).model_dump(mode="json")
    except FileNotFoundError:
        return None


def status_signature(clusters_dir: Path, name: str) -> tuple[int, int, int] | None:
    """inode, size and mtime of the local status.json (it is only ever replaced whole); None without one."""
    try:
        st = os.stat(status_path(clusters_dir, name), follow_symlinks=False)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def write_status_json(clusters_dir: Path, name: str, status: dict[str, Any] | None) -> bool:
    """Make the local status this one (None: no status.json); whether anything changed. ValueError
    when `status` is not a status of `name` this hub can read."""
    path = status_path(clusters_dir, name)
    if status is None:
        existed = path.exists()
        path.unlink(missing_ok=True)
        return existed
    new = Status.model_validate(status)
    if new.name != name:
        raise ValueError(f"the database's status of {name} names another cluster ({new.name!r})")
    try:
        if load_status(path) == new:
            return False
    except (FileNotFoundError, UnreadableFile):
        pass
    write_status(clusters_dir, new)
    return True


def run_ids(clusters_dir: Path, name: str) -> list[str]:
    try:
        files = [e.name for e in os.scandir(runs_dir(clusters_dir, name)) if e.name.endswith(".json")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(n[:-5] for n in files if PLAN_ID_RE.fullmatch(n[:-5]))


def run_signature(clusters_dir: Path, name: str, run_id: str) -> RunSignature | None:
    try:
        rec = os.stat(record_path(clusters_dir, name, run_id), follow_symlinks=False)
    except OSError:
        return None
    try:
        lg = os.stat(log_path(clusters_dir, name, run_id), follow_symlinks=False)
        log_sig = (lg.st_size, lg.st_mtime_ns)
    except OSError:
        log_sig = (-1, 0)
    return rec.st_size, rec.st_mtime_ns, *log_sig


def read_run(clusters_dir: Path, name: str, run_id: str) -> tuple[dict[str, Any], str] | None:
    """A local run's record (as JSON) and its log's tail; None when its record cannot be read."""
    try:
        record = load_record(record_path(clusters_dir, name, run_id))
    except (FileNotFoundError, UnreadableFile):
        return None
    try:
        data = read_tail(log_path(clusters_dir, name, run_id), LOG_CAP)
    except (FileNotFoundError, UnreadableFile):
        data = b""
    if len(data) == LOG_CAP:  # cut from a longer log: start on a whole character
        data = data.lstrip(bytes(range(0x80, 0xC0)))
    return record.model_dump(mode="json"), data.decode("utf-8", "replace")


def write_run(clusters_dir: Path, name: str, run: StoredRun) -> bool:
    """Write a run from the database unless the local one is the same; whether anything was
    written. ValueError when the database's row is not a run of `name` this hub can read."""
    if not PLAN_ID_RE.fullmatch(run.id):
        raise ValueError(f"the database holds a run of {name} with an id that is not one: {run.id[:60]!r}")
    try:
        record = RunRecord.model_validate(run.record)
    except ValidationError as exc:
        problems = f"{exc.error_count()} problems"
        raise ValueError(f"run {run.id} of {name} is not a run record this hub reads: {problems}") from None
    if record.cluster != name or record.id != run.id:
        other = f"{record.cluster}/{record.id}"
        raise ValueError(f"run {run.id} of {name} in the database names another run ({other})")
    wrote = False
    try:
        same = load_record(record_path(clusters_dir, name, run.id)) == record
    except (FileNotFoundError, UnreadableFile):
        same = False
    if not same:
        write_record(clusters_dir, record)
        wrote = True
    data = run.log.encode("utf-8")
    path = log_path(clusters_dir, name, run.id)
    try:
        same = path.stat().st_size == len(data) and read_regular(path, len(data)) == data
    except (OSError, ValueError):
        same = False
    if not same:
        write_atomic(path, data, mode=0o600)
        wrote = True
    return wrote


def state_md5(clusters_dir: Path, name: str) -> str | None:
    """The MD5 of the local state copy (as PostgreSQL's md5() gives it), None without one."""
    try:
        data = read_regular(clusters_dir / name / STATE_COPY, RECORD_LIMIT * 64)
    except (OSError, ValueError):
        return None
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def write_state_copy(clusters_dir: Path, name: str, state: str) -> str:
    """Write Terraform's state as `.mchub-state.json` (0600: it holds secrets); its MD5."""
    data = state.encode("utf-8")
    write_atomic(clusters_dir / name / STATE_COPY, data, mode=0o600)
    return hashlib.md5(data, usedforsecurity=False).hexdigest()
