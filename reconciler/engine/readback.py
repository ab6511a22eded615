"""Load stage, the hub's own side: what the hub recorded of one cluster (its status) and what people
asked of it (an approval, a retry), read back at each look. A record that cannot be read never stops
the hub: the engine keeps it aside for a person (`<file>.broken-<time>`, never deleted), and the
cluster's status names the file and says what to do; every other cluster carries on."""

from __future__ import annotations

import datetime as dt
import functools
import os
from dataclasses import dataclass
from pathlib import Path

from reconciler.engine.decide import Decision, retry_asked
from reconciler.engine.hub import Hub
from reconciler.model.approvals import approval_path, read_approval, read_approver
from reconciler.model.files import UnreadableFile, set_aside
from reconciler.model.retries import read_request, read_retry, retry_path
from reconciler.model.status import Reason, Status, set_aside_status


@dataclass(frozen=True)
class Recorded:
    """What `decide` needs besides the spec: the status, the approval's plan id, the retry request."""

    status: Status | None
    approval: str | None = None
    retry: dt.datetime | None = None


def read_recorded(hub: Hub, name: str, spec_hash: str | None) -> Recorded:
    status = current_status(hub, name, spec_hash)
    specs = hub.settings.specs_dir
    # Mostly nobody asked anything: one lstat each says so (whatever is there, a link too, is read
    # and judged as before), where reading costs an open and a message label at every resync.
    approval_file, retry_file = _requests(specs, name)
    approval, note = _approval(hub, name) if os.path.lexists(approval_file) else (None, "")
    if note and status is not None:
        status = hub.recorder.record(status.noted(hub.clock(), note))
    retry = read_retry(specs, name) if os.path.lexists(retry_file) else None
    return Recorded(status, approval, retry)


@functools.lru_cache(maxsize=65_536)
def _requests(specs_dir: Path, name: str) -> tuple[str, str]:
    """The approval and retry request files of `name` (a path is built once per name: a resync
    asks for every cluster's)."""
    return str(approval_path(specs_dir, name)), str(retry_path(specs_dir, name))


def asked_by(hub: Hub, name: str, status: Status, decision: Decision) -> dict[str, str | None]:
    """Who asked for the run `decision` starts, as far as people's files say (the run record's
    `triggered_by` and `approved_by`): the approver of the plan it applies, or the person whose
    retry request it answers. A run a spec change started is the author's of the commit that made
    that version: the web view finds it from the record's `spec_blob`; drift checks, backoff
    retries and expiry are the hub's own."""
    if decision.reason == Reason.APPROVED:
        approver = read_approver(hub.settings.specs_dir, name)
        return {"triggered_by": approver, "approved_by": approver}
    request = read_request(hub.settings.specs_dir, name)
    if request is not None and retry_asked(status, request[0]):
        return {"triggered_by": request[1]}
    return {}


def current_status(hub: Hub, name: str, spec_hash: str | None) -> Status | None:
    """The cluster's status. One that cannot be read is kept aside and replaced by the status
    that says so (recorded): an error that waits for a person, since what the hub knew is lost."""
    try:
        return hub.recorder.recorded(name)
    except UnreadableFile as exc:
        now = hub.clock()
        try:
            kept = set_aside_status(hub.clusters, name, now)
        except FileNotFoundError:  # replaced or removed meanwhile: the next look reads it again
            return None
        message = (
            f"{exc}; it was kept as {kept.name} for a person to look at. What the hub knew of this "
            "cluster is lost, its resources are not (Terraform's state has them): retry "
            f"(`mchub retry {name}`, or Retry now on its page) or change its spec to plan again "
            "from that state"
        )
        return hub.recorder.record(Status(name=name).unreadable(now, message, spec_hash))


def _approval(hub: Hub, name: str) -> tuple[str | None, str]:
    """The plan id the cluster's approval names, and a note when an unreadable one was kept aside."""
    try:
        return read_approval(hub.settings.specs_dir, name), ""
    except UnreadableFile as exc:
        try:
            kept = set_aside(approval_path(hub.settings.specs_dir, name), hub.clock())
        except FileNotFoundError:
            return None, ""
        return None, f"{exc}; it was kept as {kept.name}: approve the plan again"


def keep_aside(hub: Hub, exc: UnreadableFile) -> str:
    """Keep the unreadable file of `exc` aside, if it is one of the hub's under `clusters/` (the
    engine moves nothing else), and say so: the message of the run that met it."""
    where = ""
    if _under(exc.path, hub.clusters):
        try:
            where = f"; it was kept as {set_aside(exc.path, hub.clock()).name} for a person to look at"
        except FileNotFoundError:
            where = ""
    return f"{exc}{where}"


def _under(path: Path, folder: Path) -> bool:
    try:
        path.parent.resolve().relative_to(folder.resolve())  # the file itself may be a link: not followed
    except ValueError:
        return False
    return True
