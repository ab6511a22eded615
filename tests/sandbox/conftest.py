"""Fixtures for the sandbox cloud tests: a Sandbox on a free port in a tmp dir, seeded with small
numbers of our own, and openstacksdk connections to it over real HTTP."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox.cloud.faults import Faults
from sandbox.server import Sandbox, SandboxInfo

BOOT_DELAY = 0.3

TEST_SEED = """
project: test-project
username: tester
flavors:
  - {name: tiny-1, vcpus: 1, ram: 1024}
  - {name: small-2, vcpus: 2, ram: 4096}
  - {name: big-4, vcpus: 4, ram: 8192, disk: 40}
images:
  - {name: TestOS-1, min_disk: 2}
  - {name: TestOS-2}
networks:
  - {name: lan, cidr: 192.168.7.0/24}
  - {name: wan, external: true}
quotas:
  instances: {limit: 3, in_use: 0}
  cores: {limit: 8, in_use: 2}
  ram: {limit: 16384, in_use: 1024}
  volumes: {limit: 4, in_use: 1}
  gigabytes: {limit: 100, in_use: 10}
  floatingip: {limit: 2, in_use: 0}
"""


@pytest.fixture(autouse=True)
def clean_os_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No OS_* variable or user clouds.yaml of the machine leaks into a test."""
    for name in list(os.environ):
        if name.startswith(("OS_", "MCHUB_SANDBOX_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home" / ".config"))


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    path = tmp_path / "seed.yaml"
    path.write_text(TEST_SEED)
    return path


@pytest.fixture
def sandbox(tmp_path: Path, seed_file: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "data", seed=seed_file, faults=Faults(boot_delay=BOOT_DELAY))
    box.start()
    yield box
    box.stop()


@pytest.fixture
def info(sandbox: Sandbox) -> SandboxInfo:
    assert sandbox.info is not None
    return sandbox.info


@pytest.fixture
def conn(info: SandboxInfo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """An openstacksdk connection through the sandbox's clouds.yaml (password auth)."""
    import openstack

    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(info.clouds_yaml))
    connection = openstack.connect(cloud=info.cloud_name)
    yield connection
    connection.close()


@pytest.fixture
def boot(conn: Any) -> Any:
    """boot(name, flavor="tiny-1", volume_size=None, port=None) -> the created server (still BUILD)."""

    def _boot(name: str, flavor: str = "tiny-1", volume_size: int | None = None, port: Any = None) -> Any:
        image = conn.image.find_image("TestOS-1")
        kwargs: dict[str, Any] = {"name": name, "flavor_id": conn.compute.find_flavor(flavor).id}
        if port is not None:
            kwargs["networks"] = [{"port": port.id}]
        else:
            kwargs["networks"] = [{"uuid": conn.network.find_network("lan").id}]
        if volume_size:
            kwargs["block_device_mapping"] = [{
                "source_type": "image", "uuid": image.id, "destination_type": "volume",
                "volume_size": volume_size, "boot_index": 0, "delete_on_termination": True}]
        else:
            kwargs["image_id"] = image.id
        return conn.compute.create_server(**kwargs)

    return _boot


def password_auth(info: SandboxInfo) -> dict[str, Any]:
    """The Keystone v3 password request body for the sandbox's user."""
    creds = json.loads((info.data_dir / "credentials.json").read_text())
    user = {"name": creds["username"], "domain": {"name": "Default"}, "password": creds["password"]}
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": user}},
                     "scope": {"project": {"name": creds["project_name"], "domain": {"name": "Default"}}}}}


@pytest.fixture
def http(info: SandboxInfo) -> Iterator[httpx.Client]:
    """A plain HTTP client holding a token, as the stand-in Terraform provider talks to the cloud."""
    with httpx.Client(base_url=info.url, timeout=10) as client:
        reply = client.post("/identity/v3/auth/tokens", json=password_auth(info))
        assert reply.status_code == 201, reply.text
        client.headers["X-Auth-Token"] = reply.headers["X-Subject-Token"]
        client.headers["X-Project-Id"] = reply.json()["token"]["project"]["id"]  # for the tests' URLs
        yield client


@pytest.fixture
def auth_body(info: SandboxInfo) -> dict[str, Any]:
    return password_auth(info)
