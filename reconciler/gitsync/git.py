"""The one place the hub's clone of the specs' remote runs `git`: no terminal prompt (a remote that
asks for a password fails at once instead of hanging the hub), a timeout on every call, English
messages, and every message redacted: a URL such as https://user:token@host/specs.git carries a
credential, which must never reach a log, an error or a page."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

GIT_TIMEOUT = 60.0
# A committer for the commits git writes itself (a rebase re-commits the hub's own changes; their
# author, the person, is kept).
HUB_IDENTITY = (
    "-c",
    "user.name=MC Hub",
    "-c",
    "user.email=mchub@mchub.invalid",
    "-c",
    "commit.gpgsign=false",
)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


class GitError(Exception):
    """A git command that failed; its message is already redacted."""


class GitMissing(GitError):
    """No `git` program on the hub."""


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` without credentials: the user-info part of every URL (`scheme://user:pass@`) becomes
    `scheme://***@`, and each of `secrets` (the URL's user-info, as it may also appear alone or
    percent-decoded) becomes `***`."""
    out = _USERINFO.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        if secret:
            out = out.replace(secret, "***")
    return out


def userinfo_of(url: str) -> tuple[str, ...]:
    """The credential parts of `url` (`user:token`, `token`, and their decoded forms), to redact."""
    found = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://([^/@\s]+)@", url)
    if not found:
        return ()
    info = found.group(1)
    parts = {info, unquote(info)}
    for piece in (info, unquote(info)):
        user, _, password = piece.partition(":")
        if password:
            parts.add(password)
    return tuple(sorted((p for p in parts if len(p) >= 4), key=len, reverse=True))


def run(
    cwd: Path,
    *args: str,
    secrets: Iterable[str] = (),
    timeout: float = GIT_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """`git -C cwd args...`; GitError (redacted) when it fails and `check`, GitMissing without git."""
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password nobody will type
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "LC_ALL": "C",  # messages we read (rejected pushes, conflicts) in one language
        "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
    }
    hidden = tuple(secrets)
    command = ["git", "-C", str(cwd), *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env, check=False)
    except FileNotFoundError:
        raise GitMissing(
            "git is not installed on this hub (specs_remote needs it): install git, e.g. apt-get install git"
        ) from None
    except subprocess.TimeoutExpired:
        raise GitError(
            redact(f"git {args[0]} took more than {timeout:g}s; the remote did not answer", hidden)
        ) from None
    if check and done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or f"exit code {done.returncode}"
        raise GitError(redact(f"git {args[0]}: {said}", hidden))
    return done


@dataclass(frozen=True)
class Repo:
    """A work tree the hub runs git in, with the credentials its messages must not show."""

    dir: Path
    secrets: tuple[str, ...] = ()

    def git(
        self, *args: str, check: bool = True, timeout: float = GIT_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        return run(self.dir, *args, secrets=self.secrets, check=check, timeout=timeout)

    def out(self, *args: str) -> str:
        return self.git(*args).stdout.strip()

    def commit_of(self, ref: str) -> str | None:
        """The commit `ref` names, or None (no such branch; no commit yet)."""
        done = self.git("rev-parse", "-q", "--verify", f"{ref}^{{commit}}", check=False)
        return done.stdout.strip() or None if done.returncode == 0 else None

    def count(self, revisions: str) -> int:
        """How many commits `revisions` (e.g. `origin/main..HEAD`) covers."""
        return int(self.out("rev-list", "--count", revisions) or 0)

    def dirty(self) -> list[str]:
        """Uncommitted edits: changed tracked files and untracked files not excluded, as paths."""
        lines = self.git("status", "--porcelain", "--untracked-files=all").stdout.splitlines()
        return [line[3:] for line in lines if line.strip()]
