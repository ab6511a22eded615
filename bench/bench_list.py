"""Benchmark of the cluster list for many people (issue 14): the dashboard filtered on the server,
per person, at 1,000 and 5,000 clusters, each next to /healthz measured in the same run.

For each size: that many specs and statuses (bench_web.make_data: most built, some building,
failing, pending, awaiting approval), each spec in one of two projects, committed to git by four
authors (the owner column); `create_app` under uvicorn in its own process, with `projects:` in its
settings and people arriving through a trusted proxy's header. Then, with a local load generator:

  healthz      GET /healthz                                  the baseline, same server
  admin        GET /  as carol (admin), every cluster         the full page, first page of rows
  filtered     GET /?status=error&q=c1  as alice (one project) the full page, filtered
  partial      GET /partials/dashboard?status=built&sort=-age as alice, no ETag (200)
  partial304   the same with If-None-Match                    (304: what a poll mostly costs)

and one line for a change: a status rewritten, then the filtered partial asked for (rows rebuilt
from cached parses, no git), as the median over a few changes; and the floor under every request,
the stat of every spec and status file that tells whether anything changed (state.Files.clusters).

    .venv/bin/python bench/bench_list.py [--sizes 1000,5000] [--seconds 4] [--connections 8]
    .venv/bin/python bench/bench_list.py --smoke   # 20 and 50 clusters, a fraction of a second each

Runs from any checkout and any working directory: the server is this file, and every spec, status
and git repository it serves is written into one temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import statistics
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

from reconciler.model.status import read_status, write_status  # noqa: E402

HEADER = "X-Remote-User"
AUTHORS = ("Alice Tremblay", "Bob Rodriguez", "Dave Smith", "Eve Martin")
SMOKE = {"sizes": "20,50", "seconds": 0.2, "connections": 2, "warmup": 0.1, "changes": 3}
FILTERED = "/?status=error&q=c1"
PARTIAL = "/partials/dashboard?status=built&sort=-age"


def make_fleet(root: Path, count: int) -> None:
    """`count` clusters (bench_web.make_data), half in physics and half in chemistry, committed to
    git in four commits by four authors."""
    make_data(root, count)
    specs = root / "specs"
    names = sorted(p.stem for p in specs.glob("*.yaml"))
    for i, name in enumerate(names):
        with (specs / f"{name}.yaml").open("a") as f:
            f.write(f"project: {'physics' if i % 2 == 0 else 'chemistry'}\n")
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "init", "-q", "-b", "main", str(specs)], check=True, env=env)
    quarter = -(-len(names) // len(AUTHORS))
    for n, author in enumerate(AUTHORS):
        part = names[n * quarter : (n + 1) * quarter]
        if not part:
            continue
        who = {
            "GIT_AUTHOR_NAME": author,
            "GIT_AUTHOR_EMAIL": f"{author.split()[0].lower()}@example.org",
            "GIT_COMMITTER_NAME": author,
            "GIT_COMMITTER_EMAIL": "hub@example.org",
        }
        git = ["git", "-C", str(specs)]
        subprocess.run([*git, "add", "--", *(f"{p}.yaml" for p in part)], check=True, env=env)
        subprocess.run([*git, "commit", "-q", "-m", f"clusters by {author}"], check=True, env={**env, **who})


def serve(data: Path, port: int) -> None:
    import uvicorn

    from reconciler.model.projects import Project
    from reconciler.model.settings import Settings
    from webview.app import create_app
    from webview.auth import AuthConfig

    settings = Settings(
        specs_dir=data / "specs",
        clusters_dir=data / "clusters",
        admins=("carol",),
        projects={
            "physics": Project("physics", "sandbox", ("alice",)),
            "chemistry": Project("chemistry", "sandbox", ("bob",)),
        },
    )
    app = create_app(settings, FixedCatalog(), AuthConfig(proxy_header=HEADER))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_server(Path(__file__).resolve(), data, timeout=120)


def change_cost(data: Path, url: str, changes: int) -> float:
    """Median seconds from a status rewritten to the filtered partial that shows it."""
    names = sorted(p.stem for p in (data / "specs").glob("*.yaml"))[:changes]
    took = []
    for name in names:
        status = read_status(data / "clusters", name)
        if status is None:
            continue
        write_status(data / "clusters", status.progressed(dt.datetime.now(dt.UTC), dict(status.progress)))
        begin = time.perf_counter()
        code = get(url + PARTIAL, **{HEADER: "alice"})[0]
        took.append(time.perf_counter() - begin)
        assert code == 200, code
    return statistics.median(took) if took else 0.0


def floor(data: Path, runs: int = 5) -> float:
    """Milliseconds of the one pass every dashboard request makes before anything of the list's
    own: a stat of every spec and status file (warm, in this process; the parses are cached)."""
    from webview.state import Files

    files = Files(data / "specs", data / "clusters")
    files.clusters()
    begin = time.perf_counter()
    for _ in range(runs):
        files.clusters()
    return (time.perf_counter() - begin) / runs * 1000


def measure(count: int, seconds: float, connections: int, warmup: float, changes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mchub-bench-list-") as tmp:
        data = Path(tmp)
        begin = time.perf_counter()
        make_fleet(data, count)
        took = time.perf_counter() - begin
        print(f"\n{count} clusters (2 projects, 4 git authors) written in {took:.1f} s")
        server, url = start(data)
        try:
            parts = urlsplit(url)
            host, hostname, port = parts.netloc, parts.hostname or "127.0.0.1", parts.port or 80
            begin = time.perf_counter()
            first = get(url + "/", **{HEADER: "carol"})
            took = time.perf_counter() - begin
            print(f"first dashboard (parses every spec and status, reads git): {took:.2f} s")
            assert first[0] == 200 and b"Alice Tremblay" in first[2], "the owner column is missing"
            filtered = get(url + FILTERED, **{HEADER: "alice"})
            assert filtered[0] == 200 and b"chemistry</td>" not in filtered[2], "alice sees chemistry"
            etag = get(url + PARTIAL, **{HEADER: "alice"})[1]["etag"]
            alice, carol = {HEADER.replace("-", "_"): "alice"}, {HEADER.replace("-", "_"): "carol"}
            cases = [
                ("healthz", [request(host, "/healthz")], 200, connections),
                ("admin", [request(host, "/", **carol)], 200, 2),
                ("filtered", [request(host, FILTERED, **alice)], 200, 2),
                ("partial", [request(host, PARTIAL, **alice)], 200, connections),
                ("partial304", [request(host, PARTIAL, If_None_Match=etag, **alice)], 304, connections),
            ]
            print(f"page bytes: admin {len(first[2]) // 1024} KiB, filtered {len(filtered[2]) // 1024} KiB")
            print(f"{'case':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s vs healthz':>17}")
            baseline = None
            for name, requests, expect, conns in cases:
                asyncio.run(_load(hostname, port, requests, warmup, conns, expect))  # warm up
                rps, lat = asyncio.run(_load(hostname, port, requests, seconds, conns, expect))
                baseline = baseline or rps
                figures = f"{rps:>8} {pct(lat, 0.5):>8.2f} {pct(lat, 0.99):>8.2f}"
                print(f"{name:<11} {figures} {rps / baseline:>16.2f}x")
            cost = change_cost(data, url, changes)
            print(f"a status changed -> filtered partial (median of {changes}): {cost * 1000:.0f} ms")
            print(f"baseline: one look at every spec and status (state.Files.clusters): {floor(data):.1f} ms")
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,5000", help="cluster counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of load before each case")
    parser.add_argument("--changes", type=int, default=5, help="status changes timed per size")
    parser.add_argument("--smoke", action="store_true", help=f"smallest sizes, once: {SMOKE}")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # internal: the server process
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    if args.serve:
        serve(args.serve, args.port)
        return
    conns, cpus = args.connections, os.cpu_count()
    print(f"{conns} keep-alive connections (2 for full pages), {args.seconds:g} s per case; CPUs: {cpus}")
    for count in (int(s) for s in str(args.sizes).split(",")):
        measure(count, args.seconds, args.connections, args.warmup, args.changes)


if __name__ == "__main__":
    main()
