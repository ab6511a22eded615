"""One reconcile of one cluster, stage by stage:
load -> validate -> decide -> render -> init -> plan -> apply|destroy -> record.
The loop (loop.py) calls `reconcile_one`; the CLI calls it for `mchub reconcile --once`."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TextIO, cast

from reconciler.engine.decide import Action, Decision, Observed, Policy, decide
from reconciler.engine.executor import Runner
from reconciler.engine.hub import Hub
from reconciler.engine.render import render_main_tf
from reconciler.model import runs, secrets
from reconciler.model.approvals import read_approval
from reconciler.model.atomic import write_atomic
from reconciler.model.settings import SettingsError
from reconciler.model.spec import ClusterSpec, SpecError, load_spec, spec_digest
from reconciler.model.status import Phase, Reason, Status, read_status
from reconciler.terraform import FailureKind, TerraformEnv, TerraformError

# -- load -> validate ------------------------------------------------------------------------


def observe(name: str, hub: Hub) -> Observed:
    path = hub.settings.specs_dir / f"{name}.yaml"
    try:
        st = path.stat()
    except FileNotFoundError:
        return Observed(kind="missing")
    # An unchanged file is not parsed again: a resync of many idle specs stays cheap.
    key = (st.st_mtime_ns, st.st_size, st.st_ino)
    cached = hub.parsed.get(name)
    if cached is not None and cached[0] == key:
        observed = cached[1]
    else:
        observed = _parse(path)
        hub.parsed[name] = (key, observed)
    if observed.kind != "present" or observed.spec is None:
        return observed
    try:
        cloud_digest = hub.module_digest(observed.spec.cloud)
    except SettingsError as exc:
        return Observed(kind="invalid", hash=observed.hash, errors=f"cloud: {exc}")
    parts = (observed.hash or "", cloud_digest, hub.terraform_version)
    return Observed(
        kind="present", spec=observed.spec, hash=hashlib.sha256("\n".join(parts).encode()).hexdigest()
    )


def _parse(path: Path) -> Observed:
    """The spec file alone: `hash` is the spec's digest (the caller adds module and Terraform)."""
    try:
        raw = path.read_bytes()
        spec = load_spec(path)
    except FileNotFoundError:
        return Observed(kind="missing")
    except SpecError as exc:
        return Observed(kind="invalid", hash=hashlib.sha256(raw).hexdigest(), errors=str(exc))
    return Observed(kind="present", spec=spec, hash=spec_digest(spec))


def reconcile_one(name: str, hub: Hub, policy: Policy | None = None) -> Status:
    """Reconcile one cluster; `policy` overrides the hub's for this pass (the loop holds pruning)."""
    observed = observe(name, hub)
    status = read_status(hub.clusters, name)
    now = hub.clock()
    decision = decide(
        observed, status, read_approval(hub.settings.specs_dir, name), now, policy or hub.policy
    )
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
    extra = cloud.passthrough_env()  # the DNS provider's credentials, from the hub's environment
    if passwd:
        extra["TF_VAR_guest_passwd"] = passwd
    return TerraformEnv(
        binary=hub.binary,
        cli_config=cloud.terraform_cli_config,
        # A shared plugin cache saves downloads from a registry, but Terraform does not make it
        # safe for concurrent use: with a CLI config of its own (the sandbox's filesystem mirror)
        # the providers are local already, and each cluster installs its own copy.
        plugin_cache=None if cloud.terraform_cli_config else hub.clusters / ".plugin-cache",
        clouds_yaml=cloud.clouds_yaml,
        cloud=cloud.name,
        extra=extra,
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
    if decision.action == Action.CHECK_DRIFT:
        running_phase = status.phase  # a drift check is no news: the cluster stays built meanwhile
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
    runner = Runner(hub, name, status, record, log)
    try:
        log.write(f"# {decision.action.value} of {name}: {decision.reason.value}\n")
        passwd = secrets.guest_password(hub.clusters, name, spec.guest_passwd if spec else None)
        env = _environment(hub, name, cloud_name, passwd)
        tf = hub.terraform(
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
