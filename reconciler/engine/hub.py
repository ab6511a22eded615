"""What a reconcile needs from the outside world, as one value passed in (never a global): the
settings, the Terraform launcher, the clock, the recorder, the policy, the spec reader and the
quota pre-flight and the image resolver. Frozen: a test that wants another clock or policy makes another Hub
(`dataclasses.replace`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.cloud.imagepick import ImagePicker, make_image_picker
from reconciler.cloud.placement import SubnetPicker, make_subnet_picker
from reconciler.cloud.preflight import Verdict, make_preflight
from reconciler.engine.decide import Policy
from reconciler.engine.observe import SpecReader
from reconciler.engine.recorder import Hooks, Recorder
from reconciler.model.settings import Settings
from reconciler.terraform import Launcher

Preflight = Callable[[Any], Verdict]  # spec -> what keeps it from fitting: problems, quota shortfalls
Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class Hub:
    settings: Settings
    terraform: Launcher
    recorder: Recorder
    specs: SpecReader
    clock: Clock = utc_now
    policy: Policy = Policy()
    preflight: Preflight | None = None
    images: ImagePicker | None = None  # resolves a spec's images when it is planned (with a catalog)
    subnet: SubnetPicker | None = None  # the subnet id the cloud's network settings point at

    @property
    def terraform_version(self) -> str:
        return self.terraform.version

    @property
    def clusters(self) -> Path:
        return self.settings.clusters_dir


def policy_of(settings: Settings) -> Policy:
    return Policy(
        prune=settings.prune,
        drift_interval=settings.drift_interval,
        drift_remediate=settings.drift_remediate,
        drift_fight_limit=settings.drift_fight_limit,
    )


def make_hub(
    settings: Settings,
    catalog: Any = None,
    metrics: Any = None,
    *,
    terraform: Launcher | None = None,
    clock: Clock = utc_now,
) -> Hub:
    """The hub for these settings: Terraform found (raises TerraformError when it is not) and its
    version read once; with a catalog, the quota pre-flight runs before every plan; with metrics,
    every status and run is counted."""
    launcher = terraform or Launcher.find(
        settings.terraform, timeout=settings.terraform_timeout, grace=settings.terraform_grace
    )
    hooks = Hooks()
    if metrics is not None:
        metrics.load(settings.clusters_dir)
        hooks = Hooks(metrics.status_recorded, metrics.run_finished, metrics.queue_depth)
        if catalog is not None:
            metrics.watch_catalog(catalog.health)
    return Hub(
        settings=settings,
        terraform=launcher,
        recorder=Recorder(settings.clusters_dir, hooks),
        specs=SpecReader(settings, launcher.version),
        clock=clock,
        policy=policy_of(settings),
        preflight=make_preflight(catalog, settings) if catalog is not None else None,
        images=make_image_picker(catalog) if catalog is not None else None,
        subnet=make_subnet_picker(catalog) if catalog is not None else None,
    )
