"""What every browser test shares: Debian's Chromium, its flags, and where screenshots go."""

from __future__ import annotations

import shutil
from pathlib import Path

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Page, ViewportSize

from services.reporting.pdf import CHROMIUM_ARGS as CHROMIUM_ARGS  # the flags the report printer uses

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE: ViewportSize = {"width": 390, "height": 844}  # mobile first


async def shoot(page: Page, name: str) -> None:
    """A full-page screenshot kept as a test artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on the page, readable (none is the aim)."""
    results = await Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
