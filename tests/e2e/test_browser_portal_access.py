"""Who gets what: every page and form of the bureau console and the interviewer screen, asked
in a real browser (Debian's Chromium through Playwright) as the bureau, a provider's user, an
interviewer and signed out.

The wrong role gets 403; signed out, the sign-in page (401); the right role its page (200), or
for a form sent empty, the form again with what is missing (422), so this test changes nothing;
a call that is not the interviewer's own answers 404, as if it did not exist. Another provider's
things answer 404: tests/e2e/test_browser_portal_provider.py covers the provider's pages.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Browser, Page

from services.invitations import app as invitations
from services.reporting import app as reporting
from services.responses import app as responses
from services.scoring import app as scoring
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings
from tests.portal import fresh_email, invite, portal_url, sign_in
from tests.portal_services import running, url_of

pytestmark = pytest.mark.e2e
ADMIN = {"X-API-Key": "test-admin-key"}
TAG = uuid.uuid4().hex[:8]
STUDY, PROVIDER, OTHER = f"bow-{TAG}", f"werkfit-{TAG}", f"pluswerk-{TAG}"
NOT_MINE = uuid.uuid4()  # a call task that is nobody's

# (method, path, the bureau's, the interviewer's answer); a provider's user: 403 for all.
CONSOLE: list[tuple[str, str, int, int]] = [
    ("GET", "/bureau", 200, 403),
    ("GET", "/bureau/dienstverleners", 200, 403),
    ("GET", "/bureau/storingen", 200, 403),
    ("GET", f"/bureau/{STUDY}", 200, 403),
    ("GET", f"/bureau/{STUDY}/inschrijvingen/{PROVIDER}", 200, 403),
    ("GET", f"/bureau/{STUDY}/register", 200, 403),
    ("GET", f"/bureau/{STUDY}/rapport/{PROVIDER}/v1.pdf", 404, 403),
    ("GET", "/bureau/bestaat-niet", 404, 403),
    ("POST", "/bureau/onderzoeken", 422, 403),
    ("POST", "/bureau/dienstverleners", 422, 403),
    ("POST", f"/bureau/{STUDY}/inschrijvingen", 422, 403),
    ("POST", f"/bureau/{STUDY}/inschrijvingen/{PROVIDER}", 422, 403),
    ("POST", f"/bureau/{STUDY}/extra-ronde", 422, 403),
    ("POST", f"/bureau/{STUDY}/veldwerk-sluiten", 422, 403),
]
INTERVIEWER: list[tuple[str, str, int, int]] = [
    ("GET", "/interviewer", 403, 200),
    ("GET", f"/interviewer/gesprek/{NOT_MINE}", 403, 404),
    ("POST", "/interviewer/volgende", 403, 200),
    ("POST", f"/interviewer/gesprek/{NOT_MINE}/interview", 403, 404),
    ("POST", f"/interviewer/gesprek/{NOT_MINE}/uitkomst", 403, 404),
]
MATRIX = CONSOLE + INTERVIEWER
# A form sent "empty" still carries a value where an empty one would act with a default.
BODIES = {f"/bureau/{STUDY}/veldwerk-sluiten": {"review_days": "geen"}}


@pytest.fixture(scope="module")
async def services(module_settings: MakeSettings) -> AsyncIterator[dict[str, ServiceRuntime]]:
    factories = {
        "invitations": invitations.runtime,
        "responses": responses.runtime,
        "scoring": scoring.runtime,
        "reporting": reporting.runtime,
    }
    async with running(module_settings, factories) as started:
        async with httpx.AsyncClient(base_url=url_of(started["invitations"]), timeout=60) as http:
            body = {"study_id": STUDY, "name": "Blik op Werk 2026", "scheme_id": "bow", "year": 2026}
            (await http.post("/api/studies", json=body, headers=ADMIN)).raise_for_status()
            for provider in (PROVIDER, OTHER):
                created = await http.post(
                    "/api/providers", json={"provider_id": provider, "name": provider}, headers=ADMIN
                )
                created.raise_for_status()
                enrolment = {"provider_id": provider, "services": ["3"]}
                (
                    await http.post(f"/api/studies/{STUDY}/enrolments", json=enrolment, headers=ADMIN)
                ).raise_for_status()
        yield started


@dataclass
class Visitor:
    page: Page
    portal: str

    async def csrf(self) -> str:
        """This browser's CSRF token, from a form every visitor sees (the sign-in page's)."""
        await self.page.goto(f"{self.portal}/aanmelden")
        return await self.page.locator("input[name=csrf]").first.input_value()

    async def status(self, method: str, path: str) -> int:
        if method == "GET":
            response = await self.page.request.get(self.portal + path, max_redirects=0)
        else:
            form: dict[str, str | float | bool] = {"csrf": await self.csrf(), **BODIES.get(path, {})}
            response = await self.page.request.post(self.portal + path, form=form, max_redirects=0)
        return response.status


@pytest.fixture
async def visitor(browser: Browser, services: dict[str, ServiceRuntime]) -> AsyncIterator[Visitor]:
    context = await browser.new_context()
    yield Visitor(await context.new_page(), portal_url(services["portal"]))
    await context.close()


async def answers(visitor: Visitor) -> dict[tuple[str, str], int]:
    return {(method, path): await visitor.status(method, path) for method, path, _, _ in MATRIX}


async def test_the_bureau_gets_the_console_and_not_the_interviewer_screen(
    services: dict[str, ServiceRuntime], visitor: Visitor
) -> None:
    await sign_in(visitor.page, await invite(services["portal"], fresh_email("bureau"), "bureau"))
    assert await answers(visitor) == {(m, p): bureau for m, p, bureau, _ in MATRIX}


async def test_an_interviewer_gets_the_calling_screen_only_and_nobody_elses_call(
    services: dict[str, ServiceRuntime], visitor: Visitor
) -> None:
    await sign_in(visitor.page, await invite(services["portal"], fresh_email("beller"), "interviewer"))
    assert await answers(visitor) == {(m, p): interviewer for m, p, _, interviewer in MATRIX}


@pytest.mark.parametrize("provider", [PROVIDER, OTHER])
async def test_a_providers_user_gets_neither_the_console_nor_the_calling_screen(
    services: dict[str, ServiceRuntime], visitor: Visitor, provider: str
) -> None:
    await sign_in(visitor.page, await invite(services["portal"], fresh_email("dv"), "provider", provider))
    assert await answers(visitor) == {(m, p): 403 for m, p, _, _ in MATRIX}


async def test_signed_out_every_page_and_form_answers_the_sign_in_page(visitor: Visitor) -> None:
    assert await answers(visitor) == {(m, p): 401 for m, p, _, _ in MATRIX}
    await visitor.page.goto(f"{visitor.portal}/bureau")
    assert await visitor.page.get_by_role("button", name="Stuur mij een aanmeldlink").count() == 1
