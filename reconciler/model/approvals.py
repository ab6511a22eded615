"""Approvals of saved plans for `apply: manual` clusters: `specs/.approvals/<name>.json`, written on a
person's behalf (CLI or web view) and read by the reconciler. An approval names one plan id."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from reconciler.model.atomic import write_atomic

APPROVALS_DIR = ".approvals"


def approval_path(specs_dir: Path, name: str) -> Path:
    return specs_dir / APPROVALS_DIR / f"{name}.json"


def read_approval(specs_dir: Path, name: str) -> str | None:
    try:
        data = json.loads(approval_path(specs_dir, name).read_text())
    except (FileNotFoundError, ValueError):
        return None
    plan = data.get("plan_id") if isinstance(data, dict) else None
    return plan if isinstance(plan, str) else None


def approve(specs_dir: Path, name: str, plan_id: str, by: str, now: dt.datetime) -> None:
    blob = json.dumps({"cluster": name, "plan_id": plan_id, "approved_by": by, "at": now.isoformat()})
    write_atomic(approval_path(specs_dir, name), blob.encode())
