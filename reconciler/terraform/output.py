"""Terraform's machine-readable output, read: `show -json PLANFILE` -> PlanSummary, and the
`apply -json` event stream -> per-resource progress and human log lines.

Pure functions over parsed JSON; `process.py` feeds them. Checked against Terraform 1.0.3
(`ui` 0.1.0, plan `format_version` 0.2) and 1.11 (`ui` 1.2, plan format 1.2): the fields read here
are the same in both.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

Event = dict[str, Any]
ProgressCallback = Callable[[str, str, str], None]  # (address, queued|running|done|failed, action)

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass(frozen=True)
class PlanSummary:
    add: int
    change: int
    destroy: int
    replace: list[str]  # addresses destroyed and re-created
    destroyed: list[str]  # addresses deleted outright (replacements are in `replace`)
    addresses: dict[str, str]  # address -> create/update/delete/replace/read/no-op (and forget on 1.7+)
    has_changes: bool  # Terraform's own verdict: `plan -detailed-exitcode` returned 2
    output_changes: bool  # some output value would change

    @property
    def pending(self) -> dict[str, str]:
        """Addresses an apply of this plan will touch (what to seed as "queued")."""
        return {a: act for a, act in self.addresses.items() if act not in ("no-op", "read")}


def action_of(actions: list[str]) -> str:
    """Terraform's action list as one word: ["delete", "create"] -> "replace"."""
    if sorted(actions) == ["create", "delete"]:
        return "replace"
    return "+".join(actions) if actions else "no-op"


def plan_summary(plan: Mapping[str, Any], exit_code: int | None = None) -> PlanSummary:
    """Summarise `terraform show -json PLANFILE`. `exit_code` is the `plan -detailed-exitcode` one;
    without it, a plan has changes when a resource or an output would change."""
    addresses: dict[str, str] = {}
    for rc in plan.get("resource_changes") or []:
        addresses[rc["address"]] = action_of(rc.get("change", {}).get("actions", []))
    counts = {a: list(addresses.values()).count(a) for a in ("create", "update", "delete", "replace")}
    outputs = plan.get("output_changes") or {}
    output_changes = any(action_of(o.get("actions", [])) != "no-op" for o in outputs.values())
    if exit_code is None:
        changed = output_changes or any(act not in ("no-op", "read") for act in addresses.values())
    else:
        changed = exit_code == 2
    return PlanSummary(
        add=counts["create"] + counts["replace"],
        change=counts["update"],
        destroy=counts["delete"] + counts["replace"],
        replace=[a for a, act in addresses.items() if act == "replace"],
        destroyed=[a for a, act in addresses.items() if act == "delete"],
        addresses=addresses,
        has_changes=changed,
        output_changes=output_changes,
    )


class PlannedChanges:
    """Collects a `plan -json` stream: each address's action from `planned_change` events, the
    counts from `change_summary` (1.0.3 and 1.11 both send both)."""

    WORDS = {"create": "create", "update": "update", "delete": "delete", "replace": "replace",
             "read": "read", "noop": "no-op"}  # fmt: skip

    def __init__(self) -> None:
        self.addresses: dict[str, str] = {}
        self.counts = (0, 0, 0)

    def feed(self, event: Event) -> None:
        if event.get("type") == "planned_change":
            change = event.get("change") or {}
            action = str(change.get("action", ""))
            self.addresses[change["resource"]["addr"]] = self.WORDS.get(action, action)
        elif event.get("type") == "change_summary":
            c = event.get("changes") or {}
            self.counts = (int(c.get("add", 0)), int(c.get("change", 0)), int(c.get("remove", 0)))

    def summary(self, exit_code: int) -> PlanSummary:
        add, change, destroy = self.counts
        return PlanSummary(
            add=add, change=change, destroy=destroy,
            replace=[a for a, act in self.addresses.items() if act == "replace"],
            destroyed=[a for a, act in self.addresses.items() if act == "delete"],
            addresses=dict(self.addresses), has_changes=exit_code == 2, output_changes=False,
        )  # fmt: skip


class Progress:
    """Turns `apply -json` events into (address, state, action) calls.

    A replacement runs as two hooks on one address (delete then create, or the reverse with
    create_before_destroy): it is "running" from the first start and "done" after the second
    completion. Terraform announces replacements with `planned_change` events before applying a
    saved plan (1.0.3 and 1.11 both do).
    """

    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.planned: dict[str, str] = {}
        self.states: dict[str, str] = {}
        self._halves: dict[str, int] = {}

    def feed(self, event: Event) -> None:
        kind = event.get("type")
        if kind == "planned_change":
            change = event.get("change") or {}
            addr, action = change["resource"]["addr"], str(change.get("action", ""))
            self.planned[addr] = action
            if action not in ("noop", "read"):
                self._emit(addr, QUEUED, action)
            return
        if kind not in ("apply_start", "apply_complete", "apply_errored"):
            return
        hook = event.get("hook") or {}
        addr = hook["resource"]["addr"]
        action = self.planned.get(addr) or str(hook.get("action", ""))
        if kind == "apply_start":
            self._emit(addr, RUNNING, action)
        elif kind == "apply_errored":
            self._emit(addr, FAILED, action)
        else:
            self._halves[addr] = self._halves.get(addr, 0) + 1
            if action != "replace" or self._halves[addr] >= 2:
                self._emit(addr, DONE, action)

    def _emit(self, addr: str, state: str, action: str) -> None:
        if self.states.get(addr) == state:
            return
        self.states[addr] = state
        if self.callback is not None:
            self.callback(addr, state, action)


def diagnostic_lines(diag: Mapping[str, Any]) -> list[str]:
    """A diagnostic as Terraform prints it (-no-color), for the run log."""
    lines = ["", f"{str(diag.get('severity', 'error')).capitalize()}: {diag.get('summary', '')}"]
    rng, snippet = diag.get("range") or {}, diag.get("snippet") or {}
    if rng.get("filename"):
        lines += ["", f"  on {rng['filename']} line {rng.get('start', {}).get('line', '?')}:"]
        if snippet.get("code") is not None:
            lines.append(f"  {snippet.get('start_line', '')}: {snippet['code']}")
    if diag.get("address"):
        lines.append(f"  with {diag['address']}")
    if diag.get("detail"):
        lines += ["", *str(diag["detail"]).rstrip("\n").split("\n")]
    return lines


_PLAN_LINE = re.compile(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy")


def summary_from_text(lines: list[str], exit_code: int) -> PlanSummary:
    """The counts of a plan from Terraform's human output ("Plan: 3 to add, 0 to change, 1 to
    destroy.", the same words in 1.0, 1.11 and OpenTofu); the verdict from its exit code."""
    add = change = destroy = 0
    for line in lines:
        found = _PLAN_LINE.search(line)
        if found:
            add, change, destroy = (int(n) for n in found.groups())
    outputs = any(line.strip().startswith("Changes to Outputs") for line in lines)
    return PlanSummary(add, change, destroy, [], [], {}, exit_code == 2, outputs)


def state_addresses(state: Mapping[str, Any]) -> list[str]:
    """Resource addresses of a state file (format version 4), sorted as `terraform state list`."""
    out = []
    for res in state.get("resources") or []:
        base = ".".join(p for p in (res.get("module"), "data" if res.get("mode") == "data" else None) if p)
        name = f"{base + '.' if base else ''}{res['type']}.{res['name']}"
        for inst in res.get("instances") or []:
            key = inst.get("index_key")
            out.append(name if key is None else f"{name}[{json.dumps(key)}]")
    return sorted(out)


def parse_event(line: str) -> Event | None:
    """A line of a `-json` run as an event; None for anything else (plain text Terraform prints)."""
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def human_lines(event: Event) -> list[str]:
    """What the run log shows for one JSON event: its `@message`, or the full diagnostic."""
    if event.get("type") == "diagnostic" and isinstance(event.get("diagnostic"), dict):
        return diagnostic_lines(event["diagnostic"])
    message = str(event.get("@message", ""))
    return message.split("\n") if message else []


def mask_sensitive(event: Event) -> Event:
    """The event with sensitive output values hidden (1.0.3 includes them in `outputs` events)."""
    outputs = event.get("outputs")
    if event.get("type") != "outputs" or not isinstance(outputs, dict):
        return event
    masked = {
        name: ({**o, "value": "(sensitive value)"} if o.get("sensitive") and "value" in o else o)
        for name, o in outputs.items()
    }
    return {**event, "outputs": masked}
