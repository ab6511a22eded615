"""`mchub sandbox faults` and `mchub sandbox reset` against a running sandbox: what a person sets
changes what the cloud does (as openstacksdk sees it over HTTP), `clear` undoes it, and each
mistake (a misspelt knob, a sandbox that is not running, another data dir) is one line naming
what to do."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from openstack import exceptions

from sandbox.server import Sandbox, SandboxInfo, main

MCHUB = str(Path(sys.executable).with_name("mchub"))
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ0K1dN2eWcVZ6fH1C4jN7pVvM0gkQG7a1f0eUuY0ZqY test"


def sandbox_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """`mchub sandbox ARGS` in this process (the sandbox is real, over HTTP): code, stdout, stderr."""
    code = main(list(args), prog="mchub sandbox")
    out, err = capsys.readouterr()
    return code, out, err


def faults(capsys: pytest.CaptureFixture[str], info: SandboxInfo, *args: str) -> tuple[int, str, str]:
    return sandbox_cli(capsys, "faults", "--data", str(info.data_dir), *args)


def test_show_names_every_knob_with_its_value(capsys: pytest.CaptureFixture[str], info: SandboxInfo) -> None:
    code, out, err = faults(capsys, info)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"Sandbox cloud at {info.url}: faults set: boot_delay"  # the tests' 0.3 s
    shown = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert shown == {
        "latency": "0",
        "error_rate": "none",
        "boot_delay": "0.3",
        "login_delay": "3",
        "quota": "none",
    }


def test_set_changes_what_the_cloud_does_and_clear_undoes_it(
    capsys: pytest.CaptureFixture[str], info: SandboxInfo, sandbox: Sandbox, conn: Any
) -> None:
    assert conn.compute.get_limits().absolute.total_cores == 8
    code, out, _ = faults(
        capsys, info, "set", "latency=0.3", "quota=cores:3", "boot_delay=2", "login_delay=5"
    )
    assert code == 0 and "quota        cores:3" in out and "latency      0.3 s" in out
    assert conn.compute.get_limits().absolute.total_cores == 3
    started = time.monotonic()
    assert [n.name for n in conn.network.networks(name="lan")] == ["lan"]
    assert time.monotonic() - started >= 0.3
    assert (sandbox.faults.boot_delay, sandbox.faults.login_delay) == (2.0, 5.0)

    assert faults(capsys, info, "set", "error_rate=compute:1")[0] == 0
    with pytest.raises(exceptions.HttpException) as caught:
        list(conn.compute.flavors())
    assert caught.value.status_code == 503

    code, out, _ = faults(capsys, info, "clear")
    assert code == 0 and out.splitlines()[0].endswith("no faults (every knob at its default)")
    assert len(list(conn.compute.flavors())) == 3
    assert conn.compute.get_limits().absolute.total_cores == 8
    assert sandbox.faults.to_dict() == {
        "latency": 0.0, "error_rate": {}, "boot_delay": 1.0, "login_delay": 3.0, "quota": {}
    }  # fmt: skip


def test_map_knobs_change_the_names_given_and_keep_the_others(
    capsys: pytest.CaptureFixture[str], info: SandboxInfo, sandbox: Sandbox
) -> None:
    faults(capsys, info, "set", "error_rate=compute:1", "quota=cores:4,ram:2048")
    faults(capsys, info, "set", "error_rate=network:0.5", "quota=instances:1")
    assert sandbox.faults.error_rate == {"compute": 1.0, "network": 0.5}
    assert sandbox.faults.quota == {"cores": 4, "ram": 2048, "instances": 1}
    faults(capsys, info, "set", "error-rate=compute:0")  # a rate of 0: that service's errors are gone
    assert sandbox.faults.error_rate == {"network": 0.5}
    code, out, _ = faults(capsys, info, "clear", "quota.cores", "error_rate", "--json")
    assert code == 0 and json.loads(out)["quota"] == {"ram": 2048, "instances": 1}
    assert sandbox.faults.error_rate == {} and sandbox.faults.boot_delay == pytest.approx(0.3)  # untouched

    code, _, err = faults(capsys, info, "clear", "quota.volumes")
    assert code == 2 and err == "mchub sandbox faults: quota.volumes: not set (set now: ram, instances)\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["set", "latncy=1"], "latncy: unknown fault knob; choose among latency, error_rate, boot_delay, "
                              "login_delay, quota"),
        (["set", "error_rate=dns:1"], "error_rate.dns: unknown service; choose among identity, compute, "
                                      "image, network, volume"),
        (["set", "quota=cpus:4"], "quota.cpus: unknown quota; choose among instances, cores, ram,"),
        (["set", "latency=-1"], "latency: must be >= 0 seconds, got '-1'"),
        (["set", "error_rate=compute"], "error_rate: expected name:value pairs separated by commas, "
                                        "as in error_rate=compute:0.3"),
        (["set"], "set: give at least one knob=value, e.g. `set latency=0.5"),
        (["latency=1"], "latency=1: unknown action; choose among show, set, clear; did you mean "
                        "`set latency=1`?"),
        (["clear", "latency.x"], "latency.x: only error_rate and quota have parts"),
    ],
)  # fmt: skip
def test_a_mistake_is_one_line_and_changes_nothing(
    capsys: pytest.CaptureFixture[str], info: SandboxInfo, sandbox: Sandbox, args: list[str], message: str
) -> None:
    faults(capsys, info, "set", "latency=0.1")
    before = sandbox.faults.to_dict()
    code, out, err = faults(capsys, info, *args)
    assert (code, out) == (2, "")
    assert err.startswith(f"mchub sandbox faults: {message}") and err.count("\n") == 1
    assert sandbox.faults.to_dict() == before


def test_a_sandbox_not_running_or_of_another_data_dir_is_named(
    capsys: pytest.CaptureFixture[str],
    info: SandboxInfo,
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    creds = json.loads((info.data_dir / "credentials.json").read_text())
    (other / "credentials.json").write_text(json.dumps({**creds, "password": "not-this-one"}))
    code, _, err = sandbox_cli(capsys, "faults", "--data", str(other), "--url", info.url)
    assert code == 2 and "refused the credentials of the data dir given" in err
    assert "not-this-one" not in err and creds["password"] not in err

    code, _, err = sandbox_cli(capsys, "faults", "--data", str(tmp_path / "nowhere"))
    assert code == 2 and f"{tmp_path / 'nowhere' / 'credentials.json'} not found" in err

    # Without --data: MCHUB_SANDBOX_DATA, as `mchub serve --sandbox` uses it; the URL from clouds.yaml.
    monkeypatch.setenv("MCHUB_SANDBOX_DATA", str(info.data_dir))
    assert sandbox_cli(capsys, "faults", "set", "boot_delay=0")[0] == 0
    assert sandbox.faults.boot_delay == 0
    sandbox.stop()
    code, _, err = sandbox_cli(capsys, "faults")
    assert code == 2
    assert err == (
        f"mchub sandbox faults: the sandbox at {info.url} (its URL in {info.clouds_yaml}, where it last "
        "started) is not running; start it with `mchub sandbox` (or `mchub serve --sandbox`), or give its "
        "--data DIR or --url\n"
    )


def test_url_given_when_the_data_dir_has_no_clouds_yaml(
    capsys: pytest.CaptureFixture[str], info: SandboxInfo, sandbox: Sandbox, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(info.data_dir / "credentials.json", bare / "credentials.json")
    code, out, _ = sandbox_cli(
        capsys, "faults", "--data", str(bare), "--url", info.url + "/", "set", "latency=0"
    )
    assert code == 0 and out.startswith(f"Sandbox cloud at {info.url}:")


def test_reset_starts_the_cloud_afresh_with_a_scenario(
    capsys: pytest.CaptureFixture[str], info: SandboxInfo, conn: Any
) -> None:
    conn.compute.create_keypair(name="mine", public_key=PUBLIC_KEY)
    assert len(list(conn.network.routers())) == 1
    code, out, _ = sandbox_cli(capsys, "reset", "--data", str(info.data_dir), "--scenario", "no-router")
    assert code == 0
    assert out == (
        f"Sandbox cloud at {info.url} started afresh from its seed with no-router: "
        "3 flavors, 2 images, 2 networks, 0 routers, no servers or volumes.\n"
    )
    assert list(conn.network.routers()) == [] and list(conn.compute.keypairs()) == []

    code, _, err = sandbox_cli(capsys, "reset", "--data", str(info.data_dir), "--scenario", "no-routers")
    assert (
        code == 2 and "scenario 'no-routers': unknown; choose among no-router, two-internal-networks" in err
    )
    assert list(conn.network.routers()) == []  # nothing reset by a mistake


def test_through_the_mchub_command(info: SandboxInfo, sandbox: Sandbox, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCHUB_")}
    run = subprocess.run(
        [MCHUB, "sandbox", "faults", "set", "latency=0.25", "--data", str(info.data_dir), "--json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["latency"] == 0.25 and sandbox.faults.latency == 0.25
    usage = subprocess.run([MCHUB, "sandbox", "--help"], env=env, capture_output=True, text=True, timeout=60)
    assert "mchub sandbox faults [set KNOB=VALUE... | clear [KNOB...]]" in usage.stdout
    assert "mchub sandbox reset [--scenario NAME,...]" in usage.stdout
