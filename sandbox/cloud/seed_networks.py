"""The seed's networks: internal, shared and external networks with their subnets, and the routers
between them, as a real project has them. Validated here; built into records by neutron_seed.py.

A network gives `cidr` (one subnet, the old short form), `subnets` (any number, IPv4 or IPv6, with
or without DHCP; `[]` = none) or neither (one IPv4 subnet with DHCP on a default range: 10.0.N.0/24
inside, 127.77.0.0/16, 127.78.0.0/16... outside, loopback so that a listener on this machine can
answer at a floating IP). `shared: true` networks belong to another project, as on a real cloud.
`routers` left out gives one router from the first external network to every project network's
first IPv4 subnet (so floating IPs work); `routers: []` gives none, as in a fresh project."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Name = Annotated[str, Field(min_length=1, max_length=255)]
PRIVATE_CIDRS = "10.0.{}.0/24"
PUBLIC_CIDRS = "127.{}.0.0/16"  # 127.77.0.0/16, 127.78.0.0/16, ...: loopback, reachable here
FIRST_PUBLIC = 77
PRIVATE_V6 = "fd00:{:x}::/64"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class SubnetSeed(_Model):
    name: Name | None = None  # default: <network>-subnet, <network>-subnet-2, ...
    cidr: str | None = None  # default: the network's default range for its ip_version
    ip_version: Literal[4, 6] | None = None  # default: the cidr's, else 4
    enable_dhcp: bool = True
    gateway_ip: str | None = None  # default: the first address
    no_gateway: bool = False

    @field_validator("cidr")
    @classmethod
    def _check_cidr(cls, cidr: str | None) -> str | None:
        if cidr is not None:
            ipaddress.ip_network(cidr, strict=False)  # its ValueError names the problem
        return cidr

    @model_validator(mode="after")
    def _check_version(self) -> SubnetSeed:
        network = ipaddress.ip_network(self.cidr, strict=False) if self.cidr else None
        if network and self.ip_version and network.version != self.ip_version:
            raise ValueError(f"cidr {self.cidr} is not an IPv{self.ip_version} network")
        return self

    @property
    def version(self) -> int:
        if self.cidr:
            return ipaddress.ip_network(self.cidr, strict=False).version
        return self.ip_version or 4


class NetworkSeed(_Model):
    name: Name
    external: bool = False
    shared: bool = False  # owned by another project and usable by this one
    cidr: str | None = None  # the short form: one IPv4 subnet over this range
    subnets: list[SubnetSeed] | None = None

    @field_validator("cidr")
    @classmethod
    def _check_cidr(cls, cidr: str | None) -> str | None:
        if cidr is not None:
            ipaddress.IPv4Network(cidr)  # its ValueError names the problem
        return cidr

    @model_validator(mode="after")
    def _one_form(self) -> NetworkSeed:
        if self.cidr is not None and self.subnets is not None:
            raise ValueError("give either cidr (one subnet) or subnets, not both")
        return self

    def subnet_list(self) -> list[SubnetSeed]:
        if self.subnets is not None:
            return list(self.subnets)
        return [SubnetSeed(cidr=self.cidr)]


class RouterSeed(_Model):
    name: Name
    external_network: Name | None = None  # the external network of its gateway; none: no gateway
    interfaces: list[Name] = Field(default_factory=list)  # subnet names, or network names (first IPv4)


def network_cidrs(networks: list[NetworkSeed]) -> list[list[tuple[SubnetSeed, str]]]:
    """Each network's subnets with their CIDRs, default ranges filled in order."""
    private, public, v6 = iter(range(256)), iter(range(FIRST_PUBLIC, 127)), iter(range(1, 65536))
    result = []
    for net in networks:
        entries = []
        for subnet in net.subnet_list():
            if subnet.cidr:
                cidr = subnet.cidr
            elif subnet.version == 6:
                cidr = PRIVATE_V6.format(next(v6))
            elif net.external:
                cidr = PUBLIC_CIDRS.format(next(public))
            else:
                cidr = PRIVATE_CIDRS.format(next(private))
            entries.append((subnet, cidr))
        result.append(entries)
    return result


def subnet_names(networks: list[NetworkSeed]) -> list[list[str]]:
    """Each network's subnet names, defaults filled in."""
    names = []
    for net in networks:
        subnets = net.subnet_list()
        names.append([s.name or (f"{net.name}-subnet" if i == 0 else f"{net.name}-subnet-{i + 1}")
                      for i, s in enumerate(subnets)])
    return names


def default_routers(networks: list[NetworkSeed]) -> list[RouterSeed]:
    """One router: the first external network to every project network with an IPv4 subnet."""
    external = next((n.name for n in networks if n.external), None)
    inside = [n.name for n in networks if not n.external and not n.shared
              and any(s.version == 4 for s in n.subnet_list())]
    if external is None or not inside:
        return []
    return [RouterSeed(name="router1", external_network=external, interfaces=inside)]


def check_routers(networks: list[NetworkSeed], routers: list[RouterSeed]) -> None:
    """Each router's gateway names an external network, each interface a subnet or an inside network."""
    by_name = {n.name: n for n in networks}
    subnets = {name: net for net, names in zip(networks, subnet_names(networks), strict=True)
               for name in names}
    for index, router in enumerate(routers):
        where = f"routers[{index}]"
        if router.external_network is not None:
            net = by_name.get(router.external_network)
            if net is None or not net.external:
                choices = ", ".join(n.name for n in networks if n.external) or "(none)"
                raise ValueError(f"{where}.external_network: {router.external_network!r} is not an external "
                                 f"network of the seed; choose one of {choices}")
        for pos, name in enumerate(router.interfaces):
            owner = by_name.get(name) or subnets.get(name)
            if owner is None or owner.external:
                raise ValueError(f"{where}.interfaces[{pos}]: {name!r} is neither an internal network nor a "
                                 f"subnet of the seed")
