"""Values in plans and states, as Terraform's rules want them: `known` (neither null nor not
known yet), an applied state without unknowns, an apply that keeps every planned value
(`settle`), and a read that keeps the configuration's nulls where the cloud says "" (`keep_nulls`).
Pure; framework.py applies them around each resource's own calls.
"""

from __future__ import annotations

from typing import Any

from tf.schema import Block, Schema
from tf.types import Unknown

State = dict[str, Any]


def known(value: Any) -> bool:
    return value is not None and value is not Unknown


def no_unknowns(value: Any) -> Any:
    """`value` with every unknown (also inside blocks) made null: an applied state has no unknowns."""
    if value is Unknown:
        return None
    if isinstance(value, dict):
        return {k: no_unknowns(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_unknowns(v) for v in value]
    return value


def _items(value: Any) -> list[State] | None:
    """A block's value as a list of items, or None for anything else."""
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    return None


def settle(planned: State, values: State) -> State:
    """The planned state with its unknown values (also inside blocks) replaced by what the cloud
    reported: Terraform requires an apply to keep every value the plan knew."""
    state = dict(planned)
    for key, value in values.items():
        old, new = _items(state.get(key)), _items(value)
        if old is not None and new is not None and old and len(old) == len(new):
            state[key] = [settle(o, n) for o, n in zip(old, new, strict=True)]
        elif state.get(key, Unknown) is Unknown:
            state[key] = value
    return dict(no_unknowns(state))


def keep_nulls(schema: Block | Schema, current: State, values: State) -> State:
    """A value the configuration left null reads back null when the cloud says "" (or false, 0,
    nothing): the SDK does not tell them apart, and Terraform would show a change to null."""
    kept = dict(values)
    for attribute in schema.attributes:
        value = kept.get(attribute.name)
        if not attribute.computed and current.get(attribute.name) is None and value in ("", 0, False, [], {}):
            kept[attribute.name] = None
    for block in schema.block_types:
        old, new = _items(current.get(block.type_name)), _items(kept.get(block.type_name))
        if old is not None and new is not None and len(old) == len(new):
            kept[block.type_name] = [keep_nulls(block.block, o, n) for o, n in zip(old, new, strict=True)]
    return kept
