"""Who owns a cluster name: checked before a new spec is written on a person's behalf (the cluster
form, `POST /api/clusters`, a `PUT` that creates). The one rule both the page and the API apply,
and the rule for which clusters may be forgotten (their spec removed, their name freed: the web
view's Forget, or `git rm`), which the dashboard and the reconciler apply too."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from reconciler.model.status import Phase, Status

FORGOTTEN_DIR = ".forgotten"  # clusters/.forgotten/<name>-<UTC time>/: forgotten clusters' history

# Settled phases in which a cluster may have nothing in the cloud: never built (its spec is not
# valid, waits, failed to plan, or its plan awaits approval), or destroyed. A run in progress may
# be creating resources; a failed build or destroy may have left some that the status misses.
SETTLED_WITHOUT_BUILD = frozenset(
    {Phase.PENDING, Phase.INVALID, Phase.PLAN_ERROR, Phase.AWAITING_APPROVAL, Phase.DESTROYED}
)


def forgettable(status: Status | None) -> bool:
    """Whether a cluster in this status may be forgotten: nothing of it can be in the cloud, and no
    run is under way. Forgetting one keeps nothing in the cloud unmanaged."""
    return status is None or (status.phase in SETTLED_WITHOUT_BUILD and not status.deployed)


def forgotten(has_spec: bool, status: Status | None) -> bool:
    """A cluster the hub only keeps history of: its spec is gone and nothing of it was built. The
    dashboard no longer lists it, its name is free, and the reconciler moves its folder aside."""
    return not has_spec and status is not None and forgettable(status)


def not_forgettable(name: str, status: Status | None) -> str | None:
    """Why `name` cannot be forgotten now (a plain sentence saying what to do), or None."""
    if forgettable(status):
        return None
    assert status is not None
    phase = status.phase.value.replace("_", " ")
    if status.phase in (Phase.PLAN_RUNNING, Phase.BUILD_RUNNING, Phase.DESTROY_RUNNING):
        return f'"{name}" cannot be forgotten while the hub works on it ({phase}); wait until it is done'
    return (
        f'"{name}" cannot be forgotten: it may still have servers or volumes in the cloud ({phase}). '
        "Destroy it first; once it is destroyed, Forget removes it from the list"
    )


def name_taken(name: str, has_spec: bool, status: Status | None) -> str | None:
    """Why `name` cannot be given to a new cluster, or None when it is free.

    A name is taken while a spec names it, and also while the hub keeps a record of a cluster by
    that name that may own something: an orphan (spec removed, resources kept) still owns its
    Terraform state in `clusters/<name>/`, and a new spec by that name would adopt that state and
    change or destroy the orphan's servers. A destroyed or never-built cluster whose spec is gone
    (forgotten) owns nothing: its name is free again."""
    if has_spec:
        return f'a cluster named "{name}" already exists; choose another name'
    if status is not None and not forgettable(status):
        return (
            f'a cluster named "{name}" already exists: its spec was removed but the hub still keeps '
            f"its resources ({status.phase.value}); choose another name, or restore "
            f"specs/{name}.yaml from git to manage it again"
        )
    return None


def keep_history(clusters_dir: Path, name: str, now: dt.datetime) -> Path:
    """Move a forgotten cluster's folder (status, runs, logs, secrets) to
    `clusters/.forgotten/<name>-<UTC time>/`, where no listing of clusters looks, so that a new
    cluster by that name starts afresh while the history stays for a person. The reconciler's
    job (it alone writes `clusters/`), done at its look at the cluster once its spec is gone."""
    stamp = now.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = clusters_dir / FORGOTTEN_DIR
    folder.mkdir(exist_ok=True)
    target = folder / f"{name}-{stamp}"
    n = 1
    while os.path.lexists(target):
        n += 1
        target = folder / f"{name}-{stamp}-{n}"
    os.rename(clusters_dir / name, target)
    return target
