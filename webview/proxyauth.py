"""Proxy mode's trust rules, used by auth.py: an authenticating reverse proxy names the user in a
header (MCHUB_PROXY_USER_HEADER), and that header is believed only when the connecting address is
one of `trusted_proxies` (default: loopback), and only when it arrives once. Anything else is
refused, and logged once per peer. Beside the user id, the proxy's other attribute headers (display
name, mail, SSH public keys, groups: Shibboleth's names by default, as MC Hub read them) are read by
`proxy_identity`, only once the user header was believed (the same trust rule)."""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import Scope

from reconciler.model.access import Identity
from reconciler.model.settings import Settings

log = logging.getLogger("mchub.webview")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_USER = 200  # characters of an identity from the proxy header
MAX_TEXT = 200  # characters of a display name or mail address
MAX_KEYS, MAX_KEY = 50, 16 * 1024  # SSH public keys from the keys header, and characters of each
MAX_GROUPS = 1000
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


@dataclass(frozen=True)
class ProxyAttributes:
    """The headers naming a person's attributes (settings `proxy_*_header`). Defaults: the
    attribute names Shibboleth sets and MC Hub read (givenName, surname, mail, sshPublicKey)."""

    name: str = "displayName"
    given_name: str = "givenName"
    surname: str = "surname"
    mail: str = "mail"
    keys: str = "sshPublicKey"
    groups: str = "isMemberOf"

    @classmethod
    def of(cls, settings: Settings) -> ProxyAttributes:
        """The headers the settings name (proxy_*_header)."""
        return cls(
            settings.proxy_name_header,
            settings.proxy_given_name_header,
            settings.proxy_surname_header,
            settings.proxy_mail_header,
            settings.proxy_keys_header,
            settings.proxy_groups_header,
        )


def proxy_identity(user: str, attributes: ProxyAttributes, headers: Headers) -> Identity:
    """The person the trusted proxy names: display name (else given name and surname), mail, SSH
    public keys (several: newline or ';' separated, as Shibboleth joins multi-valued attributes)
    and groups (';' separated). A header sent twice is refused as the user header is: a proxy that
    appends would let a client add itself to a group."""
    name = _one(headers, attributes.name) or " ".join(
        p for p in (_one(headers, attributes.given_name), _one(headers, attributes.surname)) if p
    )
    keys = [k.strip() for k in _one(headers, attributes.keys, None).replace(";", "\n").splitlines()]
    groups = [g.strip() for g in _one(headers, attributes.groups, None).split(";")]
    return Identity(
        user=user,
        name=name[:MAX_TEXT],
        mail=_one(headers, attributes.mail)[:MAX_TEXT],
        keys=tuple(k for k in keys if k and len(k) <= MAX_KEY)[:MAX_KEYS],
        groups=tuple(g for g in groups if g)[:MAX_GROUPS],
    )


def _one(headers: Headers, name: str, limit: int | None = MAX_TEXT * 4) -> str:
    """A header's one value, as text: a proxy passes UTF-8 bytes, which HTTP hands over as
    Latin-1 (MC Hub showed "Ã©" for "é"); bytes that are not UTF-8 stay as they came."""
    values = headers.getlist(name)
    if not values:
        return ""
    if len(values) > 1:
        raise IdentityRefused(
            400,
            f"{name} arrived more than once: the reverse proxy must replace this header "
            "(Apache: RequestHeader set; nginx: proxy_set_header), not append to it",
        )
    raw = values[0].encode("latin-1", "replace")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = values[0]
    return (text if limit is None else text[:limit]).strip()
