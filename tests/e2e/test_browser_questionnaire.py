"""The web questionnaire in a real browser: Debian's Chromium through Playwright against the
responses service (in-process, on the real database and broker).

Regular and low-threshold variants page by page, routing, resuming, errors, the end page,
keyboard use, every question type, audio that plays, and axe-core on every page (no serious
or critical violations). A screenshot of each page lands in ``test-artifacts/``.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page

from services.responses import store
from shared.events import InvitationIssued, InvitationIssuedPayload
from shared.runtime import ServiceRuntime
from shared.tokens import token_hash
from tests.browser import PHONE, serious_violations, shoot
from tests.polling import eventually
from tests.seeds import ASPECTS

pytestmark = pytest.mark.e2e

CLIENT_ANSWERS: dict[str, Any] = {
    "grade": "8",
    "recommended": "ja",
    "reason": "verplicht",
    "sanction_threat": "nee",
    "contact_frequency": "twee_drie",
    "contact_ways": ["persoonlijk", "telefonisch"],
    "contact_amount": "precies_goed",
    "fixed_contact": "ja",
    **dict.fromkeys(ASPECTS, "tevreden"),
    "expectations": "zoals_verwacht",
    "complaint": "ja",
    "complaint_filed": "nee",
    "gender": "zeg_niet",
}
STAFF_ANSWERS: dict[str, Any] = {
    "organisation": "sociale_dienst",
    "age_group": "35_49",
    "education": "anders",
    "education.other": "Bestuurskunde",
    "experience_years": "12",
    "client_group": "gemengd",
    "benefit_tasks": "nee",
    "result_agreements": "team",
    "caseload": "80",
    "grade_work": "8",
    "grade_organisation": "7",
    "grade_clients_estimate": "7",
    "boosters": ["intervisie", "minder_administratie", "bijscholing"],
    "remarks": "Meer tijd voor klanten <graag>",
}


async def link(service: ServiceRuntime, questionnaire_id: str) -> tuple[str, uuid.UUID]:
    """A fresh invitation to ``questionnaire_id``, as the service learns it from invitations.issued."""
    assert service.ctx is not None
    token, invitation_id = secrets.token_urlsafe(32), uuid.uuid4()
    event = InvitationIssued(
        payload=InvitationIssuedPayload(
            invitation_id=invitation_id,
            study_id="browser",
            provider_id="PB",
            service_code="3",
            questionnaire_id=questionnaire_id,
            token_hash=token_hash(token),
        )
    )
    async with service.ctx.pool.acquire() as conn:
        await store.add_invitations(conn, [event])
    return f"http://127.0.0.1:{service.settings.port_for('responses')}/q/{token}", invitation_id


async def questions_shown(page: Page) -> list[str]:
    ids = await page.locator(".question").evaluate_all("els => els.map(e => e.id.slice(2))")
    return list(ids)


async def fill(page: Page, answers: Mapping[str, Any]) -> None:
    """Answer the questions on this page that ``answers`` has an answer for."""
    for key, value in answers.items():
        fields = page.locator(f'[name="{key}"]')
        if await fields.count() == 0:
            continue
        kind = await fields.first.evaluate("e => e.tagName === 'SELECT' ? 'select' : e.type")
        if kind in {"radio", "checkbox"}:
            for one in value if isinstance(value, list) else [value]:
                await page.locator(f'[name="{key}"][value="{one}"]').check()
        elif kind == "select":
            await fields.first.select_option(str(value))
        else:
            await fields.first.fill(str(value))


async def next_page(page: Page) -> None:
    await page.locator('button[value="next"]').click()
    await page.wait_for_load_state()


async def answer_all(page: Page, answers: Mapping[str, Any], name: str | None = None) -> list[list[str]]:
    """Page after page until the end page; returns the questions each page showed."""
    seen: list[list[str]] = []
    for number in range(1, 30):
        if await page.locator("h1", has_text="Bedankt").count():
            if name:
                await shoot(page, f"{name}-end")
            return seen
        seen.append(await questions_shown(page))
        await fill(page, answers)
        if name:
            await shoot(page, f"{name}-p{number:02d}")
        await next_page(page)
    raise AssertionError("the questionnaire never ended")


async def test_a_client_answers_every_page_and_reaches_the_end_page(
    service: ServiceRuntime, browser: Browser
) -> None:
    url, invitation_id = await link(service, "bow-client-regular")
    page = await browser.new_page(viewport=PHONE)
    await page.goto(url)
    await answer_all(page, CLIENT_ANSWERS, "questionnaire-regular")
    assert await page.locator("h1").inner_text() == "Bedankt voor uw mening!"
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT mode, usable, answers FROM responses.responses WHERE invitation_id = $1", invitation_id
        )
    assert (row["mode"], row["usable"]) == ("web", True)
    assert row["answers"]["contact_ways"] == ["persoonlijk", "telefonisch"]


async def test_routing_shows_a_follow_up_only_after_the_answer_that_calls_for_it(
    service: ServiceRuntime, browser: Browser
) -> None:
    url, _ = await link(service, "bow-client-regular")
    page = await browser.new_page(viewport=PHONE)
    await page.goto(url)
    pages = await answer_all(page, CLIENT_ANSWERS)
    shown = [qid for questions in pages for qid in questions]
    assert "sanction_threat" in shown  # reason: verplicht
    assert "sanction_imposed" not in shown  # sanction_threat: nee
    assert "complaint_filed" in shown  # complaint: ja
    assert "complaint_resolved" not in shown  # complaint_filed: nee


async def test_closing_the_page_and_opening_the_link_again_resumes_where_it_was_left(
    service: ServiceRuntime, browser: Browser
) -> None:
    url, _ = await link(service, "bow-client-regular")
    first = await browser.new_page(viewport=PHONE)
    await first.goto(url)
    await fill(first, CLIENT_ANSWERS)
    await next_page(first)
    await fill(first, {"reason": "werkgever"})
    await next_page(first)
    await first.close()
    again = await browser.new_page(viewport=PHONE)
    await again.goto(url)
    await shoot(again, "questionnaire-resumed")
    assert await questions_shown(again) == [
        "contact_frequency",
        "contact_ways",
        "contact_amount",
        "fixed_contact",
    ]
    assert await again.locator("#progress").inner_text() == "Deel 3 van 11"
    await again.locator('button[value="back"]').click()
    assert await again.locator('input[name="reason"][value="werkgever"]').is_checked()


async def test_a_page_with_errors_lists_them_and_each_link_leads_to_its_field(
    service: ServiceRuntime, browser: Browser
) -> None:
    url, _ = await link(service, "bow-client-regular")
    page = await browser.new_page(viewport=PHONE)
    await page.goto(url)
    await page.locator('input[name="grade"][value="6"]').check()
    await next_page(page)
    await shoot(page, "questionnaire-errors")
    summary = page.locator("#error-summary")
    assert "1 vraag nog niet goed ingevuld" in await summary.inner_text()
    assert await page.locator("#e-recommended").inner_text() == "Kies een antwoord."
    assert await page.locator("#q-recommended").get_attribute("aria-describedby") == "e-recommended"
    assert await page.locator('input[name="grade"][value="6"]').is_checked()  # what was right is kept
    await summary.get_by_role("link").click()
    assert await page.evaluate("document.activeElement.id") == "recommended-1"
    assert await serious_violations(page) == []


async def test_the_questionnaire_can_be_answered_with_the_keyboard_alone(
    service: ServiceRuntime, browser: Browser
) -> None:
    url, invitation_id = await link(service, "minimal-v1")
    page = await browser.new_page(viewport=PHONE)
    await page.goto(url)
    await page.keyboard.press("Tab")  # the first grade option
    for _ in range(6):
        await page.keyboard.press("ArrowRight")  # … to 7
    await page.keyboard.press("Tab")  # the recommendation question
    await page.keyboard.press("Space")  # Ja
    await page.keyboard.press("Tab")  # the button
    await page.keyboard.press("Enter")
    await page.wait_for_selector("text=Bedankt")
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        answers = await conn.fetchval(
            "SELECT answers FROM responses.responses WHERE invitation_id = $1", invitation_id
        )
    assert answers == {"grade": 7, "recommend": "ja"}


async def test_the_low_threshold_questionnaire_can_be_listened_to(
    service: ServiceRuntime, browser: Browser, audio_dir: Path
) -> None:
    await eventually(lambda: _exists(audio_dir / "bow-client-laagdrempelig.v1.read-aloud.json"))
    url, _ = await link(service, "bow-client-laagdrempelig")
    page = await browser.new_page(viewport=PHONE)
    await page.goto(url)
    await shoot(page, "questionnaire-laagdrempelig-p01")
    players = page.locator(".question audio")
    # grade and recommended: one sound each (the question, then its options), none per option
    assert await players.count() == await page.locator(".question").count() == 2
    buttons = page.locator(".question button.read-aloud-button")
    assert await buttons.count() == 2
    assert await buttons.nth(1).get_attribute("aria-label") == (
        "Lees voor: Heeft u tegen andere mensen gezegd: ga naar deze organisatie?"
    )
    durations = [await _duration(players.nth(i)) for i in range(await players.count())]
    assert all(d > 2.0 for d in durations), durations  # a question and its options, not one word


async def _exists(path: Path) -> bool:
    return path.exists()  # noqa: ASYNC240 - a stat while polling


async def _duration(player: Any) -> float:
    duration: float = await player.evaluate(
        """el => new Promise((resolve, reject) => {
            el.addEventListener('loadedmetadata', () => resolve(el.duration), {once: true});
            el.addEventListener('error', () => reject(new Error('audio failed: ' + el.src)), {once: true});
            el.preload = 'auto';
            el.load();
        })"""
    )
    return duration


async def test_a_low_threshold_respondent_answers_every_page(
    service: ServiceRuntime, browser: Browser
) -> None:
    url, _ = await link(service, "bow-client-laagdrempelig")
    page = await browser.new_page(viewport=PHONE)
    await page.goto(url)
    await answer_all(page, CLIENT_ANSWERS, "questionnaire-laagdrempelig")
    assert "Bedankt" in await page.locator("h1").inner_text()


async def test_every_question_type_can_be_answered_in_the_browser(
    service: ServiceRuntime, browser: Browser
) -> None:
    url, invitation_id = await link(service, "staff-survey")
    page = await browser.new_page(viewport=PHONE)
    await page.goto(url)
    goals = [
        "plaatsen",
        "duurzame_participatie",
        "nodige_dienstverlening",
        "onafhankelijk_uitkering",
        "wet_regelgeving",
    ]
    knowledge = ["arbeidsmarkt", "anders_leren_denken", "zorg_hulpverlening", "wet_regelgeving"]
    answers = dict(STAFF_ANSWERS)
    answers |= {f"goals_ranking.{item}": str(place) for place, item in enumerate(goals, 1)}
    answers |= {f"knowledge_ranking.{item}": str(place) for place, item in enumerate(knowledge, 1)}
    answers |= {"time_now.klanten": "40", "time_now.administratie": "35", "time_now.collegas": "25"}
    answers |= {"time_ideal.klanten": "60", "time_ideal.administratie": "20", "time_ideal.collegas": "20"}
    await _answer_matrices_and_walk(page, answers)
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        stored = await conn.fetchval(
            "SELECT answers FROM responses.responses WHERE invitation_id = $1", invitation_id
        )
    assert stored["goals_ranking"] == goals
    assert stored["time_now.klanten"] == 40
    assert stored["boosters"] == ["intervisie", "minder_administratie", "bijscholing"]
    assert stored["education.other"] == "Bestuurskunde"
    assert stored["remarks"] == "Meer tijd voor klanten <graag>"
    assert stored["current_statements.maatwerk"] == 4


async def _answer_matrices_and_walk(page: Page, answers: dict[str, Any]) -> None:
    for number in range(1, 30):
        if await page.locator("h1", has_text="Bedankt").count():
            await shoot(page, "questionnaire-staff-end")
            return
        for radio_name in await page.locator(".statement input[type=radio]").evaluate_all(
            "els => [...new Set(els.map(e => e.name))]"
        ):
            answers[radio_name] = "4"
        await fill(page, answers)
        await shoot(page, f"questionnaire-staff-p{number:02d}")
        await next_page(page)
    raise AssertionError("the questionnaire never ended")


@pytest.mark.parametrize(
    "questionnaire_id",
    [
        "bow-client-regular",
        "bow-client-laagdrempelig",
        "bow-client-inburgering",
        "bow-opdrachtgever",
        "staff-survey",
        "uwv-jobcoach-werknemer",
        "uwv-jobcoach-werkgever",
        "uwv-reintegratie-client",
        "minimal-v1",
    ],
)
async def test_every_questionnaire_can_be_completed_with_no_serious_accessibility_violations(
    service: ServiceRuntime, browser: Browser, questionnaire_id: str
) -> None:
    url, _ = await link(service, questionnaire_id)
    page = await browser.new_page(viewport=PHONE)
    await page.goto(url)
    found: dict[str, list[str]] = {}
    completed = False
    for number in range(1, 30):
        violations = await serious_violations(page)
        if violations:
            found[f"page {number}"] = violations
        if await page.locator("h1", has_text="Bedankt").count():
            completed = True  # every variant can be answered to its end page in the browser
            break
        # Submit empty first: the page with its errors is checked too, then answered.
        await next_page(page)
        if not await page.locator("#error-summary").count():
            continue  # nothing required here: on to the next page
        violations = await serious_violations(page)
        if violations:
            found[f"page {number} with errors"] = violations
        await _answer_anything(page)
        await next_page(page)
    assert found == {}
    assert completed


async def _answer_anything(page: Page) -> None:
    """Some valid answer to every question on the page (the first option, or a number)."""
    await page.evaluate(
        """() => {
        const groups = new Set([...document.querySelectorAll('input[type=radio]')].map(e => e.name));
        for (const name of groups) document.querySelector(`input[type=radio][name="${name}"]`).checked = 1;
        const boxes = new Set([...document.querySelectorAll('input[type=checkbox]')].map(e => e.name));
        for (const name of boxes) document.querySelector(`input[type=checkbox][name="${name}"]`).checked = 1;
        for (const field of document.querySelectorAll('input[name$=".other"]')) field.value = 'iets';
        for (const field of document.querySelectorAll('input[inputmode=numeric], input[inputmode=decimal]')) {
            if (!field.name.includes('.')) field.value = '7';
        }
        const allocations = new Map();
        for (const field of document.querySelectorAll('input[inputmode=numeric][name*="."]')) {
            const q = field.name.split('.')[0];
            field.value = allocations.has(q) ? '0' : '100';
            allocations.set(q, true);
        }
        for (const select of document.querySelectorAll('select')) {
            const siblings = [...document.querySelectorAll(`select[name^="${select.name.split('.')[0]}."]`)];
            select.value = String(siblings.indexOf(select) + 1);
        }
    }"""
    )


async def test_the_end_and_the_neutral_pages_have_no_serious_accessibility_violations(
    service: ServiceRuntime, browser: Browser
) -> None:
    url, _ = await link(service, "minimal-v1")
    page = await browser.new_page(viewport=PHONE)
    await page.goto(url.rsplit("/", 1)[0] + "/" + secrets.token_urlsafe(32))
    await shoot(page, "questionnaire-unavailable")
    assert await serious_violations(page) == []
    await page.goto(url)
    await fill(page, {"grade": "9", "recommend": "ja"})
    await next_page(page)
    assert await serious_violations(page) == []
