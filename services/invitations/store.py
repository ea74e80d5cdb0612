"""All SQL of the invitations service."""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

import asyncpg

from services.invitations.domain import (
    BUYER_TYPES,
    Contact,
    ContactKey,
    EmailKey,
    Enrolment,
    RowProblem,
    ServiceAccount,
    Study,
)
from shared.db import Connection
from shared.events import Event
from shared.outbox import add_to_outbox
from shared.tokens import token_hash

SCHEMA = "invitations"


async def create_provider(conn: Connection, provider_id: str, name: str, api_key: str) -> None:
    await conn.execute(
        "INSERT INTO invitations.providers (provider_id, name, api_key_hash) VALUES ($1, $2, $3)",
        provider_id,
        name,
        token_hash(api_key),
    )


async def list_providers(conn: Connection) -> list[dict[str, str]]:
    """Every provider's id and name (never its key hash)."""
    rows = await conn.fetch("SELECT provider_id, name FROM invitations.providers ORDER BY name, provider_id")
    return [dict(r) for r in rows]


async def provider_for_key(conn: Connection, api_key: str) -> str | None:
    provider_id: str | None = await conn.fetchval(
        "SELECT provider_id FROM invitations.providers WHERE api_key_hash = $1", token_hash(api_key)
    )
    return provider_id


async def provider_exists(conn: Connection, provider_id: str) -> bool:
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM invitations.providers WHERE provider_id = $1)", provider_id
    )
    return found


async def create_study(conn: Connection, study: Study) -> None:
    await conn.execute(
        "INSERT INTO invitations.studies"
        " (study_id, name, questionnaire_id, scheme_id, year, period_start, period_end)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        study.study_id,
        study.name,
        study.questionnaire_id,
        study.scheme_id,
        study.year,
        study.period_start,
        study.period_end,
    )


_STUDY_COLUMNS = "study_id, name, scheme_id, questionnaire_id, year, period_start, period_end"


def _study(row: asyncpg.Record) -> Study:
    return Study(**dict(row))


async def get_study(conn: Connection, study_id: str) -> Study | None:
    row = await conn.fetchrow(
        f"SELECT {_STUDY_COLUMNS} FROM invitations.studies WHERE study_id = $1", study_id
    )
    return _study(row) if row is not None else None


async def list_studies(conn: Connection, provider_id: str | None) -> list[Study]:
    """Every study (provider_id None), or the studies the provider is enrolled in."""
    rows = await conn.fetch(
        f"SELECT {_STUDY_COLUMNS} FROM invitations.studies s"
        " WHERE $1::text IS NULL OR EXISTS (SELECT 1 FROM invitations.enrolments e"
        "   WHERE e.study_id = s.study_id AND e.provider_id = $1)"
        " ORDER BY study_id",
        provider_id,
    )
    return [_study(r) for r in rows]


_ENROLMENT_COLUMNS = (
    "study_id, provider_id, services, phone_option, phone_interviews, group_variants, sample_sizes,"
    " recognition_date, period_start, period_end"
)


def _enrolment(row: asyncpg.Record) -> Enrolment:
    values = dict(row)
    values["services"] = tuple(values["services"])
    return Enrolment(**values)


async def save_enrolment(conn: Connection, enrolment: Enrolment, *, new: bool) -> None:
    """Insert a new enrolment (UniqueViolationError when it exists) or replace an existing one."""
    values = (
        enrolment.study_id,
        enrolment.provider_id,
        list(enrolment.services),
        enrolment.phone_option,
        enrolment.phone_interviews,
        dict(enrolment.group_variants),
        dict(enrolment.sample_sizes),
        enrolment.recognition_date,
        enrolment.period_start,
        enrolment.period_end,
    )
    if new:
        await conn.execute(
            f"INSERT INTO invitations.enrolments ({_ENROLMENT_COLUMNS})"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            *values,
        )
    else:
        await conn.execute(
            "UPDATE invitations.enrolments SET services = $3, phone_option = $4, phone_interviews = $5,"
            " group_variants = $6, sample_sizes = $7, recognition_date = $8, period_start = $9,"
            " period_end = $10, updated_at = now() WHERE study_id = $1 AND provider_id = $2",
            *values,
        )


async def get_enrolment(conn: Connection, study_id: str, provider_id: str) -> Enrolment | None:
    row = await conn.fetchrow(
        f"SELECT {_ENROLMENT_COLUMNS} FROM invitations.enrolments WHERE study_id = $1 AND provider_id = $2",
        study_id,
        provider_id,
    )
    return _enrolment(row) if row is not None else None


async def list_enrolments(
    conn: Connection, *, study_id: str | None = None, provider_id: str | None = None
) -> list[Enrolment]:
    rows = await conn.fetch(
        f"SELECT {_ENROLMENT_COLUMNS} FROM invitations.enrolments"
        " WHERE ($1::text IS NULL OR study_id = $1) AND ($2::text IS NULL OR provider_id = $2)"
        " ORDER BY study_id, provider_id",
        study_id,
        provider_id,
    )
    return [_enrolment(r) for r in rows]


async def known_duplicates(
    conn: Connection,
    study_id: str,
    provider_id: str,
    client_refs: Collection[ContactKey],
    email_services: Collection[EmailKey],
) -> tuple[set[ContactKey], set[EmailKey]]:
    """Which of a delivery's (reference, period) and (email, service, period) keys were delivered
    before (a person once per jobcoach period; "" outside jobcoach studies)."""
    refs = await conn.fetch(
        "SELECT c.client_ref, c.jobcoach_period FROM invitations.contacts c"
        " JOIN unnest($3::text[], $4::text[]) AS t(client_ref, jobcoach_period)"
        "   ON c.client_ref = t.client_ref AND c.jobcoach_period = t.jobcoach_period"
        " WHERE c.study_id = $1 AND c.provider_id = $2",
        study_id,
        provider_id,
        [r for r, _ in client_refs],
        [p for _, p in client_refs],
    )
    emails = await conn.fetch(
        "SELECT c.email, c.service_code, c.jobcoach_period FROM invitations.contacts c"
        " JOIN unnest($3::text[], $4::text[], $5::text[]) AS t(email, service_code, jobcoach_period)"
        "   ON c.email = t.email AND c.service_code = t.service_code"
        "   AND c.jobcoach_period = t.jobcoach_period"
        " WHERE c.study_id = $1 AND c.provider_id = $2",
        study_id,
        provider_id,
        [e for e, _, _ in email_services],
        [s for _, s, _ in email_services],
        [p for _, _, p in email_services],
    )
    return (
        {(r["client_ref"], r["jobcoach_period"]) for r in refs},
        {(r["email"], r["service_code"], r["jobcoach_period"]) for r in emails},
    )


async def invited_clients_by_service(conn: Connection, study_id: str, provider_id: str) -> dict[str, int]:
    """Clients invited so far per service: what earlier deliveries put in the net sample.

    Everyone but opdrachtgevers and werkgevers: the respondent types that are sampled.
    """
    rows = await conn.fetch(
        "SELECT service_code, count(*) AS n FROM invitations.contacts"
        " WHERE study_id = $1 AND provider_id = $2 AND status = 'accepted'"
        " AND respondent_type <> ALL($3::text[]) GROUP BY service_code",
        study_id,
        provider_id,
        sorted(BUYER_TYPES),
    )
    return {r["service_code"]: r["n"] for r in rows}


async def lock_provider_deliveries(conn: Connection, study_id: str, provider_id: str) -> None:
    """Serialise two deliveries of one provider, so their duplicate check sees each other."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{study_id}/{provider_id}")


_CONTACT_COLUMNS = [
    "contact_id",
    "study_id",
    "provider_id",
    "delivery_id",
    "row_number",
    "status",
    "client_ref",
    "name",
    "email",
    "phone",
    "street",
    "house_number",
    "postcode",
    "city",
    "organisation",
    "service_code",
    "respondent_type",
    "client_group",
    "variant",
    "learning_profile",
    "end_date",
    "jobcoach_period",
]


async def record_delivery(
    conn: Connection,
    *,
    delivery_id: uuid.UUID,
    study_id: str,
    provider_id: str,
    file_format: str,
    file_name: str,
    rows_total: int,
    problems: Sequence[RowProblem],
    rows_rejected: int,
    ignored_columns: Sequence[str],
    accounting: Sequence[ServiceAccount],
    invited: Sequence[tuple[uuid.UUID, uuid.UUID, str, Contact]],
    sampled_out: Sequence[tuple[uuid.UUID, Contact]],
    events: Sequence[Event],
    starts: Sequence[tuple[list[dict[str, Any]], str | None, bool, str, str]] = (),
) -> None:
    """Store a delivery, its contacts, the invitations and the events, in one transaction.

    ``invited``: (contact_id, invitation_id, questionnaire_id, contact); ``sampled_out``:
    (contact_id, contact), stored as such and not invited. ``starts``, parallel to ``invited``:
    (plan, first mode or None, phone_first, token_hash, status). Contacts, invitations and the
    events go in by COPY: no round trip per row.
    """
    await conn.execute(
        "INSERT INTO invitations.deliveries"
        " (delivery_id, study_id, provider_id, rows_total, rows_accepted, problems, file_format,"
        "  file_name, rows_rejected, rows_sampled_out, ignored_columns, accounting)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        delivery_id,
        study_id,
        provider_id,
        rows_total,
        len(invited),
        [asdict(p) for p in problems],
        file_format,
        file_name,
        rows_rejected,
        len(sampled_out),
        list(ignored_columns),
        [asdict(a) for a in accounting],
    )

    def record(contact_id: uuid.UUID, status: str, c: Contact) -> tuple[Any, ...]:
        return (
            contact_id,
            study_id,
            provider_id,
            delivery_id,
            c.row,
            status,
            c.client_ref,
            c.name,
            c.email,
            c.phone,
            c.street,
            c.house_number,
            c.postcode,
            c.city,
            c.organisation,
            c.service_code,
            c.respondent_type,
            c.client_group,
            c.variant,
            c.learning_profile,
            c.end_date,
            c.jobcoach_period,
        )

    await conn.copy_records_to_table(
        "contacts",
        schema_name=SCHEMA,
        columns=_CONTACT_COLUMNS,
        records=[
            *(record(contact_id, "accepted", c) for contact_id, _, _, c in invited),
            *(record(contact_id, "sampled_out", c) for contact_id, c in sampled_out),
        ],
    )
    # The first stage of each plan is due now; a plan's timer is the invitation's own.
    now = await conn.fetchval("SELECT now()")
    await conn.copy_records_to_table(
        "invitations",
        schema_name=SCHEMA,
        columns=[
            "invitation_id",
            "contact_id",
            "study_id",
            "provider_id",
            "service_code",
            "respondent_type",
            "questionnaire_id",
            "next_attempt_due_at",
            "stage",
            "mode",
            "phone_first",
            "token_hash",
            "status",
        ],
        records=[
            (
                invitation_id,
                contact_id,
                study_id,
                provider_id,
                c.service_code,
                c.respondent_type,
                questionnaire_id,
                now if mode is not None else None,
                0 if mode is not None else None,
                mode,
                phone_first,
                token,
                status,
            )
            for (contact_id, invitation_id, questionnaire_id, c), (
                _,
                mode,
                phone_first,
                token,
                status,
            ) in zip(invited, starts, strict=True)
        ],
    )
    # Plans repeat (a handful per delivery): one UPDATE per distinct plan (COPY cannot take jsonb).
    by_plan: dict[str, list[uuid.UUID]] = {}
    for (_, invitation_id, _, _), (plan, *_) in zip(invited, starts, strict=True):
        by_plan.setdefault(json.dumps(plan, sort_keys=True), []).append(invitation_id)
    for plan_json, ids in by_plan.items():
        await conn.execute(
            "UPDATE invitations.invitations SET plan = $1::text::jsonb WHERE invitation_id = ANY($2::uuid[])",
            plan_json,
            ids,
        )
    await add_to_outbox(conn, SCHEMA, events)


_DELIVERY_SUMMARY = (
    "delivery_id, study_id, provider_id, file_format, file_name, rows_total, rows_accepted,"
    " rows_sampled_out, rows_rejected, received_at"
)


async def list_deliveries(conn: Connection, study_id: str, provider_id: str | None) -> list[dict[str, Any]]:
    """A study's deliveries (one provider's, or all when provider_id is None), oldest first."""
    rows = await conn.fetch(
        f"SELECT {_DELIVERY_SUMMARY} FROM invitations.deliveries"
        " WHERE study_id = $1 AND ($2::text IS NULL OR provider_id = $2) ORDER BY received_at",
        study_id,
        provider_id,
    )
    return [_jsonable(dict(r)) for r in rows]


async def get_delivery(
    conn: Connection, study_id: str, delivery_id: uuid.UUID, provider_id: str | None
) -> dict[str, Any] | None:
    """One delivery with its row report and accounting; None when it is not this provider's."""
    row = await conn.fetchrow(
        f"SELECT {_DELIVERY_SUMMARY}, problems, ignored_columns, accounting FROM invitations.deliveries"
        " WHERE study_id = $1 AND delivery_id = $2 AND ($3::text IS NULL OR provider_id = $3)",
        study_id,
        delivery_id,
        provider_id,
    )
    return _jsonable(dict(row)) if row is not None else None


def _jsonable(values: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(dict(values), default=str))
    return result


async def mark_responded(conn: Connection, invitation_ids: Sequence[uuid.UUID]) -> None:
    """People who answered get no more reminders."""
    await conn.execute(
        "UPDATE invitations.invitations SET status = 'responded', responded_at = now(), mode = NULL,"
        " next_attempt_due_at = NULL WHERE invitation_id = ANY($1::uuid[]) AND status <> 'opted_out'",
        list(invitation_ids),
    )


async def add_events(conn: Connection, events: Sequence[Event]) -> None:
    await add_to_outbox(conn, SCHEMA, events)


async def progress(conn: Connection, study_id: str, provider_id: str) -> dict[str, Any]:
    rows = await conn.fetch(
        "SELECT status, count(*) AS n FROM invitations.invitations"
        " WHERE study_id = $1 AND provider_id = $2 GROUP BY status",
        study_id,
        provider_id,
    )
    counts = {r["status"]: r["n"] for r in rows}
    sampled_out: int = await conn.fetchval(
        "SELECT count(*) FROM invitations.contacts"
        " WHERE study_id = $1 AND provider_id = $2 AND status = 'sampled_out'",
        study_id,
        provider_id,
    )
    deliveries = await conn.fetch(
        "SELECT delivery_id, file_format, rows_total, rows_accepted, rows_sampled_out, rows_rejected,"
        " received_at FROM invitations.deliveries"
        " WHERE study_id = $1 AND provider_id = $2 ORDER BY received_at",
        study_id,
        provider_id,
    )
    return {
        "invited": sum(counts.values()),
        "by_status": counts,
        "sampled_out": sampled_out,
        "deliveries": [json.loads(json.dumps(dict(d), default=str)) for d in deliveries],
    }


async def provider_name(conn: Connection, provider_id: str) -> str | None:
    """The provider's display name, as respondents read it."""
    name: str | None = await conn.fetchval(
        "SELECT name FROM invitations.providers WHERE provider_id = $1", provider_id
    )
    return name


# --- waves: email, post and phone ----------------------------------------------------------

_CLAIM_COLUMNS = (
    "i.invitation_id, i.study_id, i.provider_id, i.service_code, i.respondent_type, i.questionnaire_id,"
    " i.plan, i.stage,"
    " i.stage_attempts, i.reached, i.email_retries, i.phone_first, c.email, c.name, c.variant,"
    " c.street, c.house_number, c.postcode, c.city, p.name AS provider_name,"
    " c.jobcoach_period, c.end_date,"
    # The werknemer's employer in a jobcoach period: the organisation of the period's werkgever.
    " CASE WHEN c.jobcoach_period <> '' THEN (SELECT w.organisation FROM invitations.contacts w"
    "   WHERE w.study_id = c.study_id AND w.provider_id = c.provider_id"
    "   AND w.jobcoach_period = c.jobcoach_period AND w.respondent_type = 'werkgever'"
    "   AND w.organisation <> '' ORDER BY w.row_number LIMIT 1) END AS period_employer"
)


# A send in flight while the fieldwork closes may set its person's timer again: claims skip it.
_STUDY_OPEN = "NOT EXISTS (SELECT 1 FROM invitations.closed_studies cs WHERE cs.study_id = i.study_id)"


async def claim_due(conn: Connection, mode: str, limit: int) -> list[asyncpg.Record]:
    """Lock invitations whose next attempt in ``mode`` is due; other schedulers skip them."""
    return await conn.fetch(
        f"SELECT {_CLAIM_COLUMNS}"
        " FROM invitations.invitations i JOIN invitations.contacts c USING (contact_id)"
        " JOIN invitations.providers p ON p.provider_id = i.provider_id"
        " WHERE i.mode = $1 AND i.next_attempt_due_at <= now() AND i.status IN ('pending', 'sent')"
        f" AND {_STUDY_OPEN}"
        " ORDER BY i.next_attempt_due_at LIMIT $2 FOR UPDATE OF i SKIP LOCKED",
        mode,
        limit,
    )


async def lease(conn: Connection, invitation_ids: Sequence[uuid.UUID], seconds: float) -> None:
    """Push claimed timers ahead while their attempt is made outside the claiming transaction."""
    await conn.execute(
        "UPDATE invitations.invitations SET next_attempt_due_at = now() + make_interval(secs => $2)"
        " WHERE invitation_id = ANY($1::uuid[])",
        list(invitation_ids),
        seconds,
    )


async def lock_invitations(conn: Connection, invitation_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    """Lock these invitations (waiting for a scheduler that holds one) and read their position."""
    return await conn.fetch(
        f"SELECT {_CLAIM_COLUMNS}, i.mode, i.status"
        " FROM invitations.invitations i JOIN invitations.contacts c USING (contact_id)"
        " JOIN invitations.providers p ON p.provider_id = i.provider_id"
        " WHERE i.invitation_id = ANY($1::uuid[]) ORDER BY i.invitation_id FOR UPDATE OF i",
        list(invitation_ids),
    )


async def save_positions(
    conn: Connection,
    moves: Sequence[tuple[uuid.UUID, int | None, int, bool, str | None, datetime | None, str, int]],
) -> None:
    """Per invitation: (id, stage, stage_attempts, reached, mode, next_due, status, email_retries)."""
    if not moves:
        return
    await conn.execute(
        "UPDATE invitations.invitations AS i SET stage = t.stage, stage_attempts = t.stage_attempts,"
        " reached = t.reached, mode = t.mode, next_attempt_due_at = t.next_due, status = t.status,"
        " email_retries = t.retries, attempts = i.attempts + CASE WHEN t.stage_attempts > i.stage_attempts"
        "   OR t.stage IS DISTINCT FROM i.stage THEN 1 ELSE 0 END"
        " FROM unnest($1::uuid[], $2::int[], $3::int[], $4::bool[], $5::text[], $6::timestamptz[],"
        "   $7::text[], $8::int[])"
        "   AS t(invitation_id, stage, stage_attempts, reached, mode, next_due, status, retries)"
        " WHERE i.invitation_id = t.invitation_id AND i.status NOT IN ('responded', 'opted_out')",
        *[list(column) for column in zip(*moves, strict=True)],
    )


async def record_approaches(
    conn: Connection, approaches: Sequence[tuple[uuid.UUID, str, int, str, str]]
) -> None:
    """(invitation_id, mode, attempt, outcome, reference) per attempt made."""
    if approaches:
        await conn.copy_records_to_table(
            "approaches",
            schema_name=SCHEMA,
            columns=["invitation_id", "mode", "attempt", "outcome", "reference"],
            records=approaches,
        )


async def log_emails(conn: Connection, rows: Sequence[tuple[str, uuid.UUID, int, str, str]]) -> None:
    """(message_id, invitation_id, attempt, outcome, smtp_reply) per email handed to SMTP."""
    await conn.executemany(
        "INSERT INTO invitations.email_log (message_id, invitation_id, attempt, outcome, smtp_reply)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (message_id) DO UPDATE"
        " SET outcome = EXCLUDED.outcome, smtp_reply = EXCLUDED.smtp_reply, logged_at = now()",
        rows,
    )


async def invitation_for_message(conn: Connection, message_id: str) -> tuple[uuid.UUID, int] | None:
    row = await conn.fetchrow(
        "SELECT invitation_id, attempt FROM invitations.email_log WHERE message_id = $1", message_id
    )
    return (row["invitation_id"], row["attempt"]) if row is not None else None


async def emails_sent_to(conn: Connection, addresses: Sequence[str]) -> list[asyncpg.Record]:
    """Per invitation whose address is one of ``addresses``: its latest email that was sent
    (invitation_id, attempt, message_id), for a bounce that does not quote the Message-ID."""
    return await conn.fetch(
        "SELECT DISTINCT ON (l.invitation_id) l.invitation_id, l.attempt, l.message_id"
        " FROM invitations.email_log l JOIN invitations.invitations i USING (invitation_id)"
        " JOIN invitations.contacts c USING (contact_id)"
        " WHERE c.email = ANY($1::text[]) AND l.outcome = 'sent'"
        " ORDER BY l.invitation_id, l.logged_at DESC",
        list(addresses),
    )


async def reached_except(conn: Connection, invitation_id: uuid.UUID, mode: str) -> bool:
    """Whether another mode than ``mode`` got through to the person (sent and not bounced since,
    a letter not returned, a call answered)."""
    found: bool = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM invitations.approaches a WHERE a.invitation_id = $1 AND a.mode <> $2"
        "   AND a.outcome NOT IN ('undeliverable', 'no_answer', 'busy', 'answering_machine', 'wrong_number')"
        "   AND NOT EXISTS (SELECT 1 FROM invitations.approaches b WHERE b.invitation_id = a.invitation_id"
        "     AND b.mode = a.mode AND b.mode <> 'phone' AND b.outcome = 'undeliverable'))",
        invitation_id,
        mode,
    )
    return found


async def study_name(conn: Connection, invitation_id: uuid.UUID) -> str | None:
    name: str | None = await conn.fetchval(
        "SELECT s.name FROM invitations.invitations i JOIN invitations.studies s USING (study_id)"
        " WHERE i.invitation_id = $1",
        invitation_id,
    )
    return name


async def invitation_by_token_hash(conn: Connection, token_hash: str) -> uuid.UUID | None:
    found: uuid.UUID | None = await conn.fetchval(
        "SELECT invitation_id FROM invitations.invitations WHERE token_hash = $1", token_hash
    )
    return found


async def opt_out(conn: Connection, invitation_id: uuid.UUID) -> asyncpg.Record | None:
    """Stop every approach of the person at once: timers, letters not yet in a wave and call
    tasks. Returns the invitation (None for an unknown one; the same row again for a second
    opt-out, with ``already`` true)."""
    row = await conn.fetchrow(
        "SELECT invitation_id, study_id, provider_id, service_code, respondent_type,"
        " status = 'opted_out' AS already FROM invitations.invitations WHERE invitation_id = $1 FOR UPDATE",
        invitation_id,
    )
    if row is None or row["already"]:
        return row
    await conn.execute(
        "UPDATE invitations.invitations SET status = 'opted_out', opted_out_at = now(), mode = NULL,"
        " next_attempt_due_at = NULL WHERE invitation_id = $1",
        row["invitation_id"],
    )
    await cancel_call_tasks(conn, [row["invitation_id"]])
    return row


async def close_studies(conn: Connection, closings: Sequence[tuple[str, datetime]]) -> None:
    """Remember that these studies' fieldwork closed (the first closing moment stays) and stop
    every pending approach of theirs at once, as an opt-out does for one person: timers (emails,
    letters not yet in a wave, calls not yet opened) and open call tasks."""
    study_ids = [study_id for study_id, _ in closings]
    await conn.execute(
        "INSERT INTO invitations.closed_studies (study_id, closed_at)"
        " SELECT * FROM unnest($1::text[], $2::timestamptz[]) ON CONFLICT (study_id) DO NOTHING",
        study_ids,
        [closed_at for _, closed_at in closings],
    )
    await conn.execute(
        "UPDATE invitations.invitations SET mode = NULL, next_attempt_due_at = NULL"
        " WHERE study_id = ANY($1::text[]) AND next_attempt_due_at IS NOT NULL",
        study_ids,
    )
    await conn.execute(
        "UPDATE invitations.call_tasks SET state = 'cancelled', updated_at = now(), leased_until = NULL"
        " WHERE study_id = ANY($1::text[]) AND state = 'open'",
        study_ids,
    )


async def fieldwork_closed_at(conn: Connection, study_id: str) -> datetime | None:
    """When the study's fieldwork closed; None while it is open."""
    closed_at: datetime | None = await conn.fetchval(
        "SELECT closed_at FROM invitations.closed_studies WHERE study_id = $1", study_id
    )
    return closed_at


async def cancel_call_tasks(conn: Connection, invitation_ids: Sequence[uuid.UUID]) -> None:
    await conn.execute(
        "UPDATE invitations.call_tasks SET state = 'cancelled', updated_at = now(), leased_until = NULL"
        " WHERE invitation_id = ANY($1::uuid[]) AND state = 'open'",
        list(invitation_ids),
    )


# --- letters --------------------------------------------------------------------------------


async def next_wave_id(conn: Connection) -> int:
    value: int = await conn.fetchval(
        "SELECT nextval(pg_get_serial_sequence('invitations.letter_waves', 'wave_id'))"
    )
    return value


async def record_letter_wave_with_id(
    conn: Connection,
    wave_id: int,
    letters: Sequence[tuple[uuid.UUID, uuid.UUID, int, str]],
    pdf_path: str,
    manifest_path: str,
) -> None:
    await conn.execute(
        "INSERT INTO invitations.letter_waves (wave_id, letters, pdf_path, manifest_path)"
        " VALUES ($1, $2, $3, $4)",
        wave_id,
        len(letters),
        pdf_path,
        manifest_path,
    )
    await conn.copy_records_to_table(
        "letters",
        schema_name=SCHEMA,
        columns=["letter_id", "invitation_id", "attempt", "short_code", "wave_id"],
        records=[(*letter, wave_id) for letter in letters],
    )


async def letter_waves(conn: Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT wave_id, letters, created_at, pdf_path, manifest_path FROM invitations.letter_waves"
        " ORDER BY wave_id"
    )
    return [_jsonable(dict(r)) for r in rows]


async def letter_wave(conn: Connection, wave_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM invitations.letter_waves WHERE wave_id = $1", wave_id)


async def mark_returned(
    conn: Connection, short_codes: Sequence[str], letter_ids: Sequence[uuid.UUID], reason: str
) -> list[asyncpg.Record]:
    """Letters returned by the post (retour): each once; returns the newly returned ones."""
    return await conn.fetch(
        "UPDATE invitations.letters SET returned_at = now(), return_reason = $3"
        " WHERE (short_code = ANY($1::text[]) OR letter_id = ANY($2::uuid[])) AND returned_at IS NULL"
        " RETURNING letter_id, invitation_id, attempt, short_code",
        list(short_codes),
        list(letter_ids),
        reason,
    )


async def known_letters(
    conn: Connection, short_codes: Sequence[str], letter_ids: Sequence[uuid.UUID]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT letter_id, short_code FROM invitations.letters"
        " WHERE short_code = ANY($1::text[]) OR letter_id = ANY($2::uuid[])",
        list(short_codes),
        list(letter_ids),
    )


# --- call tasks -----------------------------------------------------------------------------


async def open_call_tasks(
    conn: Connection, tasks: Sequence[tuple[uuid.UUID, uuid.UUID, str, str, str, int, float]]
) -> None:
    """(task_id, invitation_id, study_id, provider_id, kind, max_attempts, interval_seconds); due now.

    A person gets one call task: a second one (a replayed round) is ignored.
    """
    await conn.executemany(
        "INSERT INTO invitations.call_tasks"
        " (task_id, invitation_id, study_id, provider_id, kind, max_attempts, interval_seconds, due_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, now()) ON CONFLICT (invitation_id) DO NOTHING",
        tasks,
    )


async def full_quotas(conn: Connection) -> list[asyncpg.Record]:
    """Open tasks of providers whose completed interviews reached their cap: the interviews bought
    (phone option) or 25 (inburgering, learning profile 1 and 2)."""
    return await conn.fetch(
        "WITH done AS (SELECT study_id, provider_id, kind, count(*) AS n FROM invitations.call_tasks"
        "   WHERE state = 'completed' GROUP BY study_id, provider_id, kind)"
        " SELECT t.task_id, t.invitation_id FROM invitations.call_tasks t"
        " JOIN invitations.enrolments e USING (study_id, provider_id)"
        " JOIN done d USING (study_id, provider_id, kind)"
        " WHERE t.state = 'open' AND d.n >= CASE WHEN t.kind = 'option' THEN e.phone_interviews ELSE $1 END"
        " FOR UPDATE OF t SKIP LOCKED",
        25,
    )


async def candidate_calls(conn: Connection, limit: int) -> list[asyncpg.Record]:
    """Open, due, unleased tasks (appointments first), locked for the caller."""
    return await conn.fetch(
        "SELECT t.task_id, t.invitation_id, t.study_id, t.provider_id, t.kind, t.attempts, t.max_attempts,"
        " t.dayparts, t.appointment_at, i.service_code, i.respondent_type, i.questionnaire_id,"
        " c.name, c.phone, c.variant, p.name AS provider_name"
        " FROM invitations.call_tasks t JOIN invitations.invitations i USING (invitation_id)"
        " JOIN invitations.contacts c ON c.contact_id = i.contact_id"
        " JOIN invitations.providers p ON p.provider_id = t.provider_id"
        " WHERE t.state = 'open' AND coalesce(t.appointment_at, t.due_at) <= now()"
        "   AND (t.leased_until IS NULL OR t.leased_until < now())"
        f"   AND {_STUDY_OPEN}"
        " ORDER BY t.appointment_at IS NULL, coalesce(t.appointment_at, t.due_at)"
        " LIMIT $1 FOR UPDATE OF t SKIP LOCKED",
        limit,
    )


async def leased_call(conn: Connection, task_id: uuid.UUID, agent_id: str) -> asyncpg.Record | None:
    """An open task whose lease to ``agent_id`` has not passed."""
    return await conn.fetchrow(
        "SELECT t.task_id, t.invitation_id, t.study_id, t.provider_id, t.attempts, t.max_attempts,"
        " t.appointment_at, t.leased_until, i.respondent_type, i.questionnaire_id,"
        " c.name, c.phone, c.variant, p.name AS provider_name"
        " FROM invitations.call_tasks t JOIN invitations.invitations i USING (invitation_id)"
        " JOIN invitations.contacts c ON c.contact_id = i.contact_id"
        " JOIN invitations.providers p ON p.provider_id = t.provider_id"
        " WHERE t.task_id = $1 AND t.agent_id = $2 AND t.state = 'open' AND t.leased_until > now()",
        task_id,
        agent_id,
    )


async def lease_calls(conn: Connection, task_ids: Sequence[uuid.UUID], agent_id: str, seconds: float) -> None:
    await conn.execute(
        "UPDATE invitations.call_tasks SET agent_id = $2,"
        " leased_until = now() + make_interval(secs => $3), updated_at = now()"
        " WHERE task_id = ANY($1::uuid[])",
        list(task_ids),
        agent_id,
        seconds,
    )


async def invitation_of_call_task(conn: Connection, task_id: uuid.UUID) -> uuid.UUID | None:
    invitation_id: uuid.UUID | None = await conn.fetchval(
        "SELECT invitation_id FROM invitations.call_tasks WHERE task_id = $1", task_id
    )
    return invitation_id


async def lock_call_task(conn: Connection, task_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT t.*, i.service_code, i.respondent_type, i.status AS invitation_status"
        " FROM invitations.call_tasks t JOIN invitations.invitations i USING (invitation_id)"
        " WHERE t.task_id = $1 FOR UPDATE OF t",
        task_id,
    )


async def update_call_task(
    conn: Connection,
    task_id: uuid.UUID,
    *,
    state: str,
    attempts: int,
    due_at: datetime | None,
    appointment_at: datetime | None,
    dayparts: Mapping[str, int],
    disposition: str,
) -> None:
    await conn.execute(
        "UPDATE invitations.call_tasks SET state = $2, attempts = $3, due_at = coalesce($4, due_at),"
        " appointment_at = $5, dayparts = $6, last_disposition = $7, agent_id = NULL,"
        " leased_until = NULL, updated_at = now() WHERE task_id = $1",
        task_id,
        state,
        attempts,
        due_at,
        appointment_at,
        dict(dayparts),
        disposition,
    )


async def phone_attempt_number(conn: Connection, invitation_id: uuid.UUID) -> int:
    made: int = await conn.fetchval(
        "SELECT count(*) FROM invitations.approaches WHERE invitation_id = $1 AND mode = 'phone'",
        invitation_id,
    )
    return made + 1


async def phone_summary(conn: Connection, study_id: str, provider_id: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT e.provider_id, e.phone_option, e.phone_interviews,"
        " count(t.*) FILTER (WHERE t.state = 'completed' AND t.kind = 'option') AS completed_option,"
        " count(t.*) FILTER (WHERE t.state = 'completed' AND t.kind = 'inburgering') "
        "   AS completed_inburgering,"
        " count(t.*) FILTER (WHERE t.state = 'open') AS open_tasks"
        " FROM invitations.enrolments e LEFT JOIN invitations.call_tasks t USING (study_id, provider_id)"
        " WHERE e.study_id = $1 AND ($2::text IS NULL OR e.provider_id = $2)"
        " GROUP BY e.provider_id, e.phone_option, e.phone_interviews ORDER BY e.provider_id",
        study_id,
        provider_id,
    )


async def approach_counts(conn: Connection, study_id: str, provider_id: str | None) -> list[dict[str, Any]]:
    """Per service, respondent type, mode and outcome: attempts and distinct people."""
    rows = await conn.fetch(
        "SELECT i.provider_id, i.service_code, i.respondent_type, a.mode, a.outcome,"
        " count(*) AS attempts, count(DISTINCT a.invitation_id) AS people,"
        " count(*) FILTER (WHERE a.attempt > 1) AS reminders"
        " FROM invitations.approaches a JOIN invitations.invitations i USING (invitation_id)"
        " WHERE i.study_id = $1 AND ($2::text IS NULL OR i.provider_id = $2)"
        " GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5",
        study_id,
        provider_id,
    )
    return [dict(r) for r in rows]


# --- extra waves ----------------------------------------------------------------------------


async def claim_extra_wave(
    conn: Connection, wave_key: str, study_id: str, kind: str, providers: Sequence[str]
) -> asyncpg.Record | None:
    """Register the wave under its key; None when the key is taken (a repeat, or a request
    running in parallel: this waits for it to commit, then finds it taken)."""
    return await conn.fetchrow(
        "INSERT INTO invitations.extra_waves (wave_key, study_id, kind, providers)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (wave_key) DO NOTHING RETURNING wave_key",
        wave_key,
        study_id,
        kind,
        list(providers),
    )


async def get_extra_wave(conn: Connection, wave_key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT wave_key, study_id, kind, providers, result, created_at FROM invitations.extra_waves"
        " WHERE wave_key = $1",
        wave_key,
    )


async def list_extra_waves(conn: Connection, study_id: str) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT w.wave_key, w.study_id, w.kind, w.providers, w.result, w.created_at,"
        " count(m.*) AS people,"
        " count(m.*) FILTER (WHERE EXISTS (SELECT 1 FROM invitations.approaches a"
        "   WHERE a.invitation_id = m.invitation_id AND a.mode = m.mode AND a.attempt >= m.attempt))"
        "   AS approached"
        " FROM invitations.extra_waves w LEFT JOIN invitations.extra_wave_members m USING (wave_key)"
        " WHERE w.study_id = $1 GROUP BY w.wave_key ORDER BY w.created_at",
        study_id,
    )


async def save_extra_wave_result(conn: Connection, wave_key: str, result: Mapping[str, Any]) -> None:
    await conn.execute(
        "UPDATE invitations.extra_waves SET result = $2 WHERE wave_key = $1", wave_key, dict(result)
    )


async def lock_extra_wave_candidates(
    conn: Connection, study_id: str, providers: Sequence[str]
) -> list[asyncpg.Record]:
    """Every invitation of these providers in the study, locked (in id order, as every path
    locks them), with the facts an extra wave decides on: never the contact details themselves."""
    return await conn.fetch(
        "SELECT i.invitation_id, i.study_id, i.provider_id, i.service_code, i.respondent_type,"
        " i.status, i.plan, i.stage, i.reached,"
        " c.email <> '' AND NOT EXISTS (SELECT 1 FROM invitations.approaches a"
        "   WHERE a.invitation_id = i.invitation_id AND a.mode = 'email' AND a.outcome = 'undeliverable')"
        "   AS email_usable,"
        " c.street <> '' AND c.house_number <> '' AND c.postcode <> '' AND c.city <> ''"
        "   AND NOT EXISTS (SELECT 1 FROM invitations.approaches a"
        "   WHERE a.invitation_id = i.invitation_id AND a.mode = 'post' AND a.outcome = 'undeliverable')"
        "   AS address_usable,"
        " c.phone <> '' AND i.respondent_type = 'client' AND e.phone_option"
        "   AND NOT EXISTS (SELECT 1 FROM invitations.approaches a"
        "   WHERE a.invitation_id = i.invitation_id AND a.mode = 'phone' AND a.outcome = 'wrong_number')"
        "   AS phone_usable,"
        " EXISTS (SELECT 1 FROM invitations.call_tasks t WHERE t.invitation_id = i.invitation_id)"
        "   AS phoned,"
        " (SELECT coalesce(jsonb_object_agg(mode, n), '{}') FROM (SELECT a.mode, max(a.attempt) AS n"
        "   FROM invitations.approaches a WHERE a.invitation_id = i.invitation_id GROUP BY a.mode) m)"
        "   AS made"
        " FROM invitations.invitations i JOIN invitations.contacts c USING (contact_id)"
        " JOIN invitations.enrolments e ON e.study_id = i.study_id AND e.provider_id = i.provider_id"
        " WHERE i.study_id = $1 AND i.provider_id = ANY($2::text[])"
        " ORDER BY i.invitation_id FOR UPDATE OF i",
        study_id,
        list(providers),
    )


async def start_extra_stages(
    conn: Connection,
    wave_key: str,
    starts: Sequence[tuple[uuid.UUID, list[dict[str, Any]], int, int, bool, str]],
) -> None:
    """(invitation_id, plan, stage, stage_attempts, reached, mode) per person: the extended plan,
    due now; only people whose plan is over and who neither answered nor opted out meanwhile."""
    if not starts:
        return
    await conn.execute(
        "UPDATE invitations.invitations AS i SET plan = t.plan::jsonb, stage = t.stage,"
        " stage_attempts = t.stage_attempts, reached = t.reached, mode = t.mode,"
        " status = CASE WHEN t.reached THEN 'sent' ELSE 'pending' END, email_retries = 0,"
        " next_attempt_due_at = now()"
        " FROM unnest($1::uuid[], $2::text[], $3::int[], $4::int[], $5::bool[], $6::text[])"
        "   AS t(invitation_id, plan, stage, stage_attempts, reached, mode)"
        " WHERE i.invitation_id = t.invitation_id AND i.stage IS NULL"
        "   AND i.status NOT IN ('responded', 'opted_out', 'undeliverable')",
        [s[0] for s in starts],
        [json.dumps(s[1]) for s in starts],  # as text: a list would be read as an array dimension
        *[[s[i] for s in starts] for i in range(2, 6)],
    )
    await conn.copy_records_to_table(
        "extra_wave_members",
        schema_name=SCHEMA,
        columns=["wave_key", "invitation_id", "mode", "attempt"],
        records=[(wave_key, s[0], s[5], s[3] + 1) for s in starts],
    )


async def wave_progress(conn: Connection) -> list[asyncpg.Record]:
    """Per study, wave ('plan': people's own plans; else an extra wave's key), mode and state:
    ``planned`` (timer set for later), ``due`` (timer passed, not yet taken by a scheduler),
    ``sent`` (attempts made, whatever their outcome)."""
    return await conn.fetch(
        "SELECT study_id, 'plan' AS wave, mode, 'planned' AS state, count(*) AS n"
        "   FROM invitations.invitations WHERE mode IN ('email', 'post') AND next_attempt_due_at > now()"
        "   GROUP BY study_id, mode"
        " UNION ALL SELECT study_id, 'plan', mode, 'due', count(*)"
        "   FROM invitations.invitations WHERE mode IN ('email', 'post') AND next_attempt_due_at <= now()"
        "   GROUP BY study_id, mode"
        " UNION ALL SELECT study_id, 'plan', 'phone',"
        "   CASE WHEN coalesce(appointment_at, due_at) > now() THEN 'planned' ELSE 'due' END, count(*)"
        "   FROM invitations.call_tasks WHERE state = 'open' GROUP BY 1, 2, 3, 4"
        " UNION ALL SELECT i.study_id, 'plan', a.mode, 'sent', count(*)"
        "   FROM invitations.approaches a JOIN invitations.invitations i USING (invitation_id)"
        "   GROUP BY i.study_id, a.mode"
        " UNION ALL SELECT w.study_id, w.wave_key, m.mode,"
        "   CASE WHEN EXISTS (SELECT 1 FROM invitations.approaches a WHERE a.invitation_id = m.invitation_id"
        "     AND a.mode = m.mode AND a.attempt >= m.attempt) THEN 'sent' ELSE 'planned' END, count(*)"
        "   FROM invitations.extra_waves w JOIN invitations.extra_wave_members m USING (wave_key)"
        "   GROUP BY 1, 2, 3, 4"
    )


async def invitations_of_email(conn: Connection, email: str) -> list[dict[str, Any]]:
    """Every invitation to ``email`` (as stored: normalised), oldest first."""
    rows = await conn.fetch(
        "SELECT i.invitation_id, i.study_id, i.provider_id, i.status, i.created_at"
        " FROM invitations.invitations i JOIN invitations.contacts c USING (contact_id)"
        " WHERE c.email = $1 ORDER BY i.created_at, i.invitation_id",
        email,
    )
    return [_jsonable(dict(r)) for r in rows]
