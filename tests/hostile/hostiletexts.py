"""Hypothesis strategies of the hostile-input suite, continued (hostilegen.py has the values and
bodies): cluster form posts (the form's own fields, some changed or dropped, rows far beyond the
form's, more fields than the parser takes, bytes that are not UTF-8) and the content of a spec file
(a hostile spec with a password written by hand in any YAML style, random YAML, random bytes, the
size limit and one byte past it)."""

from __future__ import annotations

from urllib.parse import quote

from hostilegen import (
    HOSTILE_YAML,
    KEY,
    OPTIONAL,
    VALID_INSTANCES,
    as_yaml,
    encoded,
    json_values,
    numbers,
    passwords,
    spec_data,
    strings,
)
from hypothesis import strategies as st

# -- forms --------------------------------------------------------------------------------------

ROW_FIELDS = ("prefix", "type", "tags", "count", "disk_size", "image", "tag", "name", "size")
form_keys = st.one_of(
    st.builds(lambda kind, i, f: f"{kind}-{i}-{f}", st.sampled_from(["inst", "vol"]), st.integers(0, 1200),
              st.sampled_from(ROW_FIELDS)),
    st.sampled_from(["cluster_name", "domain", "image", "nb_users", "public_keys", "hieradata", "cloud",
                     "apply", "expires", "sudoer_username", "rebuild", "version", "guest_passwd"]),
    strings,
)  # fmt: skip


def form_body(fields: list[tuple[str, str]]) -> bytes:
    """The fields URL-encoded; a lone surrogate becomes percent-encoded bytes that are not UTF-8."""
    return "&".join(
        f"{quote(k, safe='', errors='surrogatepass')}={quote(v, safe='', errors='surrogatepass')}"
        for k, v in fields
    ).encode()


@st.composite
def form_posts(draw: st.DrawFn, base: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The form's own fields (`base`, with its CSRF token), some values replaced by hostile ones,
    some fields dropped, and random fields added (rows far beyond the form's, duplicates)."""
    hostile = st.one_of(strings, numbers.map(str))
    many = draw(st.booleans())  # a few fields changed, or any number
    some = st.sets(st.integers(1, len(base) - 1), max_size=len(base) if many else 2)
    changed, dropped = draw(some), draw(some)
    fields = [
        (k, draw(hostile) if i in changed else v)
        for i, (k, v) in enumerate(base)
        if k == "csrf_token" or i not in dropped
    ]
    if draw(st.booleans()):
        fields += draw(st.lists(st.tuples(form_keys, hostile), max_size=12))
    if draw(st.sampled_from(range(16))) == 15:  # past max_fields (sampled: integers favour 0)
        fields += [(f"inst-{i}-count", "1") for i in range(draw(st.integers(380, 450)))]
    if draw(st.booleans()):
        fields.append(("guest_passwd", draw(passwords)))
    return fields


# -- spec files ---------------------------------------------------------------------------------

PASSWORD_STYLES = (
    "guest_passwd: {p}\n", 'guest_passwd: "{p}"\n', "guest_passwd: '{p}'\n", "guest_passwd: |\n  {p}\n",
    "guest_passwd: >-\n  {p}\n", '"guest_passwd": {p}\n', '"guest\\x5fpasswd": {p}\n',
    "? guest_passwd\n: {p}\n", "guest_passwd: &pw {p}\n", "guest_passwd: !!str {p}\n",
    "guest_passwd: {p} # note\n", "guest_passwd:\n  {p}\n", "{{guest_passwd: {p}}}\n",
    "guest_passwd: [{p}]\n", "guest_passwd: {{x: {p}}}\n", "guest_passwd: {p}\nguest_passwd: {p}\n",
    "guest_password: {p}\n",
)  # fmt: skip


def with_password(text: str, style: str, password: str, where: int) -> str:
    """`text` (YAML lines) with a line giving `password` in `style` inserted at line `where`."""
    lines = text.splitlines(keepends=True)
    at = min(where, len(lines))
    return "".join(lines[:at]) + style.format(p=password) + "".join(lines[at:])


VALID = {
    "cluster_name": "target", "domain": "sandbox.localdomain", "image": "Rocky-9", "nb_users": 5,
    "instances": VALID_INSTANCES, "volumes": {"nfs": {"home": {"size": 100}}}, "public_keys": [KEY],
}  # fmt: skip
FIELDS = (*VALID, *OPTIONAL)
# A valid spec of target with a field or two changed: the engine gets as far as Terraform.
near_valid_text = st.dictionaries(
    st.sampled_from(FIELDS), st.one_of(strings, numbers, json_values), max_size=2
).map(lambda changes: as_yaml({**VALID, **changes}))


def spec_texts(password: str) -> st.SearchStrategy[bytes]:
    """The content of a spec file: a hostile spec as YAML with `password` written by hand in some
    style, random YAML, or random bytes; in UTF-8, with a byte order mark, or broken."""
    hand_written = spec_data(st.just("target"), given=False).map(as_yaml)
    yaml_text = st.one_of(hand_written, near_valid_text, st.sampled_from(HOSTILE_YAML), strings)
    with_pw = st.builds(with_password, yaml_text, st.sampled_from(PASSWORD_STYLES), st.just(password),
                        st.integers(0, 40))  # fmt: skip
    text = st.one_of(with_pw, yaml_text, json_values.map(as_yaml))
    how = st.sampled_from(["utf-8", "utf-8", "utf-8", "bom", "utf-16", "broken"])
    sized = st.sampled_from([256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1]).map(
        lambda n: (b"cluster_name: target\n#" + b"x" * n)[:n]
    )
    return st.one_of(st.builds(encoded, text, how), st.binary(max_size=2000), sized)
