"""Approvals of saved plans for `apply: manual` clusters: `specs/.approvals/<name>.json`, written on a
person's behalf (CLI or web view) and read by the reconciler. An approval names one plan id, and
`approvable_plan` is the one rule for which plan a person may approve."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from reconciler.model.atomic import write_atomic
from reconciler.model.status import Phase, PlanInfo, Status

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


class NotApprovable(Exception):
    """No plan of this cluster may be approved now, or not the one named; the message says why."""


def approvable_plan(name: str, status: Status | None, plan_id: str | None = None) -> PlanInfo:
    """The plan to approve: the one awaiting approval, when `plan_id` names it or is None or empty.
    The same rule for the CLI, the cluster page and the API."""
    if status is None or status.phase != Phase.AWAITING_APPROVAL or status.plan is None:
        phase = status.phase.value if status else "not reconciled yet"
        raise NotApprovable(f'cluster "{name}" has no plan awaiting approval (phase: {phase})')
    if plan_id and plan_id != status.plan.id:
        # Approving names one plan: a plan made since the person looked needs its own review.
        raise NotApprovable(
            f"plan {plan_id} is no longer current; the plan awaiting approval is {status.plan.id} "
            f"({status.plan.summary()}): review it, then approve it"
        )
    return status.plan
