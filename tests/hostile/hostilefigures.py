"""The figures the hostile-input suite reports: how many cases each property ran, and the hub's
memory (this process: the web app and the engine run in it): resident when idle, before the
properties; the peak while they ran (hypothesis and pytest included); and the most one request or
one reconcile added on top of what was resident when it started (the hub's own share); and the
slowest step. Written to test-output/hostile.txt (git-ignored) and printed at the end of the run."""

from __future__ import annotations

import contextlib
import os
import resource
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

OUTPUT = Path(__file__).resolve().parents[2] / "test-output" / "hostile.txt"
CASES: Counter[str] = Counter()
ANSWERS: dict[str, Counter[int]] = {}  # property -> status codes of its main request
MEMORY: dict[str, int] = {}
WORST: dict[str, str] = {}
SLOWEST: dict[str, float] = {}
GROWTH_LIMIT_KB = 200 * 1024  # one request or reconcile: a 256 KB spec never needs this much


def examples(n: int) -> int:
    """`n` examples per property, times HOSTILE_SCALE from the environment (e.g. 10 for a long
    hunt; the default run stays within ~3 minutes on 2 cores)."""
    return max(1, round(n * float(os.environ.get("HOSTILE_SCALE", "1"))))


def count(prop: str, status: int | None = None) -> None:
    """One case of `prop` ran; `status`: what its main request was answered."""
    CASES[prop] += 1
    if status is not None:
        ANSWERS.setdefault(prop, Counter())[status] += 1


def timed(label: str, seconds: float) -> None:
    """One step of the hub took `seconds`; the slowest is reported."""
    if seconds > SLOWEST.get("seconds", -1.0):
        SLOWEST["seconds"], WORST["slowest"] = seconds, label


def _status_kb(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None


def _reset_peak() -> bool:
    """Linux: writing 5 to clear_refs restarts VmHWM from the current resident size."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _note_peak() -> int:
    hwm = _status_kb("VmHWM") if MEMORY.get("peak_reset") else None
    now = hwm or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    MEMORY["peak_kb"] = max(MEMORY.get("peak_kb", 0), now)
    return now


def idle() -> None:
    """The hub idle (its app built and warmed): resident memory now; the peak starts from here."""
    if "idle_kb" in MEMORY:
        return
    MEMORY["idle_kb"] = _status_kb("VmRSS") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    MEMORY["peak_reset"] = int(_reset_peak())


@contextlib.contextmanager
def measured(label: str) -> Iterator[None]:
    """How much more than the resident memory at its start one step of the hub needed."""
    if not MEMORY.get("peak_reset"):
        yield
        return
    _note_peak()  # the peak since the last step (test data generation) counts for the suite
    start = _status_kb("VmRSS") or 0
    _reset_peak()
    yield
    growth = _note_peak() - start
    if growth > MEMORY.get("growth_kb", -1):
        MEMORY["growth_kb"], WORST["growth"] = growth, label
    assert growth < GROWTH_LIMIT_KB, f"{label} took {growth // 1024} MB more memory"


def peak() -> None:
    """The highest resident memory since `idle()`; written out with the case counts."""
    _note_peak()
    OUTPUT.parent.mkdir(exist_ok=True)
    OUTPUT.write_text("\n".join(lines()) + "\n")


def lines() -> list[str]:
    out = []
    for prop, n in sorted(CASES.items()):
        answers = ", ".join(f"{code}: {k}" for code, k in sorted(ANSWERS.get(prop, Counter()).items()))
        out.append(f"{prop}: {n} cases" + (f" (answered {answers})" if answers else ""))
    out.append(f"total: {sum(CASES.values())} cases")
    if "idle_kb" in MEMORY:
        idle_mb, peak_mb = MEMORY["idle_kb"] / 1024, MEMORY.get("peak_kb", 0) / 1024
        how = "VmHWM since idle" if MEMORY.get("peak_reset") else "ru_maxrss, with all that ran before"
        out.append(f"hub process memory: idle {idle_mb:.0f} MB resident, peak {peak_mb:.0f} MB ({how})")
    if "seconds" in SLOWEST:
        out.append(f"slowest step: {SLOWEST['seconds']:.3f} s ({WORST['slowest'][:200]!r}); the limit is 2 s")
    if "growth_kb" in MEMORY:
        out.append(f"most one step added: {MEMORY['growth_kb'] / 1024:.1f} MB ({WORST['growth'][:200]!r})")
    return out
