"""Spec validation, table-driven from tests/data/spec_cases.yaml, plus loading and hashing."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler.model.limits import DEFAULT_LIMITS, LIMIT_NAMES, Limits
from reconciler.model.spec import (
    ALIASES_REFUSED,
    SpecError,
    dump_yaml,
    json_schema,
    load_json,
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


# -- limits: each bound is a setting, named in the refusal -------------------------------------


def _nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]  # built in a loop: deeper than any recursive walk could go
    return value


def _grow(data: dict[str, Any], name: str) -> None:
    """`data` changed to go one past the default limit `name`."""
    L = DEFAULT_LIMITS
    if name == "max_instance_groups":
        data["instances"] |= {f"g{i}": {"type": "p2-3gb", "count": 0} for i in range(L.max_instance_groups)}
    elif name == "max_hosts":
        data["instances"]["node"]["count"] = L.max_hosts - 2 - 3 * 500 + 1  # with mgmt1 and login1
        data["instances"] |= {f"g{i}x": {"type": "p2-3gb", "count": 500} for i in range(3)}
    elif name == "max_volumes":
        data["volumes"]["nfs"] = {f"v{i}": {"size": 1} for i in range(L.max_volumes + 1)}
    elif name == "max_nb_users":
        data["nb_users"] = L.max_nb_users + 1
    elif name == "max_name_length":
        data["image"] = "x" * (L.max_name_length + 1)
    elif name == "max_domain_length":
        data["domain"] = "a" * (L.max_domain_length + 1)
    elif name == "max_public_key_length":
        key = data["public_keys"][0]
        data["public_keys"].append(key + " " + "c" * (L.max_public_key_length - len(key)))
    elif name == "max_hieradata_length":
        data["hieradata"] = "a: " + "b" * L.max_hieradata_length
    elif name == "max_depth":
        data["image"] = _nested(L.max_depth)  # inside the spec mapping: one level more


@pytest.mark.parametrize("name", LIMIT_NAMES)
def test_every_limit_refuses_a_spec_past_it_naming_the_setting(name: str) -> None:
    data = copy.deepcopy(BASE)
    _grow(data, name)
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    limit = str(getattr(DEFAULT_LIMITS, name))
    named = [str(e) for e in info.value.errors if f"(setting {name})" in str(e) and limit in str(e)]
    assert named, info.value.errors
    if name != "max_depth":  # a nested image is wrong at any depth; the other specs are fine but big
        parse_spec(data, limits=Limits(**{name: getattr(DEFAULT_LIMITS, name) * 2}))


def test_the_limits_given_replace_the_defaults() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(copy.deepcopy(BASE), limits=Limits(max_hosts=3))
    assert [str(e) for e in info.value.errors] == ["instances: 4 hosts; at most 3 (setting max_hosts)"]
    assert parse_yaml((DATA / "specs" / "base.yaml").read_text(), limits=Limits(max_hosts=4))
    with pytest.raises(SpecError, match="setting max_depth"):
        load_yaml("a: {b: [c]}", limits=Limits(max_depth=2))


def test_a_spec_past_a_bound_is_refused_before_the_rest_is_validated() -> None:
    # 10,000 groups of 500 hosts: refused on the count of groups, not after 5 million host names.
    data = copy.deepcopy(BASE)
    data["instances"] = {f"n{i}x": {"type": "p2-3gb", "tags": ["node"], "count": 500} for i in range(10_000)}
    started = time.monotonic()
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    assert time.monotonic() - started < 1.0
    assert [e.path for e in info.value.errors] == ["instances"]
    assert "10000 instance groups; at most 50 (setting max_instance_groups)" in str(info.value)


def test_deep_yaml_is_refused_before_it_is_built() -> None:
    for text in (
        "a: " + "[" * 900 + "]" * 900,
        "".join(" " * i + f"k{i}:\n" for i in range(25)) + " " * 25 + "v",
    ):
        with pytest.raises(SpecError) as info:
            load_yaml(text)
        assert "nested more than 20 levels deep (setting max_depth)" in str(info.value)
    assert "line 21" in str(info.value)  # where the block mapping goes too deep


def test_deep_json_is_refused_before_it_is_parsed() -> None:
    # json.loads would raise RecursionError (a 500) long before this depth.
    with pytest.raises(SpecError, match=r"nested more than 20 levels deep \(setting max_depth\)"):
        load_json("[" * 100_000 + "]" * 100_000)
    assert load_json('{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[", "b": [[1]]}') == {"a": "[" * 26, "b": [[1]]}


def test_deep_data_never_reaches_the_recursion_limit() -> None:
    data = copy.deepcopy(BASE)
    data["image"] = _nested(50_000)
    with pytest.raises(SpecError, match="setting max_depth"):
        parse_spec(data)


def test_hieradata_may_use_aliases_but_not_nest_past_the_limit() -> None:
    data = copy.deepcopy(BASE)
    data["hieradata"] = "base: &b {x: 1}\nnode: *b\n"
    assert parse_spec(data).hieradata.startswith("base")
    data["hieradata"] = "a: " + "[" * 30 + "]" * 30
    with pytest.raises(SpecError, match="hieradata: not valid here: .*setting max_depth"):
        parse_spec(data)


def test_values_quoted_in_messages_are_clipped() -> None:
    data = copy.deepcopy(BASE)
    data["instances"]["node"]["tags"] = ["t" * 120]
    data["domain"] = "D" * 200
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    assert all(len(str(e)) < 200 for e in info.value.errors), info.value.errors


def test_a_spec_with_thousands_of_problems_lists_the_first_fifty() -> None:
    data = copy.deepcopy(BASE) | {f"k{i}": 1 for i in range(25_000)} | {"ensure": ["x"] * 10_000}
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    errors = info.value.errors
    assert len(errors) == 51 and str(errors[-1]) == "24951 more problems; fix these first"
    assert sum(len(str(e)) for e in errors) < 10_000


def test_the_json_depth_scan_stays_linear_on_unclosed_strings() -> None:
    # A quote-escape-quote body once made the bracket scan restart at every quote (seconds).
    for text in ('"' + '\\"' * 120_000, '"' + '\\"' * 120_000 + "\\", '"\\\n' * 80_000):
        started = time.monotonic()
        with pytest.raises(SpecError, match="invalid JSON"):
            load_json(text)
        assert time.monotonic() - started < 0.5
