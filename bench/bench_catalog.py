"""Benchmark of the catalog (reconciler/catalog.py) on the sandbox cloud, over real HTTP:

1. a resources request (`Catalog.payload`, what `GET /api/resources` serves) warm (cached) vs cold
   (a fresh Catalog: connect, authenticate, discover endpoints, fetch);
2. the cold fetch with its six SDK calls run concurrently (as the catalog does) vs the same calls
   made one after another.

Each is measured with no added latency and with latency per request (a real cloud is tens of
milliseconds away). The sandbox runs in its own process (`python -m sandbox.server`), so that it
does not share this process's GIL with the threads under test. openstacksdk is imported once
before timing (it costs ~0.35 s on its own).

    .venv/bin/python bench/bench_catalog.py [--runs 7] [--latency 0.02]
    .venv/bin/python bench/bench_catalog.py --smoke   # one run of each (100 warm)

Runs from any checkout and any working directory: the sandbox is started from the checkout this
file is in, and everything it writes goes into one temporary directory.
"""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reconciler.cloud.catalog import Catalog, fetch_snapshot  # noqa: E402
from reconciler.model.settings import CloudConfig, Settings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SMOKE = {"runs": 1}  # --smoke: the smallest sizes, once (tests/bench runs it)


@contextlib.contextmanager
def sandbox_process(data: Path, latency: float) -> Iterator[Path]:
    """The sandbox cloud in a child process; yields its clouds.yaml."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "sandbox.server", "--data", str(data), "--port", str(port),
            "--latency", str(latency), "--boot-delay", "0"]  # fmt: skip
    child = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert child.stdout is not None
        for line in child.stdout:  # "Sandbox cloud listening on ..." comes once it answers
            if "clouds.yaml:" in line:
                break
        else:
            raise RuntimeError("the sandbox did not start")
        yield data / "clouds.yaml"
    finally:
        child.terminate()
        child.wait(10)


def timed(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def row(label: str, times: list[float]) -> str:
    ms = [t * 1000 for t in times]
    return f"  {label:<38} min {min(ms):9.3f}  median {statistics.median(ms):9.3f}  max {max(ms):9.3f} ms"


def bench(settings: Settings, runs: int) -> dict[str, list[float]]:
    cloud = settings.cloud("sandbox")

    def cold() -> None:
        catalog = Catalog(settings)
        data = catalog.payload("sandbox", None, settings.clusters_dir)
        assert data["fetched_at"] is not None, data["error"]
        catalog.stop()

    warm_catalog = Catalog(settings)
    warm_catalog.payload("sandbox", None, settings.clusters_dir)
    results = {
        "cold": timed(cold, runs),
        "warm": timed(lambda: warm_catalog.payload("sandbox", None, settings.clusters_dir), runs * 100),
    }
    warm_catalog.stop()
    concurrent: list[float] = []
    sequential: list[float] = []
    for _ in range(runs):  # interleaved, so that drift in the machine's load hits both alike
        concurrent += timed(lambda: fetch_snapshot(cloud, concurrent=True), 1)
        sequential += timed(lambda: fetch_snapshot(cloud, concurrent=False), 1)
    results["concurrent"], results["sequential"] = concurrent, sequential
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--latency", type=float, default=0.02, help="seconds added per request in round 2")
    parser.add_argument("--smoke", action="store_true", help=f"smallest sizes, once: {SMOKE}")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    warnings.simplefilter("ignore")  # openstacksdk 4.22's notices about itself
    import openstack  # noqa: F401  (paid once, outside the timings)

    with tempfile.TemporaryDirectory() as tmp:
        for latency in (0.0, args.latency):
            with sandbox_process(Path(tmp) / f"cloud-{latency}", latency) as clouds_yaml:
                cloud = CloudConfig("sandbox", clouds_yaml=clouds_yaml)
                settings = Settings(clusters_dir=Path(tmp) / "clusters", sandbox_data=Path(tmp)).with_cloud(
                    cloud
                )
                r = bench(settings, args.runs)
                print(f"sandbox cloud, {latency * 1000:.0f} ms added per request, {args.runs} runs "
                      f"({args.runs * 100} for warm):")  # fmt: skip
                for key, label in (("cold", "resources request, cold (first fetch)"),
                                   ("warm", "resources request, warm (cached)"),
                                   ("concurrent", "fetch, 6 SDK calls concurrently"),
                                   ("sequential", "fetch, 6 SDK calls one after another")):  # fmt: skip
                    print(row(label, r[key]))
                med = {k: statistics.median(v) for k, v in r.items()}
                print(f"  cold / warm (medians): {med['cold'] / med['warm']:,.0f}x; "
                      f"sequential / concurrent: {med['sequential'] / med['concurrent']:.2f}x\n")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
