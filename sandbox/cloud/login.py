"""Simulated login nodes: a real cloud's login node answers SSH on its floating IP some time after
the server is ACTIVE (cloud-init, then sshd). The sandbox's floating IPs are loopback addresses
(127.0.0.0/8), so it can do the same on this machine: for every floating IP associated with a
port of an ACTIVE server, after `faults.login_delay` seconds, a listener on that address answers
an SSH identification line and closes; it stops when the server or the association goes. This
lets the hub's readiness check run end to end with no cloud."""

from __future__ import annotations

import ipaddress
import logging
import selectors
import socket
import threading
import time

from sandbox.cloud.faults import Faults
from sandbox.cloud.nova_model import status_of
from sandbox.cloud.store import Store

BANNER = b"SSH-2.0-OpenSSH_9.0 sandbox-login\r\n"
PORTS = (22, 2222, 22222)  # 22 when allowed; else the first free unprivileged one
PROBE_ADDRESS = "127.77.255.254"  # where `choose_port` tries a port (in no seeded range)
TICK = 0.1  # seconds between two looks at the store

log = logging.getLogger("sandbox.login")


def choose_port(address: str = PROBE_ADDRESS) -> int:
    """The port login nodes listen on: 22 when this process may bind it and nothing on the machine
    holds it (a real sshd on 0.0.0.0:22 would answer for every loopback address, before the delay),
    else the first of PORTS that binds. The hub must probe the same port (its cloud's `ssh_port`)."""
    for port in PORTS:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((address, port))
            except OSError:
                continue
            return port
    raise OSError(f"none of the ports {', '.join(map(str, PORTS))} can be bound on {address}")


def login_addresses(store: Store) -> set[str]:
    """Loopback floating IPs associated with a port of an ACTIVE server."""
    found = set()
    with store.lock:
        for fip in list(store.table("floatingips").values()):
            port = store.get("ports", fip.get("port_id") or "")
            server = store.get("servers", (port or {}).get("device_id") or "")
            if server is None or status_of(server) != "ACTIVE":
                continue
            address = str(fip.get("floating_ip_address") or "")
            try:
                if ipaddress.IPv4Address(address).is_loopback:
                    found.add(address)
            except ValueError:
                continue
    return found


class LoginNodes:
    """The listeners, kept in step with the store by one background thread."""

    def __init__(self, store: Store, faults: Faults, port: int = 22) -> None:
        self.store, self.faults, self.port = store, faults, port
        self.seen: dict[str, float] = {}  # address -> when its server was first seen ACTIVE with it
        self.listeners: dict[str, socket.socket] = {}
        self.selector = selectors.DefaultSelector()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="sandbox-login-nodes", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        for address in list(self.listeners):
            self._close(address)
        self.selector.close()
        self.thread = None

    def listening(self) -> list[str]:
        """The addresses that answer now."""
        return sorted(self.listeners)

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self._refresh()
            except Exception:  # a bug here must not stop the cloud; say so and go on
                log.exception("the sandbox's login nodes could not be brought in step")
            if not self.listeners:
                self.stopping.wait(TICK)
                continue
            for key, _ in self.selector.select(timeout=TICK):
                self._answer(key.fileobj)  # type: ignore[arg-type]

    def _refresh(self) -> None:
        now, wanted = time.monotonic(), login_addresses(self.store)
        for address in set(self.seen) - wanted:  # the server or the association went
            self.seen.pop(address, None)
            self._close(address)
        for address in wanted:
            since = self.seen.setdefault(address, now)
            if address not in self.listeners and now - since >= self.faults.login_delay:
                self._open(address)

    def _open(self, address: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, self.port))
            sock.listen(8)
        except OSError as exc:  # e.g. another sandbox's login node on the same address: try later
            sock.close()
            log.debug("login node %s:%d cannot listen yet: %s", address, self.port, exc)
            return
        sock.setblocking(False)
        self.selector.register(sock, selectors.EVENT_READ)
        self.listeners[address] = sock

    def _close(self, address: str) -> None:
        sock = self.listeners.pop(address, None)
        if sock is not None:
            self.selector.unregister(sock)
            sock.close()

    def _answer(self, sock: socket.socket) -> None:
        """Say who we are, as an SSH server does first, and hang up."""
        try:
            conn, _ = sock.accept()
        except OSError:  # the client left already
            return
        with conn:
            conn.settimeout(1.0)
            try:
                conn.sendall(BANNER)
            except OSError:
                pass
