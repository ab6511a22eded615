"""Built is not ready, end to end on the sandbox: real Terraform builds a cluster, the sandbox's
simulated login node starts answering SSH on the login node's floating IP (a loopback address)
after its login delay, and the hub's readiness checks follow: waiting, ready, or an error naming
what did not answer after the cloud's timeout; a rebuild starts over, a destroy forgets it, and
the loop schedules the checks by itself (no file event)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import openstack
import pytest
import yaml

from reconciler.engine.hub import make_hub, utc_now
from reconciler.engine.loop import Loop
from reconciler.engine.readiness import probe_ssh
from reconciler.model.settings import Settings, sandbox_cloud
from reconciler.model.status import Phase, read_status
from sandbox.cloud.faults import Faults
from sandbox.cloud.seed import DEFAULT_SEED
from sandbox.server import Sandbox

from .conftest import Clock, HubEnv

pytestmark = [pytest.mark.terraform, pytest.mark.timeout(300)]


def _seed(tmp_path: Path) -> Path:
    """The default seed, its external network on a loopback range of its own (so that sandboxes
    run side by side do not share login addresses)."""
    seed = yaml.safe_load(DEFAULT_SEED.read_text())
    third = random.randrange(1, 255)
    for net in seed["networks"]:
        if net.get("external"):
            net.pop("subnets", None)
            net["cidr"] = f"127.77.{third}.0/24"
    path = tmp_path / "seed.yaml"
    path.write_text(yaml.safe_dump(seed))
    return path


@pytest.fixture
def env(tmp_path: Path) -> Iterator[HubEnv]:
    box = Sandbox(tmp_path / "cloud", seed=_seed(tmp_path), faults=Faults(boot_delay=0.2, login_delay=3600))
    info = box.start()
    specs = tmp_path / "specs"
    specs.mkdir()
    cloud = replace(
        sandbox_cloud(info.data_dir, info.ssh_port),
        clouds_yaml=info.clouds_yaml,
        terraform_cli_config=info.terraform_cli_config,
        provisioning_timeout=60,
    )
    settings = Settings(specs_dir=specs, clusters_dir=tmp_path / "clusters", terraform_grace=10).with_cloud(
        cloud
    )
    clock = Clock()
    config = openstack.config.OpenStackConfig(config_files=[str(info.clouds_yaml)])
    conn = openstack.connection.Connection(config=config.get_one(cloud="sandbox"))
    try:
        yield HubEnv(tmp_path, box, info, settings, clock, make_hub(settings, clock=clock), conn)
    finally:
        box.stop()


def _login_target(env: HubEnv) -> str:
    ip = env.status().outputs["public_ip"]["login1"]
    assert ip.startswith("127.77.")
    return f"{ip}:{env.info.ssh_port}"


def test_waiting_error_after_the_timeout_rebuild_ready_destroy(env: HubEnv) -> None:
    env.write_spec()
    built = env.reconcile()
    assert built.phase == Phase.BUILD_SUCCESS
    prov = built.provisioning
    assert prov is not None and prov.state == "waiting"
    assert prov.message == "Waiting for SSH on login1 (0 of 1 checks answered)"
    target = _login_target(env)
    assert [(c.name, c.target, c.ok, c.detail) for c in prov.checks] == [
        ("ssh", target, False, "connection refused")
    ]

    # The login node never answers: after the cloud's timeout (60 s here), an error that says what.
    env.clock.advance(61)
    failed = env.reconcile()
    assert failed.phase == Phase.BUILD_SUCCESS  # still built; readiness is not a phase
    assert failed.provisioning is not None and failed.provisioning.state == "error"
    assert failed.provisioning.message == (
        f"Not ready after 1 min: SSH on login1 ({target}) did not answer: connection refused"
    )
    env.clock.advance(600)
    assert env.reconcile().provisioning == failed.provisioning  # given up: no more probes

    # A spec change rebuilds, and readiness starts over; this time the login node comes up.
    env.box.faults.login_delay = 0.0
    env.write_spec(nb_users=3)
    rebuilt = env.reconcile()
    prov = rebuilt.provisioning
    assert prov is not None and prov.started_at == env.clock.now and prov.state in ("waiting", "ready")
    deadline = time.monotonic() + 30
    while prov is not None and prov.state == "waiting" and time.monotonic() < deadline:
        env.clock.advance(30)
        time.sleep(0.2)
        prov = env.reconcile().provisioning
    assert prov is not None and prov.state == "ready", prov
    assert prov.checks[0].detail == "SSH-2.0-OpenSSH_9.0 sandbox-login"
    assert probe_ssh(target)[0]

    # Destroyed: no provisioning, and the login node's address no longer answers.
    env.write_spec(ensure="absent")
    gone = env.reconcile()
    assert gone.phase == Phase.DESTROYED and gone.provisioning is None
    time.sleep(0.5)
    assert probe_ssh(target) == (False, "connection refused")


def test_the_loop_checks_on_its_own_schedule_until_ready(env: HubEnv) -> None:
    env.box.faults.login_delay = 4.0
    env.hub = replace(env.hub, clock=utc_now)
    loop = Loop(env.hub)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        env.write_spec()
        deadline = time.monotonic() + 120
        states = []
        while time.monotonic() < deadline:
            status = read_status(env.settings.clusters_dir, "hpc")
            prov = status.provisioning if status else None
            if prov is not None and (not states or states[-1] != prov.state):
                states.append(prov.state)
            if prov is not None and prov.state != "waiting":
                break
            time.sleep(0.2)
    finally:
        loop.stop()
        thread.join(timeout=30)
    assert states == ["waiting", "ready"]
