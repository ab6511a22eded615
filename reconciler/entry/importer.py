"""`mchub import-mchub DIR`: bring a cluster MC Hub built under the hub's care. Reads the MC Hub
cluster folder (`main.tf.json`, `terraform.tfstate`), maps it (reconciler.model.mchub), and writes
the cluster folder `clusters/<name>/` (the state, and the guest password in the secret store) and
then, last, `specs/<name>.yaml`: a running hub sees the spec only once its state is in place.

All or nothing: every check runs before anything is written, and a failure while writing removes
what this import wrote. The guest password never reaches the spec, git, the output or a log."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from reconciler.model import secrets
from reconciler.model.atomic import write_atomic
from reconciler.model.files import UnreadableFile, read_regular
from reconciler.model.mchub import (
    MAIN,
    STATE,
    Imported,
    Refused,
    cloud_module_problems,
    read_main,
    state_problems,
)
from reconciler.model.names import name_taken
from reconciler.model.settings import Settings
from reconciler.model.spec import SpecError, parse_spec_file
from reconciler.model.specedit import new_document
from reconciler.model.specfiles import SpecExists, spec_path, write_spec_file
from reconciler.model.status import read_status
from webview.specstore import commit

MAIN_LIMIT = 1024 * 1024
STATE_LIMIT = 256 * 1024 * 1024  # a state of a few hundred hosts is a few MB
BUNDLED = Path("modules") / "openstack-vms"


def _json(path: Path, limit: int) -> Any:
    try:
        return json.loads(read_regular(path, limit, path.name))
    except FileNotFoundError:
        raise Refused([f"{path.name}: missing from {path.parent}; an MC Hub cluster folder has it"]) from None
    except UnreadableFile as exc:
        raise Refused([str(exc)]) from None
    except (ValueError, RecursionError) as exc:
        raise Refused([f"{path.name}: not valid JSON ({str(exc)[:120]})"]) from None


def check(folder: Path, settings: Settings, cloud_name: str | None) -> tuple[Imported, Any]:
    """The import `folder` makes, checked against the hub's settings, specs and clusters; and the
    state. Raises Refused (every problem) or SettingsError (no such cloud: `mchub` says so)."""
    cloud = settings.cloud(cloud_name)
    if not folder.is_dir():
        raise Refused([f"{folder}: not a folder; give an MC Hub cluster folder"])
    imported = read_main(_json(folder / MAIN, MAIN_LIMIT), folder.resolve(), cloud.name, settings.limits)
    state = _json(folder / STATE, STATE_LIMIT)
    problems = state_problems(state, imported.spec)
    problems += cloud_module_problems(imported, cloud, settings.templates_dir / BUNDLED)
    name = imported.spec.cluster_name
    try:
        status = read_status(settings.clusters_dir, name)
    except ValueError as exc:  # an unreadable status: the name is someone's
        problems.append(f"cluster_name: {exc}")
        status = None
    taken = name_taken(name, spec_path(settings.specs_dir, name).exists(), status)
    if taken:
        problems.append(
            f"cluster_name: {taken} (the name is in the state's resource names: it cannot change)"
        )
    elif (settings.clusters_dir / name).exists():
        problems.append(
            f"cluster_name: {settings.clusters_dir / name} already exists (a destroyed cluster's history); "
            "move it aside, then import"
        )
    if problems:
        raise Refused(problems)
    return imported, state


def _cluster_folder(settings: Settings, imported: Imported, state: Any) -> Path:
    """clusters/<name>/ with the state and the guest password, made whole in a hidden folder beside
    it and renamed into place, so the hub never sees half of it."""
    settings.clusters_dir.mkdir(parents=True, exist_ok=True)
    name = imported.spec.cluster_name
    tmp = Path(tempfile.mkdtemp(dir=settings.clusters_dir, prefix=f".import-{name}-"))
    try:
        os.chmod(tmp, 0o700)
        write_atomic(tmp / STATE, json.dumps(state, indent=2).encode(), mode=0o600)
        secrets.store_guest_password(settings.clusters_dir, tmp.name, imported.guest_passwd)
        target = settings.clusters_dir / name
        os.rename(tmp, target)  # fails if another writer made a non-empty folder there meanwhile
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _write_spec(settings: Settings, imported: Imported) -> Path:
    path = spec_path(settings.specs_dir, imported.spec.cluster_name)
    text = new_document(imported.spec)
    parse_spec_file(text, path, settings.limits)  # the file as written reads back as the spec

    def make(current: str | None) -> str:
        if current is not None:
            raise SpecExists(imported.spec.cluster_name)
        return text

    write_spec_file(path, make)
    return path


def run(args: argparse.Namespace, settings: Settings) -> int:
    folder = Path(args.dir)
    try:
        imported, state = check(folder, settings, args.cloud)
    except Refused as exc:
        print(f"mchub import-mchub: {folder} cannot be imported:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    name = imported.spec.cluster_name
    if args.dry_run:
        sys.stdout.write(new_document(imported.spec))
        print(
            f"# dry run: would write specs/{name}.yaml (above), clusters/{name}/{STATE} and the guest "
            "password to the secret store",
            file=sys.stderr,
        )
        return 0
    target = _cluster_folder(settings, imported, state)
    try:
        path = _write_spec(settings, imported)
    except (SpecExists, SpecError, OSError) as exc:
        shutil.rmtree(target, ignore_errors=True)  # ours: made a moment ago, checked absent before
        print(f"mchub import-mchub: {name}: {exc}; nothing was imported", file=sys.stderr)
        return 1
    with contextlib.suppress(Exception):  # best effort, as the web view's commits
        commit(path, f"{os.environ.get('USER') or 'cli'} (cli)", f"Import cluster {name} from MC Hub")
    print(
        f"{name}: imported from {folder} as {path} on cloud {imported.spec.cloud}; its state is in "
        f"{target}, its guest password in the hub's secret store. The hub's next plan should change no "
        f"resource: `mchub status {name}`"
    )
    return 0
