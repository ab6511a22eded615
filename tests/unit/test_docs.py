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


def test_every_first_day_checklist_line_names_checks_doctor_makes(tmp_path: Path) -> None:
    """docs/real-cloud.md's checklist quotes `mchub doctor`'s check names: each line names at least
    one, every name it gives is a check doctor really prints (run here against the sandbox), and
    every check doctor prints is on the list."""
    from dataclasses import replace

    from reconciler.entry import doctor
    from reconciler.model.settings import Settings, sandbox_cloud
    from sandbox.server import Sandbox

    text = (ROOT / "docs" / "real-cloud.md").read_text()
    checklist = text.split("## First-day checklist", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in checklist.splitlines() if line.startswith("- [ ] ")]
    assert len(lines) >= 8
    box = Sandbox(tmp_path / "cloud")
    info = box.start()
    try:
        cloud = replace(
            sandbox_cloud(info.data_dir),
            clouds_yaml=info.clouds_yaml,
            terraform_cli_config=info.terraform_cli_config,
        )
        made = {
            line.check for line in doctor.checks(Settings().with_cloud(cloud), cloud, timeout=5, egress=())
        }
    finally:
        box.stop()
    quoted = set()
    for line in lines:
        names = re.findall(r"`([^`]+)`", line.rsplit(": ", 1)[-1])  # the names close the line
        assert names, f"names no doctor check: {line}"
        assert set(names) <= made, f"{sorted(set(names) - made)} are not checks of mchub doctor ({line})"
        quoted |= set(names)
    assert made <= quoted, f"doctor checks missing from the checklist: {sorted(made - quoted)}"
