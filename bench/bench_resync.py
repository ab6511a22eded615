"""Benchmark of an idle resync (issue 15, item 1): the hub's periodic look at 10,000 unchanged,
built clusters must cost <= 2 s of CPU and start no Terraform process.

The data: N specs, each with the status a build of that very spec leaves (`build_success`, its
applied hash the one the hub computes for the spec now, a drift check just done, no public login
address, so no readiness check either): what decide calls "up to date". The hub is the real one
(`make_hub`), but its Terraform boundary (`Launcher.make`) counts every launch and refuses it.

Measured, in one run, with `time.process_time` (every thread of this process):
  baseline   reading every spec and status file once (bytes and JSON): what a look must cost at least
  cold       the loop's resync on a fresh hub (every spec parsed, every module hashed once)
  warm       the same resync again: what a running hub pays at each `resync_interval`
The resync is the loop's own: `Loop._universe()`, `Loop._policy()`, then `Loop._work` of every
cluster on the loop's pool (what `_turns` dispatches), without the start-up recovery.

    .venv/bin/python bench/bench_resync.py [--specs 10000] [--workers 4]
    .venv/bin/python bench/bench_resync.py --smoke   # 50 specs, a fraction of a second

Runs from any checkout and any working directory: everything it writes goes into one temporary
directory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.engine.hub import Hub, make_hub  # noqa: E402
from reconciler.engine.loop import Loop  # noqa: E402
from reconciler.model.settings import Settings  # noqa: E402
from reconciler.model.status import Phase, Status, read_status, write_status  # noqa: E402
from reconciler.terraform import Launcher  # noqa: E402

SMOKE = {"specs": 50, "workers": 2}
TARGET_CPU = 2.0  # seconds, at 10,000 specs
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMT9GXhBldsu07Rklam11D72R5uODSJtBW9p5nUB9bI bench@example.org"


class RefusedLaunches:
    """The hub's Terraform boundary (`Launcher.make`): counts each launch and refuses it."""

    def __init__(self) -> None:
        self.launches: list[str] = []

    def __call__(self, workdir: Path, *args: Any, **kwargs: Any) -> Any:
        self.launches.append(str(workdir))
        raise RuntimeError(f"an idle resync started Terraform in {workdir}")


def spec(name: str, i: int) -> dict[str, Any]:
    return {
        "cluster_name": name,
        "domain": "sandbox.localdomain",
        "image": "Rocky-9",
        "nb_users": 10,
        "instances": {
            "mgmt": {"type": "p4-6gb", "tags": ["puppet", "mgmt", "nfs"], "count": 1},
            "login": {"type": "p2-3gb", "tags": ["login", "proxy"], "count": 1},
            "node": {"type": "p2-3gb", "tags": ["node"], "count": 1 + i % 8},
        },
        "volumes": {"nfs": {"home": {"size": 100}, "project": {"size": 50}}},
        "public_keys": [KEY],
    }


def make_hub_for(settings: Settings, boundary: RefusedLaunches) -> Hub:
    launcher = Launcher(Path(sys.executable), version="1.0.3", make=boundary)  # never started
    return make_hub(settings, terraform=launcher)


def make_data(settings: Settings, count: int) -> list[str]:
    """`count` specs, each with the status its own build would have left."""
    settings.specs_dir.mkdir(parents=True, exist_ok=True)
    settings.clusters_dir.mkdir(parents=True, exist_ok=True)
    hub = make_hub_for(settings, RefusedLaunches())
    now = dt.datetime.now(dt.UTC)
    names = [f"c{i:05d}" for i in range(count)]
    for i, name in enumerate(names):
        (settings.specs_dir / f"{name}.yaml").write_text(yaml.safe_dump(spec(name, i), sort_keys=False))
        observed = hub.specs.observe(name)
        assert observed.kind == "present" and observed.hash, observed.errors
        nodes = [f"node{n}" for n in range(1, 2 + i % 8)]
        addrs = [
            f'module.openstack.openstack_compute_instance_v2.instances["{h}"]'
            for h in ["mgmt1", "login1", *nodes]
        ]
        outputs = {"cluster_name": name, "domain": "sandbox.localdomain"}  # no public address
        write_status(settings.clusters_dir, Status(name=name).applied(now, observed.hash, outputs, addrs))
    return names


def read_everything(settings: Settings, names: list[str]) -> float:
    """CPU seconds to read every spec's bytes and every status once: the floor of any look."""
    begin = time.process_time()
    for name in names:
        (settings.specs_dir / f"{name}.yaml").read_bytes()
        json.loads((settings.clusters_dir / name / "status.json").read_bytes())
    return time.process_time() - begin


def resync(loop: Loop) -> tuple[float, float]:
    """One resync as the loop's turn makes it: (CPU seconds, wall seconds)."""
    cpu, wall = time.process_time(), time.perf_counter()
    names = sorted(loop._universe())
    policy = loop._policy()
    with loop.cond:
        loop.inflight.update(names)
    for future in [loop.pool.submit(loop._work, name, policy) for name in names]:
        future.result()
    return time.process_time() - cpu, time.perf_counter() - wall


def measure(count: int, workers: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mchub-bench-resync-") as tmp:
        root = Path(tmp)
        settings = Settings(
            specs_dir=root / "specs", clusters_dir=root / "clusters", workers=workers, drift_interval=86400
        )
        begin = time.perf_counter()
        names = make_data(settings, count)
        print(f"{count} built specs and their statuses written in {time.perf_counter() - begin:.1f} s")
        floor = max(read_everything(settings, names), 1e-6)
        boundary = RefusedLaunches()
        loop = Loop(make_hub_for(settings, boundary))  # a fresh hub: nothing parsed yet
        try:
            cold, cold_wall = resync(loop)
            warm, warm_wall = resync(loop)
        finally:
            loop.stop()
        built = sum(
            1
            for n in names
            if (s := read_status(settings.clusters_dir, n)) and s.phase == Phase.BUILD_SUCCESS
        )
        scale = 10_000 / count  # the target is at 10,000 specs; a resync grows with their number
        print(f"  baseline: reading the {count} spec and status files: CPU {floor:.3f} s")
        for label, cpu, wall in (
            ("cold (fresh hub)", cold, cold_wall),
            ("warm (running hub)", warm, warm_wall),
        ):
            print(f"  resync {label}: CPU {cpu:.3f} s (wall {wall:.3f} s), {cpu / floor:.1f}x baseline")
        per = warm * scale
        verdict = "ok" if per <= TARGET_CPU else "MISSED"
        print(f"  warm resync per 10,000 specs: CPU {per:.2f} s (target <= {TARGET_CPU:g} s): {verdict}")
        print(f"  Terraform processes started: {len(boundary.launches)} (target 0)")
        print(f"  clusters still build_success: {built} of {count}")
        if boundary.launches or built != count:
            raise SystemExit("an idle resync changed something: see above")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--specs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4, help="the loop's pool (settings.workers)")
    parser.add_argument("--smoke", action="store_true", help=f"smallest size, once: {SMOKE}")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    print(f"idle resync: {args.specs} unchanged built specs; workers {args.workers}; CPUs: {os.cpu_count()}")
    measure(args.specs, args.workers)


if __name__ == "__main__":
    main()
