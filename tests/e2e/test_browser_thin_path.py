"""A person answers in a real browser: delivery → email → questionnaire → report.

Drives Debian's Chromium through Playwright against the four real service
processes; screenshots of every page land in ``test-artifacts/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.polling import eventually_sync
from tevreden.stack import LocalStack, local_stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: apt-get install chromium (.ci/run does it)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with local_stack(workdir=tmp_path_factory.mktemp("browser-stack")) as started:
        yield started


def shoot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


STUDY = {
    "study_id": "browser",
    "name": "Blik op Werk, browser",
    "scheme_id": "bow",
    "year": 2026,
    "questionnaire_id": "minimal-v1",
}


def enrolled_provider(stack: LocalStack, provider_id: str, name: str, service: str) -> str:
    """Register the provider, enrol it in the study for one dienst; its API key."""
    admin = {"X-API-Key": stack.admin_api_key}
    with httpx.Client(base_url=stack.url("invitations"), timeout=10) as http:
        if http.get("/api/studies/browser", headers=admin).status_code == 404:
            http.post("/api/studies", json=STUDY, headers=admin).raise_for_status()
        created = http.post("/api/providers", json={"provider_id": provider_id, "name": name}, headers=admin)
        created.raise_for_status()
        enrolment = {"provider_id": provider_id, "services": [service]}
        http.post("/api/studies/browser/enrolments", json=enrolment, headers=admin).raise_for_status()
        return str(created.json()["api_key"])


def deliver(stack: LocalStack, api_key: str, csv_text: str) -> None:
    with httpx.Client(base_url=stack.url("invitations"), timeout=10) as http:
        http.post(
            "/api/studies/browser/deliveries",
            content=csv_text.encode(),
            headers={"X-API-Key": api_key, "Content-Type": "text/csv"},
        ).raise_for_status()


def deliver_one_contact(stack: LocalStack, email: str) -> str:
    """The provider's own API key."""
    key = enrolled_provider(stack, "PB", "Werkt Assen", "3")
    deliver(stack, key, f"client_ref,name,email,service\nB1,Anna de Vries,{email},3\n")
    return key


def link_from_mail(stack: LocalStack, email: str) -> str:
    def link() -> str | None:
        for mail in stack.infra.smtp.messages:
            if mail.message["To"] == email:
                found = re.search(
                    r"(http://\S+/q/[A-Za-z0-9_-]+)", mail.message.get_body(("plain",)).get_content()
                )
                assert found is not None
                return found.group(1)
        return None

    return eventually_sync(link)


def summary_row(stack: LocalStack, api_key: str) -> dict[str, object]:
    url = f"{stack.url('reporting')}/api/studies/browser/summary"

    def row() -> dict[str, object] | None:
        rows = httpx.get(url, headers={"X-API-Key": api_key}, timeout=30).json()
        return dict(rows[0]) if rows and rows[0]["completed"] == 1 else None

    return eventually_sync(row)


def test_a_person_answers_in_a_browser_and_the_grade_is_counted_but_not_disclosed_alone(
    stack: LocalStack, browser: Browser
) -> None:
    email = "anna@browser.example"
    key = deliver_one_contact(stack, email)
    page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone: mobile first
    page.goto(link_from_mail(stack, email))
    shoot(page, "thin-path-1-questionnaire")
    page.get_by_label("8", exact=True).check()
    page.get_by_label("Ja", exact=True).check()
    page.get_by_role("button", name="Versturen").click()
    page.wait_for_selector("text=Bedankt")
    shoot(page, "thin-path-2-thanks")
    row = summary_row(stack, key)  # the provider's own key, known to reporting by its hash
    # Counted, but one client is below the disclosure minimum: not even the provider reads the mean.
    assert (row["net_sample"], row["completed"], row["mean_grade"]) == (1, 1, None)
    page.set_extra_http_headers({"X-API-Key": key})
    page.goto(f"{stack.url('reporting')}/reports/browser/PB")
    shoot(page, "thin-path-3-report")
    # One respondent is below Blik op Werk's disclosure minimum: the report names the
    # provider but must not show the grade that one person gave.
    text = page.inner_text("body")
    assert "Tevredenheidsonderzoek PB" in text
    assert "te weinig respondenten" in text
    assert "8,0" not in text


def test_a_missing_answer_is_shown_beside_its_question_in_the_browser(
    stack: LocalStack, browser: Browser
) -> None:
    email = "bram@browser.example"
    key = enrolled_provider(stack, "PC", "Loopbaan Delft", "5")
    deliver(stack, key, f"client_ref,name,email,service\nC1,Bram Bakker,{email},5\n")
    page = browser.new_page()
    page.goto(link_from_mail(stack, email))
    page.get_by_label("7", exact=True).check()
    page.get_by_role("button", name="Versturen").click()
    error = page.locator("#e-recommend")
    assert error.inner_text() == "Kies een antwoord."
    assert page.locator("#q-recommend").get_attribute("aria-describedby") == "e-recommend"
    assert page.get_by_label("7", exact=True).is_checked()  # what was right is kept
    shoot(page, "thin-path-4-validation")
