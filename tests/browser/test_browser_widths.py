"""Every page fits every screen from a small phone to a wide desktop: the page itself never scrolls
sideways (tables scroll inside their own box, long messages and code wrap), and the SSH command
is shown whole. Each page in each state (scenes.py) at 360 to 1920 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from scenes import ALL, Scenes, open_scene, overflow

pytestmark = pytest.mark.browser
WIDTHS = (360, 390, 768, 1280, 1600, 1920)


@pytest.mark.parametrize("scene", ALL)
def test_no_page_scrolls_sideways(page: Page, scenes: Scenes, scene: str) -> None:
    page.set_viewport_size({"width": WIDTHS[0], "height": 844})
    open_scene(page, scenes, scene)
    wide = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 844 if width < 768 else 900})
        seen = overflow(page)
        if seen["scroll"] > seen["width"]:
            wide.append(f"{width} px: the page is {seen['scroll']} px wide; sticking out: {seen['out']}")
    assert wide == [], f"{scene} scrolls sideways:\n" + "\n".join(wide)


@pytest.mark.parametrize("width", (360, 390, 1280))
def test_the_ssh_command_is_shown_whole(page: Page, scenes: Scenes, width: int) -> None:
    """In the success dialog and in the Access card: inside the window and not cut by its box."""
    page.set_viewport_size({"width": width, "height": 844})
    open_scene(page, scenes, "built-dialog")
    command = page.locator("#success-dialog .ssh-command")
    expect(command).to_have_text("ssh centos@198.51.100.12")
    for where in (command, page.locator("#cluster-body code.copy", has_text="ssh centos@")):
        box = where.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
        assert where.evaluate("el => el.scrollWidth <= el.clientWidth + 1 || el.clientWidth === 0")
    dialog = page.locator("#success-dialog")
    assert dialog.evaluate("d => d.scrollWidth <= d.clientWidth"), "the dialog scrolls sideways"
