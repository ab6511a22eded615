"""The seed: flavors, images, networks and routers (seed_networks.py), volume types and quotas a
fresh sandbox data dir starts with, read from YAML and validated with field paths in the messages."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sandbox.cloud.faults import QUOTA_NAMES
from sandbox.cloud.seed_networks import NetworkSeed, RouterSeed, check_routers, default_routers

DEFAULT_SEED = Path(__file__).resolve().parent.parent / "seed.yaml"

# Limits for quotas the seed leaves out (OpenStack's defaults; -1 = unlimited).
DEFAULT_QUOTAS = {
    "instances": 20, "cores": 64, "ram": 131072, "key_pairs": 100, "volumes": 20, "gigabytes": 2000,
    "snapshots": 10, "floatingip": 4, "port": 500, "network": 100, "subnet": 100, "router": 10,
    "security_group": 10, "security_group_rule": 100,
}
TYPE_QUOTAS = ("volumes", "gigabytes", "snapshots")  # Cinder's per-type quotas: <name>_<type>

Name = Annotated[str, Field(min_length=1, max_length=255)]
Count = Annotated[int, Field(ge=0)]


class SeedError(ValueError):
    """The seed file is unreadable or invalid; the message names the file and the field."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class FlavorSeed(_Model):
    name: Name
    vcpus: Annotated[int, Field(ge=1)]
    ram: Annotated[int, Field(ge=1)]  # MiB
    disk: Count = 0  # GB; 0 = boot from a volume
    ephemeral: Count = 0
    swap: Count = 0
    is_public: bool = True
    extra_specs: dict[str, str] = Field(default_factory=dict)


class ImageSeed(_Model):
    name: Name
    min_disk: Count = 0
    min_ram: Count = 0
    size: Count = 1_073_741_824
    disk_format: str = "qcow2"
    container_format: str = "bare"
    visibility: str = "public"
    status: Literal["queued", "active", "deactivated"] = "active"
    # Upload time (UTC when naive); default: in seed order, a second apart, the last the newest.
    created_at: Annotated[datetime | None, Field(strict=False)] = None


class VolumeTypeSeed(_Model):
    name: Name
    description: str = ""
    is_public: bool = True
    extra_specs: dict[str, str] = Field(default_factory=dict)  # volume_backend_name: a retype migrates


def _default_volume_types() -> list[VolumeTypeSeed]:
    return [VolumeTypeSeed(name="__DEFAULT__", description="Default Volume Type")]


class QuotaSeed(_Model):
    limit: Annotated[int, Field(ge=-1)]  # -1 = unlimited
    in_use: Count = 0  # usage by workloads outside the hub


class Seed(_Model):
    project: Name = "sandbox"
    username: Name = "sandbox-user"
    domain: Name = "Default"
    region: Name = "RegionOne"
    flavors: list[FlavorSeed] = Field(default_factory=list)
    images: list[ImageSeed] = Field(default_factory=list)
    networks: list[NetworkSeed] = Field(default_factory=list)
    routers: list[RouterSeed] | None = None  # left out: seed_networks.default_routers; []: none
    # The first is Cinder's default type (a volume created without one gets it).
    volume_types: Annotated[list[VolumeTypeSeed], Field(min_length=1)] = Field(
        default_factory=_default_volume_types)
    quotas: dict[str, QuotaSeed] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> Seed:
        for kind in ("flavors", "networks", "volume_types"):  # Glance allows two images of one name
            seen: set[str] = set()
            for index, item in enumerate(getattr(self, kind)):
                if item.name in seen:
                    raise ValueError(f"{kind}[{index}].name: duplicate name {item.name!r}")
                seen.add(item.name)
        names = self.type_quota_names()
        for name in self.quotas:
            if name not in QUOTA_NAMES and name not in names:
                raise ValueError(f"quotas.{name}: unknown quota; choose one of {', '.join(QUOTA_NAMES)}, "
                                 f"or <volumes|gigabytes|snapshots>_<volume type>")
        check_routers(self.networks, self.router_list())
        return self

    def router_list(self) -> list[RouterSeed]:
        return default_routers(self.networks) if self.routers is None else list(self.routers)

    def type_quota_names(self) -> list[str]:
        return [f"{name}_{kind.name}" for kind in self.volume_types for name in TYPE_QUOTAS]

    def quota_table(self) -> dict[str, dict[str, int]]:
        """Every known quota as {limit, in_use}, defaults for those the seed leaves out (per volume
        type: unlimited, as Cinder's defaults)."""
        table = {name: {"limit": limit, "in_use": 0} for name, limit in DEFAULT_QUOTAS.items()}
        table |= {name: {"limit": -1, "in_use": 0} for name in self.type_quota_names()}
        for name, quota in self.quotas.items():
            table[name] = {"limit": quota.limit, "in_use": quota.in_use}
        return table


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top)"


def parse_seed(data: Any, source: str = "seed") -> Seed:
    try:
        return Seed.model_validate(data if data is not None else {})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = str(error["msg"]).removeprefix("Value error, ")
            loc = _path(tuple(error["loc"]))
            if error["type"] not in ("value_error", "missing", "extra_forbidden"):
                message += f", got {error['input']!r}"
            problems.append(message if loc == "(top)" and ":" in message else f"{loc}: {message}")
        raise SeedError(f"{source}: " + "; ".join(problems)) from None


def load_seed(path: Path | None = None) -> Seed:
    """Read and validate a seed file (default: sandbox/seed.yaml)."""
    path = path or DEFAULT_SEED
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SeedError(f"{path}: cannot read the seed: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SeedError(f"{path}: not valid YAML: {exc}") from exc
    return parse_seed(data, str(path))
