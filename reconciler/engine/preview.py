"""Preview: what a proposed spec would do, before anyone writes it. A speculative plan of the spec
against a copy of the cluster's state (no lock; the cluster's own run, if any, is not disturbed),
classified like every plan the hub makes (`safety.py`). The web form and `POST
/api/clusters/{name}/preview` ask for it through the function `mchub serve` hands the web view;
Terraform runs only when a preview is asked for."""

from __future__ import annotations

import io
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO, cast

from reconciler.engine.hub import Hub
from reconciler.engine.imagepins import pins_for
from reconciler.engine.safety import Classified, classify, classify_actions, needs_values
from reconciler.engine.workdir import render_into, terraform_environment
from reconciler.model.files import UnreadableFile
from reconciler.model.settings import SettingsError
from reconciler.model.spec import ClusterSpec
from reconciler.model.status import ImagePin, read_status
from reconciler.model.tfstate import STATE, state_file
from reconciler.model.volumes import shrinks
from reconciler.terraform import TerraformError


@dataclass(frozen=True)
class Preview:
    """What the proposed spec would do: counts by kind, what it would lose, in words."""

    summary: str  # "+2 create, 1 update; nothing lost" / "...; loses data: ..."
    changes: dict[str, int] = field(default_factory=dict)
    losing: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # the spec can only fail: why, field named
    seconds: float = 0.0
    detail: list[dict[str, Any]] = field(default_factory=list)  # per resource: address, kind, why

    def as_json(self) -> dict[str, Any]:
        return {"summary": self.summary, "changes": self.changes, "losing": self.losing,
                "refused": self.refused, "nothing_lost": not self.losing and not self.refused,
                "seconds": round(self.seconds, 3), "detail": self.detail}  # fmt: skip


class PreviewError(Exception):
    """Terraform could not plan the proposed spec (the message says why, redacted)."""


def preview(hub: Hub, spec: ClusterSpec) -> Preview:
    """Plan `spec` speculatively and classify the plan. Raises PreviewError when Terraform fails."""
    started = time.monotonic()
    try:
        status = read_status(hub.clusters, spec.cluster_name)
    except UnreadableFile as exc:  # the loop keeps it aside and shows it; a preview only says so
        raise PreviewError(f"{exc}; the hub sets it aside at its next look") from exc
    refused = shrinks(spec, status.volumes) if status is not None else []
    if refused:
        return Preview("refused: " + "; ".join(refused), refused=refused, seconds=time.monotonic() - started)
    try:
        cloud = hub.settings.cloud_of(spec.cloud, spec.project)
        images = pins_for(spec, status.images if status is not None else {}, hub.images, cloud)
        safety = _speculative_plan(hub, spec, images)
    except (TerraformError, SettingsError, OSError, ValueError) as exc:
        raise PreviewError(str(exc)) from exc
    described = safety.describe() if safety.changes else "no changes"
    return Preview(
        summary=described,
        changes=safety.counts(),
        losing=[c.describe() for c in safety.losing],
        seconds=time.monotonic() - started,
        detail=[
            {"address": c.address, "type": c.type, "kind": c.kind, "losing": c.losing, "why": c.why}
            for c in safety.changes
            if c.address
        ],  # fmt: skip
    )


def _speculative_plan(hub: Hub, spec: ClusterSpec, images: dict[str, ImagePin]) -> Classified:
    name = spec.cluster_name
    with _scratch(hub.clusters, name) as (scratch, initialized):
        render_into(hub, scratch, spec, images, local_state=True)  # the images its real plan would render
        env = terraform_environment(hub, name, spec)
        log = cast(TextIO, io.StringIO())  # a preview leaves no run log; errors come back raised
        with hub.terraform.session(f"{name}#preview-{scratch.name}", scratch, env, log) as tf:
            if not initialized:
                with hub.terraform.init_lock:
                    tf.init()
            planfile = scratch / "preview.tfplan"
            summary = tf.plan_actions(planfile, speculative=True)
            if not summary.has_changes:
                return Classified()
            if not needs_values(summary.addresses):  # one process: the plan's events say it all
                return classify_actions(summary.addresses)
            return classify(tf.show_plan(planfile))


@contextmanager
def _scratch(clusters: Path, name: str) -> Iterator[tuple[Path, bool]]:
    """A throw-away working directory beside the cluster's own (same depth, so a local module's
    relative source reads the same), holding a copy of its state and, when the cluster was
    initialized, its providers and modules by link: no `init` needed. Yields (dir, initialized).
    The copy's state is local even when the cluster's is in PostgreSQL (model/tfstate.py): a
    preview never writes state, and its plan takes no lock."""
    scratch = clusters / f".preview-{name}-{secrets.token_hex(4)}"
    scratch.mkdir(parents=True, mode=0o700)
    try:
        workdir = clusters / name
        if state_file(workdir).is_file():
            shutil.copy2(state_file(workdir), scratch / STATE)
        if (workdir / ".terraform.lock.hcl").is_file():
            shutil.copy2(workdir / ".terraform.lock.hcl", scratch / ".terraform.lock.hcl")
        initialized = (workdir / ".terraform").is_dir() and (workdir / ".terraform.lock.hcl").is_file()
        if initialized:  # its providers and modules, not its backend's settings
            (scratch / ".terraform").mkdir()
            for part in ("providers", "modules", "plugins"):
                if (workdir / ".terraform" / part).exists():
                    target = Path("..") / ".." / name / ".terraform" / part
                    os.symlink(target, scratch / ".terraform" / part, target_is_directory=True)
        yield scratch, initialized
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
