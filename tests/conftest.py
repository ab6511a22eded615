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
