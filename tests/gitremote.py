"""A real bare git repository as the specs' remote (settings.specs_remote) and a person's own clone
of it, for the tests of the hub's clone (reconciler/gitsync) and the web view's pushes."""

from __future__ import annotations

import subprocess
from pathlib import Path

from reconciler.model.settings import Settings

PERSON = ("-c", "user.name=Pat Person", "-c", "user.email=pat@example.org", "-c", "commit.gpgsign=false")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def bare_remote(where: Path, first: dict[str, str] | None = None) -> Path:
    """A bare repository with branch main, holding `first` (file name -> text) when given."""
    remote = where / "remote.git"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True)
    if first:
        person = Person(where / "first-person", remote)
        for name, text in first.items():
            person.write(name, text)
        person.push("the first specs")
    return remote


def remote_file(remote: Path, name: str, ref: str = "main") -> str | None:
    """The file as the remote's `ref` has it (None: not there)."""
    done = subprocess.run(
        ["git", "--git-dir", str(remote), "show", f"{ref}:{name}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout if done.returncode == 0 else None


def remote_log(remote: Path, ref: str = "main") -> list[str]:
    """`author: subject` of each commit on the remote's `ref`, newest first."""
    return git(remote, "log", "--format=%an: %s", ref).splitlines()


def remote_branches(remote: Path) -> list[str]:
    return git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


def hub_settings(root: Path, remote: str | Path, name: str, **more: object) -> Settings:
    """A hub's settings whose specs come from `remote` (its own clone in root/<name>/specs)."""
    return Settings(
        specs_dir=root / name / "specs",
        clusters_dir=root / name / "clusters",
        specs_remote=str(remote),
        **more,  # type: ignore[arg-type]
    )


class Person:
    """Someone who edits specs in their own clone and pushes to the remote, as people do."""

    def __init__(self, where: Path, remote: Path) -> None:
        self.dir = where
        subprocess.run(["git", "clone", "--quiet", str(remote), str(where)], check=True, capture_output=True)
        git(where, "checkout", "-q", "-B", "main")

    def write(self, name: str, text: str) -> None:
        (self.dir / name).write_text(text)

    def push(self, message: str) -> None:
        git(self.dir, "add", "-A")
        git(self.dir, *PERSON, "commit", "--quiet", "-m", message)
        if self.remote_has_main():
            git(self.dir, *PERSON, "pull", "--quiet", "--rebase", "origin", "main")
        git(self.dir, "push", "--quiet", "origin", "HEAD:main")

    def remote_has_main(self) -> bool:
        return bool(git(self.dir, "ls-remote", "--heads", "origin", "main").strip())
