"""The cluster form <-> spec data. Rows of instances (`inst-<i>-<field>`) and volumes
(`vol-<j>-<field>`) become the spec's `instances` and `volumes` maps; a spec error's field path
(`instances.node.count`) is mapped back to the input that caused it (`inst-2-count`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.cloud.payload import payload_flavors
from reconciler.model.projects import Project, project_problem
from reconciler.model.spec import FieldError, SpecError
from reconciler.model.sshkeys import KeyProblem, check_public_key
from webview.choices import default_volume_type, image_names, smallest_for, split_tags, volume_types

INSTANCE_FIELDS = ("prefix", "type", "tags", "count", "disk_size", "image")
VOLUME_FIELDS = ("tag", "name", "size", "type")
SCALARS = (
    "cluster_name",
    "project",
    "domain",
    "image",
    "nb_users",
    "public_keys",
    "hieradata",
    "guest_passwd",
    "sudoer_username",
    "cloud",
    "apply",
    "expires",
)
ADVANCED = ("hieradata", "guest_passwd", "sudoer_username", "apply", "expires", "cloud")
# The keys of a spec file the edit form sets; every other key (`ensure`, keys of a newer hub) is kept
# as the file has it. `ensure` joins them only when the person ticks "build it again".
FORM_KEYS = tuple(k for k in SCALARS if k != "cluster_name") + ("instances", "volumes")
STALE = "Someone changed this cluster since you opened the form; review and save again."
ROW_RE = re.compile(r"^(inst|vol)-(\d{1,3})-([a-z_]+)$")
STANDARD_INSTANCES = (
    ("mgmt", ("puppet", "mgmt", "nfs"), 1, "mgmt"),
    ("login", ("login", "public", "proxy"), 1, "login"),
    ("node", ("node",), 1, "node"),
)
STANDARD_VOLUMES = (("nfs", "home", 100), ("nfs", "project", 50), ("nfs", "scratch", 50))
SUDOER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")  # the spec's sudoer_username pattern
RESERVED_USERS = frozenset({"root", "daemon", "bin", "sys", "nobody", "admin", "adm", "puppet", "slurm"})


@dataclass
class FormView:
    """What the form shows: raw values as typed, and messages by input name."""

    values: dict[str, str]
    instances: list[dict[str, str]]
    volumes: list[dict[str, str]]
    errors: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)
    editing: bool = False
    version: str = ""  # the spec file's version the form was filled from (edit form)
    absent: bool = False  # the file says `ensure: absent`: the form offers "build it again"
    rebuild: bool = False  # ... and the person ticked it
    stale: bool = False  # the file changed since the form was filled

    def error(self, name: str) -> str:
        return "; ".join(self.errors.get(name, []))

    @property
    def advanced_has_errors(self) -> bool:
        return any(k in self.errors for k in ADVANCED)


def free_name(taken: Iterable[str]) -> str:
    used = set(taken)
    return next(f"cluster{i}" for i in range(1, len(used) + 2) if f"cluster{i}" not in used)


def home_public_key(home: Path | None = None) -> str:
    """The hub user's own SSH public key, offered in local mode so a first cluster is one click."""
    ssh = (home or Path.home()) / ".ssh"
    for name in ("id_ed25519.pub", "id_ecdsa.pub", "id_rsa.pub"):
        try:
            key = (ssh / name).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if len(key) < 16_384 and "\n" not in key:
            try:
                check_public_key(key)  # a key the spec would refuse is not offered
            except KeyProblem:
                continue
            return key
    return ""


def identity_keys(keys: Iterable[str]) -> str:
    """The SSH public keys the login gave (the proxy's keys header), one a line, for a new cluster's
    form: only keys the spec would accept."""
    good = []
    for key in keys:
        try:
            check_public_key(key.strip())
        except KeyProblem:
            continue
        good.append(key.strip())
    return "\n".join(dict.fromkeys(good))


def sudoer_name(user: str) -> str:
    """A new cluster's sudoer account, from the signed-in user id (MC Hub #27): the part before any
    `@` (an eduPersonPrincipalName's scope), lower-cased, without the characters Magic Castle's
    pattern refuses; "centos" (Magic Castle's default) when what is left does not fit."""
    name = re.sub(r"[^a-z0-9_-]", "", user.split("@", 1)[0].lower())[:32]
    if not SUDOER_RE.fullmatch(name) or name in RESERVED_USERS:
        return "centos"
    return name


def default_form(
    payload: Mapping[str, Any],
    domain: str,
    cloud: str,
    taken: Iterable[str],
    public_key: str = "",
    *,
    sudoer: str = "centos",
    project: str = "",
) -> FormView:
    """A standard Magic Castle cluster on this cloud: mgmt, login and one node on the smallest
    flavors their roles allow, nfs home/project/scratch volumes of the cloud's default type. With
    projects, `project` (the person's only one, else "" to choose) and no `cloud` of its own."""
    images, flavors = image_names(payload), payload_flavors(payload)
    preferred = next((i for i in images if i.lower().startswith("rocky")), images[0] if images else "")
    values = {
        "cluster_name": free_name(taken),
        "project": project,
        "domain": domain,
        "image": preferred,
        "nb_users": "10",
        "public_keys": public_key,
        "hieradata": "---",
        "guest_passwd": "",
        "sudoer_username": sudoer,
        "cloud": cloud,
        "apply": "auto",
        "expires": "",
    }
    rows = [
        {
            "prefix": p,
            "type": smallest_for(role, flavors),
            "tags": " ".join(tags),
            "count": str(n),
            "disk_size": "",
            "image": "",
        }
        for p, tags, n, role in STANDARD_INSTANCES
    ]
    kind = default_volume_type(volume_types(payload))
    vols = [{"tag": t, "name": n, "size": str(s), "type": kind} for t, n, s in STANDARD_VOLUMES]
    return FormView(values, rows, vols)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return str(value)


def form_from_data(data: Mapping[str, Any], editing: bool = True) -> FormView:
    """A spec (canonical dict, or a raw YAML mapping that may not validate) as form values."""
    values = {k: _text(data.get(k)) for k in SCALARS}
    values["guest_passwd"] = ""  # never sent back to the browser; blank keeps the current one
    values["hieradata"] = values["hieradata"] or "---"
    values["sudoer_username"] = values["sudoer_username"] or "centos"
    values["apply"] = values["apply"] or "auto"
    rows = []
    insts = data.get("instances")
    for prefix, inst in insts.items() if isinstance(insts, dict) else []:
        inst = inst if isinstance(inst, dict) else {}
        tags = inst.get("tags")
        rows.append(
            {
                "prefix": str(prefix),
                "type": _text(inst.get("type")),
                "tags": " ".join(str(t) for t in tags) if isinstance(tags, list) else _text(tags),
                "count": _text(inst.get("count", 1)),
                "disk_size": _text(inst.get("disk_size")),
                "image": _text(inst.get("image")),
            }
        )
    vols = []
    volumes = data.get("volumes")
    for tag, named in volumes.items() if isinstance(volumes, dict) else []:
        for name, vol in named.items() if isinstance(named, dict) else []:
            vol = vol if isinstance(vol, dict) else {}
            vols.append(
                {
                    "tag": str(tag),
                    "name": str(name),
                    "size": _text(vol.get("size")),
                    "type": _text(vol.get("type")),
                }
            )
    return FormView(values, rows, vols, editing=editing)


def form_from_post(form: Mapping[str, str], editing: bool = False) -> FormView:
    values = {k: str(form.get(k, "")) for k in SCALARS}
    rows: dict[int, dict[str, str]] = {}
    vols: dict[int, dict[str, str]] = {}
    for key in form:
        m = ROW_RE.fullmatch(key)
        if not m:
            continue
        kind, index, name = m.group(1), int(m.group(2)), m.group(3)
        target, names = (rows, INSTANCE_FIELDS) if kind == "inst" else (vols, VOLUME_FIELDS)
        if name in names:
            target.setdefault(index, {n: "" for n in names})[name] = str(form.get(key, ""))
    keep_i = [
        r
        for _, r in sorted(rows.items())
        if any(r[k].strip() for k in ("prefix", "tags", "disk_size", "image"))
    ]
    # A volume row is kept for its name or size: an added row left blank has a type (the cloud's
    # default, preselected) and nothing else, and is dropped as a blank instance row is.
    keep_v = [r for _, r in sorted(vols.items()) if any(r[k].strip() for k in ("name", "size"))]
    return FormView(
        values,
        keep_i,
        keep_v,
        editing=editing,
        version=str(form.get("version", "")).strip(),
        rebuild=form.get("rebuild") == "yes",
    )


def _int_or_text(value: str) -> int | str:
    value = value.strip()
    return int(value) if re.fullmatch(r"-?\d{1,9}", value) else value


def spec_data(view: FormView) -> dict[str, Any]:
    """The spec mapping the form describes, or SpecError for the problems only a form can have."""
    data, problems = spec_parts(view)
    if problems:
        raise SpecError(problems)
    return data


def spec_parts(view: FormView) -> tuple[dict[str, Any], list[FieldError]]:
    """The spec mapping the form describes (validated afterwards by parse_spec), and the problems
    only the form can have (a prefix given twice, a blank prefix), with the row's path; rows with
    such a problem are left out, so the rest can be checked too. A guest password only when one
    was typed: saving stores it, never in the file (specstore)."""
    v = view.values
    problems: list[FieldError] = []
    instances = _instances(view.instances, problems)
    volumes = _volumes(view.volumes, problems)
    data: dict[str, Any] = {
        "cluster_name": v["cluster_name"].strip(),
        "domain": v["domain"].strip(),
        "image": v["image"].strip(),
        "nb_users": _int_or_text(v["nb_users"] or "0"),
        "instances": instances,
        "volumes": volumes,
        "public_keys": [line.strip() for line in v["public_keys"].splitlines() if line.strip()],
        "hieradata": v["hieradata"].replace("\r\n", "\n") or "---",
        "sudoer_username": v["sudoer_username"].strip() or "centos",
        "apply": v["apply"] or "auto",
    }
    if v["guest_passwd"]:
        data["guest_passwd"] = v["guest_passwd"]
    if v["cloud"].strip():
        data["cloud"] = v["cloud"].strip()
    if v["project"].strip():
        data["project"] = v["project"].strip()
    if v["expires"].strip():
        data["expires"] = v["expires"].strip()
    return data, problems


def project_errors(
    project: str | None, cloud: str | None, projects: Mapping[str, Project], mine: Iterable[str] | None
) -> list[FieldError]:
    """A spec's `project` (and `cloud`) against the hub's projects, the web's side of the engine's
    rule (model.projects.project_problem): the choices named are the caller's (`mine`; None: every
    project). A project of the hub that is not the caller's passes here: the create is refused
    with a 403 (authz.create_or_403), and only its members learn that it exists."""
    if not projects:
        return []
    own = set(projects) if mine is None else set(mine) & set(projects)
    if project is not None and project in projects:
        own.add(project)
    if not own:
        return []  # in no project at all: authz answers 403, saying to ask an admin
    problem = project_problem(project, cloud, {p: projects[p] for p in own})
    return [] if problem is None else [FieldError(path=problem[0], message=problem[1])]


def _instances(rows: list[dict[str, str]], problems: list[FieldError]) -> dict[str, Any]:
    """The instance rows as the spec's `instances` map; a blank or repeated prefix is a problem."""
    instances: dict[str, Any] = {}
    for i, row in enumerate(rows):
        prefix = row["prefix"].strip()
        if not prefix:
            problems.append(
                FieldError(path=f"#inst-{i}-prefix", message="give this group a host name prefix")
            )
            continue
        if prefix in instances:
            problems.append(FieldError(path=f"#inst-{i}-prefix", message=f'prefix "{prefix}" is used twice'))
            continue
        inst: dict[str, Any] = {
            "type": row["type"].strip(),
            "tags": split_tags(row["tags"]),
            "count": _int_or_text(row["count"] or "1"),
        }
        if row.get("disk_size", "").strip():
            inst["disk_size"] = _int_or_text(row["disk_size"])
        if row.get("image", "").strip():
            inst["image"] = row["image"].strip()
        instances[prefix] = inst
    return instances


def _volumes(rows: list[dict[str, str]], problems: list[FieldError]) -> dict[str, dict[str, Any]]:
    """The volume rows as the spec's `volumes` map (tag -> name -> volume)."""
    volumes: dict[str, dict[str, Any]] = {}
    for j, row in enumerate(rows):
        tag, name = row["tag"].strip(), row["name"].strip()
        if not tag or not name:
            which = "tag" if not tag else "name"
            problems.append(FieldError(path=f"#vol-{j}-{which}", message=f"give this volume a {which}"))
            continue
        if name in volumes.get(tag, {}):
            problems.append(
                FieldError(path=f"#vol-{j}-name", message=f'volume "{tag}/{name}" is listed twice')
            )
            continue
        vol: dict[str, Any] = {"size": _int_or_text(row["size"])}
        if row.get("type", "").strip():
            vol["type"] = row["type"].strip()
        volumes.setdefault(tag, {})[name] = vol
    return volumes


def input_for(path: str, view: FormView) -> str | None:
    """The form input a spec field path belongs to, or None when no input matches."""
    if path.startswith("#"):
        return path[1:]
    top = path.split(".", 1)[0]
    if top in SCALARS:
        return top
    best: tuple[int, str] | None = None
    if top == "instances":
        for i, row in enumerate(view.instances):
            base = f"instances.{row['prefix'].strip()}"
            if path == base or path.startswith(base + "."):
                rest = path[len(base) + 1 :].split(".", 1)[0]
                name = f"inst-{i}-{rest if rest in INSTANCE_FIELDS else 'prefix'}"
                if best is None or len(base) > best[0]:
                    best = (len(base), name)
    elif top == "volumes":
        for j, row in enumerate(view.volumes):
            tag, name = row["tag"].strip(), row["name"].strip()
            for base, default in ((f"volumes.{tag}.{name}", "name"), (f"volumes.{tag}", "tag")):
                if path == base or path.startswith(base + "."):
                    rest = path[len(base) + 1 :].split(".", 1)[0]
                    target = f"vol-{j}-{rest if rest in VOLUME_FIELDS else default}"
                    if best is None or len(base) > best[0]:
                        best = (len(base), target)
    return best[1] if best else None


# Messages from the spec model worded for a form (the form's script says them the same way).
PLAIN_WORDS = {
    ("public_keys", "at least 1 item"): "paste at least one SSH public key",
    ("instances", "at least 1 item"): "add at least one instance group",
}
PLAIN_PATTERNS = (
    (re.compile(r"^Input should be less than or equal to (\S+)$"), r"at most \1"),
    (re.compile(r"^Input should be greater than or equal to (\S+)$"), r"at least \1"),
    (re.compile(r"^Input should be a valid integer.*$"), "a whole number"),
    (re.compile(r"^String should have at least 1 character$"), "required"),
)
KEY_PATH = re.compile(r"^public_keys\.(\d+)$")


def plain(err: FieldError, keys: int) -> str:
    """A spec model's message as the form says it: `at most 500`; `key 2: this key ...` when the
    field holds several keys."""
    for (path, words), text in PLAIN_WORDS.items():
        if err.path == path and words in err.message:
            return text
    for pattern, text in PLAIN_PATTERNS:
        if pattern.fullmatch(err.message):
            return pattern.sub(text, err.message)
    key = KEY_PATH.fullmatch(err.path)
    if key and keys > 1:
        return f"key {int(key.group(1)) + 1}: {err.message}"
    return err.message


RETYPE = "not saved: type it again (a password is never sent back to the page)"


def forget_password(view: FormView) -> FormView:
    """A refused form, sent back without the password typed in it: a password never goes back to
    the browser. Saying so beside the input, so that a save that now succeeds does not silently
    keep the old password."""
    if view.values.get("guest_passwd"):
        view.values["guest_passwd"] = ""
        if RETYPE not in view.errors.get("guest_passwd", []):
            view.errors.setdefault("guest_passwd", []).append(RETYPE)
    return view


def with_errors(view: FormView, errors: Iterable[FieldError]) -> FormView:
    """The same form, with each message placed next to its input (or on top when none matches)."""
    keys = sum(1 for line in view.values.get("public_keys", "").splitlines() if line.strip())
    for err in errors:
        name = input_for(err.path, view)
        if name is None:
            view.general.append(str(err))
        elif (message := plain(err, keys)) not in view.errors.get(name, []):
            view.errors.setdefault(name, []).append(message)
    return view
