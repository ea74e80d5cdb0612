"""Who gets what: every page and form of the bureau console, the interviewer screen and the
provider's pages, asked in a real browser (Debian's Chromium through Playwright) as the bureau,
an interviewer, a provider's user, another provider's user and signed out.

The wrong role gets 403; signed out, the sign-in page (401); the right role its page (200), or
for a form sent empty, the form again with what is missing (422), so this test changes nothing;
a call that is not the interviewer's own and another provider's study answer 404, as if they
did not exist.
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
STUDY, ONLY_A, PROVIDER, OTHER = f"bow-{TAG}", f"bow-a-{TAG}", f"werkfit-{TAG}", f"pluswerk-{TAG}"
NOT_MINE = uuid.uuid4()  # a call task that is nobody's

ROLES = ("bureau", "interviewer", "provider", "other")  # other: another provider's user


def console(method: str, path: str, bureau: int) -> tuple[str, str, dict[str, int]]:
    return method, path, {"bureau": bureau, "interviewer": 403, "provider": 403, "other": 403}


def calling(method: str, path: str, interviewer: int) -> tuple[str, str, dict[str, int]]:
    return method, path, {"bureau": 403, "interviewer": interviewer, "provider": 403, "other": 403}


def own(method: str, path: str, provider: int, other: int = 404) -> tuple[str, str, dict[str, int]]:
    """A provider's page about study ONLY_A, in which only PROVIDER is enrolled."""
    return method, path, {"bureau": 403, "interviewer": 403, "provider": provider, "other": other}


MINE = f"/dienstverlener/{ONLY_A}"
MATRIX: list[tuple[str, str, dict[str, int]]] = [
    console("GET", "/bureau", 200),
    console("GET", "/bureau/dienstverleners", 200),
    console("GET", "/bureau/storingen", 200),
    console("GET", f"/bureau/{STUDY}", 200),
    console("GET", f"/bureau/{STUDY}/inschrijvingen/{PROVIDER}", 200),
    console("GET", f"/bureau/{STUDY}/register", 200),
    console("GET", f"/bureau/{STUDY}/rapport/{PROVIDER}/v1.pdf", 404),
    console("GET", "/bureau/bestaat-niet", 404),
    console("POST", "/bureau/onderzoeken", 422),
    console("POST", "/bureau/dienstverleners", 422),
    console("POST", f"/bureau/{STUDY}/inschrijvingen", 422),
    console("POST", f"/bureau/{STUDY}/inschrijvingen/{PROVIDER}", 422),
    console("POST", f"/bureau/{STUDY}/extra-ronde", 422),
    console("POST", f"/bureau/{STUDY}/veldwerk-sluiten", 422),
    calling("GET", "/interviewer", 200),
    calling("GET", f"/interviewer/gesprek/{NOT_MINE}", 404),
    calling("POST", "/interviewer/volgende", 200),
    calling("POST", f"/interviewer/gesprek/{NOT_MINE}/interview", 404),
    calling("POST", f"/interviewer/gesprek/{NOT_MINE}/uitkomst", 404),
    own("GET", "/dienstverlener", 200, other=200),
    own("GET", MINE, 200),
    own("GET", f"{MINE}/voortgang", 200),
    own("GET", f"{MINE}/rapport", 200),
    own("GET", f"{MINE}/rapport/v1.pdf", 404),
    own("GET", f"{MINE}/aanleveringen/{uuid.uuid4()}", 404),
    own("POST", f"{MINE}/aanleveringen", 422),
    own("POST", f"{MINE}/rapport/reactie", 422),
]
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
            for study in (STUDY, ONLY_A):
                body = {"study_id": study, "name": "Blik op Werk 2026", "scheme_id": "bow", "year": 2026}
                (await http.post("/api/studies", json=body, headers=ADMIN)).raise_for_status()
            for provider in (PROVIDER, OTHER):
                body = {"provider_id": provider, "name": provider}
                (await http.post("/api/providers", json=body, headers=ADMIN)).raise_for_status()
            for study, provider in ((STUDY, PROVIDER), (STUDY, OTHER), (ONLY_A, PROVIDER)):
                enrolment = {"provider_id": provider, "services": ["3"]}
                enrolled = await http.post(f"/api/studies/{study}/enrolments", json=enrolment, headers=ADMIN)
                enrolled.raise_for_status()
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
    return {(method, path): await visitor.status(method, path) for method, path, _ in MATRIX}


def expected(role: str) -> dict[tuple[str, str], int]:
    return {(method, path): statuses[role] for method, path, statuses in MATRIX}


async def test_the_bureau_gets_the_console_and_neither_the_calling_screen_nor_the_provider_pages(
    services: dict[str, ServiceRuntime], visitor: Visitor
) -> None:
    await sign_in(visitor.page, await invite(services["portal"], fresh_email("bureau"), "bureau"))
    assert await answers(visitor) == expected("bureau")


async def test_an_interviewer_gets_the_calling_screen_only_and_nobody_elses_call(
    services: dict[str, ServiceRuntime], visitor: Visitor
) -> None:
    await sign_in(visitor.page, await invite(services["portal"], fresh_email("beller"), "interviewer"))
    assert await answers(visitor) == expected("interviewer")


async def test_a_providers_user_gets_its_own_pages_only(
    services: dict[str, ServiceRuntime], visitor: Visitor
) -> None:
    await sign_in(visitor.page, await invite(services["portal"], fresh_email("dv"), "provider", PROVIDER))
    assert await answers(visitor) == expected("provider")


async def test_another_providers_user_gets_404_for_this_providers_pages(
    services: dict[str, ServiceRuntime], visitor: Visitor
) -> None:
    await sign_in(visitor.page, await invite(services["portal"], fresh_email("dv"), "provider", OTHER))
    assert await answers(visitor) == expected("other")


async def test_signed_out_every_page_and_form_answers_the_sign_in_page(visitor: Visitor) -> None:
    assert await answers(visitor) == {(method, path): 401 for method, path, _ in MATRIX}
    await visitor.page.goto(f"{visitor.portal}/bureau")
    assert await visitor.page.get_by_role("button", name="Stuur mij een aanmeldlink").count() == 1
