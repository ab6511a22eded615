"""Spec validation, table-driven from tests/data/spec_cases.yaml, plus loading and hashing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.model.spec import (
    ALIASES_REFUSED,
    SpecError,
    dump_yaml,
    json_schema,
    load_spec,
    load_yaml,
    parse_spec,
    parse_yaml,
    spec_digest,
)

DATA = Path(__file__).parent.parent / "data"
BASE = yaml.safe_load((DATA / "specs" / "base.yaml").read_text())
CASES = yaml.safe_load((DATA / "spec_cases.yaml").read_text())


def _apply(case: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for dotted, value in (case.get("set") or {}).items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    for dotted in case.get("unset") or []:
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        del node[last]
    return data


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_validation_case(case: dict[str, Any]) -> None:
    expected: dict[str, str] = case["errors"]
    if not expected:
        parse_spec(_apply(case))
        return
    with pytest.raises(SpecError) as info:
        parse_spec(_apply(case))
    got = {e.path: e.message for e in info.value.errors}
    for path, fragment in expected.items():
        assert path in got, f"no error at {path}; got {got}"
        assert fragment in got[path], f"{path}: {got[path]!r} lacks {fragment!r}"


def test_bad_yaml_names_line_and_column() -> None:
    with pytest.raises(SpecError) as info:
        parse_yaml("cluster_name: a\ninstances: [\n")
    assert "invalid YAML: line 3" in str(info.value)


def test_yaml_that_is_not_a_mapping() -> None:
    with pytest.raises(SpecError, match="mapping"):
        parse_yaml("- a\n- b\n")


def test_file_stem_must_equal_cluster_name(tmp_path: Path) -> None:
    path = tmp_path / "other.yaml"
    path.write_text((DATA / "specs" / "base.yaml").read_text())
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.errors[0].path == "cluster_name"
    assert 'must equal the file name "other"' in info.value.errors[0].message


def test_digest_ignores_key_order_comments_and_defaults() -> None:
    a = parse_spec(BASE)
    shuffled = dict(reversed(list(copy.deepcopy(BASE).items())))
    shuffled["ensure"] = "present"
    b = parse_yaml("# a comment\n" + yaml.safe_dump(shuffled))
    assert spec_digest(a) == spec_digest(b)


def test_digest_changes_with_any_value() -> None:
    changed = copy.deepcopy(BASE)
    changed["instances"]["node"]["count"] = 3
    assert spec_digest(parse_spec(BASE)) != spec_digest(parse_spec(changed))


def test_dump_round_trips() -> None:
    spec = parse_spec(BASE)
    assert parse_yaml(dump_yaml(spec)) == spec


def test_strings_are_normalised_to_nfc() -> None:
    data = copy.deepcopy(BASE)
    data["hieradata"] = "name: Re\u0301mi"
    assert parse_spec(data).hieradata == "name: R\u00e9mi"


def test_json_schema_lists_fields_and_is_json() -> None:
    schema = json.loads(json.dumps(json_schema()))
    assert {"cluster_name", "instances", "volumes", "ensure", "apply", "expires"} <= set(schema["properties"])
    assert set(schema["required"]) == {"cluster_name", "domain", "image", "instances", "public_keys"}


def test_yaml_aliases_are_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a]\nc: [*b, *b, *b, *b, *b]\n"
    with pytest.raises(SpecError, match="aliases"):
        parse_yaml(bomb)
    assert parse_yaml((DATA / "specs" / "base.yaml").read_text().replace("# ", "# *not an alias* "))


def test_load_yaml_is_the_one_guard() -> None:
    # The API's YAML bodies go through the same guard as the spec files, with the same words.
    with pytest.raises(SpecError) as info:
        load_yaml("a: &x 1\nb: *x\n")
    assert [e.message for e in info.value.errors] == [ALIASES_REFUSED]
    with pytest.raises(SpecError, match="larger than"):
        load_yaml("a: " + "x" * 300_000)
    assert load_yaml("a: [1, 2]") == {"a": [1, 2]}
