"""Approvals of saved plans for `apply: manual` clusters: `specs/.approvals/<name>.json`, written on a
person's behalf (CLI or web view) and read by the reconciler. An approval names one plan id (none
is refused), and `approvable_plan` is the one rule for which plan a person may approve."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

from reconciler.model.atomic import write_atomic
from reconciler.model.files import UnreadableFile, label, read_regular
from reconciler.model.status import Phase, PlanInfo, Status

APPROVALS_DIR = ".approvals"
PLAN_ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,119}")  # what runs.new_run_id makes
APPROVAL_LIMIT = 64 * 1024


def approval_path(specs_dir: Path, name: str) -> Path:
    return specs_dir / APPROVALS_DIR / f"{name}.json"


def read_approval(specs_dir: Path, name: str) -> str | None:
    """The plan id the approval of `name` names; None without one. UnreadableFile when the file is
    not a regular file within APPROVAL_LIMIT holding an approval (the engine keeps it aside)."""
    path = approval_path(specs_dir, name)
    shown = label(path, 3)
    try:
        data = json.loads(read_regular(path, APPROVAL_LIMIT, shown))
    except FileNotFoundError:
        return None
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, UnreadableFile):
            raise
        raise UnreadableFile(path, "is not valid JSON", shown) from None
    plan = data.get("plan_id") if isinstance(data, dict) else None
    if not isinstance(plan, str):
        raise UnreadableFile(path, 'names no plan (no "plan_id")', shown)
    return plan


def read_approver(specs_dir: Path, name: str) -> str | None:
    """Who approved (`approved_by`) in the approval of `name`; None without a readable one (the
    engine records it on the run that applies the plan)."""
    try:
        data = json.loads(read_regular(approval_path(specs_dir, name), APPROVAL_LIMIT))
    except (OSError, ValueError, RecursionError):  # UnreadableFile is a ValueError: read_approval says so
        return None
    by = data.get("approved_by") if isinstance(data, dict) else None
    return by[:200] if isinstance(by, str) and by else None


def approve(specs_dir: Path, name: str, plan_id: str, by: str, now: dt.datetime) -> None:
    blob = json.dumps({"cluster": name, "plan_id": plan_id, "approved_by": by, "at": now.isoformat()})
    write_atomic(approval_path(specs_dir, name), blob.encode())


class NotApprovable(Exception):
    """No plan of this cluster may be approved now, or not the one named; the message says why."""


def approvable_plan(name: str, status: Status | None, plan_id: str | None) -> PlanInfo:
    """The plan to approve: the one awaiting approval, when `plan_id` names it. The same rule for
    the CLI, the cluster page and the API; without a plan id nothing is approved."""
    if status is None or status.phase != Phase.AWAITING_APPROVAL or status.plan is None:
        phase = status.phase.value if status else "not reconciled yet"
        raise NotApprovable(f'cluster "{name}" has no plan awaiting approval (phase: {phase})')
    waiting = f"{status.plan.id} ({status.plan.summary()})"
    if not plan_id:
        # An approval is of one plan a person has read, never of whatever is current when it lands.
        raise NotApprovable(
            f"name the plan you approve: plan {waiting} is waiting; review it, then approve it by its id"
        )
    if not PLAN_ID_RE.fullmatch(plan_id):  # not an id the hub makes: never quoted back
        raise NotApprovable(f"that is not a plan id; the plan awaiting approval is {waiting}")
    if plan_id != status.plan.id:
        # Approving names one plan: a plan made since the person looked needs its own review.
        raise NotApprovable(
            f"plan {plan_id} is no longer current; the plan awaiting approval is {waiting}: "
            "review it, then approve it"
        )
    return status.plan
