"""Setting up the hub's clone of the specs' remote in `specs_dir`, before the loop watches it: a
missing or empty folder becomes a clone; an existing clone of the same remote is reused; anything
else (a folder of specs that is not that clone, uncommitted edits) stops the hub with an error
naming the folder and what to do, because guessing would risk a person's work."""

from __future__ import annotations

import shutil
from pathlib import Path

from reconciler.gitsync.git import GitError, Repo, redact
from reconciler.model.approvals import APPROVALS_DIR
from reconciler.model.retries import RETRIES_DIR

# The hub's own requests (approvals, retries) live under specs/ but are not specs: never committed.
REQUEST_DIRS = (APPROVALS_DIR, RETRIES_DIR)
NO_BRANCH = "couldn't find remote ref"


class CloneError(Exception):
    """specs_dir cannot be used as the clone of specs_remote; the message says what to do."""


def fetch(repo: Repo, branch: str) -> bool:
    """Bring the remote's `branch` to `refs/remotes/origin/<branch>`; False when the remote has no
    such branch yet (a new, empty repository: the hub's first push creates it)."""
    done = repo.git(
        "fetch",
        "--quiet",
        "--prune",
        "origin",
        f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
        check=False,
    )
    if done.returncode == 0:
        return True
    if NO_BRANCH in done.stderr:
        return False
    repo.git("fetch", "--quiet", "origin", f"refs/heads/{branch}")  # raises, redacted, with git's words
    return True


def prepare_clone(repo: Repo, url: str, shown_url: str, branch: str) -> None:
    """Make `repo.dir` a clean clone of `url` on `branch` (see the module's docstring)."""
    repo.dir.mkdir(parents=True, exist_ok=True)
    repo.git("--version")  # GitMissing, said plainly, before anything else
    if _empty(repo.dir):
        _clone(repo, url, shown_url, branch)
        return
    _check_clone(repo, url, shown_url)
    exclude_requests(repo.dir)
    edits = repo.dirty()
    if edits:
        listed = ", ".join(edits[:5]) + (", ..." if len(edits) > 5 else "")
        raise CloneError(
            f"specs_dir {repo.dir} has uncommitted edits to specs ({listed}): commit and push them to "
            f"{shown_url}, or set them aside (git -C {repo.dir} stash -u), then start the hub again"
        )
    _on_branch(repo, branch)


def exclude_requests(folder: Path) -> None:
    """List the request folders in the clone's own `.git/info/exclude` (not a committed file: they
    are this hub's business, and other clones of the remote need not know)."""
    exclude = folder / ".git" / "info" / "exclude"
    exclude.parent.mkdir(parents=True, exist_ok=True)
    text = exclude.read_text() if exclude.exists() else ""
    missing = [f"/{name}/" for name in REQUEST_DIRS if f"/{name}/" not in text.splitlines()]
    if missing:
        lead = "" if not text or text.endswith("\n") else "\n"
        exclude.write_text(text + lead + "# MC Hub's requests: not specs\n" + "\n".join(missing) + "\n")


def _empty(folder: Path) -> bool:
    """Nothing in the folder but the hub's (empty or not) request folders."""
    return all(entry.name in REQUEST_DIRS and entry.is_dir() for entry in folder.iterdir())


def _clone(repo: Repo, url: str, shown_url: str, branch: str) -> None:
    """`git clone`, done in place (the folder may already hold the hub's request folders)."""
    try:
        repo.git("init", "--quiet", "-b", branch)
        repo.git("remote", "add", "origin", url)
        exclude_requests(repo.dir)
        if fetch(repo, branch):
            repo.git("reset", "--quiet", "--hard", f"refs/remotes/origin/{branch}")
    except GitError as exc:
        shutil.rmtree(repo.dir / ".git", ignore_errors=True)  # the next start tries again from scratch
        raise CloneError(f"cannot clone {shown_url} (branch {branch}) into {repo.dir}: {exc}") from None


def _same_remote(a: str, b: str) -> bool:
    """Whether two remote URLs name the same repository (a trailing slash, or a local path written
    two ways, does not make another one)."""
    a, b = a.strip().rstrip("/"), b.strip().rstrip("/")
    if a == b:
        return True
    local = [
        p.removeprefix("file://")
        for p in (a, b)
        if "://" not in p.removeprefix("file://") and ":" not in p.split("/")[0]
    ]
    return len(local) == 2 and Path(local[0]).resolve() == Path(local[1]).resolve()


def _check_clone(repo: Repo, url: str, shown_url: str) -> None:
    top = repo.git("rev-parse", "--show-toplevel", check=False)
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != repo.dir.resolve():
        raise CloneError(
            f"specs_dir {repo.dir} already holds files and is not a clone of {shown_url}: move its files "
            "away (or point specs_dir at an empty folder), and the hub clones the remote there; specs "
            "in it that should stay, commit and push to the remote first"
        )
    origin = repo.git("remote", "get-url", "origin", check=False)
    if origin.returncode != 0 or not _same_remote(origin.stdout.strip(), url):
        found = redact(origin.stdout.strip() or "no origin", repo.secrets)
        raise CloneError(
            f"specs_dir {repo.dir} is a clone of {found}, not of specs_remote {shown_url}: "
            f"point specs_dir at an empty folder for the new remote (or run git -C {repo.dir} remote "
            "set-url origin <url> if the remote only moved)"
        )


def _on_branch(repo: Repo, branch: str) -> None:
    """Switch a clean clone to `branch` when it is on another one (specs_branch changed)."""
    current = repo.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False).stdout.strip()
    if current == branch:
        return
    if repo.commit_of(f"refs/heads/{branch}"):
        repo.git("checkout", "--quiet", branch)
    elif fetch(repo, branch):
        repo.git("checkout", "--quiet", "-b", branch, f"refs/remotes/origin/{branch}")
    else:
        repo.git("checkout", "--quiet", "-b", branch)
