"""Every respondent page type passes the Nu Html Checker with zero errors: the questionnaire's
first page, a refused page, the thanks page, the unavailable page, the code page and the
opt-out pages; so does the portal's sign-in page. The pages' HTML is taken as the service
sends it, then checked in one run."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from services.invitations.opt_out_page import opt_out_page
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from tests.e2e.test_browser_portal_signin import mailbox_dir, portal
from tests.e2e.test_browser_respondent_pages import base_url, invite
from tests.html_checker import html_errors, why_unavailable
from tests.portal import portal_url

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(why_unavailable() is not None, reason=why_unavailable() or ""),
]

__all__ = ["mailbox_dir", "portal"]  # fixtures shared with other e2e tests


async def _goto(page: Page, url: str) -> str:
    response = await page.goto(url)
    assert response is not None
    return await response.text()


async def _submit(page: Page, button: str) -> str:
    async with page.expect_navigation() as navigation:
        await page.locator(button).click()
    response = await navigation.value
    assert response is not None
    return await response.text()


async def _respondent_pages(service: ServiceRuntime, page: Page) -> dict[str, str]:
    url, _ = await invite(service)
    pages = {"first-page": await _goto(page, url)}
    pages["refused-page"] = await _submit(page, 'button[value="next"]')
    pages["unavailable"] = await _goto(page, f"{base_url(service)}/q/{'x' * 43}")
    pages["code"] = await _goto(page, f"{base_url(service)}/code")
    url, _ = await invite(service, "minimal-v1")
    await page.goto(url)
    await page.locator('input[name="grade"][value="7"]').check()
    await page.locator('input[name="recommend"][value="ja"]').check()
    pages["thanks"] = await _submit(page, 'button[value="next"]')
    for state in ("ask", "done", "invalid"):
        pages[f"opt-out-{state}"] = opt_out_page(state, Settings().bureau, study="Tevredenheid", token="abc")
    return pages


async def test_every_respondent_page_passes_the_nu_html_checker(
    service: ServiceRuntime, browser: Browser, tmp_path: Path
) -> None:
    page = await browser.new_page()
    _assert_valid(await _respondent_pages(service, page), tmp_path)


async def test_the_portals_sign_in_page_passes_the_nu_html_checker(
    portal: ServiceRuntime, browser: Browser, tmp_path: Path
) -> None:
    page = await browser.new_page()
    _assert_valid({"portal-sign-in": await _goto(page, portal_url(portal))}, tmp_path)


def _assert_valid(pages: dict[str, str], folder: Path) -> None:
    """One checker run over all pages; each error printed as file, line and message."""
    files = []
    for name, html in pages.items():
        file = folder / f"{name}.html"
        file.write_text(html, encoding="utf-8")
        files.append(file)
    errors = html_errors(files)
    assert errors == [], "\n".join(errors)
