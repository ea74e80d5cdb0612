"""The bureau's extra wave from the ops page in a real browser: Debian's Chromium through
Playwright against the scoring and invitations services (in-process, on the real database,
broker and SMTP server).

The operator opens the fieldwork status page, types the admin key, sees the flagged provider,
fills in the extra-wave form (mode, providers, admin key) and sends it: each non-respondent gets
one more email. Going back and sending the same page again approaches nobody twice. A
screenshot of each page lands in ``test-artifacts/``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from playwright.async_api import Browser

from services.invitations import app as invitations
from services.scoring import app as scoring
from shared.runtime import ServiceRuntime
from tests.browser import shoot
from tests.conftest import MakeSettings
from tests.polling import eventually
from tevreden.infra import LocalInfra

pytestmark = pytest.mark.e2e
ADMIN_KEY = "test-admin-key"
ADMIN = {"X-API-Key": ADMIN_KEY}
PEOPLE = ("O1", "O2")


def url_of(service: ServiceRuntime) -> str:
    return f"http://127.0.0.1:{service.settings.port_for(service.name)}"


@pytest.fixture(scope="module")
async def services(module_settings: MakeSettings) -> AsyncIterator[dict[str, ServiceRuntime]]:
    """Invitations (a Blik op Werk plan day of 0.01 s, so each plan of an email and its reminder
    is over at once) and scoring, whose ops page posts the extra wave to it."""
    invitations_settings = module_settings(wave_day_seconds=0.01, email_rate_per_second=0.0)
    invitations_url = f"http://127.0.0.1:{invitations_settings.port_for('invitations')}"
    invitations_settings = invitations_settings.model_copy(update={"invitations_public_url": invitations_url})
    scoring_settings = module_settings(invitations_public_url=invitations_url)
    scoring_settings = scoring_settings.model_copy(
        update={
            "service_urls": {
                "invitations": invitations_url,
                "responses": "http://127.0.0.1:9",  # not running: shown as down
                "reporting": "http://127.0.0.1:9",
            }
        }
    )
    started = {
        "invitations": invitations.runtime(invitations_settings),
        "scoring": scoring.runtime(scoring_settings),
    }
    for runtime in started.values():
        await runtime.start()
    yield started
    for runtime in started.values():
        await runtime.stop()


class Fieldwork:
    """A Blik op Werk study with one provider whose clients got their email and reminder and
    never answered: the scoring status flags it."""

    def __init__(self, services: dict[str, ServiceRuntime]) -> None:
        self.services = services
        self.tag = uuid.uuid4().hex[:8]
        self.study_id = f"ops-{self.tag}"
        self.provider_id = f"stil-{self.tag}"

    def address(self, ref: str) -> str:
        return f"{ref.lower()}-{self.tag}@example.nl"

    async def start(self) -> None:
        study = {
            "study_id": self.study_id,
            "name": "Blik op Werk, ops",
            "scheme_id": "bow",
            "year": 2026,
            "questionnaire_id": "minimal-v1",
        }
        rows = "".join(f"{ref},{ref},{self.address(ref)},3\n" for ref in PEOPLE)
        async with httpx.AsyncClient(base_url=url_of(self.services["invitations"]), timeout=30) as http:
            (await http.post("/api/studies", json=study, headers=ADMIN)).raise_for_status()
            provider = {"provider_id": self.provider_id, "name": "Stil Werk"}
            (await http.post("/api/providers", json=provider, headers=ADMIN)).raise_for_status()
            enrolment = {"provider_id": self.provider_id, "services": ["3"]}
            (
                await http.post(f"/api/studies/{self.study_id}/enrolments", json=enrolment, headers=ADMIN)
            ).raise_for_status()
            delivered = await http.post(
                f"/api/studies/{self.study_id}/deliveries",
                params={"provider_id": self.provider_id},
                content=("client_ref,name,email,service\n" + rows).encode(),
                headers=ADMIN | {"Content-Type": "text/csv"},
            )
            assert delivered.status_code == 201, delivered.text

    async def plans_over(self) -> bool:
        ctx = self.services["invitations"].ctx
        assert ctx is not None
        async with ctx.pool.acquire() as conn:
            statuses = await conn.fetch(
                "SELECT i.status FROM invitations.invitations i JOIN invitations.contacts c"
                " USING (contact_id) WHERE c.study_id = $1",
                self.study_id,
            )
        return len(statuses) == len(PEOPLE) and all(r["status"] == "done" for r in statuses)

    async def flagged(self) -> bool:
        async with httpx.AsyncClient(base_url=url_of(self.services["scoring"]), timeout=30) as http:
            response = await http.get(f"/api/studies/{self.study_id}/status", headers=ADMIN)
        response.raise_for_status()
        status = response.json()
        return bool(status["flagged"] == [self.provider_id] and status["providers"][0]["net_sample"] == 2)

    def emails(self, infra: LocalInfra) -> dict[str, int]:
        received = [m.message["To"] for m in infra.smtp.messages]
        return {ref: received.count(self.address(ref)) for ref in PEOPLE}


async def test_the_extra_wave_sent_from_the_ops_page_approaches_each_non_respondent_once(
    services: dict[str, ServiceRuntime], browser: Browser, infra: LocalInfra
) -> None:
    fieldwork = Fieldwork(services)
    await fieldwork.start()
    await eventually(fieldwork.plans_over)
    await eventually(fieldwork.flagged)
    await eventually(lambda: _received(fieldwork, infra, 2))  # the invitation and its reminder

    page = await browser.new_page()
    await page.goto(f"{url_of(services['scoring'])}/ops/studies/{fieldwork.study_id}/status")
    await page.get_by_label("Admin key, or your own API key").fill(ADMIN_KEY)
    await page.get_by_role("button", name="Show the status").click()
    await page.wait_for_selector("#extra-wave")
    assert await page.locator("#flagged").inner_text() == fieldwork.provider_id
    assert await page.get_by_role("textbox", name="Providers").input_value() == fieldwork.provider_id
    assert ADMIN_KEY not in await page.content()
    await shoot(page, "ops-status")

    async def send_extra_reminder() -> str:
        await page.get_by_role("radio", name="extra reminder").check()
        await page.locator("#extra-wave").get_by_label("Admin key", exact=True).fill(ADMIN_KEY)
        await page.get_by_role("button", name="Send extra wave").click()
        await page.wait_for_selector("#result")
        return await page.locator("#result").inner_text()

    assert await send_extra_reminder() == f"Extra reminder wave for {fieldwork.study_id}"
    assert await page.locator("tr", has_text="approached in total").locator("td").inner_text() == "2"
    await shoot(page, "ops-extra-wave")
    await eventually(lambda: _received(fieldwork, infra, 3))

    await page.go_back()  # the same status page, with the same wave key
    await page.wait_for_selector("#extra-wave")
    assert (await send_extra_reminder()).endswith("nobody approached again)")
    await shoot(page, "ops-extra-wave-repeated")
    await asyncio.sleep(2.0)  # the schedulers poll every 0.1 s: anything wrongly due would go now
    assert fieldwork.emails(infra) == dict.fromkeys(PEOPLE, 3)
    await page.close()


async def _received(fieldwork: Fieldwork, infra: LocalInfra, n: int) -> bool:
    return all(count >= n for count in fieldwork.emails(infra).values())
