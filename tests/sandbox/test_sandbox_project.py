"""The sandbox behaves like a real project, through openstacksdk over HTTP: floating IPs need a
router (and fail as Neutron does without one), scenarios give the networks a real project may have,
the `default` security group and the security group quotas, image states, per-volume-type quotas,
Nova's keypair validation and quota answers, and floating IPs a listener here can answer at."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from openstack import exceptions

from sandbox.cloud.faults import Faults
from sandbox.cloud.seed import SeedError, parse_seed
from sandbox.server import Sandbox, SandboxInfo

PROJECT_SEED = """
project: test-project
username: tester
flavors:
  - {name: tiny-1, vcpus: 1, ram: 1024}
images:
  - {name: TestOS-1, created_at: 2024-01-01T00:00:00}
  - {name: TestOS-1, created_at: 2024-06-01T00:00:00}
  - {name: Queued-OS, status: queued}
  - {name: Old-OS, status: deactivated}
networks:
  - {name: lan, cidr: 192.168.7.0/24}
  - {name: wan, external: true}
volume_types:
  - {name: __DEFAULT__}
  - {name: ssd, extra_specs: {volume_backend_name: ceph-ssd}}
quotas:
  gigabytes_ssd: {limit: 50, in_use: 10}
  volumes_ssd: {limit: 2, in_use: 0}
  security_group: {limit: 3, in_use: 0}
"""


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "project-seed.yaml"
    path.write_text(PROJECT_SEED)
    return path


def reset(http: httpx.Client, *scenarios: str) -> httpx.Response:
    return http.post("/_sandbox/reset", json={"scenarios": list(scenarios)})


def lan_port(conn: Any, network: str = "lan") -> Any:
    return conn.network.create_port(network_id=conn.network.find_network(network).id)


# Neutron's own wording, two spaces included (neutron_lib ExternalGatewayForFloatingIPNotFound).
NOT_REACHABLE = (
    "External network {} is not reachable from subnet {}.  Therefore, cannot associate Port {} with a "
    "Floating IP."
)


def test_a_floating_ip_reaches_a_port_through_the_seeded_router(conn: Any) -> None:
    wan, port = conn.network.find_network("wan"), lan_port(conn)
    router = next(conn.network.routers())
    assert router.external_gateway_info["network_id"] == wan.id
    fip = conn.network.create_ip(floating_network_id=wan.id, port_id=port.id)
    assert (fip.port_id, fip.router_id) == (port.id, router.id)
    assert fip.floating_ip_address.startswith("127.77.")
    with pytest.raises(exceptions.ConflictException, match="required by one or more floating IPs"):
        conn.network.remove_interface_from_router(router, subnet_id=port.fixed_ips[0]["subnet_id"])


def test_without_a_router_association_fails_as_neutron_does(conn: Any, http: httpx.Client) -> None:
    assert reset(http, "no-router").status_code == 200
    assert list(conn.network.routers()) == []
    wan, port = conn.network.find_network("wan"), lan_port(conn)
    subnet = port.fixed_ips[0]["subnet_id"]
    expected = NOT_REACHABLE.format(wan.id, subnet, port.id)
    with pytest.raises(exceptions.NotFoundException) as caught:
        conn.network.create_ip(floating_network_id=wan.id, port_id=port.id)
    assert expected in str(caught.value)
    assert list(conn.network.ips()) == []  # nothing was allocated
    fip = conn.network.create_ip(floating_network_id=wan.id)
    reply = http.put(f"/network/v2.0/floatingips/{fip.id}", json={"floatingip": {"port_id": port.id}})
    assert (reply.status_code, reply.json()["NeutronError"]) == (
        404,
        {"type": "ExternalGatewayForFloatingIPNotFound", "message": expected, "detail": ""},
    )

    # What an operator does about it: a router with a gateway and an interface on the subnet.
    router = conn.network.create_router(name="r1", external_gateway_info={"network_id": wan.id})
    assert router.external_gateway_info["external_fixed_ips"][0]["ip_address"].startswith("127.77.")
    conn.network.add_interface_to_router(router, subnet_id=subnet)
    assert conn.network.update_ip(fip, port_id=port.id).router_id == router.id


def test_scenarios_give_the_networks_a_real_project_may_have(conn: Any, http: httpx.Client) -> None:
    reset(http, "two-internal-networks", "two-external-networks", "shared-network")
    external = sorted(n.name for n in conn.network.networks(is_router_external=True))
    assert external == ["public-2", "wan"]
    shared = conn.network.find_network("shared")
    assert shared.is_shared and shared.project_id != conn.current_project_id
    second = conn.network.find_network("private-2")
    assert second.project_id == conn.current_project_id
    subnet = conn.network.get_subnet(second.subnet_ids[0])
    assert (subnet.ip_version, subnet.is_dhcp_enabled, subnet.gateway_ip) == (4, True, "10.0.0.1")
    public2 = conn.network.get_subnet(conn.network.find_network("public-2").subnet_ids[0])
    assert public2.cidr == "127.78.0.0/16"
    port = lan_port(conn, "private-2")  # the default router reaches both internal networks
    assert (
        conn.network.create_ip(
            floating_network_id=conn.network.find_network("wan").id, port_id=port.id
        ).port_id
        == port.id
    )

    reset(http, "no-dhcp-subnet")
    lan = conn.network.find_network("lan")
    subnets = sorted((conn.network.get_subnet(s) for s in lan.subnet_ids), key=lambda s: s.ip_version)
    assert [(s.ip_version, s.is_dhcp_enabled) for s in subnets] == [(4, False), (6, True)]
    assert subnets[0].cidr == "192.168.7.0/24" and lan_port(conn).fixed_ips[0]["subnet_id"] == subnets[0].id

    bad = reset(http, "no-such-thing")
    assert bad.status_code == 422 and "choose among no-router" in bad.json()["error"]["message"]


def test_scenarios_at_start(tmp_path: Path, seed_file: Path) -> None:
    box = Sandbox(tmp_path / "other", seed=seed_file, faults=Faults(boot_delay=0), scenarios=["no-router"])
    with box:
        assert box.store is not None and box.store.table("routers") == {}
    with pytest.raises(ValueError, match="scenario 'nope': unknown"):
        Sandbox(tmp_path / "third", seed=seed_file, scenarios=["nope"])


def test_default_security_group_and_its_quotas(conn: Any, http: httpx.Client) -> None:
    default = conn.network.find_security_group("default")
    rules = {(r["direction"], r["ethertype"], r["remote_group_id"]) for r in default.security_group_rules}
    assert rules == {
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
        ("ingress", "IPv4", default.id),
        ("ingress", "IPv6", default.id),
    }
    assert lan_port(conn).security_group_ids == [default.id]
    conn.network.create_security_group(name="a")
    conn.network.create_security_group(name="b")
    with pytest.raises(
        exceptions.ConflictException, match=r"Quota exceeded for resources: \['security_group'\]"
    ):
        conn.network.create_security_group(name="c")
    quota = conn.network.get_quota(conn.current_project_id, details=True)
    assert quota.security_groups == {"limit": 3, "used": 3, "reserved": 0}
    assert quota.security_group_rules["used"] == 4 + 2 + 2  # default's four, two egress rules each


@pytest.mark.parametrize(
    ("rule", "status", "message"),
    [
        (
            {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.1.2.3/8"},
            201,
            "",
        ),
        ({"protocol": "icmp", "port_range_min": 8, "port_range_max": 0}, 201, ""),
        (
            {"protocol": "udp", "port_range_min": 2000, "port_range_max": 1000},
            400,
            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
        ),
        ({"protocol": "bogus"}, 400, "Security group rule protocol bogus not supported"),
        (
            {"port_range_min": 22, "port_range_max": 22},
            400,
            "Must also specify protocol if port range is given.",
        ),
        (
            {"protocol": "icmp", "port_range_min": 300},
            400,
            "Invalid value for ICMP port_range_min (type): 300",
        ),
        (
            {"protocol": "tcp", "remote_ip_prefix": "::/0"},
            400,
            "Conflicting value ethertype IPv4 for CIDR ::/0",
        ),
        (
            {"remote_ip_prefix": "0.0.0.0/0", "remote_group_id": "SELF"},
            400,
            "Only remote_ip_prefix or remote_group_id may be provided.",
        ),
        ({"remote_group_id": "0b0b0b0b-0000-4000-8000-000000000000"}, 404, "does not exist"),
    ],
)
def test_security_group_rules_are_checked_as_neutron_does(
    http: httpx.Client, rule: dict[str, Any], status: int, message: str
) -> None:
    group = http.post("/network/v2.0/security-groups", json={"security_group": {"name": "g"}}).json()
    group_id = group["security_group"]["id"]
    body = {"security_group_id": group_id, "direction": "ingress", "ethertype": "IPv4", **rule}
    body = {k: group_id if v == "SELF" else v for k, v in body.items()}
    reply = http.post("/network/v2.0/security-group-rules", json={"security_group_rule": body})
    assert reply.status_code == status, reply.text
    if status == 201:
        made = reply.json()["security_group_rule"]
        assert made["normalized_cidr"] == (rule.get("remote_ip_prefix") and "10.0.0.0/8")
    else:
        assert message in reply.json()["NeutronError"]["message"]


def test_image_states_and_duplicate_names(conn: Any, http: httpx.Client) -> None:
    images = list(conn.image.images())
    assert sorted((i.name, i.status) for i in images) == [
        ("Old-OS", "deactivated"),
        ("Queued-OS", "queued"),
        ("TestOS-1", "active"),
        ("TestOS-1", "active"),
    ]
    twins = sorted((i for i in images if i.name == "TestOS-1"), key=lambda i: i.created_at)
    assert [i.created_at for i in twins] == ["2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"]
    flavor = conn.compute.find_flavor("tiny-1").id
    for image in (i for i in images if i.status != "active"):
        with pytest.raises(exceptions.BadRequestException, match=f"Image {image.id} is not active."):
            conn.compute.create_server(name="x", flavor_id=flavor, image_id=image.id, networks="none")
    newest = twins[-1]
    assert http.post(f"/image/v2/images/{newest.id}/actions/deactivate").status_code == 204
    assert conn.image.get_image(newest.id).status == "deactivated"
    with pytest.raises(exceptions.BadRequestException, match="is not active"):
        conn.compute.create_server(name="x", flavor_id=flavor, image_id=newest.id, networks="none")
    assert http.post(f"/image/v2/images/{newest.id}/actions/reactivate").status_code == 204
    assert conn.compute.create_server(name="x", flavor_id=flavor, image_id=newest.id, networks="none").id


def test_per_volume_type_quotas(conn: Any, http: httpx.Client) -> None:
    project = conn.current_project_id
    conn.block_storage.create_volume(size=30, volume_type="ssd")
    with pytest.raises(exceptions.HttpException) as caught:
        conn.block_storage.create_volume(size=11, volume_type="ssd")
    assert caught.value.status_code == 413
    assert (
        "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes_ssd quota. "
        "Requested 11G, quota is 50G and 40G has been consumed."
    ) in str(caught.value)
    conn.block_storage.create_volume(size=1, volume_type="ssd")
    with pytest.raises(
        exceptions.HttpException,
        match="Maximum number of volumes allowed \\(2\\) exceeded for quota 'volumes_ssd'",
    ):
        conn.block_storage.create_volume(size=1, volume_type="ssd")
    plain = conn.block_storage.create_volume(size=5)  # the default type has no limit of its own
    usage = http.get(f"/volume/v3/{project}/os-quota-sets/{project}", params={"usage": "True"}).json()
    quota_set = usage["quota_set"]
    assert (quota_set["gigabytes_ssd"]["limit"], quota_set["gigabytes_ssd"]["in_use"]) == (50, 41)
    assert (quota_set["volumes_ssd"]["in_use"], quota_set["volumes___DEFAULT__"]["limit"]) == (2, -1)
    with pytest.raises(exceptions.HttpException, match="Maximum number of volumes allowed"):
        conn.block_storage.retype_volume(plain, "ssd")
    with pytest.raises(exceptions.NotFoundException, match="Volume type with name nvme could not be found."):
        conn.block_storage.create_volume(size=1, volume_type="nvme")


def _key(kind: str) -> str:
    """A fresh public key in OpenSSH format, with a comment."""
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    if kind == "rsa":
        key = rsa.generate_private_key(65537, 2048)
    elif kind == "ed25519":
        key = ed25519.Ed25519PrivateKey.generate()
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return public.decode() + " me@laptop"


def test_keypairs_are_validated_as_nova_does(conn: Any) -> None:
    for kind in ("rsa", "ed25519", "ecdsa"):
        public = _key(kind)
        assert conn.compute.create_keypair(name=f"k-{kind}", public_key=public).fingerprint.count(":") == 15
    rsa_blob = _key("rsa").split()[1]
    ed_blob = _key("ed25519").split()[1]
    bad = [
        f"ssh-ed25519 {rsa_blob}",
        f"ssh-rsa {rsa_blob[:-8]}",
        "ssh-rsa not*base64",
        f"ssh-foo {ed_blob}",
        "ssh-rsa",
        f"ssh-rsa {rsa_blob}AAAA",
        "",
    ]
    for number, public in enumerate(bad):
        with pytest.raises(
            exceptions.BadRequestException, match="Keypair data is invalid: failed to generate fingerprint"
        ):
            conn.compute.create_keypair(name=f"bad-{number}", public_key=public or " ")
    assert sorted(k.name for k in conn.compute.keypairs()) == ["k-ecdsa", "k-ed25519", "k-rsa"]


def test_nova_quota_sets_as_nova_answers(conn: Any, http: httpx.Client) -> None:
    project = conn.current_project_id
    plain = http.get(f"/compute/v2.1/os-quota-sets/{project}", params={"usage": "True"}).json()["quota_set"]
    assert plain["cores"] == 64 and plain["instances"] == 20  # Nova ignores usage=True: limits only
    detail = http.get(f"/compute/v2.1/os-quota-sets/{project}/detail").json()["quota_set"]
    assert set(detail["cores"]) == {"limit", "in_use", "reserved"}
    assert conn.compute.get_quota_set(project, usage=True).usage["instances"] == 0
    image = next(i for i in conn.image.images() if i.status == "active")
    conn.compute.create_server(
        name="q1", flavor_id=conn.compute.find_flavor("tiny-1").id, image_id=image.id, networks="none"
    )
    assert conn.compute.get_quota_set(project, usage=True).usage["instances"] == 1


def test_a_listener_can_answer_at_a_floating_ip(conn: Any, info: SandboxInfo) -> None:
    fip = conn.network.create_ip(floating_network_id=conn.network.find_network("wan").id)
    with socket.create_server((fip.floating_ip_address, 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection((fip.floating_ip_address, port), timeout=2):
            pass


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"networks": [{"name": "lan"}], "routers": [{"name": "r", "external_network": "lan"}]},
            "routers[0].external_network: 'lan' is not an external network of the seed; choose one of (none)",
        ),
        (
            {
                "networks": [{"name": "wan", "external": True}],
                "routers": [{"name": "r", "interfaces": ["wan"]}],
            },
            "routers[0].interfaces[0]: 'wan' is neither an internal network nor a subnet of the seed",
        ),
        ({"quotas": {"gigabytes_nvme": {"limit": 1}}}, "quotas.gigabytes_nvme: unknown quota"),
        (
            {"networks": [{"name": "lan", "subnets": [{"cidr": "fd00::/64", "ip_version": 4}]}]},
            "cidr fd00::/64 is not an IPv4 network",
        ),
    ],
)
def test_seed_errors_name_the_field(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SeedError) as caught:
        parse_seed(data)
    assert message in str(caught.value)
