"""Run history in words, for the cluster page: what each Terraform run did to the cluster ("added
node3 and node4, 2 volumes; changed 1 volume"), with the Terraform addresses kept for a title.
From the run record (reconciler/model/runs.py): `resources` (address -> action, what the run did),
else the plan's counts; a failed run says what failed (webview/failures.py). And who did what: the
spec's commits and who each run was for (`who_did_what`, from git through webview/gitlog.py)."""

from __future__ import annotations

import re
from typing import Any

from reconciler.model.runs import RunRecord
from webview import failures
from webview.gitlog import Commit, SpecHistory

VERBS = {"create": "added", "update": "changed", "replace": "replaced", "delete": "removed"}
PLANNED = {"create": "to add", "update": "to change", "rebuild": "to rebuild", "replace": "to replace",
           "delete": "to remove"}  # fmt: skip
# resource type -> (one, many); None: implied by another (an attachment goes with its volume).
NOUNS: dict[str, tuple[str, str] | None] = {
    "openstack_compute_instance_v2": ("host", "hosts"),
    "openstack_blockstorage_volume_v3": ("volume", "volumes"),
    "openstack_blockstorage_volume_v2": ("volume", "volumes"),
    "openstack_compute_volume_attach_v2": None,
    "openstack_networking_floatingip_associate_v2": None,
    "openstack_networking_floatingip_v2": ("public IP", "public IPs"),
    "openstack_compute_keypair_v2": ("SSH key pair", "SSH key pairs"),
    "openstack_networking_port_v2": ("network port", "network ports"),
    "openstack_networking_secgroup_v2": ("security group", "security groups"),
    "openstack_networking_secgroup_rule_v2": ("firewall rule", "firewall rules"),
}
OTHER = ("other resource", "other resources")
# What people look for first: hosts, then their data, then the plumbing.
_RANK = {noun: i for i, noun in enumerate(dict.fromkeys(n for n in NOUNS.values() if n is not None))}
NAME_UP_TO = 3  # hosts named one by one up to this many
_KEY = re.compile(r'\["([^"]+)"\]$')


def _type_of(address: str) -> str:
    parts = [p for p in address.split(".") if p.startswith("openstack_")]
    return parts[-1].split("[")[0] if parts else ""


def _count(n: int, noun: tuple[str, str]) -> str:
    return f"{n} {noun[0] if n == 1 else noun[1]}"


def _names(hosts: list[str]) -> str:
    return hosts[0] if len(hosts) == 1 else f"{', '.join(hosts[:-1])} and {hosts[-1]}"


def done_in_words(resources: dict[str, str]) -> str:
    """`added node3 and node4, 2 volumes; changed 1 volume` from address -> action."""
    by_action: dict[str, dict[tuple[str, str], list[str]]] = {}
    for address, action in resources.items():
        rtype = _type_of(address)
        noun = NOUNS.get(rtype, OTHER) if rtype else OTHER
        if noun is None or action not in VERBS:
            continue
        m = _KEY.search(address)
        by_action.setdefault(action, {}).setdefault(noun, []).append(m.group(1) if m else address)
    parts = []
    for action in VERBS:
        nouns = by_action.get(action)
        if not nouns:
            continue
        items = []
        for noun, keys in sorted(nouns.items(), key=lambda kv: _RANK.get(kv[0], len(_RANK))):
            if noun[0] == "host" and len(keys) <= NAME_UP_TO:
                items.append(_names(keys))
            else:
                items.append(_count(len(keys), noun))
        parts.append(f"{VERBS[action]} {', '.join(items)}")
    return "; ".join(parts)


def run_words(record: RunRecord) -> dict[str, Any]:
    """`{"text", "title", "tone"}`: the run's summary in words, and the Terraform detail it comes
    from (addresses, counts, the message) for a title."""
    detail = [f"{a.removeprefix('module.openstack.')}: {act}" for a, act in record.resources.items()]
    title = "\n".join([*filter(None, [record.summary]), *detail]) or record.message
    if record.result == "running":
        return {"text": "running…", "title": title, "tone": "running"}
    if record.result == "failed":
        advice = failures.for_kind(record.error_kind or "", record.message)
        text = advice.headline if advice is not None else (record.message or "failed")
        done = done_in_words(record.resources)
        text += f" ({done} before that)" if done else ""
        return {"text": text, "title": record.message, "tone": "error"}
    if record.result == "interrupted":
        return {"text": "interrupted: the hub plans again from Terraform's state", "title": title, "tone": ""}
    if done := done_in_words(record.resources):
        return {"text": done, "title": title, "tone": ""}
    planned = [f"{n} {PLANNED.get(k, k)}" for k, n in record.changes.items() if n]
    if planned:
        lead = "planned: " if record.action in ("plan", "drift") else ""
        return {"text": lead + ", ".join(planned), "title": title, "tone": ""}
    if record.message and record.message != "no changes":
        return {"text": record.message, "title": title, "tone": ""}
    return {"text": "no changes", "title": title, "tone": ""}


def reason_words(reason: str) -> str:
    """A run's reason (status.Reason value) as a few words: `spec_changed` -> `spec changed`."""
    return {"new_spec": "new spec", "retry_due": "retry", "drift_check_due": "drift check",
            "absent_requested": "destroy asked for", "approved": "approved by a person",
            "expired": "expired", "backing_off": "retry"}.get(reason, reason.replace("_", " "))  # fmt: skip


# -- who did what: the spec's commits, and who each run was for ----------------------------------

SHOWN_CHANGES = 20  # commits listed on the page; older ones behind "more", up to KEPT_CHANGES
KEPT_CHANGES = 100
SPEC_REASONS = frozenset({"new_spec", "spec_changed", "absent_requested"})  # runs a spec change starts


def run_by(record: RunRecord, made_by: Commit | None) -> dict[str, str]:
    """`{"text", "title"}`: who a run was for. The approver of the plan it applies, or the person
    who asked for a retry (both from the run record); for a run a spec change started, the author
    of the commit that made that version of the spec (found by the spec file's content,
    `SpecHistory.commit_of`); else the hub itself (a drift check, a retry after backoff, expiry)."""
    if record.approved_by:
        return {"text": f"approved by {record.approved_by}", "title": "the plan it applies was approved"}
    if record.triggered_by:
        return {"text": f"retry asked by {record.triggered_by}", "title": "a person asked to retry now"}
    if record.reason in SPEC_REASONS and made_by is not None:
        title = f"{made_by.author} <{made_by.email}>, commit {made_by.sha[:10]}: {made_by.summary}"
        return {"text": made_by.author, "title": title}
    if record.reason in SPEC_REASONS and record.spec_blob:
        return {"text": "an edit not in git", "title": "no commit holds the spec this run worked from"}
    if record.reason in SPEC_REASONS:
        return {"text": "", "title": ""}
    return {"text": "the hub", "title": f"the hub's own: {reason_words(record.reason)}"}


def who_did_what(spec_history: SpecHistory, name: str, records: list[RunRecord]) -> dict[str, Any]:
    """The cluster page's history from git (it may start git: call it in a thread): the spec's
    commits newest first (`changes`, then `more` behind a "more" button, and how many `older` ones
    are not listed), and who each run was for (`run_by`, by run id)."""
    commits = spec_history.entries(name)
    by = {}
    for record in records:
        made = spec_history.commit_of(name, record.spec_blob or "", record.started_at)
        by[record.id] = run_by(record, made)
    return {
        "changes": commits[:SHOWN_CHANGES],
        "more_changes": commits[SHOWN_CHANGES:KEPT_CHANGES],
        "older_changes": max(0, len(commits) - KEPT_CHANGES),
        "run_by": by,
    }
