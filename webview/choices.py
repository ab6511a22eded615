"""What the cluster form offers from the catalog's figures: the flavors each instance group may use
(its Magic Castle role's, smallest first), the images, the volume types, and the same rules handed
to the form's script as data, so the browser never keeps a copy of its own. The rules live in
reconciler.cloud (figures.py, sizing.py); this module only shapes them for the form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.cloud.figures import PARTS, QUOTA_KEYS, QUOTA_LABELS, QUOTA_PARTS, Flavor, VolumeType
from reconciler.cloud.sizing import (
    DEFAULT_ROLE,
    MGMT_ROOT_DISK_GB,
    ROLE_MINIMUMS,
    ROOT_DISK_GB,
    flavor_roles,
    flavors_by_role,
    ordered,
    role_of,
)
from reconciler.model import sshkeys
from reconciler.model.status import Reason
from webview.present import PART_LABELS, amount


def split_tags(text: str) -> list[str]:
    """Tags as typed in the form: separated by spaces or commas."""
    return text.replace(",", " ").split()


def flavor_label(f: Flavor) -> str:
    disk = f" · {f.disk} GB disk" if f.disk else ""
    return f"{f.name} · {f.vcpus} vCPU · {amount('ram', f.ram)}{disk}"


def flavor_choices(flavors: list[Flavor], tags: str, current: str) -> list[dict[str, str]]:
    """The flavors offered for a row: those meeting its role's minimum, plus the current one."""
    role = role_of(split_tags(tags))
    out = []
    for f in ordered(flavors):
        fits = role in flavor_roles(f)
        if fits or f.name == current:
            out.append({"name": f.name, "label": flavor_label(f) + ("" if fits else " (below minimum)")})
    if current and all(c["name"] != current for c in out):
        out.append({"name": current, "label": f"{current} (not offered by this cloud)"})
    if not out:  # no flavor meets the role: say so, rather than an empty select that seems to fit
        out.append({"name": "", "label": NO_FLAVOR.format(role=role), "disabled": "yes"})
    return out


def minimum_words(role: str) -> str:
    """`mgmt (2 vCPUs, 6 GiB RAM)`: a role's Magic Castle minimum, as messages say it."""
    cpus, ram = ROLE_MINIMUMS[role]
    return f"{role} ({cpus} vCPUs, {ram / 1024:g} GiB RAM)"


def smallest_for(role: str, flavors: list[Flavor]) -> str:
    """The smallest flavor that may serve `role`, or "" when none does."""
    names = flavors_by_role(flavors)[role]
    return names[0] if names else ""


def image_names(payload: Mapping[str, Any]) -> list[str]:
    out = []
    for image in payload.get("images") or []:
        name = image.get("name") if isinstance(image, dict) else image
        if isinstance(name, str):
            out.append(name)
    return out


def volume_types(payload: Mapping[str, Any]) -> list[VolumeType]:
    """The payload's volume types, the cloud's default first (as the catalog sorts them)."""
    out = []
    for t in payload.get("volume_types") or []:
        if isinstance(t, dict) and isinstance(t.get("name"), str) and t["name"]:
            out.append(VolumeType(t["name"], str(t.get("description") or ""), t.get("default") is True))
    return out


def default_volume_type(types: list[VolumeType]) -> str:
    """The type a new volume row starts with: the cloud's default ("" when it names none)."""
    return next((t.name for t in types if t.default), "")


NOT_OFFERED = "not offered by the cloud"
NO_FLAVOR = "none of this cloud's flavors meets the {role} minimum"
TYPES_UNKNOWN = "the cloud's volume types could not be read"
CLOUD_DEFAULT = "the cloud's default"


def volume_type_choices(types: list[VolumeType], current: str, unknown: bool = False) -> list[dict[str, str]]:
    """The types offered for a volume row: the cloud's, its default labelled; a row without a type
    (a volume made before types were offered) may stay without one ("": the cloud's default), and a
    type the cloud no longer offers stays, marked. No types and no current one: none (no select,
    and the spec leaves the type to the cloud)."""
    out = [{"name": "", "label": CLOUD_DEFAULT}] if types and not current else []
    for t in types:
        label = t.name + (" (default)" if t.default else "")
        label += f" · {t.description}" if t.description else ""
        out.append({"name": t.name, "label": label})
    if current and all(t.name != current for t in types):
        out.append({"name": current, "label": f"{current} ({TYPES_UNKNOWN if unknown else NOT_OFFERED})"})
    return out


def volume_rows(
    payload: Mapping[str, Any], rows: list[dict[str, str]]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The form's volume rows, each with the types it offers, and the row "Add volume" adds."""
    types = volume_types(payload)
    unknown = "volume_types" in (payload.get("unknown") or {})
    new = {"tag": "nfs", "name": "", "size": "", "type": default_volume_type(types)}
    offered = [{**row, "types": volume_type_choices(types, row["type"], unknown)} for row in rows]
    return offered, {**new, "types": volume_type_choices(types, new["type"], unknown)}


def script_rules() -> dict[str, Any]:
    """What app.js needs to redo the role and quota arithmetic live, as the server does it."""
    return {
        "roles": list(ROLE_MINIMUMS),
        "default_role": DEFAULT_ROLE,
        "root_disk_gb": ROOT_DISK_GB,
        "mgmt_root_disk_gb": MGMT_ROOT_DISK_GB,
        "quota_keys": list(QUOTA_KEYS),
        "quota_labels": QUOTA_LABELS,
        "quota_parts": QUOTA_PARTS,
        "parts": list(PARTS),
        "part_labels": PART_LABELS,
        "role_minimums": {role: minimum_words(role) for role in ROLE_MINIMUMS},
        "ssh": ssh_rules(),
        "words": {
            "not_offered": NOT_OFFERED,
            "types_unknown": TYPES_UNKNOWN,
            "cloud_default": CLOUD_DEFAULT,
            "no_flavor": NO_FLAVOR,
            "over_quota": OVER_QUOTA_WAITS if quota_waits() else OVER_QUOTA_REFUSED,
        },
        "quota_waits": quota_waits(),
    }


def ssh_rules() -> dict[str, Any]:
    """reconciler.model.sshkeys' tables for its port in form-check.js: the types it accepts, those
    it refuses (with why), the smallest RSA key and each NIST curve (bytes, p, b; hex)."""
    return {
        "key_types": list(sshkeys.KEY_TYPES),
        "refused": sshkeys.REFUSED_TYPES,
        "min_rsa_bits": sshkeys.MIN_RSA_BITS,
        "curves": {name: [size, f"{p:x}", f"{b:x}"] for name, (size, p, b) in sshkeys.CURVES.items()},
    }


OVER_QUOTA_REFUSED = "The hub will refuse to build it until there is room."
OVER_QUOTA_WAITS = "It will wait for quota and build once there is room."


def quota_waits() -> bool:
    """Whether a spec over the free quota waits for room (reason `quota_wait`) rather than being
    refused: then the form lets it be saved, and says it will wait."""
    return "quota_wait" in {r.value for r in Reason}
