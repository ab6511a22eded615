"""The stand-in provider's schemas against the real provider's, recorded from its Go source in
tests/data/openstack_provider_schema.json: same attributes, types, required/optional/computed,
ForceNew and defaults, fewer only where the table says neither the bundled module nor Magic
Castle uses them. Also: the mirror advertises the release the table records, inside the range
the bundled module pins."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from sandbox.mirror import PROVIDER_VERSION
from sandbox.provider.provider import OpenStackProvider

ROOT = Path(__file__).resolve().parents[2]
TABLE = json.loads((ROOT / "tests" / "data" / "openstack_provider_schema.json").read_text())
VERSIONS_TF = ROOT / "templates" / "modules" / "openstack-vms" / "versions.tf"
FLAGS = ("required", "optional", "computed", "sensitive", "force_new", "default", "default_env")


def _stand_ins() -> dict[str, Any]:
    provider = OpenStackProvider()
    classes = [*provider.get_resources(), *provider.get_data_sources()]
    return {provider.get_model_prefix() + k.get_name(): k.get_schema() for k in classes}


def _type(kind: Any) -> str:
    """Terraform's JSON type (`["list","string"]`) as the table writes it (`list(string)`)."""
    def text(t: Any) -> str:
        return t if isinstance(t, str) else f"{t[0]}({text(t[1])})"

    return text(json.loads(kind.tf_type()))


def _actual_attribute(attribute: Any) -> dict[str, Any]:
    found = {"type": _type(attribute.type), "required": attribute.required, "optional": attribute.optional,
             "computed": attribute.computed, "sensitive": attribute.sensitive,
             "force_new": getattr(attribute, "force_new", False),
             "default": getattr(attribute, "sdk_default", None),
             "default_env": getattr(attribute, "env_default", None)}
    return {k: v for k, v in found.items() if v not in (None, False)}


def _expected_attribute(entry: dict[str, Any]) -> dict[str, Any]:
    """The table's attribute after the stand-in's rules (the table's `stand_in_rules`)."""
    expected = {k: entry[k] for k in ("type", *FLAGS) if entry.get(k) not in (None, False)}
    if "default" in entry or ("default_env" in entry and os.environ.get(entry["default_env"])):
        expected["computed"] = True  # rule 1: a default needs a computed attribute over protocol 6
    if entry.get("default_env") and entry.get("required") and os.environ.get(entry["default_env"]):
        expected.pop("required")
        expected["optional"] = True
    return expected


def _may_be_missing(entry: dict[str, Any]) -> bool:
    return not entry.get("used_by") and "default" not in entry


def _compare_block(where: str, table: dict[str, Any], attributes: list[Any], blocks: list[Any]) -> list[str]:
    """Every difference between a table entry (a type, or a nested block) and the stand-in's."""
    problems = []
    actual = {a.name: a for a in attributes}
    for name, entry in table.get("attributes", {}).items():
        if name not in actual:
            if not _may_be_missing(entry):
                used = entry.get("used_by")
                problems.append(f"{where}.{name}: missing, but used by {used} or has a default")
            continue
        got, want = _actual_attribute(actual[name]), _expected_attribute(entry)
        if got != want:
            problems.append(f"{where}.{name}: stand-in {got}, real provider {want}")
    problems += [f"{where}.{name}: not in the real provider" for name in actual
                 if name not in table["attributes"]]
    nested = {b.type_name: b for b in blocks}
    for name, entry in table.get("blocks", {}).items():
        if name not in nested:
            if not _may_be_missing(entry):
                problems.append(f"{where}.{name}: block missing, but used by {entry.get('used_by')}")
            continue
        problems += _compare_nested(f"{where}.{name}", entry, nested[name])
    problems += [f"{where}.{name}: block not in the real provider" for name in nested
                 if name not in table.get("blocks", {})]
    return problems


def _compare_nested(where: str, entry: dict[str, Any], block: Any) -> list[str]:
    nesting = block.to_pb().nesting
    names = {1: "single", 2: "list", 3: "set"}
    problems = []
    got = {"nesting": names.get(nesting, str(nesting)), "force_new": getattr(block, "force_new", False),
           "min_items": block.min_items or 0, "max_items": block.max_items or 0}
    want = {"nesting": entry["nesting"], "force_new": entry.get("force_new", False),
            "min_items": entry.get("min_items", 0), "max_items": entry.get("max_items", 0)}
    if got != want:
        problems.append(f"{where}: stand-in block {got}, real provider {want}")
    return problems + _compare_block(where, entry, block.block.attributes, block.block.block_types)


def test_the_table_and_the_stand_in_name_the_same_types() -> None:
    assert sorted(_stand_ins()) == sorted(TABLE["types"])


@pytest.mark.parametrize("type_name", sorted(TABLE["types"]))
def test_the_stand_in_schema_is_the_real_one(type_name: str) -> None:
    schema = _stand_ins()[type_name]
    assert _compare_block(type_name, TABLE["types"][type_name], schema.attributes, schema.block_types) == []


def test_every_used_attribute_says_who_uses_it() -> None:
    """The table's `used_by` names only the bundled module and Magic Castle."""
    def users(entry: dict[str, Any]) -> set[str]:
        found = set(entry.get("used_by", []))
        for inner in [*entry.get("attributes", {}).values(), *entry.get("blocks", {}).values()]:
            found |= users(inner)
        return found

    assert set().union(*(users(t) for t in TABLE["types"].values())) == {"bundled", "magic-castle"}


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split("."))


def test_the_mirror_advertises_the_recorded_release_inside_the_module_pin() -> None:
    assert PROVIDER_VERSION == TABLE["version"]
    match = re.search(r'openstack\s*=\s*\{[^}]*version\s*=\s*"([^"]+)"', VERSIONS_TF.read_text())
    assert match, "versions.tf pins no OpenStack provider version"
    ops = {">=": lambda a, b: a >= b, ">": lambda a, b: a > b, "<": lambda a, b: a < b,
           "<=": lambda a, b: a <= b, "=": lambda a, b: a == b}
    for constraint in match.group(1).split(","):
        op, version = re.match(r"\s*(>=|<=|>|<|=)?\s*([\d.]+)", constraint).groups()  # type: ignore[union-attr]
        assert ops[op or "="](_version(PROVIDER_VERSION), _version(version)), constraint
    assert ">= 3.1.0" in match.group(1)  # in-place retype (volume_retype_policy) starts with 3.1.0
