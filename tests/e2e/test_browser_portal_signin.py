"""Signing in to the portal in a real browser (Debian's Chromium through Playwright), against
the portal service in-process on the real database and SMTP server.

A person asks for a link on the sign-in page, gets it by email and signs in with it; a link
works once and only for a while; after sign-out a copied session cookie no longer works; a form
without this browser's CSRF token is refused; sign-in requests are rate limited. axe-core finds
no serious or critical violation on any of these pages.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from playwright.async_api import Browser, Page

from services.portal import app as portal_app
from shared.runtime import ServiceRuntime
from tests.browser import PHONE, serious_violations, shoot
from tests.conftest import MakeSettings
from tests.polling import eventually
from tests.portal import fits_the_width, fresh_email, invite, portal_url, sign_in
from tevreden.infra import LocalInfra, SmtpSink
from tevreden.portal_admin import invite_and_print

pytestmark = pytest.mark.e2e
LINK = re.compile(r"(http://\S+/aanmelden/link/[A-Za-z0-9_-]+)")


def portal_settings(module_settings: MakeSettings, **overrides: object) -> ServiceRuntime:
    settings = module_settings(**overrides)
    url = f"http://127.0.0.1:{settings.port_for('portal')}"
    return portal_app.runtime(settings.model_copy(update={"portal_public_url": url}))


@pytest.fixture(scope="module")
def mailbox_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mailbox")


@pytest.fixture(scope="module")
async def portal(module_settings: MakeSettings, mailbox_dir: Path) -> AsyncIterator[ServiceRuntime]:
    # Many requests from 127.0.0.1 in this module: the rate limit has its own test and portal.
    runtime = portal_settings(
        module_settings, portal_signin_requests_per_hour=1000, portal_mailbox_dir=mailbox_dir
    )
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=PHONE)
    yield await context.new_page()
    await context.close()


def link_in_mail_to(infra: LocalInfra, email: str) -> str | None:
    for mail in reversed(infra.smtp.messages):
        if mail.message["To"] == email:
            found = LINK.search(mail.message.get_content())
            return found.group(1) if found else None
    return None


async def test_a_user_signs_in_with_the_link_from_the_email_they_asked_for(
    portal: ServiceRuntime, page: Page, infra: LocalInfra
) -> None:
    email = fresh_email()
    await invite(portal, email)
    await page.goto(portal_url(portal))
    assert await serious_violations(page) == []
    await shoot(page, "portal-signin")
    await page.get_by_label("E-mailadres").fill(email)
    await page.get_by_role("button", name="Stuur mij een aanmeldlink").click()
    await page.wait_for_selector("h1:has-text('Kijk in uw e-mail')")

    link = await eventually(lambda: _async(link_in_mail_to(infra, email)))
    await page.goto(link)
    assert await serious_violations(page) == []
    await page.get_by_role("button", name="Aanmelden").click()
    await page.wait_for_selector("text=U bent aangemeld.")
    assert email in await page.locator("header").inner_text()
    assert await page.get_by_role("link", name="Gebruikers").count() >= 1
    assert await serious_violations(page) == []
    await shoot(page, "portal-home-bureau")


async def test_the_first_bureau_user_signs_in_with_the_link_the_cli_prints(
    portal: ServiceRuntime, page: Page, capsys: pytest.CaptureFixture[str]
) -> None:
    email = fresh_email("eerste")
    exit_code = await asyncio.to_thread(invite_and_print, portal.settings, email, "bureau", "")
    printed = LINK.search(capsys.readouterr().out)
    assert exit_code == 0 and printed is not None
    await sign_in(page, printed.group(1))
    assert await page.get_by_role("link", name="Logboek").count() >= 1
    again = await asyncio.to_thread(invite_and_print, portal.settings, email, "bureau", "")
    assert again == 1  # one live account per address


async def test_an_unknown_address_is_told_the_same_and_gets_no_email(
    portal: ServiceRuntime, page: Page, infra: LocalInfra
) -> None:
    email = fresh_email("onbekend")
    await page.goto(f"{portal_url(portal)}/aanmelden")
    await page.get_by_label("E-mailadres").fill(email)
    await page.get_by_role("button", name="Stuur mij een aanmeldlink").click()
    await page.wait_for_selector("h1:has-text('Kijk in uw e-mail')")
    assert link_in_mail_to(infra, email) is None


async def test_a_sign_in_link_works_only_once(portal: ServiceRuntime, browser: Browser) -> None:
    link = await invite(portal, fresh_email())
    first = await browser.new_page()
    await sign_in(first, link)
    second = await browser.new_page()
    response = await second.goto(link)
    assert response is not None and response.status == 410
    assert await second.locator("h1").inner_text() == "Deze link werkt niet meer"
    assert await serious_violations(second) == []
    await first.close()
    await second.close()


async def test_an_expired_sign_in_link_does_not_sign_in(portal: ServiceRuntime, page: Page) -> None:
    link = await invite(portal, fresh_email())
    await page.goto(link)  # the confirmation page, then the link expires before the button is pressed
    assert portal.ctx is not None
    async with portal.ctx.pool.acquire() as conn:
        await conn.execute("UPDATE portal.signin_links SET expires_at = now() - interval '1 second'")
    await page.get_by_role("button", name="Aanmelden").click()
    assert await page.locator("h1").inner_text() == "Deze link werkt niet meer"
    response = await page.goto(f"{portal_url(portal)}/beheer/gebruikers")
    assert response is not None and response.status == 401


async def test_after_sign_out_a_copied_session_cookie_no_longer_works(
    portal: ServiceRuntime, browser: Browser, page: Page
) -> None:
    await sign_in(page, await invite(portal, fresh_email()))
    stolen = await page.context.cookies()
    await page.get_by_role("button", name="Afmelden").click()
    await page.wait_for_selector("text=U bent afgemeld.")

    thief = await browser.new_context()
    await thief.add_cookies(stolen)  # type: ignore[arg-type]  # the same cookies, as Playwright gave them
    thief_page = await thief.new_page()
    response = await thief_page.goto(f"{portal_url(portal)}/beheer/gebruikers")
    assert response is not None and response.status == 401
    assert await thief_page.locator("h1").inner_text() == "Aanmelden"
    await thief.close()


async def test_a_session_cookie_that_was_not_signed_by_the_portal_is_ignored(
    portal: ServiceRuntime, page: Page
) -> None:
    await sign_in(page, await invite(portal, fresh_email()))
    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "portal_sessie")
    token, _, _ = session["value"].rpartition(".")
    await page.context.add_cookies([{**session, "value": f"{token}.forged"}])  # type: ignore[list-item]
    response = await page.goto(f"{portal_url(portal)}/beheer/gebruikers")
    assert response is not None and response.status == 401


async def test_a_form_without_this_browsers_csrf_token_is_refused(portal: ServiceRuntime, page: Page) -> None:
    await sign_in(page, await invite(portal, fresh_email()))
    victim = fresh_email("slachtoffer")
    response = await page.request.post(
        f"{portal_url(portal)}/beheer/gebruikers",
        form={"csrf": "not-the-token", "email": victim, "role": "bureau", "provider_id": ""},
    )
    assert response.status == 403
    assert "Formulier verlopen" in await response.text()
    await page.goto(f"{portal_url(portal)}/beheer/gebruikers")
    assert victim not in await page.content()


async def test_the_bureau_invites_a_provider_user_who_gets_an_email_and_sees_it_in_the_audit_log(
    portal: ServiceRuntime, page: Page, infra: LocalInfra
) -> None:
    await sign_in(page, await invite(portal, fresh_email()))
    await page.goto(f"{portal_url(portal)}/beheer/gebruikers")
    assert await serious_violations(page) == []
    newcomer = fresh_email("aanbieder")
    await page.get_by_label("E-mailadres").fill(newcomer)
    await page.get_by_label("Dienstverlener", exact=True).check()
    await page.get_by_label("Code van de dienstverlener").fill("werkfit")
    await page.get_by_role("button", name="Uitnodigen").click()
    await page.wait_for_selector(f"text={newcomer} is uitgenodigd.")
    assert await fits_the_width(page)
    await shoot(page, "portal-users")
    assert await eventually(lambda: _async(link_in_mail_to(infra, newcomer)))

    await page.goto(f"{portal_url(portal)}/beheer/logboek")
    assert await page.locator("tbody tr", has_text="gebruiker uitgenodigd").count() >= 1
    assert await serious_violations(page) == []
    await shoot(page, "portal-audit-log")


async def test_an_invitation_form_with_a_missing_provider_code_says_what_and_keeps_the_address(
    portal: ServiceRuntime, page: Page
) -> None:
    await sign_in(page, await invite(portal, fresh_email()))
    await page.goto(f"{portal_url(portal)}/beheer/gebruikers")
    newcomer = fresh_email("aanbieder")
    await page.get_by_label("E-mailadres").fill(newcomer)
    await page.get_by_label("Dienstverlener", exact=True).check()
    await page.get_by_role("button", name="Uitnodigen").click()
    await page.wait_for_selector(".error-summary")
    assert "code van de dienstverlener" in (await page.locator(".error-summary").inner_text()).lower()
    assert await page.get_by_label("E-mailadres").input_value() == newcomer
    assert await serious_violations(page) == []


async def test_a_removed_user_is_signed_out_at_once(
    portal: ServiceRuntime, browser: Browser, page: Page
) -> None:
    await sign_in(page, await invite(portal, fresh_email()))
    leaver = fresh_email("vertrekker")
    leaver_page = await browser.new_page()
    await sign_in(leaver_page, await invite(portal, leaver, "provider", "werkfit"))

    await page.goto(f"{portal_url(portal)}/beheer/gebruikers")
    await page.locator("tr", has_text=leaver).get_by_role("button", name="Verwijder").click()
    await page.wait_for_selector(f"text={leaver} is verwijderd.")
    response = await leaver_page.goto(f"{portal_url(portal)}/dienstverlener")
    assert response is not None and response.status == 401
    await leaver_page.close()


async def test_a_provider_user_may_not_open_the_bureaus_pages(portal: ServiceRuntime, page: Page) -> None:
    await sign_in(page, await invite(portal, fresh_email(), "provider", "werkfit"))
    for path in ("/beheer/gebruikers", "/beheer/logboek"):
        response = await page.goto(f"{portal_url(portal)}{path}")
        assert response is not None and response.status == 403, path


async def test_sign_in_requests_beyond_the_hourly_limit_are_refused(
    module_settings: MakeSettings, browser: Browser
) -> None:
    runtime = portal_settings(module_settings, portal_signin_requests_per_hour=2)
    await runtime.start()
    try:
        page = await browser.new_page()
        statuses = []
        for _ in range(3):
            await page.goto(f"{portal_url(runtime)}/aanmelden")
            await page.get_by_label("E-mailadres").fill("iemand@example.nl")
            async with page.expect_response(lambda r: r.request.method == "POST") as answer:
                await page.get_by_role("button", name="Stuur mij een aanmeldlink").click()
            statuses.append((await answer.value).status)
        assert statuses == [200, 200, 429]
        assert "te vaak" in await page.locator("[role=alert]").inner_text()
        await page.close()
    finally:
        await runtime.stop()


async def test_in_local_mode_the_bureau_reads_what_the_smtp_sink_received_and_opens_its_links(
    portal: ServiceRuntime, page: Page, mailbox_dir: Path
) -> None:
    sink = SmtpSink.start(mailbox_dir=mailbox_dir)
    try:
        message = EmailMessage()
        message["From"], message["To"] = "onderzoek@tevreden.example", "client@example.nl"
        message["Subject"] = "Uw mening telt"
        message.set_content(f"Vul de vragenlijst in: {portal_url(portal)}/beheer/logboek\n")
        await aiosmtplib.send(message, hostname=sink.host, port=sink.port)
    finally:
        sink.stop()
    await sign_in(page, await invite(portal, fresh_email()))
    await page.get_by_role("link", name="Postvak").first.click()
    assert await serious_violations(page) == []
    await page.get_by_role("link", name="Uw mening telt").click()
    assert await serious_violations(page) == []
    await shoot(page, "portal-mailbox-message")
    await page.get_by_role("link", name=f"{portal_url(portal)}/beheer/logboek").click()
    assert await page.locator("h1").inner_text() == "Logboek"


async def test_without_a_mailbox_folder_there_is_no_mailbox_page(
    module_settings: MakeSettings, page: Page
) -> None:
    runtime = portal_settings(module_settings)
    await runtime.start()
    try:
        await sign_in(page, await invite(runtime, fresh_email()))
        assert await page.get_by_role("link", name="Postvak").count() == 0
        response = await page.goto(f"{portal_url(runtime)}/beheer/postvak")
        assert response is not None and response.status == 404
    finally:
        await runtime.stop()


async def _async(value: str | None) -> str | None:
    return value
