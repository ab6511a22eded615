"""Benchmark: the reconciler's own cost, each figure next to a baseline measured in the same run.

1. overhead   reconcile of a new 10-node spec on the sandbox vs `terraform init/plan/apply` by hand
              on the same main.tf (target ratio <= 1.10)
2. reaction   spec file written -> Terraform started, p50/p99 over N edits (target p50 <= 0.5 s);
              Terraform is our own fake here (the loop's reaction is measured, not Terraform's)
3. idle       1,000 unchanged specs resynced: Terraform processes started (target 0) and CPU time
              (target <= 1 s), next to the CPU time of merely reading those 1,000 files
4. throughput 20 specs dropped at once: wall time per worker count, and peak memory

    .venv/bin/python bench/bench_reconciler.py [--runs 3] [--only overhead,reaction,idle,throughput]
    .venv/bin/python bench/bench_reconciler.py --smoke   # every measurement at its smallest, once

Runs from any checkout and any working directory: every path comes from this file's location,
the sandbox package or the settings, and everything it writes goes into one temporary directory.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.engine.hub import Hub, make_hub  # noqa: E402
from reconciler.engine.loop import Loop  # noqa: E402
from reconciler.engine.reconcile import reconcile_one  # noqa: E402
from reconciler.engine.render import module_source  # noqa: E402
from reconciler.model.settings import Settings, sandbox_cloud  # noqa: E402
from reconciler.model.status import ERROR_PHASES, Phase, read_status  # noqa: E402
from reconciler.terraform import Launcher, PlanSummary, TerraformEnv, find_terraform  # noqa: E402
from sandbox.cloud.faults import Faults  # noqa: E402
from sandbox.cloud.seed import DEFAULT_SEED  # noqa: E402
from sandbox.server import Sandbox, SandboxInfo  # noqa: E402

# --smoke: the smallest size of every measurement, once (the test suite runs it: tests/bench).
SMOKE = {"runs": 1, "nodes": 1, "edits": 3, "idle_specs": 20, "throughput_specs": 2, "workers": "2"}
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMT9GXhBldsu07Rklam11D72R5uODSJtBW9p5nUB9bI bench@x"


def spec(name: str, nodes: int = 8) -> dict[str, Any]:
    return {
        "cluster_name": name,
        "domain": "bench.localdomain",
        "image": "Rocky-9",
        "instances": {
            "mgmt": {"type": "p1-1.5gb", "tags": ["puppet", "mgmt", "nfs"], "count": 1},
            "login": {"type": "p1-1.5gb", "tags": ["login", "public", "proxy"], "count": 1},
            "node": {"type": "p1-1.5gb", "tags": ["node"], "count": nodes},
        },
        "volumes": {"nfs": {"home": {"size": 10}}},
        "public_keys": [KEY],
    }


def write_spec(specs: Path, data: dict[str, Any]) -> Path:
    path = specs / f"{data['cluster_name']}.yaml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(data))
    os.replace(tmp, path)
    return path


def settings_for(root: Path, info: SandboxInfo, **changes: Any) -> Settings:
    (root / "specs").mkdir(parents=True, exist_ok=True)
    cloud = replace(
        sandbox_cloud(info.data_dir),
        clouds_yaml=info.clouds_yaml,
        terraform_cli_config=info.terraform_cli_config,
    )
    base = Settings(
        specs_dir=root / "specs", clusters_dir=root / "clusters", sandbox_data=info.data_dir, **changes
    )
    return base.with_cloud(cloud)


def stats(values: list[float]) -> str:
    return f"min {min(values):.3f}  median {statistics.median(values):.3f}  max {max(values):.3f}"


# -- 1. overhead ---------------------------------------------------------------------------------


def overhead(tmp: Path, info: SandboxInfo, box: Sandbox, runs: int, nodes: int) -> None:
    hub_times, hand_times = [], []
    for i in range(runs):
        root = Path(tempfile.mkdtemp(prefix="bench-overhead-", dir=tmp))
        settings = settings_for(root, info)
        hub = make_hub(settings)
        binary = find_terraform(settings.terraform)  # the one make_hub found
        write_spec(settings.specs_dir, spec(f"ov{i}", nodes))
        start = time.perf_counter()
        status = reconcile_one(f"ov{i}", hub)
        hub_times.append(time.perf_counter() - start)
        assert status.phase == Phase.BUILD_SUCCESS, status.message
        # The same main.tf by hand, in a fresh directory, against a cloud without that cluster.
        destroy(hub, f"ov{i}", settings)
        hand = root / "by-hand"
        hand.mkdir()
        (hand / "main.tf").write_text(moved_main_tf(settings, settings.clusters_dir / f"ov{i}", hand))
        env = by_hand_env(binary, settings)
        start = time.perf_counter()
        for args in (
            ["init", "-input=false"],
            ["plan", "-input=false", "-out=p"],
            ["apply", "-input=false", "p"],
        ):
            subprocess.run([str(binary), *args], cwd=hand, env=env, check=True, capture_output=True)
        hand_times.append(time.perf_counter() - start)
        subprocess.run(
            [str(binary), "destroy", "-auto-approve", "-input=false"],
            cwd=hand,
            env=env,
            check=True,
            capture_output=True,
        )
    ratio = statistics.median(hub_times) / statistics.median(hand_times)
    print(f"overhead: new {nodes + 2}-node spec (1 mgmt + 1 login + {nodes} nodes, 1 volume)")
    print(f"  hub reconcile      {stats(hub_times)} s")
    print(f"  terraform by hand  {stats(hand_times)} s")
    print(f"  ratio (median)     {ratio:.3f}  (target <= 1.10)")


def moved_main_tf(settings: Settings, workdir: Path, hand: Path) -> str:
    """The hub's main.tf for `workdir`, with the module source as seen from `hand` instead (a local
    module source is relative to the directory Terraform runs in)."""
    cloud = settings.cloud("sandbox")
    text = (workdir / "main.tf").read_text()
    seen_from = {d: f'"{module_source(cloud, settings.templates_dir, d)}"' for d in (workdir, hand)}
    if text.count(seen_from[workdir]) != 1:
        raise SystemExit(f"{workdir}/main.tf: no module source {seen_from[workdir]} to move")
    return text.replace(seen_from[workdir], seen_from[hand])


def by_hand_env(binary: Path, settings: Settings) -> dict[str, str]:
    cloud = settings.cloud("sandbox")
    env = TerraformEnv(
        binary=binary,
        cli_config=cloud.terraform_cli_config,
        clouds_yaml=cloud.clouds_yaml,
        cloud="sandbox",
        plugin_cache=settings.clusters_dir / ".plugin-cache",
    )
    return env.environ()


def destroy(hub: Hub, name: str, settings: Settings) -> None:
    data = spec(name)
    data["ensure"] = "absent"
    write_spec(settings.specs_dir, data)
    status = reconcile_one(name, hub)
    assert status.phase == Phase.DESTROYED, status.message


# -- 2. reaction ---------------------------------------------------------------------------------


class StartRecorder:
    """A stand-in for our Terraform wrapper that notes when the reconciler starts it."""

    starts: list[float] = []

    def __init__(self, workdir: Path, *args: Any, **kwargs: Any) -> None:
        self.on_start = None

    def init(self, upgrade: bool = False) -> None:
        StartRecorder.starts.append(time.perf_counter())

    def plan(self, out: Path, destroy: bool = False) -> PlanSummary:
        return PlanSummary(0, 0, 0, [], [], {}, False, False)

    def outputs(self) -> dict[str, Any]:
        return {}

    def state_resources(self) -> list[str]:
        return []

    def stop(self, wait: bool = True) -> None:
        pass


def recorded_hub(settings: Settings) -> Hub:
    """A hub whose Terraform runs are StartRecorders (the binary is only asked its version)."""
    launcher = Launcher(find_terraform(settings.terraform), make=StartRecorder)
    return make_hub(settings, terraform=launcher)


def reaction(tmp: Path, info: SandboxInfo, edits: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-reaction-", dir=tmp))
    settings = settings_for(root, info, debounce=0.2, resync_interval=3600)
    hub = recorded_hub(settings)
    loop = Loop(hub)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    time.sleep(0.5)
    delays = []
    for i in range(edits):
        StartRecorder.starts.clear()
        written = time.perf_counter()
        write_spec(settings.specs_dir, spec("react", nodes=1 + i % 5 + (i // 5)))
        deadline = written + 10
        while not StartRecorder.starts and time.perf_counter() < deadline:
            time.sleep(0.002)
        if not StartRecorder.starts:
            raise SystemExit(f"reaction: edit {i} started no Terraform within 10 s")
        delays.append(StartRecorder.starts[0] - written)
        time.sleep(0.3)
    loop.stop()
    thread.join(10)
    delays.sort()
    p50 = statistics.median(delays)
    p99 = delays[min(len(delays) - 1, int(round(0.99 * (len(delays) - 1))))]
    print(f"reaction: spec written -> Terraform started, {edits} edits (debounce {settings.debounce} s)")
    print(f"  p50 {p50:.3f} s  p99 {p99:.3f} s  max {max(delays):.3f} s  (target p50 <= 0.5 s)")


# -- 3. idle -------------------------------------------------------------------------------------


def idle(tmp: Path, info: SandboxInfo, count: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-idle-", dir=tmp))
    settings = settings_for(root, info, resync_interval=3600)
    hub = recorded_hub(settings)
    for i in range(count):
        name = f"idle{i:04d}"
        write_spec(settings.specs_dir, spec(name, nodes=1))
        # Built, as far as the hub knows: the (recorded) Terraform found nothing to change, so the
        # status holds this spec's hash as applied and a drift check just done.
        status = reconcile_one(name, hub)
        assert status.phase == Phase.BUILD_SUCCESS, status.message
    hub = recorded_hub(settings)  # cold caches, as after a restart
    StartRecorder.starts.clear()
    files = sorted(settings.specs_dir.glob("*.yaml"))
    cpu0 = time.process_time()
    for path in files:
        path.read_bytes()
        read_status(settings.clusters_dir, path.stem)
    floor = time.process_time() - cpu0
    loop = Loop(hub)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    loop.run(once=True)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    cpu0 = time.process_time()
    loop2 = Loop(hub)
    loop2.run(once=True)  # warm: the parsed-spec cache is filled
    warm = time.process_time() - cpu0
    loop.stop()
    loop2.stop()
    print(f"idle: {count} unchanged specs resynced")
    print(f"  Terraform processes started: {len(StartRecorder.starts)}  (target 0)")
    print(f"  CPU {cpu:.3f} s cold, {warm:.3f} s warm (wall {wall:.3f} s)  (target <= 1 s)")
    print(f"  baseline: reading the {count} spec and status files: CPU {floor:.3f} s")


# -- 4. throughput -------------------------------------------------------------------------------


def throughput(tmp: Path, info: SandboxInfo, box: Sandbox, count: int, workers: list[int]) -> None:
    print(f"throughput: {count} specs (1 mgmt + 1 login + 1 node each) dropped at once")
    for n in workers:
        root = Path(tempfile.mkdtemp(prefix=f"bench-tp{n}-", dir=tmp))
        settings = settings_for(root, info, workers=n, debounce=0.2)
        hub = make_hub(settings)
        loop = Loop(hub)
        thread = threading.Thread(target=loop.run, daemon=True)
        thread.start()
        time.sleep(0.3)
        names = [f"tp{n}x{i:02d}" for i in range(count)]
        start = time.perf_counter()
        for name in names:
            write_spec(settings.specs_dir, spec(name, nodes=1))

        while not all_built(settings, names):
            time.sleep(0.2)
        wall = time.perf_counter() - start
        loop.stop()
        thread.join(10)
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"  workers {n}: wall {wall:.1f} s ({wall / count:.2f} s per cluster); peak RSS hub {own:.0f} MiB"
            f", largest child {children:.0f} MiB"
        )
        if n == workers[-1]:
            break  # the last round: the sandbox stops next, with its servers
        cleanup = make_hub(settings)  # the stopped loop's hub refuses new runs
        for name in names:  # leave the cloud empty for the next round
            destroy(cleanup, name, settings)


def all_built(settings: Settings, names: list[str]) -> bool:
    """Whether every cluster is built; a failed one stops the benchmark (it would wait forever)."""
    statuses = [read_status(settings.clusters_dir, name) for name in names]
    for s in statuses:
        if s is not None and s.phase in ERROR_PHASES:
            raise SystemExit(f"throughput: {s.name} {s.phase.value}: {s.message}")
    return all(s is not None and s.phase == Phase.BUILD_SUCCESS for s in statuses)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=8, help="nodes of the overhead's cluster")
    parser.add_argument("--edits", type=int, default=50)
    parser.add_argument("--idle-specs", type=int, default=1000)
    parser.add_argument("--throughput-specs", type=int, default=20)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--only", default="overhead,reaction,idle,throughput")
    parser.add_argument("--smoke", action="store_true", help=f"smallest sizes, one run: {SMOKE}")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory(prefix="bench-reconciler-", ignore_cleanup_errors=True) as name:
        tmp = Path(name)
        seed = tmp / "seed.yaml"
        data = yaml.safe_load(DEFAULT_SEED.read_text())
        data["quotas"] = {k: {"limit": -1, "in_use": 0} for k in data["quotas"]}
        seed.write_text(yaml.safe_dump(data))
        box = Sandbox(tmp / "cloud", seed=seed, faults=Faults(boot_delay=0.0))
        info = box.start()
        try:
            if "overhead" in only:
                overhead(tmp, info, box, args.runs, args.nodes)
            if "reaction" in only:
                reaction(tmp, info, args.edits)
            if "idle" in only:
                idle(tmp, info, args.idle_specs)
            if "throughput" in only:
                throughput(tmp, info, box, args.throughput_specs, [int(w) for w in args.workers.split(",")])
        finally:
            box.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
