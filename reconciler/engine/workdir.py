"""A cluster's working folder, `clusters/<name>/`, as a run finds and leaves it: made private, its
`main.tf` rendered into it (render stage), Terraform's environment (the cloud's credentials, the
guest password), whether its state holds anything, the init stamp, and the run history tidied. The
executor's and the preview's surroundings; files here are read with `read_regular` like any other."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from reconciler.engine.hub import Hub
from reconciler.engine.render import render_main_tf
from reconciler.model import runs, secrets
from reconciler.model.atomic import write_atomic
from reconciler.model.files import FileRefused, read_regular
from reconciler.model.spec import ClusterSpec
from reconciler.model.status import ImagePin
from reconciler.terraform import TerraformEnv

log = logging.getLogger("mchub.reconcile")
EMPTY_STATE_LIMIT = 1024 * 1024  # an empty state is a few hundred bytes; anything larger has resources


def make_workdir(hub: Hub, name: str) -> Path:
    path = hub.clusters / name
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)  # Terraform's state and saved plans hold generated secrets
    return path


def terraform_environment(hub: Hub, name: str, spec: ClusterSpec | None) -> TerraformEnv:
    """What Terraform gets for this cluster: its cloud's credentials and the guest password."""
    cloud = hub.settings.cloud(spec.cloud if spec is not None else None)
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
    hub: Hub, workdir: Path, spec: ClusterSpec, images: Mapping[str, ImagePin] | None = None
) -> None:
    """Render stage: the spec's main.tf, written atomically into `workdir`; `images`: the images
    its texts resolved to (engine/imagepins.py), rendered in their place."""
    cloud = hub.settings.cloud(spec.cloud)
    subnet_id = hub.subnet(cloud) if hub.subnet is not None else None
    main_tf = render_main_tf(spec, cloud, hub.settings.templates_dir, workdir, images, subnet_id)
    write_atomic(workdir / "main.tf", main_tf.encode())


def has_state(workdir: Path) -> bool:
    """Whether Terraform's state may hold resources. One that cannot be read (a link, too big to be
    empty) may: Terraform itself says what is in it."""
    try:
        return b'"resources": []' not in read_regular(workdir / "terraform.tfstate", EMPTY_STATE_LIMIT)
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
