"""Hypothesis strategies of the hostile-input suite: values (control characters, surrogates, HCL and
template syntax, huge numbers), spec-shaped data with hostile values, and request bodies (JSON, YAML,
broken encodings, byte order marks, duplicate keys, deep nesting, oversize). Form posts and spec
files are in hostiletexts.py. Every guest password a strategy gives is a fresh marker
(`given_password`), so a check finds it wherever it must not be."""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

import yaml
from hypothesis import strategies as st

from reconciler.model.spec import KNOWN_TAGS

GIVEN_PASSWORD_RE = re.compile(rb"GivenPw[0-9a-f]{12}")
JSON_TYPES = ("application/json", "application/json; charset=utf-8", "text/plain", "", "application/x-json")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
NASTY = (
    "", " ", "\x00", "\t", "demo\n", "\r\n", "\x1b[2J\x1b[31mred\x1b[0m", "\u202eevil", "\ufeff", "\u2028",
    '${file("/etc/passwd")}', "%{ for x in y }x%{ endfor }", '"\n}\nresource "null_resource" "x" {\n',
    "\\", "\\u0000", "<script>alert(1)</script>", "{{ 7 * 7 }}", "{% raw %}", "../../../etc/passwd",
    "/proc/self/environ", "NaN", "null", "~", "yes", "0x1F", "1e400", "e\u0301", "\U0001f600", "\ud800",
    "a" * 129, "b" * 300, "c" * 70_000, "-", "_", "bystander", "ghost", "target", "p2-3gb", "Rocky-9",
)  # fmt: skip
NAMES = (
    "target", "bystander", "ghost", "new-one", "demo\n", "Target", "a", "x" * 41, "x" * 42, "-x",
    "new_one", "ne w", "target ", "../bystander", "bystander.yaml", ".approvals", "\u0430bc",
)  # fmt: skip

strings = st.one_of(
    st.text(max_size=24),
    st.sampled_from(NASTY),
    st.text(st.characters(categories=["Cc", "Cf", "Cs", "Co", "Zl", "Zp", "Mn"]), max_size=8),
)
numbers = st.one_of(
    st.integers(-5, 3000),
    st.integers(),
    st.sampled_from([0, -1, 501, 1001, 2**31, 2**63, 2**64, 10**100, 10**4000]),
    st.floats(),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    st.one_of(strings, numbers),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(strings, inner, max_size=4),
    max_leaves=12,
)
GIVEN: set[bytes] = set()  # every guest password a strategy gave (its marker part)


def given_password(tail: str) -> str:
    """A guest password nobody else can make: a fresh random marker (hypothesis's text, which mixes
    in constants it finds in the source, may look like one; only these are ever given), registered
    so a check tells a given password from a look-alike."""
    marker = f"GivenPw{secrets.token_hex(6)}"
    GIVEN.add(marker.encode())
    return marker + tail


def given_in(blob: bytes) -> list[str]:
    """The given passwords `blob` holds."""
    return [m.group().decode() for m in GIVEN_PASSWORD_RE.finditer(blob) if m.group() in GIVEN]


passwords = st.builds(given_password, st.sampled_from(["", "x" * 200, " ", "\n", "\u00e9", "\x00"]))
names = st.one_of(st.sampled_from(NAMES), st.from_regex(r"[a-z][0-9a-z-]{1,12}", fullmatch=True), strings)


def _or(valid: Any, hostile: st.SearchStrategy[Any] = json_values) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(valid), hostile)


instance = st.fixed_dictionaries(
    {
        "type": _or("p2-3gb", strings),
        "tags": _or(["node"], st.lists(st.sampled_from(KNOWN_TAGS) | strings, max_size=4)),
        "count": _or(1, numbers),
    },
    optional={"disk_size": numbers, "image": strings, "flavor": json_values},
)
VALID_INSTANCES = {
    "mgmt": {"type": "p4-6gb", "tags": ["puppet", "mgmt", "nfs"], "count": 1},
    "login": {"type": "p2-3gb", "tags": ["login", "public", "proxy"], "count": 1},
    "node": {"type": "p2-3gb", "tags": ["node"], "count": 2},
}
instances = st.one_of(
    st.just(VALID_INSTANCES),
    st.dictionaries(st.one_of(st.from_regex(r"[a-z]{1,8}", fullmatch=True), strings), instance, max_size=4),
    st.integers(45, 60).map(lambda n: {f"n{i}": {"type": "p2-3gb", "count": 1} for i in range(n)}),
    st.integers(1, 30).map(lambda n: {"node": {"type": "p2-3gb", "count": 10**n}}),
    json_values,
)
volumes = st.one_of(
    st.just({"nfs": {"home": {"size": 100}}}),
    st.dictionaries(strings, st.dictionaries(strings, st.fixed_dictionaries({"size": numbers}), max_size=3)),
    st.integers(150, 260).map(lambda n: {"nfs": {f"v{i}": {"size": 1} for i in range(n)}}),
    json_values,
)
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPMT9GXhBldsu07Rklam11D72R5uODSJtBW9p5nUB9bI t@x"
OPTIONAL = {
    "guest_passwd": st.one_of(passwords, json_values),
    "hieradata": st.one_of(strings, st.just("---\n" + "k: v\n" * 20_000), json_values),
    "ensure": st.one_of(st.sampled_from(["present", "absent"]), json_values),
    "apply": st.one_of(st.sampled_from(["auto", "manual"]), json_values),
    "expires": st.one_of(
        st.sampled_from(["2000-01-01", "2999-12-31", "tomorrow", "2026-02-30"]), json_values
    ),
    "cloud": st.one_of(st.sampled_from(["sandbox", "nowhere"]), json_values),
    "sudoer_username": strings,
    "unknown_field": json_values,  # a key the model does not know
}


def spec_data(name: st.SearchStrategy[Any], given: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    """A spec as a mapping: each field valid or hostile, some optional fields, sometimes extras;
    `given`: with guest passwords a request gives (else a spec file's, written by hand)."""
    optional = OPTIONAL if given else {**OPTIONAL, "guest_passwd": json_values}
    return st.fixed_dictionaries(
        {
            "cluster_name": name,
            "domain": _or("sandbox.localdomain", strings),
            "image": _or("Rocky-9", strings),
            "nb_users": _or(5, numbers),
            "instances": instances,
            "volumes": volumes,
            "public_keys": _or([KEY], st.lists(st.one_of(strings, st.just(KEY + "\n" + KEY)), max_size=3)),
        },
        optional=optional,
    )


def _dumps(value: Any, ascii_only: bool) -> str:
    return json.dumps(value, ensure_ascii=ascii_only)  # NaN and Infinity stay in: JSON they are not


def as_yaml(value: Any) -> str:
    try:
        return yaml.safe_dump(value, sort_keys=False, allow_unicode=True)
    except (yaml.YAMLError, UnicodeError, ValueError, RecursionError):
        return json.dumps(value)  # JSON is YAML (nearly)


def encoded(text: str, how: str) -> bytes:
    if how == "bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass")
    if how in ("utf-16", "utf-32"):
        return text.encode(how, "surrogatepass")
    if how == "broken":  # invalid UTF-8 in the middle
        raw = text.encode("utf-8", "surrogatepass")
        return raw[: len(raw) // 2] + b"\xff\xfe\xc3\x28" + raw[len(raw) // 2 :]
    return text.encode("utf-8", "surrogatepass")  # lone surrogates: bytes that are not UTF-8


def _duplicated(data: dict[str, Any], key: str, again: Any) -> str:
    """`data` as JSON with `key` given twice (the second value wins in Python's parser)."""
    pairs = [f"{json.dumps(k)}: {json.dumps(v)}" for k, v in data.items()]
    pairs.append(f"{json.dumps(key)}: {json.dumps(again)}")
    return "{" + ", ".join(pairs) + "}"


HOSTILE_YAML = (
    "cluster_name: target\nimage: !!python/object/apply:os.system ['touch /tmp/pwned']\n",
    "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nimage: [*b, *b, *b]\n",
    "base: &b {image: Rocky-9}\n<<: *b\ncluster_name: target\n",
    "cluster_name: target\n---\ncluster_name: bystander\n",
    "? [a, b]\n: 1\n",
    "cluster_name: !!binary aGVsbG8=\n",
    "nb_users: 2026-01-01 00:00:00\n",
    "image: *undefined\n",
    "\t- tab\n",
    "cluster_name: target\ncluster_name: bystander\n",
    "%YAML 1.1\n%TAG ! tag:evil.example,2000:\n--- !foo\nx: 1\n",
    "{" * 30 + "}" * 30,
    "- " * 5000 + "x\n",
    "x: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "key: " + "'" + "a" * 250_000 + "'\n",
)


def deep(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a": ' * depth + "1" + "}" * depth


json_bodies = st.builds(
    lambda data, ascii_only, how, ctype: (ctype, encoded(_dumps(data, ascii_only), how)),
    st.one_of(spec_data(names), json_values),
    st.booleans(),
    st.sampled_from(["utf-8", "utf-8", "utf-8", "bom", "utf-16", "utf-32", "broken"]),
    st.sampled_from(JSON_TYPES),
)


@st.composite
def duplicate_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """A spec of target with one key given twice (a password only ever under guest_passwd)."""
    key = draw(st.sampled_from(["cluster_name", "guest_passwd", "nb_users", "instances", "ensure"]))
    again = draw(passwords if key == "guest_passwd" else st.one_of(names, json_values))
    text = _duplicated(draw(spec_data(st.just("target"))), key, again)
    return "application/json", text.encode("utf-8", "surrogatepass")


number_bodies = st.builds(
    lambda digits, field: ("application/json", f'{{"cluster_name": "target", "{field}": {digits}}}'.encode()),
    st.one_of(
        st.integers(1, 120_000).map(lambda n: "9" * n),
        st.sampled_from(["1e999999", "-1e-999999", "NaN", "-Infinity", "-0", "0.0000000000000000001"]),
    ),
    st.sampled_from(["nb_users", "count", "instances", "cluster_name"]),
)
deep_bodies = st.builds(
    lambda depth, kind, ctype: (ctype, deep(depth, kind).encode()),
    st.sampled_from([19, 20, 21, 100, 1000, 40_000, 120_000]),
    st.sampled_from(["list", "dict"]),
    st.sampled_from(("application/json",) + YAML_TYPES),
)
yaml_bodies = st.builds(
    lambda text, how, ctype: (ctype, encoded(text, how)),
    st.one_of(
        spec_data(names).map(as_yaml), json_values.map(as_yaml), st.sampled_from(HOSTILE_YAML), strings
    ),
    st.sampled_from(["utf-8", "utf-8", "bom", "utf-16", "broken"]),
    st.sampled_from(YAML_TYPES),
)
raw_bodies = st.tuples(
    st.sampled_from(
        JSON_TYPES + YAML_TYPES + ("multipart/form-data; boundary=x", "application/x-www-form-urlencoded")
    ),
    st.one_of(st.binary(max_size=600), st.sampled_from([b"", b" ", b"\x00" * 64, b" " * 300_000 + b"{}"])),
)
bodies = st.one_of(json_bodies, duplicate_bodies(), number_bodies, deep_bodies, yaml_bodies, raw_bodies)
