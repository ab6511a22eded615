"""Fixtures for the shared store on a real PostgreSQL (tests/pgserver.py): a fresh database per
test with the hub's schema, and two hubs' folders (storedirs.HubDirs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from storedirs import HubDirs

from reconciler.store.db import Database


@pytest.fixture
def db(pg_url: str) -> Iterator[Database]:
    database = Database(pg_url)
    database.ensure_schema()
    yield database
    database.close()


@pytest.fixture
def other_db(pg_url: str, db: Database) -> Iterator[Database]:
    """A second hub's own pool on the same database."""
    database = Database(pg_url)
    yield database
    database.close()


@pytest.fixture
def hub_a(tmp_path: Path) -> HubDirs:
    return HubDirs(tmp_path / "a")


@pytest.fixture
def hub_b(tmp_path: Path) -> HubDirs:
    return HubDirs(tmp_path / "b")
