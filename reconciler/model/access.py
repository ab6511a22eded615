"""The one authorization rule of the hub: who may see a cluster, change it, or create one in a
project. Every page, API route, dashboard partial, log, approval, password reveal and `/metrics`
label asks `allowed` (the web view through its `authz` helpers). Pure: an identity and the
settings in, a yes or no out.

- No `projects:` configured: one team, everyone may do everything (the embedded default).
- Admins (`admins:` in the settings, the local user in local mode, the token holder in token
  mode) may do everything.
- Others see and change the clusters of their projects (members by user id or by group), and
  create clusters in them; a cluster whose spec names no project, or an unknown one, is theirs to
  see only if they are admins. A cluster a person may not see answers 404 (its name is not
  revealed); creating into a project that is not theirs answers 403."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from reconciler.model.projects import Project

Action = Literal["see", "change", "create"]


@dataclass(frozen=True)
class Identity:
    """Who is asking, as the web view learned it (local user, token, or the proxy's headers)."""

    user: str
    name: str = ""  # display name
    mail: str = ""
    keys: tuple[str, ...] = ()  # SSH public keys
    groups: tuple[str, ...] = ()
    admin: bool = False  # set by the access mode (local user, token holder) or `admins:`

    @property
    def label(self) -> str:
        return self.name or self.user


@dataclass(frozen=True)
class Rules:
    """What the settings say about people: `admins:` and `projects:`."""

    admins: tuple[str, ...] = ()
    projects: tuple[Project, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.projects)

    def project(self, name: str | None) -> Project | None:
        return next((p for p in self.projects if p.name == name), None)

    def is_admin(self, who: Identity) -> bool:
        return who.admin or who.user in self.admins

    def projects_of(self, who: Identity) -> tuple[str, ...] | None:
        """The projects `who` works in; None: every project (no projects configured, or an admin)."""
        if not self.enabled or self.is_admin(who):
            return None
        return tuple(p.name for p in self.projects if p.has(who.user, who.groups))


def allowed(rules: Rules, who: Identity, action: Action, project: str | None) -> bool:
    """The one rule: may `who` do `action` on a cluster of `project` (or create one in it)?"""
    mine = rules.projects_of(who)
    if mine is None:
        return True
    return project is not None and project in mine
