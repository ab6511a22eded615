"""Per-cluster secrets the hub generates and keeps under `clusters/<name>/secrets.json` (mode 0600),
never in specs, main.tf, logs or status. Terraform receives them through TF_VAR_* variables."""

from __future__ import annotations

import json
import secrets as _random
from pathlib import Path

from reconciler.model.atomic import write_atomic

ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def secrets_path(clusters_dir: Path, name: str) -> Path:
    return clusters_dir / name / "secrets.json"


def _read(clusters_dir: Path, name: str) -> dict[str, str]:
    try:
        data = json.loads(secrets_path(clusters_dir, name).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


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
    return _read(clusters_dir, name).get("guest_passwd")
