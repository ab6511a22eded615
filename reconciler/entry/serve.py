"""`mchub serve`: one process running the web view (uvicorn), the reconcile loop, and with --sandbox
the sandbox cloud. Ctrl-C stops everything cleanly: Terraform gets its grace period."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.model.settings import Settings, SettingsError

if TYPE_CHECKING:
    from reconciler.engine.hub import Hub
    from reconciler.engine.loop import Loop
    from reconciler.model.spec import ClusterSpec
    from webview.auth import AuthConfig
    from webview.state import Previewer

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
        ssh_port=info.ssh_port,
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
    """Check the configuration, bind, then start each part; every part started is stopped on the
    way out, whether the web server returns (Ctrl-C, SIGTERM) or a later part fails to start."""
    from reconciler.cloud.catalog import Catalog
    from reconciler.engine.hub import make_hub
    from reconciler.engine.loop import HubBusy, Loop, take_hub_lock
    from reconciler.engine.metrics import Metrics
    from reconciler.entry.sharing import sharing
    from reconciler.entry.specsync import specs_remote
    from webview.app import create_app
    from webview.auth import BindRefused

    settings = replace(
        settings, specs_dir=settings.specs_dir.resolve(), clusters_dir=settings.clusters_dir.resolve()
    )
    try:
        auth = _checked_auth(args.host, settings)
    except (BindRefused, ValueError, SettingsError) as exc:
        print(f"mchub: {exc}", file=sys.stderr)
        return 2
    with contextlib.ExitStack() as started:
        sock = started.enter_context(_listen(args.host, args.port))
        try:
            started.callback(take_hub_lock(settings.clusters_dir).close)
        except HubBusy as exc:
            print(f"mchub: {exc}", file=sys.stderr)
            return 2
        if args.sandbox:
            settings, box = start_sandbox(args, settings)
            started.callback(box.stop)
        catalog = Catalog(settings)
        started.callback(catalog.stop)
        metrics = Metrics()
        hub = make_hub(settings, catalog, metrics)  # TerraformError when there is no Terraform
        shared = started.enter_context(sharing(settings))  # with database_url: several hubs
        loop = Loop(hub, sharing=shared)  # /healthz answers 503 when its heartbeat goes stale
        preview = previewer(hub)
        remote = started.enter_context(specs_remote(settings))  # with specs_remote: the clone, pulling
        app = create_app(
            settings, catalog, auth, metrics=metrics, preview=preview, liveness=loop.alive,
            specs_remote=remote,
        )  # fmt: skip
        hub.recorder.listeners.append(app.state.files.note)  # polls see a status at once
        if shared is not None:
            hub.recorder.listeners.append(shared.pushed)  # the statuses of the clusters it holds
            shared.mirror.listeners.append(app.state.files.note)  # and the other hubs' at once
            shared.start()
            print(f"hub {shared.holder}: sharing clusters through PostgreSQL", flush=True)
        loop.listeners.append(app.state.files.note)  # and a spec, approval or retry request
        started.enter_context(_reconciling(loop, join_timeout=settings.terraform_grace + 5))
        dirs = f"{settings.specs_dir} -> {settings.clusters_dir}"
        print(f"reconciling {dirs} with Terraform {hub.terraform_version}", flush=True)
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"MC Hub is running at http://{host}:{sock.getsockname()[1]}/  (Ctrl-C stops it)", flush=True)
        _run_web(app, sock)  # returns on Ctrl-C / SIGTERM
    return 0


def previewer(hub: Hub) -> Previewer:
    """The web view's previews (the Previewer contract, webview/state.py): the engine's speculative
    plan of a proposed spec, its PreviewError raised again as the web view's PreviewFailed."""
    from reconciler.engine.preview import PreviewError, preview
    from webview.state import PreviewFailed

    def plan(spec: ClusterSpec) -> dict[str, Any]:
        try:
            return preview(hub, spec).as_json()
        except PreviewError as exc:
            raise PreviewFailed(str(exc)) from exc

    return plan


def _checked_auth(host: str, settings: Settings) -> AuthConfig:
    """The web view's authentication, refused for an address it cannot protect; and each cloud's
    DNS credentials present (a DNS provider without its credentials: say so now, not at apply)."""
    from webview.auth import AuthConfig, check_bind

    auth = AuthConfig.from_env(
        settings.clusters_dir, trusted_proxies=settings.trusted_proxies, settings=settings
    )
    check_bind(host, auth)
    for cloud in settings.clouds.values():
        cloud.passthrough_env()
    return auth


@contextlib.contextmanager
def _reconciling(loop: Loop, join_timeout: float) -> Iterator[None]:
    """The reconcile loop in a thread; on the way out it stops, giving Terraform its grace period."""
    worker = threading.Thread(target=loop.run, name="reconcile-loop", daemon=True)
    worker.start()
    try:
        yield
    finally:
        print("stopping: running Terraform gets its grace period to save state ...", file=sys.stderr)
        loop.stop()
        worker.join(timeout=join_timeout)


def _run_web(app: Any, sock: socket.socket) -> None:
    import uvicorn

    # proxy_headers off: uvicorn would put an X-Forwarded-For address where the web view reads the
    # TCP peer, which decides whether an identity header is believed (trusted_proxies).
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=3,
        log_config=None,
        proxy_headers=False,
    )
    uvicorn.Server(config).run(sockets=[sock])
