"""One Terraform run of one cluster: drives init -> plan -> apply|destroy through the wrapper and
turns every outcome (success, each kind of failure) into a recorded status and run record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from reconciler.engine.decide import Action, Decision, Observed, retry_delay
from reconciler.engine.hub import Hub
from reconciler.model import runs
from reconciler.model.status import ERROR_PHASES, Phase, PlanInfo, Reason, ResourceProgress, Status
from reconciler.terraform import FailureKind, PlanSummary, Terraform, TerraformError

FAILURE_REASONS = {
    FailureKind.CONFIG: Reason.CONFIG_ERROR,
    FailureKind.QUOTA: Reason.QUOTA_EXCEEDED,
    FailureKind.AUTH: Reason.AUTH_FAILED,
    FailureKind.LOCKED: Reason.STATE_LOCKED,
    FailureKind.TRANSIENT: Reason.CLOUD_ERROR,
    FailureKind.TIMEOUT: Reason.TIMEOUT,
    FailureKind.INTERRUPTED: Reason.INTERRUPTED,
}


class Runner:
    """Drives Terraform for one run and turns each outcome into a recorded status."""

    def __init__(self, hub: Hub, name: str, status: Status, record: runs.RunRecord, log: Any) -> None:
        self.hub, self.name, self.status, self.record, self.log = hub, name, status, record, log
        self.tf: Terraform | None = None
        self.progress: dict[str, ResourceProgress] = {}
        self._last_write = 0.0

    def _finish(
        self, status: Status, result: runs.Result, kind: str | None = None, summary: str = ""
    ) -> Status:
        end = self.hub.clock()
        self.record = self.record.model_copy(
            update={
                "finished_at": end,
                "result": result,
                "error_kind": kind,
                "message": status.message,
                "summary": summary,
            }
        )
        runs.write_record(self.hub.clusters, self.record)
        self.hub.on_run(self.record)
        self.status = self.hub.record(status)
        return self.status

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
            self.status = self.hub.record(self.status.progressed(now, dict(self.progress)))

    def _queue(self, plan: PlanSummary) -> None:
        self.progress = {
            addr: ResourceProgress(action=act, state="queued") for addr, act in plan.pending.items()
        }
        if self.progress:
            self.status = self.hub.record(self.status.progressed(self.hub.clock(), dict(self.progress)))

    def _plan_file(self, plan_id: str) -> Path:
        return self.hub.clusters / self.name / "plans" / f"{plan_id}.tfplan"

    def _plan_info(self, summary: PlanSummary, spec_hash: str | None, destroy: bool) -> PlanInfo:
        return PlanInfo(
            id=self.record.id,
            spec_hash=spec_hash or "",
            add=summary.add,
            change=summary.change,
            destroy=summary.destroy,
            replace=summary.replace,
            destroyed=summary.destroyed,
            destroy_plan=destroy,
            created_at=self.hub.clock(),
        )

    def go(self, decision: Decision, observed: Observed) -> Status:
        assert self.tf is not None
        tf = self.tf
        tf.on_start = self._on_pid
        spec = observed.spec
        self._init(tf, spec.cloud if spec is not None else None, spec is not None)
        if decision.action == Action.APPLY:
            plan = self.status.plan
            assert plan is not None
            return self._apply(self._plan_file(plan.id), observed.hash, plan, Reason.APPROVED)
        destroy = decision.action == Action.DESTROY
        planfile = self._plan_file(self.record.id)
        planfile.parent.mkdir(parents=True, exist_ok=True)
        summary = tf.plan(planfile, destroy=destroy)
        manual = spec is not None and spec.apply == "manual" and not destroy
        if summary.has_changes and (manual or decision.action == Action.CHECK_DRIFT):
            # A person (or the drift report) needs the addresses: read them from the saved plan.
            summary = tf.plan_summary(planfile, exit_code=2)
        info = self._plan_info(summary, observed.hash, destroy)
        if decision.action == Action.CHECK_DRIFT:
            drifted = list(summary.pending)
            self.status = self.status.drift_checked(self.hub.clock(), drifted, decision.remediate)
            if not drifted or not decision.remediate:
                back = self.status._to(self.hub.clock(), phase=Phase.BUILD_SUCCESS)
                return self._finish(back, "succeeded", summary=info.summary())
            return self._apply(planfile, observed.hash, info, Reason.DRIFT_REMEDIATED, summary=summary)
        if not summary.has_changes and not destroy:
            planfile.unlink(missing_ok=True)
            return self._succeeded(observed.hash, Reason.UP_TO_DATE, "no changes", info)
        if manual:
            return self._finish(
                self.status.planned(self.hub.clock(), info), "succeeded", summary=info.summary()
            )
        return self._apply(planfile, observed.hash, info, Reason.APPLIED, destroy, summary)

    def _init(self, tf: Terraform, cloud: str | None, known: bool) -> None:
        """`init`, with `-upgrade` when the module behind the cluster changed since the last one
        (a new Magic Castle release may need newer providers than the lock file records)."""
        stamp = self.hub.clusters / self.name / ".mchub-init"
        digest = self.hub.module_digest(cloud) if known else None
        previous = stamp.read_text().strip() if stamp.exists() else None
        upgrade = digest is not None and previous is not None and previous != digest
        with self.hub.init_lock:  # Terraform's shared plugin cache is not safe for concurrent inits
            tf.init(upgrade=upgrade)
        if digest is not None and digest != previous:
            stamp.write_text(digest + "\n")

    def _apply(
        self,
        planfile: Path,
        spec_hash: str | None,
        info: PlanInfo,
        reason: Reason,
        destroy: bool = False,
        summary: PlanSummary | None = None,
    ) -> Status:
        """Apply a saved plan; `summary` is that plan's (read again from the file when not given)."""
        assert self.tf is not None
        phase = Phase.DESTROY_RUNNING if destroy else Phase.BUILD_RUNNING
        self.status = self.hub.record(
            self.status._to(self.hub.clock(), phase=phase, reason=reason, message=info.summary())
        )
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
            end = self.status.destroyed(self.hub.clock(), self.status.reason, spec_hash)
            return self._finish(
                end.progressed(self.hub.clock(), dict(self.progress)), "succeeded", summary=info.summary()
            )
        return self._succeeded(spec_hash, reason, info.summary(), info)

    def _succeeded(self, spec_hash: str | None, reason: Reason, message: str, info: PlanInfo) -> Status:
        assert self.tf is not None
        outputs = redact(self.tf.outputs())
        resources = self.tf.state_resources()
        now = self.hub.clock()
        done = self.status.applied(now, spec_hash or "", outputs, resources, reason, message)
        if reason == Reason.DRIFT_REMEDIATED:
            done = done._to(now, drift=self.status.drift.model_copy(update={"checked_at": now}))
        elif self.status.drift.detected:
            done = done._to(
                now, drift=self.status.drift.model_copy(update={"detected": False, "remediations": 0})
            )
        return self._finish(done.progressed(now, dict(self.progress)), "succeeded", summary=info.summary())

    def failed(self, exc: TerraformError, error_phase: Phase) -> Status:
        now = self.hub.clock()
        reason = FAILURE_REASONS.get(exc.kind, Reason.CLOUD_ERROR)
        if exc.kind == FailureKind.CONFIG:
            next_at = None  # permanent: wait for the spec (or the template) to change
        elif exc.kind == FailureKind.INTERRUPTED:
            next_at = now  # re-plan from Terraform's state on the next start
        else:
            delay = retry_delay(self.name, self.status.failures + 1, self.hub.policy.backoff)
            next_at = now + dt.timedelta(seconds=delay)
        phase = error_phase
        if self.status.phase == Phase.BUILD_RUNNING and error_phase == Phase.PLAN_ERROR:
            phase = Phase.BUILD_ERROR
        message = exc.message
        if exc.kind == FailureKind.INTERRUPTED:
            step = exc.command.split()[1] if len(exc.command.split()) > 1 else "its run"
            message = (
                f"interrupted during terraform {step}: the hub stopped; Terraform saved its state, "
                "and the next start plans again from it"
            )
        elif next_at is not None:
            message += f" (attempt {self.status.failures + 1}; next at {next_at:%H:%M:%S} UTC)"
        self.log.write(f"# failed ({exc.kind.value}): {exc.message}\n")
        fail = self.status.failed(now, phase, reason, message, next_at)
        result: runs.Result = "interrupted" if exc.kind == FailureKind.INTERRUPTED else "failed"
        if self.progress:
            marked = {
                a: p if p.state != "running" else ResourceProgress(action=p.action, state="failed")
                for a, p in self.progress.items()
            }
            fail = fail.progressed(now, marked)
        return self._finish(fail, result, kind=exc.kind.value)


def redact(value: Any) -> Any:
    """Outputs as recorded in status.json: any password is replaced, never stored."""
    if isinstance(value, dict):
        return {k: ("(hidden)" if "pass" in k.lower() and v else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def error_phase_for(status: Status) -> Phase:
    if status.phase in ERROR_PHASES:
        return status.phase
    return {Phase.DESTROY_RUNNING: Phase.DESTROY_ERROR, Phase.BUILD_RUNNING: Phase.BUILD_ERROR}.get(
        status.phase, Phase.PLAN_ERROR
    )
