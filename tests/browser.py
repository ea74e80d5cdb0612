"""What every browser test shares: Debian's Chromium, its flags, and where screenshots go."""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.async_api import Page, ViewportSize

from services.reporting.pdf import CHROMIUM_ARGS as CHROMIUM_ARGS  # the flags the report printer uses

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PHONE: ViewportSize = {"width": 390, "height": 844}  # mobile first


async def shoot(page: Page, name: str) -> None:
    """A full-page screenshot kept as a test artifact."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
