"""Load and validate stages of the flow: the spec file of one cluster as it is now (valid, invalid
or gone) and the hash that says whether anything that reaches Terraform changed: the spec, the
cloud's module and settings, and the Terraform version. With `projects:` in the settings, a spec
that names no project or an unknown one (or a cloud other than its project's) is invalid here."""

from __future__ import annotations

import hashlib
from functools import partial
from pathlib import Path

from reconciler.engine.decide import Observed
from reconciler.engine.render import ModuleDigests
from reconciler.model.limits import DEFAULT_LIMITS, Limits
from reconciler.model.projects import project_problem
from reconciler.model.runs import git_blob_id
from reconciler.model.secrets import given_at_in, secrets_path
from reconciler.model.settings import Settings, SettingsError
from reconciler.model.spec import SpecError, parse_spec_file, spec_digest
from reconciler.model.specfiles import FileCache, read_spec_file, spec_path

PATHS_KEPT = 50_000  # names whose paths are kept (a crude bound, as FileCache's)


class SpecReader:
    """Reads specs for the engine. An unchanged file (spec or secrets) is not read again, and an
    unchanged module is not hashed again, so a resync of many idle specs stays cheap."""

    def __init__(self, settings: Settings, terraform_version: str) -> None:
        self.settings, self.terraform_version = settings, terraform_version
        self._files: FileCache[Observed] = FileCache(partial(_parse, limits=settings.limits))
        self._modules = ModuleDigests(settings.templates_dir)
        # When a person last gave each cluster's guest password, by its secrets file's signature.
        self._given: FileCache[str] = FileCache(given_at_in)
        self._paths: dict[str, tuple[str, str]] = {}  # name -> its spec and secrets files

    def _files_of(self, name: str) -> tuple[str, str]:
        """`name`'s spec and secrets files, built once per name (a resync asks for every one of
        thousands of clusters; a path built is a good share of what an unchanged one costs)."""
        paths = self._paths.get(name)
        if paths is None:
            spec = spec_path(self.settings.specs_dir, name)  # ValueError for a name no spec can have
            paths = (str(spec), str(secrets_path(self.settings.clusters_dir, name)))
            if len(self._paths) > PATHS_KEPT:
                self._paths.clear()
            self._paths[name] = paths
        return paths

    def module_digest(self, cloud_name: str | None) -> str:
        return self._modules.of(self.settings.cloud(cloud_name))

    def observe(self, name: str) -> Observed:
        try:
            path, secrets = self._files_of(name)
        except ValueError:  # a folder in clusters/ whose name no spec file can have
            return Observed(kind="missing")
        _, observed = self._files.get(path)
        if observed is None:
            return Observed(kind="missing")
        if observed.kind != "present" or observed.spec is None:
            return observed
        spec = observed.spec
        problem = project_problem(spec.project, spec.cloud, self.settings.projects)
        if problem is not None:  # with projects configured, a spec names one of them
            errors = f"{problem[0]}: {problem[1]}"
            # The message is in the hash: settings that change the choices are news to the status.
            digest = hashlib.sha256(f"{observed.hash}\n{errors}".encode()).hexdigest()
            return Observed(kind="invalid", hash=digest, errors=errors)
        cloud_name = self.settings.cloud_of(spec.cloud, spec.project)  # a project's cloud is its own
        try:
            cloud_digest = self.module_digest(cloud_name)
        except SettingsError as exc:
            return Observed(kind="invalid", hash=observed.hash, errors=f"cloud: {exc}")
        parts = [observed.hash or "", cloud_digest, self.terraform_version]
        if spec.project is not None:  # a project moved to another cloud entry is another cloud
            parts.append(f"cloud {cloud_name}")
        _, given = self._given.get(secrets)
        if given:  # a password a person gave (kept out of the spec) is news too
            parts.append(f"guest password given at {given}")
        digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
        return Observed(kind="present", spec=spec, hash=digest, blob=observed.blob)


def _parse(path: Path, limits: Limits = DEFAULT_LIMITS) -> Observed:
    """The spec file alone: `hash` is the spec's digest (`observe` adds module and Terraform). A
    file that is not a regular one within the size limit is invalid, never read (`read_spec_file`)."""
    try:
        raw = read_spec_file(path)
    except SpecError as exc:  # a link, a pipe, a device, a folder, too big: its reason is its hash
        return _invalid(str(exc).encode(), str(exc))
    try:
        spec = parse_spec_file(raw.decode("utf-8"), path, limits)
    except UnicodeDecodeError:
        return _invalid(raw, "file is not UTF-8 text")
    except SpecError as exc:
        return _invalid(raw, str(exc))
    return Observed(kind="present", spec=spec, hash=spec_digest(spec), blob=git_blob_id(raw))


def _invalid(raw: bytes, errors: str) -> Observed:
    """An invalid spec, known by the digest of its bytes: a change to the file is news."""
    return Observed(kind="invalid", hash=hashlib.sha256(raw).hexdigest(), errors=errors)
