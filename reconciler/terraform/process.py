"""The one place that starts processes: Terraform, run for the reconciler's
init -> plan (to a file) -> apply (that file) -> outputs steps, and destroy through a destroy plan.

Each call follows Terraform's stdout/stderr line by line into the run log (secrets redacted, runlog)
and turns a failure into a TerraformError with a kind (errors). Terraform gets its own session, so
a Ctrl-C in the hub's terminal reaches it once, through `stop()`: SIGINT to its process group
(Terraform saves state and releases its lock), then after `grace` SIGTERM, then SIGKILL. A timeout
does the same. Its output goes to files, not pipes, so it outlives a killed hub and saves its state.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from reconciler.model.files import read_regular
from reconciler.terraform import output as tfjson
from reconciler.terraform.env import TerraformEnv
from reconciler.terraform.errors import (
    FailureKind,
    TerraformError,
    classify,
    message_of,
    parse_lock_info,
    parse_text_diagnostics,
    strip_ansi,
)
from reconciler.terraform.lock import STATE_FILE
from reconciler.terraform.output import PlanSummary, ProgressCallback
from reconciler.terraform.runlog import Redactor, RunLog, Sink, Tail

__all__ = ["Terraform"]

STATE_LIMIT = 256 << 20  # a state file larger than this is read by Terraform, not by us

_OnEvent = Callable[[tfjson.Event], None]
_Proc = subprocess.Popen[bytes]


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
        log: Sink,
        timeout: float = 3600,
        grace: float = 30,
        lock_timeout: float = 30,
        json_log: Sink | None = None,
    ) -> None:
        self.workdir, self.env, self.timeout, self.grace = workdir, env, timeout, grace
        self.lock_timeout = lock_timeout  # how long plan/apply wait for the state lock
        self._environ = env.environ()
        self._log = RunLog(log, Redactor(env.secrets(self._environ)), json_log)
        self._lock = threading.Lock()  # guards the fields below, signalling and reaping
        self._proc: _Proc | None = None
        self._stopped = False
        self._interrupt: tuple[float, FailureKind] | None = None  # (when SIGINT was sent, why)
        self._term_at: float | None = None
        self._killed = False
        self._idle = threading.Event()
        self._idle.set()
        self._runner: int | None = None  # the thread running the current call
        self.on_start: Callable[[int], None] | None = None  # told each new Terraform pid (run records)

    # -- the reconciler's steps -------------------------------------------------------------------
    def init(self, upgrade: bool = False) -> None:
        self._run(["init", "-input=false", "-no-color", *(["-upgrade"] if upgrade else [])])

    def plan(self, out: Path, destroy: bool = False, speculative: bool = False) -> PlanSummary:
        """Plan to `out` (the human plan goes to the log). The summary carries Terraform's verdict
        (`-detailed-exitcode`) and its counts; the per-address detail (`addresses`, `replace`,
        `destroyed`) costs one more Terraform process: ask `plan_summary(out)` when it is needed.
        A `speculative` plan (a preview, on a copy of the state) takes no lock."""
        lock = "-lock=false" if speculative else self._lock_flag()
        args = ["plan", f"-out={out}", "-detailed-exitcode", "-input=false", "-no-color", lock]
        result = self._run([*args, *(["-destroy"] if destroy else [])], ok=(0, 2), capture="tee")
        return tfjson.summary_from_text(result.stdout, result.exit_code)

    def plan_actions(self, out: Path, speculative: bool = False) -> PlanSummary:
        """`plan` with Terraform's JSON event stream: the summary carries every address and its
        action (create, update, delete, replace) at no extra cost; no attribute values."""
        lock = "-lock=false" if speculative else self._lock_flag()
        planned = tfjson.PlannedChanges()
        args = ["plan", f"-out={out}", "-detailed-exitcode", "-input=false", "-json", lock]
        result = self._run(args, ok=(0, 2), on_event=planned.feed)
        return planned.summary(result.exit_code)

    def plan_summary(self, planfile: Path, exit_code: int | None = None) -> PlanSummary:
        """Read a saved plan (`show -json`); `exit_code` is its `plan -detailed-exitcode`, if known."""
        return tfjson.plan_summary(self.show_plan(planfile), exit_code)

    def show_plan(self, planfile: Path) -> dict[str, Any]:
        """A saved plan as Terraform's JSON (`show -json`): every resource change, before and after."""
        shown = self._run(["show", "-json", str(planfile)], capture=True)
        plan: dict[str, Any] = json.loads("".join(shown.stdout))
        return plan

    def apply(self, planfile: Path, on_progress: ProgressCallback | None = None) -> None:
        """Apply a saved plan; `on_progress(address, running|done|failed, action)` as it happens."""
        progress = tfjson.Progress(on_progress)
        args = ["apply", "-json", "-input=false", self._lock_flag(), str(planfile)]
        self._run(args, on_event=progress.feed)

    def push_state(self, path: Path) -> None:
        """`state push`: put a state file back into the backend (Terraform refuses one of another
        lineage, or older than the backend's: then this raises and nothing is written)."""
        self._run(["state", "push", self._lock_flag(), str(path)])

    def outputs(self) -> dict[str, Any]:
        """Output values, unwrapped; sensitive ones included (see `output_details` for which)."""
        return {name: o.get("value") for name, o in self.output_details().items()}

    def output_details(self) -> dict[str, dict[str, Any]]:
        """`output -json` as Terraform gives it: name -> {value, type, sensitive}."""
        state = self._local_state()
        if state is not None:
            return {name: dict(o) for name, o in (state.get("outputs") or {}).items()}
        result = self._run(["output", "-json"], capture=True)
        details: dict[str, dict[str, Any]] = json.loads("".join(result.stdout))
        return details

    def state_resources(self) -> list[str]:
        """Addresses in the state, as `terraform state list` prints them."""
        state = self._local_state()
        if state is not None:
            return tfjson.state_addresses(state)
        result = self._run(["state", "list"], capture=True, ok=(0, 1))
        if result.exit_code == 1:
            if any("No state file was found" in line for line in result.stderr):
                return []
            self._fail(["state", "list"], result)
        return [line.strip() for line in result.stdout if line.strip()]

    def stop(self, wait: bool = True) -> None:
        """Interrupt the running command (it raises INTERRUPTED) and refuse new ones; with `wait`,
        return once Terraform has exited (at once if called from a callback of the running call)."""
        with self._lock:
            self._stopped = True
            self._send_interrupt(FailureKind.INTERRUPTED)
            caller_runs_it = self._runner == threading.get_ident()
        if wait and not caller_runs_it:
            self._idle.wait()

    def _local_state(self) -> dict[str, Any] | None:
        """The state file itself when the working dir uses the implicit local backend (reading it
        costs no Terraform process); None when a backend is configured: then Terraform is asked."""
        if (self.workdir / ".terraform" / "terraform.tfstate").exists():
            return None
        try:
            state = json.loads(read_regular(self.workdir / STATE_FILE, STATE_LIMIT))
        except FileNotFoundError:
            return {"resources": [], "outputs": {}}
        except ValueError:  # not JSON, or refused (a link, too big): let Terraform itself answer
            return None
        return state if isinstance(state, dict) and state.get("version") == 4 else None

    # -- running one process ----------------------------------------------------------------------
    def _lock_flag(self) -> str:
        return f"-lock-timeout={max(0, round(self.lock_timeout))}s"

    def _run(
        self,
        args: Sequence[str],
        *,
        ok: Sequence[int] = (0,),
        capture: bool | Literal["tee"] = False,
        on_event: _OnEvent | None = None,
    ) -> _Run:
        """Start Terraform, follow it to its end, and raise what went wrong (or return what it said)."""
        command = shlex.join([self.env.binary.name, *args])
        proc, out, err = self._start(args, command)
        try:
            result = self._follow(proc, out, err, capture, on_event)
        finally:
            out.close()
            err.close()
            with self._lock:
                why = self._interrupt[1] if self._interrupt else None
                self._proc, self._runner = None, None
                self._idle.set()
        if result.error is not None:
            raise result.error
        if why is not None:
            limit = f"after {self.timeout:g}s" if why is FailureKind.TIMEOUT else "by the hub"
            message = f"{command} was interrupted {limit}"
            raise TerraformError(why, message, command, result.exit_code, result.diagnostics)
        if result.exit_code not in ok:
            self._fail(args, result)
        return result

    def _start(self, args: Sequence[str], command: str) -> tuple[_Proc, IO[bytes], IO[bytes]]:
        """Start one Terraform process (refused once stopped), its output going to two files."""
        argv = [os.path.abspath(self.env.binary), *args]
        with self._lock:
            if self._stopped:
                raise TerraformError(FailureKind.INTERRUPTED, "the hub is stopping", command=command)
            if self._proc is not None:
                raise RuntimeError(f"terraform is already running in {self.workdir}")
            self._log.line(f"$ {command}")
            # Output goes to (nameless) files, not pipes: if the hub dies, Terraform finishes and
            # saves its state instead of dying of SIGPIPE mid-apply. Its own session keeps the
            # terminal's Ctrl-C away from it: that reaches it through stop().
            out, err = tempfile.TemporaryFile(dir=self.workdir), tempfile.TemporaryFile(dir=self.workdir)
            try:
                self._proc = subprocess.Popen(
                    argv, cwd=self.workdir, env=self._environ, stdin=subprocess.DEVNULL,
                    stdout=out, stderr=err, start_new_session=True,
                )  # fmt: skip
            except OSError as exc:
                out.close()
                err.close()
                raise TerraformError(FailureKind.CONFIG, f"cannot run {argv[0]}: {exc}", command) from exc
            self._idle.clear()
            self._runner = threading.get_ident()
            self._interrupt, self._term_at, self._killed = None, None, False
            return self._proc, out, err

    def _follow(
        self, proc: _Proc, out: IO[bytes], err: IO[bytes], capture: bool | str, on_event: _OnEvent | None
    ) -> _Run:
        """Tell `on_start` the pid, then follow the output until Terraform exits."""
        started = self.on_start
        try:
            if started is not None:
                started(proc.pid)
        finally:  # whatever the callback does, follow Terraform to its end
            result = self._pump(proc, Tail(out.fileno()), Tail(err.fileno()), capture, on_event)
        return result

    def _pump(
        self, proc: _Proc, out: Tail, err: Tail, capture: bool | str, on_event: _OnEvent | None
    ) -> _Run:
        """Follow Terraform's output line by line until it exits, watching the clock and stop()."""
        result, deadline = _Run(exit_code=-1), time.monotonic() + self.timeout
        while True:
            exited = self._tick(proc, deadline)  # before reading, so the last read gets everything
            lines = [("stdout", text) for text in out.read(exited)]
            lines += [("stderr", text) for text in err.read(exited)]
            for stream, line in lines:
                try:
                    self._line(stream, line, result, capture, on_event)
                except Exception as exc:  # a callback failed: let Terraform finish, then raise it
                    result.error = result.error or exc
            if exited:
                break
            if not lines:
                self._nap(proc, 0.1)
        if self._interrupt is not None:  # plugins Terraform could not stop
            _killpg(proc.pid, signal.SIGKILL)
        result.exit_code = proc.returncode
        return result

    def _nap(self, proc: _Proc, seconds: float) -> None:
        """Wait for more output, or for the process to end (whichever comes first)."""
        try:
            proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            pass
        except KeyboardInterrupt:  # Ctrl-C where the hub runs in the foreground: stop gracefully
            with self._lock:
                self._stopped = True
                self._send_interrupt(FailureKind.INTERRUPTED)

    def _tick(self, proc: _Proc, deadline: float) -> bool:
        """Enforce the timeout and the signal ladder; True once the process has exited."""
        with self._lock:
            if time.monotonic() >= deadline:
                self._send_interrupt(FailureKind.TIMEOUT)
            self._escalate(time.monotonic())
            return proc.poll() is not None

    def _line(
        self, stream: str, line: str, result: _Run, capture: bool | str, on_event: _OnEvent | None
    ) -> None:
        """One line of output: to the log (a JSON event as its human message), kept if needed."""
        event = tfjson.parse_event(line) if on_event is not None and stream == "stdout" else None
        if stream == "stderr":
            result.stderr.append(line)
        elif capture:
            result.stdout.append(line)
            if capture != "tee":  # machine-read output stays out of the log
                return
        if event is None:
            self._log.line(line)
            return
        self._log.event(event)
        if event.get("type") == "diagnostic" and isinstance(event.get("diagnostic"), dict):
            result.diagnostics.append(event["diagnostic"])
        assert on_event is not None
        on_event(event)

    def _fail(self, args: Sequence[str], result: _Run) -> None:
        redact, stderr = self._log.redact, "\n".join(result.stderr)
        diags = [redact.data(d) for d in result.diagnostics + parse_text_diagnostics(stderr)]
        kind, first = classify(diags, redact(strip_ansi(stderr)))
        info = parse_lock_info(str(first.get("detail", ""))) if first and kind is FailureKind.LOCKED else None
        raise TerraformError(
            kind, message_of(first, redact(stderr), folder=f"clusters/{self.workdir.name}/"),
            shlex.join([self.env.binary.name, *args]),
            exit_code=result.exit_code, diagnostics=diags, lock_info=info,
        )  # fmt: skip

    # -- signals (called with self._lock held) ----------------------------------------------------
    def _send_interrupt(self, why: FailureKind) -> None:
        if self._proc is None or self._interrupt is not None or self._proc.poll() is not None:
            return
        self._interrupt = (time.monotonic(), why)
        pid = self._proc.pid
        self._log.line(f"[mchub] {why.value}: SIGINT to terraform (pid {pid}), grace {self.grace:g}s")
        _killpg(pid, signal.SIGINT)

    def _escalate(self, now: float) -> None:
        if self._proc is None or self._interrupt is None or self._proc.poll() is not None:
            return
        if self._term_at is None and now - self._interrupt[0] >= self.grace:
            self._log.line(f"[mchub] terraform did not exit {self.grace:g}s after SIGINT: sending SIGTERM")
            self._term_at = now
            _killpg(self._proc.pid, signal.SIGTERM)
        elif self._term_at is not None and not self._killed and now - self._term_at >= min(self.grace, 5.0):
            self._log.line("[mchub] terraform ignored SIGTERM: sending SIGKILL")
            self._killed = True
            _killpg(self._proc.pid, signal.SIGKILL)


def _killpg(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
