"""Fixtures for every test folder: a test that runs `mchub` in-process configures the hub's
logging on that test's captured stderr; put the root logger back afterwards, so a later test
does not log into a closed stream."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """One real PostgreSQL server for the session (tests/pgserver.py); skipped without its binaries,
    except under CI, where that is a failure."""
    import os

    from pgserver import PgServer, PgUnavailable

    try:
        server = PgServer().start()
    except PgUnavailable as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    yield server
    server.destroy()


@pytest.fixture
def pg_url(pg_server: object) -> str:
    """A fresh, empty database on the session's PostgreSQL server: its URL."""
    from pgserver import PgServer

    assert isinstance(pg_server, PgServer)
    return pg_server.fresh_database()
