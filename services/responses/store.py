"""All SQL of the responses service."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from shared.db import Connection
from shared.events import (
    AnswerValue,
    InvitationIssued,
    ResponseSubmitted,
    ResponseWithdrawn,
    ResponseWithdrawnPayload,
    encode_event,
)
from shared.outbox import add_to_outbox

SCHEMA = "responses"


async def add_invitations(conn: Connection, events: Sequence[InvitationIssued]) -> None:
    await conn.execute(
        "INSERT INTO responses.invitations (invitation_id, token_hash, study_id, provider_id,"
        " service_code, respondent_type, questionnaire_id, issued_at, provider_name, letter_code_hash)"
        " SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],"
        " $6::text[], $7::text[], $8::timestamptz[], $9::text[], $10::text[])"
        " ON CONFLICT (invitation_id) DO NOTHING",
        [e.payload.invitation_id for e in events],
        [e.payload.token_hash for e in events],
        [e.payload.study_id for e in events],
        [e.payload.provider_id for e in events],
        [e.payload.service_code for e in events],
        [e.payload.respondent_type for e in events],
        [e.payload.questionnaire_id for e in events],
        [e.occurred_at for e in events],
        [e.payload.provider_name for e in events],
        [e.payload.letter_code_hash for e in events],
    )


async def invitation_id_by_letter_code_hash(conn: Connection, code_hash: str) -> uuid.UUID | None:
    """The invitation a letter's personal code belongs to (looked up by the code's hash)."""
    found: uuid.UUID | None = await conn.fetchval(
        "SELECT invitation_id FROM responses.invitations WHERE letter_code_hash = $1", code_hash
    )
    return found


# What a link or an interview needs to know about its invitation, in one round trip.
_INVITATION = (
    "SELECT i.invitation_id, i.study_id, i.provider_id, i.service_code, i.respondent_type,"
    " i.questionnaire_id, i.issued_at, i.withdrawn_at, i.short_code, i.provider_name,"
    " r.response_id, r.mode AS answered_mode, d.answers AS draft_answers, d.page AS draft_page"
    " FROM responses.invitations i"
    " LEFT JOIN responses.responses r USING (invitation_id)"
    " LEFT JOIN responses.drafts d USING (invitation_id)"
)


async def invitation_by_token_hash(conn: Connection, token_hash: str) -> asyncpg.Record | None:
    """The invitation, whether it was answered or withdrawn, and its partial save."""
    return await conn.fetchrow(_INVITATION + " WHERE i.token_hash = $1", token_hash)


async def invitation_by_id(conn: Connection, invitation_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(_INVITATION + " WHERE i.invitation_id = $1", invitation_id)


async def invitations_by_reference(
    conn: Connection, invitation_ids: Sequence[uuid.UUID], short_codes: Sequence[str]
) -> list[asyncpg.Record]:
    """Every invitation named by id or by short code (a code may match two: the caller refuses it)."""
    return list(
        await conn.fetch(
            _INVITATION + " WHERE i.invitation_id = ANY($1::uuid[]) OR i.short_code = ANY($2::text[])",
            list(invitation_ids),
            list(short_codes),
        )
    )


async def save_draft(
    conn: Connection, invitation_id: uuid.UUID, answers: Mapping[str, AnswerValue], page: int
) -> None:
    """Keep the answers so far and the page to resume at, unless the invitation is closed."""
    await conn.execute(
        "INSERT INTO responses.drafts (invitation_id, answers, page)"
        " SELECT i.invitation_id, $2, $3 FROM responses.invitations i"
        " WHERE i.invitation_id = $1 AND i.withdrawn_at IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM responses.responses r WHERE r.invitation_id = $1)"
        " ON CONFLICT (invitation_id) DO UPDATE SET answers = EXCLUDED.answers, page = EXCLUDED.page,"
        " updated_at = now()",
        invitation_id,
        dict(answers),
        page,
    )


@dataclass(frozen=True)
class Final:
    """A final response to store, with the opaque interviewer id for a phone interview."""

    event: ResponseSubmitted
    interviewer_id: str | None = None


async def insert_responses(conn: Connection, finals: Sequence[Final]) -> set[uuid.UUID]:
    """Store final responses, their events and the end of their partial saves in ONE statement;
    returns the invitations that took a response.

    The first final response per invitation wins: an answered invitation (any mode) or a
    withdrawn one takes nothing. The invitation row is share-locked, so a withdrawal running
    at the same moment waits for this statement, or this one sees the withdrawal.
    One statement is one implicit transaction and one round trip (the web's hot path): the
    outbox rows are those ``shared.outbox.add_to_outbox`` writes, for the responses stored only.
    """
    if not finals:
        return set()
    payloads = [f.event.payload for f in finals]
    events = [f.event for f in finals]
    rows = await conn.fetch(
        "WITH open AS (SELECT invitation_id FROM responses.invitations"
        "  WHERE invitation_id = ANY($2::uuid[]) AND withdrawn_at IS NULL FOR SHARE),"
        " stored AS (INSERT INTO responses.responses (response_id, invitation_id, questionnaire_id,"
        "  questionnaire_version, mode, answers, usable, submitted_at, interviewer_id, event_id)"
        "  SELECT u.* FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::int[], $5::text[], $6::jsonb[],"
        "  $7::bool[], $8::timestamptz[], $9::text[], $10::uuid[])"
        "   AS u(response_id, invitation_id, questionnaire_id, questionnaire_version, mode, answers,"
        "   usable, submitted_at, interviewer_id, event_id)"
        "  JOIN open USING (invitation_id)"
        "  ON CONFLICT (invitation_id) DO NOTHING RETURNING invitation_id, event_id),"
        " sent AS (INSERT INTO responses.outbox (event_id, topic, message_key, body)"
        "  SELECT o.event_id, o.topic, o.message_key, o.body"
        "  FROM unnest($10::uuid[], $11::text[], $12::text[], $13::bytea[]) WITH ORDINALITY"
        "   AS o(event_id, topic, message_key, body, n)"
        "  JOIN stored USING (event_id) ORDER BY o.n),"
        " done AS (DELETE FROM responses.drafts d USING stored WHERE d.invitation_id = stored.invitation_id)"
        " SELECT invitation_id FROM stored",
        [p.response_id for p in payloads],
        [p.invitation_id for p in payloads],
        [p.questionnaire_id for p in payloads],
        [p.questionnaire_version for p in payloads],
        [p.mode for p in payloads],
        [p.answers for p in payloads],
        [p.usable for p in payloads],
        [p.submitted_at for p in payloads],
        [f.interviewer_id for f in finals],
        [e.event_id for e in events],
        [e.topic for e in events],
        [e.key for e in events],
        [encode_event(e) for e in events],
    )
    return {r["invitation_id"] for r in rows}


@dataclass(frozen=True)
class Withdrawal:
    outcome: str  # withdrawn, already_withdrawn, nothing_to_withdraw
    response_id: uuid.UUID | None


async def withdraw(conn: Connection, invitation_id: uuid.UUID) -> Withdrawal | None:
    """Close the invitation, delete its answers (also from the outbox) and its partial save,
    and queue ``responses.withdrawn`` when there was a final response. None: unknown invitation.
    Call inside a transaction.
    """
    invitation = await conn.fetchrow(
        "SELECT study_id, provider_id, withdrawn_at FROM responses.invitations"
        " WHERE invitation_id = $1 FOR UPDATE",
        invitation_id,
    )
    if invitation is None:
        return None
    if invitation["withdrawn_at"] is not None:
        response_id = await conn.fetchval(
            "SELECT response_id FROM responses.responses WHERE invitation_id = $1", invitation_id
        )
        return Withdrawal("already_withdrawn", response_id)
    await conn.execute(
        "UPDATE responses.invitations SET withdrawn_at = now() WHERE invitation_id = $1", invitation_id
    )
    await conn.execute("DELETE FROM responses.drafts WHERE invitation_id = $1", invitation_id)
    withdrawn = await conn.fetchrow(
        "UPDATE responses.responses SET answers = NULL, withdrawn_at = now()"
        " WHERE invitation_id = $1 RETURNING response_id, event_id",
        invitation_id,
    )
    if withdrawn is None:
        return Withdrawal("nothing_to_withdraw", None)
    # The submitted event keeps its ids (consumers need them to subtract) but loses its answers,
    # whether it was relayed already or not.
    await conn.execute(
        "UPDATE responses.outbox SET body = convert_to(jsonb_set(convert_from(body, 'UTF8')::jsonb,"
        " '{payload,answers}', '{}'::jsonb)::text, 'UTF8') WHERE event_id = $1",
        withdrawn["event_id"],
    )
    event = ResponseWithdrawn(
        payload=ResponseWithdrawnPayload(
            response_id=withdrawn["response_id"],
            invitation_id=invitation_id,
            study_id=invitation["study_id"],
            provider_id=invitation["provider_id"],
        )
    )
    await add_to_outbox(conn, SCHEMA, [event])
    return Withdrawal("withdrawn", withdrawn["response_id"])
