"""Every page a respondent meets, in Debian's Chromium at a phone's width (390 px) and a
desktop's (1280 px): no horizontal scrolling (WCAG 1.4.10), no serious or critical axe
violations, focus on the error summary after a refused page, exactly one read-aloud control
per question whose sound plays, and the bureau named with its contact details. A screenshot
of each page at each width lands in ``test-artifacts/``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Locator, Page, ViewportSize

from services.invitations.opt_out_page import OptOutState, opt_out_page
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from tests.browser import PHONE, shoot
from tests.letter_invitations import issue
from tests.polling import eventually

pytestmark = pytest.mark.e2e

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
WIDTHS = {"390": PHONE, "1280": DESKTOP}


def base_url(service: ServiceRuntime) -> str:
    return f"http://127.0.0.1:{service.settings.port_for('responses')}"


async def invite(service: ServiceRuntime, questionnaire_id: str = "bow-client-regular") -> tuple[str, str]:
    """A link and a letter code, as invitations.issued version 2 brings them."""
    issued = await issue(service, questionnaire_id)
    return f"{base_url(service)}/q/{issued.token}", issued.code


async def check_page(page: Page, name: str) -> None:
    """No horizontal scrolling and no serious accessibility violations; a screenshot kept."""
    await shoot(page, name)
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, f"{name}: {overflow} px of horizontal scrolling"
    results = await Axe().run(page)
    serious = [
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes']]}"
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
    assert serious == [], name


async def names_the_bureau(page: Page) -> bool:
    bureau = Settings().bureau
    text = await page.locator("body").inner_text()
    return bureau.name in text and bureau.phone in text and bureau.email in text


@pytest.mark.parametrize("width", WIDTHS)
async def test_the_questionnaire_pages_reflow_and_name_who_asks(
    service: ServiceRuntime, browser: Browser, width: str
) -> None:
    url, _ = await invite(service)
    page = await browser.new_page(viewport=WIDTHS[width])
    await page.goto(url)
    await check_page(page, f"respondent-{width}-first-page")
    assert await names_the_bureau(page)
    assert "later verder gaan met dezelfde link" in await page.locator("#effort").inner_text()
    assert "Pluswerk Reïntegratie" in await page.locator("#q-recommended legend").inner_text()
    await page.locator('input[name="grade"][value="8"]').check()
    await page.locator('input[name="recommended"][value="ja"]').check()
    await page.locator('button[value="next"]').click()
    await page.wait_for_load_state()
    assert await page.locator("#progress").inner_text() == "Deel 2 van 13"
    await check_page(page, f"respondent-{width}-second-page")


@pytest.mark.parametrize("width", WIDTHS)
async def test_after_a_refused_page_the_focus_is_on_the_error_summary(
    service: ServiceRuntime, browser: Browser, width: str
) -> None:
    url, _ = await invite(service)
    page = await browser.new_page(viewport=WIDTHS[width])
    await page.goto(url)
    await page.locator('button[value="next"]').click()
    await page.wait_for_load_state()
    await eventually(lambda: _focused(page, "error-summary"))
    await check_page(page, f"respondent-{width}-errors")
    await page.locator("#error-summary a").first.click()
    assert await page.evaluate("document.activeElement.id") == "grade-1"


@pytest.mark.parametrize("width", WIDTHS)
async def test_each_question_has_one_read_aloud_button_whose_sound_plays(
    service: ServiceRuntime, browser: Browser, audio_dir: Path, width: str
) -> None:
    await eventually(lambda: _exists(audio_dir / "bow-client-laagdrempelig.v1.read-aloud.json"), within=90)
    url, _ = await invite(service, "bow-client-laagdrempelig")
    page = await browser.new_page(viewport=WIDTHS[width])
    await page.goto(url)
    await check_page(page, f"respondent-{width}-read-aloud")
    for question in await page.locator(".question").all():
        assert await question.locator("button.read-aloud-button").count() == 1
        assert await question.locator("audio").count() == 1
    button = page.locator("#q-recommended button.read-aloud-button")
    await button.click()
    await eventually(lambda: _playing(page, "#q-recommended audio"), within=10)
    assert await button.get_attribute("aria-pressed") == "true"
    await button.click()  # the pause event comes a moment later
    await eventually(lambda: _pressed(button, "false"), within=10)


async def test_without_javascript_each_question_has_one_labelled_player(
    service: ServiceRuntime, browser: Browser, audio_dir: Path
) -> None:
    await eventually(lambda: _exists(audio_dir / "bow-client-laagdrempelig.v1.read-aloud.json"), within=90)
    url, _ = await invite(service, "bow-client-laagdrempelig")
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False)
    page = await context.new_page()
    await page.goto(url)
    await shoot(page, "respondent-390-read-aloud-no-js")
    for question in await page.locator(".question").all():
        player = question.locator("audio[controls]")
        assert await player.count() == 1
        assert (await player.get_attribute("aria-label") or "").startswith("Lees voor: ")
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    await context.close()


@pytest.mark.parametrize("width", WIDTHS)
async def test_the_code_page_leads_to_the_questionnaire_and_explains_a_wrong_code(
    service: ServiceRuntime, browser: Browser, width: str
) -> None:
    url, code = await invite(service)
    page = await browser.new_page(viewport=WIDTHS[width])
    await page.goto(f"{base_url(service)}/code")
    await check_page(page, f"respondent-{width}-code")
    await page.locator("#code").fill("ABCDE-FGH10")
    await page.locator("button[type=submit]").click()
    await page.wait_for_load_state()
    await eventually(lambda: _focused(page, "error-summary"))
    await check_page(page, f"respondent-{width}-code-error")
    assert "Een 0 of 1 komt er niet in voor" in await page.locator("#code-error").inner_text()
    await page.locator("#code").fill(code.lower())
    await page.locator("button[type=submit]").click()
    await page.wait_for_load_state()
    assert page.url == url


@pytest.mark.parametrize("width", WIDTHS)
async def test_the_end_and_unavailable_pages_reflow_and_say_whom_to_call(
    service: ServiceRuntime, browser: Browser, width: str
) -> None:
    page = await browser.new_page(viewport=WIDTHS[width])
    await page.goto(f"{base_url(service)}/q/{'x' * 43}")
    await check_page(page, f"respondent-{width}-unavailable")
    assert await names_the_bureau(page)
    url, _ = await invite(service, "minimal-v1")
    await page.goto(url)
    await page.locator('input[name="grade"][value="7"]').check()
    await page.locator('input[name="recommend"][value="ja"]').check()
    await page.locator('button[value="next"]').click()
    await page.wait_for_selector("text=Bedankt")
    await check_page(page, f"respondent-{width}-thanks")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("state", ["ask", "done", "invalid"])
async def test_the_opt_out_pages_reflow_name_the_study_and_say_what_stops(
    browser: Browser, width: str, state: OptOutState
) -> None:
    page = await browser.new_page(viewport=WIDTHS[width])
    study = "Klanttevredenheid Blik op Werk 2026"
    await page.set_content(opt_out_page(state, Settings().bureau, study=study, token="abc"))
    await check_page(page, f"respondent-{width}-opt-out-{state}")
    text = await page.locator("body").inner_text()
    assert await names_the_bureau(page)
    if state != "invalid":
        assert study in text
        assert all(word in text for word in ("e-mails", "brieven", "bellen"))


async def _focused(page: Page, element_id: str) -> bool:
    return bool(await page.evaluate("id => document.activeElement?.id === id", element_id))


async def _playing(page: Page, selector: str) -> bool:
    return bool(await page.locator(selector).evaluate("a => !a.paused && a.currentTime > 0"))


async def _pressed(button: Locator, state: str) -> bool:
    return await button.get_attribute("aria-pressed") == state


async def _exists(path: Path) -> bool:
    return path.exists()  # noqa: ASYNC240 - a stat while polling
