"""The catalog's figures as plain data: what a cloud offers (flavors, images, networks with their
subnets and routers, volume types) and its quotas, at one moment. fetch.py fills them from
openstacksdk, sizing.py and checks.py measure specs against them, the web view shows them; nothing
here reads the network, the disk or the clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

QUOTA_KEYS = ("instances", "cores", "ram", "volumes", "gigabytes", "floating_ips")
# How people call each quota (the pages, the form's live usage table).
QUOTA_LABELS = {
    "instances": "Instances",
    "cores": "vCPUs",
    "ram": "RAM",
    "volumes": "Volumes",
    "gigabytes": "Volume storage",
    "floating_ips": "Floating IPs",
    "security_groups": "Security groups",
    "security_group_rules": "Security group rules",
}
QUOTA_UNITS = {"ram": "MiB", "gigabytes": "GB"}  # the others are counts
# Neutron quotas the pre-flight also checks (a cluster's security groups and their rules).
NETWORK_QUOTA_KEYS = ("security_groups", "security_group_rules")
# The catalog's parts: each is read on its own, so one that fails (a 403 on Neutron's quota details
# is common) leaves the others. Which quotas each quota part holds:
PARTS = ("flavors", "images", "networks", "volume_types", "compute_quotas", "volume_quotas",
         "network_quotas")  # fmt: skip
QUOTA_PARTS = {
    "instances": "compute_quotas",
    "cores": "compute_quotas",
    "ram": "compute_quotas",
    "volumes": "volume_quotas",
    "gigabytes": "volume_quotas",
    "floating_ips": "network_quotas",
    "security_groups": "network_quotas",
    "security_group_rules": "network_quotas",
}


@dataclass(frozen=True)
class Flavor:
    name: str
    vcpus: int
    ram: int  # MiB
    disk: int  # root disk, GB (0 = boots from a volume)
    id: str = ""


@dataclass(frozen=True)
class Quota:
    """One quota with its usage. `limit` None means unlimited (OpenStack's -1)."""

    limit: int | None
    in_use: int = 0

    @staticmethod
    def of(limit: int | None, in_use: int | None) -> Quota:
        return Quota(None if limit is None or limit < 0 else int(limit), max(int(in_use or 0), 0))


@dataclass(frozen=True, order=True)
class Image:
    """One Glance image. Only `active` ones can boot; names are not unique (operators upload a
    newer image under the same name), hence the id and the upload time."""

    name: str
    min_disk: int = 0
    id: str = ""
    status: str = "active"  # Glance: queued, saving, active, killed, deleted, deactivated, ...
    created_at: str = ""  # ISO 8601 as Glance gives it; sorts in time order

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True)
class Subnet:
    id: str
    name: str
    cidr: str = ""
    ip_version: int = 4
    dhcp: bool = True


@dataclass(frozen=True)
class Network:
    name: str
    external: bool = False
    id: str = ""
    shared: bool = False
    subnets: tuple[Subnet, ...] = ()


@dataclass(frozen=True)
class Router:
    """A router: its gateway's external network (id; None = no gateway) and the subnets it has an
    interface on. A floating IP of that external network reaches only ports on those subnets."""

    name: str
    id: str = ""
    gateway: str | None = None
    subnets: tuple[str, ...] = ()


@dataclass(frozen=True)
class VolumeType:
    name: str
    description: str = ""
    default: bool = False


@dataclass(frozen=True)
class Snapshot:
    """A cloud's figures at one moment. `error` set = the last refresh failed: the figures (if
    any, `fetched_at` not None) are stale."""

    cloud: str
    fetched_at: float | None  # epoch seconds; None = never fetched
    flavors: tuple[Flavor, ...] = ()
    images: tuple[Image, ...] = ()
    networks: tuple[Network, ...] = ()
    quotas: Mapping[str, Quota] = field(default_factory=dict)
    error: str | None = None
    volume_types: tuple[VolumeType, ...] = ()
    routers: tuple[Router, ...] = ()
    # part (PARTS) -> why it could not be read this time; its figures are absent, not zero
    unknown: Mapping[str, str] = field(default_factory=dict)

    @property
    def has_figures(self) -> bool:
        return self.fetched_at is not None

    @property
    def stale(self) -> bool:
        return self.error is not None

    def age(self, now: float) -> float | None:
        return None if self.fetched_at is None else max(now - self.fetched_at, 0.0)
