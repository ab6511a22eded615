"""The one escaping filter: every user value reaches main.tf through `hcl()`, which writes it as an
HCL literal that no input can break out of (quotes, backslashes, newlines, `${`, `%{`)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_TEMPLATE = re.compile(r"([$%])\{")


def _escape_char(match: re.Match[str]) -> str:
    ch = match.group(0)
    return _ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def hcl_string(value: str) -> str:
    """A quoted HCL string whose value is exactly `value`."""
    body = re.sub(r'[\\"]', _escape_char, value)
    body = _CONTROL.sub(_escape_char, body)
    # `$${` and `%%{` are HCL's literal forms of `${` and `%{`.
    body = _TEMPLATE.sub(lambda m: m.group(1) * 2 + "{", body)
    return f'"{body}"'


def hcl(value: Any, indent: int = 0) -> str:
    """Any JSON-like value as an HCL expression; mappings become objects with quoted keys."""
    pad = "  " * (indent + 1)
    end = "  " * indent
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return hcl_string(value)
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        items = "".join(f"{pad}{hcl_string(str(k))} = {hcl(v, indent + 1)}\n" for k, v in value.items())
        return "{\n" + items + end + "}"
    if isinstance(value, Sequence):
        if not value:
            return "[]"
        parts = [hcl(v, indent + 1) for v in value]
        flat = "[" + ", ".join(parts) + "]"
        if len(flat) <= 72 and "\n" not in flat:
            return flat
        return "[\n" + "".join(f"{pad}{hcl(v, indent + 1)},\n" for v in value) + end + "]"
    raise TypeError(f"cannot write {type(value).__name__} as HCL")
