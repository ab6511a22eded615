"""Record stage of the flow: what the hub knows about one cluster, as data. A frozen `Status` with
named transitions; `clusters/<name>/status.json` is written here and only here, atomically. It is
read as a regular file within STATUS_LIMIT; one that cannot be read is an `UnreadableFile`, which
the engine keeps aside (`set_aside_status`) and records as the cluster's `unreadable` status."""

from __future__ import annotations

import datetime as dt
import json
import os
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconciler.model.atomic import write_atomic
from reconciler.model.files import UnreadableFile, label, read_regular, set_aside
from reconciler.model.provisioning import Provisioning
from reconciler.model.spec import CLUSTER_NAME_RE

MESSAGE_LIMIT = 2000
STATUS_LIMIT = 16 * 1024 * 1024  # thousands of resources' progress fit many times over


class Phase(StrEnum):
    PENDING = "pending"
    INVALID = "invalid"
    PLAN_RUNNING = "plan_running"
    PLAN_ERROR = "plan_error"
    AWAITING_APPROVAL = "awaiting_approval"
    BUILD_RUNNING = "build_running"
    BUILD_ERROR = "build_error"
    BUILD_SUCCESS = "build_success"
    DESTROY_RUNNING = "destroy_running"
    DESTROY_ERROR = "destroy_error"
    DESTROYED = "destroyed"


RUNNING_PHASES = frozenset({Phase.PLAN_RUNNING, Phase.BUILD_RUNNING, Phase.DESTROY_RUNNING})
ERROR_PHASES = frozenset({Phase.PLAN_ERROR, Phase.BUILD_ERROR, Phase.DESTROY_ERROR})


class Reason(StrEnum):
    NEW_SPEC = "new_spec"
    SPEC_CHANGED = "spec_changed"
    SPEC_INVALID = "spec_invalid"
    PREFLIGHT_FAILED = "preflight_failed"
    QUOTA_WAIT = "quota_wait"  # the spec does not fit the free quota: it waits, and builds once it does
    UP_TO_DATE = "up_to_date"
    APPLIED = "applied"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    STALE_APPROVAL = "stale_approval"
    CONFIG_ERROR = "config_error"
    QUOTA_EXCEEDED = "quota_exceeded"
    AUTH_FAILED = "auth_failed"
    STATE_LOCKED = "state_locked"
    CLOUD_ERROR = "cloud_error"
    TIMEOUT = "timeout"
    INTERRUPTED = "interrupted"
    CONFLICT = "conflict"  # "already exists": a person imports the resource or removes it
    RETRY_DUE = "retry_due"
    BACKING_OFF = "backing_off"
    DRIFT_CHECK_DUE = "drift_check_due"
    DRIFT_DETECTED = "drift_detected"
    DRIFT_REMEDIATED = "drift_remediated"
    DRIFT_PERSISTS = "drift_persists"
    DATA_LOSS = "data_loss"  # a plan that would lose data waits for a person, whatever asked for it
    ABSENT_REQUESTED = "absent_requested"
    SPEC_REMOVED = "spec_removed"
    PRUNE_HELD = "prune_held"
    EXPIRED = "expired"
    DESTROYED = "destroyed"
    NOTHING_DEPLOYED = "nothing_deployed"
    STATUS_UNREADABLE = "status_unreadable"  # status.json could not be read: kept aside for a person


class ResourceProgress(BaseModel):
    model_config = ConfigDict(frozen=True)
    action: str = "create"
    state: Literal["queued", "running", "done", "failed"] = "queued"


class PlanInfo(BaseModel):
    """A saved plan: what it would do, and which spec it was made from."""

    model_config = ConfigDict(frozen=True)
    id: str
    spec_hash: str
    add: int = 0
    change: int = 0
    destroy: int = 0
    replace: list[str] = Field(default_factory=list)
    destroyed: list[str] = Field(default_factory=list)
    destroy_plan: bool = False
    created_at: dt.datetime
    changes: dict[str, int] = Field(default_factory=dict)  # by kind: create, update, rebuild, ...
    losing: list[str] = Field(default_factory=list)  # what would lose data, in words

    def summary(self) -> str:
        text = f"+{self.add} ~{self.change} -{self.destroy}"
        if self.replace:
            text += f"; replaces {', '.join(self.replace)}"
        if self.destroyed:
            text += f"; destroys {', '.join(self.destroyed)}"
        if self.losing and not self.destroy_plan:
            text += f"; loses data: {'; '.join(self.losing)}"
        return text


class ImagePin(BaseModel):
    """The image a spec's `image` text resolved to when the cluster was planned: kept while the
    text is unchanged, so a newer upload under the same name changes nothing for this cluster."""

    model_config = ConfigDict(frozen=True)
    id: str
    name: str


class Drift(BaseModel):
    model_config = ConfigDict(frozen=True)
    detected: bool = False
    addresses: list[str] = Field(default_factory=list)
    checked_at: dt.datetime | None = None
    remediations: int = 0  # consecutive remediations that the next check undid


class QuotaWait(BaseModel):
    """A spec waiting for quota: per quota that falls short (the catalog's keys: `cores`, `ram`,
    ..., `volumes_<type>`), what the spec needs in all and what is free to it (a built cluster's
    own usage counted as free), as of `checked_at`."""

    model_config = ConfigDict(frozen=True)
    needs: dict[str, int] = Field(default_factory=dict)
    free: dict[str, int] = Field(default_factory=dict)
    checked_at: dt.datetime


def _trim(message: str) -> str:
    message = message.strip()
    return message if len(message) <= MESSAGE_LIMIT else message[: MESSAGE_LIMIT - 1] + "…"


class Status(BaseModel):
    """Everything recorded about one cluster. Change it only through the transitions below."""

    model_config = ConfigDict(frozen=True)
    name: str
    phase: Phase = Phase.PENDING
    reason: Reason = Reason.NEW_SPEC
    message: str = ""
    observed_hash: str | None = None
    applied_hash: str | None = None
    failures: int = 0
    next_attempt_at: dt.datetime | None = None
    drift: Drift = Drift()
    orphaned: bool = False
    progress: dict[str, ResourceProgress] = Field(default_factory=dict)
    run_id: str | None = None
    plan: PlanInfo | None = None
    outputs: dict[str, Any] = Field(default_factory=dict)
    resources: list[str] = Field(default_factory=list)
    volumes: dict[str, int] = Field(default_factory=dict)  # GB by `tag.name`, as last built
    images: dict[str, ImagePin] = Field(default_factory=dict)  # spec image text -> resolved at plan
    provisioning: Provisioning | None = None  # readiness after the last build (model/provisioning.py)
    quota_wait: QuotaWait | None = None  # set while the spec waits for quota (reason `quota_wait`)
    updated_at: dt.datetime | None = None

    def _to(self, now: dt.datetime, **changes: Any) -> Status:
        if "message" in changes:
            changes["message"] = _trim(changes["message"])
        return self.model_copy(update={**changes, "updated_at": now})

    @property
    def deployed(self) -> bool:
        """Whether anything of the cluster may exist in the cloud."""
        return bool(self.resources) or self.applied_hash is not None

    # -- transitions ---------------------------------------------------------------------------
    def waiting_for_quota(
        self, now: dt.datetime, spec_hash: str, wait: QuotaWait, message: str, next_attempt_at: dt.datetime
    ) -> Status:
        """The spec does not fit the free quota: nothing is planned, and the pre-flight looks again
        at `next_attempt_at`. A cluster never built is `pending`; a built one keeps running as
        built, so its phase stays (see `resting_phase`)."""
        return self._to(
            now,
            phase=self.resting_phase(),
            reason=Reason.QUOTA_WAIT,
            message=message,
            observed_hash=spec_hash,
            quota_wait=wait,
            next_attempt_at=next_attempt_at,
            failures=0,
            run_id=None,
            plan=None,
        )

    def resting_phase(self) -> Phase:
        """The phase of a cluster that waits without a run: pending when nothing of it was built,
        else the phase it has, unless that phase spoke of a spec that is no longer the one (an
        invalid spec, a plan awaiting approval): then what its last build left."""
        if not self.deployed:
            return Phase.PENDING
        if self.phase in (Phase.INVALID, Phase.AWAITING_APPROVAL):
            return Phase.BUILD_SUCCESS if self.applied_hash is not None else Phase.BUILD_ERROR
        return self.phase

    def invalid(
        self, now: dt.datetime, spec_hash: str, message: str, reason: Reason = Reason.SPEC_INVALID
    ) -> Status:
        return self._to(
            now,
            phase=Phase.INVALID,
            reason=reason,
            message=message,
            observed_hash=spec_hash,
            next_attempt_at=None,
            quota_wait=None,
            failures=0,
            run_id=None,
            plan=None,
        )

    def started(
        self, now: dt.datetime, phase: Phase, reason: Reason, run_id: str, spec_hash: str | None
    ) -> Status:
        return self._to(
            now,
            phase=phase,
            reason=reason,
            message="",
            run_id=run_id,
            progress={},
            observed_hash=spec_hash or self.observed_hash,
            orphaned=self.orphaned,
            quota_wait=None,
        )

    def progressed(self, now: dt.datetime, progress: dict[str, ResourceProgress]) -> Status:
        return self._to(now, progress=progress)

    def planned(self, now: dt.datetime, plan: PlanInfo) -> Status:
        return self._to(
            now,
            phase=Phase.AWAITING_APPROVAL,
            reason=Reason.AWAITING_APPROVAL,
            plan=plan,
            message=f"plan {plan.id} waits for approval: {plan.summary()}",
        )

    def held(self, now: dt.datetime, plan: PlanInfo) -> Status:
        """A plan that would lose data waits for a person, even with `apply: auto`."""
        return self._to(
            now,
            phase=Phase.AWAITING_APPROVAL,
            reason=Reason.DATA_LOSS,
            plan=plan,
            message=f"plan {plan.id} would lose data, so it waits for approval: {'; '.join(plan.losing)}",
        )

    def applied(
        self,
        now: dt.datetime,
        spec_hash: str,
        outputs: dict[str, Any],
        resources: list[str],
        reason: Reason = Reason.APPLIED,
        message: str = "",
        volumes: dict[str, int] | None = None,
    ) -> Status:
        """Terraform made the cloud match the spec. A drift that this run remediated stays on record
        (the next check tells whether it came back); any other run clears the drift."""
        if reason == Reason.DRIFT_REMEDIATED:
            drift = self.drift.model_copy(update={"checked_at": now})
        else:
            drift = self.drift.model_copy(update={"checked_at": now, "detected": False, "remediations": 0})
        return self._to(
            now,
            phase=Phase.BUILD_SUCCESS,
            reason=reason,
            message=message,
            applied_hash=spec_hash,
            observed_hash=spec_hash,
            failures=0,
            next_attempt_at=None,
            plan=None,
            outputs=outputs,
            resources=resources,
            drift=drift,
            volumes=self.volumes if volumes is None else volumes,
            quota_wait=None,
        )

    def applying(self, now: dt.datetime, destroy: bool, reason: Reason, message: str) -> Status:
        """A saved plan is being applied (a build, or a destroy)."""
        phase = Phase.DESTROY_RUNNING if destroy else Phase.BUILD_RUNNING
        return self._to(now, phase=phase, reason=reason, message=message)

    def failed(
        self, now: dt.datetime, reason: Reason, message: str, next_attempt_at: dt.datetime | None
    ) -> Status:
        """The run failed; its error phase follows from how far it got (see `error_phase`)."""
        return self._to(
            now,
            phase=self.error_phase(),
            reason=reason,
            message=message,
            failures=self.failures + 1,
            next_attempt_at=next_attempt_at,
        )

    def interrupted(self, now: dt.datetime, message: str) -> Status:
        """A run the hub stopped (a shutdown, a crash) and resumes by itself: no failure, so no
        error phase. The cluster is pending, to be planned again from Terraform's state at once."""
        return self._to(
            now,
            phase=Phase.PENDING,
            reason=Reason.INTERRUPTED,
            message=message,
            next_attempt_at=now,
            quota_wait=None,
        )

    def unreadable(self, now: dt.datetime, message: str, spec_hash: str | None) -> Status:
        """The hub's record of this cluster could not be read, so what it knew is lost (Terraform's
        state still knows the resources). An error that waits for a person: a retry or a spec change
        plans again from the state."""
        return self._to(
            now,
            phase=Phase.PLAN_ERROR,
            reason=Reason.STATUS_UNREADABLE,
            message=message,
            observed_hash=spec_hash,
            failures=1,
            next_attempt_at=None,
        )

    def error_phase(self) -> Phase:
        """Where a failure now leaves the cluster: a failed destroy or apply says so; a failure while
        planning (or checking a built cluster for drift) is a plan error; an error phase stays."""
        if self.phase in ERROR_PHASES:
            return self.phase
        return {Phase.DESTROY_RUNNING: Phase.DESTROY_ERROR, Phase.BUILD_RUNNING: Phase.BUILD_ERROR}.get(
            self.phase, Phase.PLAN_ERROR
        )

    def destroyed(self, now: dt.datetime, reason: Reason, spec_hash: str | None) -> Status:
        return self._to(
            now,
            phase=Phase.DESTROYED,
            reason=reason,
            message="",
            failures=0,
            next_attempt_at=None,
            plan=None,
            outputs={},
            resources=[],
            volumes={},
            images={},
            applied_hash=None,
            drift=Drift(),
            observed_hash=spec_hash or self.observed_hash,
            provisioning=None,
            quota_wait=None,
        )

    def drift_checked(self, now: dt.datetime, addresses: list[str], remediating: bool) -> Status:
        if not addresses:
            return self._to(now, drift=Drift(checked_at=now), reason=Reason.UP_TO_DATE, message="")
        drift = Drift(
            detected=True,
            addresses=addresses,
            checked_at=now,
            remediations=self.drift.remediations + (1 if remediating else 0),
        )
        reason = Reason.DRIFT_DETECTED if remediating else Reason.DRIFT_PERSISTS
        what = "remediating" if remediating else "reported, not remediated"
        return self._to(now, drift=drift, reason=reason, message=f"drift in {', '.join(addresses)}: {what}")

    def drift_settled(self, now: dt.datetime) -> Status:
        """A drift check that changes nothing (no drift, or drift reported only): still built."""
        return self._to(now, phase=Phase.BUILD_SUCCESS)

    def provisioned(self, now: dt.datetime, provisioning: Provisioning | None) -> Status:
        """Readiness after the build, started or looked at again (`engine/readiness.py`); the phase
        stays `build_success`: being ready is not a phase. None: nothing to check."""
        return self._to(now, provisioning=provisioning)

    def images_pinned(self, now: dt.datetime, images: dict[str, ImagePin]) -> Status:
        """The spec's images as resolved for the plan about to run (`engine/imagepins.py`)."""
        return self._to(now, images=images)

    def approval_stale(self, now: dt.datetime, message: str) -> Status:
        return self._to(now, reason=Reason.STALE_APPROVAL, message=message)

    def noted(self, now: dt.datetime, note: str) -> Status:
        """A remark added to the current message (e.g. a state lock found at start-up)."""
        return self._to(now, message=f"{self.message}; {note}".strip("; "))

    def marked_orphaned(self, now: dt.datetime, orphaned: bool, reason: Reason, message: str = "") -> Status:
        return self._to(now, orphaned=orphaned, reason=reason, message=message)


# -- files ------------------------------------------------------------------------------------


def status_path(clusters_dir: Path, name: str) -> Path:
    return clusters_dir / name / "status.json"


def load_status(path: Path) -> Status:
    """The status in `path` (`clusters/<name>/status.json`). FileNotFoundError when there is none;
    UnreadableFile when it is not a regular file within STATUS_LIMIT, or not a status."""
    shown = label(path, 3)
    data = read_regular(path, STATUS_LIMIT, shown)
    try:
        return Status.model_validate_json(data)
    except ValidationError as exc:  # not JSON, not UTF-8, or another format (a newer hub's, a hand edit)
        problem = f"is not a status this hub can read ({first_problem(exc)})"
        raise UnreadableFile(path, problem, shown) from None


def first_problem(exc: ValidationError) -> str:
    """The first thing pydantic found wrong with a record, in one short line."""
    errors = exc.errors()
    if not errors:
        return "unknown format"
    where = ".".join(str(p) for p in errors[0].get("loc", ()))
    return _trim(f"{where}: {errors[0]['msg']}" if where else str(errors[0]["msg"]))[:200]


def read_status(clusters_dir: Path, name: str) -> Status | None:
    """The cluster's status, or None when it has none yet. Raises UnreadableFile (`load_status`)."""
    try:
        return load_status(status_path(clusters_dir, name))
    except FileNotFoundError:
        return None


def set_aside_status(clusters_dir: Path, name: str, now: dt.datetime) -> Path:
    """Keep an unreadable status.json aside for a person (`status.json.broken-<time>`)."""
    return set_aside(status_path(clusters_dir, name), now)


def write_status(clusters_dir: Path, status: Status) -> None:
    blob = json.dumps(status.model_dump(mode="json"), indent=1, sort_keys=True).encode()
    write_atomic(status_path(clusters_dir, status.name), blob)


def known_clusters(clusters_dir: Path) -> list[str]:
    """Clusters with a status file: folders (not links) named like a cluster, holding a
    `status.json` of any kind (an unreadable one is a cluster to show the error of)."""
    try:
        entries = list(os.scandir(clusters_dir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(
        e.name
        for e in entries
        if CLUSTER_NAME_RE.fullmatch(e.name)
        and e.is_dir(follow_symlinks=False)
        and os.path.lexists(os.path.join(e.path, "status.json"))
    )
