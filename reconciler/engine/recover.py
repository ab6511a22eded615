"""Start-up recovery: runs that a dead hub left "running" are recorded as interrupted and their
clusters re-planned from Terraform's state (shown `pending`, reason `interrupted`: the hub resumes
them by itself, so no error phase); Terraform processes that outlived the hub are waited for; lock
files left by dead processes are reported (and removed only when provably stale). A cluster whose
records cannot be read is kept aside and shown (engine/readback.py); the others carry on."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from reconciler.engine.hub import Hub
from reconciler.engine.readback import current_status
from reconciler.model import runs
from reconciler.model.files import UnreadableFile, set_aside
from reconciler.model.status import RUNNING_PHASES, Status
from reconciler.terraform import lock_info, lock_is_held
from reconciler.terraform.lock import remove_stale_lock_info

log = logging.getLogger("mchub.recover")


def _nothing() -> None:
    return None


def recover(
    hub: Hub, names: Iterable[str], wait_for_terraform: float = 600.0, beat: Callable[[], None] = _nothing
) -> list[str]:
    """Returns the clusters whose interrupted run was recorded. `beat` is called while waiting (the
    loop's heartbeat: waiting for a surviving Terraform is not a hung hub)."""
    recovered = []
    for name in sorted(names):
        beat()
        try:
            if _recover_one(hub, name, wait_for_terraform, beat):
                recovered.append(name)
        except Exception:  # one cluster's trouble never stops the start of the others
            log.exception(
                "%s: start-up recovery failed; the loop looks at it again", name, extra={"cluster": name}
            )
    return recovered


def _recover_one(hub: Hub, name: str, wait_for_terraform: float, beat: Callable[[], None]) -> bool:
    status = current_status(hub, name, hub.specs.observe(name).hash)
    if status is None or status.phase not in RUNNING_PHASES:
        note = _stale_lock(hub, name)
        if note and status is not None:
            hub.recorder.record(status.noted(hub.clock(), note))
        return False
    record = _record(hub, name, status)
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
            beat()
            time.sleep(0.2)
    note = _stale_lock(hub, name)
    _interrupted(hub, status, record, "the hub", f"; {note}" if note else "")
    return True


def _interrupted(hub: Hub, status: Status, record: runs.RunRecord | None, who: str, more: str = "") -> None:
    """Record the run `status` shows as running as interrupted (`who` stopped during it), and the
    cluster as pending a new plan."""
    now = hub.clock()
    message = f"run {status.run_id} was interrupted ({who} stopped during {status.phase.value}); re-planning"
    if record is not None and record.result == "running":
        update = {"result": "interrupted", "finished_at": now, "message": message}
        runs.write_record(hub.clusters, record.model_copy(update=update))
    hub.recorder.record(status.interrupted(now, message + more))


def recover_taken(hub: Hub, name: str, previous: str) -> bool:
    """A cluster's lease just taken (several hubs, engine/sharing.py): a run its status shows as
    running was another hub's, interrupted with it. No process to wait for here: that run's
    Terraform, if it still lives on its machine, holds the state's lock in PostgreSQL, and the next
    run waits for the lock. True when an interrupted run was recorded."""
    try:
        status = current_status(hub, name, hub.specs.observe(name).hash)
    except Exception:  # an unreadable record is the cluster's own reconcile's to show
        log.exception("%s: reading the taken-over status failed", name, extra={"cluster": name})
        return False
    if status is None or status.phase not in RUNNING_PHASES:
        return False
    _interrupted(hub, status, _record(hub, name, status), previous)
    return True


def _record(hub: Hub, name: str, status: Status) -> runs.RunRecord | None:
    """The record of the run the status was in; an unreadable one is kept aside (no pid to wait for)."""
    if not status.run_id:
        return None
    path = runs.record_path(hub.clusters, name, status.run_id)
    try:
        return runs.load_record(path)
    except FileNotFoundError:
        return None
    except UnreadableFile as exc:
        kept = set_aside(path, hub.clock())
        log.warning("%s: %s; kept as %s", name, exc, kept.name, extra={"cluster": name})
        return None


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
