"""A preview's answer in a person's words, for the cluster form (`preview.py` asks the hub, the
template `_preview.html` shows this): the counts as "+2 to create, ~1 to update in place", each loss
as "node2 will be deleted: its disk is erased", each refusal or invalid field with the form input
it is about, so a keyboard user can go straight to it."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.model.spec import FieldError
from webview.forms import FormView, input_for

Tone = Literal["ok", "same", "loss", "refused", "invalid", "error"]
COUNTS = (
    ("create", "+{n} to create"),
    ("update", "~{n} to update in place"),
    ("rebuild", "{n} to rebuild"),
    ("replace", "{n} to replace"),
    ("delete", "\N{MINUS SIGN}{n} to delete"),
)
# A line of the engine's `losing` list (reconciler.engine.safety.Change.describe):
# `openstack_compute_instance_v2.instances["node2"]: delete, the instance and the data on it are erased`
LOSING_RE = re.compile(
    r'^(?:module\.[\w-]+\.)*(?P<type>\w+)\.\w+(?:\["(?P<key>[^"]*)"\]|\[(?P<index>\d+)\])?'
    r": (?P<kind>create|update|rebuild|replace|delete)(?:, (?P<why>.*))?$",
    re.S,
)
# What losing one of these erases, by resource type (the engine's nouns: safety.RULES).
ERASES = {
    "openstack_compute_instance_v2": ("", "its disk is erased"),
    "openstack_blockstorage_volume_v3": ("volume ", "its data is erased"),
    "openstack_blockstorage_volume_v2": ("volume ", "its data is erased"),
}
VERBS = {"delete": "will be deleted", "replace": "will be replaced", "rebuild": "will be rebuilt"}
# The engine's own words for the erasure, dropped from a reason (we say it our way).
ERASED_RE = re.compile(
    r"(?:;\s*)?the \w[\w ]* and the data on it are erased|: the instance is rebuilt and its disk erased"
)


@dataclass(frozen=True)
class Line:
    text: str
    target: str = ""  # the id of the form input it is about, if any


@dataclass(frozen=True)
class Said:
    tone: Tone
    title: str
    detail: str = ""
    lines: tuple[Line, ...] = ()
    note: str = ""
    footer: str = ""  # how it was made: "Planned by Terraform in 2.1 s; nothing was written."


def counts_text(changes: Mapping[str, Any]) -> str:
    """The counts by kind, in the engine's order: "+2 to create, ~1 to update in place (3 resources)"."""
    parts = [words.format(n=changes[kind]) for kind, words in COUNTS if changes.get(kind)]
    if not parts:
        return "no changes"
    total = sum(int(n) for n in changes.values() if isinstance(n, int))
    noun = "resource" if total == 1 else "resources"  # the counts are Terraform's resources, not hosts
    return f"{', '.join(parts)} ({total} {noun})"


def lost_text(line: str) -> str:
    """One thing a change would lose, in words: "node2 will be deleted: its disk is erased",
    "login1 will be rebuilt (image_name changed): its disk is erased". A line in a shape this
    does not know is shown as the engine wrote it."""
    m = LOSING_RE.match(line.strip())
    if m is None:
        return line
    kind, rtype = m["kind"], m["type"]
    name = m["key"] if m["key"] is not None else (m["index"] or rtype)
    noun, erased = ERASES.get(rtype, (f"{rtype} ", "its data is lost"))
    reason = ERASED_RE.sub("", m["why"] or "").strip(" ;,")
    if kind not in VERBS:  # an update that loses data: a volume shrink; the engine says why
        return f"{noun}{name}: {reason or 'loses data'}"
    because = f" ({reason})" if reason else ""
    return f"{noun}{name} {VERBS[kind]}{because}: {erased}"


def _targeted(lines: Iterable[str], view: FormView | None) -> tuple[Line, ...]:
    """Each "<field path>: <why>" with the form input its path belongs to."""
    out = []
    for text in lines:
        path = text.split(":", 1)[0].strip() if ":" in text else ""
        target = input_for(path, view) if view is not None and path else None
        out.append(Line(text, target or ""))
    return tuple(out)


def said(result: Mapping[str, Any], view: FormView | None = None) -> Said:
    """The preview's JSON (the Previewer's contract, state.py) as the form shows it."""
    seconds = result.get("seconds")
    footer = (
        f"Planned by Terraform in {seconds:.1f} s; nothing was written."
        if isinstance(seconds, int | float)
        else "Nothing was written."
    )
    refused = [str(r) for r in result.get("refused") or []]
    if refused:
        note = "Nothing would be built or changed as it is: fix the field named."
        lines = _targeted(refused, view)
        return Said("refused", "The hub would refuse this change", "", lines, note, "Nothing was written.")
    changes = result.get("changes") or {}
    counts = counts_text(changes if isinstance(changes, Mapping) else {})
    losing = [str(x) for x in result.get("losing") or []]
    if losing:
        note = "If you save it, the hub asks for your approval on the cluster page before it erases anything."
        lines = tuple(Line(lost_text(x)) for x in losing)
        return Said("loss", "This change loses data", counts + ".", lines, note, footer)
    if counts == "no changes":
        return Said("same", "No changes", "The cloud already matches this spec.", footer=footer)
    return Said("ok", "Nothing lost", counts + ".", footer=footer)


def said_invalid(errors: Iterable[FieldError], view: FormView | None, absent: str = "") -> Said:
    """A spec the form cannot save yet: each message with the input it is about. `absent`: what
    to say for a form that keeps its cluster destroyed (an error on `ensure`)."""
    errors = list(errors)
    if absent and any(e.path == "ensure" for e in errors):
        return Said("invalid", "Nothing to preview", absent, (Line("Build it again", "rebuild"),))
    lines = tuple(
        Line(e.message if e.path.startswith("#") else str(e), (input_for(e.path, view) or "") if view else "")
        for e in errors
    )
    return Said("invalid", "Not valid yet", "Fix these first; nothing was planned:", lines)


def said_error(message: str) -> Said:
    return Said("error", "No preview", message)
