"""Rewriting an existing spec file as a person would: ruamel.yaml's round trip keeps its comments,
key order, quoting and flow style, and only the keys a writer sets change. The web view's edit form,
its `PUT` and its destroy (`ensure: absent`) go through here, and a new file is written in the
same style (`new_document`). Text in, text out: no disk (reconciler.model.specfiles does the writing)."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import LiteralScalarString
from yaml import YAMLError as PyYAMLError

from reconciler.model.limits import DEFAULT_LIMITS, Refused, guarded_yaml
from reconciler.model.spec import (
    MAX_SPEC_BYTES,
    ClusterSpec,
    FieldError,
    Instance,
    SpecError,
    Volume,
    load_yaml,
)

# Keys whose value is a map of entries of a model, and how deep: instances.<prefix> is an Instance,
# volumes.<tag>.<name> a Volume. Their entries are edited in place, like the top level.
NESTED: dict[str, tuple[int, type[BaseModel]]] = {"instances": (1, Instance), "volumes": (2, Volume)}
KEY_LINE_RE = re.compile(r"^[^#{}\[\]]+:(\s+#.*)?$")  # `key:` with its value on the lines below
BLOCK_SCALAR_RE = re.compile(r":\s*[|>][-+0-9]*\s*(#.*)?$")  # `key: |` (its text is not YAML)


class Unreadable(SpecError):
    """A spec file that cannot be edited in place: not YAML, not a mapping, or with aliases."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line (an SSH key) that the file keeps on one
    return yaml


def _refuse(message: str) -> Unreadable:
    return Unreadable([FieldError(path="", message=message)])


def _where(exc: YAMLError) -> str:
    """Line, column and what is wrong, never the file's text: ruamel's own message quotes the line
    (and a duplicated key's values), which may hold a guest password written by hand."""
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or "not YAML")
    if "duplicate key" in problem:
        problem = "a key is given twice"
    elif '"' in problem or "'" in problem:
        problem = problem.split('"')[0].split("'")[0].strip() or "not YAML"
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark else problem


def load_document(text: str) -> tuple[CommentedMap, YAML]:
    """The file as a round-trip mapping, and a YAML dumper set to the file's own indentation."""
    if len(text.encode()) > MAX_SPEC_BYTES:
        raise _refuse(f"spec is larger than {MAX_SPEC_BYTES} bytes")
    try:  # the spec parser's guard first: ruamel recurses through whatever nesting it is given
        guarded_yaml(text, DEFAULT_LIMITS, aliases_refused=None)
    except Refused as exc:
        raise _refuse(f"{exc}; fix the file by hand") from None
    except PyYAMLError:
        pass  # not YAML: ruamel says so its own way below (it has no depth limit of its own)
    yaml = _yaml()
    try:
        doc = yaml.load(text)
    except YAMLError as exc:
        where = _where(exc)
        raise _refuse(f"the file is not YAML that can be edited here ({where}); fix it by hand") from None
    if not isinstance(doc, CommentedMap):
        raise _refuse("the file is not a YAML mapping of fields; fix it by hand")
    mapping, sequence, offset = guess_indents(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return doc, yaml


def guess_indents(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file writes them, from the first line
    under a `key:` line of each kind; PyYAML's (2, 2, 0) when the file does not say."""
    mapping = sequence = offset = None
    parent: int | None = None  # column of the last `key:` line that opens a block
    block: int | None = None  # column of a `key: |` line whose text follows
    for line in text.splitlines():
        body = line.strip()
        col = len(line) - len(line.lstrip(" "))
        if not body or body.startswith("#") or (block is not None and col > block):
            continue
        block = col if BLOCK_SCALAR_RE.search(body) else None
        if parent is not None and col > parent:
            if body.startswith("- ") and offset is None:
                offset = col - parent
                sequence = offset + len(body) - len(body[1:].lstrip(" "))
            elif not body.startswith("-") and mapping is None:
                mapping = col - parent
        parent = col if KEY_LINE_RE.match(body) else None
    return mapping or 2, sequence or 2, offset or 0


def dump_document(doc: CommentedMap, yaml: YAML) -> str:
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


def _plain(value: Any) -> Any:
    """A value as plain data, for comparing what the file holds with what a writer sets."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool) or value is None:
        return value
    for kind in (int, float, str):  # ruamel's ScalarInt, ScalarFloat, quoted strings: plain again
        if isinstance(value, kind):
            return kind(value)
    return value


def _fresh(value: Any) -> Any:
    """A new value as the round trip should write it: text of several lines as a `|` block."""
    if isinstance(value, Mapping):
        return CommentedMap((k, _fresh(v)) for k, v in value.items())
    if isinstance(value, list | tuple):
        return [_fresh(v) for v in value]
    if isinstance(value, str) and "\n" in value.rstrip("\n"):
        return LiteralScalarString(value)
    return value


def _default(model: type[BaseModel], key: str) -> Any:
    field = model.model_fields.get(key)
    return None if field is None or field.is_required() else field.get_default(call_default_factory=True)


def _set(doc: CommentedMap, key: str, value: Any, model: type[BaseModel]) -> None:
    """One key: unchanged values keep their node (comments, quoting, style); a value that is the
    model's default is not added to a file that leaves it out; None removes the key."""
    if value is None:
        doc.pop(key, None)
    elif key in doc:
        if _plain(doc[key]) != _plain(value):
            doc[key] = _fresh(value)
    elif _plain(value) != _plain(_default(model, key)):
        doc[key] = _fresh(value)


def _merge_entries(
    doc: Any, new: Mapping[str, Any], depth: int, model: type[BaseModel], replace: bool
) -> Any:
    """A map of entries (instances, volumes): gone entries removed, kept ones edited in place."""
    if not isinstance(doc, CommentedMap):
        return _fresh(new)
    for key in [k for k in doc if k not in new]:
        del doc[key]
    for key, value in new.items():
        if key in doc and isinstance(doc[key], CommentedMap) and isinstance(value, Mapping):
            if depth > 1:
                _merge_entries(doc[key], value, depth - 1, model, replace)
            else:
                merge_fields(doc[key], value, model, model.model_fields, replace)
        else:
            _set(doc, key, value, model)
    return doc


def merge_fields(
    doc: CommentedMap, new: Mapping[str, Any], model: type[BaseModel], keys: Collection[str], replace: bool
) -> None:
    """Set `keys` of `doc` to their values in `new` (a key missing from `new` is removed). With
    `replace`, keys of the file that `model` does not know are removed too (a full replacement,
    as a PUT is); without it they stay, as do all keys outside `keys`."""
    wanted = set(keys) | ({str(k) for k in doc if k not in model.model_fields} if replace else set())
    for key in [k for k in doc if k in wanted]:
        if key not in new:
            del doc[key]
    for key in [k for k in new if k in wanted]:  # new keys follow the model's order, at the end
        nested = NESTED.get(key) if model is ClusterSpec else None
        if nested is not None and key in doc and isinstance(new[key], Mapping):
            doc[key] = _merge_entries(doc[key], new[key], nested[0], nested[1], replace)
        else:
            _set(doc, key, new[key], model)


def apply_values(text: str, values: Mapping[str, Any], keys: Collection[str], replace: bool = False) -> str:
    """The spec file `text` with `keys` set to `values` (a ClusterSpec's `model_dump()`, None
    values left out), everything else as it was; `text` itself when that changes nothing."""
    try:
        load_yaml(text)  # the spec files' guard first: the comparisons below walk every value
    except SpecError as exc:
        raise Unreadable(exc.errors) from None
    doc, yaml = load_document(text)
    before = _plain(doc)
    merge_fields(doc, values, ClusterSpec, keys, replace)
    return text if _plain(doc) == before else dump_document(doc, yaml)


def new_document(spec: ClusterSpec) -> str:
    """A new spec file: fields in the model's order, unset optional ones left out, long lines (an
    SSH key) kept whole and text of several lines as a `|` block, so a later edit starts clean."""
    doc = _fresh(spec.model_dump(mode="python", exclude_none=True))
    return dump_document(doc, _yaml())


def set_ensure_absent(text: str) -> str:
    """The file with `ensure: absent`, the rest untouched; works on a spec that does not validate."""
    doc, yaml = load_document(text)
    doc["ensure"] = "absent"
    return dump_document(doc, yaml)
