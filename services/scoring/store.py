"""All SQL of the scoring service: set-based, one statement per batch and table.

Lock order, so concurrent consumers (one per topic) never deadlock: every handler writes
its facts first (sorted by invitation id), then the aggregates table by table (province_counts,
units, unit_grades, unit_answers, snapshots), each sorted by key. The benchmark rows (provider '')
sort first within their study.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from services.scoring.domain import (
    ALL_PROVIDERS,
    DispositionChange,
    DispositionState,
    KeptResponse,
    PeriodFact,
    ProviderKey,
    ProvinceKey,
    UnitKey,
    UnitTally,
    count_provinces,
)
from services.scoring.fieldwork import ProviderFieldwork
from shared.db import Connection
from shared.events import (
    InvitationIssuedPayload,
    InvitationUndeliverablePayload,
    ResponseSubmittedPayload,
    ResponseWithdrawnPayload,
)

SCHEMA = "scoring"


def _unit(record: Any) -> UnitKey:
    return UnitKey(
        record["study_id"], record["provider_id"], record["service_code"], record["respondent_type"]
    )


# --- facts -------------------------------------------------------------------------------


async def record_issued(
    conn: Connection, issued: Sequence[InvitationIssuedPayload], issued_at: Mapping[uuid.UUID, datetime]
) -> list[UnitKey]:
    """Keep new invitations (with when each was issued) and the study's scheme; returns the unit
    of each new invitation.

    An invitation already known (redelivered, or its undeliverable event came first)
    changes nothing, so it is not returned.
    """
    rows = sorted({p.invitation_id: p for p in issued}.values(), key=lambda p: p.invitation_id)
    schemes = sorted({(p.study_id, p.scheme_id) for p in rows if p.scheme_id is not None})
    if schemes:
        await conn.execute(
            "INSERT INTO scoring.studies (study_id, scheme_id)"
            " SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
            [s for s, _ in schemes],
            [scheme for _, scheme in schemes],
        )
    records = await conn.fetch(
        """
        INSERT INTO scoring.issued
            (invitation_id, study_id, provider_id, service_code, respondent_type, scheme_id, questionnaire_id,
             issued_at)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::text[], $8::timestamptz[])
        ON CONFLICT (invitation_id) DO NOTHING
        RETURNING study_id, provider_id, service_code, respondent_type
        """,
        [p.invitation_id for p in rows],
        [p.study_id for p in rows],
        [p.provider_id for p in rows],
        [p.service_code for p in rows],
        [p.respondent_type for p in rows],
        [p.scheme_id for p in rows],
        [p.questionnaire_id for p in rows],
        [issued_at.get(p.invitation_id) for p in rows],
    )
    return [_unit(r) for r in records]


async def record_undeliverable(
    conn: Connection, undeliverable: Sequence[InvitationUndeliverablePayload]
) -> list[tuple[UnitKey, bool]]:
    """Mark invitations undeliverable; returns each changed one's unit and whether it was in
    the net sample until now.

    One upsert, so it is atomic against a concurrent ``invitations.issued`` batch: an
    invitation not seen yet is stored as undeliverable (counted as invited and undeliverable
    at once; its invitation, when it comes, changes nothing); one already undeliverable (a
    second bounce) is left alone and not returned. ``xmax = 0`` only on a freshly inserted
    row: the usual way to tell an upsert's insert from its update.
    """
    rows = sorted({p.invitation_id: p for p in undeliverable}.values(), key=lambda p: p.invitation_id)
    records = await conn.fetch(
        """
        INSERT INTO scoring.issued AS i
            (invitation_id, study_id, provider_id, service_code, respondent_type, undeliverable)
        SELECT u.*, true FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u
        ON CONFLICT (invitation_id) DO UPDATE SET undeliverable = true WHERE NOT i.undeliverable
        RETURNING study_id, provider_id, service_code, respondent_type, xmax <> 0 AS was_counted
        """,
        [p.invitation_id for p in rows],
        [p.study_id for p in rows],
        [p.provider_id for p in rows],
        [p.service_code for p in rows],
        [p.respondent_type for p in rows],
    )
    return [(_unit(r), r["was_counted"]) for r in records]


async def record_responses(
    conn: Connection, responses: Sequence[tuple[ResponseSubmittedPayload, Decimal | None]]
) -> set[uuid.UUID]:
    """Keep new responses with their grade; returns the ids of those recorded now.

    A redelivered response, a second response to the same invitation (one final response
    each) and one already withdrawn (its tombstone holds the invitation) are not recorded.
    """
    rows = sorted(responses, key=lambda r: r[0].invitation_id)
    records = await conn.fetch(
        """
        INSERT INTO scoring.responses
            (response_id, invitation_id, study_id, provider_id, service_code, respondent_type,
             questionnaire_id, questionnaire_version, mode, usable, grade, answers, submitted_at)
        SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::text[], $8::int[], $9::text[], $10::bool[], $11::numeric[],
                             $12::jsonb[], $13::timestamptz[])
        ON CONFLICT DO NOTHING
        RETURNING response_id
        """,
        [p.response_id for p, _ in rows],
        [p.invitation_id for p, _ in rows],
        [p.study_id for p, _ in rows],
        [p.provider_id for p, _ in rows],
        [p.service_code for p, _ in rows],
        [p.respondent_type for p, _ in rows],
        [p.questionnaire_id for p, _ in rows],
        [p.questionnaire_version for p, _ in rows],
        [p.mode for p, _ in rows],
        [p.usable for p, _ in rows],
        [grade for _, grade in rows],
        [p.answers for p, _ in rows],
        [p.submitted_at for p, _ in rows],
    )
    return {r["response_id"] for r in records}


async def record_withdrawals(
    conn: Connection, withdrawals: Sequence[ResponseWithdrawnPayload]
) -> list[tuple[uuid.UUID, KeptResponse]]:
    """Mark responses withdrawn and erase their answers; returns the ones that were counted
    (with their invitation).

    A withdrawal that overtakes its response leaves a tombstone (ids only), so the response is
    never counted when it comes. A second withdrawal, or one of a response that was never
    kept (a second response to the same invitation), changes nothing. The upsert waits for a
    concurrent batch inserting the same invitation, so a response and its withdrawal in flight
    at once are never both counted.
    """
    rows = sorted({p.invitation_id: p for p in withdrawals}.values(), key=lambda p: p.invitation_id)
    records = await conn.fetch(
        """
        INSERT INTO scoring.responses AS r (response_id, invitation_id, study_id, provider_id, withdrawn_at)
        SELECT u.*, now() FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS u
        ON CONFLICT (invitation_id) DO UPDATE SET withdrawn_at = now()
            WHERE r.withdrawn_at IS NULL AND r.response_id = EXCLUDED.response_id
        RETURNING response_id, invitation_id, study_id, provider_id, service_code, respondent_type,
                  questionnaire_id, questionnaire_version, usable, answers, xmax <> 0 AS was_kept
        """,
        [p.response_id for p in rows],
        [p.invitation_id for p in rows],
        [p.study_id for p in rows],
        [p.provider_id for p in rows],
    )
    kept = [r for r in records if r["was_kept"]]
    if kept:
        await conn.execute(
            "UPDATE scoring.responses SET answers = NULL, grade = NULL WHERE response_id = ANY($1::uuid[])",
            sorted(r["response_id"] for r in kept),
        )
    return [(r["invitation_id"], _stored_response(r)) for r in kept]


def _stored_response(record: Any) -> KeptResponse:
    return KeptResponse(
        key=_unit(record),
        questionnaire_id=record["questionnaire_id"],
        questionnaire_version=record["questionnaire_version"],
        usable=record["usable"],
        answers=record["answers"],
    )


async def record_dispositions(
    conn: Connection, changes: Mapping[uuid.UUID, tuple[UnitKey, DispositionChange]]
) -> list[tuple[UnitKey, DispositionState, DispositionState]]:
    """Apply each invitation's disposition news; returns (unit, before, after) of each one whose
    state changed.

    One upsert locks every row of the batch (sorted by invitation id) and returns its current
    state (a new row: nothing known), so concurrent batches on the same invitation (an approach
    and a response) follow each other; then the changed rows are written. The unit is the one
    the first fact about the invitation named.
    """
    ids = sorted(changes)
    if not ids:
        return []
    records = await conn.fetch(
        """
        INSERT INTO scoring.dispositions AS d
            (invitation_id, study_id, provider_id, service_code, respondent_type)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
        ON CONFLICT (invitation_id) DO UPDATE SET approach = d.approach
        RETURNING invitation_id, study_id, provider_id, service_code, respondent_type, approach, answered
        """,
        ids,
        *_key_columns(changes[i][0] for i in ids),
    )
    changed = []
    for r in records:
        before = DispositionState(r["approach"], r["answered"])
        after = changes[r["invitation_id"]][1].applied_to(before)
        if after != before:
            changed.append((r["invitation_id"], _unit(r), before, after))
    if changed:
        await conn.execute(
            """
            UPDATE scoring.dispositions d SET approach = u.approach, answered = u.answered
            FROM unnest($1::uuid[], $2::text[], $3::text[]) AS u (invitation_id, approach, answered)
            WHERE d.invitation_id = u.invitation_id
            """,
            [c[0] for c in changed],
            [c[3].approach for c in changed],
            [c[3].answered for c in changed],
        )
    return [(unit, before, after) for _, unit, before, after in changed]


# --- aggregates ----------------------------------------------------------------------------


async def add_to_units(
    conn: Connection, changes: Mapping[UnitKey, UnitTally]
) -> dict[UnitKey, tuple[uuid.UUID | None, uuid.UUID]]:
    """Add a batch's aggregated changes: one upsert per table, rows in key order. Returns each
    unit's version before (None: the unit is new) and after the change; the unit's row stays
    locked until the commit, so the change is exactly the step from the one to the other."""
    keys = sorted(changes)
    if not keys:
        return {}
    records = await conn.fetch(
        """
        INSERT INTO scoring.units AS t
            (study_id, provider_id, service_code, respondent_type, invited, undeliverable, usable,
             partial, promoters, passives, detractors, grade_n, grade_sum, grade_sumsq,
             refusal, non_contact, other, unknown_household, unknown_other)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::int[],
                             $7::int[], $8::int[], $9::int[], $10::int[], $11::int[], $12::int[],
                             $13::numeric[], $14::numeric[], $15::int[], $16::int[], $17::int[],
                             $18::int[], $19::int[])
        ON CONFLICT (study_id, provider_id, service_code, respondent_type) DO UPDATE SET
            invited = t.invited + EXCLUDED.invited,
            undeliverable = t.undeliverable + EXCLUDED.undeliverable,
            usable = t.usable + EXCLUDED.usable,
            partial = t.partial + EXCLUDED.partial,
            promoters = t.promoters + EXCLUDED.promoters,
            passives = t.passives + EXCLUDED.passives,
            detractors = t.detractors + EXCLUDED.detractors,
            grade_n = t.grade_n + EXCLUDED.grade_n,
            grade_sum = t.grade_sum + EXCLUDED.grade_sum,
            grade_sumsq = t.grade_sumsq + EXCLUDED.grade_sumsq,
            refusal = t.refusal + EXCLUDED.refusal,
            non_contact = t.non_contact + EXCLUDED.non_contact,
            other = t.other + EXCLUDED.other,
            unknown_household = t.unknown_household + EXCLUDED.unknown_household,
            unknown_other = t.unknown_other + EXCLUDED.unknown_other,
            previous_version = t.version,
            version = gen_random_uuid()
        RETURNING study_id, provider_id, service_code, respondent_type, previous_version, version
        """,
        *_key_columns(keys),
        [changes[k].invited for k in keys],
        [changes[k].undeliverable for k in keys],
        [changes[k].usable for k in keys],
        [changes[k].partial for k in keys],
        [changes[k].promoters for k in keys],
        [changes[k].passives for k in keys],
        [changes[k].detractors for k in keys],
        [changes[k].grade_n for k in keys],
        [changes[k].grade_sum for k in keys],
        [changes[k].grade_sumsq for k in keys],
        [changes[k].refusal for k in keys],
        [changes[k].non_contact for k in keys],
        [changes[k].other for k in keys],
        [changes[k].unknown_household for k in keys],
        [changes[k].unknown_other for k in keys],
    )
    # Rows in key order: the keys are sorted once, each unit's own rows by their plain values.
    grades = [(k, g, c) for k in keys for g, c in sorted(changes[k].grades.items()) if c]
    if grades:
        await conn.execute(
            """
            INSERT INTO scoring.unit_grades AS t
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::numeric[], $6::int[])
            ON CONFLICT (study_id, provider_id, service_code, respondent_type, grade) DO UPDATE SET
                n = t.n + EXCLUDED.n
            """,
            *_key_columns(k for k, _, _ in grades),
            [g for _, g, _ in grades],
            [c for _, _, c in grades],
        )
    answers = [
        (k, question, answer, count, changes[k].question_types.get(question, "unknown"))
        for k in keys
        for question, counts in sorted(changes[k].answers.items())
        for answer, count in sorted(counts.items())
        if count
    ]
    if answers:
        await conn.execute(
            """
            INSERT INTO scoring.unit_answers AS t
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                 $7::int[], $8::text[])
            ON CONFLICT (study_id, provider_id, service_code, respondent_type, question_id, answer)
                DO UPDATE SET n = t.n + EXCLUDED.n
            """,
            *_key_columns(a[0] for a in answers),
            [a[1] for a in answers],
            [a[2] for a in answers],
            [a[3] for a in answers],
            [a[4] for a in answers],
        )
    return {_unit(r): (r["previous_version"], r["version"]) for r in records}


def _key_columns(keys: Iterable[UnitKey]) -> tuple[list[str], list[str], list[str], list[str]]:
    listed = list(keys)
    return (
        [k.study_id for k in listed],
        [k.provider_id for k in listed],
        [k.service_code for k in listed],
        [k.respondent_type for k in listed],
    )


@dataclass(frozen=True)
class OutboxMessage:
    """An event already serialised, for the outbox (the relay publishes it as it is)."""

    event_id: uuid.UUID
    topic: str
    key: str
    body: bytes


async def add_snapshots_to_outbox(conn: Connection, messages: Sequence[OutboxMessage]) -> None:
    """Record serialised events in this service's outbox, in order (many at once by COPY)."""
    rows = [(m.event_id, m.topic, m.key, m.body) for m in messages]
    if len(rows) >= _COPY_FROM:
        await conn.copy_records_to_table(
            "outbox", schema_name=SCHEMA, columns=["event_id", "topic", "message_key", "body"], records=rows
        )
    elif rows:
        await conn.executemany(
            "INSERT INTO scoring.outbox (event_id, topic, message_key, body) VALUES ($1, $2, $3, $4)", rows
        )


_COPY_FROM = 100


async def stamp_snapshots(conn: Connection, providers: Sequence[ProviderKey]) -> dict[ProviderKey, datetime]:
    """The new snapshot moment (as_of) of each provider: strictly later than its previous one,
    even if the clock steps back, so reporting can keep the newest by comparing moments."""
    keys = sorted(set(providers))
    records = await conn.fetch(
        """
        INSERT INTO scoring.snapshots AS s (study_id, provider_id, as_of)
        SELECT p.*, clock_timestamp() FROM unnest($1::text[], $2::text[]) AS p
        ON CONFLICT (study_id, provider_id) DO UPDATE SET
            as_of = greatest(clock_timestamp(), s.as_of + interval '1 microsecond')
        RETURNING study_id, provider_id, as_of
        """,
        [k.study_id for k in keys],
        [k.provider_id for k in keys],
    )
    return {ProviderKey(r["study_id"], r["provider_id"]): r["as_of"] for r in records}


async def hold_back(conn: Connection, providers: Sequence[ProviderKey], interval_seconds: float) -> None:
    """Keep these providers' snapshots pending, each due ``interval_seconds`` after its latest
    one (at once when it has none or that is longer ago); an earlier due moment stays."""
    keys = sorted(set(providers))
    if not keys:
        return
    await conn.execute(
        """
        INSERT INTO scoring.pending_snapshots AS p (study_id, provider_id, due_at)
        SELECT k.study_id, k.provider_id,
               greatest(clock_timestamp(), coalesce(s.as_of + make_interval(secs => $3), clock_timestamp()))
        FROM unnest($1::text[], $2::text[]) AS k (study_id, provider_id)
        LEFT JOIN scoring.snapshots s USING (study_id, provider_id)
        ORDER BY k.study_id, k.provider_id
        ON CONFLICT (study_id, provider_id) DO UPDATE SET due_at = least(p.due_at, EXCLUDED.due_at)
        """,
        [k.study_id for k in keys],
        [k.provider_id for k in keys],
        interval_seconds,
    )


async def seconds_to_next_snapshot(conn: Connection) -> float | None:
    """How long until the earliest held-back snapshot is due (0 if one is); None if none is held."""
    due: float | None = await conn.fetchval(
        "SELECT greatest(0, extract(epoch FROM min(due_at) - clock_timestamp()))::float8"
        " FROM scoring.pending_snapshots"
    )
    return due


async def take_due_snapshots(conn: Connection, limit: int, interval_seconds: float) -> list[ProviderKey]:
    """Take the pending snapshots that are due, oldest first (concurrent takers skip each other's
    rows). One whose provider got a snapshot within the interval after all (a batch that held it
    back did not yet see that snapshot committed) is put back, due when its interval ends."""
    taken = await conn.fetch(
        """
        DELETE FROM scoring.pending_snapshots WHERE (study_id, provider_id) IN (
            SELECT study_id, provider_id FROM scoring.pending_snapshots
            WHERE due_at <= clock_timestamp() ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        RETURNING study_id, provider_id
        """,
        limit,
    )
    if not taken:
        return []
    early = await conn.fetch(
        """
        SELECT study_id, provider_id, as_of + make_interval(secs => $3) AS due_at FROM scoring.snapshots
        WHERE (study_id, provider_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
          AND as_of + make_interval(secs => $3) > clock_timestamp()
        ORDER BY study_id, provider_id
        """,
        [r["study_id"] for r in taken],
        [r["provider_id"] for r in taken],
        interval_seconds,
    )
    if early:
        await conn.execute(
            """
            INSERT INTO scoring.pending_snapshots AS p (study_id, provider_id, due_at)
            SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
            ON CONFLICT (study_id, provider_id) DO UPDATE SET due_at = least(p.due_at, EXCLUDED.due_at)
            """,
            [r["study_id"] for r in early],
            [r["provider_id"] for r in early],
            [r["due_at"] for r in early],
        )
    put_back = {(r["study_id"], r["provider_id"]) for r in early}
    return sorted(
        ProviderKey(r["study_id"], r["provider_id"])
        for r in taken
        if (r["study_id"], r["provider_id"]) not in put_back
    )


async def latest_snapshot_moments(conn: Connection, study_id: str) -> dict[str, datetime]:
    records = await conn.fetch(
        "SELECT provider_id, as_of FROM scoring.snapshots WHERE study_id = $1", study_id
    )
    return {r["provider_id"]: r["as_of"] for r in records}


async def schemes_of(conn: Connection, study_ids: Iterable[str]) -> dict[str, str]:
    """The scheme of each study that has one (from its invitations)."""
    records = await conn.fetch(
        "SELECT study_id, scheme_id FROM scoring.studies WHERE study_id = ANY($1::text[])",
        sorted(set(study_ids)),
    )
    return {r["study_id"]: r["scheme_id"] for r in records}


@dataclass(frozen=True)
class KeptUnit:
    """A unit's row: its counts, its exact grade sums and its version."""

    version: uuid.UUID
    counts: dict[str, int]
    grade_sums: tuple[int, Decimal, Decimal]


@dataclass(frozen=True)
class KeptUnits:
    """Units as kept, with the exact grade sums the units table holds beside the grade counts."""

    tallies: dict[UnitKey, UnitTally]
    grade_sums: dict[UnitKey, tuple[int, Decimal, Decimal]]


_PROVIDERS = "(study_id, provider_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
_UNITS = (
    "(study_id, provider_id, service_code, respondent_type)"
    " IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]))"
)


async def unit_rows(conn: Connection, providers: Iterable[ProviderKey]) -> dict[UnitKey, KeptUnit]:
    """The unit rows (counts and version) of these providers; ``benchmark_of(study)`` for a benchmark."""
    keys = sorted(set(providers))
    records = await conn.fetch(
        f"SELECT * FROM scoring.units WHERE {_PROVIDERS}",
        [k.study_id for k in keys],
        [k.provider_id for k in keys],
    )
    return {
        _unit(r): KeptUnit(
            r["version"],
            {name: r[name] for name in UnitTally.COUNTS},
            (r["grade_n"], r["grade_sum"], r["grade_sumsq"]),
        )
        for r in records
    }


async def unit_details(conn: Connection, units: Iterable[UnitKey]) -> dict[UnitKey, UnitTally]:
    """The grade and answer counts of these units (as tallies without their counts)."""
    keys = sorted(set(units))
    if not keys:
        return {}
    return await _details(conn, _UNITS, _key_columns(keys))


async def study_units(conn: Connection, study_id: str) -> KeptUnits:
    """Every unit of a study, the benchmark's included, read in full."""
    records = await conn.fetch("SELECT * FROM scoring.units WHERE study_id = $1", study_id)
    tallies = await _details(conn, "study_id = $1", (study_id,))
    sums: dict[UnitKey, tuple[int, Decimal, Decimal]] = {}
    for r in records:
        key = _unit(r)
        tally = tallies.setdefault(key, UnitTally())
        for name in UnitTally.COUNTS:
            setattr(tally, name, r[name])
        sums[key] = (r["grade_n"], r["grade_sum"], r["grade_sumsq"])
    return KeptUnits(tallies, sums)


async def _details(conn: Connection, where: str, args: Sequence[Any]) -> dict[UnitKey, UnitTally]:
    grades = await conn.fetch(
        f"SELECT study_id, provider_id, service_code, respondent_type, grade, n"
        f" FROM scoring.unit_grades WHERE {where} AND n <> 0",
        *args,
    )
    answers = await conn.fetch(
        f"SELECT study_id, provider_id, service_code, respondent_type, question_id, answer, n, question_type"
        f" FROM scoring.unit_answers WHERE {where} AND n <> 0",
        *args,
    )
    # Rows come in the thousands: one tally per unit, looked up by the row's plain key values.
    by_row: dict[tuple[str, str, str, str], UnitTally] = {}

    def tally_of(r: Any) -> UnitTally:
        row_key = (r["study_id"], r["provider_id"], r["service_code"], r["respondent_type"])
        tally = by_row.get(row_key)
        if tally is None:
            tally = by_row[row_key] = UnitTally()
        return tally

    for r in grades:
        tally_of(r).grades[r["grade"]] = r["n"]
    for r in answers:
        tally = tally_of(r)
        counts = tally.answers.get(r["question_id"])
        if counts is None:
            counts = tally.answers[r["question_id"]] = {}
            tally.question_types[r["question_id"]] = r["question_type"]
        counts[r["answer"]] = r["n"]
    return {UnitKey(*row_key): tally for row_key, tally in by_row.items()}


# --- UWV jobcoach: periods ------------------------------------------------------------------


async def record_jobcoach_periods(conn: Connection, issued: Sequence[InvitationIssuedPayload]) -> None:
    """Keep the jobcoach period key of each invitation that carries one (a redelivery changes
    nothing)."""
    rows = sorted(
        {p.invitation_id: p for p in issued if p.jobcoach_period is not None}.values(),
        key=lambda p: p.invitation_id,
    )
    if not rows:
        return
    await conn.execute(
        """
        INSERT INTO scoring.jobcoach_periods (invitation_id, study_id, provider_id, period)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
        ON CONFLICT (invitation_id) DO NOTHING
        """,
        [p.invitation_id for p in rows],
        [p.study_id for p in rows],
        [p.provider_id for p in rows],
        [p.jobcoach_period for p in rows],
    )


async def period_facts(
    conn: Connection, study_id: str, provider_ids: Sequence[str]
) -> dict[str, list[PeriodFact]]:
    """Per provider every counted (usable, not withdrawn) questionnaire of a jobcoach period."""
    records = await conn.fetch(
        """
        SELECT p.provider_id, p.period, r.respondent_type, r.grade, r.submitted_at
        FROM scoring.jobcoach_periods p JOIN scoring.responses r USING (invitation_id)
        WHERE p.study_id = $1 AND p.provider_id = ANY($2::text[]) AND r.usable AND r.withdrawn_at IS NULL
        ORDER BY p.provider_id, r.submitted_at, p.period
        """,
        study_id,
        list(provider_ids),
    )
    found: dict[str, list[PeriodFact]] = {}
    for r in records:
        fact = PeriodFact(r["period"], r["respondent_type"], r["grade"], r["submitted_at"])
        found.setdefault(r["provider_id"], []).append(fact)
    return found


async def jobcoach_period_keys(conn: Connection, study_id: str) -> dict[uuid.UUID, str]:
    """Invitation → jobcoach period key, for a recompute from a JSON Lines file."""
    records = await conn.fetch(
        "SELECT invitation_id, period FROM scoring.jobcoach_periods WHERE study_id = $1", study_id
    )
    return {r["invitation_id"]: r["period"] for r in records}


# --- where the clients come from: invitations per province ------------------------------------


async def record_provinces(
    conn: Connection, issued: Sequence[InvitationIssuedPayload]
) -> dict[ProvinceKey, int]:
    """Keep the province of each new invitation that carries one and count it; returns the
    counts added (a redelivered invitation changes nothing). Independent of ``scoring.issued``,
    so an invitation whose undeliverable event came first still counts in its province."""
    rows = sorted(
        {p.invitation_id: p for p in issued if p.province is not None}.values(),
        key=lambda p: p.invitation_id,
    )
    if not rows:
        return {}
    records = await conn.fetch(
        """
        INSERT INTO scoring.invitation_provinces
            (invitation_id, study_id, provider_id, respondent_type, province)
        SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[])
        ON CONFLICT (invitation_id) DO NOTHING
        RETURNING study_id, provider_id, respondent_type, province
        """,
        [p.invitation_id for p in rows],
        [p.study_id for p in rows],
        [p.provider_id for p in rows],
        [p.respondent_type for p in rows],
        [p.province for p in rows],
    )
    added = count_provinces(_province_key(r) for r in records)
    keys = sorted(added, key=province_order)
    if keys:
        await conn.execute(
            """
            INSERT INTO scoring.province_counts AS t
                (study_id, provider_id, respondent_type, province, invited)
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[])
            ON CONFLICT (study_id, provider_id, respondent_type, province)
            DO UPDATE SET invited = t.invited + EXCLUDED.invited
            """,
            [k.study_id for k in keys],
            [k.provider_id for k in keys],
            [k.respondent_type for k in keys],
            [k.province for k in keys],
            [added[k] for k in keys],
        )
    return added


def _province_key(record: Any) -> ProvinceKey:
    return ProvinceKey(
        record["study_id"], record["provider_id"], record["respondent_type"], record["province"]
    )


def province_order(key: ProvinceKey) -> tuple[str, str, str, str]:
    return (key.study_id, key.provider_id, key.respondent_type, key.province)


async def kept_province_counts(
    conn: Connection, study_id: str, provider_ids: Sequence[str] | None = None
) -> dict[ProvinceKey, int]:
    """The counted invitations per province (of some providers, or all) in a study."""
    records = await conn.fetch(
        """
        SELECT study_id, provider_id, respondent_type, province, invited FROM scoring.province_counts
        WHERE study_id = $1 AND ($2::text[] IS NULL OR provider_id = ANY($2::text[]))
        """,
        study_id,
        None if provider_ids is None else list(provider_ids),
    )
    return {_province_key(r): r["invited"] for r in records}


async def invitation_provinces(conn: Connection, study_id: str) -> list[ProvinceKey]:
    """The province of every kept invitation of a study that has one: what a recompute counts."""
    records = await conn.fetch(
        "SELECT study_id, provider_id, respondent_type, province FROM scoring.invitation_provinces"
        " WHERE study_id = $1",
        study_id,
    )
    return [_province_key(r) for r in records]


# --- recompute: the facts ---------------------------------------------------------------------


async def invitation_counts(conn: Connection, study_id: str) -> dict[UnitKey, tuple[int, int]]:
    """Per unit how many invitations were issued and how many of them proved undeliverable."""
    records = await conn.fetch(
        """
        SELECT study_id, provider_id, service_code, respondent_type,
               count(*) AS invited, count(*) FILTER (WHERE undeliverable) AS undeliverable
        FROM scoring.issued WHERE study_id = $1
        GROUP BY study_id, provider_id, service_code, respondent_type
        """,
        study_id,
    )
    return {_unit(r): (r["invited"], r["undeliverable"]) for r in records}


async def kept_responses(conn: Connection, study_id: str) -> list[tuple[uuid.UUID, KeptResponse]]:
    """Every response of a study that counts (kept and not withdrawn), with its invitation."""
    records = await conn.fetch(
        """
        SELECT invitation_id, study_id, provider_id, service_code, respondent_type, questionnaire_id,
               questionnaire_version, usable, answers
        FROM scoring.responses WHERE study_id = $1 AND withdrawn_at IS NULL
        ORDER BY invitation_id
        """,
        study_id,
    )
    return [(r["invitation_id"], _stored_response(r)) for r in records]


async def submitted_times(conn: Connection, study_id: str) -> dict[uuid.UUID, datetime]:
    """When each kept (not withdrawn) response of a study was submitted, by invitation."""
    records = await conn.fetch(
        "SELECT invitation_id, submitted_at FROM scoring.responses"
        " WHERE study_id = $1 AND withdrawn_at IS NULL",
        study_id,
    )
    return {r["invitation_id"]: r["submitted_at"] for r in records}


async def approach_classes(conn: Connection, study_id: str) -> list[tuple[uuid.UUID, UnitKey, str]]:
    """Every approached invitation of a study with the best class its approaches gave."""
    records = await conn.fetch(
        """
        SELECT invitation_id, study_id, provider_id, service_code, respondent_type, approach
        FROM scoring.dispositions WHERE study_id = $1 AND approach IS NOT NULL
        ORDER BY invitation_id
        """,
        study_id,
    )
    return [(r["invitation_id"], _unit(r), r["approach"]) for r in records]


def benchmark_of(study_id: str) -> ProviderKey:
    return ProviderKey(study_id, ALL_PROVIDERS)


async def usable_answers(conn: Connection, study_id: str, provider_id: str) -> list[dict[str, Any]]:
    """The answers of every usable, kept (not withdrawn) response of a provider: for the staff
    survey's group comparisons, which need answers side by side (never leaves this service)."""
    records = await conn.fetch(
        """
        SELECT answers FROM scoring.responses
        WHERE study_id = $1 AND provider_id = $2 AND usable AND withdrawn_at IS NULL AND answers IS NOT NULL
        ORDER BY response_id
        """,
        study_id,
        provider_id,
    )
    return [dict(r["answers"]) for r in records]


# --- fieldwork: the figures of the forecast ------------------------------------------------------

_FIELDWORK = """
SELECT i.provider_id, i.respondent_type,
       count(*) AS net_sample,
       count(*) FILTER (WHERE r.usable AND r.withdrawn_at IS NULL) AS usable,
       count(*) FILTER (WHERE r.invitation_id IS NOT NULL
                        AND NOT (coalesce(r.usable, false) AND r.withdrawn_at IS NULL)) AS closed,
       coalesce(sum(greatest(0, extract(epoch FROM r.submitted_at - coalesce(i.issued_at, r.submitted_at))))
                FILTER (WHERE r.usable AND r.withdrawn_at IS NULL), 0)::float8 / 86400 AS delay_days_sum
FROM scoring.issued i LEFT JOIN scoring.responses r USING (invitation_id)
WHERE i.study_id = $1 AND NOT i.undeliverable
GROUP BY i.provider_id, i.respondent_type
"""

# Those who have not answered, by whole hours since their invitation (a time-less invitation,
# kept before invitation times were, counts as issued now).
_WAITING = """
SELECT i.provider_id, i.respondent_type,
       floor(greatest(0, extract(epoch FROM $2::timestamptz - coalesce(i.issued_at, $2::timestamptz))) / 3600)
           AS hours,
       count(*) AS n
FROM scoring.issued i LEFT JOIN scoring.responses r USING (invitation_id)
WHERE i.study_id = $1 AND NOT i.undeliverable AND r.invitation_id IS NULL
GROUP BY 1, 2, 3
"""


async def fieldwork(conn: Connection, study_id: str, now: datetime) -> list[ProviderFieldwork]:
    """Per provider and respondent type: net sample, usable and closed cases, the sum of the
    response delays, and the people still waiting by age in days (hour resolution)."""
    waiting: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for r in await conn.fetch(_WAITING, study_id, now):
        age_days = (float(r["hours"]) + 0.5) / 24
        waiting.setdefault((r["provider_id"], r["respondent_type"]), []).append((age_days, r["n"]))
    return [
        ProviderFieldwork(
            provider_id=r["provider_id"],
            respondent_type=r["respondent_type"],
            net_sample=r["net_sample"],
            usable=r["usable"],
            closed=r["closed"],
            delay_days_sum=r["delay_days_sum"],
            waiting=tuple(sorted(waiting.get((r["provider_id"], r["respondent_type"]), []))),
        )
        for r in await conn.fetch(_FIELDWORK, study_id)
    ]
