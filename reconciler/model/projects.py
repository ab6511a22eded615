"""People and projects: who belongs to which project, and which cloud entry (the project's
OpenStack credentials, so its allocation and quota) a project's clusters run on. Read from the
settings file's `admins:` and `projects:` (these names exactly):

    admins: [carol]                 # user ids who see and may change everything
    projects:
      physics:
        cloud: arbutus              # an entry of clouds:
        members: [alice, dave]      # user ids
        groups: [physics-staff]     # optional: members by group (from the groups header)
      chemistry: {cloud: arbutus-chem, members: [bob]}

With no `projects:` the hub is one team: everyone may do everything (access.py). Pure."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PROJECT_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class ProjectsError(ValueError):
    """A `projects:` or `admins:` setting that cannot be used; names the setting."""


@dataclass(frozen=True)
class Project:
    name: str
    cloud: str
    members: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def has(self, user: str, groups: Iterable[str] = ()) -> bool:
        """Whether `user` (with these groups) belongs to the project."""
        return user in self.members or any(g in self.groups for g in groups)


def parse_admins(value: Any) -> tuple[str, ...]:
    return _names("admins", value)


def parse_projects(value: Any, clouds: Iterable[str]) -> dict[str, Project]:
    """`projects:` as Project records; every project names a configured cloud entry."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ProjectsError("projects: expected a mapping of project name -> {cloud, members, groups}")
    known = sorted(clouds)
    projects = {}
    for name, data in value.items():
        where = f"projects.{name}"
        if not isinstance(name, str) or not PROJECT_NAME_RE.fullmatch(name):
            raise ProjectsError(f"{where}: a project name is letters, digits, '.', '_' or '-', at most 63")
        if not isinstance(data, Mapping):
            raise ProjectsError(f"{where}: expected a mapping with cloud, members and groups")
        unknown = sorted(set(data) - {"cloud", "members", "groups"})
        if unknown:
            raise ProjectsError(f"{where}: unknown setting {unknown[0]}; choose among cloud, members, groups")
        cloud = data.get("cloud")
        if cloud not in known:
            raise ProjectsError(
                f"{where}.cloud: {cloud!r} is not an entry of clouds:; choose one of {', '.join(known)}"
            )
        projects[name] = Project(
            name,
            cloud,
            _names(f"{where}.members", data.get("members", [])),
            _names(f"{where}.groups", data.get("groups", [])),
        )
    return projects


def _names(where: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ProjectsError(f"{where}: expected a list of names, e.g. [alice, bob]")
    return tuple(v.strip() for v in value)


def project_problem(
    project: str | None, cloud: str | None, projects: Mapping[str, Project]
) -> tuple[str, str] | None:
    """(field, message) when a spec's `project` (and `cloud`) do not fit the configured projects;
    None when they do, or when no projects are configured."""
    if not projects:
        return None
    choices = ", ".join(sorted(projects))
    if project is None:
        return "project", f"required on this hub; choose one of {choices}"
    known = projects.get(project)
    if known is None:
        return "project", f'"{project}" is not a project of this hub; choose one of {choices}'
    if cloud is not None and cloud != known.cloud:
        return (
            "cloud",
            f"project {project} runs on cloud {known.cloud}; leave cloud out, or set it to {known.cloud}",
        )
    return None
