"""Network discovery: which internal network, which of its subnets and which external network a
cluster goes on, chosen as Magic Castle needs them (one internal network with exactly one IPv4
subnet with DHCP; floating IPs from one external network, reached through a router). The cloud's
settings (`network`, `subnet`, `external_network`) settle what the project leaves ambiguous; every
error names what was found and the setting to use. Pure: figures and settings in, answer out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reconciler.cloud.figures import Network, Router, Subnet
from reconciler.model.settings import CloudConfig


@dataclass(frozen=True)
class Placement:
    """Where a cluster goes. A part that could not be chosen is None, and `problems` say why."""

    network: Network | None = None
    subnet: Subnet | None = None
    external: Network | None = None
    problems: tuple[str, ...] = ()  # about the internal network and its subnet
    external_problem: str | None = None  # about the external network (matters for public hosts)


def discover(cloud: CloudConfig, networks: Sequence[Network]) -> Placement:
    """The internal network, its IPv4 DHCP subnet and the external network for `cloud`."""
    network, problem = _internal(cloud, networks)
    subnet = None
    if network is not None:
        subnet, problem = _subnet(cloud, network)
    external, external_problem = _external(cloud, networks)
    return Placement(network, subnet, external, (problem,) if problem else (), external_problem)


def reachable(subnet: Subnet, external: Network, routers: Iterable[Router]) -> bool:
    """Whether a floating IP on `external` can be associated with a port on `subnet`: some router
    has its gateway on `external` and an interface on `subnet`."""
    return any(r.gateway == external.id and subnet.id in r.subnets for r in routers)


def router_fix(subnet: Subnet, external: Network) -> str:
    return (f"create a router with a gateway on {external.name} and an interface on subnet "
            f"{subnet.name or subnet.id}")  # fmt: skip


def usable_subnets(network: Network) -> list[Subnet]:
    """The subnets Magic Castle can put a cluster on: IPv4 with DHCP."""
    return [s for s in network.subnets if s.ip_version == 4 and s.dhcp]


def _internal(cloud: CloudConfig, networks: Sequence[Network]) -> tuple[Network | None, str | None]:
    internal = [n for n in networks if not n.external]
    key = f"clouds.{cloud.name}"
    if cloud.network is not None:
        found = [n for n in internal if cloud.network in (n.name, n.id)]
        if len(found) == 1:
            return found[0], None
        what = "no" if not found else f"{len(found)}"
        return None, (f"{key}.network: cloud {cloud.name} has {what} internal network named "
                      f'"{cloud.network}"; internal networks: {_names(internal)}')  # fmt: skip
    if cloud.subnet is not None:
        found = [n for n in internal if any(cloud.subnet in (s.name, s.id) for s in n.subnets)]
        if len(found) == 1:
            return found[0], None
        if not found:
            subnets = [s for n in internal for s in usable_subnets(n)]
            return None, (f'{key}.subnet: cloud {cloud.name} has no subnet "{cloud.subnet}" on an internal '
                          f"network; IPv4 subnets with DHCP: {_names(subnets)}")  # fmt: skip
        return None, (f'{key}.subnet: subnets named "{cloud.subnet}" are on {len(found)} networks '
                      f"({_names(found)}): set {key}.network too, or give the subnet's id")  # fmt: skip
    # The project's own networks first: a shared network (another project's) only when it has none.
    own = [n for n in internal if not n.shared and usable_subnets(n)] or [
        n for n in internal if usable_subnets(n)
    ]
    if len(own) == 1:
        return own[0], None
    if len(own) > 1:
        return None, (f"cloud {cloud.name} has {len(own)} internal networks ({_names(own)}): "
                      f"set {key}.network to one of them in the settings file")  # fmt: skip
    if internal:
        return None, (f"cloud {cloud.name} has no internal network with an IPv4 subnet with DHCP "
                      f"(networks: {_names(internal)}): add such a subnet, or create a network with one, "
                      f"then set {key}.network if there are several")  # fmt: skip
    return None, (f"cloud {cloud.name} has no internal network: create one with an IPv4 subnet with DHCP "
                  "and a router to the external network")  # fmt: skip


def _subnet(cloud: CloudConfig, network: Network) -> tuple[Subnet | None, str | None]:
    usable = usable_subnets(network)
    key = f"clouds.{cloud.name}.subnet"
    if cloud.subnet is not None:
        found = [s for s in network.subnets if cloud.subnet in (s.name, s.id)]
        if len(found) == 1 and found[0] in usable:
            return found[0], None
        if len(found) == 1:
            return None, (f'{key}: subnet "{cloud.subnet}" of network {network.name} is not IPv4 with '
                          f"DHCP; choose one of {_names(usable)}")  # fmt: skip
        what = "no" if not found else f"{len(found)}"
        return None, (f'{key}: network {network.name} has {what} subnet named "{cloud.subnet}"; '
                      f"choose one of {_names(usable)} (its id is unique)")  # fmt: skip
    if len(usable) == 1:
        return usable[0], None
    if not usable:
        return None, (f"network {network.name} of cloud {cloud.name} has no IPv4 subnet with DHCP "
                      f"(subnets: {_names(network.subnets)}): add one, or choose another network "
                      f"with clouds.{cloud.name}.network")  # fmt: skip
    return None, (f"network {network.name} of cloud {cloud.name} has {len(usable)} IPv4 subnets with DHCP "
                  f"({_names(usable)}): set {key} to one of them in the settings file")  # fmt: skip


def _external(cloud: CloudConfig, networks: Sequence[Network]) -> tuple[Network | None, str | None]:
    external = [n for n in networks if n.external]
    key = f"clouds.{cloud.name}.external_network"
    if cloud.external_network is not None:
        found = [n for n in external if cloud.external_network in (n.name, n.id)]
        if len(found) == 1:
            return found[0], None
        return None, (f'{key}: cloud {cloud.name} has no external network "{cloud.external_network}"; '
                      f"external networks: {_names(external)}")  # fmt: skip
    if len(external) == 1:
        return external[0], None
    if not external:
        return None, f"cloud {cloud.name} has no external network: public hosts cannot get floating IPs"
    return None, (f"cloud {cloud.name} has {len(external)} external networks ({_names(external)}): "
                  f"set {key} to one of them in the settings file")  # fmt: skip


def _names(items: Iterable[Network | Subnet]) -> str:
    names = sorted(i.name or i.id for i in items)
    return ", ".join(names) if names else "none"
