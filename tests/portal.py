"""What the portal's browser tests share: a user with a sign-in link, signing in in a page,
whether a page fits the width (axe-core: ``tests.browser.serious_violations``)."""

from __future__ import annotations

import uuid

from playwright.async_api import Page

from services.portal import service
from services.portal.domain import new_user
from shared.runtime import ServiceRuntime


def portal_url(runtime: ServiceRuntime) -> str:
    return f"http://127.0.0.1:{runtime.settings.port_for('portal')}"


def fresh_email(prefix: str = "medewerker") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}@example.nl"


async def invite(runtime: ServiceRuntime, email: str, role: str = "bureau", provider_id: str = "") -> str:
    """A new portal user and their sign-in link (what ``tevreden portal-invite`` prints)."""
    assert runtime.ctx is not None
    new, errors = new_user(email, role, provider_id)
    assert new is not None, errors
    async with runtime.ctx.pool.acquire() as conn, conn.transaction():
        return (await service.invite(conn, runtime.settings, new, None)).url


async def sign_in(page: Page, link: str) -> None:
    """Open a sign-in link and press the button: the page ends on the start page."""
    await page.goto(link)
    await page.get_by_role("button", name="Aanmelden").click()
    await page.wait_for_selector("text=U bent aangemeld.")


async def fits_the_width(page: Page) -> bool:
    """The page does not scroll sideways (wide tables scroll inside their own box)."""
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    return bool(widths[0] <= widths[1])
