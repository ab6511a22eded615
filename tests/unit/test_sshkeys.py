"""SSH public keys are parsed: real keys of every type Nova and OpenSSH accept pass; damaged,
mislabelled, too weak or refused ones are field errors naming the key and what is wrong. Keys are
made here with `cryptography`, the library Nova itself fingerprints keys with."""

from __future__ import annotations

import base64
import struct

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.model.spec import SpecError, json_schema, parse_spec
from reconciler.model.sshkeys import KeyProblem, check_public_key


def _line(private: object) -> str:
    public = private.public_key()  # type: ignore[attr-defined]
    return public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


KEYS = {
    "ssh-rsa": _line(rsa.generate_private_key(65537, 2048)),
    "ssh-ed25519": _line(ed25519.Ed25519PrivateKey.generate()),
    "ecdsa-sha2-nistp256": _line(ec.generate_private_key(ec.SECP256R1())),
    "ecdsa-sha2-nistp384": _line(ec.generate_private_key(ec.SECP384R1())),
    "ecdsa-sha2-nistp521": _line(ec.generate_private_key(ec.SECP521R1())),
}


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _blob(line: str) -> bytes:
    return base64.b64decode(line.split()[1])


def _key(kind: str, blob: bytes) -> str:
    return f"{kind} {base64.b64encode(blob).decode()}"


def _problem(line: str) -> str:
    with pytest.raises(KeyProblem) as info:
        check_public_key(line)
    return str(info.value)


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_real_keys_of_every_type_pass_with_or_without_a_comment(kind: str) -> None:
    assert check_public_key(KEYS[kind]) == kind
    assert check_public_key(f"  {KEYS[kind]} alice@laptop with spaces  ") == kind


def test_security_keys_pass() -> None:
    ed = _blob(KEYS["ssh-ed25519"])[len(_string(b"ssh-ed25519")) :]
    sk_ed = _string(b"sk-ssh-ed25519@openssh.com") + ed + _string(b"ssh:")
    assert check_public_key(_key("sk-ssh-ed25519@openssh.com", sk_ed)) == "sk-ssh-ed25519@openssh.com"
    p256 = _blob(KEYS["ecdsa-sha2-nistp256"])[len(_string(b"ecdsa-sha2-nistp256")) :]
    sk_ec = _string(b"sk-ecdsa-sha2-nistp256@openssh.com") + p256 + _string(b"ssh:")
    assert check_public_key(_key("sk-ecdsa-sha2-nistp256@openssh.com", sk_ec)).startswith("sk-ecdsa")


def test_a_key_whose_type_and_data_disagree_says_both() -> None:
    data = KEYS["ssh-ed25519"].split()[1]
    assert _problem(f"ssh-rsa {data}") == "says ssh-rsa but holds an ssh-ed25519 key"
    p384 = KEYS["ecdsa-sha2-nistp384"].split()[1]
    assert "says ecdsa-sha2-nistp256 but holds an ecdsa-sha2-nistp384 key" in _problem(
        f"ecdsa-sha2-nistp256 {p384}"
    )


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_damaged_base64_is_refused(kind: str) -> None:
    name, data = KEYS[kind].split()
    assert "is damaged: its base64" in _problem(f"{name} {data[:30]}{data[31:]}")  # a lost character
    assert "is damaged: its base64" in _problem(f"{name} {data[:30]}*{data[31:]}")
    assert "cut short" in _problem(f"{name} {data[:-8]}")  # a line cut by a terminal
    assert "follow its key data" in _problem(_key(name, _blob(KEYS[kind]) + b"\0\0\0"))


def test_an_ecdsa_point_off_its_curve_is_refused() -> None:
    blob = bytearray(_blob(KEYS["ecdsa-sha2-nistp256"]))
    blob[-5] ^= 0x01  # one bit of y: still the right length, no longer a point of the curve
    assert "not on the nistp256 curve" in _problem(_key("ecdsa-sha2-nistp256", bytes(blob)))


def test_weak_and_refused_keys_say_what_to_make_instead() -> None:
    modulus = b"\x00" + (2**767 + 1).to_bytes(96, "big")  # 768 bits, odd
    weak = _string(b"ssh-rsa") + _string(b"\x01\x00\x01") + _string(modulus)
    assert "768-bit RSA key; OpenSSH refuses RSA keys under 1024 bits" in _problem(_key("ssh-rsa", weak))
    dss = _key("ssh-dss", _string(b"ssh-dss") + _string(b"\x00" * 128))
    assert "ssh-keygen -t ed25519" in _problem(dss)
    assert "not an OpenSSH public key" in _problem("hello world")
    assert "not an OpenSSH public key" in _problem("AAAAC3NzaC1lZDI1NTE5")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0), st.sampled_from(sorted(KEYS)), st.sampled_from(["drop", "flip", "dup"]))
def test_whatever_passes_here_nova_can_fingerprint(at: int, kind: str, how: str) -> None:
    """Nova fingerprints a key with `cryptography`'s `load_ssh_public_key`: a key the hub lets
    through must load there too (else the build fails at apply with "failed to generate fingerprint")."""
    name, data = KEYS[kind].split()
    i = at % len(data)
    changed = {
        "drop": data[:i] + data[i + 1 :],
        "flip": data[:i] + ("A" if data[i] != "A" else "B") + data[i + 1 :],
        "dup": data[:i] + data[i] + data[i:],
    }[how]
    try:
        check_public_key(f"{name} {changed}")
    except KeyProblem:
        return
    serialization.load_ssh_public_key(f"{name} {changed}".encode())


def test_spec_errors_name_the_key_and_the_schema_keeps_a_first_filter() -> None:
    data = KEYS["ssh-ed25519"].split()[1]
    spec = {
        "cluster_name": "keys",
        "domain": "example.org",
        "image": "Rocky-9",
        "instances": {"mgmt": {"type": "p4-6gb", "tags": ["mgmt"]}},
        "public_keys": [KEYS["ssh-rsa"], f"ssh-ed25519 {data[:-4]}"],
    }
    with pytest.raises(SpecError) as info:
        parse_spec({**spec, "domain": "Example!"})
    got = {e.path: e.message for e in info.value.errors}
    assert got["public_keys.1"].startswith("this key is cut short:")
    assert "domain" in got  # reported beside the spec's other problems, not instead of them
    items = json_schema()["properties"]["public_keys"]["items"]
    assert items["type"] == "string" and items["pattern"].startswith("^")
