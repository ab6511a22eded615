"""What the web view shows of a spec file: the file as written, with every password in it hidden,
whatever YAML style holds it. The cluster page, the edit form (after a stale save) and the API's
`spec_yaml` show spec text only through `redact_spec_text`. Pure functions over text."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

HIDDEN = "(hidden)"
MIN_SECRET = 8  # a password found in the file is hidden wherever else it appears, if this long
# libyaml counts positions in characters, as Python does, except a byte order mark: text with one
# goes through the pure-Python parser.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_NAMES_A_PASSWORD = re.compile(r"pass", re.I)  # guest_passwd, and a misspelt guest_password
_LINE_KEY = re.compile(r"pass\w*[\"']?\s*:?", re.I)


def names_a_password(key: str) -> bool:
    """A key whose value is hidden: `guest_passwd`, or any key with "pass" in it, as run outputs are
    redacted (a misspelt `guest_password` is an unknown field, shown as written otherwise)."""
    return bool(_NAMES_A_PASSWORD.search(key))


def redact_spec_text(text: str, password: str | None = None) -> str:
    """`text` with the value of every key naming a password hidden, in any style: plain, quoted,
    block (`|`, `>`), flow or JSON, several lines, nested, or an anchor (`&p`) such a key points
    at; then every other place such a value (or `password`, the valid spec's) appears. Text that
    is not YAML at all has the rest of each line naming a password hidden, and the lines under it."""
    found = _secret_spans(text)
    secrets: tuple[str, ...] = ()
    if found is None:
        shown = _redact_lines(text)
    else:
        spans, secrets = found
        shown = _replace(text, spans)
    for secret in sorted({*secrets, password or ""}, key=len, reverse=True):
        if len(secret) >= MIN_SECRET:
            shown = shown.replace(secret, HIDDEN)
    return shown


@functools.lru_cache(maxsize=32)  # a polled cluster page shows the same text again and again
def _secret_spans(text: str) -> tuple[tuple[tuple[int, int], ...], tuple[str, ...]] | None:
    """Where the values of password keys are in `text` (start, end), and their text; None when
    `text` is not YAML."""
    if not _NAMES_A_PASSWORD.search(text) and "\\" not in text:  # no such key, even escaped
        return (), ()
    loader = yaml.SafeLoader if "\ufeff" in text else _LOADER
    try:
        documents = [d for d in yaml.compose_all(text, Loader=loader) if d is not None]
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    spans: list[tuple[int, int]] = []
    secrets: list[str] = []
    for node in _password_values(documents):
        start, end = node.start_mark.index, node.end_mark.index
        if start < end:
            spans.append((start, end))
        if isinstance(node, ScalarNode):
            secrets.append(node.value.strip())
    return tuple(sorted(spans)), tuple(secrets)


def _password_values(documents: Iterable[Node]) -> Iterable[Node]:
    """The value node of every mapping key that names a password, at any depth. Iterative, and each
    node once: an alias is the node it names, so a file with many aliases costs no more."""
    stack, seen = list(documents), set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, MappingNode):
            for key, value in node.value:
                if isinstance(key, ScalarNode) and names_a_password(key.value):
                    yield value
                else:
                    stack += [key, value]
        elif isinstance(node, SequenceNode):
            stack += node.value


def _replace(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """`text` with each span (outermost first, sorted) replaced by `"(hidden)"`, keeping the line
    breaks a block scalar's span ends with, so the next key stays on its own line."""
    out, at = [], 0
    for start, end in spans:
        if start < at:  # inside a span already hidden
            continue
        piece = text[start:end]
        out += [text[at:start], f'"{HIDDEN}"', piece[len(piece.rstrip()) :]]
        at = end
    return "".join(out) + text[at:]


def _redact_lines(text: str) -> str:
    """Text that is not YAML: from a word with "pass" in it (and its colon), the rest of the line,
    and every line under it indented deeper (a block of several lines) is hidden."""
    out: list[str] = []
    under: int | None = None  # the indentation of the line whose value is being hidden
    bare = False  # that line named a password and nothing more: its value is on the next line
    for line in text.splitlines(keepends=True):
        body = line.rstrip("\r\n")
        indent = len(body) - len(body.lstrip())
        if under is not None and (not body.strip() or indent > under or bare):
            out.append(f"{body[:indent]}{HIDDEN}{line[len(body):]}" if body.strip() else line)
            bare = bare and not body.strip()  # `? key` then `: value` on the next line, same indent
            continue
        under = None
        key = _LINE_KEY.search(body)
        if key is None:
            out.append(line)
            continue
        out.append(f"{body[: key.end()]} {HIDDEN}{line[len(body):]}")
        under, bare = indent, not body[key.end():].strip()
    return "".join(out)
