"""Benchmark: the form's preview of an edit next to a plain `terraform plan` of the same spec, both
on a built 10-node cluster in the sandbox, measured in one run (target: preview <= 1.2x the plan).

The plain plan runs in a full copy of the cluster's initialized working directory with the edited
spec's main.tf (what Terraform by hand would cost); the preview is `reconciler.engine.preview`,
which also classifies the plan (a second Terraform process when the plan updates or deletes).

    .venv/bin/python bench/bench_preview.py [--runs 5] [--nodes 8]
    .venv/bin/python bench/bench_preview.py --smoke   # one run on a 2-node cluster

Two edits: one more node (the plan only creates: one Terraform process) and one node fewer (the
plan deletes: the preview reads it back with `show -json` to classify it, a second process).

Runs from any checkout and any working directory; everything it writes goes into one temporary
directory.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_reconciler import settings_for, spec, stats, write_spec  # noqa: E402
from reconciler.engine.executor import render_into, terraform_environment  # noqa: E402
from reconciler.engine.hub import Hub, make_hub  # noqa: E402
from reconciler.engine.preview import preview  # noqa: E402
from reconciler.engine.reconcile import reconcile_one  # noqa: E402
from reconciler.model.spec import ClusterSpec, parse_spec  # noqa: E402
from reconciler.model.status import Phase  # noqa: E402
from sandbox.cloud.faults import Faults  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402

SMOKE = {"runs": 1, "nodes": 2}


def plain_plan(hub: Hub, proposed: ClusterSpec, root: Path) -> float:
    """`terraform plan` of the proposed spec in a full copy of the cluster's working directory."""
    name = proposed.cluster_name
    hand = hub.clusters / f"by-hand-{name}"  # beside the cluster: a local module reads the same
    shutil.rmtree(hand, ignore_errors=True)
    shutil.copytree(hub.clusters / name, hand, symlinks=True, ignore=shutil.ignore_patterns("runs", "plans"))
    render_into(hub, hand, proposed)
    env = terraform_environment(hub, name, proposed).environ()
    start = time.perf_counter()
    done = subprocess.run([str(hub.terraform.binary), "plan", "-input=false", "-out=p"], cwd=hand, env=env,
                          capture_output=True, check=False)  # fmt: skip
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"terraform plan by hand failed: {done.stderr.decode()[-2000:]}")
    shutil.rmtree(hand)
    return took


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nodes", type=int, default=8, help="compute nodes (plus mgmt and login)")
    parser.add_argument("--smoke", action="store_true", help="one run on a 2-node cluster")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    with tempfile.TemporaryDirectory(prefix="bench-preview-") as tmp:
        root = Path(tmp)
        box = Sandbox(root / "cloud", faults=Faults(boot_delay=0.0))
        info = box.start()
        try:
            settings = settings_for(root, info)
            hub = make_hub(settings)
            built = spec("pv", nodes=args.nodes)
            write_spec(settings.specs_dir, built)
            status = reconcile_one("pv", hub)
            assert status.phase == Phase.BUILD_SUCCESS, status.message
            for count, what in ((args.nodes + 1, "one more node"), (args.nodes - 1, "one node fewer")):
                node = {**built["instances"]["node"], "count": count}
                proposed = parse_spec({**built, "instances": {**built["instances"], "node": node}})
                report(hub, proposed, root, args.runs, f"{what} on a built {args.nodes + 2}-instance cluster")
        finally:
            box.stop()
    return 0


def report(hub: Hub, proposed: ClusterSpec, root: Path, runs: int, title: str) -> None:
    plans, previews = [], []
    for _ in range(runs):
        plans.append(plain_plan(hub, proposed, root))
        start = time.perf_counter()
        got = preview(hub, proposed)
        previews.append(time.perf_counter() - start)
        assert got.changes, got
    ratio = statistics.median(previews) / statistics.median(plans)
    print(f"preview: {title} ({got.summary})")
    print(f"  terraform plan     {stats(plans)} s")
    print(f"  preview            {stats(previews)} s")
    print(f"  ratio (median)     {ratio:.3f}  (target <= 1.20)")


if __name__ == "__main__":
    sys.exit(main())
