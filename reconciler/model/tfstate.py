"""Where a cluster's Terraform state is read from on this hub's disk. With files (the default),
Terraform keeps it in `clusters/<name>/terraform.tfstate`. With `database_url`, Terraform keeps it
in PostgreSQL (its `pg` backend, one schema per cluster: `state_schema`) and the hub keeps a copy,
`.mchub-state.json`, written after each run and by the mirror, for what reads a state without
running Terraform (has the cluster resources, what it holds). The copy is never named
terraform.tfstate: `terraform init` would offer to push an old local file over the real state."""

from __future__ import annotations

from pathlib import Path

from reconciler.model.spec import CLUSTER_NAME_RE

STATE = "terraform.tfstate"
STATE_COPY = ".mchub-state.json"
STATE_SCHEMA_PREFIX = "mchub_tf_"


def state_file(workdir: Path) -> Path:
    """Terraform's own state file when there is one (files), else the hub's copy (PostgreSQL)."""
    own = workdir / STATE
    return own if own.exists() or not (workdir / STATE_COPY).exists() else workdir / STATE_COPY


def state_schema(name: str) -> str:
    """The PostgreSQL schema of a cluster's Terraform state: cluster names are lowercase letters,
    digits and hyphens, so hyphens become underscores without two names meeting."""
    if not CLUSTER_NAME_RE.fullmatch(name):
        raise ValueError(f"not a cluster name: {name!r}")
    return STATE_SCHEMA_PREFIX + name.replace("-", "_")
