"""Quota shortfalls: a spec that needs more of a quota than the cloud has free. Unlike an unknown
flavor or image, this is no fault of the spec: the cluster waits for quota and builds by itself once
there is room (the pre-flight, preflight.py, tells the two apart). Here: the record of one shortfall
(sizing.py and checks.py find them) and the words people read about a wait. Pure, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from reconciler.cloud.figures import QUOTA_LABELS, QUOTA_UNITS

# Per volume type quotas (Cinder's `volumes_<type>`, `gigabytes_<type>`) are named after their base.
TYPED_PREFIXES = ("volumes_", "gigabytes_")


@dataclass(frozen=True)
class Shortfall:
    """One quota the spec needs more of than is free. `key` is the catalog's quota key (`cores`,
    `ram`, ..., or a per-type `volumes_<type>` / `gigabytes_<type>`); `free` counts what the cluster
    already holds as its own (when it is built), so `needs - free` is what must be freed."""

    key: str
    needs: int
    free: int
    limit: int

    @property
    def missing(self) -> int:
        return self.needs - self.free

    def line(self) -> str:
        """The pre-flight's terse form, as before waits existed (logs, `mchub doctor`, tests)."""
        unit, kind = _unit(self.key), _volume_type(self.key)
        typed = f" (volume type {kind})" if kind else ""
        figures = f"needs {self.needs}{unit}, {self.free}{unit} remaining of {self.limit}{unit}"
        return f"{self.key}: {figures}{typed}"

    def more(self) -> str:
        """'4 more vCPUs', '2 GiB more RAM': what must be freed."""
        what = label(self.key, lower=True, one=self.missing == 1 and not _unit(self.key))
        return f"{amount(self.key, self.missing)} more {what}"

    def figures(self) -> str:
        """'8 needed, 4 free'."""
        return f"{amount(self.key, self.needs)} needed, {amount(self.key, self.free)} free"

    def words(self) -> str:
        """'4 more vCPUs (8 needed, 4 free)': what a person reads."""
        return f"{self.more()} ({self.figures()})"


def label(key: str, lower: bool = False, one: bool = False) -> str:
    """How people call a quota: 'vCPUs', 'RAM', 'Volumes of type ssd' ('vCPU' when `one`)."""
    kind = _volume_type(key)
    base = key.split("_", 1)[0] if kind else key
    text = QUOTA_LABELS.get(base, key.replace("_", " "))
    if lower and text not in ("vCPUs", "RAM"):
        text = text[:1].lower() + text[1:]
    if one and text.endswith("s"):
        text = text[:-1]
    return f"{text} of type {kind}" if kind else text


def amount(key: str, value: int) -> str:
    """A quota figure as people read it: RAM in GiB, storage in GB, others as counts."""
    base = key.split("_", 1)[0] if _volume_type(key) else key
    if base == "ram":
        return f"{round(value / 1024, 1):g} GiB"
    if base == "gigabytes":
        return f"{value} GB"
    return str(value)


def wait_message(shortfalls: Sequence[Shortfall], built: bool) -> str:
    """The status message of a spec waiting for quota: what it needs against what is free, and
    that nobody has to act once there is room (a built cluster keeps running meanwhile)."""
    parts = [s.words() for s in shortfalls]
    needs = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts else "more quota"
    if built:
        return (f"Waiting for quota: the change needs {needs}. The cluster keeps running as built; "
                "the change applies by itself once there is room.")  # fmt: skip
    return f"Waiting for quota: needs {needs}. It builds by itself once there is room."


def _unit(key: str) -> str:
    base = key.split("_", 1)[0] if _volume_type(key) else key
    return f" {QUOTA_UNITS[base]}" if base in QUOTA_UNITS else ""


def _volume_type(key: str) -> str | None:
    """The volume type of a per-type quota key, None for the others."""
    if key in QUOTA_LABELS:
        return None
    return next((key.removeprefix(p) for p in TYPED_PREFIXES if key.startswith(p)), None)
