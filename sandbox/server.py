"""Runs the sandbox cloud: uvicorn in a background thread on 127.0.0.1, a clouds.yaml for it,
and the `mchub sandbox`-style foreground command (`python -m sandbox.server`)."""

from __future__ import annotations

import argparse
import fcntl
import importlib
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import httpx
import uvicorn
import yaml

from sandbox import faultscli
from sandbox.cloud import scenarios as seed_scenarios
from sandbox.cloud.app import create_app
from sandbox.cloud.faults import FaultError, Faults
from sandbox.cloud.login import LoginNodes, choose_port
from sandbox.cloud.seed import load_seed
from sandbox.cloud.store import Credentials, Store
from sandbox.files import write_atomic

CLOUD_NAME = "sandbox"
START_TIMEOUT = 15.0


@dataclass(frozen=True)
class SandboxInfo:
    url: str
    data_dir: Path
    clouds_yaml: Path
    cloud_name: str = CLOUD_NAME
    terraform_cli_config: Path | None = None
    ssh_port: int = 22  # where its login nodes answer SSH (sandbox/cloud/login.py): the cloud's ssh_port


def write_clouds_yaml(data_dir: Path, url: str, credentials: Credentials, region: str = "RegionOne") -> Path:
    """<data_dir>/clouds.yaml (mode 0600): `sandbox` (password) and `sandbox-appcred` entries."""
    common = {"region_name": region, "interface": "public", "identity_api_version": 3}
    auth_url = f"{url}/identity/v3"
    clouds = {"clouds": {
        CLOUD_NAME: {"auth": {
            "auth_url": auth_url, "username": credentials.username, "password": credentials.password,
            "project_name": credentials.project_name, "user_domain_name": credentials.domain_name,
            "project_domain_name": credentials.domain_name}, **common},
        f"{CLOUD_NAME}-appcred": {"auth_type": "v3applicationcredential", "auth": {
            "auth_url": auth_url, "application_credential_id": credentials.application_credential_id,
            "application_credential_secret": credentials.application_credential_secret}, **common},
    }}
    path = data_dir / "clouds.yaml"
    write_atomic(path, yaml.safe_dump(clouds, sort_keys=False), mode=0o600)
    return path


def _install_terraform_mirror(dest: Path) -> Path | None:
    """Install the stand-in Terraform provider when sandbox.mirror exists (another piece of the project)."""
    try:
        mirror: Any = importlib.import_module("sandbox.mirror")
    except ModuleNotFoundError as exc:
        if exc.name in ("sandbox.mirror", "sandbox"):
            return None
        raise
    return Path(mirror.install_mirror(dest))


class Sandbox:
    """The sandbox cloud on one port; `start()` returns once it answers.

    `faults` is shared with the running app: change it (`sandbox.faults.update({...})`) to inject
    latency, errors or quota exhaustion at run time; `store` is the live state (use its lock).
    `scenarios` (sandbox/cloud/scenarios.py; default MCHUB_SANDBOX_SCENARIO=a,b) change the seed a
    fresh data dir starts from: no router, two internal or external networks, no DHCP subnet..."""

    def __init__(self, data_dir: Path, seed: Path | None = None, host: str = "127.0.0.1", port: int = 0,
                 faults: Faults | None = None, scenarios: list[str] | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.seed_path = seed
        chosen = scenarios if scenarios is not None else os.environ.get("MCHUB_SANDBOX_SCENARIO", "")
        self.scenarios = seed_scenarios.names(chosen)
        self.host, self.port = host, port
        # No faults given: the MCHUB_SANDBOX_* variables (latency, error rate, boot delay, quota).
        self.faults = faults if faults is not None else Faults.from_env()
        self.store: Store | None = None
        self.info: SandboxInfo | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self._lock_fd: int | None = None
        self.login_nodes: LoginNodes | None = None

    def start(self) -> SandboxInfo:
        if self._thread is not None:
            raise RuntimeError("the sandbox is already running")
        self._lock_data_dir()
        try:
            seed = seed_scenarios.apply(load_seed(self.seed_path), self.scenarios)
            self.store = Store.open(self.data_dir, seed)
            sock = self._socket = self._listen()
            # Keep idle connections open longer than clients poll (openstacksdk waits 5 s between
            # polls; uvicorn's default 5 s keep-alive made each poll race a closing connection).
            config = uvicorn.Config(create_app(self.store, self.faults), log_level="warning",
                                    access_log=False, lifespan="off", ws="none", timeout_keep_alive=75,
                                    timeout_graceful_shutdown=2)
            self._server = uvicorn.Server(config)
            self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                            name="sandbox-cloud", daemon=True)
            self._thread.start()
            url_host = f"[{self.host}]" if ":" in self.host else self.host
            url = f"http://{url_host}:{sock.getsockname()[1]}"
            self._wait_until_up(url)
            region = self.store.identity["region"]
            clouds = write_clouds_yaml(self.data_dir, url, self.store.credentials, region)
            mirror = _install_terraform_mirror(self.data_dir / "terraform")
            self.login_nodes = LoginNodes(self.store, self.faults, choose_port())
            self.login_nodes.start()
        except BaseException:
            self.stop()
            raise
        self.info = SandboxInfo(url=url, data_dir=self.data_dir, clouds_yaml=clouds,
                                terraform_cli_config=mirror, ssh_port=self.login_nodes.port)
        return self.info

    def _lock_data_dir(self) -> None:
        """One sandbox per data dir: an exclusive flock on <data_dir>/.lock, released by stop()."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.data_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RuntimeError(f"{self.data_dir} is in use by another sandbox (pid {holder}); "
                               f"stop it or choose another data dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _listen(self) -> socket.socket:
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are
        # TCP, and without it every response waits ~40 ms for a delayed ACK.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        return sock

    def _wait_until_up(self, url: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._thread is None or not self._thread.is_alive():
                raise RuntimeError("the sandbox server stopped while starting")
            if self._server is not None and self._server.started:
                try:
                    if httpx.get(f"{url}/identity", timeout=2.0).status_code == 300:
                        return
                except httpx.HTTPError:
                    pass
            time.sleep(0.02)
        raise TimeoutError(f"the sandbox did not answer at {url} within {START_TIMEOUT:.0f} s")

    def stop(self) -> None:
        if self.login_nodes is not None:
            self.login_nodes.stop()
            self.login_nodes = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
        self._server, self._thread, self._socket, self._lock_fd, self.info = None, None, None, None, None

    def __enter__(self) -> SandboxInfo:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=Path, default=None, metavar="FILE",
                        help="seed YAML applied on the first start of a data dir "
                             "(default: sandbox/seed.yaml)")
    parser.add_argument("--port", type=int, default=8999, help="port to listen on (0 = any free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--data", type=Path, default=Path(".sandbox"), metavar="DIR",
                        help="data dir: state, credentials, clouds.yaml (default ./.sandbox)")
    parser.add_argument("--latency", type=float, default=None, help="seconds added to every request")
    parser.add_argument("--error-rate", default=None, metavar="SERVICE=RATE,...",
                        help="probability of a 503 per service, e.g. compute=0.5,network=1")
    parser.add_argument("--boot-delay", type=float, default=None, help="seconds a server stays in BUILD")
    parser.add_argument("--login-delay", type=float, default=None,
                        help="seconds after ACTIVE before a login node's floating IP answers SSH")
    parser.add_argument("--quota", default=None, metavar="NAME=LIMIT,...",
                        help="force quota limits, e.g. cores=0,floatingip=1 (quota exhaustion)")
    parser.add_argument("--scenario", default=None, metavar="NAME,...",
                        help="change the seed of a fresh data dir: " + ", ".join(seed_scenarios.SCENARIOS))


def faults_from_args(args: argparse.Namespace) -> Faults:
    """MCHUB_SANDBOX_* variables first, then the arguments given on the command line."""
    faults = Faults.from_env()
    changes = {"latency": args.latency, "error_rate": args.error_rate, "boot_delay": args.boot_delay,
               "login_delay": getattr(args, "login_delay", None),
               "quota": getattr(args, "quota", None)}
    faults.update({k: v for k, v in changes.items() if v is not None})
    return faults


def run(args: argparse.Namespace) -> int:
    """Start the sandbox in the foreground, print how to use it, stop cleanly on Ctrl-C or SIGTERM."""
    try:
        faults = faults_from_args(args)
        chosen = getattr(args, "scenario", None)
        sandbox = Sandbox(args.data, args.seed, args.host, args.port, faults,
                          seed_scenarios.names(chosen) if chosen is not None else None)
        info = sandbox.start()
    except (FaultError, ValueError, OSError, RuntimeError) as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    previous = signal.signal(signal.SIGTERM, _stop)
    data_flag = "" if info.data_dir == Path(".sandbox").resolve() else f" --data {info.data_dir}"
    print(f"Sandbox cloud listening on {info.url}\n"
          f"  clouds.yaml: {info.clouds_yaml} (clouds: {info.cloud_name}, {info.cloud_name}-appcred)\n"
          f"  try:  export OS_CLIENT_CONFIG_FILE={info.clouds_yaml} OS_CLOUD={info.cloud_name}\n"
          f"        openstack flavor list\n"
          f"  faults: {faults.to_dict()}\n"
          f"        change them: mchub sandbox faults{data_flag} set latency=0.5 error_rate=compute:0.3\n"
          f"        (see mchub sandbox faults --help; the admin API: {info.url}/_sandbox/faults)")
    if info.terraform_cli_config:
        print(f"  terraform: export TF_CLI_CONFIG_FILE={info.terraform_cli_config}")
    print(f"  login nodes answer SSH on their floating IPs, port {info.ssh_port}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sandbox.stop()
        print("Sandbox stopped.", flush=True)
    return 0


def main(argv: list[str] | None = None, prog: str = "python -m sandbox.server",
         description: str | None = None) -> int:
    """Start the sandbox, or with `faults` / `reset` first change the one running (faultscli.py)."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] in faultscli.COMMANDS:
        return faultscli.main(args[0], args[1:], f"{prog} {args[0]}")
    parser = argparse.ArgumentParser(
        prog=prog, description=description or __doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"a running sandbox:\n  {prog} faults [set KNOB=VALUE... | clear [KNOB...]]   "
               f"latency, error rates, boot and login delays, quota\n"
               f"  {prog} reset [--scenario NAME,...]   start it afresh from its seed\n"
               f"  ({prog} faults --help for the knobs)")
    add_arguments(parser)
    return run(parser.parse_args(args))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
