"""Start-up recovery: runs that a dead hub left "running" are recorded as interrupted and their
clusters re-planned from Terraform's state; Terraform processes that outlived the hub are waited
for; lock files left by dead processes are reported (and removed only when provably stale)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from reconciler.engine.hub import Hub
from reconciler.model import runs
from reconciler.model.status import RUNNING_PHASES, Reason, read_status
from reconciler.terraform import lock_info, lock_is_held
from reconciler.terraform.lock import remove_stale_lock_info

log = logging.getLogger("mchub.recover")


def recover(hub: Hub, names: Iterable[str], wait_for_terraform: float = 600.0) -> list[str]:
    """Returns the clusters whose interrupted run was recorded."""
    recovered = []
    for name in sorted(names):
        status = read_status(hub.clusters, name)
        if status is None or status.phase not in RUNNING_PHASES:
            note = _stale_lock(hub, name)
            if note and status is not None:
                hub.recorder.record(status.noted(hub.clock(), note))
            continue
        record = runs.read_record(hub.clusters, name, status.run_id) if status.run_id else None
        if record is not None and runs.pid_alive(record.terraform_pid):
            # Terraform runs in its own session, so it outlives a killed hub and finishes saving
            # state; starting another run now would race it for the state lock.
            log.warning(
                "%s: Terraform (pid %s) of run %s is still running; waiting for it",
                name,
                record.terraform_pid,
                record.id,
            )
            deadline = time.monotonic() + wait_for_terraform
            while runs.pid_alive(record.terraform_pid) and time.monotonic() < deadline:
                time.sleep(0.2)
        now = hub.clock()
        message = (
            f"run {status.run_id} was interrupted (the hub stopped during {status.phase.value}); re-planning"
        )
        if record is not None and record.result == "running":
            runs.write_record(
                hub.clusters,
                record.model_copy(update={"result": "interrupted", "finished_at": now, "message": message}),
            )
        note = _stale_lock(hub, name)
        if note:
            message += f"; {note}"
        hub.recorder.record(status.failed(now, Reason.INTERRUPTED, message, next_attempt_at=now))
        recovered.append(name)
    return recovered


def _stale_lock(hub: Hub, name: str) -> str:
    """What the cluster's status should say about a lock found at start-up ("" when none)."""
    workdir = hub.clusters / name
    info = lock_info(workdir)
    if info is None:
        return ""
    holder = (
        f"lock {info.get('ID')} ({info.get('Operation')}) by {info.get('Who')} since {info.get('Created')}"
    )
    if lock_is_held(workdir):
        log.warning("%s: state %s is still held", name, holder)
        return f"state {holder} is held by a live process"
    # The local backend locks with flock, which dies with its process: a lock file nobody holds
    # is only the leftover note of a dead run, safe to remove.
    if not remove_stale_lock_info(workdir, str(info.get("ID"))):
        return ""  # taken or released meanwhile
    log.warning("%s: removed the stale note of %s (no process held it)", name, holder)
    return f"removed the stale note of state {holder}: no process held it"
