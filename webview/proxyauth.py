"""Proxy mode's trust rules, used by auth.py: an authenticating reverse proxy names the user in a
header (MCHUB_PROXY_USER_HEADER), and that header is believed only when the connecting address is
one of `trusted_proxies` (default: loopback), and only when it arrives once. Anything else is
refused, and logged once per peer."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Scope

log = logging.getLogger("mchub.webview")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_USER = 200  # characters of an identity from the proxy header
NOTED_PEERS = 1024  # refused peers remembered so each is logged once (forgotten all at once past this)


class IdentityRefused(Exception):
    """An identity header this hub must not believe: from a peer that is not a trusted proxy (401),
    or sent twice / as a list (400). `detail` is the answer's text."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


def networks_of(trusted: Iterable[str]) -> tuple[Network, ...]:
    """`trusted_proxies` as networks; ValueError names the entry that is not an address or network."""
    return tuple(ipaddress.ip_network(n, strict=False) for n in trusted)


def peer_of(scope: Scope) -> str | None:
    """The connecting address (the TCP peer: `mchub serve` leaves uvicorn's X-Forwarded-For
    rewriting off, so no client can choose what this says)."""
    client = scope.get("client")
    return str(client[0]) if client else None


def is_trusted(networks: tuple[Network, ...], peer: str | None) -> bool:
    """Whether `peer` is in one of `networks` (an IPv4-mapped IPv6 address counts as IPv4)."""
    try:
        addr = ipaddress.ip_address(peer or "")
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in net for net in networks)


def proxy_user(name: str, networks: tuple[Network, ...], headers: Headers, peer: str | None) -> str | None:
    """The identity header's one value, believed only from a trusted proxy. A proxy that appends
    instead of replacing lets the client's own header through: two headers, or a comma-joined one."""
    values = headers.getlist(name)
    if not values:
        return None
    if not is_trusted(networks, peer):
        raise IdentityRefused(
            401,
            f"{name} is only believed from a trusted proxy, and {peer or 'this peer'} is not one "
            "(trusted_proxies / MCHUB_TRUSTED_PROXIES); go through the hub's reverse proxy",
        )
    if len(values) > 1 or "," in values[0]:
        raise IdentityRefused(
            400,
            f"{name} arrived more than once (or as a comma-joined list): the reverse proxy must "
            "replace this header (Apache: RequestHeader set; nginx: proxy_set_header), not append to it",
        )
    user = values[0].strip()
    if len(user) > MAX_USER:
        raise IdentityRefused(400, f"{name} is longer than {MAX_USER} characters")
    return user or None


def forwarded_scheme(scope: Scope, headers: Headers) -> None:
    """A trusted proxy that terminates TLS says so (X-Forwarded-Proto), so cookies are Secure;
    uvicorn did this for loopback proxies before its proxy-header handling was turned off."""
    values = headers.getlist("x-forwarded-proto")
    if len(values) == 1 and values[0].strip() in ("http", "https"):
        scope["scheme"] = values[0].strip()


def refusal(path: str, exc: IdentityRefused) -> Response:
    if path.startswith(("/api/", "/partials/")):
        return JSONResponse({"error": exc.detail}, status_code=exc.status)
    return PlainTextResponse(exc.detail, status_code=exc.status)


class PeerNotes:
    """Logs a refused identity header once per peer, not once per request (bounded memory)."""

    def __init__(self, header: str | None) -> None:
        self.header = header
        self.seen: set[str] = set()

    def note(self, peer: str | None, exc: IdentityRefused) -> None:
        key = peer or "?"
        if key in self.seen:
            return
        if len(self.seen) >= NOTED_PEERS:
            self.seen.clear()
        self.seen.add(key)
        log.warning("refused %s from %s (%d): %s", self.header, key, exc.status, exc.detail)
