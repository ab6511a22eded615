"""What the cluster form offers from the catalog's figures: the flavors each instance group may use
(its Magic Castle role's, smallest first), the images, and the same rules handed to the form's
script as data, so the browser never keeps a copy of its own. The rules live in
reconciler.cloud (figures.py, sizing.py); this module only shapes them for the form."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.cloud.figures import QUOTA_KEYS, QUOTA_LABELS, Flavor
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
from webview.present import amount


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
    return out


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


def script_rules() -> dict[str, Any]:
    """What app.js needs to redo the role and quota arithmetic live, as the server does it."""
    return {
        "roles": list(ROLE_MINIMUMS),
        "default_role": DEFAULT_ROLE,
        "root_disk_gb": ROOT_DISK_GB,
        "mgmt_root_disk_gb": MGMT_ROOT_DISK_GB,
        "quota_keys": list(QUOTA_KEYS),
        "quota_labels": QUOTA_LABELS,
    }
