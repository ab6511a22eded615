"""The one place that starts processes: Terraform, run for the reconciler's
init -> plan (to a file) -> apply (that file) -> outputs steps, and destroy through a destroy plan.

Each call streams stdout/stderr line by line into the run log (secrets redacted), and turns a
failure into a TerraformError with a kind (tferrors). Processes get their own process group, so a
Ctrl-C in the hub's terminal reaches Terraform once, through `stop()`: SIGINT (Terraform saves state
and releases its lock), then after `grace` SIGTERM, then SIGKILL. A timeout does the same.
"""

from __future__ import annotations

import codecs
import fcntl
import json
import os
import selectors
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

from reconciler import tfjson
from reconciler.tfenv import Redactor, TerraformEnv, find_terraform
from reconciler.tferrors import (
    FailureKind,
    TerraformError,
    classify,
    message_of,
    parse_lock_info,
    parse_text_diagnostics,
    strip_ansi,
)
from reconciler.tfjson import PlanSummary, ProgressCallback

__all__ = [
    "FailureKind", "PlanSummary", "Terraform", "TerraformEnv", "TerraformError", "find_terraform",
    "lock_info", "lock_is_held", "terraform_version",
]  # fmt: skip

STATE_FILE = "terraform.tfstate"
LOCK_INFO_FILE = ".terraform.tfstate.lock.info"
_versions: dict[tuple[str, int], str] = {}
_OnEvent = Callable[[tfjson.Event], None]


def terraform_version(binary: Path) -> str:
    """`1.0.3`, `1.11.4`, ... from `version -json` (text for old binaries); cached per path + mtime."""
    key = (str(binary), binary.stat().st_mtime_ns)
    if key not in _versions:
        env = {"PATH": os.environ.get("PATH", os.defpath), "CHECKPOINT_DISABLE": "1"}
        env["TF_CLI_CONFIG_FILE"] = os.devnull
        argv = [str(binary), "version", "-json"]
        run = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        try:
            version = str(json.loads(run.stdout)["terraform_version"])
        except (ValueError, KeyError, TypeError):
            words = strip_ansi(run.stdout).split()  # "Terraform v1.0.3" / "OpenTofu v1.6.0"
            version = next((w[1:] for w in words if w[:1] == "v" and w[1:2].isdigit()), "")
        if not version:
            raise TerraformError(FailureKind.CONFIG, f"{binary} is not Terraform: {run.stdout[:200]!r}")
        _versions[key] = version
    return _versions[key]


def lock_info(workdir: Path) -> dict[str, Any] | None:
    """The local backend's lock info file (ID, Who, Operation, Created, ...); it may be stale."""
    try:
        info = json.loads((workdir / LOCK_INFO_FILE).read_text())
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def lock_is_held(workdir: Path) -> bool:
    """Whether a live process holds the state lock. The local backend locks terraform.tfstate with
    fcntl (released when its holder dies, even by kill -9), so a lock info file without a holder is
    stale. Do not call this from a process that holds the lock itself: POSIX locks are per process."""
    try:
        fd = os.open(workdir / STATE_FILE, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


@dataclass
class _Run:
    """What one process said."""

    exit_code: int
    stdout: list[str] = field(default_factory=list)  # kept only for captured (machine-read) output
    stderr: list[str] = field(default_factory=list)
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    error: Exception | None = None  # raised by a log or progress callback


class Terraform:
    """Terraform in one working directory. One call at a time; `stop()` from any thread."""

    def __init__(
        self,
        workdir: Path,
        env: TerraformEnv,
        log: Callable[[str], None] | TextIO,
        timeout: float = 3600,
        grace: float = 30,
        lock_timeout: float = 30,
        json_log: Callable[[str], None] | TextIO | None = None,
    ) -> None:
        self.workdir, self.env, self.timeout, self.grace = workdir, env, timeout, grace
        self.lock_timeout = lock_timeout  # how long plan/apply wait for the state lock
        self._environ = env.environ()
        self._redact = Redactor(env.secrets(self._environ))
        self._log_sink, self._json_sink = _sink(log), (_sink(json_log) if json_log is not None else None)
        self._lock = threading.Lock()  # guards the fields below, signalling and reaping
        self._proc: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._interrupt: tuple[float, FailureKind] | None = None  # (when SIGINT was sent, why)
        self._term_at: float | None = None
        self._killed = False
        self._idle = threading.Event()
        self._idle.set()
        self.on_start: Callable[[int], None] | None = None  # told each new Terraform pid (run records)

    # -- the reconciler's steps -------------------------------------------------------------------
    def init(self, upgrade: bool = False) -> None:
        self._run(["init", "-input=false", "-no-color", *(["-upgrade"] if upgrade else [])])

    def plan(self, out: Path, destroy: bool = False) -> PlanSummary:
        args = ["plan", f"-out={out}", "-detailed-exitcode", "-input=false", "-no-color", self._lock_flag()]
        result = self._run([*args, *(["-destroy"] if destroy else [])], ok=(0, 2))
        return self.plan_summary(out, result.exit_code)

    def plan_summary(self, planfile: Path, exit_code: int | None = None) -> PlanSummary:
        """Read a saved plan (`show -json`); `exit_code` is its `plan -detailed-exitcode`, if known."""
        shown = self._run(["show", "-json", str(planfile)], capture=True)
        return tfjson.plan_summary(json.loads("".join(shown.stdout)), exit_code)

    def apply(self, planfile: Path, on_progress: ProgressCallback | None = None) -> None:
        """Apply a saved plan; `on_progress(address, running|done|failed, action)` as it happens."""
        progress = tfjson.Progress(on_progress)
        args = ["apply", "-json", "-input=false", self._lock_flag(), str(planfile)]
        self._run(args, on_event=progress.feed)

    def outputs(self) -> dict[str, Any]:
        """Output values, unwrapped; sensitive ones included (see `output_details` for which)."""
        return {name: o.get("value") for name, o in self.output_details().items()}

    def output_details(self) -> dict[str, dict[str, Any]]:
        """`output -json` as Terraform gives it: name -> {value, type, sensitive}."""
        result = self._run(["output", "-json"], capture=True)
        details: dict[str, dict[str, Any]] = json.loads("".join(result.stdout))
        return details

    def state_resources(self) -> list[str]:
        result = self._run(["state", "list"], capture=True, ok=(0, 1))
        if result.exit_code == 1:
            if any("No state file was found" in line for line in result.stderr):
                return []
            self._fail(["state", "list"], result)
        return [line.strip() for line in result.stdout if line.strip()]

    def force_unlock(self, lock_id: str) -> None:
        """Release a lock left by a dead process. The local backend cannot unlock another
        process's lock ("LocalState not locked"); when no one holds it, removing the stale info
        file is all Terraform itself would do."""
        result = self._run(["force-unlock", "-force", lock_id], ok=(0, 1))
        if result.exit_code == 0:
            return
        stale = (lock_info(self.workdir) or {}).get("ID") == lock_id and not lock_is_held(self.workdir)
        if stale and any("LocalState not locked" in line for line in result.stderr):
            (self.workdir / LOCK_INFO_FILE).unlink(missing_ok=True)
            self._write(f"[mchub] removed stale lock info {lock_id} (no process holds the lock)")
            return
        self._fail(["force-unlock", "-force", lock_id], result)

    def stop(self, wait: bool = True) -> None:
        """Interrupt the running command (it raises INTERRUPTED) and refuse new ones."""
        with self._lock:
            self._stopped = True
            self._send_interrupt(FailureKind.INTERRUPTED)
        if wait:
            self._idle.wait()

    # -- running one process ----------------------------------------------------------------------
    def _lock_flag(self) -> str:
        return f"-lock-timeout={max(0, round(self.lock_timeout))}s"

    def _run(
        self,
        args: Sequence[str],
        *,
        ok: Sequence[int] = (0,),
        capture: bool = False,
        on_event: _OnEvent | None = None,
    ) -> _Run:
        argv = [os.path.abspath(self.env.binary), *args]
        command = shlex.join([self.env.binary.name, *args])
        with self._lock:
            if self._stopped:
                raise TerraformError(FailureKind.INTERRUPTED, "the hub is stopping", command=command)
            if self._proc is not None:
                raise RuntimeError(f"terraform is already running in {self.workdir}")
            self._write(f"$ {command}")
            try:
                self._proc = subprocess.Popen(
                    argv, cwd=self.workdir, env=self._environ, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                )
            except OSError as exc:
                raise TerraformError(FailureKind.CONFIG, f"cannot run {argv[0]}: {exc}", command) from exc
            self._idle.clear()
            self._interrupt, self._term_at, self._killed = None, None, False
        try:
            if self.on_start is not None:
                self.on_start(self._proc.pid)
            result = self._pump(self._proc, capture, on_event)
        finally:
            with self._lock:
                why = self._interrupt[1] if self._interrupt else None
                self._proc = None
                self._idle.set()
        if result.error is not None:
            raise result.error
        if why is not None:
            limit = f"after {self.timeout:g}s" if why is FailureKind.TIMEOUT else "by the hub"
            raise TerraformError(why, f"{command} was interrupted {limit}", command=command,
                                 exit_code=result.exit_code, diagnostics=result.diagnostics)
        if result.exit_code not in ok:
            self._fail(args, result)
        return result

    def _pump(self, proc: subprocess.Popen[bytes], capture: bool, on_event: _OnEvent | None) -> _Run:
        """Read both pipes line by line until the process ends, watching the clock and stop()."""
        result = _Run(exit_code=-1)
        deadline = time.monotonic() + self.timeout
        sel = selectors.DefaultSelector()
        assert proc.stdout is not None and proc.stderr is not None
        for pipe, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
            os.set_blocking(pipe.fileno(), False)
            decoder = codecs.getincrementaldecoder("utf-8")("replace")
            sel.register(pipe, selectors.EVENT_READ, (name, decoder, [""]))
        exited_at: float | None = None
        leftovers = False
        while sel.get_map():
            try:
                ready = sel.select(timeout=0.2)
            except KeyboardInterrupt:  # Ctrl-C where the hub runs in the foreground: stop gracefully
                with self._lock:
                    self._stopped = True
                    self._send_interrupt(FailureKind.INTERRUPTED)
                ready = []
            for key, _ in ready:
                name, decoder, pending = key.data
                chunk = os.read(key.fd, 65536)
                text = pending[0] + decoder.decode(chunk, final=not chunk)
                *lines, pending[0] = text.split("\n")
                if not chunk:
                    lines, pending[0] = ([*lines, pending[0]] if pending[0] else lines), ""
                    sel.unregister(key.fileobj)
                for line in lines:
                    try:
                        self._line(name, line.rstrip("\r"), result, capture, on_event)
                    except Exception as exc:  # a callback failed: let Terraform finish, then raise it
                        result.error = result.error or exc
            now = time.monotonic()
            with self._lock:
                if now >= deadline:
                    self._send_interrupt(FailureKind.TIMEOUT)
                self._escalate(now)
                if exited_at is None and proc.poll() is not None:
                    exited_at = now
            if exited_at is not None and now - exited_at > 5:  # a leftover child keeps the pipes open
                leftovers = True
                break
        sel.close()
        proc.stdout.close()
        proc.stderr.close()
        while True:
            with self._lock:
                self._escalate(time.monotonic())
                if proc.poll() is not None:
                    break
            time.sleep(0.1)
        if self._interrupt is not None or leftovers:  # plugins Terraform could not stop
            _killpg(proc.pid, signal.SIGKILL)
        result.exit_code = proc.returncode
        return result

    def _line(self, stream: str, line: str, result: _Run, capture: bool, on_event: _OnEvent | None) -> None:
        if stream == "stderr":
            result.stderr.append(line)
            self._write(line)
        elif capture:
            result.stdout.append(line)
        elif on_event is not None and line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                self._write(line)
                return
            if self._json_sink is not None:
                self._json_sink(self._redact(json.dumps(tfjson.mask_sensitive(event))))
            if event.get("type") == "diagnostic" and isinstance(event.get("diagnostic"), dict):
                result.diagnostics.append(event["diagnostic"])
            for human in tfjson.human_lines(event):
                self._write(human)
            on_event(event)
        else:
            self._write(line)

    def _fail(self, args: Sequence[str], result: _Run) -> None:
        stderr = "\n".join(result.stderr)
        diags = [self._redact_diag(d) for d in result.diagnostics + parse_text_diagnostics(stderr)]
        kind, first = classify(diags, self._redact(strip_ansi(stderr)))
        info = parse_lock_info(str(first.get("detail", ""))) if first and kind is FailureKind.LOCKED else None
        raise TerraformError(
            kind, message_of(first, self._redact(stderr)), command=shlex.join([self.env.binary.name, *args]),
            exit_code=result.exit_code, diagnostics=diags, lock_info=info,
        )

    def _redact_diag(self, diag: dict[str, Any]) -> dict[str, Any]:
        return json.loads(self._redact(json.dumps(diag)))  # type: ignore[no-any-return]

    def _write(self, line: str) -> None:
        self._log_sink(self._redact(strip_ansi(line)))

    # -- signals (called with self._lock held) ----------------------------------------------------
    def _send_interrupt(self, why: FailureKind) -> None:
        if self._proc is None or self._interrupt is not None or self._proc.poll() is not None:
            return
        self._interrupt = (time.monotonic(), why)
        self._write(f"[mchub] {why.value}: SIGINT to terraform (pid {self._proc.pid}), grace {self.grace:g}s")
        _killpg(self._proc.pid, signal.SIGINT)

    def _escalate(self, now: float) -> None:
        if self._proc is None or self._interrupt is None or self._proc.poll() is not None:
            return
        if self._term_at is None and now - self._interrupt[0] >= self.grace:
            self._write(f"[mchub] terraform did not exit {self.grace:g}s after SIGINT: sending SIGTERM")
            self._term_at = now
            _killpg(self._proc.pid, signal.SIGTERM)
        elif self._term_at is not None and not self._killed and now - self._term_at >= min(self.grace, 5.0):
            self._write("[mchub] terraform ignored SIGTERM: sending SIGKILL")
            self._killed = True
            _killpg(self._proc.pid, signal.SIGKILL)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _sink(target: Callable[[str], None] | IO[str]) -> Callable[[str], None]:
    if callable(target):
        return target
    lock = threading.Lock()

    def write(line: str) -> None:
        with lock:
            target.write(line + "\n")
            target.flush()

    return write
