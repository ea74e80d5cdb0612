"""Hostile and broken input against the running invitations service (issue 15): the SMTP sink,
the HTTP API and the database are the real ones."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from services.invitations import app as invitations
from services.invitations import service as invitations_service
from services.invitations.mailer import Mailer
from shared.runtime import ServiceRuntime
from shared.tokens import invitation_token
from tests.conftest import MakeSettings
from tests.integration.test_invitations_service import client
from tevreden.infra import LocalInfra

pytestmark = pytest.mark.integration
ADMIN = {"X-API-Key": "test-admin-key"}


@pytest.fixture
async def service(make_settings: MakeSettings) -> AsyncIterator[ServiceRuntime]:
    # The schedulers poll once at start and then rarely: a test sends its own email round.
    runtime = invitations.runtime(make_settings(scheduler_poll_seconds=600, max_reminders=1))
    await runtime.start()
    yield runtime
    await runtime.stop()


async def deliver(
    service: ServiceRuntime, key: str, content: bytes, kind: str = "text/csv", study_id: str = "bow-2026"
) -> httpx.Response:
    async with client(service) as http:
        return await http.post(
            f"/api/studies/{study_id}/deliveries",
            content=content,
            headers={"X-API-Key": key, "Content-Type": kind},
        )


async def accepted(service: ServiceRuntime, key: str, content: bytes) -> dict[str, Any]:
    """The delivery's report, once it was taken (201)."""
    response = await deliver(service, key, content)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def enrolled_provider(service: ServiceRuntime, study: dict[str, object], **enrolment: object) -> str:
    """A study, a provider enrolled in it in service 3: the provider's key."""
    provider_id = f"P{uuid.uuid4().hex[:8]}"
    async with client(service) as http:
        (await http.post("/api/studies", json=study, headers=ADMIN)).raise_for_status()
        created = await http.post(
            "/api/providers", json={"provider_id": provider_id, "name": "Werkt"}, headers=ADMIN
        )
        created.raise_for_status()
        enrol = {"provider_id": provider_id, "services": ["3"]} | enrolment
        (
            await http.post(f"/api/studies/{study['study_id']}/enrolments", json=enrol, headers=ADMIN)
        ).raise_for_status()
    return str(created.json()["api_key"])


@pytest.fixture
async def provider_key(service: ServiceRuntime) -> str:
    """A provider in a study without a scheme (email only)."""
    return await enrolled_provider(service, {"study_id": "bow-2026", "name": "Studie"})


async def bow_study(service: ServiceRuntime, **enrolment: object) -> str:
    """A provider in a Blik op Werk 2026 study (its wave plan has letters and calls): its key."""
    return await enrolled_provider(
        service, {"study_id": "bow", "name": "BoW", "scheme_id": "bow", "year": 2026}, **enrolment
    )


async def test_one_unsendable_address_fails_only_its_own_message_and_the_rest_are_recorded_as_sent(
    service: ServiceRuntime, provider_key: str, infra: LocalInfra
) -> None:
    tag = uuid.uuid4().hex[:8]
    good = [f"goed{n}-{tag}@example.nl" for n in range(3)]
    rows = "".join(f"G{n},Goed {n},{address},3\n" for n, address in enumerate(good))
    response = await deliver(
        service, provider_key, f"client_ref,name,email,service\nB1,Bad,b-{tag}@example.nl,3\n{rows}".encode()
    )
    assert response.status_code == 201, response.text
    settings = service.settings
    conn = await asyncpg.connect(settings.database_url)
    try:
        # An address the intake of old let through: a control character aiosmtplib refuses.
        await conn.execute(
            "UPDATE invitations.contacts SET email = $1 WHERE client_ref = 'B1'", f"bad\x01x-{tag}@example.nl"
        )
        mailer = Mailer(settings)
        try:
            attempted = await invitations_service.send_due_emails(service.ctx.pool, settings, mailer)  # type: ignore[union-attr]
        finally:
            await mailer.close()
        assert attempted == 4
        statuses: dict[str, str] = {
            r["client_ref"]: r["status"]
            for r in await conn.fetch(
                "SELECT c.client_ref, i.status FROM invitations.invitations i JOIN invitations.contacts c"
                " USING (contact_id)"
            )
        }
        reasons = await conn.fetch("SELECT outcome, smtp_reply FROM invitations.email_log ORDER BY outcome")
    finally:
        await conn.close()
    received = {m.message["To"] for m in infra.smtp.messages}
    assert set(good) <= received
    assert statuses == {"B1": "undeliverable", "G0": "sent", "G1": "sent", "G2": "sent"}
    assert [r["outcome"] for r in reasons] == ["sent", "sent", "sent", "undeliverable"]
    assert "not sendable" in reasons[-1]["smtp_reply"]


async def test_a_nul_in_an_email_cell_refuses_that_row_and_keeps_the_others(
    service: ServiceRuntime, provider_key: str
) -> None:
    content = b"client_ref,name,email,service\nA1,Anna,an\x00na@example.nl,3\nA2,Bram,bram@example.nl,3\n"
    body = await accepted(service, provider_key, content)
    assert body["rows_accepted"] == 1
    assert [(p["row"], p["column"]) for p in body["problems"]] == [(2, "email")]


async def test_a_nul_in_an_extra_columns_header_ignores_that_column_with_a_reason_and_keeps_the_rows(
    service: ServiceRuntime, provider_key: str
) -> None:
    content = b"client_ref,name,email,service,opmer\x00king\nA1,Anna,anna@example.nl,3,x\n"
    body = await accepted(service, provider_key, content)
    assert body["rows_accepted"] == 1
    (ignored,) = body["ignored_columns"]
    assert "\x00" not in ignored
    assert "stuurtekens" in ignored and "control characters" in ignored


async def test_a_bsn_with_slashes_inside_a_name_is_refused_and_not_stored_or_echoed(
    service: ServiceRuntime, provider_key: str
) -> None:
    content = (
        "client_ref,name,email,service\nA1,Jan 111/222/333,jan@example.nl,3\nA2,Bram,bram@example.nl,3\n"
    )
    response = await deliver(service, provider_key, content.encode())
    assert response.status_code == 201, response.text
    assert response.json()["rows_accepted"] == 1
    assert "111" not in response.text
    conn = await asyncpg.connect(service.settings.database_url)
    try:
        stored = await conn.fetch("SELECT name FROM invitations.contacts")
        deliveries = await conn.fetchval(
            "SELECT count(*) FROM invitations.deliveries WHERE problems::text LIKE '%111%'"
        )
    finally:
        await conn.close()
    assert [r["name"] for r in stored] == ["Bram"]
    assert deliveries == 0


async def test_the_mail_house_manifest_neutralises_names_and_addresses_that_start_a_formula(
    service: ServiceRuntime,
) -> None:
    key = await bow_study(service)
    content = (
        "client_ref,name,street,house_number,postcode,city,service\n"
        'A1,"=HYPERLINK(""http://x"")",+cmd|\' /C calc\'!A0,1,1234 AB,@SUM(1+1),3\n'
        "A2,-Bram,Kerkstraat,2,1234 AB,Zwolle,3\n"
    )
    response = await deliver(service, key, content.encode(), study_id="bow")
    assert response.status_code == 201, response.text
    assert response.json()["rows_accepted"] == 2
    wave_id = await invitations_service.make_letter_wave(service.ctx.pool, service.settings)  # type: ignore[union-attr]
    async with client(service) as http:
        manifest = await http.get(f"/api/letter-waves/{wave_id}/manifest.csv", headers=ADMIN)
    rows = list(csv.reader(io.StringIO(manifest.text)))[1:]
    cells = [cell for row in rows for cell in row[3:]]
    assert '\'=HYPERLINK("http://x")' in cells
    assert "'+cmd|' /C calc'!A0" in cells
    assert "'@SUM(1+1)" in cells
    assert "'-Bram" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


async def test_a_group_or_comment_address_is_refused_with_a_reason_and_the_plain_one_kept(
    service: ServiceRuntime, provider_key: str
) -> None:
    content = (
        'client_ref,name,email,service\nA1,Anna,"grp:""x""@example.nl",3\n'
        "A2,Bram,x(comment)y@example.nl,3\nA3,Cor,cor@example.nl,3\n"
    )
    body = await accepted(service, provider_key, content.encode())
    assert body["rows_accepted"] == 1
    assert [(p["row"], p["column"]) for p in body["problems"]] == [(2, "email"), (3, "email")]


async def test_a_utf8_file_with_a_stray_latin1_byte_keeps_the_other_rows_in_utf8(
    service: ServiceRuntime, provider_key: str
) -> None:
    content = "client_ref,name,email,service\nA1,Renée,renee@example.nl,3\n".encode() + (
        b"A2,Ren\xe9,rene@example.nl,3\n"
    )
    body = await accepted(service, provider_key, content)
    assert body["rows_accepted"] == 1
    assert [(p["row"], p["column"]) for p in body["problems"]] == [(3, "name")]
    conn = await asyncpg.connect(service.settings.database_url)
    try:
        assert await conn.fetchval("SELECT name FROM invitations.contacts") == "Renée"
    finally:
        await conn.close()


async def test_an_xlsx_with_an_entity_bomb_is_refused_with_422_and_a_clear_message(
    service: ServiceRuntime, provider_key: str
) -> None:
    from tests.unit.test_intake import xlsx_with_sheet_xml

    bomb = "".join(f'<!ENTITY e{n} "{f"&e{n - 1};" * 10 if n else "x" * 10}">' for n in range(6))
    content = xlsx_with_sheet_xml(f"<!DOCTYPE w [{bomb}]>", "&e5;")
    kind = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = await deliver(service, provider_key, content, kind)
    assert response.status_code == 422, response.text
    assert "XML entities" in response.text


async def emailed(service: ServiceRuntime, key: str, address: str) -> str:
    """Deliver one client with ``address``, send the email round; the Message-ID sent."""
    content = f"client_ref,name,email,service\nA1,Anna,{address},3\n"
    assert (await deliver(service, key, content.encode())).status_code == 201
    mailer = Mailer(service.settings)
    try:
        await invitations_service.send_due_emails(service.ctx.pool, service.settings, mailer)  # type: ignore[union-attr]
    finally:
        await mailer.close()
    conn = await asyncpg.connect(service.settings.database_url)
    try:
        return str(await conn.fetchval("SELECT message_id FROM invitations.email_log WHERE outcome = 'sent'"))
    finally:
        await conn.close()


async def post_bounce(service: ServiceRuntime, raw: bytes) -> httpx.Response:
    async with client(service) as http:
        return await http.post(
            "/api/bounces", content=raw, headers=ADMIN | {"Content-Type": "message/rfc822"}
        )


async def test_a_dsn_with_a_status_comment_and_returned_headers_finds_the_email_by_its_message_id(
    service: ServiceRuntime, provider_key: str
) -> None:
    message_id = await emailed(service, provider_key, "anna@example.nl")
    dsn = (
        "From: MAILER-DAEMON@mx.example\nTo: onderzoek@tevreden.example\nSubject: Undelivered\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=B\n\n--B\n"
        "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
        "Final-Recipient: rfc822; anna@example.nl\nAction: failed\n"
        "Status: 5.1.1 (bad destination mailbox address)\n\n--B\n"
        "Content-Type: text/rfc822-headers\n\n"
        "From: Onderzoek <onderzoek@tevreden.example>\nTo: <anna@example.nl>\n"
        f"Message-ID: {message_id}\n\n--B--\n"
    )
    response = await post_bounce(service, dsn.encode())
    assert response.status_code == 200, response.text
    assert response.json()["action"] == "next stage"


async def test_a_real_postfix_bounce_without_a_message_id_finds_the_email_by_the_failed_address(
    service: ServiceRuntime, provider_key: str
) -> None:
    from tests.unit.test_bounces import CORPUS

    await emailed(service, provider_key, "xxxxx@local.ie")  # the address postfix_01.txt names
    response = await post_bounce(service, (CORPUS / "postfix_01.txt").read_bytes())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["matched_by"] == "address"
    assert [r["action"] for r in body["invitations"]] == ["next stage"]


async def issued_phone_allowed(service: ServiceRuntime) -> dict[str, bool | None]:
    conn = await asyncpg.connect(service.settings.database_url)
    try:
        bodies = await conn.fetch("SELECT body FROM invitations.outbox WHERE topic = 'invitations.issued'")
        refs: dict[str, str] = {
            r["invitation_id"]: r["client_ref"]
            for r in await conn.fetch(
                "SELECT i.invitation_id::text, c.client_ref"
                " FROM invitations.invitations i JOIN invitations.contacts c USING (contact_id)"
            )
        }
    finally:
        await conn.close()
    payloads = [json.loads(row["body"])["payload"] for row in bodies]
    return {refs[p["invitation_id"]]: p.get("phone_allowed") for p in payloads}


async def test_an_issued_invitation_says_whether_the_callcentre_may_phone_the_person(
    service: ServiceRuntime,
) -> None:
    key = await bow_study(service, phone_option=True)
    content = (
        "client_ref,name,email,phone,service\n"
        "A1,Anna,anna@example.nl,,3\n"  # email only
        "A2,Bram,bram@example.nl,0612345678,3\n"  # a number, and the provider has the phone option
    )
    response = await deliver(service, key, content.encode(), study_id="bow")
    assert response.status_code == 201, response.text
    assert await issued_phone_allowed(service) == {"A1": False, "A2": True}


async def test_without_the_phone_option_no_issued_invitation_may_be_phoned(service: ServiceRuntime) -> None:
    key = await bow_study(service)
    content = "client_ref,name,email,phone,service\nA1,Anna,anna@example.nl,0612345678,3\n"
    response = await deliver(service, key, content.encode(), study_id="bow")
    assert response.status_code == 201, response.text
    assert await issued_phone_allowed(service) == {"A1": False}


async def test_the_opt_out_link_carries_its_own_token_not_the_questionnaire_token(
    service: ServiceRuntime, provider_key: str, infra: LocalInfra
) -> None:
    tag = uuid.uuid4().hex[:8]
    await emailed(service, provider_key, f"optout-{tag}@example.nl")
    (mail,) = [m for m in infra.smtp.messages if m.message["To"] == f"optout-{tag}@example.nl"]
    optout = str(mail.message["List-Unsubscribe"]).strip("<>")
    body = mail.message.get_body(("plain",))
    assert body is not None
    questionnaire_token = re.search(r"/q/([\w-]+)", body.get_content()).group(1)  # type: ignore[union-attr]
    opt_out_token = optout.rsplit("/", 1)[1]
    assert questionnaire_token not in optout
    async with client(service) as http:
        done = await http.post(f"/afmelden/{opt_out_token}")
    assert done.status_code == 200, done.text
    assert "U bent afgemeld" in done.text


async def test_an_opt_out_link_sent_with_the_questionnaire_token_keeps_working(
    service: ServiceRuntime, provider_key: str
) -> None:
    response = await deliver(
        service, provider_key, b"client_ref,name,email,service\nA1,Anna,anna@example.nl,3\n"
    )
    assert response.status_code == 201
    conn = await asyncpg.connect(service.settings.database_url)
    try:
        invitation_id = await conn.fetchval("SELECT invitation_id FROM invitations.invitations")
    finally:
        await conn.close()
    old_link_token = invitation_token(
        service.settings.token_secret.get_secret_value().encode(), invitation_id
    )
    async with client(service) as http:
        done = await http.post(f"/afmelden/{old_link_token}")
    assert done.status_code == 200, done.text


async def test_the_opt_out_page_forbids_framing_and_sends_the_questionnaires_security_headers(
    service: ServiceRuntime,
) -> None:
    async with client(service) as http:
        page = await http.get(f"/afmelden/{'x' * 64}")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


async def test_too_many_opt_out_requests_from_one_address_get_429(make_settings: MakeSettings) -> None:
    runtime = invitations.runtime(
        make_settings(questionnaire_rate_per_second=0.01, questionnaire_rate_burst=3)
    )
    await runtime.start()
    try:
        # uvicorn trusts X-Forwarded-For from 127.0.0.1, as from a proxy on the same host.
        port = runtime.settings.port_for("invitations")
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers={"X-Forwarded-For": "198.51.100.7"}
        ) as http:
            answers = [await http.post(f"/afmelden/{'x' * 64}") for _ in range(5)]
    finally:
        await runtime.stop()
    assert [a.status_code for a in answers] == [404, 404, 404, 429, 429]
    assert int(answers[3].headers["Retry-After"]) >= 1
