"""Property-based fuzzing of the engine's render stage through a real reconcile: a valid spec whose
free-text values (image, flavor, volume type, SSH key comment, hieradata) are hostile (quotes,
backslashes, newlines, `${...}`, `%{...}`, control and bidirectional characters, HCL written out).
The `main.tf` the engine writes has the template's shape exactly (its text outside string literals
is that of a benign spec's: nothing smuggled in), no literal holds an unescaped `${` or `%{`, and
each value reads back exactly as the spec gave it. (python-hcl2 cannot be the judge: it refuses
`"$${"`, which Terraform reads as `${`.) Terraform itself is not there: the run stops at init."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import pytest
import yaml
from hostilefigures import count, examples
from hostilegen import NASTY
from hostileworld import World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webfakes import KEY, spec_dict

from reconciler.model.status import Phase, Reason

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"')  # an HCL string on one line, escapes and all
_ESCAPE = re.compile(r'\\(["\\nrt]|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})|\$\$\{|%%\{')
TEMPLATE = re.compile(r"(\$\$\{|%%\{)|([$%]\{)")
_SIMPLE = {'"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t"}
REFERENCE = {
    "image": "IMAGE-REF", "flavor": "FLAVOR-REF", "volume_type": "VOLUME-REF", "comment": "COMMENT-REF",
    "note": "NOTE-REF",
}  # fmt: skip
_seen: dict[str, Any] = {}


def hcl_value(literal: str) -> str:
    """The value of an HCL string literal (quotes, escapes and all)."""

    def one(match: re.Match[str]) -> str:
        found = match.group(0)
        if found in ("$${", "%%{"):
            return found[1:]
        code = match.group(1)
        return _SIMPLE.get(code) or chr(int(code[1:], 16))

    return _ESCAPE.sub(one, literal[1:-1])


def shape(main_tf: str) -> str:
    return LITERAL.sub('""', main_tf)


PIECES = ['"', "\\", "\n", "${", "%{", "}", "$", "%", "\u2028", "\x1b"]  # what HCL escaping is about
free_text = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60),
    st.sampled_from([n for n in NASTY if n and len(n) <= 128 and "\ud800" not in n]),
    st.builds("".join, st.lists(st.sampled_from(PIECES), min_size=1, max_size=12)),
).filter(lambda s: s.strip() != "" and len(s) <= 128)  # fmt: skip


def _nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value)


def _spec(image: str, flavor: str, volume_type: str, comment: str, note: str) -> dict[str, Any]:
    instances: dict[str, Any] = {"mgmt": {"type": flavor, "tags": ["puppet", "mgmt", "nfs"], "count": 1}}
    return spec_dict("target", image=image, instances=instances, public_keys=[f"{KEY} {comment}"],
                     volumes={"nfs": {"home": {"size": 10, "type": volume_type}}},
                     hieradata=yaml.safe_dump({"note": note}))  # fmt: skip


def rendered(world: World, values: dict[str, str]) -> tuple[Phase, Reason, str | None]:
    """Reconcile the target with these values: its phase, reason and main.tf (None: not written)."""
    (world.specs / "target.yaml").write_text(yaml.safe_dump(_spec(**values)))
    outcome = world.reconcile()
    main_tf = world.clusters / "target" / "main.tf"
    text = main_tf.read_text() if main_tf.exists() else None
    return outcome.status.phase, outcome.status.reason, text


def reference(world: World) -> tuple[str, dict[str, int]]:
    """The shape of a benign spec's main.tf, and which literal holds each value."""
    if "shape" not in _seen:
        with world.case():
            main_tf = rendered(world, REFERENCE)[2]
        assert main_tf is not None
        literals = [hcl_value(m.group()) for m in LITERAL.finditer(main_tf)]
        where = {k: next(i for i, lit in enumerate(literals) if v in lit) for k, v in REFERENCE.items()}
        _seen["shape"], _seen["where"] = shape(main_tf), where
    return _seen["shape"], _seen["where"]


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(image=free_text, flavor=free_text, volume_type=free_text, comment=free_text, note=free_text)
def test_no_spec_value_breaks_out_of_its_hcl_string(
    world: World, image: str, flavor: str, volume_type: str, comment: str, note: str
) -> None:
    expected_shape, where = reference(world)
    comment = comment.replace("\n", " ").replace("\r", " ")  # a key is one line
    values = {"image": image, "flavor": flavor, "volume_type": volume_type, "comment": comment, "note": note}
    with world.case():
        phase, reason, main_tf = rendered(world, values)
        count(f"render (engine: {phase.value})")
        if phase == Phase.INVALID:  # refused before render (a key comment the spec model rejects)
            assert main_tf is None
            return
        assert reason == Reason.CONFIG_ERROR and main_tf is not None  # no Terraform: stopped at init
        assert shape(main_tf) == expected_shape, "a value changed the shape of main.tf"
        literals = [m.group() for m in LITERAL.finditer(main_tf)]
        for literal in literals:  # read left to right as HCL does: `$${` is a `${` written out
            assert not any(m.group(2) for m in TEMPLATE.finditer(literal)), f"a template in {literal}"
        got = {k: hcl_value(literals[i]) for k, i in where.items()}
        assert got["image"] == _nfc(image) and got["flavor"] == _nfc(flavor)
        assert got["volume_type"] == _nfc(volume_type)
        assert got["comment"] == _nfc(f"{KEY} {comment}")
        # The hieradata text is normalised as a whole (an escape such as \u0300 in it stays as written).
        assert got["note"] == _nfc(yaml.safe_dump({"note": note}))
