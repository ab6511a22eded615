"""The sandbox's state: one in-memory model guarded by a lock, saved atomically to
<data_dir>/state.json after every change, seeded on the first start of a data dir (and brought
up to date when a data dir from an older sandbox lacks a table)."""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC
from pathlib import Path
from typing import Any

from sandbox.cloud import glance_model, neutron_seed, scenarios
from sandbox.cloud.seed import Seed
from sandbox.cloud.web import Record, new_id
from sandbox.files import write_atomic

FORMAT = 1
ADMIN_PROJECT = "5ca1ab1e0000400080000000000ad31a"  # owns the seeded external networks and images
TABLES = (
    "flavors", "images", "networks", "subnets", "ports", "floatingips", "routers",
    "security_groups", "security_group_rules", "servers", "volumes", "keypairs", "volume_types",
)


@dataclass(frozen=True)
class Credentials:
    """Secrets generated on the first start of a data dir, kept in credentials.json (mode 0600)."""

    username: str
    password: str
    project_name: str
    domain_name: str
    application_credential_id: str
    application_credential_secret: str
    token_key: str  # signs the tokens Keystone hands out, so they survive a restart

    @classmethod
    def generate(cls, seed: Seed) -> Credentials:
        return cls(
            username=seed.username, password=secrets.token_urlsafe(18), project_name=seed.project,
            domain_name=seed.domain, application_credential_id=new_id().replace("-", ""),
            application_credential_secret=secrets.token_urlsafe(32), token_key=secrets.token_hex(32),
        )


class Store:
    """Tables of records keyed by id; mutate only inside `with store.change():`."""

    def __init__(self, data_dir: Path, seed: Seed, credentials: Credentials, state: dict[str, Any]) -> None:
        self.data_dir = data_dir
        self.seed = seed
        self.credentials = credentials
        self.lock = threading.RLock()
        self.state = state
        self._saved = json.dumps(state, sort_keys=True, indent=1)

    @classmethod
    def open(cls, data_dir: Path, seed: Seed) -> Store:
        """Load the data dir, or create it from the seed (credentials and state) on first start."""
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        cred_path = data_dir / "credentials.json"
        if cred_path.exists():
            credentials = Credentials(**json.loads(cred_path.read_text()))
        else:
            credentials = Credentials.generate(seed)
            write_atomic(cred_path, json.dumps(asdict(credentials), indent=1) + "\n", mode=0o600)
        state_path = data_dir / "state.json"
        if state_path.exists():
            try:
                state = json.loads(state_path.read_text())
            except ValueError as exc:
                raise ValueError(f"{state_path}: not valid JSON ({exc}); remove it to start afresh") from exc
            if state.get("format") != FORMAT:
                raise ValueError(f"{state_path}: unknown state format {state.get('format')!r}; "
                                 f"expected {FORMAT} (remove the data dir to start afresh)")
            store = cls(data_dir, seed, credentials, state)
            _upgrade(store)
            return store
        store = cls(data_dir, seed, credentials, {})
        store.reset()
        return store

    # -- reading ---------------------------------------------------------------------------
    @property
    def identity(self) -> Record:
        result: Record = self.state["identity"]
        return result

    @property
    def project_id(self) -> str:
        return str(self.identity["project_id"])

    def table(self, name: str) -> dict[str, Record]:
        result: dict[str, Record] = self.state["tables"][name]
        return result

    def get(self, table: str, key: str) -> Record | None:
        return self.table(table).get(key)

    def find(self, table: str, **match: Any) -> list[Record]:
        return [r for r in self.table(table).values() if all(r.get(k) == v for k, v in match.items())]

    def quota_seed(self, name: str) -> Record:
        result: Record = self.state["quotas"][name]
        return result

    # -- writing ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def change(self) -> Iterator[None]:
        """Hold the lock for a mutation; save when it succeeds, roll back when it raises."""
        with self.lock:
            try:
                yield
            except BaseException:
                self.state = json.loads(self._saved)
                raise
            self.save()

    def save(self) -> None:
        with self.lock:
            text = json.dumps(self.state, sort_keys=True, indent=1)
            if text != self._saved:
                write_atomic(self.data_dir / "state.json", text + "\n", mode=0o600)
                self._saved = text

    def put(self, table: str, record: Record) -> Record:
        self.table(table)[record["id"]] = record
        return record

    def remove(self, table: str, key: str) -> Record | None:
        return self.table(table).pop(key, None)

    def reset(self, changes: list[str] | None = None) -> None:
        """Forget every resource and apply the seed again (identity and credentials are kept),
        with the named scenarios' changes (scenarios.py) when given."""
        seed = scenarios.apply(self.seed, changes)
        with self.lock:
            identity = self.state.get("identity") or {
                "project_id": new_id().replace("-", ""), "project_name": self.seed.project,
                "user_id": new_id().replace("-", ""), "user_name": self.seed.username,
                "domain_id": "default", "domain_name": self.seed.domain, "region": self.seed.region,
            }
            self.state = {"format": FORMAT, "identity": identity, "quotas": seed.quota_table(),
                          "tables": {name: {} for name in TABLES}}
            _apply_seed(self, seed)
            self.save()

    def summary(self) -> Record:
        """Counts per table and the identity, for /_sandbox/state."""
        with self.lock:
            return {"identity": dict(self.identity),
                    "counts": {name: len(self.table(name)) for name in TABLES},
                    "servers": sorted(r["name"] for r in self.table("servers").values())}


def _upgrade(store: Store) -> None:
    """A data dir from an older sandbox: add the tables it lacks, fill in the image fields."""
    tables = store.state["tables"]
    for name in TABLES:
        tables.setdefault(name, {})
    if not tables["volume_types"]:
        _seed_volume_types(store, store.seed)
    for image in tables["images"].values():
        glance_model.upgrade(image, ADMIN_PROJECT)
    store.save()


def _seed_volume_types(store: Store, seed: Seed) -> None:
    for index, kind in enumerate(seed.volume_types):
        store.put("volume_types", {"id": new_id(), **kind.model_dump(), "is_default": index == 0})


def _apply_seed(store: Store, seed: Seed) -> None:
    """Create the seed's flavors, images (each uploaded a second after the one before, unless the
    seed says when), volume types, networks with their subnets and routers, and the project's
    default security group."""
    stamp = time.time() - len(seed.images)
    for flavor in seed.flavors:
        store.put("flavors", {"id": new_id(), **flavor.model_dump(), "description": None})
    for index, image in enumerate(seed.images):
        fields = image.model_dump(exclude={"created_at"})
        created = image.created_at
        when = stamp + index if created is None else created.replace(tzinfo=created.tzinfo or UTC).timestamp()
        store.put("images", glance_model.seeded_image(fields, ADMIN_PROJECT, when))
    _seed_volume_types(store, seed)
    neutron_seed.seed_networks(store.put, seed.networks, seed.router_list(), store.project_id, ADMIN_PROJECT)
    neutron_seed.seed_default_group(store.put, store.project_id)
