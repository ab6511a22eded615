"""Benchmark of a cluster of hubs (issue 15, item 5): N specs written at once, built on the sandbox
cloud with its latency knob at a real cloud's pace (every API request waits, servers boot for
seconds), so Terraform mostly waits, as it does on a real cloud. Each configuration gets a fresh
sandbox, a fresh database on one real PostgreSQL (Debian's server, tests/pgserver.py) and real
`mchub serve` processes (tests/hubs/hubprocs.py):

  1 hub  x W workers     the baseline
  3 hubs x W workers     target: >= 2.5x faster than the baseline
  1 hub  x 3W workers    the same number of workers in one hub: 3 hubs of W must not be more
                         than 10% slower (what coordinating through PostgreSQL costs)

then, on the 3 hubs, one is killed with SIGKILL and the time until the others hold all of its
clusters is measured (the lease takeover; target: within the lease time).

    .venv/bin/python bench/bench_hubs.py [--specs 60] [--workers 2] [--boot 20] [--latency 0.2]
    .venv/bin/python bench/bench_hubs.py --smoke   # 3 specs, short boots: about a minute

Wall time is the figure here (the work is waiting on the cloud); each configuration runs once, so
the ratios carry the machine's noise: run it again before trusting a miss by a few percent.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests"), str(REPO / "tests" / "hubs")]

from hubprocs import HubProc, sandbox_settings, start_hub  # noqa: E402
from pgserver import PgServer  # noqa: E402

from sandbox.cloud.faults import Faults  # noqa: E402
from sandbox.server import Sandbox  # noqa: E402

LEASE = 10.0
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMT9GXhBldsu07Rklam11D72R5uODSJtBW9p5nUB9bI bench@x"


def spec(name: str) -> dict[str, Any]:
    """A small cluster with no floating IP and no volume: the quota is not what is measured."""
    return {
        "cluster_name": name,
        "domain": "bench.localdomain",
        "image": "Rocky-9",
        "nb_users": 1,
        "instances": {
            "mgmt": {"type": "p2-3gb", "tags": ["puppet", "mgmt", "nfs"], "count": 1},
            "login": {"type": "p2-3gb", "tags": ["login", "proxy"], "count": 1},
        },
        "volumes": {},
        "public_keys": [KEY],
    }


def unlimited_seed(root: Path) -> Path:
    seed = yaml.safe_load((REPO / "sandbox" / "seed.yaml").read_text())
    seed["quotas"] = {k: {"limit": -1, "in_use": 0} for k in seed["quotas"]}
    path = root / "seed.yaml"
    path.write_text(yaml.safe_dump(seed))
    return path


def built(db: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM mchub_clusters WHERE status->>'phase' = 'build_success'")
        found = row.fetchone()
    return int(found[0]) if found else 0


def holders(db: str) -> dict[str, str]:
    with psycopg.connect(db) as conn:
        rows = conn.execute("SELECT name, holder FROM mchub_leases WHERE expires_at > now()").fetchall()
    return {str(n): str(h) for n, h in rows}


def run(
    pg: PgServer, hubs: int, workers: int, args: argparse.Namespace, kill: bool = False
) -> dict[str, float]:
    root = Path(tempfile.mkdtemp(prefix="mchub-bench-hubs-"))
    faults = Faults(latency=args.latency, boot_delay=args.boot, login_delay=0.1)
    box = Sandbox(root / "cloud", seed=unlimited_seed(root), faults=faults)
    info = box.start()
    db = pg.fresh_database()
    specs = root / "specs"
    specs.mkdir()
    settings = sandbox_settings(root, info)
    procs: list[HubProc] = []
    out: dict[str, float] = {}
    try:
        for i in range(hubs):
            procs.append(
                start_hub(root, f"hub{i + 1}", settings, db, specs, lease_ttl=LEASE, workers=workers)
            )
        started = time.monotonic()
        for i in range(args.specs):
            name = f"c{i:03d}"
            (specs / f".{name}.tmp").write_text(yaml.safe_dump(spec(name)))
            (specs / f".{name}.tmp").rename(specs / f"{name}.yaml")
        deadline = started + args.timeout
        while built(db) < args.specs:
            if time.monotonic() > deadline:
                logs = "\n".join(p.output()[-2000:] for p in procs)
                raise SystemExit(f"{hubs} x {workers}: only {built(db)} of {args.specs} built\n{logs}")
            time.sleep(0.5)
        out["wall"] = time.monotonic() - started
        if kill:
            victim = procs[0]
            lost = {n for n, h in holders(db).items() if h == victim.name}
            victim.kill9()
            killed = time.monotonic()
            while any(holders(db).get(n) in (None, victim.name) for n in lost):
                if time.monotonic() - killed > 10 * LEASE:
                    raise SystemExit("the killed hub's clusters were not taken over")
                time.sleep(0.2)
            out["takeover"] = time.monotonic() - killed
            out["lost"] = len(lost)
        return out
    finally:
        for p in procs:
            p.stop()
        box.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--specs", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--boot", type=float, default=20.0, help="seconds a server stays in BUILD")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added to every cloud request")
    parser.add_argument("--timeout", type=float, default=3600.0)
    parser.add_argument("--smoke", action="store_true", help="3 specs, 1 s boots: that it runs")
    args = parser.parse_args()
    if args.smoke:
        args.specs, args.boot, args.latency = 3, 1.0, 0.02
    pg = PgServer().start()
    try:
        w = args.workers
        print(
            f"{args.specs} specs, boot {args.boot:g} s, cloud latency {args.latency:g} s, lease {LEASE:g} s"
        )
        one = run(pg, 1, w, args)
        print(f"1 hub  x {w} workers:  {one['wall']:.1f} s", flush=True)
        three = run(pg, 3, w, args, kill=True)
        print(f"3 hubs x {w} workers:  {three['wall']:.1f} s", flush=True)
        big = run(pg, 1, 3 * w, args)
        print(f"1 hub  x {3 * w} workers:  {big['wall']:.1f} s", flush=True)
        speedup = one["wall"] / three["wall"]
        cost = three["wall"] / big["wall"]
        print(f"  3 hubs vs 1 hub of {w}: {speedup:.2f}x faster (target >= 2.5): "
              f"{'ok' if speedup >= 2.5 else 'MISSED'}")  # fmt: skip
        print(f"  3 hubs of {w} / 1 hub of {3 * w}: {cost:.2f}x the time (target <= 1.10): "
              f"{'ok' if cost <= 1.10 else 'MISSED'}")  # fmt: skip
        took = three["takeover"]
        print(f"  takeover after kill -9 of a hub holding {three['lost']:.0f} clusters: {took:.1f} s "
              f"(lease {LEASE:g} s): {'ok' if took <= LEASE * 1.5 else 'MISSED'}")  # fmt: skip
    finally:
        pg.destroy()


if __name__ == "__main__":
    main()
