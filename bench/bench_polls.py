"""Benchmark of polling (issue 15, item 1): what a poll of an unchanged list costs, next to /healthz
on the same server in the same run, at 1,000 and 10,000 clusters.

For each size: that many specs and statuses (bench_web.make_data), `create_app` under uvicorn in
its own process (bench_web.serve), and a local load generator (HTTP/1.1 keep-alive):

  healthz       GET /healthz                                       the baseline, same server
  list304       GET /api/clusters with If-None-Match                the API's poll of the list
  since304      GET /api/clusters?since=<version> with If-None-Match  the same, asking for changes
  partial304    GET /partials/dashboard with If-None-Match          the dashboard's poll
  first         GET /                                               the dashboard's first page

then a status rewritten and the list asked `?since=`: only that cluster comes back; and, in this
process (the app `mchub serve` runs, told of each status the hub writes, as its recorder tells it),
the dashboard's poll right after a status changed, next to /healthz asked the same way. Targets: at
1,000 clusters list304 and partial304 >= 0.5x /healthz with p99 <= 20 ms; at 10,000 the first
page <= 100 KiB with p99 <= 50 ms. Each is printed with its figure and "ok" or "MISSED".

    .venv/bin/python bench/bench_polls.py [--sizes 1000,10000] [--seconds 4] [--connections 8]
    .venv/bin/python bench/bench_polls.py --smoke   # 20 and 150 clusters, a fraction of a second

Runs from any checkout and any working directory: the server is bench_web.py, and every spec and
status it serves is written into one temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from bench_web import FixedCatalog, _load, get, make_data, pct, request, start_server  # noqa: E402

from reconciler.model.settings import Settings  # noqa: E402
from reconciler.model.status import read_status, write_status  # noqa: E402

SMOKE = {"sizes": "20,150", "seconds": 0.2, "connections": 2, "warmup": 0.1, "rounds": 5}
POLL_RATIO, POLL_P99, PAGE_BYTES, PAGE_P99 = 0.5, 20.0, 100 * 1024, 50.0


def start(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_server(HERE / "bench_web.py", data, timeout=300)


def verdict(met: bool) -> str:
    return "ok" if met else "MISSED"


def changed_since(data: Path, url: str) -> str:
    """A status rewritten, then `?since=` the version before it: the names that came back."""
    version = get(url + "/api/clusters?since=0")[2]
    before = json.loads(version)["version"]
    name = sorted(p.stem for p in (data / "specs").glob("*.yaml"))[0]
    status = read_status(data / "clusters", name)
    assert status is not None
    write_status(data / "clusters", status.progressed(dt.datetime.now(dt.UTC), dict(status.progress)))
    deadline = time.monotonic() + 5  # a large hub looks at its files again within a second
    while time.monotonic() < deadline:
        answer = json.loads(get(url + f"/api/clusters?since={before}")[2])
        if answer["clusters"]:
            names = [c["name"] for c in answer["clusters"]]
            assert names == [name], f"?since= returned {names}, expected only {name}"
            return f"{name} (1 of its clusters) in {answer['version']}"
        time.sleep(0.05)
    raise AssertionError(f"the change to {name} never showed in ?since={before}")


def changed_polls(data: Path, rounds: int) -> str:
    """The dashboard's poll after each of `rounds` status changes the web view was told of
    (Files.note, as `mchub serve`'s recorder does), in this process: its median and max, beside
    /healthz's median asked the same way."""
    from starlette.testclient import TestClient

    from webview.app import create_app

    app = create_app(Settings(specs_dir=data / "specs", clusters_dir=data / "clusters"), FixedCatalog())
    names = sorted(p.parent.name for p in (data / "clusters").glob("*/status.json"))
    step = max(1, len(names) // rounds)
    with TestClient(app, base_url="http://127.0.0.1:5000") as client:
        etag = client.get("/partials/dashboard").headers["etag"]
        base, lat = [], []
        for name in names[::step][:rounds]:
            began = time.perf_counter()
            client.get("/healthz")
            base.append(time.perf_counter() - began)
            status = read_status(data / "clusters", name)
            assert status is not None
            write_status(data / "clusters", status.progressed(dt.datetime.now(dt.UTC), dict(status.progress)))
            app.state.files.note(name)
            began = time.perf_counter()
            answer = client.get("/partials/dashboard", headers={"If-None-Match": etag})
            lat.append(time.perf_counter() - began)
            assert answer.status_code == 200, f"the change to {name} did not show: {answer.status_code}"
            etag = answer.headers["etag"]
    ms = sorted(x * 1000 for x in lat)
    return (
        f"median {ms[len(ms) // 2]:.1f} ms, max {ms[-1]:.1f} ms over {len(ms)} changes "
        f"(/healthz {pct(base, 0.5):.2f} ms)"
    )


def measure(count: int, seconds: float, connections: int, warmup: float, rounds: int = 20) -> None:
    with tempfile.TemporaryDirectory(prefix="mchub-bench-polls-") as tmp:
        data = Path(tmp)
        begin = time.perf_counter()
        make_data(data, count)
        print(f"\n{count} clusters written in {time.perf_counter() - begin:.1f} s")
        server, url = start(data)
        try:
            parts = urlsplit(url)
            host, hostname, port = parts.netloc, parts.hostname or "127.0.0.1", parts.port or 80
            first = get(url + "/")
            assert first[0] == 200, first[0]
            listed = get(url + "/api/clusters?since=0")
            version = json.loads(listed[2])["version"]
            list_tag = listed[1]["etag"]
            partial_tag = get(url + "/partials/dashboard")[1]["etag"]
            cases = [
                ("healthz", request(host, "/healthz"), 200),
                ("list304", request(host, "/api/clusters", If_None_Match=list_tag), 304),
                ("since304", request(host, f"/api/clusters?since={version}", If_None_Match=list_tag), 304),
                ("partial304", request(host, "/partials/dashboard", If_None_Match=partial_tag), 304),
                ("first", request(host, "/"), 200),
            ]
            print(f"{'case':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s vs healthz':>17}")
            baseline, seen = 0, {}
            for name, req, expect in cases:
                asyncio.run(_load(hostname, port, [req], warmup, connections, expect))  # warm up
                rps, lat = asyncio.run(_load(hostname, port, [req], seconds, connections, expect))
                baseline = baseline or rps
                seen[name] = (rps / baseline, pct(lat, 0.99))
                figures = f"{rps:>8} {pct(lat, 0.5):>8.2f} {pct(lat, 0.99):>8.2f}"
                print(f"{name:<11} {figures} {rps / baseline:>16.2f}x")
            size = len(first[2])
            print(f"first page: {size / 1024:.1f} KiB (target <= {PAGE_BYTES // 1024} KiB at 10,000)")
            for name in ("list304", "partial304"):
                ratio, p99 = seen[name]
                met = ratio >= POLL_RATIO and p99 <= POLL_P99
                print(f"  {name}: {ratio:.2f}x healthz, p99 {p99:.1f} ms (target >= {POLL_RATIO}x, "
                      f"<= {POLL_P99:g} ms at 1,000): {verdict(met)}")  # fmt: skip
            p99 = seen["first"][1]
            met = size <= PAGE_BYTES and p99 <= PAGE_P99
            print(f"  first page: {size / 1024:.1f} KiB, p99 {p99:.1f} ms "
                  f"(target <= 100 KiB, <= {PAGE_P99:g} ms at 10,000): {verdict(met)}")  # fmt: skip
            print(f"a status changed -> ?since= answers {changed_since(data, url)}")
            print(f"a status changed, told -> dashboard partial: {changed_polls(data, rounds)}")
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000", help="cluster counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of load before each case")
    parser.add_argument("--rounds", type=int, default=20, help="status changes the told poll is timed over")
    parser.add_argument("--smoke", action="store_true", help=f"smallest sizes, once: {SMOKE}")
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    print(f"{args.connections} keep-alive connections, {args.seconds:g} s per case; CPUs: {os.cpu_count()}")
    for count in (int(s) for s in str(args.sizes).split(",")):
        measure(count, args.seconds, args.connections, args.warmup, args.rounds)


if __name__ == "__main__":
    main()
