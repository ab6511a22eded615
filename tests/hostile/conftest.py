"""Fixtures of the hostile-input suite: one world per module (hypothesis runs many examples in one
test, so the world outlives an example and each example puts it back, `World.case`), and the
figures (cases per property, the hub's idle and peak memory) printed at the end of the run. The
web view's own fakes (tests/web/webfakes.py) are imported by name, as the browser tests do."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.append(str(Path(__file__).resolve().parent.parent / "web"))  # webfakes, webhelpers

import hostilefigures  # noqa: E402
from hostileworld import World  # noqa: E402


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = logging.getLogger()
    level = root.level
    made = World(tmp_path_factory.mktemp("hostile"))
    root.addHandler(made.log)  # every record of the hub, at every level, is checked for secrets
    root.setLevel(logging.DEBUG)
    hostilefigures.idle()
    try:
        yield made
    finally:
        root.removeHandler(made.log)
        root.setLevel(level)
        made.close()
        hostilefigures.peak()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if hostilefigures.CASES:
        terminalreporter.section("hostile-input suite")
        for line in hostilefigures.lines():
            terminalreporter.write_line(line)
