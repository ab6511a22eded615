"""SSH public keys of a spec, parsed rather than pattern-matched (validate stage). Nova fingerprints
every key it is given (`failed to generate fingerprint` at apply when it cannot), and OpenSSH on the
login node refuses what it cannot read; a key either would refuse is a field error before any
Terraform runs. A key line is `<type> <base64> [comment]`; its base64 holds the key blob (RFC 4253
section 6.6 and OpenSSH's PROTOCOL.u2f): a length-prefixed type that must equal the declared one,
then the type's own fields, and nothing more."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable

# Types Nova and OpenSSH accept, and the fields each blob holds after its type string.
# NIST curves (a = -3): bytes per coordinate, field prime p, constant b (SEC 2 / FIPS 186-4).
CURVES = {
    "nistp256": (32, 2**256 - 2**224 + 2**192 + 2**96 - 1,
                 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B),
    "nistp384": (48, 2**384 - 2**128 - 2**96 + 2**32 - 1,
                 0xB3312FA7E23EE7E4988E056BE3F82D19181D9C6EFE8141120314088F5013875AC656398D8A2ED19D2A85C8EDD3EC2AEF),
    "nistp521": (66, 2**521 - 1,
                 0x0051953EB9618E1C9A1F929A21A0B68540EEA2DA725B99B315F3B8B489918EF109E156193951EC7E937B1652C0BD3BB1BF073573DF883D2C34F1EF451FD46B503F00),
}  # fmt: skip
KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
REFUSED_TYPES = {
    "ssh-dss": "is a DSA key (ssh-dss), which is refused: OpenSSH disabled DSA in 7.0 and removed it "
    "in 9.8, so the login node would not let this key in; make an ed25519 key: ssh-keygen -t ed25519",
}
MIN_RSA_BITS = 1024  # OpenSSH refuses smaller RSA moduli (SSH_RSA_MINIMUM_MODULUS_SIZE)
# A first filter, also published in the JSON schema: the shape of a key line, not its content.
PUBLIC_KEY_PATTERN = r"^\s*[a-z0-9@.-]+ [A-Za-z0-9+/]+={0,2}( .*)?$"
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


class KeyProblem(ValueError):
    """What is wrong with one key, in words a person can act on, written to follow "this key "."""


class _Blob:
    """Reads the SSH wire format: uint32-length-prefixed strings."""

    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def string(self, what: str) -> bytes:
        if self.at + 4 > len(self.data):
            raise KeyProblem(f"is cut short: its key data ends before the {what}")
        size = int.from_bytes(self.data[self.at : self.at + 4], "big")
        start, self.at = self.at + 4, self.at + 4 + size
        if self.at > len(self.data):
            raise KeyProblem(f"is cut short: its key data ends inside the {what}")
        return self.data[start : self.at]

    def mpint(self, what: str) -> int:
        raw = self.string(what)
        if raw and raw[0] & 0x80:
            raise KeyProblem(f"is damaged: its {what} is negative, which no key has")
        return int.from_bytes(raw, "big")

    def end(self) -> None:
        if self.at != len(self.data):
            extra = len(self.data) - self.at
            raise KeyProblem(f"is damaged: {extra} bytes follow its key data (two keys run together?)")


def check_public_key(line: str) -> str:
    """The key's type when `line` is an OpenSSH public key Nova and OpenSSH accept; else KeyProblem."""
    words = line.strip().split(None, 2)
    if len(words) < 2:
        raise KeyProblem(
            "is not an OpenSSH public key: expected `<type> <base64> [comment]`, e.g. ssh-ed25519 AAAA..."
        )
    declared, encoded = words[0], words[1]
    if declared in REFUSED_TYPES:
        raise KeyProblem(REFUSED_TYPES[declared])
    if declared not in KEY_TYPES:
        raise KeyProblem(
            f'is not an OpenSSH public key: type "{declared[:40]}" is not one of {", ".join(KEY_TYPES)}'
        )
    blob = _decode(encoded)
    reader = _Blob(blob)
    inner = reader.string("key type").decode("ascii", errors="replace")
    if inner in (*KEY_TYPES, *REFUSED_TYPES) and inner != declared:
        raise KeyProblem(f"says {declared} but holds {_article(inner)} {inner} key")
    if inner != declared:
        raise KeyProblem(f"is damaged: its key data does not start with its type ({declared})")
    _FIELDS[declared](reader, declared)
    reader.end()
    return declared


def valid_key(line: str) -> str:
    """The spec's validator of one `public_keys` entry: the line as given, or a ValueError saying
    what is wrong with this key (pydantic names its path, `public_keys.1`)."""
    try:
        check_public_key(line)
    except KeyProblem as exc:
        raise KeyProblem(f"this key {exc}") from None
    return line


def _decode(encoded: str) -> bytes:
    if not _BASE64.fullmatch(encoded) or len(encoded) % 4:
        raise KeyProblem("is damaged: its base64 has characters missing, added or outside A-Z a-z 0-9 + /")
    try:
        blob = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise KeyProblem("is damaged: its base64 does not decode") from None
    if base64.b64encode(blob).decode() != encoded:  # stray bits in the last character
        raise KeyProblem("is damaged: the last characters of its base64 do not decode exactly")
    return blob


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" or word.startswith("ssh") else "a"


def _rsa(reader: _Blob, _: str) -> None:
    exponent, modulus = reader.mpint("RSA exponent"), reader.mpint("RSA modulus")
    if exponent < 3 or exponent % 2 == 0:
        raise KeyProblem(f"is damaged: its RSA exponent {exponent} is not an odd number of 3 or more")
    bits = modulus.bit_length()
    if bits < MIN_RSA_BITS:
        raise KeyProblem(
            f"is a {bits}-bit RSA key; OpenSSH refuses RSA keys under {MIN_RSA_BITS} bits "
            "(make an ed25519 key: ssh-keygen -t ed25519)"
        )
    if modulus % 2 == 0:
        raise KeyProblem("is damaged: its RSA modulus is even, which no key has")


def _ed25519(reader: _Blob, _: str) -> None:
    key = reader.string("ed25519 key")
    if len(key) != 32:
        raise KeyProblem(f"holds a {len(key)}-byte ed25519 key; an ed25519 key has 32 bytes")


def _ecdsa(reader: _Blob, declared: str) -> None:
    wanted = declared.removeprefix("sk-").removeprefix("ecdsa-sha2-").removesuffix("@openssh.com")
    curve = reader.string("curve name").decode("ascii", errors="replace")
    if curve != wanted:
        raise KeyProblem(f"says {declared} but its curve is {curve[:20] or 'missing'}")
    point = reader.string("ECDSA point")
    size, p, b = CURVES[curve]
    if len(point) != 1 + 2 * size or point[0] != 4:
        raise KeyProblem(f"is damaged: its ECDSA point is not an uncompressed {curve} point")
    x, y = int.from_bytes(point[1 : 1 + size], "big"), int.from_bytes(point[1 + size :], "big")
    if x >= p or y >= p or (y * y - (x * x * x - 3 * x + b)) % p:
        raise KeyProblem(f"is damaged: its ECDSA point is not on the {curve} curve")


Fields = Callable[[_Blob, str], None]


def _security_key(fields: Fields) -> Fields:
    """A FIDO security key's blob: the plain key's fields, then the application (`ssh:...`)."""

    def check(reader: _Blob, declared: str) -> None:
        fields(reader, declared)
        if not reader.string("security key application").startswith(b"ssh:"):
            raise KeyProblem('is damaged: its security key application does not start with "ssh:"')

    return check


_FIELDS: dict[str, Fields] = {
    "ssh-rsa": _rsa,
    "ssh-ed25519": _ed25519,
    "ecdsa-sha2-nistp256": _ecdsa,
    "ecdsa-sha2-nistp384": _ecdsa,
    "ecdsa-sha2-nistp521": _ecdsa,
    "sk-ssh-ed25519@openssh.com": _security_key(_ed25519),
    "sk-ecdsa-sha2-nistp256@openssh.com": _security_key(_ecdsa),
}
