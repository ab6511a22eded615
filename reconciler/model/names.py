"""Who owns a cluster name: checked before a new spec is written on a person's behalf (the cluster
form, `POST /api/clusters`, a `PUT` that creates). The one rule both the page and the API apply."""

from __future__ import annotations

from reconciler.model.status import Phase, Status


def name_taken(name: str, has_spec: bool, status: Status | None) -> str | None:
    """Why `name` cannot be given to a new cluster, or None when it is free.

    A name is taken while a spec names it, and also while the hub keeps a record of a cluster by
    that name that is not destroyed: an orphan (spec removed, resources kept) still owns its
    Terraform state in `clusters/<name>/`, and a new spec by that name would adopt that state and
    change or destroy the orphan's servers. A destroyed cluster's name is free again."""
    if has_spec:
        return f'a cluster named "{name}" already exists; choose another name'
    if status is not None and status.phase != Phase.DESTROYED:
        return (
            f'a cluster named "{name}" already exists: its spec was removed but the hub still keeps '
            f"its resources ({status.phase.value}); choose another name, or restore "
            f"specs/{name}.yaml from git to manage it again"
        )
    return None
