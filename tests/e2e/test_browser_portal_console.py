"""The bureau console of the portal in a real browser (Debian's Chromium through Playwright),
against the portal, invitations, scoring and reporting services in-process, on the real
database, broker and SMTP server.

The bureau registers a provider and enrols it with the phone option; follows every provider's
fieldwork with the forecast and sends an extra wave in one action; closes fieldwork and sees
each provider's draft and review window; reads the register and the dead-letter topics. Each
action lands in the audit log. axe-core finds no serious or critical violation on any page.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page

from services.invitations import app as invitations
from services.reporting import app as reporting
from services.scoring import app as scoring
from shared.events import ScoresUpdated, ScoresUpdatedPayload, Topics, encode_event
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from tests.browser import PHONE, serious_violations, shoot
from tests.conftest import MakeSettings
from tests.polling import eventually
from tests.portal import fresh_email, invite, portal_url, sign_in
from tests.portal_services import running, url_of
from tevreden.sample_reports import study_payloads

pytestmark = pytest.mark.e2e
ADMIN = {"X-API-Key": "test-admin-key"}
SAMPLE = study_payloads("bow", providers=1, per_provider=60)[0]


@pytest.fixture(scope="module")
async def services(
    module_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, ServiceRuntime]]:
    report_dir: Path = tmp_path_factory.mktemp("console-reports")

    def reporting_runtime(settings: Settings) -> ServiceRuntime:
        update = {"report_dir": report_dir, "scheduler_poll_seconds": 0.2}
        return reporting.runtime(settings.model_copy(update=update))

    factories = {
        "invitations": invitations.runtime,
        "scoring": scoring.runtime,
        "reporting": reporting_runtime,
    }
    async with running(module_settings, factories) as started:
        yield started


@dataclass
class Bureau:
    services: dict[str, ServiceRuntime]
    study_id: str
    tag: str
    link: str

    @property
    def portal(self) -> str:
        return portal_url(self.services["portal"])

    def url(self, path: str = "") -> str:
        return f"{self.portal}/bureau{path}"


@pytest.fixture
async def bureau(services: dict[str, ServiceRuntime]) -> Bureau:
    tag = uuid.uuid4().hex[:8]
    study_id = f"bow-{tag}"
    async with httpx.AsyncClient(base_url=url_of(services["invitations"]), timeout=60) as http:
        body = {"study_id": study_id, "name": f"Blik op Werk 2026 {tag}", "scheme_id": "bow", "year": 2026}
        (await http.post("/api/studies", json=body, headers=ADMIN)).raise_for_status()
    link = await invite(services["portal"], fresh_email("bureau"), "bureau")
    return Bureau(services, study_id, tag, link)


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=PHONE)
    yield await context.new_page()
    await context.close()


async def register_and_enrol(page: Page, bureau: Bureau, name: str) -> tuple[str, str]:
    """Register provider ``name`` and enrol it in the study (service 3, phone option, ten
    interviews bought) through the console; its id and its API key (shown once)."""
    provider_id = f"{name.lower()}-{bureau.tag}"
    await page.goto(bureau.url("/dienstverleners"))
    await page.fill("#name", name)
    await page.fill("#provider_id", provider_id)
    await page.get_by_role("button", name="Registreren").click()
    api_key = (await page.locator("#api-sleutel").inner_text()).strip()
    await page.goto(bureau.url(f"/{bureau.study_id}"))
    await page.select_option("#provider_id", provider_id)
    await page.fill("#services", "3")
    await page.check("input[name=phone_option][value=ja]")
    await page.fill("#phone_interviews", "10")
    await page.get_by_role("button", name="Inschrijven").click()
    await page.wait_for_selector("text=De dienstverlener is ingeschreven.")
    return provider_id, api_key


async def audit_actions(page: Page, bureau: Bureau) -> str:
    await page.goto(f"{bureau.portal}/beheer/logboek")
    return await page.locator("main").inner_text()


async def test_the_bureau_registers_a_provider_and_enrols_it_with_the_phone_option(
    bureau: Bureau, page: Page
) -> None:
    await sign_in(page, bureau.link)
    await page.goto(bureau.url("/dienstverleners"))
    assert await serious_violations(page) == []
    _, api_key = await register_and_enrol(page, bureau, "Werkfit")
    assert len(api_key) > 20
    row = page.locator("#inschrijvingen tr", has_text="Werkfit")
    assert "3" in await row.inner_text() and "ja" in await row.inner_text()
    assert await serious_violations(page) == []
    await shoot(page, "portal-console-study")

    await row.get_by_role("link", name="Werkfit").click()
    await page.fill("#phone_interviews", "25")
    await page.fill("#sample_sizes", "3=40")
    assert await serious_violations(page) == []
    await page.get_by_role("button", name="Opslaan").click()
    await page.wait_for_selector("text=De inschrijving is gewijzigd.")
    row = page.locator("#inschrijvingen tr", has_text="Werkfit")
    assert "25" in await row.inner_text() and "3: 40" in await row.inner_text()
    assert "ingeschreven" in await audit_actions(page, bureau)


async def test_an_enrolment_with_a_bad_sample_size_keeps_what_was_typed_and_says_what_is_wrong(
    bureau: Bureau, page: Page
) -> None:
    await sign_in(page, bureau.link)
    await page.goto(bureau.url(f"/{bureau.study_id}"))
    await page.fill("#services", "3")
    await page.fill("#sample_sizes", "drie")
    await page.get_by_role("button", name="Inschrijven").click()
    assert await page.locator("#sample_sizes-fout").is_visible()
    assert await page.locator("#provider_id-fout").is_visible()
    assert await page.input_value("#services") == "3"
    assert await serious_violations(page) == []


async def test_a_new_study_is_made_in_the_console(bureau: Bureau, page: Page) -> None:
    await sign_in(page, bureau.link)
    await page.goto(bureau.url())
    assert await serious_violations(page) == []
    await page.fill("#study_id", f"uwv-{bureau.tag}")
    await page.fill("#name", "UWV re-integratie 2026")
    await page.select_option("#scheme_id", "uwv-reintegratie")
    await page.fill("#year", "2026")
    await page.get_by_role("button", name="Onderzoek aanmaken").click()
    await page.wait_for_selector("text=Het onderzoek is aangemaakt.")
    assert await page.locator("h1").inner_text() == "UWV re-integratie 2026"


async def test_the_bureau_follows_fieldwork_and_sends_an_extra_wave_in_one_action(
    bureau: Bureau, page: Page
) -> None:
    await sign_in(page, bureau.link)
    provider_id, api_key = await register_and_enrol(page, bureau, "Pluswerk")
    rows = "client_ref,name,email,service\n" + "".join(
        f"K{i},Persoon {i},k{i}-{bureau.tag}@example.nl,3\n" for i in range(6)
    )
    async with httpx.AsyncClient(base_url=url_of(bureau.services["invitations"]), timeout=60) as http:
        delivered = await http.post(
            f"/api/studies/{bureau.study_id}/deliveries",
            content=rows.encode(),
            headers={"X-API-Key": api_key, "Content-Type": "text/csv"},
        )
        delivered.raise_for_status()

    async def status_shown() -> bool:
        await page.goto(bureau.url(f"/{bureau.study_id}"))
        return await page.locator("#veldwerk li", has_text="Pluswerk").count() > 0

    await eventually(status_shown, within=90)
    card = page.locator("#veldwerk li", has_text="Pluswerk")
    assert "Verwachte respons" in await card.inner_text()
    assert await serious_violations(page) == []
    await shoot(page, "portal-console-fieldwork")

    await page.check(f"input[name=providers][value={provider_id}]")
    await page.check("input[name=kind][value=reminder]")
    await page.get_by_role("button", name="Extra ronde starten").click()
    await page.wait_for_selector("text=De extra ronde is gestart")
    async with httpx.AsyncClient(base_url=url_of(bureau.services["invitations"]), timeout=60) as http:
        waves = (await http.get(f"/api/studies/{bureau.study_id}/extra-waves", headers=ADMIN)).json()
    assert [w["providers"] for w in waves] == [[provider_id]]
    assert "extra ronde" in await audit_actions(page, bureau)


async def test_the_bureau_closes_fieldwork_and_sees_each_providers_draft_and_review_window(
    bureau: Bureau, page: Page
) -> None:
    await sign_in(page, bureau.link)
    provider_id, _ = await register_and_enrol(page, bureau, "Jobwijzer")
    reporting_runtime = bureau.services["reporting"]
    assert reporting_runtime.ctx is not None
    data = SAMPLE.model_dump() | {"study_id": bureau.study_id, "provider_id": provider_id}
    event = ScoresUpdated(payload=ScoresUpdatedPayload.model_validate(data))
    await reporting_runtime.ctx.broker.publish(encode_event(event), event.topic, key=event.key.encode())
    async with httpx.AsyncClient(base_url=url_of(reporting_runtime), timeout=60) as http:

        async def kept() -> bool:
            rows = (await http.get(f"/api/studies/{bureau.study_id}/summary", headers=ADMIN)).json()
            return any(r["provider_id"] == provider_id for r in rows)

        await eventually(kept, within=60)

    await page.goto(bureau.url(f"/{bureau.study_id}"))
    await page.fill("#review_days", "14")
    await page.get_by_role("button", name="Veldwerk sluiten").click()
    await page.wait_for_selector("text=Het veldwerk is gesloten.")

    async def drafted() -> bool:
        await page.goto(bureau.url(f"/{bureau.study_id}"))
        return "concept" in await page.locator("#rapporten tr", has_text="Jobwijzer").inner_text()

    await eventually(drafted, within=120)
    row = page.locator("#rapporten tr", has_text="Jobwijzer")
    assert "geen" in await row.inner_text()  # no response yet
    assert await serious_violations(page) == []
    await shoot(page, "portal-console-reports")
    document = await page.request.get(bureau.url(f"/{bureau.study_id}/rapport/{provider_id}/v1.pdf"))
    assert document.status == 200 and (await document.body()).startswith(b"%PDF")
    assert "veldwerk gesloten" in await audit_actions(page, bureau)

    await publish_after_the_response(page, bureau, provider_id)
    await page.goto(bureau.url(f"/{bureau.study_id}/register"))
    assert await page.locator("h1").inner_text() == "Openbaar register"
    assert await serious_violations(page) == []


async def publish_after_the_response(page: Page, bureau: Bureau, provider_id: str) -> None:
    """Definitief maken: refused while the provider may still respond, done once it has."""
    publish = page.locator("#rapporten tr", has_text="Jobwijzer").get_by_role(
        "button", name="Definitief maken"
    )
    await page.goto(bureau.url(f"/{bureau.study_id}"))
    await publish.click()
    assert "nog reageren" in await page.locator("main").inner_text()
    async with httpx.AsyncClient(base_url=url_of(bureau.services["reporting"]), timeout=60) as http:
        await http.post(
            f"/api/reports/{bureau.study_id}/{provider_id}/response", json={"text": "Akkoord."}, headers=ADMIN
        )
    await page.goto(bureau.url(f"/{bureau.study_id}"))
    await publish.click()
    await page.wait_for_selector("text=Het rapport wordt definitief gemaakt")

    async def final() -> bool:
        await page.goto(bureau.url(f"/{bureau.study_id}"))
        return "definitief" in await page.locator("#rapporten tr", has_text="Jobwijzer").inner_text()

    await eventually(final, within=120)
    assert "rapport definitief" in await audit_actions(page, bureau)


async def test_the_dead_letter_topics_show_their_count_and_the_newest_events_error(
    bureau: Bureau, page: Page
) -> None:
    scoring_runtime = bureau.services["scoring"]
    assert scoring_runtime.ctx is not None
    poison = b'{"type": "invitations.issued", "event_id": "not-a-uuid"}'
    await scoring_runtime.ctx.broker.publish(poison, Topics.INVITATIONS_ISSUED, key=b"x")
    await sign_in(page, bureau.link)

    async def shown() -> bool:
        await page.goto(bureau.url("/storingen"))
        return await page.locator("section", has_text=Topics.dlq(Topics.INVITATIONS_ISSUED)).count() > 0

    await eventually(shown, within=60)
    section = page.locator("section", has_text=Topics.dlq(Topics.INVITATIONS_ISSUED))
    text = await section.inner_text()
    assert "invitations.issued" in text and "malformed event" in text
    assert await serious_violations(page) == []
    await shoot(page, "portal-console-dead-letters")
