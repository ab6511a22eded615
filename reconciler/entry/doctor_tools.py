"""`mchub doctor`'s checks of this machine: the Terraform version, the providers `terraform init`
will need for the cloud's module (found in the filesystem mirrors of the cloud's
terraform_cli_config, else from a registry that must answer), and the egress a Magic Castle
module needs at plan time. Each returns one Line (doctor.py prints them)."""

from __future__ import annotations

import platform
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from reconciler.model.settings import CloudConfig

OPENSTACK = "terraform-provider-openstack/openstack"
# What Magic Castle's `terraform init` needs (shared/reference/openstack-provider.md), per DNS provider.
MAGIC_CASTLE_PROVIDERS = (OPENSTACK, "hashicorp/random", "hashicorp/tls", "hashicorp/http",
                          "hashicorp/external", "hashicorp/archive")  # fmt: skip
DNS_PROVIDERS = {"cloudflare": ("cloudflare/cloudflare",), "gcloud": ("hashicorp/google",)}
REGISTRY = "registry.terraform.io"
# Magic Castle's module comes from GitHub at init; its plans read http://ipv4.icanhazip.com.
EGRESS = (("github.com", 443), ("ipv4.icanhazip.com", 80))
OLDEST_TERRAFORM = (1, 0)
_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class Line:
    """One check's outcome as `doctor` prints it: `<check>: ready (detail)`, `<check>: fix: <what
    to do>`, or `<check>: skipped (why)` (a check that could not run; its cause has a fix line)."""

    check: str
    ready: bool
    text: str = ""
    skipped: bool = False

    def __str__(self) -> str:
        if self.skipped:
            return f"{self.check}: skipped ({self.text})"
        if self.ready:
            return f"{self.check}: ready" + (f" ({self.text})" if self.text else "")
        return f"{self.check}: fix: {self.text}"


def too_old(version: str) -> str | None:
    numbers = tuple(int(n) for n in re.findall(r"\d+", version)[:2])
    if numbers >= OLDEST_TERRAFORM:
        return None
    return f"Terraform {version} is older than 1.0: install Terraform 1.0 or later, or OpenTofu"


def needed_providers(cloud: CloudConfig) -> tuple[str, ...]:
    if not cloud.module.startswith("magic_castle:"):
        return (OPENSTACK,)  # the bundled module (a local module source: what it declares)
    return MAGIC_CASTLE_PROVIDERS + (DNS_PROVIDERS[cloud.dns.provider] if cloud.dns else ())


def mirrors(cli_config: Path | None) -> list[Path]:
    """The `filesystem_mirror` paths of a Terraform CLI configuration file."""
    if cli_config is None:
        return []
    try:
        text = cli_config.read_text()
    except OSError:
        return []
    blocks = re.findall(r"filesystem_mirror\s*\{([^}]*)\}", text)
    return [Path(m.group(1)) for b in blocks if (m := re.search(r'path\s*=\s*"([^"]+)"', b))]


def platform_dir() -> str:
    system = platform.system().lower() or "linux"
    return f"{system}_{_ARCHES.get(platform.machine().lower(), 'amd64')}"


def in_mirror(mirror: Path, provider: str) -> bool:
    """Whether `mirror` holds `provider` for this machine, unpacked (`<version>/<os_arch>/`) or
    packed (`terraform-provider-<type>_<version>_<os_arch>.zip`)."""
    where = mirror / REGISTRY / provider
    here = platform_dir()
    try:
        return any((v / here).is_dir() or v.name.endswith(f"_{here}.zip") for v in where.iterdir())
    except OSError:
        return False


def providers(cloud: CloudConfig, timeout: float) -> Line:
    needed = needed_providers(cloud)
    places = mirrors(cloud.terraform_cli_config)
    missing = [p for p in needed if not any(in_mirror(m, p) for m in places)]
    if not missing:
        return Line("providers", True, f"{', '.join(needed)} in {', '.join(map(str, places))}")
    unreachable = probe(REGISTRY, 443, min(timeout, 5.0))
    if unreachable is None:
        return Line("providers", True, f"{', '.join(missing)} from {REGISTRY}")
    where = f"the filesystem mirror of {cloud.terraform_cli_config}" if places else "no filesystem mirror"
    return Line(
        "providers",
        False,
        (
            f"{', '.join(missing)}: not in {where}, and {REGISTRY} does not answer ({unreachable}): "
            "install them in a filesystem mirror and set "
            f"clouds.{cloud.name}.terraform_cli_config (docs/real-cloud.md)"
        ),
    )


def egress(cloud: CloudConfig, hosts: Sequence[tuple[str, int]], timeout: float) -> Line:
    if not cloud.module.startswith("magic_castle:"):
        return Line("egress", True, "the bundled module needs none", skipped=True)
    closed = [why for host, port in hosts if (why := probe(host, port, timeout)) is not None]
    if closed:
        return Line("egress", False, f"{'; '.join(closed)}: Magic Castle's init and plans need these "
                    "(allow them through the firewall or proxy: https_proxy / http_proxy)")  # fmt: skip
    return Line("egress", True, ", ".join(f"{h}:{p}" for h, p in hosts))


def probe(host: str, port: int, timeout: float) -> str | None:
    """None when a TCP connection to host:port opens within `timeout`, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return f"{host}:{port}: {exc.strerror or exc}"
