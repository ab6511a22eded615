"""Who changed each spec, from git: the commits that touched `specs/<name>.yaml` (author, time, what
changed), the cluster's owner (the author of the commit that created its file) and the commit that
made a given version of the file (a run's spec, `runs.RunRecord.spec_blob`). Read with one
`git log` over the specs folder, kept per HEAD: a page poll costs three `stat` calls while HEAD
stands still, and a new commit costs one `git log` of the commits since the last one read. Empty
when `specs/` is not in a git work tree. (The web view may start git: its commits are its own,
webview/specstore.py.)"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import subprocess
import threading
from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.model.specfiles import signature
from webview import specdiff

log = logging.getLogger("mchub.webview")
GIT_TIMEOUT = 30.0
NULL_BLOB = "0" * 40
_SPEC_FILE = re.compile(r"([a-z][a-z0-9-]*)\.yaml")
_RECORD, _FIELD = "\x1e", "\x1f"
_FORMAT = f"{_RECORD}%H{_FIELD}%an{_FIELD}%ae{_FIELD}%at{_FIELD}%s"


@dataclass(frozen=True)
class Commit:
    """One commit that touched a spec file. `summary` is the subject, or what changed in the spec
    when the subject says nothing more than "updated" (see specdiff.generic)."""

    sha: str
    author: str
    email: str
    time: dt.datetime  # the author's time, UTC
    summary: str
    status: str = "M"  # A (created the file), M (changed it) or D (removed it)
    blob: str = ""  # the file's git blob id after the commit ("" when removed)
    before: str = ""  # its blob id before ("" when created)


def find_git_dir(start: Path) -> Path | None:
    """The `.git` folder of the work tree holding `start` (a worktree's `.git` file followed), or
    None: found by walking up, without starting git."""
    try:
        here = start.resolve()
    except OSError:
        return None
    for folder in (here, *here.parents):
        dotgit = folder / ".git"
        if dotgit.is_dir():
            return dotgit
        if dotgit.is_file():
            try:
                text = dotgit.read_text(errors="replace").strip()
            except OSError:
                return None
            if text.startswith("gitdir:"):
                target = Path(text.removeprefix("gitdir:").strip())
                return target if target.is_absolute() else (folder / target).resolve()
            return None
    return None


def _common_dir(git_dir: Path) -> Path:
    """Where a worktree's shared refs live (its `commondir`), else the git dir itself."""
    try:
        common = (git_dir / "commondir").read_text().strip()
    except OSError:
        return git_dir
    return (git_dir / common).resolve()


class SpecHistory:
    """The commits of every spec in `specs_dir`, newest first, refreshed when HEAD moves. Safe to
    share between threads (the web view's handlers run in a pool)."""

    def __init__(self, specs_dir: Path) -> None:
        self.specs_dir = specs_dir
        self._lock = threading.Lock()
        self._git_dir: Path | None = None
        self._key: tuple[str | None, ...] | None = None
        self._head: str | None = None
        self._head_text: tuple[str | None, str] = (None, "")  # HEAD's signature and its content
        self._by_name: dict[str, list[Commit]] = {}
        self._summaries: dict[tuple[str, str], str] = {}

    # -- the contract -------------------------------------------------------------------------

    def entries(self, name: str) -> list[Commit]:
        """The commits that touched `specs/<name>.yaml`, newest first (removals and earlier lives
        of the name included), each with its summary in words."""
        with self._lock:
            self._refresh()
            commits = list(self._by_name.get(name, ()))
        return self._summarised(commits)

    def owner(self, name: str) -> str | None:
        """The author of the commit that created the current life of `specs/<name>.yaml` (a name
        forgotten and reused belongs to whoever created it again); None without git history."""
        with self._lock:
            self._refresh()
            return _owner(self._by_name.get(name, ()))

    def owners(self) -> dict[str, str]:
        """`owner` of every spec git knows, at once (the dashboard's column)."""
        with self._lock:
            self._refresh()
            found = {name: _owner(commits) for name, commits in self._by_name.items()}
        return {name: who for name, who in found.items() if who is not None}

    def head(self) -> str | None:
        """The commit the history was read at (None without git history): the dashboard keys its
        cached owner and age columns by it."""
        with self._lock:
            self._refresh()
            return self._head

    def origins(self) -> dict[str, Commit]:
        """The commit that created the current life of each spec git knows, at once: its author
        is the owner (`owner`), its time the spec's birth (the dashboard's owner and age columns)."""
        with self._lock:
            self._refresh()
            found = {name: _origin(commits) for name, commits in self._by_name.items()}
        return {name: c for name, c in found.items() if c is not None}

    def commit_of(self, name: str, blob: str, before: dt.datetime | None = None) -> Commit | None:
        """The commit that made the version of `specs/<name>.yaml` whose git blob id is `blob`: the
        newest one at or before `before` (a run's start), else the newest. None when git never held
        that content (an edit not committed, or made without git)."""
        if not blob:
            return None
        with self._lock:
            self._refresh()
            made = [c for c in self._by_name.get(name, ()) if c.blob == blob]
        early = [c for c in made if before is None or c.time <= before + dt.timedelta(seconds=1)]
        found = early or made
        return found[0] if found else None

    # -- reading git --------------------------------------------------------------------------

    def _refresh(self) -> None:
        """Bring the history up to HEAD; called with the lock held."""
        if self._git_dir is None:  # looked for until found: `git init` may come after the hub starts
            self._git_dir = find_git_dir(self.specs_dir)
        if self._git_dir is None:
            return
        key = self._head_key(self._git_dir)
        if key == self._key:
            return
        head = self._git("rev-parse", "--verify", "--quiet", "HEAD")
        new_head = head.strip() if head is not None else None
        if new_head is None or not new_head:
            self._by_name, self._head = {}, None
        elif new_head != self._head:
            self._read_since(self._head, new_head)
        self._key = key

    def _head_key(self, git_dir: Path) -> tuple[str | None, ...]:
        """Signatures of the files that say where HEAD is: HEAD itself, the branch's ref file and
        packed-refs. Git replaces each by rename, so a new commit changes one of them."""
        common = _common_dir(git_dir)
        head_sig = signature(git_dir / "HEAD")
        if self._head_text[0] != head_sig:
            try:
                text = (git_dir / "HEAD").read_text(errors="replace").strip()
            except OSError:
                text = ""
            self._head_text = (head_sig, text)
        text = self._head_text[1]
        ref = text.removeprefix("ref:").strip() if text.startswith("ref:") else ""
        ref_sig = signature(common / ref) if ref and ".." not in ref else None
        return (head_sig, text, ref_sig, signature(common / "packed-refs"))

    def _read_since(self, old: str | None, new: str) -> None:
        """Add the commits since `old` when HEAD moved on from it; read everything otherwise (a
        first look, a reset, a force push)."""
        if old is not None and self._git("merge-base", "--is-ancestor", old, new) is not None:
            fresh = self._log(f"{old}..{new}")
            if fresh is not None:
                for name, commits in fresh.items():
                    self._by_name[name] = commits + self._by_name.get(name, [])
                self._head = new
                return
        every = self._log(new)
        self._by_name = every or {}
        self._head = new if every is not None else None

    def _log(self, revisions: str) -> dict[str, list[Commit]] | None:
        out = self._git(
            "-c", "core.quotePath=true", "log", "--no-renames", "--raw", "--no-abbrev", "--relative",
            f"--format={_FORMAT}", revisions, "--", ".",
        )  # fmt: skip
        return None if out is None else parse_log(out)

    def _git(self, *args: str) -> str | None:
        """git's output in the specs folder; None when it fails (logged: the page shows no history)."""
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}
        try:
            done = subprocess.run(
                ["git", "-C", str(self.specs_dir), *args],
                capture_output=True, text=True, errors="replace", timeout=GIT_TIMEOUT, env=env, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("git %s in %s failed: %s", args[0], self.specs_dir, exc)
            return None
        if done.returncode != 0:
            if args[0] not in ("merge-base", "rev-parse"):  # "not an ancestor", "no commit yet": answers
                log.warning("git %s in %s failed: %s", args[0], self.specs_dir, done.stderr.strip()[:300])
            return None
        return done.stdout

    # -- summaries ----------------------------------------------------------------------------

    def _summarised(self, commits: list[Commit]) -> list[Commit]:
        """`commits` with each generic subject replaced by what changed in the spec, the blobs
        read once through one `git cat-file --batch` and the words kept by blob pair."""
        commits = [replace(c, summary="created") if c.status == "A" and specdiff.generic(c.summary) else c
                   for c in commits]  # fmt: skip
        wanted = [c for c in commits if c.status == "M" and specdiff.generic(c.summary)]
        with self._lock:
            missing = {(c.before, c.blob) for c in wanted} - self._summaries.keys()
        if missing:
            texts = self._blobs({b for pair in missing for b in pair})
            words = {pair: specdiff.summary(texts.get(pair[0]), texts.get(pair[1])) for pair in missing}
            with self._lock:
                if len(self._summaries) > 20_000:
                    self._summaries.clear()
                self._summaries.update(words)
        with self._lock:
            known = dict(self._summaries)
        told = {c.sha for c in wanted}
        return [
            replace(c, summary=known.get((c.before, c.blob)) or c.summary) if c.sha in told else c
            for c in commits
        ]

    def _blobs(self, ids: set[str]) -> dict[str, str]:
        """The text of each blob in `ids` (one git process); a blob over the spec size limit or not
        text is left out (its change is then summarised as "the file changed")."""
        ids = {i for i in ids if re.fullmatch(r"[0-9a-f]{40}", i)}
        if not ids:
            return {}
        order = sorted(ids)
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
        try:
            done = subprocess.run(
                ["git", "-C", str(self.specs_dir), "cat-file", "--batch"],
                input="".join(f"{i}\n" for i in order).encode(), capture_output=True,
                timeout=GIT_TIMEOUT, env=env, check=False,
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            log.warning("git cat-file in %s failed: %s", self.specs_dir, exc)
            return {}
        return _parse_batch(done.stdout, specdiff.MAX_BYTES)


def _owner(commits: list[Commit] | tuple[Commit, ...]) -> str | None:
    """The author of the newest creation in `commits` (newest first), else of the oldest commit."""
    origin = _origin(commits)
    return origin.author if origin is not None else None


def _origin(commits: list[Commit] | tuple[Commit, ...]) -> Commit | None:
    """The newest creation in `commits` (newest first), else the oldest commit."""
    for c in commits:
        if c.status == "A":
            return c
    return commits[-1] if commits else None


def parse_log(out: str) -> dict[str, list[Commit]]:
    """`git log --raw --no-abbrev --format=_FORMAT` output -> commits by spec name, newest first.
    Paths that are not `<name>.yaml` at the top of the folder (approvals, retries) are skipped."""
    by_name: dict[str, list[Commit]] = {}
    for chunk in out.split(_RECORD)[1:]:
        head, _, raw = chunk.partition("\n")
        fields = head.split(_FIELD)
        if len(fields) != 5:
            continue
        sha, author, email, stamp, subject = fields
        try:
            when = dt.datetime.fromtimestamp(int(stamp), dt.UTC)
        except ValueError:
            continue
        base = Commit(sha, author, email, when, subject.strip())
        for line in raw.splitlines():
            meta, _, path = line.partition("\t")
            parts = meta.split()
            match = _SPEC_FILE.fullmatch(path)
            if not line.startswith(":") or len(parts) < 5 or match is None:
                continue
            before, after, status = parts[2], parts[3], parts[4][:1]
            commit = replace(
                base,
                status=status,
                blob="" if after == NULL_BLOB else after,
                before="" if before == NULL_BLOB else before,
            )
            by_name.setdefault(match.group(1), []).append(commit)
    return by_name


def _parse_batch(data: bytes, limit: int) -> dict[str, str]:
    """`git cat-file --batch` output -> blob id: text (UTF-8, within `limit` bytes)."""
    found: dict[str, str] = {}
    at = 0
    while at < len(data):
        end = data.find(b"\n", at)
        if end < 0:
            break
        header = data[at:end].decode(errors="replace").split()
        at = end + 1
        if len(header) != 3 or header[1] != "blob":
            continue  # "<id> missing": nothing follows
        size = int(header[2])
        body = data[at : at + size]
        at += size + 1
        if size <= limit:
            try:
                found[header[0]] = body.decode()
            except UnicodeDecodeError:
                continue
    return found
