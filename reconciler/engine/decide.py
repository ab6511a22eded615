"""Decide stage of the flow: given what the spec says, what the hub last recorded, what people asked
(an approval, a retry), and the time, what to do next. Purely computational: no disk, no clock, no
subprocess; table-tested."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from reconciler.model.spec import ClusterSpec
from reconciler.model.status import ERROR_PHASES, RUNNING_PHASES, Phase, Reason, Status

DEFAULT_BACKOFF = (15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)


class Action(StrEnum):
    NOOP = "noop"
    PLAN = "plan"  # plan; apply at once when `apply: auto`
    APPLY = "apply"  # apply the approved saved plan
    DESTROY = "destroy"
    CHECK_DRIFT = "check_drift"
    WAIT = "wait"


@dataclass(frozen=True)
class Observed:
    """The spec file as it is now: a valid spec, an invalid one, or gone."""

    kind: Literal["present", "invalid", "missing"]
    hash: str | None = None  # digest of spec + template + module + Terraform version; file digest if invalid
    spec: ClusterSpec | None = None
    errors: str = ""
    blob: str = ""  # the file's git blob id (runs.git_blob_id): a run records which version it worked from


@dataclass(frozen=True)
class Policy:
    prune: bool = False
    prune_held: bool = False  # too many specs vanished at once: a person must confirm
    drift_interval: float = 600.0
    drift_remediate: bool = True
    drift_fight_limit: int = 3
    backoff: tuple[float, ...] = DEFAULT_BACKOFF
    preflight_recheck: float = 60.0  # a spec waiting for quota (or refused by a cloud) is looked at again


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason
    next_at: dt.datetime | None = None
    message: str = ""
    remediate: bool = False
    refused: bool = False  # the spec itself is refused (`message` says why): record it invalid


def retry_delay(name: str, failures: int, backoff: tuple[float, ...] = DEFAULT_BACKOFF) -> float:
    """Capped exponential delay before retry number `failures`, with +-20% jitter drawn from the
    cluster name so that clusters failing together do not retry together (and decide stays pure)."""
    base = backoff[min(max(failures, 1), len(backoff)) - 1]
    draw = int.from_bytes(hashlib.sha256(f"{name}:{failures}".encode()).digest()[:4], "big") / 2**32
    return base * (0.8 + 0.4 * draw)


def is_deployed(status: Status | None) -> bool:
    """Whether anything of the cluster may exist in the cloud."""
    return status is not None and status.deployed


def retry_asked(status: Status | None, retry: dt.datetime | None) -> bool:
    """Whether a person asked to retry this cluster since it last changed (the request is older
    than the status it was made against only once the hub acted on it)."""
    updated = status.updated_at if status is not None else None
    return retry is not None and (updated is None or retry > updated)


def decide(
    observed: Observed,
    status: Status | None,
    approval: str | None,
    now: dt.datetime,
    policy: Policy,
    retry: dt.datetime | None = None,
) -> Decision:
    """`retry`: when a person last asked to retry this cluster now (`mchub retry`), if ever."""
    # A run is in progress: the loop never starts a second one for the same cluster.
    if status is not None and status.phase in RUNNING_PHASES:
        return Decision(Action.NOOP, status.reason, message="a run is in progress")
    # A failed cluster a person asked to retry since it failed: act now, whatever the backoff
    # or the kind of failure said (they may have fixed the cloud, the settings or a file).
    retrying = retry_asked(status, retry)
    if observed.kind == "missing":
        return _spec_removed(status, now, policy, retrying)

    # An invalid spec is a permanent error: wait for the file to change.
    if observed.kind == "invalid":
        return Decision(Action.WAIT, Reason.SPEC_INVALID, message=observed.errors)
    spec = observed.spec
    assert spec is not None and observed.hash is not None

    # A spec refused as it stands (e.g. a volume shrink, a past expiry) waits for a change.
    seen = status is not None and status.observed_hash == observed.hash
    if seen and status is not None and status.phase == Phase.INVALID and status.reason == Reason.SPEC_INVALID:
        return Decision(Action.WAIT, Reason.SPEC_INVALID, message=status.message)

    # `ensure: absent` means destroy; so does an expiry date that passed while the spec stood
    # unchanged. A date already past when the spec appears or changes is a mistake, not an order
    # to destroy: refuse the spec. Once destroyed, nothing more.
    expired = spec.expires is not None and spec.expires < now.date()
    if spec.ensure == "absent":
        return _gone(Reason.ABSENT_REQUESTED, status, observed.hash, now, policy, retrying)
    if expired and not seen:
        message = f"expires: {spec.expires} is already past (today is {now.date()}); set a later date"
        return Decision(Action.WAIT, Reason.SPEC_INVALID, message=message, refused=True)
    if expired:
        return _gone(Reason.EXPIRED, status, observed.hash, now, policy, retrying)

    # A spec seen for the first time, or changed since it was last seen: plan it.
    if status is None or status.observed_hash is None:
        return Decision(Action.PLAN, Reason.NEW_SPEC)
    if status.observed_hash != observed.hash:
        return Decision(Action.PLAN, Reason.SPEC_CHANGED)
    return _same_spec(observed.hash, status, approval, now, policy, retrying)


def _spec_removed(status: Status | None, now: dt.datetime, policy: Policy, retrying: bool) -> Decision:
    """The spec file is gone: keep the cluster unless pruning is on, and then only when a person
    has not been asked to confirm a mass removal."""
    if status is None or status.phase == Phase.DESTROYED or not is_deployed(status):
        return Decision(Action.NOOP, Reason.NOTHING_DEPLOYED)
    if not policy.prune:
        return Decision(Action.WAIT, Reason.SPEC_REMOVED, message="spec removed; resources kept (orphaned)")
    if policy.prune_held:
        held = "many specs removed at once; held for a person"
        return Decision(Action.WAIT, Reason.PRUNE_HELD, message=held)
    return _retry_or(Action.DESTROY, Reason.SPEC_REMOVED, status, None, now, policy, retrying)


def _gone(
    reason: Reason, status: Status | None, spec_hash: str, now: dt.datetime, policy: Policy, retrying: bool
) -> Decision:
    """The spec asks for the cluster to be gone (absent, or expired)."""
    if status is not None and status.phase == Phase.DESTROYED:
        return Decision(Action.NOOP, Reason.DESTROYED)
    if status is None or not is_deployed(status) and status.phase not in ERROR_PHASES:
        return Decision(Action.DESTROY, reason, message="nothing deployed; recording it as destroyed")
    return _retry_or(Action.DESTROY, reason, status, spec_hash, now, policy, retrying)


def _same_spec(
    spec_hash: str, status: Status, approval: str | None, now: dt.datetime, policy: Policy, retrying: bool
) -> Decision:
    """The spec is the one last seen: what its recorded phase calls for."""
    # Waiting for quota with this very spec: the pre-flight looks again when due (at once when a
    # person asks); nothing is planned until it fits, and a built cluster keeps running as built.
    if status.reason == Reason.QUOTA_WAIT:
        again = status.next_attempt_at or (status.updated_at or now) + dt.timedelta(
            seconds=policy.preflight_recheck
        )
        if again <= now or retrying:
            return Decision(Action.PLAN, Reason.RETRY_DUE)
        return Decision(Action.WAIT, Reason.QUOTA_WAIT, next_at=again, message=status.message)
    # The same spec failed before: retry when the backoff says so.
    if status.phase in ERROR_PHASES:
        action = Action.DESTROY if status.phase == Phase.DESTROY_ERROR else Action.PLAN
        return _retry_or(action, Reason.RETRY_DUE, status, spec_hash, now, policy, retrying)
    # Refused by the pre-flight with this very spec (an image or a router may appear on the
    # cloud), so look again now and then (no Terraform runs unless it fits). Any other invalid
    # spec waits for a change.
    if status.phase == Phase.INVALID and status.reason == Reason.PREFLIGHT_FAILED:
        again = (status.updated_at or now) + dt.timedelta(seconds=policy.preflight_recheck)
        if again <= now or retrying:
            return Decision(Action.PLAN, Reason.RETRY_DUE)
        return Decision(Action.WAIT, Reason.PREFLIGHT_FAILED, next_at=again, message=status.message)
    if status.phase == Phase.INVALID:
        return Decision(Action.WAIT, Reason.SPEC_INVALID, message=status.message)

    # A saved plan waits for a person; an approval must name this very plan.
    if status.phase == Phase.AWAITING_APPROVAL and status.plan is not None:
        if approval == status.plan.id:
            return Decision(Action.APPLY, Reason.APPROVED)
        if approval:
            message = f"approval names plan {approval}; the current plan is {status.plan.id}"
            return Decision(Action.WAIT, Reason.STALE_APPROVAL, message=message)
        return Decision(Action.WAIT, Reason.AWAITING_APPROVAL)

    # A built cluster: look for drift on schedule; fight it only so many times in a row.
    if status.phase == Phase.BUILD_SUCCESS:
        last = status.drift.checked_at or status.updated_at or now
        due = last + dt.timedelta(seconds=policy.drift_interval)
        if due <= now:
            remediate = policy.drift_remediate and status.drift.remediations < policy.drift_fight_limit
            return Decision(Action.CHECK_DRIFT, Reason.DRIFT_CHECK_DUE, remediate=remediate)
        return Decision(Action.WAIT, Reason.UP_TO_DATE, next_at=due)

    # A run the hub stopped (a restart) resumes by itself: plan again from Terraform's state.
    if status.phase == Phase.PENDING and status.reason == Reason.INTERRUPTED:
        return Decision(Action.PLAN, Reason.INTERRUPTED)
    # Destroyed, then brought back with `ensure: present` under an unchanged hash cannot happen
    # (ensure is part of the hash); anything else left is a spec to plan.
    if status.phase in (Phase.PENDING, Phase.DESTROYED):
        return Decision(Action.PLAN, Reason.NEW_SPEC)
    return Decision(Action.NOOP, status.reason)


def _retry_or(
    action: Action,
    reason: Reason,
    status: Status,
    spec_hash: str | None,
    now: dt.datetime,
    policy: Policy,
    retrying: bool,
) -> Decision:
    """Act now, unless this same request already failed and its backoff has not run out (or
    must not be retried by itself), and no person asked for a retry since."""
    failed_same = status.phase in ERROR_PHASES and (spec_hash is None or status.observed_hash == spec_hash)
    if failed_same and retrying:
        return Decision(action, Reason.RETRY_DUE, message="retry asked for")
    if failed_same and status.next_attempt_at is not None and status.next_attempt_at > now:
        return Decision(
            Action.WAIT,
            Reason.BACKING_OFF,
            next_at=status.next_attempt_at,
            message=f"retry {status.failures + 1} at {status.next_attempt_at:%H:%M:%S}",
        )
    if failed_same and status.next_attempt_at is None and status.failures > 0:
        # A failure that must not be retried automatically (e.g. a configuration error).
        return Decision(Action.WAIT, status.reason, message=status.message)
    return Decision(action, Reason.RETRY_DUE if failed_same else reason)
