"""`mchub serve`: one process running the web view (uvicorn), the reconcile loop, and with --sandbox
the sandbox cloud. Ctrl-C stops everything cleanly: Terraform gets its grace period."""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler.model.settings import Settings, SettingsError

log = logging.getLogger("mchub.serve")


def add_arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument("--host", default=env("MCHUB_HOST", "127.0.0.1"), help="address to bind (MCHUB_HOST)")
    p.add_argument("--port", type=int, default=int(env("MCHUB_PORT", "5000")), help="port (MCHUB_PORT)")
    p.add_argument(
        "--sandbox",
        action="store_true",
        default=env("MCHUB_SANDBOX", "") in ("1", "true", "yes"),
        help="also run the embedded sandbox cloud (MCHUB_SANDBOX=1)",
    )
    p.add_argument(
        "--sandbox-seed",
        metavar="FILE",
        default=env("MCHUB_SANDBOX_SEED"),
        help="sandbox seed YAML (MCHUB_SANDBOX_SEED; default sandbox/seed.yaml)",
    )
    p.add_argument(
        "--sandbox-data",
        metavar="DIR",
        default=env("MCHUB_SANDBOX_DATA"),
        help="sandbox state directory (MCHUB_SANDBOX_DATA; default ./.sandbox)",
    )
    p.add_argument(
        "--sandbox-port",
        type=int,
        default=int(env("MCHUB_SANDBOX_PORT", "8999")),
        help="sandbox cloud port (MCHUB_SANDBOX_PORT; 0 = any free port)",
    )


def start_sandbox(args: argparse.Namespace, settings: Settings) -> tuple[Settings, Any]:
    """Start the sandbox cloud and point the `sandbox` cloud setting at it."""
    from sandbox.server import Sandbox

    data = (Path(args.sandbox_data) if args.sandbox_data else settings.sandbox_data).resolve()
    seed = Path(args.sandbox_seed) if args.sandbox_seed else None
    box = Sandbox(data_dir=data, seed=seed, port=args.sandbox_port)
    info = box.start()
    cloud = replace(
        settings.cloud("sandbox"),
        clouds_yaml=info.clouds_yaml,
        terraform_cli_config=info.terraform_cli_config,
    )
    print(f"sandbox cloud: {info.url} (clouds.yaml {info.clouds_yaml}, cloud name: sandbox)", flush=True)
    return replace(settings, sandbox_data=data).with_cloud(cloud), box


def _listen(host: str, port: int) -> socket.socket:
    """Bind before anything else starts, so a busy port is a clear error, not a half-started hub."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise SettingsError(f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port") from None
    sock.listen(128)
    return sock


def serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from reconciler.cloud.catalog import Catalog
    from reconciler.engine.hub import make_hub
    from reconciler.engine.loop import Loop, take_hub_lock
    from reconciler.engine.metrics import Metrics
    from webview.app import create_app
    from webview.auth import AuthConfig, BindRefused, check_bind

    settings = replace(
        settings, specs_dir=settings.specs_dir.resolve(), clusters_dir=settings.clusters_dir.resolve()
    )
    try:
        auth = AuthConfig.from_env(settings.clusters_dir)
        check_bind(args.host, auth)
        for cloud in settings.clouds.values():
            cloud.passthrough_env()  # a DNS provider without its credentials: say so now
    except (BindRefused, ValueError, SettingsError) as exc:
        print(f"mchub: {exc}", file=sys.stderr)
        return 2
    sock = _listen(args.host, args.port)
    lock = take_hub_lock(settings.clusters_dir)
    box = None
    if args.sandbox:
        settings, box = start_sandbox(args, settings)
    catalog = Catalog(settings)
    metrics = Metrics()
    hub = make_hub(settings, catalog, metrics)
    loop = Loop(hub)
    app = create_app(settings, catalog, auth, metrics=metrics)
    worker = threading.Thread(target=loop.run, name="reconcile-loop", daemon=True)
    worker.start()
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"reconciling {settings.specs_dir} -> {settings.clusters_dir} with Terraform {hub.terraform_version}",
        flush=True,
    )
    print(f"MC Hub is running at http://{host}:{sock.getsockname()[1]}/  (Ctrl-C stops it)", flush=True)
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, timeout_graceful_shutdown=3, log_config=None
    )
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])  # returns on Ctrl-C / SIGTERM
    finally:
        print(
            "stopping: running Terraform gets its grace period to save state ...", file=sys.stderr, flush=True
        )
        loop.stop()
        worker.join(timeout=settings.terraform_grace + 5)
        catalog.stop()
        if box is not None:
            box.stop()
        lock.close()
        sock.close()
    return 0
