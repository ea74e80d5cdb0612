"""Waves over email, post and phone on the real database, broker and SMTP server.

A plan day lasts an hour here, so no reminder falls due during a test: what moves people on is
what the tests do (an SMTP fault, a bounce, a returned letter, a call outcome), and those move
them at once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.invitations import app as invitations
from shared.events import ResponseSubmitted, ResponseSubmittedPayload, Topics, encode_event, utc_now
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from shared.tokens import format_short_code, invitation_token, short_code
from tests.conftest import MakeSettings
from tests.polling import eventually
from tevreden.infra import LocalInfra

pytestmark = pytest.mark.integration
ADMIN = {"X-API-Key": "test-admin-key"}
CALLCENTRE = {"X-API-Key": "test-callcentre-key"}
HEADER = "client_ref,name,email,phone,street,house_number,postcode,city,service,learning_profile\n"


def wave_settings(make: MakeSettings, tmp: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "wave_day_seconds": 3600.0,
        "smtp_retry_after_seconds": 0.2,
        "smtp_timeout_seconds": 1.0,
        "email_rate_per_second": 0.0,
        "calling_hours_apply": False,
        "callcentre_api_key": "test-callcentre-key",
        "letter_dir": tmp / "letters",
    }
    settings = make(**(values | overrides))
    public = f"http://127.0.0.1:{settings.port_for('invitations')}"
    return settings.model_copy(update={"invitations_public_url": public})


@pytest.fixture(scope="module")
async def service(
    module_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceRuntime]:
    runtime = invitations.runtime(wave_settings(module_settings, tmp_path_factory.mktemp("waves")))
    await runtime.start()
    yield runtime
    await runtime.stop()


class Study:
    """One provider enrolled in its own BoW study, delivering over the provider API."""

    def __init__(self, service: ServiceRuntime, study_id: str, key: str) -> None:
        self.service = service
        self.study_id = study_id
        self.key = key

    @property
    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.service.settings.port_for('invitations')}")

    async def deliver(self, rows: str) -> None:
        async with self.http as http:
            response = await http.post(
                f"/api/studies/{self.study_id}/deliveries",
                content=(HEADER + rows).encode(),
                headers={"X-API-Key": self.key, "Content-Type": "text/csv"},
            )
        assert response.status_code == 201, response.text
        assert response.json()["rows_rejected"] == 0, response.text

    async def fetchval(self, sql: str, *args: Any) -> Any:
        ctx = self.service.ctx
        assert ctx is not None
        async with ctx.pool.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def invitation(self, ref: str) -> uuid.UUID:
        found: uuid.UUID = await self.fetchval(
            "SELECT i.invitation_id FROM invitations.invitations i"
            " JOIN invitations.contacts c USING (contact_id)"
            " WHERE c.study_id = $1 AND c.client_ref = $2",
            self.study_id,
            ref,
        )
        return found

    async def status(self, ref: str) -> str:
        value: str = await self.fetchval(
            "SELECT status FROM invitations.invitations WHERE invitation_id = $1", await self.invitation(ref)
        )
        return value

    async def outcomes(self, ref: str) -> list[tuple[str, str]]:
        ctx = self.service.ctx
        assert ctx is not None
        async with ctx.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT mode, outcome FROM invitations.approaches WHERE invitation_id = $1"
                " ORDER BY approach_id",
                await self.invitation(ref),
            )
        return [(r["mode"], r["outcome"]) for r in rows]


async def new_study(service: ServiceRuntime, **enrolment: Any) -> Study:
    study_id = f"bow-{uuid.uuid4().hex[:8]}"
    provider_id = f"P{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{service.settings.port_for('invitations')}"
    ) as http:
        (
            await http.post(
                "/api/studies",
                json={"study_id": study_id, "name": "BoW", "scheme_id": "bow", "year": 2026},
                headers=ADMIN,
            )
        ).raise_for_status()
        created = await http.post(
            "/api/providers", json={"provider_id": provider_id, "name": "Werkt Zwolle"}, headers=ADMIN
        )
        created.raise_for_status()
        body = {"provider_id": provider_id, "services": ["3", "11"]} | enrolment
        (await http.post(f"/api/studies/{study_id}/enrolments", json=body, headers=ADMIN)).raise_for_status()
    return Study(service, study_id, created.json()["api_key"])


async def logged_email(study: Study, infra: LocalInfra, to: str, external_id: str) -> str:
    """The Message-ID of the one email to ``to``, once the mailer has logged it as sent
    (the sink sees the email a moment before the mailer's transaction commits)."""
    await eventually(lambda: _has_mail(infra, to))

    async def logged() -> bool:
        return ("email", "sent") in await study.outcomes(external_id)

    await eventually(logged)
    (message_id,) = mails_to(infra, to)
    return message_id


def mails_to(infra: LocalInfra, address: str) -> list[str]:
    return [str(m.message["Message-ID"]) for m in infra.smtp.messages if m.message["To"] == address]


def address() -> str:
    return f"p-{uuid.uuid4().hex[:10]}@example.nl"


# --- email faults ----------------------------------------------------------------------------


async def test_an_smtp_451_is_retried_and_the_email_arrives_once(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    study = await new_study(service)
    to = address()
    attempts_before = infra.smtp.attempts
    infra.smtp.set_faults(["451 4.7.1 Try again later"])
    await study.deliver(f"A1,Anna,{to},,,,,,3,\n")
    await eventually(lambda: _has_mail(infra, to))
    await asyncio.sleep(0.5)
    assert len(mails_to(infra, to)) == 1
    assert infra.smtp.attempts - attempts_before >= 2
    assert await study.outcomes("A1") == [("email", "sent")]


async def _has_mail(infra: LocalInfra, to: str) -> bool:
    return bool(mails_to(infra, to))


async def test_an_smtp_550_makes_the_address_undeliverable_and_a_letter_follows(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    study = await new_study(service)
    infra.smtp.set_faults(["550 5.1.1 No such user"])
    await study.deliver(f"B1,Bram Bakker,{address()},,Kerkstraat,1,1234 AB,Zwolle,3,\n")

    async def letter_made() -> bool:
        return ("post", "sent") in await study.outcomes("B1")

    await eventually(letter_made)
    assert await study.outcomes("B1") == [("email", "undeliverable"), ("post", "sent")]
    async with study.http as http:
        waves = (await http.get("/api/letter-waves", headers=ADMIN)).json()
        manifests = {w["wave_id"]: await _manifest(http, w["wave_id"]) for w in waves}
        wave_id = next(wave for wave, text in manifests.items() if "Bram Bakker" in text)
        pdf = await http.get(f"/api/letter-waves/{wave_id}/letters.pdf", headers=ADMIN)
    assert pdf.content.startswith(b"%PDF")
    manifest = manifests[wave_id]
    code = format_short_code(short_code(await study.invitation("B1")))
    assert f"{code},Bram Bakker,Kerkstraat,1,1234 AB,Zwolle" in manifest


async def _manifest(http: httpx.AsyncClient, wave_id: int) -> str:
    return (await http.get(f"/api/letter-waves/{wave_id}/manifest.csv", headers=ADMIN)).text


async def test_a_silent_smtp_server_times_out_and_the_email_goes_once_it_answers(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    study = await new_study(service)
    to = address()
    infra.smtp.set_silent(True)
    try:
        await study.deliver(f"C1,Cor,{to},,,,,,3,\n")

        async def retried() -> bool:
            return (
                int(
                    await study.fetchval(
                        "SELECT email_retries FROM invitations.invitations WHERE invitation_id = $1",
                        await study.invitation("C1"),
                    )
                )
                >= 1
            )

        await eventually(retried)
        assert mails_to(infra, to) == []
    finally:
        infra.smtp.set_silent(False)
    await eventually(lambda: _has_mail(infra, to))
    await asyncio.sleep(0.5)
    assert len(mails_to(infra, to)) == 1
    assert await study.outcomes("C1") == [("email", "sent")]


async def test_a_late_bounce_moves_the_person_to_a_letter(service: ServiceRuntime, infra: LocalInfra) -> None:
    study = await new_study(service)
    to = address()
    await study.deliver(f"D1,Dirk,{to},,Dorpsstraat,2,1234 AB,Zwolle,3,\n")
    message_id = await logged_email(study, infra, to, "D1")
    dsn = (
        "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n--B\n"
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
        f"Final-Recipient: rfc822; {to}\nAction: failed\nStatus: 5.1.1\n\n--B\n"
        f"Content-Type: text/rfc822-headers\n\nMessage-ID: {message_id}\n\n--B--\n"
    )
    async with study.http as http:
        response = await http.post(
            "/api/bounces", content=dsn.encode(), headers=ADMIN | {"Content-Type": "multipart/report"}
        )
    assert response.json()["action"] == "next stage", response.text

    async def letter_made() -> bool:
        return ("post", "sent") in await study.outcomes("D1")

    await eventually(letter_made)
    assert await study.outcomes("D1") == [("email", "sent"), ("email", "undeliverable"), ("post", "sent")]


async def test_a_returned_letter_makes_someone_only_reachable_by_post_undeliverable(
    service: ServiceRuntime,
) -> None:
    study = await new_study(service)
    await study.deliver("E1,Els,,,Laan,3,1234 AB,Zwolle,3,\n")

    async def letter_made() -> bool:
        return await study.outcomes("E1") == [("post", "sent")]

    await eventually(letter_made)
    code = format_short_code(short_code(await study.invitation("E1")))
    async with study.http as http:
        response = await http.post(
            "/api/returned-mail",
            content=f"short_code,reason\n{code},verhuisd\nZZZZZ-ZZZZZ,onbekend\n".encode(),
            headers=ADMIN | {"Content-Type": "text/csv"},
        )
    assert response.json()["returned"] == 1 and response.json()["unknown"] == ["ZZZZZ-ZZZZZ"]
    assert await study.status("E1") == "undeliverable"


# --- restart mid-wave ----------------------------------------------------------------------


async def test_a_restart_in_the_middle_of_a_wave_emails_nobody_twice_and_skips_nobody(
    make_settings: MakeSettings, infra: LocalInfra, tmp_path: Path
) -> None:
    settings = wave_settings(make_settings, tmp_path, email_rate_per_second=150.0, email_batch_size=40)
    first = invitations.runtime(settings)
    await first.start()
    tag = uuid.uuid4().hex[:8]
    people = [f"r{n}x{tag}@example.nl" for n in range(400)]  # no digit group that could pass as a BSN
    try:  # a runtime left running would stay in the consumer group and hold partitions
        study = await new_study(first)
        await study.deliver("".join(f"R{n},Naam {n},{to},,,,,,3,\n" for n, to in enumerate(people)))
        await eventually(lambda: _some_sent(infra, tag, 60))
    finally:
        await first.stop()
    sent_before_restart = _count(infra, tag)
    assert sent_before_restart < len(people), "the wave finished before the restart; make it longer"
    second = invitations.runtime(settings)
    await second.start()
    try:
        await eventually(lambda: _some_sent(infra, tag, len(people)))
        await asyncio.sleep(0.5)
    finally:
        await second.stop()
    received = [m.message["To"] for m in infra.smtp.messages if tag in str(m.message["To"])]
    assert sorted(received) == sorted(people)


def _count(infra: LocalInfra, tag: str) -> int:
    return sum(1 for m in infra.smtp.messages if tag in str(m.message["To"]))


async def _some_sent(infra: LocalInfra, tag: str, at_least: int) -> bool:
    return _count(infra, tag) >= at_least


# --- phone -----------------------------------------------------------------------------------


async def next_calls(study: Study, agent: str = "agent-1", limit: int = 10) -> list[dict[str, Any]]:
    async with study.http as http:
        response = await http.post(
            "/api/calls/next", json={"agent_id": agent, "limit": limit}, headers=CALLCENTRE
        )
    response.raise_for_status()
    return [t for t in response.json()["tasks"] if t["study_id"] == study.study_id]


async def outcome(study: Study, task_id: str, disposition: str, **extra: Any) -> httpx.Response:
    async with study.http as http:
        return await http.post(
            f"/api/calls/{task_id}/outcome",
            json={"agent_id": "agent-1", "disposition": disposition} | extra,
            headers=CALLCENTRE,
        )


async def wait_for_tasks(study: Study, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    async def enough() -> bool:
        nonlocal found
        found += await next_calls(study)
        return len(found) >= count

    await eventually(enough)
    return found


async def test_the_callcentre_gets_call_tasks_and_reports_outcomes_until_the_bought_interviews_are_done(
    service: ServiceRuntime,
) -> None:
    study = await new_study(service, phone_option=True, phone_interviews=1)
    await study.deliver("F1,Fatima,,0612345678,,,,,3,\nF2,Frank,,0612345679,,,,,3,\n")
    tasks = {t["name"]: t for t in await wait_for_tasks(study, 2)}
    assert tasks["Fatima"]["phone"] == "+31612345678"
    assert await next_calls(study) == []  # leased to agent-1
    assert (await outcome(study, tasks["Frank"]["task_id"], "no_answer")).json()["state"] == "open"
    assert (await outcome(study, tasks["Fatima"]["task_id"], "complete")).json()["state"] == "completed"
    # One interview bought and done: Frank's task is cancelled; he stays in the net sample.
    await eventually(lambda: _status_is(study, "F2", "done"))
    assert await study.outcomes("F2") == [("phone", "no_answer")]
    async with study.http as http:
        costs = (
            await http.get(f"/api/studies/{study.study_id}/phone-costs", headers={"X-API-Key": study.key})
        ).json()
    assert costs[0]["interviews_completed"] == 1
    assert costs[0]["provider_pays_cents"] == 1250  # Blik op Werk pays half of the first 20


async def _status_is(study: Study, ref: str, status: str) -> bool:
    return await study.status(ref) == status


async def test_an_appointment_is_kept_and_comes_first_when_it_is_due(service: ServiceRuntime) -> None:
    study = await new_study(service, phone_option=True, phone_interviews=5)
    await study.deliver("G1,Gijs,,0612345670,,,,,3,\n")
    (task,) = await wait_for_tasks(study, 1)
    at = (utc_now() + timedelta(seconds=1.5)).isoformat()
    assert (await outcome(study, task["task_id"], "appointment", appointment_at=at)).status_code == 200
    assert await next_calls(study) == []
    (again,) = await wait_for_tasks(study, 1)
    assert again["task_id"] == task["task_id"] and again["appointment_at"] is not None


async def test_inburgering_clients_with_learning_profile_1_or_2_are_phoned_without_the_phone_option(
    service: ServiceRuntime,
) -> None:
    study = await new_study(service, phone_option=False)
    await study.deliver("H1,Hamid,,0612340000,,,,,11,2\n")
    (task,) = await wait_for_tasks(study, 1)
    assert task["low_threshold"] is True
    assert (await outcome(study, task["task_id"], "wrong_number")).json()["state"] == "closed"
    assert await study.status("H1") == "undeliverable"  # no other way to reach him


# --- opt-out ---------------------------------------------------------------------------------


async def test_opting_out_stops_the_letters_and_calls_not_yet_made(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    study = await new_study(service, phone_option=True, phone_interviews=5)
    to = address()
    await study.deliver(f"K1,Karin,{to},0612345611,Laan,9,1234 AB,Zwolle,3,\nK2,Kees,,0612345612,,,,,3,\n")
    await eventually(lambda: _has_mail(infra, to))
    mail = next(m.message for m in infra.smtp.messages if m.message["To"] == to)
    link = str(mail["List-Unsubscribe"]).strip("<>")
    (task,) = await wait_for_tasks(study, 1)  # Kees, phone only
    secret = service.settings.token_secret.get_secret_value().encode()
    async with httpx.AsyncClient() as http:
        assert (await http.get(link)).status_code == 200
        assert (await http.post(link, content=b"List-Unsubscribe=One-Click")).status_code == 200
        kees = invitation_token(secret, await study.invitation("K2"))
        assert (await http.post(link.rsplit("/", 1)[0] + f"/{kees}")).status_code == 200
    assert await study.status("K1") == "opted_out"
    assert (
        await study.fetchval(
            "SELECT next_attempt_due_at FROM invitations.invitations WHERE invitation_id = $1",
            await study.invitation("K1"),
        )
        is None
    )  # no reminder, no letter, no call
    assert (await outcome(study, task["task_id"], "no_answer")).status_code == 409
    assert await next_calls(study) == []


async def test_a_bounce_reported_as_json_counts_once_and_an_unknown_message_id_is_404(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    study = await new_study(service)
    to = address()
    await study.deliver(f"M1,Mila,{to},,,,,,3,\n")
    message_id = await logged_email(study, infra, to, "M1")
    async with study.http as http:
        first = await http.post(
            "/api/bounces", json={"message_id": message_id, "status": "5.2.2"}, headers=ADMIN
        )
        again = await http.post(
            "/api/bounces", json={"message_id": message_id, "status": "5.2.2"}, headers=ADMIN
        )
        unknown = await http.post(
            "/api/bounces",
            json={"message_id": "<nobody.1@tevreden.example>", "status": "5.1.1"},
            headers=ADMIN,
        )
    assert (first.json()["action"], again.json()["action"], unknown.status_code) == (
        "next stage",
        "already recorded",
        404,
    )
    assert await study.status("M1") == "undeliverable"  # email was her only way


async def test_the_outcome_of_an_interview_that_arrived_first_is_still_recorded(
    service: ServiceRuntime,
) -> None:
    study = await new_study(service, phone_option=True, phone_interviews=5)
    await study.deliver("N1,Nina,,0612345690,,,,,3,\n")
    (task,) = await wait_for_tasks(study, 1)
    ctx = service.ctx
    assert ctx is not None
    event = ResponseSubmitted(
        payload=ResponseSubmittedPayload(
            response_id=uuid.uuid4(),
            invitation_id=uuid.UUID(task["invitation_id"]),
            study_id=study.study_id,
            provider_id=task["provider_id"],
            service_code="3",
            questionnaire_id="bow-client-regular",
            questionnaire_version=1,
            mode="phone",
            answers={},
            usable=True,
            submitted_at=utc_now(),
        )
    )
    await ctx.broker.publish(
        encode_event(event), Topics.RESPONSES_SUBMITTED, key=task["provider_id"].encode()
    )
    await eventually(lambda: _status_is(study, "N1", "responded"))
    response = await outcome(study, task["task_id"], "complete")
    assert response.status_code == 200 and response.json()["state"] == "completed"
    assert await study.outcomes("N1") == [("phone", "complete")]


async def test_an_address_that_keeps_answering_4xx_is_undeliverable_after_the_last_retry(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    study = await new_study(service)
    to = address()
    infra.smtp.set_faults(["452 4.2.2 Mailbox full"] * (service.settings.smtp_max_retries + 1))
    await study.deliver(f"Q1,Quinten,{to},,,,,,3,\n")
    await eventually(lambda: _status_is(study, "Q1", "undeliverable"))
    assert mails_to(infra, to) == []
    assert await study.outcomes("Q1") == [("email", "undeliverable")]
