"""The real openstacksdk reads the sandbox's catalog over HTTP: flavors, images, networks and
every quota the hub's catalog needs, through clouds.yaml, OS_* variables and an application credential."""

from __future__ import annotations

import json
from typing import Any

import openstack
import pytest
from keystoneauth1.exceptions.http import Unauthorized

from sandbox.server import SandboxInfo


def read_catalog(conn: Any) -> dict[str, Any]:
    """What the hub's catalog reads, in plain data."""
    project = conn.current_project_id
    limits = conn.compute.get_limits().absolute
    compute = conn.compute.get_quota_set(project, usage=True)
    network = conn.network.get_quota(project, details=True)
    volume = conn.block_storage.get_quota_set(project, usage=True)
    return {
        "flavors": {f.name: (f.vcpus, f.ram, f.disk) for f in conn.compute.flavors()},
        "images": sorted(i.name for i in conn.image.images()),
        "networks": {n.name: n.is_router_external for n in conn.network.networks()},
        "external": [n.name for n in conn.network.networks(is_router_external=True)],
        "limits": (limits.total_cores, limits.total_cores_used, limits.instances, limits.total_ram_used),
        "compute": {k: (getattr(compute, k), compute.usage[k]) for k in ("instances", "cores", "ram")},
        "network": network.floating_ips,
        "volume": {k: (getattr(volume, k), volume.usage[k]) for k in ("volumes", "gigabytes")},
    }


EXPECTED = {
    "flavors": {"tiny-1": (1, 1024, 0), "small-2": (2, 4096, 0), "big-4": (4, 8192, 40)},
    "images": ["TestOS-1", "TestOS-2"],
    "networks": {"lan": False, "wan": True},
    "external": ["wan"],
    "limits": (8, 2, 3, 1024),
    "compute": {"instances": (3, 0), "cores": (8, 2), "ram": (16384, 1024)},
    "network": {"limit": 2, "used": 0, "reserved": 0},
    "volume": {"volumes": (4, 1), "gigabytes": (100, 10)},
}


def test_catalog_through_clouds_yaml(conn: Any) -> None:
    assert read_catalog(conn) == EXPECTED


def test_catalog_through_os_variables(info: SandboxInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = json.loads((info.data_dir / "credentials.json").read_text())
    for name, value in {
        "OS_AUTH_URL": f"{info.url}/identity/v3", "OS_USERNAME": creds["username"],
        "OS_PASSWORD": creds["password"], "OS_PROJECT_NAME": creds["project_name"],
        "OS_USER_DOMAIN_NAME": "Default", "OS_PROJECT_DOMAIN_NAME": "Default", "OS_REGION_NAME": "RegionOne",
        "OS_INTERFACE": "public", "OS_IDENTITY_API_VERSION": "3",
    }.items():
        monkeypatch.setenv(name, value)
    conn = openstack.connect()
    try:
        assert read_catalog(conn) == EXPECTED
    finally:
        conn.close()


def test_catalog_through_application_credential(info: SandboxInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(info.clouds_yaml))
    conn = openstack.connect(cloud=f"{info.cloud_name}-appcred")
    try:
        assert read_catalog(conn) == EXPECTED
        assert conn.session.get_token()
    finally:
        conn.close()


def test_bad_password_is_unauthorized(info: SandboxInfo) -> None:
    conn = openstack.connect(auth_url=f"{info.url}/identity/v3", username="tester", password="wrong",
                             project_name="test-project", user_domain_name="Default",
                             project_domain_name="Default", region_name="RegionOne")
    with pytest.raises(Unauthorized):
        list(conn.compute.flavors())


def test_bad_application_credential_secret_is_unauthorized(info: SandboxInfo) -> None:
    creds = json.loads((info.data_dir / "credentials.json").read_text())
    conn = openstack.connect(auth_type="v3applicationcredential", auth_url=f"{info.url}/identity/v3",
                             application_credential_id=creds["application_credential_id"],
                             application_credential_secret="not-the-secret", region_name="RegionOne")
    with pytest.raises(Unauthorized):
        list(conn.compute.flavors())


def test_find_by_name(conn: Any) -> None:
    assert conn.compute.find_flavor("small-2").vcpus == 2
    assert conn.image.find_image("TestOS-1").min_disk == 2
    wan = conn.network.find_network("wan")
    assert wan.is_router_external and len(wan.subnet_ids) == 1
    assert conn.network.get_subnet(wan.subnet_ids[0]).cidr == "127.77.0.0/16"  # loopback: listeners answer
    assert conn.compute.find_flavor("no-such-flavor") is None
