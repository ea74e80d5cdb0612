"""The invitations service on the real database, broker and SMTP server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.invitations import app as invitations
from shared.events import ResponseSubmitted, ResponseSubmittedPayload, Topics, encode_event, utc_now
from shared.runtime import ServiceContext, ServiceRuntime
from tests.conftest import MakeSettings
from tests.polling import DEADLINE
from tevreden.infra import LocalInfra

pytestmark = pytest.mark.integration
ADMIN = {"X-API-Key": "test-admin-key"}


@pytest.fixture
async def service(make_settings: MakeSettings) -> AsyncIterator[ServiceRuntime]:
    runtime = invitations.runtime(make_settings(reminder_after_seconds=1.5, max_reminders=1))
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture
async def provider_key(service: ServiceRuntime) -> str:
    async with client(service) as http:
        (
            await http.post("/api/studies", json={"study_id": "bow-2026", "name": "BoW"}, headers=ADMIN)
        ).raise_for_status()
        created = await http.post(
            "/api/providers", json={"provider_id": "P1", "name": "Werkt Zwolle"}, headers=ADMIN
        )
        (
            await http.post(
                "/api/studies/bow-2026/enrolments",
                json={"provider_id": "P1", "services": ["3"]},
                headers=ADMIN,
            )
        ).raise_for_status()
    return str(created.json()["api_key"])


def client(service: ServiceRuntime) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.settings.port_for('invitations')}")


async def deliver(service: ServiceRuntime, key: str, csv: str) -> httpx.Response:
    async with client(service) as http:
        return await http.post(
            "/api/studies/bow-2026/deliveries",
            content=csv.encode(),
            headers={"X-API-Key": key, "Content-Type": "text/csv"},
        )


def mails_to(infra: LocalInfra, address: str) -> list[str]:
    return [str(m.message["Message-ID"]) for m in infra.smtp.messages if m.message["To"] == address]


async def wait_for_mails(infra: LocalInfra, address: str, count: int, timeout: float = DEADLINE) -> list[str]:
    async with asyncio.timeout(timeout):
        while len(mails_to(infra, address)) < count:
            await asyncio.sleep(0.1)
    return mails_to(infra, address)


async def test_a_delivery_with_bad_rows_keeps_the_good_ones_and_reports_each_bad_row(
    service: ServiceRuntime, provider_key: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    csv = f"client_ref,name,email,service\nA1,Anna,anna-{tag}@example.nl,3\nA2,Bram,nope,3\nA3,Cor,,3\n"
    response = await deliver(service, provider_key, csv)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["rows_total"], body["rows_accepted"], body["rows_rejected"]) == (3, 1, 2)
    assert [(p["row"], p["column"]) for p in body["problems"]] == [(3, "email"), (4, "email")]


async def test_every_accepted_contact_is_emailed_a_personal_link(
    service: ServiceRuntime, provider_key: str, infra: LocalInfra
) -> None:
    address = f"anna-{uuid.uuid4().hex[:8]}@example.nl"
    await deliver(service, provider_key, f"client_ref,name,email,service\nA1,Anna,{address},3\n")
    await wait_for_mails(infra, address, 1)
    mail = next(m for m in infra.smtp.messages if m.message["To"] == address).message
    assert "/q/" in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert mail["List-Unsubscribe"]


async def test_a_delivery_with_a_bsn_column_is_refused_and_nothing_is_stored(
    service: ServiceRuntime, provider_key: str
) -> None:
    response = await deliver(
        service, provider_key, "client_ref,bsn,email,service\nA1,111222333,a@example.nl,3\n"
    )
    assert response.status_code == 422
    assert "BSN" in response.json()["detail"][0]["msg"]
    ctx = service.ctx
    assert ctx is not None
    async with ctx.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM invitations.contacts") == 0
        assert await conn.fetchval("SELECT count(*) FROM invitations.deliveries") == 0


async def test_an_unknown_api_key_is_refused(service: ServiceRuntime) -> None:
    response = await deliver(service, "wrong", "client_ref,email,service\n")
    assert response.status_code == 401


async def test_people_who_do_not_answer_get_one_reminder_and_people_who_answered_none(
    service: ServiceRuntime, provider_key: str, infra: LocalInfra
) -> None:
    tag = uuid.uuid4().hex[:8]
    silent, answering = f"silent-{tag}@example.nl", f"answers-{tag}@example.nl"
    await deliver(service, provider_key, f"client_ref,email,service\nS1,{silent},3\nS2,{answering},3\n")
    await wait_for_mails(infra, answering, 1)
    await _respond(service.ctx, answering)
    assert len(await wait_for_mails(infra, silent, 2)) == 2
    await asyncio.sleep(2.0)  # past the reminder time of the one who answered
    assert len(mails_to(infra, answering)) == 1
    assert len(mails_to(infra, silent)) == 2  # the plan has one reminder, never more


async def _respond(ctx: ServiceContext | None, address: str) -> None:
    """What the responses service publishes when this person answers."""
    assert ctx is not None
    async with ctx.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT i.invitation_id, i.study_id, i.provider_id FROM invitations.invitations i"
            " JOIN invitations.contacts c USING (contact_id) WHERE c.email = $1",
            address,
        )
    event = ResponseSubmitted(
        payload=ResponseSubmittedPayload(
            response_id=uuid.uuid4(),
            invitation_id=row["invitation_id"],
            study_id=row["study_id"],
            provider_id=row["provider_id"],
            service_code="3",
            questionnaire_id="minimal-v1",
            questionnaire_version=1,
            mode="web",
            answers={"grade": 8},
            usable=True,
            submitted_at=utc_now(),
        )
    )
    await ctx.broker.publish(encode_event(event), Topics.RESPONSES_SUBMITTED, key=b"P1")
    async with asyncio.timeout(DEADLINE):
        while True:
            async with ctx.pool.acquire() as conn:
                status = await conn.fetchval(
                    "SELECT status FROM invitations.invitations WHERE invitation_id = $1",
                    row["invitation_id"],
                )
            if status == "responded":
                return
            await asyncio.sleep(0.1)


async def test_a_bsn_in_a_row_is_refused_and_appears_neither_in_the_database_nor_in_the_logs(
    service: ServiceRuntime, provider_key: str, capfd: pytest.CaptureFixture[str]
) -> None:
    bsn = "111222333"
    tag = uuid.uuid4().hex[:8]
    csv = f"client_ref,name,email,service\nB1,{bsn},b-{tag}@example.nl,3\nB2,Bram,c-{tag}@example.nl,3\n"
    response = await deliver(service, provider_key, csv)
    assert response.json()["rows_accepted"] == 1
    assert bsn not in response.text
    ctx = service.ctx
    assert ctx is not None
    async with ctx.pool.acquire() as conn:
        dump = await conn.fetchval(
            "SELECT string_agg(t::text, ' ') FROM (SELECT * FROM invitations.contacts) t"
        ) + await conn.fetchval("SELECT string_agg(problems::text, ' ') FROM invitations.deliveries")
        outbox = await conn.fetchval(
            "SELECT string_agg(convert_from(body, 'UTF8'), ' ') FROM invitations.outbox"
        )
    assert bsn not in dump
    assert bsn not in (outbox or "")
    captured = capfd.readouterr()
    assert bsn not in captured.out + captured.err
