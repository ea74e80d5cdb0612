"""Fieldwork that ends, on the real database and broker with the reporting and responses
services running: the bureau closes fieldwork at reporting, ``reports.fieldwork_closed`` reaches
the responses service, the study's links close with a Dutch page (410), late phone and paper
answers are refused with a clear error, and once final the report's address shows the final
report however many scores come in later.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from services.reporting import app as reporting
from services.responses import app as responses
from shared.events import (
    InvitationIssued,
    InvitationIssuedPayload,
    ScoresUpdated,
    ScoresUpdatedPayload,
    encode_event,
)
from shared.runtime import ServiceRuntime
from shared.tokens import token_hash
from tests.conftest import MakeSettings
from tests.polling import eventually
from tevreden.sample_reports import study_payloads

pytestmark = pytest.mark.integration

ADMIN = {"X-API-Key": "test-admin-key"}
CALLCENTRE = {"X-API-Key": "test-callcentre-key"}
SAMPLE = study_payloads("bow", providers=1, per_provider=40)[0]  # P001
ANSWERS = {"grade": "8", "recommend": "ja"}


@pytest.fixture(scope="module")
async def services(
    module_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[ServiceRuntime, ServiceRuntime]]:
    report_dir: Path = tmp_path_factory.mktemp("fieldwork-reports")
    # Each service its own database and port, one broker between them.
    reports = reporting.runtime(
        module_settings(report_dir=report_dir, report_debounce_seconds=0.5, scheduler_poll_seconds=0.2)
    )
    answers = responses.runtime(module_settings(callcentre_api_key=CALLCENTRE["X-API-Key"]))
    await reports.start()
    await answers.start()
    yield reports, answers
    await answers.stop()
    await reports.stop()


def client(runtime: ServiceRuntime, **headers: str) -> httpx.AsyncClient:
    port = runtime.settings.port_for(runtime.name)
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30)


async def publish(runtime: ServiceRuntime, *events: InvitationIssued | ScoresUpdated) -> None:
    assert runtime.ctx is not None
    for event in events:
        await runtime.ctx.broker.publish(encode_event(event), event.topic, key=event.key.encode())


async def invite(answers: ServiceRuntime, study_id: str) -> tuple[str, uuid.UUID]:
    """An issued invitation in ``study_id``, once the questionnaire shows its link."""
    token, invitation_id = secrets.token_urlsafe(32), uuid.uuid4()
    await publish(
        answers,
        InvitationIssued(
            payload=InvitationIssuedPayload(
                invitation_id=invitation_id, study_id=study_id, provider_id="P001", service_code="3",
                questionnaire_id="minimal-v1", token_hash=token_hash(token),
            )
        ),
    )  # fmt: skip

    async def shown() -> bool:
        async with client(answers) as http:
            return "csrf" in (await http.get(f"/q/{token}")).text

    await eventually(shown)
    return token, invitation_id


def snapshot(study_id: str, later: timedelta = timedelta(0), provider_id: str = "P001") -> ScoresUpdated:
    data = {
        **SAMPLE.model_dump(),
        "study_id": study_id,
        "provider_id": provider_id,
        "as_of": SAMPLE.as_of + later,
    }
    return ScoresUpdated(payload=ScoresUpdatedPayload.model_validate(data))


async def close_fieldwork(reports: ServiceRuntime, study_id: str, review_days: float = 21.0) -> None:
    async with client(reports, **ADMIN) as http:
        response = await http.post(
            f"/api/studies/{study_id}/fieldwork-closed", json={"review_days": review_days}
        )
    response.raise_for_status()


async def closed_link(answers: ServiceRuntime, token: str) -> httpx.Response:
    """The link's page once the responses service has learned that fieldwork closed."""

    async def probe() -> httpx.Response | None:
        async with client(answers) as http:
            page = await http.get(f"/q/{token}")
        return page if page.status_code == 410 else None

    return await eventually(probe, within=60)


async def study_with_open_link(services: tuple[ServiceRuntime, ServiceRuntime]) -> tuple[str, str, uuid.UUID]:
    study_id = f"bow-{uuid.uuid4().hex[:10]}"
    token, invitation_id = await invite(services[1], study_id)
    return study_id, token, invitation_id


async def invitation_of_a_closed_study(services: tuple[ServiceRuntime, ServiceRuntime]) -> uuid.UUID:
    """An invitation never answered, of a study whose fieldwork the responses service knows closed."""
    study_id, token, invitation_id = await study_with_open_link(services)
    await close_fieldwork(services[0], study_id)
    await closed_link(services[1], token)
    return invitation_id


async def stored(answers: ServiceRuntime, invitation_id: uuid.UUID) -> int:
    assert answers.ctx is not None
    async with answers.ctx.pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM responses.responses WHERE invitation_id = $1", invitation_id
        )
    return count


async def consumed(runtime: ServiceRuntime, events: list[ScoresUpdated]) -> bool:
    """Whether the service has taken every one of ``events`` (they are in its inbox)."""
    assert runtime.ctx is not None
    async with runtime.ctx.pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM reporting.inbox WHERE event_id = ANY($1::uuid[])",
            [e.event_id for e in events],
        )
    return count == len(events)


async def test_closing_fieldwork_closes_the_questionnaire_links_with_a_dutch_page(
    services: tuple[ServiceRuntime, ServiceRuntime],
) -> None:
    reports, answers = services
    study_id, token, invitation_id = await study_with_open_link(services)
    async with client(answers) as http:
        form = await http.get(f"/q/{token}")
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]

    await close_fieldwork(reports, study_id)
    page = await closed_link(answers, token)
    async with client(answers) as http:
        posted = await http.post(f"/q/{token}", data={"csrf": csrf, **ANSWERS})

    assert "Het onderzoek is afgesloten" in page.text
    assert (posted.status_code, "Het onderzoek is afgesloten" in posted.text) == (410, True)
    assert await stored(answers, invitation_id) == 0


async def test_a_late_phone_interview_is_refused_with_the_closing_date(
    services: tuple[ServiceRuntime, ServiceRuntime],
) -> None:
    answers = services[1]
    invitation_id = await invitation_of_a_closed_study(services)

    async with client(answers, **CALLCENTRE) as http:
        status = (await http.get(f"/api/interviews/{invitation_id}")).json()["status"]
        late = await http.post(
            "/api/interviews",
            json={"invitation_id": str(invitation_id), "interviewer_id": "int-7", "answers": ANSWERS},
        )

    assert status == "fieldwork_closed"
    assert late.status_code == 410
    assert late.json()["problem_nl"].startswith("Het veldwerk van dit onderzoek is gesloten op 20")
    assert await stored(answers, invitation_id) == 0


async def test_a_late_paper_form_is_refused_in_the_row_report(
    services: tuple[ServiceRuntime, ServiceRuntime],
) -> None:
    answers = services[1]
    invitation_id = await invitation_of_a_closed_study(services)

    async with client(answers, **ADMIN) as http:
        response = await http.post(
            "/api/paper-imports",
            content=f"invitation_id;grade;recommend\n{invitation_id};8;ja\n".encode(),
            headers={"Content-Type": "text/csv"},
        )

    report = response.json()
    assert (report["rows_stored"], report["rows_rejected"]) == (0, 1)
    assert report["problems"][0]["problem_en"].startswith("Fieldwork of this study closed on")
    assert await stored(answers, invitation_id) == 0


async def test_once_final_the_reports_address_shows_the_final_report_and_later_scores_change_nothing(
    services: tuple[ServiceRuntime, ServiceRuntime],
) -> None:
    reports, _ = services
    study_id = f"bow-{uuid.uuid4().hex[:10]}"
    await publish(reports, snapshot(study_id))
    async with client(reports, **ADMIN) as http:

        async def live() -> bool:
            return "Tussenstand" in (await http.get(f"/reports/{study_id}/P001")).text

        await eventually(live)
        await close_fieldwork(reports, study_id, review_days=2 / 86400)  # final after two seconds

        async def final_versions() -> list[dict[str, object]] | None:
            rows: list[dict[str, object]] = (await http.get(f"/api/reports/{study_id}/P001/versions")).json()
            return rows if [r["status"] for r in rows] == ["draft", "final"] else None

        await eventually(final_versions, within=60)
        late = [snapshot(study_id, timedelta(minutes=m)) for m in (1, 2, 3)]
        await publish(reports, *late)
        await eventually(lambda: consumed(reports, late))
        await asyncio.sleep(3)  # past the debounce: a regeneration would have been written by now
        rows = (await http.get(f"/api/reports/{study_id}/P001/versions")).json()
        page = (await http.get(f"/reports/{study_id}/P001")).text

    assert [r["status"] for r in rows] == ["draft", "final"]
    assert "Definitief rapport" in page and "Tussenstand" not in page


async def test_a_provider_whose_first_scores_come_after_closing_gets_a_draft_not_an_interim_report(
    services: tuple[ServiceRuntime, ServiceRuntime],
) -> None:
    reports, _ = services
    study_id = f"bow-{uuid.uuid4().hex[:10]}"
    await close_fieldwork(reports, study_id)
    await publish(reports, snapshot(study_id, provider_id="P002"))
    async with client(reports, **ADMIN) as http:

        async def drafted() -> list[dict[str, object]] | None:
            rows: list[dict[str, object]] = (await http.get(f"/api/reports/{study_id}/P002/versions")).json()
            return rows or None

        rows = await eventually(drafted, within=60)
        page = (await http.get(f"/reports/{study_id}/P002")).text

    assert [r["status"] for r in rows] == ["draft"]
    assert "Conceptrapport" in page and "Tussenstand" not in page
