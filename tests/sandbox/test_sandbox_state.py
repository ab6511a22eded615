"""The sandbox's state and knobs: it survives a restart, the seed applies once, secrets are
private, faults (error rate, latency, quota) bite and clear, the admin API and the CLI work."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions

from sandbox.cloud.faults import FaultError, Faults
from sandbox.cloud.seed import SeedError, load_seed
from sandbox.server import Sandbox, SandboxInfo

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0K1dN2eWcVZ6fH1C4jN7pVvM0gkQG7a1f0eUuY0ZqY test"


def connect(info: SandboxInfo, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(info.clouds_yaml))
    return openstack.connect(cloud=info.cloud_name)


def test_state_survives_a_restart(tmp_path: Path, seed_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    box = Sandbox(data, seed=seed_file, faults=Faults(boot_delay=0.0))
    info = box.start()
    conn = connect(info, monkeypatch)
    server = conn.compute.create_server(name="survivor", flavor_id=conn.compute.find_flavor("tiny-1").id,
                                        image_id=conn.image.find_image("TestOS-1").id,
                                        networks=[{"uuid": conn.network.find_network("lan").id}])
    flavor_ids = sorted(f.id for f in conn.compute.flavors())
    secrets = (data / "credentials.json").read_text()
    conn.close()
    box.stop()

    other_seed = tmp_path / "other.yaml"
    other_seed.write_text("flavors: [{name: only-one, vcpus: 1, ram: 512}]\n")
    with Sandbox(data, seed=other_seed) as info:  # the seed applies to a fresh data dir only
        conn = connect(info, monkeypatch)
        again = conn.compute.get_server(server.id)
        assert (again.name, again.status) == ("survivor", "ACTIVE")
        assert sorted(f.id for f in conn.compute.flavors()) == flavor_ids
        assert conn.compute.get_limits().absolute.total_instances_used == 1
        conn.close()
    assert (data / "credentials.json").read_text() == secrets


def test_files_are_private_and_written_atomically(info: SandboxInfo, http: httpx.Client) -> None:
    for name in ("state.json", "credentials.json", "clouds.yaml"):
        assert (info.data_dir / name).stat().st_mode & 0o777 == 0o600, name
    http.post("/compute/v2.1/os-keypairs", json={"keypair": {"name": "k", "public_key": PUBLIC_KEY}})
    state = json.loads((info.data_dir / "state.json").read_text())
    assert list(state["tables"]["keypairs"]) == ["k"]
    assert [p.name for p in info.data_dir.iterdir() if p.name.endswith(".tmp")] == []
    creds = json.loads((info.data_dir / "credentials.json").read_text())
    assert creds["password"] not in (info.data_dir / "state.json").read_text()


def test_a_token_outlives_a_restart(info: SandboxInfo, http: httpx.Client, sandbox: Sandbox) -> None:
    sandbox.stop()
    restarted = Sandbox(info.data_dir, faults=Faults(boot_delay=0.0))
    new_info = restarted.start()
    try:
        token = {"X-Auth-Token": http.headers["X-Auth-Token"]}
        reply = httpx.get(f"{new_info.url}/compute/v2.1/flavors", headers=token)
        assert reply.status_code == 200
    finally:
        restarted.stop()


def test_error_rate_gives_503_and_clears(conn: Any, sandbox: Sandbox) -> None:
    sandbox.faults.update({"error_rate": "compute=1"})
    with pytest.raises(exceptions.HttpException) as caught:
        list(conn.compute.flavors())
    assert caught.value.status_code == 503
    assert [n.name for n in conn.network.networks(name="lan")] == ["lan"]  # other services unaffected
    sandbox.faults.update({"error_rate": {}})
    assert len(list(conn.compute.flavors())) == 3


def test_admin_api(info: SandboxInfo, http: httpx.Client) -> None:
    creds = json.loads((info.data_dir / "credentials.json").read_text())
    admin = httpx.Client(base_url=info.url, auth=(creds["username"], creds["password"]))
    assert admin.get("/_sandbox/faults").json()["boot_delay"] == pytest.approx(0.3)
    assert httpx.get(f"{info.url}/_sandbox/faults").status_code == 401

    reply = admin.put("/_sandbox/faults", json={"error_rate": {"network": 1}, "latency": 0.2})
    assert reply.json()["error_rate"] == {"network": 1.0}
    started = time.monotonic()
    reply = http.get("/network/v2.0/networks")
    assert time.monotonic() - started >= 0.2
    assert (reply.status_code, reply.json()["NeutronError"]["type"]) == (503, "ServiceUnavailable")
    bad = admin.put("/_sandbox/faults", json={"error_rate": {"dns": 1}})
    assert bad.status_code == 422
    assert bad.json()["error"]["message"].startswith("error_rate.dns: unknown service")
    admin.put("/_sandbox/faults", json={"error_rate": {}, "latency": 0})
    assert http.get("/network/v2.0/networks").status_code == 200

    http.post("/compute/v2.1/os-keypairs", json={"keypair": {"name": "k", "public_key": PUBLIC_KEY}})
    state = http.get("/_sandbox/state").json()  # a token works too
    assert state["counts"]["keypairs"] == 1 and state["quotas"]["cores"] == {"limit": 8, "in_use": 2}
    assert admin.post("/_sandbox/reset").json()["counts"]["keypairs"] == 0
    assert len(http.get("/compute/v2.1/flavors").json()["flavors"]) == 3
    admin.close()


def test_faults_from_environment_and_their_errors() -> None:
    faults = Faults.from_env({"MCHUB_SANDBOX_LATENCY": "0.5", "MCHUB_SANDBOX_BOOT_DELAY": "2",
                              "MCHUB_SANDBOX_ERROR_RATE": "compute=0.5,network=1",
                              "MCHUB_SANDBOX_QUOTA": "cores=0"})
    assert faults.to_dict() == {"latency": 0.5, "error_rate": {"compute": 0.5, "network": 1.0},
                                "boot_delay": 2.0, "login_delay": 3.0, "quota": {"cores": 0}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"error_rate": "compute=2"}, "error_rate.compute: must be a probability between 0 and 1"),
        ({"error_rate": "compute"}, "error_rate: expected name=value pairs"),
        ({"latency": -1}, "latency: must be >= 0 seconds"),
        ({"quota": {"cpus": 1}}, "quota.cpus: unknown quota"),
        ({"boot_dely": 1}, "boot_dely: unknown fault"),
    ]
    for changes, message in cases:
        with pytest.raises(FaultError, match=message):
            faults.update(changes)
    assert faults.latency == 0.5  # a failed update changes nothing


def test_seed_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("flavors:\n  - {name: p2-3gb, vcpus: two, ram: 3072}\nquotas:\n  cpu: {limit: 1}\n")
    with pytest.raises(SeedError, match=r"flavors\[0\]\.vcpus: Input should be a valid integer, got 'two'"):
        load_seed(bad)
    bad.write_text("quotas:\n  cpu: {limit: 1}\n")
    with pytest.raises(SeedError, match=r"quotas\.cpu: unknown quota; choose one of instances, cores"):
        load_seed(bad)
    with pytest.raises(SeedError, match="cannot read the seed"):
        Sandbox(tmp_path / "data", seed=tmp_path / "missing.yaml").start()
    default = load_seed()
    assert {"p1-1.5gb", "p2-3gb", "c8-30gb-186"} <= {f.name for f in default.flavors}
    assert [n.name for n in default.networks if n.external] == ["public"]


def test_command_line_runs_until_interrupted(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCHUB_SANDBOX_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox.server", "--port", "0", "--data", str(tmp_path / "cli"),
         "--boot-delay", "0", "--error-rate", "image=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline()]
        while not banner[-1].startswith("Press Ctrl-C") and banner[-1]:
            banner.append(proc.stdout.readline())
        assert banner[0].startswith("Sandbox cloud listening on http://127.0.0.1:")
        assert any("export OS_CLIENT_CONFIG_FILE=" in line and "OS_CLOUD=sandbox" in line for line in banner)
        url = banner[0].split()[-1]
        assert httpx.get(f"{url}/identity").status_code == 300
        assert httpx.get(f"{url}/image").status_code == 503
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Sandbox stopped." in out


def test_one_sandbox_per_data_dir(info: SandboxInfo) -> None:
    message = f"{info.data_dir} is in use by another sandbox (pid {os.getpid()})"
    with pytest.raises(RuntimeError) as caught:
        Sandbox(info.data_dir).start()
    assert str(caught.value).startswith(message)


def test_faults_default_to_the_environment(tmp_path: Path, seed_file: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCHUB_SANDBOX_ERROR_RATE", "image=1")
    monkeypatch.setenv("MCHUB_SANDBOX_BOOT_DELAY", "0")
    with Sandbox(tmp_path / "data", seed=seed_file) as info:
        assert httpx.get(f"{info.url}/image").status_code == 503
        assert httpx.get(f"{info.url}/identity").status_code == 300
