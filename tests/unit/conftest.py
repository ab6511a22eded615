"""Fixtures shared by the unit tests: a stream the hub's own log writes to, for the tests of its
log format (tests/unit/test_logs.py, tests/unit/test_log_escapes.py)."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """A fresh stream for `configure_logging(stream=...)`; afterwards the hub's handler is taken
    off and the root logger's handlers and level are put back, so no later test logs into it."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    yield out
    for handler in list(root.handlers):
        if handler.get_name() == "mchub":
            root.removeHandler(handler)
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
