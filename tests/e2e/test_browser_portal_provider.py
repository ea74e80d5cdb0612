"""The provider's pages of the portal in a real browser (Debian's Chromium through Playwright),
against the portal, invitations, scoring and reporting services in-process, on the real
database, broker and SMTP server.

A provider's contact person uploads a contact file with bad rows and sees at once which rows and
why, and the gross → net table; follows the fieldwork's progress; reads the draft report and
responds before the deadline, and is refused after it; another provider's user gets 404 for all
of it. axe-core finds no serious or critical violation on any page.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Browser, Page

from services.invitations import app as invitations
from services.portal import app as portal_app
from services.reporting import app as reporting
from services.scoring import app as scoring
from shared.events import ScoresUpdated, ScoresUpdatedPayload, encode_event
from shared.runtime import ServiceRuntime
from tests.browser import PHONE, serious_violations, shoot
from tests.conftest import MakeSettings
from tests.polling import eventually
from tests.portal import fits_the_width, fresh_email, invite, portal_url, sign_in
from tevreden.sample_reports import study_payloads

pytestmark = pytest.mark.e2e
ADMIN = {"X-API-Key": "test-admin-key"}
SAMPLE = study_payloads("bow", providers=1, per_provider=60)[0]


def url_of(runtime: ServiceRuntime) -> str:
    return f"http://127.0.0.1:{runtime.settings.port_for(runtime.name)}"


@pytest.fixture(scope="module")
async def services(
    module_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, ServiceRuntime]]:
    report_dir = tmp_path_factory.mktemp("portal-reports")
    started = {
        "invitations": invitations.runtime(module_settings()),
        "scoring": scoring.runtime(module_settings()),
        "reporting": reporting.runtime(module_settings(report_dir=report_dir, scheduler_poll_seconds=0.2)),
    }
    for runtime in started.values():
        await runtime.start()
    settings = module_settings(portal_signin_requests_per_hour=1000)
    urls = {name: url_of(runtime) for name, runtime in started.items()}
    portal = portal_app.runtime(
        settings.model_copy(
            update={
                "service_urls": urls,
                "portal_public_url": f"http://127.0.0.1:{settings.port_for('portal')}",
            }
        )
    )
    await portal.start()
    started["portal"] = portal
    yield started
    for runtime in started.values():
        await runtime.stop()


@dataclass
class Providers:
    """A Blik op Werk study with providers A and B enrolled (service 3), each with a portal
    user, and study ``only_a`` in which only A is enrolled."""

    services: dict[str, ServiceRuntime]
    study_id: str
    only_a: str
    a: str
    b: str
    link_a: str
    link_b: str
    tag: str

    @property
    def portal(self) -> str:
        return portal_url(self.services["portal"])

    def page_url(self, path: str, study_id: str | None = None) -> str:
        return f"{self.portal}/dienstverlener/{study_id or self.study_id}{path}"


@pytest.fixture
async def providers(services: dict[str, ServiceRuntime]) -> Providers:
    tag = uuid.uuid4().hex[:8]
    study_id, only_a, a, b = f"bow-{tag}", f"bow-a-{tag}", f"werkfit-{tag}", f"pluswerk-{tag}"
    async with httpx.AsyncClient(base_url=url_of(services["invitations"]), timeout=60) as http:
        for study in (study_id, only_a):
            body = {"study_id": study, "name": f"Blik op Werk 2026 {study}", "scheme_id": "bow", "year": 2026}
            (await http.post("/api/studies", json=body, headers=ADMIN)).raise_for_status()
        for provider in (a, b):
            body = {"provider_id": provider, "name": provider}
            (await http.post("/api/providers", json=body, headers=ADMIN)).raise_for_status()
        for study, provider in ((study_id, a), (study_id, b), (only_a, a)):
            enrolment = {
                "provider_id": provider,
                "services": ["3"],
                "phone_option": True,
                "phone_interviews": 10,
            }
            (
                await http.post(f"/api/studies/{study}/enrolments", json=enrolment, headers=ADMIN)
            ).raise_for_status()
    portal = services["portal"]
    link_a = await invite(portal, fresh_email("a"), "provider", a)
    link_b = await invite(portal, fresh_email("b"), "provider", b)
    return Providers(services, study_id, only_a, a, b, link_a, link_b, tag)


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=PHONE)
    yield await context.new_page()
    await context.close()


def contact_file(tag: str) -> bytes:
    """Three good rows and three bad ones: lines 3 (no valid email), 4 (a service the provider is
    not enrolled in) and 6 (client K1 again)."""
    rows = [
        "client_ref,name,email,service",
        f"K1,Anna de Vries,k1-{tag}@example.nl,3",
        "K2,Bert Smit,geen-adres,3",
        f"K3,Cor Jansen,k3-{tag}@example.nl,99",
        f"K4,Dirk Bakker,k4-{tag}@example.nl,3",
        f"K1,Anna de Vries,k1-{tag}@example.nl,3",
        f"K5,Eva Visser,k5-{tag}@example.nl,3",
    ]
    return ("\n".join(rows) + "\n").encode()


async def upload(page: Page, providers: Providers, data: bytes, name: str = "contacten.csv") -> None:
    await page.goto(providers.page_url(""))
    await page.set_input_files("#bestand", files=[{"name": name, "mimeType": "text/csv", "buffer": data}])
    await page.get_by_role("button", name="Aanleveren").click()


async def test_a_provider_uploads_a_file_with_bad_rows_and_sees_each_row_and_the_gross_to_net_table(
    providers: Providers, page: Page
) -> None:
    await sign_in(page, providers.link_a)
    await page.get_by_role("link", name="Mijn onderzoeken").first.click()
    await page.get_by_role("link", name=f"Blik op Werk 2026 {providers.study_id}").click()
    assert await serious_violations(page) == []
    await shoot(page, "portal-provider-study")

    await upload(page, providers, contact_file(providers.tag))
    await page.wait_for_selector("h1:has-text('Uw aanlevering is ontvangen')")
    problems = page.locator("#problemen tbody tr")
    rows = [
        int(await problems.nth(i).locator("td").first.inner_text()) for i in range(await problems.count())
    ]
    assert sorted(set(rows)) == [3, 4, 6]
    for i in range(await problems.count()):
        assert (await problems.nth(i).locator("td").nth(2).inner_text()).strip()  # a reason, in Dutch
    gross_to_net = page.locator("#bruto-netto tbody tr", has_text="3").first
    cells = [await c.inner_text() for c in await gross_to_net.locator("td").all()]
    assert cells[2] == "5" and cells[-1] == "3"  # service 3: five rows delivered, three invited
    assert await serious_violations(page) == []
    assert await fits_the_width(page)
    await shoot(page, "portal-provider-delivery")

    await page.goto(providers.page_url(""))
    await page.locator("table", has_text="Ontvangen").get_by_role("link").first.click()
    assert sorted(
        {int(t) for t in await page.locator("#problemen tbody tr td:first-child").all_inner_texts()}
    ) == [3, 4, 6]


async def test_a_file_of_another_kind_is_refused_with_a_clear_error(providers: Providers, page: Page) -> None:
    await sign_in(page, providers.link_a)
    await upload(page, providers, b"not a spreadsheet", name="contacten.pdf")
    await page.wait_for_selector(".error-summary")
    assert "CSV" in await page.locator(".error-summary").inner_text()
    assert await serious_violations(page) == []


async def test_a_file_with_a_bsn_column_is_refused_as_a_whole_with_the_services_reason(
    providers: Providers, page: Page
) -> None:
    await sign_in(page, providers.link_a)
    data = f"client_ref,name,email,service,bsn\nK1,Anna,k1-{providers.tag}@example.nl,3,111222333\n".encode()
    await upload(page, providers, data)
    await page.wait_for_selector(".error-summary")
    assert "BSN" in (await page.locator(".error-summary").inner_text()).upper()


async def test_a_provider_follows_the_fieldwork_progress(providers: Providers, page: Page) -> None:
    await sign_in(page, providers.link_a)
    await upload(page, providers, contact_file(providers.tag))
    await page.wait_for_selector("h1:has-text('Uw aanlevering is ontvangen')")

    async def net_sample_shown() -> bool:
        await page.goto(providers.page_url("/voortgang"))
        return await page.locator("#respons").count() > 0

    await eventually(net_sample_shown, within=60)
    card = page.locator("#respons li", has_text="Cliënten")
    assert "Netto steekproef\n3" in (await card.inner_text()).replace("\t", "\n")
    assert await page.locator("#benaderd").inner_text() != ""
    assert await serious_violations(page) == []
    assert await fits_the_width(page)
    await shoot(page, "portal-provider-progress")


async def draft_report(providers: Providers) -> None:
    """Provider A's scores reach reporting, fieldwork closes: A's draft, three weeks to respond."""
    reporting_runtime = providers.services["reporting"]
    assert reporting_runtime.ctx is not None
    data = SAMPLE.model_dump() | {"study_id": providers.study_id, "provider_id": providers.a}
    event = ScoresUpdated(payload=ScoresUpdatedPayload.model_validate(data))
    await reporting_runtime.ctx.broker.publish(encode_event(event), event.topic, key=event.key.encode())
    async with httpx.AsyncClient(base_url=url_of(reporting_runtime), timeout=60) as http:

        async def kept() -> bool:
            rows = (await http.get(f"/api/studies/{providers.study_id}/summary", headers=ADMIN)).json()
            return any(r["provider_id"] == providers.a for r in rows)

        await eventually(kept, within=60)
        closed = await http.post(
            f"/api/studies/{providers.study_id}/fieldwork-closed", json={"review_days": 21}, headers=ADMIN
        )
        closed.raise_for_status()

        async def drafted() -> bool:
            path = f"/api/reports/{providers.study_id}/{providers.a}/versions"
            versions = (await http.get(path, headers=ADMIN)).json()
            return any(v["status"] == "draft" for v in versions)

        await eventually(drafted, within=120)


async def test_a_provider_reads_its_draft_and_responds_before_the_deadline(
    providers: Providers, page: Page
) -> None:
    await draft_report(providers)
    await sign_in(page, providers.link_a)
    await page.goto(providers.page_url("/rapport"))
    assert "Conceptrapport" in await page.locator("#huidig").inner_text()
    assert "U kunt reageren tot" in await page.locator("#termijn").inner_text()
    assert await serious_violations(page) == []
    await shoot(page, "portal-provider-draft")

    pdf = await page.request.get(providers.page_url("/rapport/v1.pdf"))
    assert pdf.status == 200 and (await pdf.body()).startswith(b"%PDF")
    html = await page.request.get(providers.page_url("/rapport/v1.html"))
    assert html.status == 200 and "<html" in (await html.text()).lower()

    await page.get_by_label("Reactie (hoor en wederhoor)").fill("Wij herkennen ons in het beeld.")
    await page.get_by_role("button", name="Reactie versturen").click()
    await page.wait_for_selector("text=Uw reactie is ontvangen.")


async def test_a_response_after_the_deadline_is_refused_and_the_text_is_kept(
    providers: Providers, page: Page
) -> None:
    await draft_report(providers)
    await sign_in(page, providers.link_a)
    await page.goto(providers.page_url("/rapport"))
    await page.get_by_label("Reactie (hoor en wederhoor)").fill("Te laat, maar toch.")
    reporting_runtime = providers.services["reporting"]
    assert reporting_runtime.ctx is not None
    async with reporting_runtime.ctx.pool.acquire() as conn:  # the deadline passes while the page is open
        await conn.execute(
            "UPDATE reporting.lifecycle SET review_until = now() - interval '1 second'"
            " WHERE study_id = $1 AND provider_id = $2",
            providers.study_id,
            providers.a,
        )
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.get_by_role("button", name="Reactie versturen").click()
    assert (await answer.value).status == 409
    assert "reactietermijn is voorbij" in await page.locator(".error-summary").inner_text()
    assert await page.get_by_label("Reactie (hoor en wederhoor)").input_value() == "Te laat, maar toch."
    assert await serious_violations(page) == []


async def test_another_providers_user_gets_404_for_every_page_of_this_provider(
    providers: Providers, browser: Browser
) -> None:
    page_a = await browser.new_page()
    await sign_in(page_a, providers.link_a)
    await upload(page_a, providers, contact_file(providers.tag))
    await page_a.wait_for_selector("h1:has-text('Uw aanlevering is ontvangen')")
    await page_a.goto(providers.page_url(""))
    delivery_link = (
        await page_a.locator("table", has_text="Ontvangen").get_by_role("link").first.get_attribute("href")
    )
    assert delivery_link is not None
    await page_a.close()

    page_b = await browser.new_page()
    await sign_in(page_b, providers.link_b)
    only_a = [
        providers.page_url(path, providers.only_a)
        for path in ("", "/voortgang", "/rapport", "/rapport/v1.pdf")
    ]
    for url in [*only_a, f"{providers.portal}{delivery_link}"]:
        response = await page_b.goto(url)
        assert response is not None and response.status == 404, url
    await page_b.goto(providers.page_url(""))  # B's own study page works, without A's delivery
    assert await page_b.locator("table", has_text="Ontvangen").count() == 0
    odd = await page_b.goto(f"{providers.portal}/dienstverlener/..%2Fapi")  # no id: no page
    assert odd is not None and odd.status == 404
    refused = await page_b.request.post(
        providers.page_url("/aanleveringen", providers.only_a),
        multipart={
            "csrf": "x",
            "bestand": {"name": "c.csv", "mimeType": "text/csv", "buffer": contact_file("x")},
        },
    )
    assert refused.status in (403, 404)
    await page_b.close()


async def test_the_bureau_and_interviewers_do_not_get_the_provider_pages(
    providers: Providers, page: Page
) -> None:
    await sign_in(page, await invite(providers.services["portal"], fresh_email("bureau")))
    response = await page.goto(providers.page_url(""))
    assert response is not None and response.status == 403
