"""Per-cluster secrets the hub generates, or a person gives through the web form or the API, kept
under `clusters/<name>/secrets.json` (mode 0600), never in specs, main.tf, logs or status. Terraform
receives them through TF_VAR_* variables."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import secrets as _random
from pathlib import Path

from reconciler.model.atomic import write_atomic
from reconciler.model.files import UnreadableFile, label, read_regular

SECRETS_LIMIT = 64 * 1024
GIVEN_AT = "guest_passwd_given_at"
ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def secrets_path(clusters_dir: Path, name: str) -> Path:
    return clusters_dir / name / "secrets.json"


def _read(clusters_dir: Path, name: str) -> dict[str, str]:
    """The stored secrets ({} when there are none yet). UnreadableFile when the file is not a
    regular file within SECRETS_LIMIT holding a JSON object: never silently replaced, since a new
    password would lock the guests out (the engine keeps it aside and stops for a person)."""
    return _read_file(secrets_path(clusters_dir, name))


def _read_file(path: Path) -> dict[str, str]:
    shown = label(path, 3)
    try:
        data = json.loads(read_regular(path, SECRETS_LIMIT, shown))
    except FileNotFoundError:
        return {}
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, UnreadableFile):
            raise
        raise UnreadableFile(path, "is not valid JSON", shown) from None
    if not isinstance(data, dict):
        raise UnreadableFile(path, "does not hold a JSON object", shown)
    return {k: v for k, v in data.items() if isinstance(v, str)}


def guest_password(clusters_dir: Path, name: str, from_spec: str | None) -> str:
    """The spec's password when it gives one, else the one generated for this cluster (made once)."""
    if from_spec:
        return from_spec
    stored = _read(clusters_dir, name)
    if not stored.get("guest_passwd"):
        stored["guest_passwd"] = "".join(_random.choice(ALPHABET) for _ in range(20))
        write_atomic(secrets_path(clusters_dir, name), json.dumps(stored).encode(), mode=0o600)
    return stored["guest_passwd"]


def stored_guest_password(clusters_dir: Path, name: str) -> str | None:
    """The stored guest password, None when there is none or the file cannot be read."""
    try:
        return _read(clusters_dir, name).get("guest_passwd")
    except UnreadableFile:
        return None


def store_guest_password(clusters_dir: Path, name: str, password: str) -> None:
    """Keep the guest password a person gave (the web form or the API) for cluster `name`: in its
    secrets file, atomically and mode 0600, never in the spec or git. The web view's one write
    under `clusters/`. The spec's own `guest_passwd`, if it has one, still comes first."""
    if not password:
        raise ValueError("an empty guest password is not stored: leave it out to keep the current one")
    with contextlib.suppress(FileExistsError):  # made as the reconciler makes it: private
        secrets_path(clusters_dir, name).parent.mkdir(parents=True, mode=0o700)
    stored = _read(clusters_dir, name)
    stored["guest_passwd"] = password
    stored[GIVEN_AT] = dt.datetime.now(dt.UTC).isoformat()
    write_atomic(secrets_path(clusters_dir, name), json.dumps(stored).encode(), mode=0o600)


def password_given_at(clusters_dir: Path, name: str) -> str:
    """When a person last gave the cluster's guest password ("" if never, or unreadable): not a
    secret, so the engine may add it to the cluster's hash, and a new password, which changes no
    spec, is applied at the next look. A generated password leaves it unchanged."""
    return given_at_in(secrets_path(clusters_dir, name))


def given_at_in(path: Path) -> str:
    """`password_given_at` of the secrets file at `path`: what the engine caches by the file's
    signature (specfiles.FileCache), so an idle pass does not read every cluster's secrets."""
    try:
        return _read_file(path).get(GIVEN_AT, "")
    except UnreadableFile:
        return ""
