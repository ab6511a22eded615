"""The `mchub` command at first contact, run as a user runs it (a subprocess): what it loads before
knowing the command, and the one line it prints when the hub cannot start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

MCHUB = str(Path(sys.executable).with_name("mchub"))


def mchub(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`mchub ARGS` in `cwd`, with none of the caller's MCHUB_* settings, only `env`."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MCHUB_")}
    return subprocess.run(
        [MCHUB, *args], cwd=cwd, env={**environ, **env}, capture_output=True, text=True, timeout=120
    )


def test_the_parser_loads_neither_the_sandbox_nor_uvicorn_nor_openstack() -> None:
    code = (
        "import sys; from reconciler.entry.cli import build_parser; build_parser(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('sandbox', 'uvicorn', 'openstack')))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.strip() == "[]"


def test_help_lists_every_command_and_sandbox_help_its_own_flags(tmp_path: Path) -> None:
    top = mchub(tmp_path, "--help")
    assert top.returncode == 0
    for command in ("validate", "reconcile", "serve", "sandbox", "resources"):
        assert f"    {command} " in top.stdout
    sandbox = mchub(tmp_path, "sandbox", "--help")
    assert sandbox.returncode == 0 and sandbox.stdout.startswith("usage: mchub sandbox")
    assert "--seed FILE" in sandbox.stdout and "--error-rate" in sandbox.stdout


@pytest.mark.parametrize("args", [["validate", "--bogus", "x.yaml"], ["sandbox", "--bogus"]])
def test_unknown_flags_are_refused(tmp_path: Path, args: list[str]) -> None:
    run = mchub(tmp_path, *args)
    assert run.returncode == 2 and "unrecognized arguments: --bogus" in run.stderr


@pytest.mark.parametrize("command", [["reconcile", "--once"], ["serve", "--port", "0"]])
def test_missing_terraform_is_one_line_not_a_traceback(tmp_path: Path, command: list[str]) -> None:
    missing = tmp_path / "no-such-dir" / "terraform"
    run = mchub(tmp_path, *command, MCHUB_TERRAFORM=str(missing))
    assert run.returncode == 2
    assert "Traceback" not in run.stderr + run.stdout
    assert run.stderr.splitlines() == [
        f"mchub: Terraform not found: the terraform setting (MCHUB_TERRAFORM) '{missing}' is not an "
        "executable file; correct it, or unset it to use terraform (or tofu) on PATH"
    ]


def test_a_second_hub_on_the_same_clusters_is_one_line(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from reconciler.engine.loop import "
         "take_hub_lock; h = take_hub_lock(Path('clusters')); print('held', flush=True); sys.stdin.read()"],
        cwd=tmp_path, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        run = mchub(tmp_path, "reconcile", "--once")
    finally:
        holder.communicate("")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("mchub: another mchub") and str(holder.pid) in line


def test_doctor_is_listed_and_an_unknown_cloud_is_one_line(tmp_path: Path) -> None:
    assert "    doctor " in mchub(tmp_path, "--help").stdout
    run = mchub(tmp_path, "doctor", "nowhere")
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.splitlines() == ['mchub: cloud "nowhere" is not configured; choose one of sandbox']
