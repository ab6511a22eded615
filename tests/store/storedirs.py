"""One hub's folders for the store's tests: its `specs/` and its `clusters/`."""

from __future__ import annotations

from pathlib import Path


class HubDirs:
    def __init__(self, root: Path) -> None:
        self.specs = root / "specs"
        self.clusters = root / "clusters"
        self.specs.mkdir(parents=True)
        self.clusters.mkdir(parents=True)
