"""OpenSSH public keys as Nova reads them before it stores a keypair: `<type> <base64 blob>
[comment]`, where the blob is a series of length-prefixed fields that starts with the type again and
then holds exactly the fields of that key type (RFC 4253 section 6.6, RFC 5656, RFC 8709). Anything
else is what Nova calls "failed to generate fingerprint"."""

from __future__ import annotations

import base64
import binascii
import hashlib

# The fields after the type: "mpint" and "string" are both length-prefixed; ed25519's is 32 bytes.
FIELDS = {
    "ssh-rsa": ("mpint", "mpint"),  # e, n
    "ssh-dss": ("mpint", "mpint", "mpint", "mpint"),  # p, q, g, y
    "ssh-ed25519": ("ed25519",),
    "ecdsa-sha2-nistp256": ("curve", "point"),
    "ecdsa-sha2-nistp384": ("curve", "point"),
    "ecdsa-sha2-nistp521": ("curve", "point"),
}


class InvalidKey(ValueError):
    """The text is not an OpenSSH public key of a type Nova accepts; the message says why."""


def _fields(blob: bytes) -> list[bytes]:
    fields, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise InvalidKey("the key data ends inside a length prefix")
        size = int.from_bytes(blob[offset:offset + 4], "big")
        offset += 4
        if offset + size > len(blob):
            raise InvalidKey("a field of the key data is longer than the data")
        fields.append(blob[offset:offset + size])
        offset += size
    return fields


def parse(text: str) -> tuple[str, bytes]:
    """(key type, blob) of an OpenSSH public key line, or InvalidKey naming the problem."""
    parts = text.strip().split()
    if len(parts) < 2:
        raise InvalidKey("expected '<type> <base64 key data> [comment]'")
    kind, encoded = parts[0], parts[1]
    if kind not in FIELDS:
        raise InvalidKey(f"unknown key type {kind!r}; choose one of {', '.join(FIELDS)}")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidKey("the key data is not valid base64") from None
    fields = _fields(blob)
    if not fields or fields[0] != kind.encode():
        inner = fields[0].decode("ascii", "replace") if fields else ""
        raise InvalidKey(f"the key data is of type {inner!r}, not {kind!r}")
    expected = FIELDS[kind]
    if len(fields) - 1 != len(expected):
        raise InvalidKey(f"a {kind} key has {len(expected)} fields after its type, this one has "
                         f"{len(fields) - 1}")
    for shape, value in zip(expected, fields[1:], strict=True):
        _check(kind, shape, value)
    return kind, blob


def _check(kind: str, shape: str, value: bytes) -> None:
    if shape == "mpint" and (not value or value[0] & 0x80):
        raise InvalidKey(f"a {kind} key number is empty or negative")
    if shape == "ed25519" and len(value) != 32:
        raise InvalidKey(f"an ssh-ed25519 key is 32 bytes, this one {len(value)}")
    if shape == "curve" and value.decode("ascii", "replace") != kind.rsplit("-", 1)[1]:
        raise InvalidKey(f"a {kind} key names curve {value.decode('ascii', 'replace')!r}")
    if shape == "point" and (not value or value[0] != 4):
        raise InvalidKey(f"a {kind} key's point is not an uncompressed curve point")


def fingerprint(text: str) -> str:
    """The MD5 fingerprint Nova shows (`aa:bb:...`), of a key that parses."""
    digest = hashlib.md5(parse(text)[1]).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))
