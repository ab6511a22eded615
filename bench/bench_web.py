"""Benchmark of the web view with 1,000 clusters' specs and statuses on disk.

Serves `create_app` with uvicorn in its own process (the server stack `mchub serve` runs), with a
fixed catalog, and drives it with a local load generator (asyncio, HTTP/1.1 keep-alive, N
connections) from this process. Measures requests per second and p50/p99 latency of:

  static     GET /static/favicon.svg            the baseline: a small static file, same server
  status     GET /api/clusters/<name>/status    across all clusters, no ETag (200 + JSON)
  status304  the same with If-None-Match        (304, what polling mostly costs)
  list304    GET /api/clusters with If-None-Match
  dashboard  GET /                              the full page, 1,000 rows
  partial304 GET /partials/dashboard with If-None-Match (the dashboard's polling)

and prints each next to the static baseline.

    .venv/bin/python bench/bench_web.py [--clusters 1000] [--seconds 5] [--connections 16]
    .venv/bin/python bench/bench_web.py --url http://127.0.0.1:5000   # against a running hub
    .venv/bin/python bench/bench_web.py --smoke   # 20 clusters, a fraction of a second per case

Runs from any checkout and any working directory: the server is this file (or the `mchub` beside
this Python), and every spec and status it serves is written into one temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402

from reconciler.model.status import Phase, PlanInfo, Reason, ResourceProgress, Status, write_status  # noqa: E402

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMT9GXhBldsu07Rklam11D72R5uODSJtBW9p5nUB9bI bench@example.org"
FLAVORS = [("p2-3gb", 2, 3072), ("p4-6gb", 4, 6144), ("p8-12gb", 8, 12288)]
# --smoke: the smallest sizes, once (tests/bench runs it). 20 clusters still hold every kind of status.
SMOKE = {"clusters": 20, "seconds": 0.2, "connections": 2, "warmup": 0.1, "settle": 1.0}


class FixedCatalog:
    """The catalog's payload with fixed figures (the web view never waits on a cloud here)."""

    def payload(self, cloud_name: str | None, cluster: str | None, clusters_dir: Path) -> dict[str, Any]:
        quotas = {
            k: {"limit": v, "in_use": v // 3, "remaining": v - v // 3, "cluster_usage": 0}
            for k, v in {
                "instances": 2000,
                "cores": 8000,
                "ram": 16_000_000,
                "volumes": 4000,
                "gigabytes": 400_000,
                "floating_ips": 1000,
            }.items()
        }
        return {
            "cloud": cloud_name or "sandbox",
            "fetched_at": "2026-11-27T12:00:00Z",
            "age_seconds": 1.0,
            "stale": False,
            "error": None,
            "quotas": quotas,
            "images": ["Rocky-9"],
            "networks": [],
            "flavors": [
                {"name": n, "vcpus": c, "ram": r, "disk": 0, "roles": ["mgmt", "login", "node"]}
                for n, c, r in FLAVORS
            ],
        }


# -- fixture data ------------------------------------------------------------------------------


def make_data(root: Path, count: int, absent: bool = False) -> list[str]:
    """`count` specs and statuses: most built, some building, failing, pending or awaiting approval.
    With `absent`, every spec says `ensure: absent` and every status `destroyed` (with its last
    progress kept), so that a real reconciler has nothing to do while the web view is measured."""
    specs, clusters = root / "specs", root / "clusters"
    specs.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    names = []
    for i in range(count):
        name = f"c{i:04d}"
        names.append(name)
        nodes = 1 + i % 8
        spec = {
            "cluster_name": name,
            "domain": "sandbox.localdomain",
            "image": "Rocky-9",
            "nb_users": 10,
            "instances": {
                "mgmt": {"type": "p4-6gb", "tags": ["puppet", "mgmt", "nfs"], "count": 1},
                "login": {"type": "p2-3gb", "tags": ["login", "public", "proxy"], "count": 1},
                "node": {"type": "p2-3gb", "tags": ["node"], "count": nodes},
            },
            "volumes": {"nfs": {"home": {"size": 100}, "project": {"size": 50}, "scratch": {"size": 50}}},
            "public_keys": [KEY],
        }
        if absent:
            spec["ensure"] = "absent"
        (specs / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        hosts = ["mgmt1", "login1"] + [f"node{n}" for n in range(1, nodes + 1)]
        addrs = [f'module.openstack.openstack_compute_instance_v2.instances["{h}"]' for h in hosts]
        addrs += [
            f'module.openstack.openstack_blockstorage_volume_v3.volumes["mgmt1-nfs-{v}"]'
            for v in ("home", "project", "scratch")
        ]
        kind = 0 if absent else i % 20
        status = Status(name=name)
        if kind == 19:
            continue  # a new spec, no status yet
        if kind < 15:
            outputs = {
                "public_ip": {"login1": f"203.0.113.{i % 250}"},
                "cluster_name": name,
                "domain": "sandbox.localdomain",
            }
            status = status.applied(now, "h", outputs, addrs, message="+12 ~0 -0").progressed(
                now, {a: ResourceProgress(action="create", state="done") for a in addrs}
            )
        elif kind < 17:
            status = status.started(now, Phase.BUILD_RUNNING, Reason.NEW_SPEC, f"run-{i}", "h").progressed(
                now, {a: ResourceProgress(state="done" if n < 4 else "queued") for n, a in enumerate(addrs)}
            )
        elif kind == 17:  # a build that failed (the phase follows from the run that failed)
            status = status.started(now, Phase.BUILD_RUNNING, Reason.NEW_SPEC, f"run-{i}", "h").failed(
                now, Reason.QUOTA_EXCEEDED, "Quota exceeded for cores", now + dt.timedelta(minutes=5)
            )
            assert status.phase == Phase.BUILD_ERROR
        else:
            plan = PlanInfo(id=f"p{i}", spec_hash="h", add=len(addrs), created_at=now)
            status = status.planned(now, plan)
        if absent:
            status = status.destroyed(now, Reason.DESTROYED, None)
        write_status(clusters, status)
    return names


def serve(data: Path, port: int) -> None:
    import uvicorn

    from reconciler.model.settings import Settings
    from webview.app import create_app

    app = create_app(Settings(specs_dir=data / "specs", clusters_dir=data / "clusters"), FixedCatalog())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- the load generator ----------------------------------------------------------------------


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _load(
    host: str, port: int, requests: list[bytes], seconds: float, connections: int, expect: int
) -> tuple[int, list[float]]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        i = offset
        while time.perf_counter() < stop:
            request = requests[i % len(requests)]
            i += connections
            start = time.perf_counter()
            status = await _one(reader, writer, request)
            latencies.append(time.perf_counter() - start)
            if status != expect:
                raise RuntimeError(f"expected {expect}, got {status} for {request[:80]!r}")
        writer.close()

    begin = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(connections)))
    return round(len(latencies) / (time.perf_counter() - begin)), latencies


def request(host: str, path: str, **headers: str) -> bytes:
    extra = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in headers.items())
    return f"GET {path} HTTP/1.1\r\nHost: {host}\r\n{extra}\r\n".encode()


def get(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    import httpx

    r = httpx.get(url, headers={k.replace("_", "-"): v for k, v in headers.items()}, timeout=30)
    return r.status_code, dict(r.headers), r.content


def wait_until_up(url: str, timeout: float = 30) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not answer /healthz")


def start_server(script: Path, data: Path, timeout: float = 300) -> tuple[subprocess.Popen[bytes], str]:
    """`script --serve DATA --port N` in a process of its own, returned once it answers /healthz."""
    port = free_port()
    cmd = [sys.executable, str(script), "--serve", str(data), "--port", str(port)]
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url, timeout)
    except SystemExit:
        server.kill()
        raise
    return server, url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000


def run(url: str, seconds: float, connections: int, warmup: float = 0.5) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    hostport = parts.netloc
    names = [c["name"] for c in json.loads(get(url + "/api/clusters")[2])["clusters"]]
    if not names:
        raise SystemExit("no clusters to measure")
    etags = {n: get(f"{url}/api/clusters/{n}/status")[1]["etag"] for n in names}
    list_etag = get(url + "/api/clusters")[1]["etag"]
    partial_etag = get(url + "/partials/dashboard")[1]["etag"]
    dashboard_bytes = len(get(url + "/")[2])
    cases: list[tuple[str, list[bytes], int]] = [
        ("static", [request(hostport, "/static/favicon.svg")], 200),
        ("status", [request(hostport, f"/api/clusters/{n}/status") for n in names], 200),
        (
            "status304",
            [request(hostport, f"/api/clusters/{n}/status", If_None_Match=etags[n]) for n in names],
            304,
        ),
        ("list304", [request(hostport, "/api/clusters", If_None_Match=list_etag)], 304),
        ("dashboard", [request(hostport, "/")], 200),
        ("partial304", [request(hostport, "/partials/dashboard", If_None_Match=partial_etag)], 304),
    ]
    print(
        f"{len(names)} clusters; {connections} keep-alive connections, {seconds:g} s per case; "
        f"dashboard page {dashboard_bytes / 1024:.0f} KiB; CPUs: {os.cpu_count()}"
    )
    print(f"{'case':<11} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'req/s vs static':>16}")
    baseline = None
    for name, requests, expect in cases:
        conns = min(connections, 4) if name == "dashboard" else connections
        asyncio.run(_load(host, port, requests, warmup, conns, expect))  # warm up
        rps, lat = asyncio.run(_load(host, port, requests, seconds, conns, expect))
        baseline = baseline or rps
        print(f"{name:<11} {rps:>8} {pct(lat, 0.5):>8.2f} {pct(lat, 0.99):>8.2f} {rps / baseline:>15.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of load before each case")
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="with --hub, seconds left to its reconciler's first pass before measuring",
    )
    parser.add_argument("--smoke", action="store_true", help=f"smallest sizes, once: {SMOKE}")
    parser.add_argument("--url", help="measure a hub already running there instead of starting one")
    parser.add_argument(
        "--hub",
        action="store_true",
        help="start the real `mchub serve --sandbox` (specs ensure: absent, statuses destroyed, "
        "so its reconciler stays idle) instead of create_app under uvicorn",
    )
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)  # internal: the server process
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.smoke:
        vars(args).update(SMOKE)
    if args.serve:
        serve(args.serve, args.port)
        return
    if args.url:
        run(args.url.rstrip("/"), args.seconds, args.connections, args.warmup)
        return
    with tempfile.TemporaryDirectory(prefix="mchub-bench-web-") as tmp:
        start = time.perf_counter()
        make_data(Path(tmp), args.clusters, absent=args.hub)
        print(f"wrote {args.clusters} specs and statuses in {time.perf_counter() - start:.1f} s")
        port = free_port()
        if args.hub:
            mchub = Path(sys.executable).parent / "mchub"
            cmd = [
                str(mchub),
                "serve",
                "--sandbox",
                "--port",
                str(port),
                "--sandbox-port",
                str(free_port()),
                "--specs",
                f"{tmp}/specs",
                "--clusters",
                f"{tmp}/clusters",
                "--sandbox-data",
                f"{tmp}/sandbox",
            ]
            print("server: " + " ".join(cmd[:2]) + " --sandbox (reconciler idle: every cluster destroyed)")
        else:
            cmd = [sys.executable, str(Path(__file__).resolve()), "--serve", tmp, "--port", str(port)]
            print("server: create_app under uvicorn (h11), fixed catalog")
        server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_until_up(url, timeout=120)
            if args.hub:
                time.sleep(args.settle)  # the reconciler's first pass over every spec
            start = time.perf_counter()
            get(url + "/")
            print(f"first dashboard (parses every spec and status): {time.perf_counter() - start:.2f} s")
            run(url, args.seconds, args.connections, args.warmup)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
