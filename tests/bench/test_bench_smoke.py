"""Every benchmark in bench/ runs in its --smoke mode (smallest sizes, one run) as its own process,
from a working directory outside the checkout, and prints its figures next to their baselines:
a benchmark that no longer runs, or runs only from where it was written, fails here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
NUM = r"[\d.,]+"
WEB_CASES = ("static", "status", "status304", "list304", "dashboard", "partial304")
TF_STEPS = ("init", "plan", "apply", r"plan \(no change\)", "destroy", r"provider start \(handshake\)")

# The lines each benchmark must print: its ratios against the baseline measured in the same run.
CATALOG = [rf"^  cold / warm \(medians\): {NUM}x; sequential / concurrent: {NUM}x$"] * 2
WEB = [rf"^{case} +{NUM} +{NUM} +{NUM} +{NUM}x$" for case in WEB_CASES]
TERRAFORM = [rf"^{step} +{NUM} +{NUM} +{NUM} +{NUM} +x *{NUM}$" for step in TF_STEPS]
RECONCILER = [
    rf"^  ratio \(median\) +{NUM}  \(target <= 1\.10\)$",
    rf"^  p50 {NUM} s  p99 {NUM} s  max {NUM} s ",
    r"^  Terraform processes started: 0 ",
    rf"^  CPU {NUM} s cold, {NUM} s warm \(wall {NUM} s\)",
    rf"^  baseline: reading the \d+ spec and status files: CPU {NUM} s$",
    rf"^  workers \d+: wall {NUM} s \({NUM} s per cluster\); peak RSS hub {NUM} MiB",
]
PREVIEW = [rf"^  ratio \(median\) +{NUM}  \(target <= 1\.20\)$"] * 2
LIST_CASES = ("healthz", "admin", "filtered", "partial", "partial304")
LIST = [rf"^{case} +{NUM} +{NUM} +{NUM} +{NUM}x$" for case in LIST_CASES] * 2  # at two sizes
LIST += [rf"^a status changed -> filtered partial \(median of \d+\): {NUM} ms$"] * 2
LIST += [rf"^baseline: one look at every spec and status \(state.Files.clusters\): {NUM} ms$"] * 2
POLL_CASES = ("healthz", "list304", "since304", "partial304", "first")
POLLS = [rf"^{case} +{NUM} +{NUM} +{NUM} +{NUM}x$" for case in POLL_CASES] * 2  # at two sizes
POLLS += [rf"^  (list304|partial304): {NUM}x healthz, p99 {NUM} ms .*: (ok|MISSED)$"] * 4
POLLS += [rf"^  first page: {NUM} KiB, p99 {NUM} ms .*: (ok|MISSED)$"] * 2
POLLS += [r"^a status changed -> \?since= answers c0000 \(1 of its clusters\) in \w+\.\d+$"] * 2
POLLS += [rf"^a status changed, told -> dashboard partial: median {NUM} ms, max {NUM} ms over 5 changes "
          rf"\(/healthz {NUM} ms\)$"] * 2  # fmt: skip
RESYNC = [
    rf"^  baseline: reading the 50 spec and status files: CPU {NUM} s$",
    rf"^  resync cold \(fresh hub\): CPU {NUM} s \(wall {NUM} s\), {NUM}x baseline$",
    rf"^  resync warm \(running hub\): CPU {NUM} s \(wall {NUM} s\), {NUM}x baseline$",
    rf"^  warm resync per 10,000 specs: CPU {NUM} s \(target <= 2 s\): (ok|MISSED)$",
    r"^  Terraform processes started: 0 \(target 0\)$",
    r"^  clusters still build_success: 50 of 50$",
]
HUBS = [
    rf"^1 hub  x \d+ workers:  {NUM} s$",
    rf"^3 hubs x \d+ workers:  {NUM} s$",
    rf"^  3 hubs vs 1 hub of \d+: {NUM}x faster \(target >= 2\.5\): (ok|MISSED)$",
    rf"^  3 hubs of \d+ / 1 hub of \d+: {NUM}x the time \(target <= 1\.10\): (ok|MISSED)$",
    rf"^  takeover after kill -9 of a hub holding \d+ clusters: {NUM} s \(lease {NUM} s\): (ok|MISSED)$",
]
HUBS += [HUBS[0]]  # 1 hub of W, then 1 hub of 3W
ON_TERRAFORM = [pytest.mark.terraform, pytest.mark.slow]


@pytest.mark.parametrize(
    ("script", "args", "expected"),
    [
        pytest.param("bench_catalog.py", [], CATALOG, id="catalog"),
        pytest.param("bench_web.py", [], WEB, id="web"),
        pytest.param("bench_list.py", [], LIST, id="list"),
        pytest.param("bench_polls.py", [], POLLS, id="polls"),
        pytest.param("bench_resync.py", [], RESYNC, id="resync"),
        pytest.param("bench_web.py", ["--hub"], WEB, id="web-hub", marks=ON_TERRAFORM),  # mchub serve
        pytest.param("bench_terraform.py", [], TERRAFORM, id="terraform", marks=ON_TERRAFORM),
        pytest.param("bench_reconciler.py", [], RECONCILER, id="reconciler", marks=ON_TERRAFORM),
        pytest.param("bench_preview.py", [], PREVIEW, id="preview", marks=ON_TERRAFORM),
        pytest.param("bench_hubs.py", [], HUBS, id="hubs", marks=ON_TERRAFORM),  # + PostgreSQL
    ],
)
def test_benchmark_smoke(script: str, args: list[str], expected: list[str], tmp_path: Path) -> None:
    assert BENCH.parent not in tmp_path.parents  # the point: not run from the checkout
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr[-3000:]}"
    assert done.returncode == 0, output
    for pattern in set(expected):
        found = re.findall(pattern, done.stdout, re.MULTILINE)
        assert len(found) == expected.count(pattern), f"{pattern!r} in\n{output}"
