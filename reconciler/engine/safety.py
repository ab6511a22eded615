"""Safe change: a saved plan (`terraform show -json`) read into per-resource changes (create,
update, rebuild, replace, delete), each marked data-losing or not by the rules below, which follow
the real terraform-provider-openstack (shared/reference/openstack-provider.md). The executor
applies a plan by itself only when nothing in it loses data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from reconciler.model.volumes import shrinking

Kind = Literal["create", "update", "rebuild", "replace", "delete"]
KINDS: tuple[Kind, ...] = ("create", "update", "rebuild", "replace", "delete")


@dataclass(frozen=True)
class Rule:
    """What the provider does with one resource type's changes, as far as data is concerned."""

    noun: str  # how a person calls one: "instance", "volume"
    holds_data: bool = False  # deleting or replacing it erases data
    rebuilds: tuple[str, ...] = ()  # attributes whose in-place update re-images the root disk
    shrinks: str | None = None  # the size attribute that cannot go down without losing data
    # Why an attribute change replaces or updates, in words, when the values alone do not say.
    because: Mapping[str, str] = field(default_factory=dict)


INSTANCE = "openstack_compute_instance_v2"
VOLUME = "openstack_blockstorage_volume_v3"
RULES: dict[str, Rule] = {
    INSTANCE: Rule(
        "instance", holds_data=True, rebuilds=("image_id", "image_name"),
        because={
            "flavor_name": "its flavor was resized", "flavor_id": "its flavor was resized",
            "key_pair": "its key pair changed", "user_data": "its cloud-init data changed",
            "network": "its network changed", "block_device": "its boot disk changed",
            "availability_zone": "its availability zone changed",
            "power_state": "it was stopped outside the hub and will be started",
        },
    ),
    VOLUME: Rule(
        "volume", holds_data=True, shrinks="size",
        because={
            # Retyped in place (an update, data kept) since provider 3.1.0, with `volume_retype_policy`
            # "never": a type on another back end is refused, not migrated. Up to 3.0.0 a replace,
            # which erases the data: the plan's own action says which, these words say why.
            "volume_type": "its volume type changed",
            "availability_zone": "its availability zone changed",
        },
    ),
    "openstack_blockstorage_volume_v2": Rule("volume", holds_data=True, shrinks="size"),
    "openstack_compute_volume_attach_v2": Rule("volume attachment"),
    "openstack_networking_floatingip_v2": Rule("floating IP"),
    "openstack_networking_floatingip_associate_v2": Rule("floating IP association"),
    "openstack_networking_port_v2": Rule("port"),
    "openstack_compute_keypair_v2": Rule("key pair"),
}  # fmt: skip
OTHER = Rule("resource")


@dataclass(frozen=True)
class Change:
    address: str
    type: str
    kind: Kind
    losing: bool = False
    why: str = ""  # in words: what changed, and what it does to the data

    def describe(self) -> str:
        short = self.address.removeprefix("module.openstack.")
        return f"{short}: {self.kind}" + (f", {self.why}" if self.why else "")


@dataclass(frozen=True)
class Classified:
    changes: tuple[Change, ...] = ()

    @property
    def losing(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.losing)

    def counts(self) -> dict[str, int]:
        return {k: n for k in KINDS if (n := sum(1 for c in self.changes if c.kind == k))}

    def describe(self) -> str:
        """"+2 create, 1 update; nothing lost" or "loses data: node2: replace, ..."."""
        counts = ", ".join(f"{n} {k}" for k, n in self.counts().items()) or "no changes"
        if not self.losing:
            return f"{counts}; nothing lost"
        return f"{counts}; loses data: " + "; ".join(c.describe() for c in self.losing)


def creates_only(addresses: Mapping[str, str], add: int = 0) -> Classified:
    """A plan known to create and nothing else (Terraform's own counts say so)."""
    changes = [Change(a, _type_of(a), "create") for a, act in addresses.items() if act == "create"]
    changes += [Change("", "", "create")] * max(0, add - len(changes))
    return Classified(tuple(changes))


def needs_values(addresses: Mapping[str, str]) -> bool:
    """Whether actions alone cannot tell: an update of something that holds data may rebuild or
    shrink it, which only its attribute values show (`show -json`)."""
    return any(act == "update" and RULES.get(_type_of(a), OTHER).holds_data for a, act in addresses.items())


def classify_actions(addresses: Mapping[str, str]) -> Classified:
    """A plan known by its actions only (`plan -json`), when `needs_values` is False."""
    changes = []
    for address, act in addresses.items():
        kind = next((k for k in KINDS if k == act), None)
        if kind is None:  # no-op, read
            continue
        rule = RULES.get(_type_of(address), OTHER)
        losing = kind in ("replace", "delete") and rule.holds_data
        changes.append(Change(address, _type_of(address), kind, losing, _erased(rule) if losing else ""))
    return Classified(tuple(changes))


def classify(plan: Mapping[str, Any]) -> Classified:
    """Every resource change of a `terraform show -json` plan, classified."""
    changes = []
    for rc in plan.get("resource_changes") or []:
        if rc.get("mode", "managed") != "managed":
            continue
        change = _one(rc)
        if change is not None:
            changes.append(change)
    return Classified(tuple(changes))


def _one(rc: Mapping[str, Any]) -> Change | None:
    kind_of = {("create",): "create", ("update",): "update", ("delete",): "delete",
               ("create", "delete"): "replace", ("delete", "create"): "replace"}  # fmt: skip
    change = rc.get("change") or {}
    kind = kind_of.get(tuple(change.get("actions") or ()))
    if kind is None:  # no-op, read
        return None
    rtype = str(rc.get("type") or _type_of(rc["address"]))
    rule = RULES.get(rtype, OTHER)
    diff = _changed(change)
    if kind == "update":
        return _update(rc["address"], rtype, rule, diff, change)
    losing = kind in ("replace", "delete") and rule.holds_data
    why = _words(rule, diff, change) if kind == "replace" else ""
    if losing:
        why = f"{why}; {_erased(rule)}" if why else _erased(rule)
    return Change(rc["address"], rtype, kind, losing, why)  # type: ignore[arg-type]


def _update(address: str, rtype: str, rule: Rule, diff: list[str], change: Mapping[str, Any]) -> Change:
    rebuilt = [a for a in rule.rebuilds if a in diff]
    if rebuilt:
        why = f"{rebuilt[0]} changed: the instance is rebuilt and its disk erased"
        return Change(address, rtype, "rebuild", True, why)
    if rule.shrinks and rule.shrinks in diff:
        old, new = _value(change, "before", rule.shrinks), _value(change, "after", rule.shrinks)
        if isinstance(old, int | float) and isinstance(new, int | float) and shrinking(old, new):
            why = f"shrinks from {old:g} to {new:g} GB, which OpenStack refuses (a volume cannot shrink)"
            return Change(address, rtype, "update", True, why)
    return Change(address, rtype, "update", False, _words(rule, diff, change))


def _changed(change: Mapping[str, Any]) -> list[str]:
    """Top-level attributes whose value changes (unknown after the plan counts as a change)."""
    before, after = change.get("before") or {}, change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    keys = sorted(set(before) | set(after) | {k for k, v in unknown.items() if v})
    return [k for k in keys if unknown.get(k) is True or (k in after and before.get(k) != after.get(k))]


def _value(change: Mapping[str, Any], side: str, key: str) -> Any:
    return (change.get(side) or {}).get(key)


def _words(rule: Rule, diff: list[str], change: Mapping[str, Any]) -> str:
    """Why, in words: the provider's reason where the rules know it, else the attributes."""
    flavor_gone = _value(change, "before", "flavor_name") == "" and "flavor_name" in diff
    if flavor_gone:
        return "its flavor was deleted by the cloud's operator"
    if "image_name" in diff and _value(change, "before", "image_name") == "Image not found":
        return "its image was deleted by the cloud's operator"
    for attr in diff:
        if attr in rule.because:
            return rule.because[attr]
    shown = [a for a in diff if a not in ("id", "region", "updated", "all_metadata")]
    return f"{', '.join(shown[:4])} changed" if shown else ""


def _erased(rule: Rule) -> str:
    return f"the {rule.noun} and the data on it are erased"


def _type_of(address: str) -> str:
    """`module.openstack.openstack_compute_instance_v2.instances["node1"]` -> its resource type."""
    parts = [p for p in address.split(".") if p.startswith("openstack_")]
    return parts[-1].split("[")[0] if parts else ""
