"""The configuration reference names every setting and every MCHUB_* variable the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.model.settings import CloudConfig, DnsConfig, Settings

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (ROOT / "docs" / "configuration.md").read_text()


def test_every_setting_is_documented() -> None:
    for cls in (Settings, CloudConfig, DnsConfig):
        for name in cls.__dataclass_fields__:
            if name != "name":
                assert f"`{name}`" in REFERENCE, f"{cls.__name__}.{name} missing from docs/configuration.md"


def test_every_environment_variable_is_documented() -> None:
    found = set()
    for package in ("reconciler", "webview", "sandbox"):
        for path in (ROOT / package).rglob("*.py"):
            found |= set(re.findall(r"\bMCHUB_[A-Z][A-Z_]*[A-Z]\b", path.read_text()))
    assert {"MCHUB_SPECS", "MCHUB_TOKEN", "MCHUB_SANDBOX_QUOTA"} <= found
    missing = sorted(v for v in found if f"`{v}`" not in REFERENCE)
    assert not missing, f"not in docs/configuration.md: {missing}"


def test_docs_link_to_each_other() -> None:
    for name in ("configuration.md", "real-cloud.md", "operations.md", "architecture.md"):
        assert (ROOT / "docs" / name).is_file()
    for target in re.findall(
        r"\]\(([\w-]+\.md)", "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    ):
        assert (ROOT / "docs" / target).is_file(), target
