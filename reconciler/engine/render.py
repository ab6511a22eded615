"""Render stage of the flow: a validated spec + its cloud's settings -> the text of main.tf.
Pure text in, text out; the reconciler decides where it is written."""

from __future__ import annotations

import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jinja2

from reconciler.cloud.secgroups import firewall_rules
from reconciler.engine.hcl import hcl
from reconciler.model.settings import MAGIC_CASTLE_DNS_GIT, MAGIC_CASTLE_GIT, CloudConfig
from reconciler.model.spec import ClusterSpec
from reconciler.model.status import ImagePin
from reconciler.model.tfstate import state_schema

BUNDLED_MODULE = Path("modules") / "openstack-vms"


def module_source(cloud: CloudConfig, templates_dir: Path, workdir: Path) -> str:
    """The `source` of the module call, as Terraform wants it seen from `workdir`."""
    if cloud.module == "bundled":
        return _local(templates_dir / BUNDLED_MODULE, workdir)
    if cloud.module.startswith("magic_castle:"):
        return MAGIC_CASTLE_GIT.format(version=cloud.module.split(":", 1)[1])
    if cloud.module.startswith(("/", "./", "../", "~")):
        return _local(Path(cloud.module).expanduser(), workdir)
    return cloud.module


def dns_source(cloud: CloudConfig) -> str | None:
    """The `source` of Magic Castle's DNS module at the same release, or None (no DNS module)."""
    if cloud.dns is None or not cloud.module.startswith("magic_castle:"):
        return None
    version = cloud.module.split(":", 1)[1]
    return MAGIC_CASTLE_DNS_GIT.format(provider=cloud.dns.provider, version=version)


def _local(path: Path, workdir: Path) -> str:
    # Terraform accepts local module paths only in the ./ or ../ form.
    rel = os.path.relpath(path.resolve(), workdir.resolve())
    return rel if rel.startswith("..") else f"./{rel}"


def _environment(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters["hcl"] = hcl
    return env


def template_inputs(
    spec: ClusterSpec, cloud: CloudConfig, images: Mapping[str, ImagePin] | None = None
) -> dict[str, Any]:
    """The spec's image, instances and volumes as the module wants them (unset optionals left out):
    resolved images in place of their texts, and every volume resizable while attached (Magic
    Castle's `enable_resize`: growing an in-use volume fails without it)."""
    image = image_value(spec.image, cloud, images or {})
    instances = {p: i.model_dump(mode="json", exclude_none=True) for p, i in spec.instances.items()}
    for inst in instances.values():
        inst.setdefault("count", 1)
        if "image" in inst:
            inst["image"] = image_value(inst["image"], cloud, images or {})
    volumes = {
        tag: {name: {**v.model_dump(mode="json", exclude_none=True), "enable_resize": True}
              for name, v in vols.items()}
        for tag, vols in spec.volumes.items()
    }  # fmt: skip
    return {"image": image, "instances": instances, "volumes": volumes}


def image_value(text: str, cloud: CloudConfig, images: Mapping[str, ImagePin]) -> str:
    """What main.tf says for a spec's image text: the bundled module takes the resolved image's id;
    Magic Castle's module only a name regex (`name_regex`, most recent match), so it gets the
    resolved name, anchored and quoted; any other module, and an unresolved text, the text."""
    pin = images.get(text)
    if pin is None:
        return text
    if cloud.module == "bundled":
        return pin.id
    if cloud.module.startswith("magic_castle:"):
        return "^" + _QUOTE_META.sub(r"\\\g<0>", pin.name) + "$"
    return text


_QUOTE_META = re.compile(r"[\\.+*?()|\[\]{}^$]")  # what Go's regexp.QuoteMeta quotes


def state_backend(database_url: str | None, name: str) -> dict[str, str] | None:
    """Terraform's `pg` backend for cluster `name` when the hub keeps state in PostgreSQL: the
    database's URL without any password (Terraform's PostgreSQL driver reads PGPASSWORD from the
    environment, as the hub does) and the cluster's own schema, so each cluster has its own state
    and its own lock. None: Terraform's default, a local terraform.tfstate."""
    if not database_url:
        return None
    parts = urlsplit(database_url)
    netloc = parts.netloc.rpartition("@")
    user = netloc[0].split(":", 1)[0]
    host = f"{user}@{netloc[2]}" if user else netloc[2]
    return {
        "conn_str": urlunsplit(("postgres", host, parts.path, parts.query, "")),
        "schema_name": state_schema(name),
    }


def render_main_tf(
    spec: ClusterSpec,
    cloud: CloudConfig,
    templates_dir: Path,
    workdir: Path,
    images: Mapping[str, ImagePin] | None = None,
    subnet_id: str | None = None,
    backend: Mapping[str, str] | None = None,
) -> str:
    """main.tf for `spec` on `cloud`; `images`: the images its texts resolved to at plan time;
    `subnet_id`: the subnet network discovery found for the cloud's settings (default: its
    `subnet` setting as given); `backend`: the pg backend's settings (`state_backend`)."""
    template = _environment(templates_dir).get_template("main.tf.j2")
    source = module_source(cloud, templates_dir, workdir)
    return template.render(
        spec=spec, cloud=cloud, source=source, dns_source=dns_source(cloud),
        firewall_rules=firewall_rules(cloud), subnet_id=subnet_id or cloud.subnet, backend=backend,
        **template_inputs(spec, cloud, images),
    )  # fmt: skip


def module_digest(cloud: CloudConfig, templates_dir: Path) -> str:
    """What the module behind a cloud is: its files for a local module, else its source string."""
    h = hashlib.sha256(cloud.module.encode())
    # Everything else of the cloud's that reaches main.tf: a change re-plans its clusters.
    rendered = (
        cloud.config_git_url, cloud.config_version, cloud.external_network, cloud.dns, cloud.subnet,
        cloud.network, cloud.ssh_cidrs,
    )  # fmt: skip
    h.update(repr(rendered).encode())
    root = templates_dir / BUNDLED_MODULE if cloud.module == "bundled" else Path(cloud.module).expanduser()
    if cloud.module == "bundled" or cloud.module.startswith(("/", "./", "../", "~")):
        for f in sorted(root.rglob("*.tf")):
            h.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes())
    h.update((templates_dir / "main.tf.j2").read_bytes())
    return h.hexdigest()


class ModuleDigests:
    """`module_digest` per cloud, computed again only when a file under the templates changed
    (walked at most every 2 s): a resync of many idle specs reads no module files."""

    def __init__(self, templates_dir: Path, clock: Callable[[], float] = time.monotonic) -> None:
        self.templates_dir, self.clock = templates_dir, clock
        self._digests: dict[str, tuple[float, str]] = {}
        self._stamp: tuple[float, float] = (-1e9, 0.0)  # (checked at, newest mtime)
        self._lock = threading.Lock()

    def of(self, cloud: CloudConfig) -> str:
        with self._lock:
            checked, newest = self._stamp
            if self.clock() - checked > 2.0:
                files = (p for p in self.templates_dir.rglob("*") if p.is_file())
                newest = max((p.stat().st_mtime for p in files), default=0.0)
                self._stamp = (self.clock(), newest)
            cached = self._digests.get(cloud.name)
            if cached is None or cached[0] != newest:
                cached = (newest, module_digest(cloud, self.templates_dir))
                self._digests[cloud.name] = cached
            return cached[1]
