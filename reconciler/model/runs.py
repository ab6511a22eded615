"""Run history: one record (`runs/<id>.json`) and one log (`runs/<id>.log`) per Terraform run of a
cluster. A record is written before Terraform starts, so a crash leaves evidence to recover from."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import IO, Literal

from pydantic import BaseModel, ConfigDict

from reconciler.model.atomic import write_atomic

Result = Literal["running", "succeeded", "failed", "interrupted"]


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
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8", errors="replace")


def read_record(clusters_dir: Path, name: str, run_id: str) -> RunRecord | None:
    try:
        return RunRecord.model_validate_json((runs_dir(clusters_dir, name) / f"{run_id}.json").read_bytes())
    except (FileNotFoundError, ValueError):
        return None


def list_records(clusters_dir: Path, name: str) -> list[RunRecord]:
    """Newest first."""
    out = []
    for path in sorted(runs_dir(clusters_dir, name).glob("*.json"), reverse=True):
        try:
            out.append(RunRecord.model_validate_json(path.read_bytes()))
        except ValueError:
            continue
    return out


def log_path(clusters_dir: Path, name: str, run_id: str) -> Path:
    return runs_dir(clusters_dir, name) / f"{run_id}.log"


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
