"""The web view's only writes: `specs/<name>.yaml`, replaced atomically on a person's behalf, then
committed with that person as author when `specs/` sits in a git work tree. Every path comes from
`reconciler.model.specfiles.spec_path`, which checks the name first."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import yaml

from reconciler.model.atomic import write_atomic
from reconciler.model.spec import ClusterSpec, SpecError, dump_yaml, parse_yaml
from reconciler.model.specfiles import spec_path

log = logging.getLogger("mchub.webview")
GIT_TIMEOUT = 30.0
_git_lock = threading.Lock()


def write_spec(specs_dir: Path, spec: ClusterSpec, user: str, verb: str) -> Path:
    """Write the spec atomically, then commit it (best effort) as `user`."""
    path = spec_path(specs_dir, spec.cluster_name)
    write_atomic(path, dump_yaml(spec).encode())
    commit(path, user, f"{verb} cluster {spec.cluster_name} (web view)")
    return path


def mark_absent(specs_dir: Path, name: str, user: str) -> Path:
    """Set `ensure: absent` so the reconciler destroys the cluster. A spec that no longer
    validates is edited as plain YAML, so a broken spec can still be destroyed."""
    path = spec_path(specs_dir, name)
    text = path.read_text(encoding="utf-8")
    try:
        spec = parse_yaml(text, str(path))
    except SpecError:
        data: Any = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise
        data["ensure"] = "absent"
        blob = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)
    else:
        blob = dump_yaml(spec.model_copy(update={"ensure": "absent"}))
    write_atomic(path, blob.encode())
    commit(path, user, f"Destroy cluster {name} (web view: ensure absent)")
    return path


def author(user: str) -> tuple[str, str]:
    """(name, email) for git from a user name such as `alice`, `alice@example.org`, `mchub-user`."""
    name = re.sub(r"[<>\n\r\x00]", "", user).strip() or "local user"
    if re.fullmatch(r"[^@\s<>]+@[^@\s<>]+", name):
        return name, name
    slug = re.sub(r"[^a-zA-Z0-9._-]+", "-", name).strip("-") or "user"
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


def commit(path: Path, user: str, message: str) -> bool:
    """Commit just this file when its folder is in a git work tree; log and carry on otherwise."""
    folder = path.parent
    name, email = author(user)
    try:
        with _git_lock:
            inside = _git(folder, "rev-parse", "--is-inside-work-tree")
            if inside.returncode != 0 or inside.stdout.strip() != "true":
                return False
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
