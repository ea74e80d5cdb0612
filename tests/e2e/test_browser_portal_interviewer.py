"""The interviewer's screen (CATI) of the portal in a real browser (Debian's Chromium through
Playwright), against the portal, invitations and responses services in-process.

An interviewer takes the next call and sees the person's name and number; keys in the Blik op
Werk questionnaire, is told per question what is missing exactly as the web form tells it, and
completes the interview; books an appointment (one in the past is refused with the service's
reason); once the call is no longer theirs its page answers 404. axe-core finds no serious or
critical violation on any page.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from services.invitations import app as invitations
from services.responses import app as responses
from shared.events import utc_now
from shared.questionnaires import load_questionnaire
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from tests.browser import PHONE, serious_violations, shoot
from tests.conftest import MakeSettings
from tests.polling import eventually
from tests.portal import fresh_email, invite, portal_url, sign_in
from tests.portal_services import running, url_of
from tevreden.sample_reports import answers_for

pytestmark = pytest.mark.e2e
ADMIN = {"X-API-Key": "test-admin-key"}
HEADER = "client_ref,name,email,phone,street,house_number,postcode,city,service,learning_profile\n"


@pytest.fixture(scope="module")
async def services(module_settings: MakeSettings) -> AsyncIterator[dict[str, ServiceRuntime]]:
    def calling(settings: Settings) -> ServiceRuntime:
        # Tests run at any hour: the calling hours themselves are a unit test of waves.py.
        return invitations.runtime(settings.model_copy(update={"calling_hours_apply": False}))

    async with running(module_settings, {"invitations": calling, "responses": responses.runtime}) as started:
        yield started


@dataclass
class Call:
    services: dict[str, ServiceRuntime]
    name: str
    phone: str
    invitation_id: str
    link: str

    @property
    def portal(self) -> str:
        return portal_url(self.services["portal"])


@pytest.fixture
async def call(services: dict[str, ServiceRuntime]) -> Call:
    """A Blik op Werk client with only a phone number (phone option): a call task is due; the
    responses service knows the invitation; an interviewer with a sign-in link."""
    tag = uuid.uuid4().hex[:8]
    name, phone = f"Gijs Veldman {tag}", f"06{random.randint(10_000_000, 99_999_999)}"
    async with httpx.AsyncClient(base_url=url_of(services["invitations"]), timeout=60) as http:
        study = {"study_id": f"bow-{tag}", "name": "Blik op Werk 2026", "scheme_id": "bow", "year": 2026}
        (await http.post("/api/studies", json=study, headers=ADMIN)).raise_for_status()
        created = await http.post(
            "/api/providers", json={"provider_id": f"w-{tag}", "name": "Werkt Zwolle"}, headers=ADMIN
        )
        created.raise_for_status()
        enrolment = {
            "provider_id": f"w-{tag}",
            "services": ["3"],
            "phone_option": True,
            "phone_interviews": 5,
        }
        (
            await http.post(f"/api/studies/bow-{tag}/enrolments", json=enrolment, headers=ADMIN)
        ).raise_for_status()
        delivered = await http.post(
            f"/api/studies/bow-{tag}/deliveries",
            content=(HEADER + f"G1,{name},,{phone},,,,,3,\n").encode(),
            headers={"X-API-Key": created.json()["api_key"], "Content-Type": "text/csv"},
        )
        assert delivered.status_code == 201 and delivered.json()["rows_rejected"] == 0, delivered.text
    invitations_runtime = services["invitations"]
    assert invitations_runtime.ctx is not None
    async with invitations_runtime.ctx.pool.acquire() as conn:
        invitation_id = str(
            await conn.fetchval(
                "SELECT i.invitation_id FROM invitations.invitations i JOIN invitations.contacts c"
                " USING (contact_id) WHERE c.study_id = $1",
                f"bow-{tag}",
            )
        )
    responses_runtime = services["responses"]
    assert responses_runtime.ctx is not None

    async def known_to_responses() -> bool:
        async with responses_runtime.ctx.pool.acquire() as conn:  # type: ignore[union-attr]
            return bool(
                await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM responses.invitations WHERE invitation_id = $1)",
                    uuid.UUID(invitation_id),
                )
            )

    await eventually(known_to_responses, within=60)
    link = await invite(services["portal"], fresh_email("interviewer"), "interviewer")
    return Call(services, name, phone, invitation_id, link)


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=PHONE)
    yield await context.new_page()
    await context.close()


async def take_the_call(page: Page, call: Call) -> str:
    """Sign in and press "Volgend gesprek" until this person's call comes up; its page URL."""
    await sign_in(page, call.link)
    await page.goto(f"{call.portal}/interviewer")
    assert await serious_violations(page) == []

    async def ours() -> bool:
        await page.goto(f"{call.portal}/interviewer")
        await page.get_by_role("button", name="Volgend gesprek").click()
        await page.wait_for_load_state()
        return (
            await page.locator("#naam").count() > 0 and await page.locator("#naam").inner_text() == call.name
        )

    await eventually(ours, within=60)
    return page.url


async def key_in(page: Page, answers: dict[str, Any]) -> None:
    """Key the answers into the form as an interviewer would: tick, choose, type."""
    form = page.locator("#vragenlijst")
    for key, value in answers.items():
        for one in value if isinstance(value, list) else [value]:
            field = form.locator(f"[name='{key}']")
            kind = await field.first.get_attribute("type")
            if kind in ("radio", "checkbox"):
                await form.locator(f"[name='{key}'][value='{one}']").check()
            else:
                await field.first.fill(str(one))


async def test_an_interviewer_keys_in_the_questionnaire_and_completes_the_interview(
    call: Call, page: Page
) -> None:
    url = await take_the_call(page, call)
    assert await page.locator("#telefoon").inner_text() == "+31" + call.phone[1:]  # as stored
    assert await serious_violations(page) == []
    await shoot(page, "portal-interviewer-call")

    await page.get_by_role("button", name="Interview opslaan").click()
    summary = page.locator("#fouten")
    assert "nog niet goed ingevuld" in await summary.inner_text()
    assert await serious_violations(page) == []

    answers = answers_for(load_questionnaire("bow-client-regular"), random.Random(7), 0.8)
    await key_in(page, answers)
    await page.get_by_role("button", name="Interview opslaan").click()
    await page.wait_for_selector("text=Het interview is opgeslagen.")
    responses_runtime = call.services["responses"]
    assert responses_runtime.ctx is not None
    async with responses_runtime.ctx.pool.acquire() as conn:
        mode = await conn.fetchval(
            "SELECT mode FROM responses.responses WHERE invitation_id = $1", uuid.UUID(call.invitation_id)
        )
    assert mode == "phone"
    after = await page.goto(url)  # the call is closed: no name, no number any more
    assert after is not None and after.status == 404
    assert call.name not in await page.content()


async def test_an_interviewer_books_an_appointment_and_one_in_the_past_is_refused(
    call: Call, page: Page
) -> None:
    url = await take_the_call(page, call)
    yesterday = (utc_now() - timedelta(days=1)).date().isoformat()
    await page.fill("#datum", yesterday)
    await page.fill("#tijd", "10:00")
    await page.get_by_role("button", name="Afspraak vastleggen").click()
    assert "in de toekomst" in await page.locator("#datum-fout").inner_text()
    assert await page.input_value("#datum") == yesterday
    assert await serious_violations(page) == []

    tomorrow = (utc_now() + timedelta(days=1)).date().isoformat()
    await page.fill("#datum", tomorrow)
    await page.fill("#tijd", "10:00")
    await page.get_by_role("button", name="Afspraak vastleggen").click()
    await page.wait_for_selector("text=De afspraak is vastgelegd.")
    invitations_runtime = call.services["invitations"]
    assert invitations_runtime.ctx is not None
    async with invitations_runtime.ctx.pool.acquire() as conn:
        at = await conn.fetchval(
            "SELECT appointment_at FROM invitations.call_tasks WHERE invitation_id = $1",
            uuid.UUID(call.invitation_id),
        )
    assert at is not None and at.date().isoformat() == tomorrow
    after = await page.goto(url)
    assert after is not None and after.status == 404


async def test_an_outcome_without_an_interview_closes_the_call_for_this_interviewer(
    call: Call, page: Page
) -> None:
    url = await take_the_call(page, call)
    await page.get_by_role("button", name="Geen gehoor").click()
    await page.wait_for_selector("text=De uitkomst is vastgelegd.")
    after = await page.goto(url)
    assert after is not None and after.status == 404
