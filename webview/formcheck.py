"""The cluster form's checks beside the spec model's, all reported at once (the validate stage, for a
person at the form): rows the form cannot turn into a spec (a blank or repeated prefix), a flavor
below its role's minimum, a name already taken, and every error of the spec model with them, so one
submit lists every problem (never a taken name only after a bad key is fixed). The form's script
(static/form-check.js) says the same sooner, from the same rules handed to it as data; this module
also shapes the page's error summary (a list linking to each field) and the form's hints."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from reconciler.cloud.figures import Flavor
from reconciler.cloud.sizing import flavor_roles, role_of
from reconciler.model.limits import Limits
from reconciler.model.spec import ClusterSpec, FieldError, SpecError, parse_spec
from webview.choices import minimum_words
from webview.forms import FormView

# Saved flavors of the spec being edited: prefix -> (flavor, role). A group keeps a flavor that no
# longer meets its role's minimum (the page marks it); a new or changed choice must meet it.
Saved = Mapping[str, tuple[str, str]]
LABELS = {
    "cluster_name": "Cluster name",
    "project": "Project",
    "domain": "Domain",
    "image": "Image",
    "nb_users": "Guest accounts",
    "public_keys": "SSH public keys",
    "hieradata": "Hieradata",
    "guest_passwd": "Guest password",
    "sudoer_username": "Sudoer user name",
    "cloud": "Cloud",
    "apply": "Apply changes",
    "expires": "Expires on",
    "instances": "Instances",
    "volumes": "Volumes",
}
ROW_LABELS = {"type": "flavor", "disk_size": "root disk", "image": "image"}
ROW_NAME = re.compile(r"^(inst|vol)-(\d+)-([a-z_]+)$")


def saved_flavors(spec: ClusterSpec | None) -> dict[str, tuple[str, str]]:
    """Each group's flavor and role in the spec as saved (none for a new cluster)."""
    if spec is None:
        return {}
    return {p: (i.type, role_of(i.tags)) for p, i in spec.instances.items()}


def flavor_problems(data: Mapping[str, Any], flavors: list[Flavor] | None, saved: Saved) -> list[FieldError]:
    """Each group whose flavor is below its role's Magic Castle minimum, or that has no flavor
    because none of the cloud's meets it. `flavors` None: the cloud's flavors are unknown, nothing
    is checked (the pre-flight checks them once they are known). A flavor the cloud does not have
    is the pre-flight's to report (the catalog may be behind)."""
    if flavors is None:
        return []
    by_name = {f.name: f for f in flavors}
    problems = []
    instances = data.get("instances")
    for prefix, inst in instances.items() if isinstance(instances, dict) else ():
        tags = inst.get("tags") if isinstance(inst.get("tags"), list) else []
        role, kind = role_of(str(t) for t in tags), str(inst.get("type") or "")
        path = f"instances.{prefix}.type"
        if not kind and not any(role in flavor_roles(f) for f in flavors):
            words = f"no flavor of this cloud meets Magic Castle's minimum for {minimum_words(role)}"
            problems.append(FieldError(path=path, message=words))
        elif (
            kind in by_name and role not in flavor_roles(by_name[kind]) and saved.get(prefix) != (kind, role)
        ):
            below = f"is below Magic Castle's minimum for {minimum_words(role)}; choose a larger one"
            words = f'flavor "{kind}" {below}'
            problems.append(FieldError(path=path, message=words))
    return problems


def parse_all(data: Mapping[str, Any], found: list[FieldError], limits: Limits) -> ClusterSpec:
    """The spec, or one SpecError with `found` (the form's own problems) and the spec model's errors
    together. A path the form already explains is not explained twice (a group with no flavor is
    not also "at least 1 character"), and the groups the form left out for their problems do not
    make "add at least one instance group"."""
    try:
        spec = parse_spec(dict(data), limits=limits)
    except SpecError as exc:
        known = {e.path for e in found}
        dropped_rows = any(e.path.startswith("#inst-") for e in found)
        rest = [
            e
            for e in exc.errors
            if e.path not in known
            and not (dropped_rows and e.path == "instances" and not data.get("instances"))
        ]
        raise SpecError([*found, *rest]) from None
    if found:
        raise SpecError(found)
    return spec


def field_label(name: str, view: FormView) -> str:
    """How the page labels the input `name` (`node count`, `nfs/home size`, `SSH public keys`)."""
    m = ROW_NAME.fullmatch(name)
    if m is None:
        return LABELS.get(name, name.replace("_", " "))
    kind, index, part = m.group(1), int(m.group(2)), m.group(3)
    rows = view.instances if kind == "inst" else view.volumes
    row = rows[index] if index < len(rows) else {}
    if kind == "inst":
        who = row.get("prefix", "").strip() or "new group"
    else:
        who = (
            f"{row.get('tag', '').strip()}/{row.get('name', '').strip()}" if row.get("name") else "new volume"
        )
    return f"{who} {ROW_LABELS.get(part, part)}"


def summary(view: FormView) -> list[dict[str, str]]:
    """The error summary's items, in the page's order: the input's id (the link), its label, what is
    wrong. `instances` and `volumes` link to their sections."""
    order = list(LABELS)
    items = []
    for name, messages in view.errors.items():
        anchor = {"instances": "instances-h", "volumes": "volumes-h"}.get(name, name)
        for message in messages:
            items.append({"id": anchor, "name": name, "label": field_label(name, view), "message": message})
    return sorted(items, key=lambda i: _rank(i["name"], order))


def _rank(name: str, order: list[str]) -> tuple[int, int, str]:
    m = ROW_NAME.fullmatch(name)
    if m is None:
        return (order.index(name) if name in order else len(order), 0, name)
    section = order.index("instances" if m.group(1) == "inst" else "volumes")
    return (section, int(m.group(2)) + 1, name)


def guest_hint(value: str) -> str:
    """The guest accounts as the cluster page will list them: `user01 … user10`."""
    n = int(value) if value.strip().isdigit() else 0
    if n <= 0:
        return "No guest accounts."
    width = len(str(n))
    first, last = f"user{1:0{width}d}", f"user{n}"
    return f"{first}, sharing one password." if n == 1 else f"{first} … {last}, sharing one password."
