"""How terraform-plugin-sdk/v2, which the real provider is built on, turns Terraform's proposed
state into a plan, for the stand-in's schemas (framework.Attr): the Default of an optional
attribute the configuration leaves out (also in blocks), and which changes force replacement:
a ForceNew attribute, a ForceNew block that gains or loses items, a ForceNew attribute in a
block. Pure: servicer.py serves it.
"""

from __future__ import annotations

from typing import Any

from tf.schema import Block, Schema
from tf.types import Unknown

from sandbox.provider.framework import Path, State


def empty(value: Any) -> bool:
    return value is None or value in ("", 0, False) or value == [] or value == {}


def same(a: Any, b: Any) -> bool:
    """Equal as the SDK sees it: null, "", 0, false and empty collections are all "not set"."""
    if a is Unknown or b is Unknown:
        return False
    return (empty(a) and empty(b)) or a == b


def _items(value: Any) -> list[State]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def fill_defaults(schema: Block | Schema, config: State, values: State) -> None:
    """An optional attribute the configuration leaves out plans as its Default (also in blocks),
    whatever the prior state holds: a server stopped by hand plans to be "active" again."""
    for attribute in schema.attributes:
        default = attribute.default_value() if hasattr(attribute, "default_value") else None
        if default is not None and config.get(attribute.name) is None:
            values[attribute.name] = default
    for block in schema.block_types:
        configured, planned = _items(config.get(block.type_name)), _items(values.get(block.type_name))
        for given, item in zip(configured, planned, strict=False):
            fill_defaults(block.block, given, item)


def unknown_nested_computed(schema: Block | Schema, values: State) -> None:
    """On create, computed attributes inside blocks are unknown (`tf` plans them as null)."""
    for block in schema.block_types:
        for item in _items(values.get(block.type_name)):
            for nested in block.block.attributes:
                if nested.computed and item.get(nested.name) is None:
                    item[nested.name] = Unknown
            unknown_nested_computed(block.block, item)


def _block_paths(block: Any, old_value: Any, new_value: Any) -> list[Path]:
    name, forced = block.type_name, getattr(block, "force_new", False)
    forcing = [a.name for a in block.block.attributes if getattr(a, "force_new", False)]
    if old_value is Unknown or new_value is Unknown:
        return [(name,)] if forced or forcing else []
    old, new = _items(old_value), _items(new_value)
    if len(old) != len(new):
        extra = old[len(new):] + new[len(old):]
        grows_forcing = any(not empty(item.get(a)) for item in extra for a in forcing)
        return [(name,)] if forced or grows_forcing else []
    return [(name, i, a) for i, (before, after) in enumerate(zip(old, new, strict=True))
            for a in forcing if not same(before.get(a), after.get(a))]


def replace_paths(schema: Schema, prior: State, values: State) -> list[Path]:
    """The changes that force a new resource (Terraform ignores a path whose value is unchanged)."""
    paths: list[Path] = [
        (a.name,) for a in schema.attributes
        if getattr(a, "force_new", False) and not same(prior.get(a.name), values.get(a.name))]
    for block in schema.block_types:
        paths += _block_paths(block, prior.get(block.type_name), values.get(block.type_name))
    return paths


def plan(schema: Schema, prior: State | None, config: State, proposed: State) -> tuple[State, list[Path]]:
    """The SDK's planned state for `proposed` (Terraform's merge of `config` and the prior
    state), and the paths that force replacement (none on create)."""
    planned = dict(proposed)
    fill_defaults(schema, config, planned)
    if prior is None:
        unknown_nested_computed(schema, planned)
        return planned, []
    return planned, replace_paths(schema, prior, planned)
