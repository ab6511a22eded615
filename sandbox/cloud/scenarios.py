"""Named changes to the seed for tests of a project that is not the kind default one. Apply them at
start (`Sandbox(scenarios=[...])`, `--scenario`, MCHUB_SANDBOX_SCENARIO=a,b) or to a running
sandbox (`POST /_sandbox/reset {"scenarios": [...]}`, which starts the cloud afresh):

- `no-router`: no router, as in a fresh project: associating a floating IP fails with Neutron's 404.
- `two-internal-networks`: a second project network, `private-2` (10.0.N.0/24), also on the router.
- `two-external-networks`: a second external network, `public-2` (127.78.0.0/16 by default).
- `no-dhcp-subnet`: the first internal network has no IPv4 subnet with DHCP (its IPv4 subnet has
  DHCP off, and an IPv6 subnet beside it has DHCP on).
- `shared-network`: a network `shared` owned by another project and shared with this one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from sandbox.cloud.seed import Seed, parse_seed
from sandbox.cloud.seed_networks import network_cidrs

Data = dict[str, Any]


def _first_inside(data: Data) -> Data:
    for net in data["networks"]:
        if not net["external"] and not net["shared"]:
            return dict(net)
    raise ValueError("the seed has no internal network for this scenario")


def _no_router(data: Data, seed: Seed) -> None:
    data["routers"] = []


def _two_internal(data: Data, seed: Seed) -> None:
    data["networks"].append({"name": "private-2"})
    if data["routers"]:
        data["routers"][0]["interfaces"].append("private-2")


def _two_external(data: Data, seed: Seed) -> None:
    data["networks"].append({"name": "public-2", "external": True})


def _no_dhcp(data: Data, seed: Seed) -> None:
    net = _first_inside(data)
    index = data["networks"].index(next(n for n in data["networks"] if n["name"] == net["name"]))
    cidrs = network_cidrs(seed.networks)[index]
    v4 = next((cidr for subnet, cidr in cidrs if subnet.version == 4), "10.0.99.0/24")
    data["networks"][index] = {**net, "cidr": None, "subnets": [
        {"cidr": v4, "enable_dhcp": False}, {"ip_version": 6, "enable_dhcp": True}]}


def _shared(data: Data, seed: Seed) -> None:
    data["networks"].append({"name": "shared", "shared": True, "cidr": "10.99.0.0/24"})


SCENARIOS: dict[str, Callable[[Data, Seed], None]] = {
    "no-router": _no_router, "two-internal-networks": _two_internal,
    "two-external-networks": _two_external, "no-dhcp-subnet": _no_dhcp, "shared-network": _shared,
}


def names(value: str | Iterable[str] | None) -> list[str]:
    """Scenario names from a list or an `a,b` string, checked."""
    items = value.split(",") if isinstance(value, str) else list(value or [])
    result = [str(item).strip() for item in items if str(item).strip()]
    for name in result:
        if name not in SCENARIOS:
            raise ValueError(f"scenario {name!r}: unknown; choose among {', '.join(SCENARIOS)}")
    return result


def apply(seed: Seed, scenarios: str | Iterable[str] | None) -> Seed:
    """The seed with the scenarios' changes, in order (the seed itself is left as it is)."""
    for name in names(scenarios):
        data = seed.model_dump()
        data["routers"] = [router.model_dump() for router in seed.router_list()]
        SCENARIOS[name](data, seed)
        seed = parse_seed(data, f"scenario {name}")
    return seed
