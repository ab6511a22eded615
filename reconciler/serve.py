"""`mchub serve`: one process running the reconcile loop (and, with --sandbox, the sandbox cloud),
stopping everything cleanly on Ctrl-C so Terraform gets its grace period."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import FrameType

from reconciler.settings import CloudConfig, Settings

log = logging.getLogger("mchub.serve")


def add_arguments(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument("--host", default=env("MCHUB_HOST", "127.0.0.1"), help="address to bind (MCHUB_HOST)")
    p.add_argument("--port", type=int, default=int(env("MCHUB_PORT", "5000")), help="port (MCHUB_PORT)")
    p.add_argument(
        "--sandbox",
        action="store_true",
        default=env("MCHUB_SANDBOX", "") in ("1", "true"),
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
        help="sandbox cloud port (MCHUB_SANDBOX_PORT)",
    )


def start_sandbox(args: argparse.Namespace, settings: Settings) -> tuple[Settings, object]:
    """Start the sandbox cloud and point the `sandbox` cloud setting at it."""
    from sandbox.server import Sandbox

    data = Path(args.sandbox_data) if args.sandbox_data else settings.sandbox_data
    seed = Path(args.sandbox_seed) if args.sandbox_seed else None
    box = Sandbox(data_dir=data.resolve(), seed=seed, port=args.sandbox_port)
    info = box.start()
    cloud = replace(
        settings.cloud("sandbox"),
        clouds_yaml=info.clouds_yaml,
        terraform_cli_config=info.terraform_cli_config,
    )
    print(f"sandbox cloud: {info.url} (clouds.yaml: {info.clouds_yaml}, cloud: sandbox)", flush=True)
    return replace(settings, sandbox_data=data).with_cloud(cloud), box


def serve(args: argparse.Namespace, settings: Settings) -> int:
    from reconciler.catalog import Catalog
    from reconciler.hub import make_hub
    from reconciler.loop import Loop, take_hub_lock

    settings = replace(
        settings, specs_dir=settings.specs_dir.resolve(), clusters_dir=settings.clusters_dir.resolve()
    )
    lock = take_hub_lock(settings.clusters_dir)
    box = None
    if args.sandbox:
        settings, box = start_sandbox(args, settings)
    catalog = Catalog(settings)
    hub = make_hub(settings, catalog)
    loop = Loop(hub)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            return
        print(
            "\nstopping: running Terraform gets its grace period to save state ...",
            file=sys.stderr,
            flush=True,
        )
        stop.set()
        hub.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    worker = threading.Thread(target=loop.run, name="reconcile-loop", daemon=True)
    worker.start()
    print(
        f"reconciling specs in {settings.specs_dir} (clusters in {settings.clusters_dir}); "
        f"Terraform {hub.terraform_version} at {hub.binary}",
        flush=True,
    )
    print("Ctrl-C stops the hub.", flush=True)
    try:
        while not stop.wait(0.5):
            if not worker.is_alive():
                break
    finally:
        loop.stop()
        worker.join(timeout=settings.terraform_grace + 5)
        catalog.stop()
        if box is not None:
            box.stop()  # type: ignore[attr-defined]
        lock.close()
    return 0


__all__ = ["CloudConfig", "add_arguments", "serve"]
