"""Run history in words, for the cluster page: what each Terraform run did to the cluster ("added
node3 and node4, 2 volumes; changed 1 volume"), with the Terraform addresses kept for a title.
From the run record (reconciler/model/runs.py): `resources` (address -> action, what the run did),
else the plan's counts; a failed run says what failed (webview/failures.py)."""

from __future__ import annotations

import re
from typing import Any

from reconciler.model.runs import RunRecord
from webview import failures

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
