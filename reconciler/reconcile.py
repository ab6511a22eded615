"""One reconcile of one cluster, stage by stage:
load -> validate -> decide -> render -> init -> plan -> apply|destroy -> record.
The loop (loop.py) calls `reconcile_one`; the CLI calls it for `mchub reconcile --once`."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO, cast

from reconciler import runs, secrets
from reconciler.approvals import read_approval
from reconciler.decide import Action, Decision, Observed, Policy, decide, retry_delay
from reconciler.render import module_digest, render_main_tf
from reconciler.settings import Settings, SettingsError
from reconciler.spec import ClusterSpec, SpecError, load_spec, spec_digest
from reconciler.status import (
    ERROR_PHASES,
    Phase,
    PlanInfo,
    Reason,
    ResourceProgress,
    Status,
    read_status,
    write_atomic,
    write_status,
)
from reconciler.terraform import FailureKind, PlanSummary, Terraform, TerraformEnv, TerraformError

Preflight = Callable[[Any], list[str]]  # spec -> problems (empty when it fits)

FAILURE_REASONS = {
    FailureKind.CONFIG: Reason.CONFIG_ERROR,
    FailureKind.QUOTA: Reason.QUOTA_EXCEEDED,
    FailureKind.AUTH: Reason.AUTH_FAILED,
    FailureKind.LOCKED: Reason.STATE_LOCKED,
    FailureKind.TRANSIENT: Reason.CLOUD_ERROR,
    FailureKind.TIMEOUT: Reason.TIMEOUT,
    FailureKind.INTERRUPTED: Reason.INTERRUPTED,
}


@dataclass
class Hub:
    """What a reconcile needs from the outside world, passed in (never global)."""

    settings: Settings
    binary: Path
    terraform_version: str
    policy: Policy = field(default_factory=Policy)
    preflight: Preflight | None = None
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    on_status: Callable[[Status], None] = lambda s: None
    # Running Terraform per cluster, so shutdown can interrupt them.
    running: dict[str, Terraform] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    _module_digests: dict[str, tuple[float, str]] = field(default_factory=dict)

    @property
    def clusters(self) -> Path:
        return self.settings.clusters_dir

    def module_digest(self, cloud_name: str | None) -> str:
        cloud = self.settings.cloud(cloud_name)
        tdir = self.settings.templates_dir
        stamp = max((p.stat().st_mtime for p in tdir.rglob("*") if p.is_file()), default=0.0)
        cached = self._module_digests.get(cloud.name)
        if cached is None or cached[0] != stamp:
            cached = (stamp, module_digest(cloud, tdir))
            self._module_digests[cloud.name] = cached
        return cached[1]

    def record(self, status: Status) -> Status:
        write_status(self.clusters, status)
        self.on_status(status)
        return status


# -- load -> validate ------------------------------------------------------------------------


def observe(name: str, hub: Hub) -> Observed:
    path = hub.settings.specs_dir / f"{name}.yaml"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Observed(kind="missing")
    try:
        spec = load_spec(path)
        cloud_digest = hub.module_digest(spec.cloud)
    except SpecError as exc:
        return Observed(kind="invalid", hash=hashlib.sha256(raw).hexdigest(), errors=str(exc))
    except SettingsError as exc:
        return Observed(kind="invalid", hash=hashlib.sha256(raw).hexdigest(), errors=f"cloud: {exc}")
    parts = (spec_digest(spec), cloud_digest, hub.terraform_version)
    return Observed(kind="present", spec=spec, hash=hashlib.sha256("\n".join(parts).encode()).hexdigest())


def reconcile_one(name: str, hub: Hub) -> Status:
    observed = observe(name, hub)
    status = read_status(hub.clusters, name)
    now = hub.clock()
    decision = decide(observed, status, read_approval(hub.settings.specs_dir, name), now, hub.policy)
    base = status or Status(name=name, updated_at=now)
    if decision.action in (Action.NOOP, Action.WAIT):
        return _note(base, observed, decision, hub)
    if observed.kind == "present" and decision.action == Action.PLAN and hub.preflight is not None:
        problems = hub.preflight(observed.spec)
        if problems:
            message = "does not fit the cloud: " + "; ".join(problems)
            return hub.record(base.invalid(now, observed.hash or "", message, Reason.PREFLIGHT_FAILED))
    return _run(name, observed, base, decision, hub)


def _note(status: Status, observed: Observed, decision: Decision, hub: Hub) -> Status:
    """Record what a decision without Terraform means for the status, when that changed."""
    now = hub.clock()
    new = status
    if decision.reason == Reason.SPEC_INVALID and observed.kind == "invalid":
        if status.phase != Phase.INVALID or status.observed_hash != observed.hash:
            new = status.invalid(now, observed.hash or "", observed.errors)
    elif decision.reason in (Reason.SPEC_REMOVED, Reason.PRUNE_HELD):
        if not status.orphaned or status.reason != decision.reason:
            new = status.marked_orphaned(now, True, decision.reason, decision.message)
    elif decision.reason == Reason.STALE_APPROVAL and status.reason != Reason.STALE_APPROVAL:
        new = status._to(now, reason=Reason.STALE_APPROVAL, message=decision.message)
    elif observed.kind == "present" and status.orphaned:
        new = status.marked_orphaned(now, False, status.reason, status.message)
    return hub.record(new) if new is not status else status


# -- render -> init -> plan -> apply|destroy -> record -----------------------------------------


def _workdir(hub: Hub, name: str) -> Path:
    path = hub.clusters / name
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)  # Terraform's state and saved plans hold generated secrets
    return path


def _environment(hub: Hub, name: str, cloud_name: str | None, passwd: str) -> TerraformEnv:
    cloud = hub.settings.cloud(cloud_name)
    return TerraformEnv(
        binary=hub.binary,
        cli_config=cloud.terraform_cli_config,
        plugin_cache=hub.clusters / ".plugin-cache",
        clouds_yaml=cloud.clouds_yaml,
        cloud=cloud.name,
        extra={"TF_VAR_guest_passwd": passwd} if passwd else {},
    )


_RUN_PHASE = {
    Action.PLAN: (Phase.PLAN_RUNNING, Phase.PLAN_ERROR),
    Action.APPLY: (Phase.BUILD_RUNNING, Phase.BUILD_ERROR),
    Action.CHECK_DRIFT: (Phase.PLAN_RUNNING, Phase.PLAN_ERROR),
    Action.DESTROY: (Phase.DESTROY_RUNNING, Phase.DESTROY_ERROR),
}


def _run(name: str, observed: Observed, status: Status, decision: Decision, hub: Hub) -> Status:
    now = hub.clock()
    workdir = _workdir(hub, name)
    spec = observed.spec
    cloud_name = spec.cloud if spec else None
    if decision.action == Action.DESTROY and not _has_state(workdir):
        return hub.record(status.destroyed(now, decision.reason, observed.hash))
    running_phase, error_phase = _RUN_PHASE[decision.action]
    run_id = runs.new_run_id(now, _run_name(decision, spec))
    record = runs.RunRecord(
        id=run_id,
        cluster=name,
        action=_run_name(decision, spec),
        reason=decision.reason.value,
        spec_hash=observed.hash,
        started_at=now,
        hub_pid=os.getpid(),
    )
    runs.write_record(hub.clusters, record)
    status = hub.record(status.started(now, running_phase, decision.reason, run_id, observed.hash))
    log = runs.open_log(hub.clusters, name, run_id)
    runner = _Runner(hub, name, status, record, log)
    try:
        log.write(f"# {decision.action.value} of {name}: {decision.reason.value}\n")
        passwd = secrets.guest_password(hub.clusters, name, spec.guest_passwd if spec else None)
        env = _environment(hub, name, cloud_name, passwd)
        tf = Terraform(
            workdir, env, cast(TextIO, log), hub.settings.terraform_timeout, hub.settings.terraform_grace
        )
        runner.tf = tf
        with hub.lock:
            hub.running[name] = tf
        if hub.stopping.is_set():
            raise TerraformError(FailureKind.INTERRUPTED, "the hub is stopping", "")
        if spec is not None:
            write_atomic(
                workdir / "main.tf",
                render_main_tf(
                    spec, hub.settings.cloud(spec.cloud), hub.settings.templates_dir, workdir
                ).encode(),
            )
        result = runner.go(decision, observed)
    except TerraformError as exc:
        result = runner.failed(exc, error_phase)
    except (SettingsError, OSError, ValueError) as exc:
        err = TerraformError(FailureKind.CONFIG, str(exc), "")
        result = runner.failed(err, error_phase)
    finally:
        with hub.lock:
            hub.running.pop(name, None)
        log.close()
        runs.prune(hub.clusters, name, hub.settings.runs_kept)
    return result


def _run_name(decision: Decision, spec: ClusterSpec | None) -> str:
    """What the run history calls a run: a plan that applies at once is a build."""
    if decision.action == Action.PLAN:
        return "plan" if spec is not None and spec.apply == "manual" else "build"
    return {Action.CHECK_DRIFT: "drift", Action.APPLY: "apply"}.get(decision.action, decision.action.value)


def _has_state(workdir: Path) -> bool:
    state = workdir / "terraform.tfstate"
    return state.exists() and '"resources": []' not in state.read_text()


class _Runner:
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
        self.status = self.hub.record(status)
        return self.status

    def _on_pid(self, pid: int) -> None:
        self.record = self.record.model_copy(update={"terraform_pid": pid})
        runs.write_record(self.hub.clusters, self.record)

    def _on_progress(self, address: str, state: str, action: str) -> None:
        previous = self.progress.get(address, ResourceProgress(action=action))
        self.progress[address] = ResourceProgress(action=previous.action or action, state=state)  # type: ignore[arg-type]
        now = self.hub.clock()
        if state != "running" or (now.timestamp() - self._last_write) > 0.5:
            self._last_write = now.timestamp()
            self.status = self.hub.record(self.status.progressed(now, dict(self.progress)))

    def _queue(self, plan: PlanSummary) -> None:
        self.progress = {
            addr: ResourceProgress(action=action, state="queued")
            for addr, action in plan.addresses.items()
            if action not in ("no-op", "read")
        }
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
        tf.init()
        spec = observed.spec
        if decision.action == Action.APPLY:
            plan = self.status.plan
            assert plan is not None
            return self._apply(self._plan_file(plan.id), observed.hash, plan, Reason.APPROVED)
        destroy = decision.action == Action.DESTROY
        planfile = self._plan_file(self.record.id)
        planfile.parent.mkdir(parents=True, exist_ok=True)
        summary = tf.plan(planfile, destroy=destroy)
        info = self._plan_info(summary, observed.hash, destroy)
        if decision.action == Action.CHECK_DRIFT:
            drifted = [a for a, act in summary.addresses.items() if act not in ("no-op", "read")]
            self.status = self.status.drift_checked(self.hub.clock(), drifted, decision.remediate)
            if not drifted or not decision.remediate:
                back = self.status._to(self.hub.clock(), phase=Phase.BUILD_SUCCESS)
                return self._finish(back, "succeeded", summary=info.summary())
            return self._apply(planfile, observed.hash, info, Reason.DRIFT_REMEDIATED)
        if not summary.has_changes and not destroy:
            planfile.unlink(missing_ok=True)
            return self._succeeded(observed.hash, Reason.UP_TO_DATE, "no changes", info)
        if spec is not None and spec.apply == "manual" and not destroy:
            return self._finish(
                self.status.planned(self.hub.clock(), info), "succeeded", summary=info.summary()
            )
        return self._apply(planfile, observed.hash, info, Reason.APPLIED, destroy)

    def _apply(
        self, planfile: Path, spec_hash: str | None, info: PlanInfo, reason: Reason, destroy: bool = False
    ) -> Status:
        assert self.tf is not None
        phase = Phase.DESTROY_RUNNING if destroy else Phase.BUILD_RUNNING
        self.status = self.hub.record(
            self.status._to(self.hub.clock(), phase=phase, reason=reason, message=info.summary())
        )
        self._queue(self.tf.plan_summary(planfile))
        self.tf.apply(planfile, on_progress=self._on_progress)
        planfile.unlink(missing_ok=True)
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
        if next_at is not None and exc.kind != FailureKind.INTERRUPTED:
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
