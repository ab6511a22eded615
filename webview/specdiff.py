"""A spec change in words, for the cluster page's history: "instances.node.count 2 -> 4" from two
versions of a spec file, used when a commit's subject says no more than "updated" (the web view's
own "Update cluster x (web view)", GitHub's "Update x.yaml", "wip"). Pure functions over text; a
password's value is never shown (webview/redact.py's rule for which keys name one)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from reconciler.model.spec import MAX_SPEC_BYTES
from webview.redact import HIDDEN, MIN_SECRET, names_a_password

MAX_BYTES = MAX_SPEC_BYTES
SHOWN = 3  # changes named one by one; the rest are counted
VALUE_UP_TO = 40  # characters of a value shown
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_GENERIC = re.compile(
    r"(?:update|create)[sd]? cluster [a-z0-9-]+ \(web view\)"  # the web view's own
    r"|(?:update|create)[sd]? [\w.-]+\.ya?ml"  # a forge's web editor
    r"|(?:update|updates|updated|wip|edit|edits|edited|change|changes|changed|fix|tweak)?[.!]*",
    re.I,
)


def generic(subject: str) -> bool:
    """Whether a commit subject says nothing about what changed, so the change is told instead."""
    return bool(_GENERIC.fullmatch(subject.strip()))


def _load(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        data = yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader
    except (yaml.YAMLError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _secrets(data: Any, out: set[str]) -> set[str]:
    """Every value held under a key naming a password, anywhere in `data`."""
    if isinstance(data, dict):
        for key, value in data.items():
            if names_a_password(str(key)) and isinstance(value, str | int | float):
                out.add(str(value))
            _secrets(value, out)
    elif isinstance(data, list):
        for item in data:
            _secrets(item, out)
    return out


def _shown(value: Any, path: str, secrets: set[str]) -> str:
    if any(names_a_password(part) for part in path.split(".")):
        return HIDDEN
    if isinstance(value, dict):
        return f"{{{len(value)} keys}}"
    if isinstance(value, list):
        if len(value) > 3 or any(isinstance(v, dict | list) for v in value):
            return f"[{len(value)} items]"
        return "[" + ", ".join(_shown(v, path, secrets) for v in value) + "]"
    text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    if any(len(s) >= MIN_SECRET and s in text for s in secrets) or text in secrets:
        return HIDDEN
    text = " ".join(text.split())
    return text if len(text) <= VALUE_UP_TO else text[: VALUE_UP_TO - 1] + "…"


def changes(old: Any, new: Any, secrets: set[str], path: str = "") -> list[str]:
    """Each difference between two parsed specs as "path a -> b", "path added: v", "path removed",
    in the files' key order; a mapping is followed down, anything else compared whole."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[str] = []
        for key in dict.fromkeys([*old, *new]):
            where = f"{path}.{key}" if path else str(key)
            if key not in new:
                out.append(f"{where} removed")
            elif key not in old:
                out.append(f"{where} added: {_shown(new[key], where, secrets)}")
            else:
                out.extend(changes(old[key], new[key], secrets, where))
        return out
    if old == new:
        return []
    if any(names_a_password(part) for part in path.split(".")):
        return [f"{path} changed"]
    if isinstance(old, list) and isinstance(new, list) and (len(old) > 3 or len(new) > 3):
        return [f"{path} changed ({len(old)} -> {len(new)} items)"]
    return [f"{path} {_shown(old, path, secrets)} -> {_shown(new, path, secrets)}"]


def summary(old_text: str | None, new_text: str | None) -> str:
    """What changed from `old_text` to `new_text`, in a line: up to SHOWN changes, then how many
    more. A version that is not a YAML mapping (or too large to read) gives "the file changed"."""
    old, new = _load(old_text), _load(new_text)
    if old is None or new is None:
        return "the file changed"
    found = changes(old, new, _secrets(old, set()) | _secrets(new, set()))
    if not found:
        return "comments or layout only"
    more = len(found) - SHOWN
    return "; ".join(found[:SHOWN]) + (
        f"; and {more} more change{'s' if more > 1 else ''}" if more > 0 else ""
    )
