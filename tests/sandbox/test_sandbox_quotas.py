"""Quota exhaustion, as each service reports it: Nova 403 (instances, cores, ram, resize delta),
Cinder 413 (volumes, gigabytes), Neutron 409 (floating IPs). In use = the seed's outside usage
(cores 2, ram 1024, volumes 1, gigabytes 10) + what the sandbox holds."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from openstack import exceptions

from sandbox.server import Sandbox


def test_instances(conn: Any, boot: Any) -> None:
    for index in range(3):
        boot(f"node{index}")
    with pytest.raises(exceptions.ForbiddenException) as caught:
        boot("node3")
    assert "Quota exceeded for instances: Requested 1, but already used 3 of 3 instances" in str(caught.value)


def test_cores(conn: Any, boot: Any) -> None:
    boot("big", flavor="big-4")
    boot("small", flavor="small-2")
    with pytest.raises(exceptions.ForbiddenException) as caught:
        boot("tiny", flavor="tiny-1")
    assert "Quota exceeded for cores: Requested 1, but already used 8 of 8 cores" in str(caught.value)


def test_ram_forced_by_the_quota_fault(conn: Any, boot: Any, sandbox: Sandbox) -> None:
    sandbox.faults.update({"quota": {"ram": 4096}})
    with pytest.raises(exceptions.ForbiddenException) as caught:
        boot("small", flavor="small-2")
    assert "Quota exceeded for ram: Requested 4096, but already used 1024 of 4096 ram" in str(caught.value)
    assert conn.compute.get_limits().absolute.total_ram == 4096
    sandbox.faults.update({"quota": {}})
    boot("small", flavor="small-2")


def test_resize_counts_the_delta(conn: Any, boot: Any) -> None:
    small = conn.compute.wait_for_server(boot("small", flavor="small-2"), interval=0.1, wait=10)
    boot("big", flavor="big-4")
    with pytest.raises(exceptions.ForbiddenException) as caught:
        conn.compute.resize_server(small, conn.compute.find_flavor("big-4").id)
    # small-2 -> big-4 asks 2 more cores and 4096 MiB more RAM; both are over (ram: 1024 + 4096 + 8192).
    assert ("Quota exceeded for cores, ram: Requested 2, 4096, but already used 8, 13312 of 8, 16384 "
            "cores, ram") in str(caught.value)


def test_volumes(conn: Any) -> None:
    for index in range(3):
        conn.block_storage.create_volume(size=1, name=f"v{index}")
    with pytest.raises(exceptions.HttpException) as caught:
        conn.block_storage.create_volume(size=1, name="v3")
    assert caught.value.status_code == 413
    assert "VolumeLimitExceeded: Maximum number of volumes allowed (4) exceeded for quota 'volumes'." \
        in str(caught.value)


def test_gigabytes(conn: Any) -> None:
    conn.block_storage.create_volume(size=40)
    with pytest.raises(exceptions.HttpException) as caught:
        conn.block_storage.create_volume(size=60)
    assert caught.value.status_code == 413
    assert ("VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. "
            "Requested 60G, quota is 100G and 50G has been consumed.") in str(caught.value)


def test_floating_ips(conn: Any) -> None:
    wan = conn.network.find_network("wan")
    for _ in range(2):
        conn.network.create_ip(floating_network_id=wan.id)
    with pytest.raises(exceptions.ConflictException) as caught:
        conn.network.create_ip(floating_network_id=wan.id)
    assert "Quota exceeded for resources: ['floatingip']." in str(caught.value)
    assert conn.network.get_quota(conn.current_project_id, details=True).floating_ips["used"] == 2


def test_error_bodies_are_the_services_own(http: httpx.Client, sandbox: Sandbox) -> None:
    """The exact bodies a provider written against the real API parses."""
    project = http.headers["X-Project-Id"]
    sandbox.faults.update({"quota": {"cores": 0, "volumes": 1, "floatingip": 0}})
    flavor = http.get("/compute/v2.1/flavors/detail").json()["flavors"][0]["id"]
    image = http.get("/image/v2/images").json()["images"][0]["id"]
    server = {"name": "x", "flavorRef": flavor, "imageRef": image}
    reply = http.post("/compute/v2.1/servers", json={"server": server})
    assert (reply.status_code, reply.json()) == (403, {"forbidden": {
        "code": 403, "message": "Quota exceeded for cores: Requested 1, but already used 2 of 0 cores"}})
    reply = http.post(f"/volume/v3/{project}/volumes", json={"volume": {"size": 1}})
    assert reply.status_code == 413
    assert reply.json()["overLimit"]["message"] == (
        "VolumeLimitExceeded: Maximum number of volumes allowed (1) exceeded for quota 'volumes'.")
    wan = http.get("/network/v2.0/networks", params={"router:external": "true"}).json()["networks"][0]
    reply = http.post("/network/v2.0/floatingips", json={"floatingip": {"floating_network_id": wan["id"]}})
    assert (reply.status_code, reply.json()) == (409, {"NeutronError": {
        "type": "OverQuota", "message": "Quota exceeded for resources: ['floatingip'].", "detail": ""}})
