"""A cluster's working folder, `clusters/<name>/`, as a run finds and leaves it: made private, its
`main.tf` rendered into it (render stage), Terraform's environment (the cloud's credentials, the
guest password), whether its state holds anything, the init stamp, and the run history tidied. The
executor's and the preview's surroundings; files here are read with `read_regular` like any other."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from reconciler.engine.hub import Hub
from reconciler.engine.render import render_main_tf, state_backend
from reconciler.model import runs, secrets
from reconciler.model.atomic import write_atomic
from reconciler.model.files import FileRefused, read_regular
from reconciler.model.spec import ClusterSpec
from reconciler.model.status import ImagePin
from reconciler.model.tfstate import state_file
from reconciler.terraform import TerraformEnv

log = logging.getLogger("mchub.reconcile")
EMPTY_STATE_LIMIT = 1024 * 1024  # an empty state is a few hundred bytes; anything larger has resources


def make_workdir(hub: Hub, name: str) -> Path:
    path = hub.clusters / name
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)  # Terraform's state and saved plans hold generated secrets
    return path


CLOUD_NOTE = ".mchub-cloud"  # the cloud entry a cluster's Terraform state was made on


def built_on(hub: Hub, name: str) -> str | None:
    """The cloud entry the cluster's resources are on (None: not known, nothing built yet or
    built before the hub kept this note)."""
    return read_note(hub.clusters / name / CLOUD_NOTE) or None


def note_cloud(hub: Hub, name: str, cloud: str) -> None:
    if built_on(hub, name) != cloud:
        write_atomic(hub.clusters / name / CLOUD_NOTE, (cloud + "\n").encode())


def moved_away(hub: Hub, name: str, spec: ClusterSpec, workdir: Path) -> str | None:
    """Why a plan must not run: the spec (its `cloud`, or its project's) now points at another
    cloud entry than the one its resources are on. Terraform would build a new cluster there and
    leave the old one running, out of anyone's hands."""
    was = built_on(hub, name)
    now = hub.settings.cloud_of(spec.cloud, spec.project)
    if was is None or was == now or not has_state(workdir):
        return None
    field = "project" if spec.project is not None else "cloud"
    return (f"{field}: this cluster's resources are on cloud {was}, and the spec now points at cloud {now}: "
            f"a plan there would build a second cluster and leave this one running. Put the {field} back, or "
            f"destroy the cluster first (ensure: absent), then move it.")  # fmt: skip


def terraform_environment(
    hub: Hub, name: str, spec: ClusterSpec | None, cloud_name: str | None = None
) -> TerraformEnv:
    """What Terraform gets for this cluster: its cloud's credentials and the guest password.
    `cloud_name` overrides the spec's (a cluster destroyed where it was built)."""
    chosen = cloud_name or (hub.settings.cloud_of(spec.cloud, spec.project) if spec else None)
    cloud = hub.settings.cloud(chosen)
    extra = cloud.passthrough_env()  # the DNS provider's credentials, from the hub's environment
    passwd = secrets.guest_password(hub.clusters, name, spec.guest_passwd if spec else None)
    if passwd:
        extra["TF_VAR_guest_passwd"] = passwd
    return hub.terraform.environment(
        cli_config=cloud.terraform_cli_config,
        # A shared plugin cache saves downloads from a registry, but Terraform does not make it
        # safe for concurrent use: with a CLI config of its own (the sandbox's filesystem mirror)
        # the providers are local already, and each cluster installs its own copy.
        plugin_cache=None if cloud.terraform_cli_config else hub.clusters / ".plugin-cache",
        clouds_yaml=cloud.clouds_yaml,
        cloud=cloud.name,
        extra=extra,
    )


def render_into(
    hub: Hub,
    workdir: Path,
    spec: ClusterSpec,
    images: Mapping[str, ImagePin] | None = None,
    cloud_name: str | None = None,
    local_state: bool = False,
) -> None:
    """Render stage: the spec's main.tf, written atomically into `workdir`; `images`: the images
    its texts resolved to (engine/imagepins.py), rendered in their place; `cloud_name` overrides
    the spec's (a cluster destroyed where it was built). With `database_url` the state is in
    PostgreSQL, except with `local_state` (a preview's copy)."""
    cloud = hub.settings.cloud(cloud_name or hub.settings.cloud_of(spec.cloud, spec.project))
    subnet_id = hub.subnet(cloud) if hub.subnet is not None else None
    backend = None if local_state else state_backend(hub.settings.database_url, spec.cluster_name)
    main_tf = render_main_tf(spec, cloud, hub.settings.templates_dir, workdir, images, subnet_id, backend)
    write_atomic(workdir / "main.tf", main_tf.encode())


def has_state(workdir: Path) -> bool:
    """Whether Terraform's state may hold resources. One that cannot be read (a link, too big to be
    empty) may: Terraform itself says what is in it."""
    try:
        return b'"resources": []' not in read_regular(state_file(workdir), EMPTY_STATE_LIMIT)
    except FileNotFoundError:
        return False
    except FileRefused:
        return True


def read_note(path: Path) -> str | None:
    """A small note the engine keeps (the init stamp); None when it is missing or is not one."""
    try:
        return read_regular(path, 4096).decode("utf-8", errors="replace").strip()
    except (FileNotFoundError, FileRefused):
        return None


def tidy_runs(hub: Hub, name: str) -> None:
    """After a run: keep the newest records, and unreadable ones aside for a person."""
    try:
        runs.set_aside_broken(hub.clusters, name, hub.clock())
        runs.prune(hub.clusters, name, hub.settings.runs_kept)
    except OSError as exc:  # the run's status matters more than its history's tidiness
        log.warning("%s: could not tidy the run history: %s", name, exc, extra={"cluster": name})
