"""Execute stage of the flow: one Terraform run of one cluster, render -> init -> plan ->
apply|destroy, ending in ONE value: the status the run leaves the cluster in (reconcile records it).
Meanwhile the running phase and per-resource progress are recorded as they happen, for the web view.
Every failure becomes a status here, and only here: `FailureKind.permanent` decides wait or retry."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any, Literal, TextIO, cast

from reconciler.engine.decide import Action, Decision, Observed, retry_delay
from reconciler.engine.hub import Hub
from reconciler.engine.imagepins import pins_for
from reconciler.engine.readback import asked_by, keep_aside
from reconciler.engine.safety import Classified, classify, creates_only
from reconciler.engine.workdir import (
    built_on,
    has_state,
    make_workdir,
    moved_away,
    note_cloud,
    read_note,
    render_into,
    terraform_environment,
    tidy_runs,
)
from reconciler.model import runs
from reconciler.model.atomic import write_atomic
from reconciler.model.files import UnreadableFile
from reconciler.model.settings import SettingsError
from reconciler.model.spec import ClusterSpec
from reconciler.model.status import Phase, PlanInfo, Reason, ResourceProgress, Status
from reconciler.model.volumes import volume_sizes
from reconciler.terraform import FailureKind, PlanSummary, TerraformError
from reconciler.terraform.output import plan_summary

FAILURE_REASONS = {
    FailureKind.CONFIG: Reason.CONFIG_ERROR,
    FailureKind.QUOTA: Reason.QUOTA_EXCEEDED,
    FailureKind.AUTH: Reason.AUTH_FAILED,
    FailureKind.LOCKED: Reason.STATE_LOCKED,
    FailureKind.TRANSIENT: Reason.CLOUD_ERROR,
    FailureKind.TIMEOUT: Reason.TIMEOUT,
    FailureKind.INTERRUPTED: Reason.INTERRUPTED,
    FailureKind.CONFLICT: Reason.CONFLICT,
}
# The phase a run shows while it plans. A drift check is no news: the cluster stays built meanwhile.
RUNNING_PHASE = {
    Action.PLAN: Phase.PLAN_RUNNING,
    Action.APPLY: Phase.BUILD_RUNNING,
    Action.DESTROY: Phase.DESTROY_RUNNING,
}


log = logging.getLogger("mchub.reconcile")
ERRORED_STATE = "errored.tfstate"  # what Terraform writes when it cannot save its state


def execute(name: str, observed: Observed, status: Status, decision: Decision, hub: Hub) -> Status:
    """Run Terraform for `decision` and return the status it ends in (not yet recorded)."""
    workdir = make_workdir(hub, name)
    if decision.action == Action.DESTROY and not has_state(workdir):
        return status.destroyed(hub.clock(), decision.reason, observed.hash)
    # A cluster is planned on the cloud it is built on: a spec pointing elsewhere is refused, and a
    # destroy runs where the resources are, whatever the spec (or its absence) says now.
    destroy = decision.action == Action.DESTROY
    if observed.spec is not None and not destroy and (moved := moved_away(hub, name, observed.spec, workdir)):
        return status.invalid(hub.clock(), observed.hash or "", moved)
    where = built_on(hub, name) if destroy or observed.spec is None else None
    asked = asked_by(hub, name, status, decision)  # before the status changes below
    if observed.spec is not None:  # images resolved once: at a plan; every other run reuses them
        picker = hub.images if decision.action == Action.PLAN else None
        cloud = hub.settings.cloud_of(observed.spec.cloud, observed.spec.project)
        pins = pins_for(observed.spec, status.images, picker, cloud)
        status = status if pins == status.images else status.images_pinned(hub.clock(), pins)
    run = _Run(hub, name, observed, decision, status, asked, where)
    try:
        # A cluster whose spec is gone is destroyed where it was built, not on the default cloud.
        env = terraform_environment(hub, name, observed.spec, where)
        with hub.terraform.session(name, workdir, env, cast(TextIO, run.log)) as tf:
            if observed.spec is not None:
                render_into(hub, workdir, observed.spec, run.status.images, where)
            return run.go(tf)
    except TerraformError as exc:
        return run.failed(exc)
    except UnreadableFile as exc:  # secrets.json: never replaced by itself (the guests' password)
        message = f"{keep_aside(hub, exc)}: restore it to keep the guest password, or retry to make a new one"
        return run.failed(TerraformError(FailureKind.CONFIG, message, ""))
    except (SettingsError, OSError, ValueError) as exc:
        return run.failed(TerraformError(FailureKind.CONFIG, str(exc), ""))
    finally:
        run.log.close()
        tidy_runs(hub, name)


class _Run:
    """The state of one run: its record, its log, its Terraform and the progress seen so far."""

    def __init__(
        self, hub: Hub, name: str, observed: Observed, decision: Decision, status: Status,
        asked: dict[str, str | None], where: str | None = None,
    ) -> None:  # fmt: skip
        self.hub, self.name, self.observed, self.decision = hub, name, observed, decision
        self.where = where  # the cloud the run uses instead of the spec's (a destroy where it was built)
        now = hub.clock()
        action = _run_name(decision, observed.spec)
        run_id = runs.new_run_id(now, action)
        self.record = runs.RunRecord(
            id=run_id, cluster=name, action=action, reason=decision.reason.value,
            spec_hash=observed.hash, started_at=now, hub_pid=os.getpid(), spec_blob=observed.blob or None,
            triggered_by=asked.get("triggered_by"), approved_by=asked.get("approved_by"),
        )  # fmt: skip
        runs.write_record(hub.clusters, self.record)
        phase = RUNNING_PHASE.get(decision.action, status.phase)
        self.status = self._show(status.started(now, phase, decision.reason, run_id, observed.hash))
        self.log = runs.open_log(hub.clusters, name, run_id)
        self.log.write(f"# {decision.action.value} of {name}: {decision.reason.value}\n")
        self.tf: Any = None
        self.progress: dict[str, ResourceProgress] = {}
        self._last_write = 0.0

    def _show(self, status: Status) -> Status:
        """Record a status the run passes through (the web view polls it); the end is returned."""
        self.status = self.hub.recorder.record(status)
        return self.status

    # -- init -> plan -> apply|destroy ----------------------------------------------------------
    def go(self, tf: Any) -> Status:
        self.tf = tf
        tf.on_start = self._on_pid
        spec, decision = self.observed.spec, self.decision
        cloud = self.where or (self.hub.settings.cloud_of(spec.cloud, spec.project) if spec else None)
        self._init(cloud, spec is not None)
        if decision.action == Action.APPLY:
            plan = self.status.plan
            assert plan is not None
            return self._apply(self._plan_file(plan.id), plan, Reason.APPROVED)
        destroy = decision.action == Action.DESTROY
        planfile = self._plan_file(self.record.id)
        planfile.parent.mkdir(parents=True, exist_ok=True)
        manual = spec is not None and spec.apply == "manual" and not destroy
        summary, safety = self._plan(planfile, destroy, manual or decision.action == Action.CHECK_DRIFT)
        info = self._plan_info(summary, destroy, safety)
        if decision.action == Action.CHECK_DRIFT:
            return self._drift_checked(planfile, summary, info)
        if not summary.has_changes and not destroy:
            planfile.unlink(missing_ok=True)
            return self._succeeded(Reason.UP_TO_DATE, "no changes", info)
        if manual:
            return self._finish(self.status.planned(self.hub.clock(), info), "succeeded", info)
        if info.losing and not destroy:
            # Lossless plans apply by themselves; one that loses data waits for a person. A destroy
            # is its own order (`ensure: absent`, an expiry, pruning): its plan is on record first.
            return self._finish(self.status.held(self.hub.clock(), info), "succeeded", info)
        reason = decision.reason if destroy else Reason.APPLIED  # a destroy says who asked: expiry, ...
        return self._apply(planfile, info, reason, destroy, summary)

    def _plan(self, planfile: Path, destroy: bool, addresses: bool) -> tuple[PlanSummary, Classified]:
        """Plan to `planfile` and classify it. A plan that only creates (Terraform's own counts say
        so) cannot lose data and costs no second process; any other is read back (`show -json`)."""
        summary = self.tf.plan(planfile, destroy=destroy)
        if not summary.has_changes:
            return summary, Classified()
        if not addresses and summary.change == 0 and summary.destroy == 0:
            return summary, creates_only(summary.pending, summary.add)
        plan = self.tf.show_plan(planfile)
        return plan_summary(plan, exit_code=2), classify(plan)

    def _init(self, cloud: str | None, known: bool) -> None:
        """`init`, with `-upgrade` when the module behind the cluster changed since the last one
        (a new Magic Castle release may need newer providers than the lock file records)."""
        stamp = self.hub.clusters / self.name / ".mchub-init"
        digest = self.hub.specs.module_digest(cloud) if known else None
        previous = read_note(stamp)
        upgrade = digest is not None and previous is not None and previous != digest
        with self.hub.terraform.init_lock:  # Terraform's shared plugin cache is not safe for concurrent inits
            self.tf.init(upgrade=upgrade)
        if digest is not None and digest != previous:
            write_atomic(stamp, digest + "\n")  # replaces whatever is there, never writes through a link
        self._errored_state_back()
        if cloud is not None:  # execute() refused a spec pointing away from where the cluster is
            note_cloud(self.hub, self.name, cloud)

    def _errored_state_back(self) -> None:
        """A run whose apply ended when its state could not be saved (PostgreSQL unreachable, a
        full disk) left Terraform's `errored.tfstate` here: the only record of what it created.
        Push it back before planning, or the plan would create those resources again. Kept as
        `errored.tfstate.pushed-<time>` for a person; a push Terraform refuses fails this run."""
        errored = self.hub.clusters / self.name / ERRORED_STATE
        if not errored.is_file():
            return
        self.log.write(f"# {ERRORED_STATE}: a state an earlier run could not save; pushing it back\n")
        log.warning("%s: pushing back %s left by an earlier run", self.name, ERRORED_STATE,
                    extra={"cluster": self.name})  # fmt: skip
        self.tf.push_state(errored)
        errored.rename(errored.with_name(f"{ERRORED_STATE}.pushed-{self.hub.clock():%Y%m%dT%H%M%SZ}"))

    def _drift_checked(self, planfile: Path, summary: PlanSummary, info: PlanInfo) -> Status:
        drifted = list(summary.pending)
        remediate = self.decision.remediate
        self.status = self.status.drift_checked(self.hub.clock(), drifted, remediate)
        if not drifted or not remediate:
            planfile.unlink(missing_ok=True)
            return self._finish(self.status.drift_settled(self.hub.clock()), "succeeded", info)
        if info.losing:  # drift repair applies lossless repairs only
            return self._finish(self.status.held(self.hub.clock(), info), "succeeded", info)
        return self._apply(planfile, info, Reason.DRIFT_REMEDIATED, summary=summary)

    def _apply(
        self,
        planfile: Path,
        info: PlanInfo,
        reason: Reason,
        destroy: bool = False,
        summary: PlanSummary | None = None,
    ) -> Status:
        """Apply a saved plan; `summary` is that plan's (read again from the file when not given).
        The run record holds the plan's classification before anything is applied."""
        self._record_plan(info)
        self._show(self.status.applying(self.hub.clock(), destroy, reason, info.summary()))
        # Without a summary (an approved plan) read the saved plan; with one, the apply's own
        # `planned_change` events queue the resources.
        self._queue(summary or self.tf.plan_summary(planfile))
        self.tf.apply(planfile, on_progress=self._on_progress)
        planfile.unlink(missing_ok=True)
        replaced = sorted(a for a, p in self.progress.items() if p.action == "replace")
        destroyed = sorted(a for a, p in self.progress.items() if p.action == "delete")
        if not info.replace and not info.destroyed and (replaced or destroyed):
            info = info.model_copy(update={"replace": replaced, "destroyed": [] if destroy else destroyed})
        if destroy:
            now = self.hub.clock()
            end = self.status.destroyed(now, self.status.reason, self.observed.hash)
            return self._finish(end.progressed(now, dict(self.progress)), "succeeded", info)
        return self._succeeded(reason, info.summary(), info)

    def _succeeded(self, reason: Reason, message: str, info: PlanInfo) -> Status:
        outputs = redact(self.tf.outputs())
        resources = self.tf.state_resources()
        now = self.hub.clock()
        spec = self.observed.spec
        volumes = volume_sizes(spec) if spec is not None else None
        spec_hash = self.observed.hash or ""
        done = self.status.applied(now, spec_hash, outputs, resources, reason, message, volumes)
        return self._finish(done.progressed(now, dict(self.progress)), "succeeded", info)

    # -- failures -------------------------------------------------------------------------------
    def failed(self, exc: TerraformError) -> Status:
        now = self.hub.clock()
        next_at = self._next_attempt(exc.kind, now)
        message = exc.message
        if exc.kind == FailureKind.INTERRUPTED:
            words = exc.command.split()
            step = words[1] if len(words) > 1 else "its run"
            message = (
                f"interrupted during terraform {step}: the hub stopped; Terraform saved its state, "
                "and the next start plans again from it"
            )
        elif next_at is not None:
            message += f" (attempt {self.status.failures + 1}; next at {next_at:%H:%M:%S} UTC)"
        self.log.write(f"# failed ({exc.kind.value}): {exc.message}\n")
        if exc.kind == FailureKind.INTERRUPTED:  # resumed by the hub itself: pending, not an error
            stopped = self.status.interrupted(now, message)
            return self._finish(self._settled(stopped, "queued"), "interrupted", kind=exc.kind.value)
        fail = self.status.failed(now, FAILURE_REASONS.get(exc.kind, Reason.CLOUD_ERROR), message, next_at)
        return self._finish(self._settled(fail, "failed"), "failed", kind=exc.kind.value)

    def _settled(self, status: Status, running: Literal["queued", "failed"]) -> Status:
        """`status` with the resources that were running when the run ended marked `running`."""
        if not self.progress:
            return status
        return status.progressed(self.hub.clock(), {
            a: p if p.state != "running" else ResourceProgress(action=p.action, state=running)
            for a, p in self.progress.items()
        })  # fmt: skip

    def _next_attempt(self, kind: FailureKind, now: dt.datetime) -> dt.datetime | None:
        """When to try again: never by itself for a permanent failure (the spec or template must
        change); at once after an interruption (re-plan from Terraform's state on the next start);
        else after a backoff that grows with each failure in a row."""
        if kind.permanent:
            return None
        if kind == FailureKind.INTERRUPTED:
            return now
        delay = retry_delay(self.name, self.status.failures + 1, self.hub.policy.backoff)
        return now + dt.timedelta(seconds=delay)

    # -- records --------------------------------------------------------------------------------
    def _finish(
        self, status: Status, result: runs.Result, plan: PlanInfo | None = None, kind: str | None = None
    ) -> Status:
        """The run's record closed with how it ended; the status is returned for reconcile to record."""
        self.record = self.record.model_copy(update={
            "finished_at": self.hub.clock(), "result": result, "error_kind": kind,
            "message": status.message, "summary": plan.summary() if plan else "",
            "changes": plan.changes if plan else {}, "losing": plan.losing if plan else [],
            "resources": {a: p.action for a, p in self.progress.items() if p.state == "done"},
        })  # fmt: skip
        runs.write_record(self.hub.clusters, self.record)
        self.hub.recorder.run_finished(self.record)
        return status

    def _record_plan(self, plan: PlanInfo) -> None:
        self.record = self.record.model_copy(update={
            "summary": plan.summary(), "changes": plan.changes, "losing": plan.losing,
        })  # fmt: skip
        runs.write_record(self.hub.clusters, self.record)

    def _on_pid(self, pid: int) -> None:
        self.record = self.record.model_copy(update={"terraform_pid": pid})
        runs.write_record(self.hub.clusters, self.record)

    def _on_progress(self, address: str, state: str, action: str) -> None:
        previous = self.progress.get(address, ResourceProgress(action=action))
        self.progress[address] = ResourceProgress(action=previous.action or action, state=state)  # type: ignore[arg-type]
        now = self.hub.clock()
        # Ends of work are written at once; the bursts of queued/running events at most twice a second.
        if state in ("done", "failed") or (now.timestamp() - self._last_write) > 0.5:
            self._last_write = now.timestamp()
            self._show(self.status.progressed(now, dict(self.progress)))

    def _queue(self, plan: PlanSummary) -> None:
        self.progress = {a: ResourceProgress(action=act, state="queued") for a, act in plan.pending.items()}
        if self.progress:
            self._show(self.status.progressed(self.hub.clock(), dict(self.progress)))

    def _plan_file(self, plan_id: str) -> Path:
        return self.hub.clusters / self.name / "plans" / f"{plan_id}.tfplan"

    def _plan_info(self, summary: PlanSummary, destroy: bool, safety: Classified) -> PlanInfo:
        return PlanInfo(
            id=self.record.id, spec_hash=self.observed.hash or "", add=summary.add, change=summary.change,
            destroy=summary.destroy, replace=summary.replace, destroyed=summary.destroyed,
            destroy_plan=destroy, created_at=self.hub.clock(), changes=safety.counts(),
            losing=[c.describe() for c in safety.losing],
        )  # fmt: skip


# -- the run's surroundings ----------------------------------------------------------------------


def _run_name(decision: Decision, spec: ClusterSpec | None) -> str:
    """What the run history calls a run: a plan that applies at once is a build."""
    if decision.action == Action.PLAN:
        return "plan" if spec is not None and spec.apply == "manual" else "build"
    return {Action.CHECK_DRIFT: "drift", Action.APPLY: "apply"}.get(decision.action, decision.action.value)


def redact(value: Any) -> Any:
    """Outputs as recorded in status.json: any password is replaced, never stored."""
    if isinstance(value, dict):
        return {k: ("(hidden)" if "pass" in k.lower() and v else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
