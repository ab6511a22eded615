"""The web view's writes of specs: `specs/<name>.yaml` on a person's behalf, then a commit with that
person as author when `specs/` sits in a git work tree. A new spec is created exclusively; an
existing one is edited in place (comments, key order and the keys a writer does not set are kept,
reconciler.model.specedit), only if it is still the version the person read. Every path comes from
`reconciler.model.specfiles.spec_path`, which checks the name first. A guest password given with a
spec never reaches the file or git: it goes to the cluster's secret store (reconciler.model.secrets).
With the specs' git remote (`remote`, reconciler.gitsync), a write and its commit hold the clone (no
pull rebases under them) and the commit is pushed; a push that fails leaves it committed here, to be
pushed by the next pull, and says so (`Saved.push_pending`)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import threading
from collections.abc import Collection
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from reconciler.gitsync.remote import SpecsRemote
from reconciler.model import expiry, secrets
from reconciler.model.access import Identity
from reconciler.model.limits import DEFAULT_LIMITS, Limits
from reconciler.model.spec import ClusterSpec, FieldError, SpecError, parse_spec_file
from reconciler.model.specedit import Unreadable, apply_values, new_document, set_ensure_absent
from reconciler.model.specfiles import (
    SpecExists,
    current_text,
    remove_spec_file,
    spec_path,
    write_spec_file,
)

log = logging.getLogger("mchub.webview")
Who = Identity | str  # the person a write is for: their Identity, or a bare user id (the CLI, older callers)
GIT_TIMEOUT = 30.0
_git_lock = threading.Lock()


@dataclass(frozen=True)
class Saved:
    path: Path
    version: str
    created: bool
    changed: bool
    push_pending: str | None = (
        None  # why the commit is not on the specs' remote yet (None: it is, or no remote)
    )


def _refused_if_past(text: str, path: Path, today: dt.date, limits: Limits = DEFAULT_LIMITS) -> ClusterSpec:
    """The spec `text` holds, if it may be written: it validates (keys the writer kept included)
    and its `expires` is not already past (unless it asks for `ensure: absent`)."""
    written = parse_spec_file(text, path, limits)
    refusal = expiry.past_refusal(written.expires, today, absent=written.ensure == "absent")
    if refusal is not None:
        raise SpecError([refusal])
    return written


PASSWORD = "guest_passwd"


def _text_for(
    current: str | None,
    spec: ClusterSpec,
    path: Path,
    keys: Collection[str] | None,
    create_only: bool,
    today: dt.date,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[str, ClusterSpec]:
    """The file `save_spec` writes over `current` (None: no file yet), and the spec it holds. The
    file never gets `spec`'s guest password (the caller stores it); a password the file holds (a
    person wrote it there) is kept as it is, unless a new one is given: then it goes, so that the
    new one, stored, is the one used (the engine reads the spec's first)."""
    if current is not None and create_only:
        raise SpecExists(spec.cluster_name)
    without = spec.model_copy(update={PASSWORD: None})
    if current is None:
        text = new_document(without)
    else:
        values = without.model_dump(mode="python", exclude_none=True)
        wanted = set(keys or ClusterSpec.model_fields)
        wanted = wanted | {PASSWORD} if spec.guest_passwd else wanted - {PASSWORD}
        try:
            text = apply_values(current, values, wanted, replace=keys is None)
        except Unreadable:
            text = new_document(without)  # nothing in it to keep: the person rewrote it in full (git has it)
    return text, _refused_if_past(text, path, today, limits)


def _store_password(clusters_dir: Path | None, spec: ClusterSpec) -> None:
    """Keep the guest password given with `spec`, if any, in the cluster's secret store."""
    if not spec.guest_passwd:
        return
    if clusters_dir is None:
        raise ValueError("a guest password is kept in the clusters folder: pass clusters_dir")
    try:
        secrets.store_guest_password(clusters_dir, spec.cluster_name, spec.guest_passwd)
    except ValueError as exc:  # the secrets file there cannot be read: a person must look at it
        message = f"the password cannot be kept: {exc}; ask the hub's operator to look at that file"
        raise SpecError([FieldError(path=PASSWORD, message=message)]) from None


def save_spec(
    specs_dir: Path,
    spec: ClusterSpec,
    user: Who,
    *,
    keys: Collection[str] | None = None,
    expected: Collection[str] | None = None,
    create_only: bool = False,
    today: dt.date | None = None,
    clusters_dir: Path | None = None,
    limits: Limits = DEFAULT_LIMITS,
    remote: SpecsRemote | None = None,
) -> Saved:
    """Write `spec`: a new file exclusively (SpecExists if another writer made it first), or the
    existing file with `keys` set (None: every field, as a PUT replaces it) if it is at one of the
    `expected` versions (VersionMismatch otherwise). An `expires` already past is refused (see
    `expiry.past_refusal`). Raises SpecError when the file as it would be written is not valid.
    `spec.guest_passwd`, if given, is stored in `clusters_dir` (never the file: see `_text_for`),
    once the file is known to be valid and before it is written, holding the specs lock: the
    reconciler never sees the new spec without its password."""
    path = spec_path(specs_dir, spec.cluster_name)
    today = today or expiry.utc_today()
    created = False

    def make(current: str | None) -> str:
        nonlocal created
        created = current is None
        text = _text_for(current, spec, path, keys, create_only, today, limits)[0]
        _store_password(clusters_dir, spec)
        return text

    with _holding(remote):
        version, changed = write_spec_file(path, make, expected)
        verb = "Create" if created else "Update"
        committed = changed and commit(path, user, f"{verb} cluster {spec.cluster_name} (web view)")
    return Saved(path, version, created, changed, _push(remote, committed))


def proposed(
    specs_dir: Path,
    spec: ClusterSpec,
    *,
    keys: Collection[str] | None = None,
    expected: Collection[str] | None = None,
    create_only: bool = False,
    today: dt.date | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[ClusterSpec, str | None]:
    """What `save_spec` with the same arguments would write, written nowhere (what a preview
    plans): the spec as the file would hold it, with the guest password given (stored, not
    written, by a save) or else the file's own, and the version of the file it would go over
    (None: a new file). The same refusals, raised the same way: SpecError, VersionMismatch,
    SpecExists."""
    path = spec_path(specs_dir, spec.cluster_name)
    text, current = current_text(path, expected)  # never through a link, never past the size limit
    written = _text_for(text, spec, path, keys, create_only, today or expiry.utc_today(), limits)[1]
    if spec.guest_passwd:  # the password the cluster would get: the preview plans with it
        written = written.model_copy(update={PASSWORD: spec.guest_passwd})
    return written, current


def write_spec(specs_dir: Path, spec: ClusterSpec, user: Who, verb: str = "") -> Path:
    """Write the whole spec (create or replace), then commit it (best effort) as `user`. (`verb`
    is not needed any more: the commit says Create or Update by what happened.)"""
    return save_spec(specs_dir, spec, user).path


def mark_absent(
    specs_dir: Path,
    name: str,
    user: Who,
    expected: Collection[str] | None = None,
    remote: SpecsRemote | None = None,
) -> Saved:
    """Set `ensure: absent` so the reconciler destroys the cluster, the rest of the file untouched
    (a spec that no longer validates can still be destroyed). FileNotFoundError without a file."""
    path = spec_path(specs_dir, name)

    def make(current: str | None) -> str:
        if current is None:
            raise FileNotFoundError(path)
        return set_ensure_absent(current)

    with _holding(remote):
        version, changed = write_spec_file(path, make, expected)
        committed = changed and commit(path, user, f"Destroy cluster {name} (web view: ensure absent)")
    return Saved(path, version, False, changed, _push(remote, committed))


def forget_spec(
    specs_dir: Path,
    name: str,
    user: Who,
    expected: Collection[str] | None = None,
    remote: SpecsRemote | None = None,
) -> str:
    """Remove `specs/<name>.yaml` (the cluster is forgotten: the caller checked that nothing of it is
    in the cloud, `names.not_forgettable`), then commit the removal as `user`. Returns the version
    removed; FileNotFoundError without a file; VersionMismatch when it is not at `expected`."""
    path = spec_path(specs_dir, name)
    with _holding(remote):
        version = remove_spec_file(path, expected)
        committed = commit(path, user, f"Forget cluster {name} (web view)")
    _push(remote, committed)  # a push that fails is logged; the next pull pushes it
    return version


def _holding(remote: SpecsRemote | None) -> AbstractContextManager[None]:
    """The clone held for a write and its commit (nothing to hold without a remote)."""
    return remote.writing() if remote is not None else nullcontext()


def _push(remote: SpecsRemote | None, committed: bool) -> str | None:
    """Push a commit just made; None when it reached the remote (or there is none), else why not."""
    if remote is None or not committed:
        return None
    result = remote.push()
    if result.ok:
        return None
    log.warning("specs: %s", result.message)
    return result.message


def _clean(text: str) -> str:
    """`text` as git can take it in `Name <mail>`: no angle brackets, no control characters."""
    return " ".join(re.sub(r"[<>\x00-\x1f\x7f]", " ", text).split())[:200]


def author(user: Who) -> tuple[str, str]:
    """(name, email) for git: the display name and mail the proxy gave, when it gave them; else
    from the user id such as `alice` (`alice <alice@mchub.invalid>`), `alice@example.org`."""
    who = user if isinstance(user, Identity) else Identity(user)
    user_id = _clean(who.user) or "local user"
    mail = _clean(who.mail).replace(" ", "")
    name = _clean(who.name) or user_id
    if re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", mail):
        return name, mail
    if re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", user_id):
        return name, user_id
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", user_id).strip("-") or "user"
    return name, f"{slug}@mchub.invalid"


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    return subprocess.run(
        ["git", "-C", str(cwd), *args],
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        env=env,
        check=False,
    )


def commit(path: Path, user: Who, message: str) -> bool:
    """Commit just this file (its removal, when it is gone) when its folder is in a git work tree;
    log and carry on otherwise."""
    folder = path.parent
    name, email = author(user)
    try:
        with _git_lock:
            inside = _git(folder, "rev-parse", "--is-inside-work-tree")
            if inside.returncode != 0 or inside.stdout.strip() != "true":
                return False
            if not path.exists():  # a removal (Forget): commit it only if git knows the file
                if _git(folder, "ls-files", "--error-unmatch", "--", path.name).returncode != 0:
                    return False
                added = _git(folder, "rm", "--cached", "--quiet", "--", path.name)
            else:
                added = _git(folder, "add", "--", path.name)
            if added.returncode != 0:
                log.warning("git add %s failed: %s", path, added.stderr.strip())
                return False
            done = _git(
                folder,
                "-c",
                f"user.name={name}",
                "-c",
                f"user.email={email}",
                "-c",
                "commit.gpgsign=false",
                "commit",
                "--quiet",
                f"--author={name} <{email}>",
                "-m",
                message,
                "--",
                path.name,
            )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("git commit of %s failed: %s", path, exc)
        return False
    if done.returncode != 0:
        if "nothing to commit" in done.stdout + done.stderr or "no changes added" in done.stdout:
            return False
        log.warning("git commit of %s failed: %s", path, (done.stderr or done.stdout).strip())
        return False
    return True
