"""Run history: one record (`runs/<id>.json`) and one log (`runs/<id>.log`) per Terraform run of a
cluster. A record is written before Terraform starts, so a crash leaves evidence to recover from.
Records are read as regular files within RECORD_LIMIT; the engine keeps an unreadable one aside
after each run (`set_aside_broken`), the web view and the CLI skip it. Logs are appended to, never
through a link."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from reconciler.model.atomic import write_atomic
from reconciler.model.files import UnreadableFile, label, read_regular, set_aside

Result = Literal["running", "succeeded", "failed", "interrupted"]
RECORD_LIMIT = 4 * 1024 * 1024


class RunRecord(BaseModel):
    model_config = ConfigDict(frozen=True)
    id: str
    cluster: str
    action: str
    reason: str
    spec_hash: str | None
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    hub_pid: int
    terraform_pid: int | None = None
    result: Result = "running"
    error_kind: str | None = None
    message: str = ""
    summary: str = ""
    changes: dict[str, int] = {}  # the plan's resource changes by kind (create, update, rebuild, ...)
    losing: list[str] = []  # the changes that lose data, in words
    resources: dict[str, str] = {}  # address -> create/update/replace/delete: what the run did
    # Who: the person whose request started the run, as the hub's files say (an approval's approver,
    # a retry request's requester); the approver of the plan it applies; and the git blob id of the
    # spec file it worked from, by which the web view finds the commit (and its author) that made
    # that version of the spec, for a run a spec change started.
    triggered_by: str | None = None
    approved_by: str | None = None
    spec_blob: str | None = None


def git_blob_id(data: bytes) -> str:
    """The id git gives a file of these bytes (`git hash-object`): a run records its spec's, and a
    commit that made the same content has the same id, with no git process on the hub's side."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def new_run_id(now: dt.datetime, action: str) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{action}-{secrets.token_hex(3)}"


def runs_dir(clusters_dir: Path, name: str) -> Path:
    return clusters_dir / name / "runs"


def write_record(clusters_dir: Path, record: RunRecord) -> None:
    path = runs_dir(clusters_dir, record.cluster) / f"{record.id}.json"
    write_atomic(path, json.dumps(record.model_dump(mode="json"), indent=1).encode(), mode=0o600)


def open_log(clusters_dir: Path, name: str, run_id: str) -> IO[str]:
    path = runs_dir(clusters_dir, name) / f"{run_id}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW, 0o600)  # never through a link
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8", errors="replace")


def record_path(clusters_dir: Path, name: str, run_id: str) -> Path:
    return runs_dir(clusters_dir, name) / f"{run_id}.json"


def load_record(path: Path) -> RunRecord:
    """The run record in `path`. FileNotFoundError when there is none; UnreadableFile when it is
    not a regular file within RECORD_LIMIT, or not a run record."""
    shown = label(path, 4)
    data = read_regular(path, RECORD_LIMIT, shown)
    try:
        return RunRecord.model_validate_json(data)
    except ValidationError as exc:
        problem = f"is not a run record this hub can read ({exc.error_count()} problems)"
        raise UnreadableFile(path, problem, shown) from None


def read_record(clusters_dir: Path, name: str, run_id: str) -> RunRecord | None:
    """The record of one run; None when there is none, or none that can be read."""
    try:
        return load_record(record_path(clusters_dir, name, run_id))
    except (FileNotFoundError, UnreadableFile):
        return None


def _record_files(clusters_dir: Path, name: str) -> list[Path]:
    """The record files of a cluster's runs, newest first (run ids start with their time)."""
    folder = runs_dir(clusters_dir, name)
    try:
        names = [e.name for e in os.scandir(folder) if e.name.endswith(".json")]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return [folder / n for n in sorted(names, reverse=True)]


def list_records(clusters_dir: Path, name: str) -> list[RunRecord]:
    """Newest first; a record that cannot be read is left out (the engine keeps it aside)."""
    out = []
    for path in _record_files(clusters_dir, name):
        try:
            out.append(load_record(path))
        except (FileNotFoundError, UnreadableFile):
            continue
    return out


def log_path(clusters_dir: Path, name: str, run_id: str) -> Path:
    return runs_dir(clusters_dir, name) / f"{run_id}.log"


def set_aside_broken(clusters_dir: Path, name: str, now: dt.datetime) -> list[Path]:
    """Keep every unreadable run record of `name` aside for a person (`<id>.json.broken-<time>`);
    returns where they went. The engine's, after each run, beside `prune`."""
    moved = []
    for path in _record_files(clusters_dir, name):
        try:
            load_record(path)
        except FileNotFoundError:
            continue
        except UnreadableFile:
            moved.append(set_aside(path, now))
    return moved


def prune(clusters_dir: Path, name: str, keep: int) -> None:
    """Keep the newest `keep` runs; never remove a run still marked running."""
    for record in list_records(clusters_dir, name)[keep:]:
        if record.result == "running":
            continue
        for suffix in (".json", ".log"):
            (runs_dir(clusters_dir, name) / f"{record.id}{suffix}").unlink(missing_ok=True)


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return True
