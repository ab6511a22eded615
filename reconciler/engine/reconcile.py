"""One reconcile of one cluster, stage by stage:
load -> validate -> decide -> (pre-flight) -> render -> init -> plan -> apply|destroy -> record,
then, on a built cluster, its readiness checks when one is due (`readiness.follow`).
The loop calls `reconcile` and schedules the next look from its outcome; that time comes from
`decide` (the one place that knows backoff, drift and pre-flight timings), never re-derived."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from reconciler.cloud.preflight import Verdict
from reconciler.cloud.shortfall import wait_message
from reconciler.engine.decide import Action, Decision, Observed, Policy, decide
from reconciler.engine.executor import execute
from reconciler.engine.hub import Hub
from reconciler.engine.readback import read_recorded
from reconciler.engine.readiness import follow
from reconciler.model.names import forgotten, keep_history
from reconciler.model.status import Phase, QuotaWait, Reason, Status
from reconciler.model.volumes import shrinks


@dataclass(frozen=True)
class Outcome:
    """What one reconcile did: the cluster's status now, and when it next needs a look without
    any file event (None: only when its spec or approval changes, or at the periodic resync)."""

    status: Status
    next_at: dt.datetime | None


def reconcile(name: str, hub: Hub, policy: Policy | None = None) -> Outcome:
    """Reconcile one cluster; `policy` overrides the hub's for this pass (the loop holds pruning)."""
    policy = policy or hub.policy
    observed = hub.specs.observe(name)
    recorded = read_recorded(hub, name, observed.hash)  # status, approval, retry request
    status, approval, retry = recorded.status, recorded.approval, recorded.retry
    if status is not None and forgotten(observed.kind != "missing", status):  # Forget, or `git rm`
        keep_history(hub.clusters, name, hub.clock())  # nothing built: its history moves aside
        return Outcome(status, None)
    decision = decide(observed, status, approval, hub.clock(), policy, retry)
    base = status or Status(name=name, updated_at=hub.clock())
    new = _act(name, observed, base, decision, hub, policy)
    if new is base:  # nothing changed: this decision already says when to look again
        next_at = _when(decision, hub.clock())
    else:
        hub.recorder.record(new)
        # What the new status calls for next, by the same rules (an approval only counts while a
        # plan awaits it, and a retry only once, so the ones read above still hold).
        next_at = _when(decide(observed, new, approval, hub.clock(), policy, retry), hub.clock())
    # Built is not ready: readiness checks, on their own schedule (never a Terraform run).
    new, checks_at = follow(new, observed.spec, hub)
    return Outcome(new, _earliest(next_at, checks_at))


def reconcile_one(name: str, hub: Hub, policy: Policy | None = None) -> Status:
    """`reconcile`, for callers that want the status only (`mchub reconcile --once`, tests)."""
    return reconcile(name, hub, policy).status


def _act(
    name: str, observed: Observed, status: Status, decision: Decision, hub: Hub, policy: Policy
) -> Status:
    """The status after acting on `decision`: a note for decisions without Terraform, a refusal
    when the spec cannot fit the cloud, a wait when the quota has no room for it yet, else a
    Terraform run."""
    if decision.action in (Action.NOOP, Action.WAIT):
        return _note(status, observed, decision, hub.clock())
    if observed.spec is not None and decision.action == Action.PLAN:
        refused = shrinks(observed.spec, status.volumes)  # can only fail: refuse before Terraform
        if refused:
            return status.invalid(hub.clock(), observed.hash or "", "; ".join(refused))
    if observed.spec is not None and decision.action == Action.PLAN and hub.preflight is not None:
        verdict = hub.preflight(observed.spec)
        if verdict.problems:  # a spec or cloud change is needed: waiting would not help
            message = "does not fit the cloud: " + "; ".join(verdict.lines())
            return status.invalid(hub.clock(), observed.hash or "", message, Reason.PREFLIGHT_FAILED)
        if verdict.shortfalls:
            return _wait_for_quota(status, observed.hash or "", verdict, hub.clock(), policy)
    return execute(name, observed, status, decision, hub)


def _wait_for_quota(
    status: Status, spec_hash: str, verdict: Verdict, now: dt.datetime, policy: Policy
) -> Status:
    """Not enough free quota: nothing runs; the pre-flight looks again after `preflight_recheck`
    (on figures fetched afresh), and at once when the spec changes or a person asks."""
    short = verdict.shortfalls
    needs, free = {s.key: s.needs for s in short}, {s.key: s.free for s in short}
    wait = QuotaWait(needs=needs, free=free, checked_at=now)
    message = " ".join([wait_message(short, built=status.deployed), *verdict.notes])
    again = now + dt.timedelta(seconds=policy.preflight_recheck)
    return status.waiting_for_quota(now, spec_hash, wait, message, again)


def _note(status: Status, observed: Observed, decision: Decision, now: dt.datetime) -> Status:
    """What a decision without Terraform means for the status (the same object when nothing)."""
    if decision.reason == Reason.SPEC_INVALID and (observed.kind == "invalid" or decision.refused):
        if status.phase != Phase.INVALID or status.observed_hash != observed.hash:
            return status.invalid(now, observed.hash or "", decision.message)
    elif decision.reason in (Reason.SPEC_REMOVED, Reason.PRUNE_HELD):
        if not status.orphaned or status.reason != decision.reason:
            return status.marked_orphaned(now, True, decision.reason, decision.message)
    elif decision.reason == Reason.STALE_APPROVAL and status.reason != Reason.STALE_APPROVAL:
        return status.approval_stale(now, decision.message)
    elif observed.kind == "present" and status.orphaned:
        return status.marked_orphaned(now, False, status.reason, status.message)
    return status


def _earliest(*times: dt.datetime | None) -> dt.datetime | None:
    known = [t for t in times if t is not None]
    return min(known) if known else None


def _when(decision: Decision, now: dt.datetime) -> dt.datetime | None:
    """When `decide` wants the next look: now for an action, its `next_at` for a wait, else None."""
    if decision.action == Action.WAIT:
        return decision.next_at
    if decision.action == Action.NOOP:
        return None
    return now
