"""All SQL of the reporting service: set-based, one statement per batch and table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from services.reporting.domain import Snapshot
from shared.db import Connection

SCHEMA = "reporting"

_SNAPSHOT_COLUMNS = (
    "study_id, provider_id, net_sample, completed, response_rate, mean_grade, grade_sum, as_of"
)


async def keep_newer_snapshots(conn: Connection, snapshots: Sequence[Snapshot]) -> list[Snapshot]:
    """Store the snapshots newer than the stored ones; returns exactly those.

    Expects at most one snapshot per provider (an upsert may touch a row only once).
    A snapshot not newer than the stored one (late, or redelivered) is not returned.
    """
    rows = sorted(snapshots, key=lambda s: s.key)  # one lock order for every batch
    records = await conn.fetch(
        f"""
        INSERT INTO reporting.snapshots AS s ({_SNAPSHOT_COLUMNS})
        SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[], $5::float8[], $6::float8[],
                             $7::float8[], $8::timestamptz[])
        ON CONFLICT (study_id, provider_id) DO UPDATE SET
            net_sample = EXCLUDED.net_sample,
            completed = EXCLUDED.completed,
            response_rate = EXCLUDED.response_rate,
            mean_grade = EXCLUDED.mean_grade,
            grade_sum = EXCLUDED.grade_sum,
            as_of = EXCLUDED.as_of,
            received_at = now()
        WHERE s.as_of < EXCLUDED.as_of
        RETURNING {_SNAPSHOT_COLUMNS}
        """,
        [s.study_id for s in rows],
        [s.provider_id for s in rows],
        [s.net_sample for s in rows],
        [s.completed for s in rows],
        [s.response_rate for s in rows],
        [s.mean_grade for s in rows],
        [s.grade_sum for s in rows],
        [s.as_of for s in rows],
    )
    return [_snapshot(r) for r in records]


async def next_report_versions(
    conn: Connection, paths: Mapping[tuple[str, str], Path]
) -> dict[tuple[str, str], int]:
    """Bump the report version of each (study, provider) and record its file; returns the versions."""
    keys = sorted(paths)
    records = await conn.fetch(
        """
        INSERT INTO reporting.reports AS r (study_id, provider_id, version, path, written_at)
        SELECT k.study_id, k.provider_id, 1, k.path, clock_timestamp()
        FROM unnest($1::text[], $2::text[], $3::text[]) AS k (study_id, provider_id, path)
        ON CONFLICT (study_id, provider_id) DO UPDATE SET
            version = r.version + 1, path = EXCLUDED.path, written_at = EXCLUDED.written_at
        RETURNING study_id, provider_id, version
        """,
        [study_id for study_id, _ in keys],
        [provider_id for _, provider_id in keys],
        [str(paths[k]) for k in keys],
    )
    return {(r["study_id"], r["provider_id"]): r["version"] for r in records}


async def study_summary(conn: Connection, study_id: str) -> list[dict[str, Any]]:
    """Each provider's latest figures in a study with its report version (None before the first)."""
    records = await conn.fetch(
        """
        SELECT s.provider_id, s.net_sample, s.completed, s.response_rate, s.mean_grade,
               r.version AS report_version,
               -- the headline group's grade may be shown (disclosure control; no payload: old rows)
               NOT EXISTS (
                   SELECT 1 FROM jsonb_array_elements(coalesce(s.payload->'totals', '[]'::jsonb)) AS t
                   WHERE t->>'respondent_type' = coalesce(s.payload->>'headline', t->>'respondent_type')
                     AND (t->>'disclosable')::boolean IS FALSE
               ) AS disclosable
        FROM reporting.snapshots AS s
        LEFT JOIN reporting.reports AS r USING (study_id, provider_id)
        WHERE s.study_id = $1
        ORDER BY s.provider_id
        """,
        study_id,
    )
    return [dict(r) for r in records]


async def report_path(conn: Connection, study_id: str, provider_id: str) -> Path | None:
    """Where the current report of a provider was written, or None when there is none."""
    path: str | None = await conn.fetchval(
        "SELECT path FROM reporting.reports WHERE study_id = $1 AND provider_id = $2", study_id, provider_id
    )
    return None if path is None else Path(path)


def _snapshot(record: Any) -> Snapshot:
    return Snapshot(
        study_id=record["study_id"],
        provider_id=record["provider_id"],
        net_sample=record["net_sample"],
        completed=record["completed"],
        response_rate=record["response_rate"],
        mean_grade=record["mean_grade"],
        grade_sum=record["grade_sum"],
        as_of=record["as_of"],
    )


# --- lifecycle: full snapshots, drafts, responses, final versions, register -------------------


async def keep_payloads(conn: Connection, payloads: Sequence[tuple[str, str, str]]) -> None:
    """Store the full snapshot (JSON) beside the stored top-level figures: (study, provider, json)."""
    rows = sorted(payloads)
    await conn.execute(
        """
        UPDATE reporting.snapshots AS s SET payload = u.payload::jsonb
        FROM unnest($1::text[], $2::text[], $3::text[]) AS u (study_id, provider_id, payload)
        WHERE s.study_id = u.study_id AND s.provider_id = u.provider_id
        """,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )


async def close_fieldwork(
    conn: Connection, study_id: str, study_name: str, period: tuple[Any, Any] | None,
    review_days: float, provider_names: Mapping[str, str],
) -> tuple[datetime | None, list[str]]:  # fmt: skip
    """Record that fieldwork closed; every provider with a snapshot gets a draft due now.
    Returns when it closed and the providers whose draft is due (None and none when the study
    was closed before)."""
    closed_at: datetime | None = await conn.fetchval(
        """
        INSERT INTO reporting.studies (study_id, study_name, period_start, period_end, review_days,
                                       provider_names, closed_at)
        VALUES ($1, $2, $3, $4, $5, $6, now()) ON CONFLICT DO NOTHING RETURNING closed_at
        """,
        study_id, study_name, period[0] if period else None, period[1] if period else None,
        round(review_days), dict(provider_names),  # jsonb: the pool's codec encodes it
    )  # fmt: skip
    if closed_at is None:
        return None, []
    records = await conn.fetch(
        """
        INSERT INTO reporting.lifecycle (study_id, provider_id, status, review_until, regenerate_due_at)
        SELECT study_id, provider_id, 'draft', now() + make_interval(secs => $2), now()
        FROM reporting.snapshots WHERE study_id = $1 AND payload IS NOT NULL
        ON CONFLICT DO NOTHING RETURNING provider_id
        """,
        study_id,
        review_days * 86400,
    )
    return closed_at, sorted(r["provider_id"] for r in records)


async def closed_studies(conn: Connection, study_ids: Sequence[str]) -> set[str]:
    """Those of ``study_ids`` whose fieldwork closed: no live interim report any more."""
    records = await conn.fetch(
        "SELECT study_id FROM reporting.studies WHERE study_id = ANY($1::text[])", sorted(set(study_ids))
    )
    return {r["study_id"] for r in records}


async def start_late_drafts(conn: Connection, keys: Sequence[tuple[str, str]]) -> None:
    """A provider whose first scores come after its study's fieldwork closed gets its draft now,
    with the study's response window (there is no interim report after closing)."""
    rows = sorted(set(keys))
    await conn.execute(
        """
        INSERT INTO reporting.lifecycle (study_id, provider_id, status, review_until, regenerate_due_at)
        SELECT k.study_id, k.provider_id, 'draft', now() + make_interval(days => st.review_days), now()
        FROM unnest($1::text[], $2::text[]) AS k (study_id, provider_id)
        JOIN reporting.studies AS st USING (study_id)
        ON CONFLICT DO NOTHING
        """,
        [k[0] for k in rows],
        [k[1] for k in rows],
    )


async def final_reports(conn: Connection, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Those of ``keys`` (study, provider) whose report is final: its figures change no more."""
    rows = sorted(set(keys))
    records = await conn.fetch(
        """
        SELECT l.study_id, l.provider_id FROM reporting.lifecycle AS l
        JOIN unnest($1::text[], $2::text[]) AS k (study_id, provider_id) USING (study_id, provider_id)
        WHERE l.status = 'final'
        """,
        [k[0] for k in rows],
        [k[1] for k in rows],
    )
    return {(r["study_id"], r["provider_id"]) for r in records}


async def point_report_at(conn: Connection, study_id: str, provider_id: str, path: Path) -> None:
    """The report's address shows this file from now on (a kept draft or final version)."""
    await conn.execute(
        """
        INSERT INTO reporting.reports (study_id, provider_id, version, path, written_at)
        VALUES ($1, $2, 0, $3, clock_timestamp())
        ON CONFLICT (study_id, provider_id) DO UPDATE
        SET path = EXCLUDED.path, written_at = EXCLUDED.written_at
        """,
        study_id,
        provider_id,
        str(path),
    )


async def schedule_regeneration(
    conn: Connection, keys: Sequence[tuple[str, str]], debounce_seconds: float
) -> None:
    """Late scores after fieldwork closed: regenerate once, ``debounce_seconds`` after the first
    late snapshot (a later one does not push the moment further out)."""
    rows = sorted(set(keys))
    await conn.execute(
        """
        UPDATE reporting.lifecycle AS l
        SET regenerate_due_at = coalesce(l.regenerate_due_at, now() + make_interval(secs => $3))
        FROM unnest($1::text[], $2::text[]) AS k (study_id, provider_id)
        WHERE l.study_id = k.study_id AND l.provider_id = k.provider_id AND l.status = 'draft'
        """,
        [k[0] for k in rows],
        [k[1] for k in rows],
        debounce_seconds,
    )


async def record_response(conn: Connection, study_id: str, provider_id: str, text: str) -> str:
    """Hoor en wederhoor: keep the provider's response with its draft and regenerate it now.
    Returns 'ok', 'no_draft' or 'window_closed'."""
    status = await conn.fetchval(
        """
        UPDATE reporting.lifecycle SET provider_response = $3, responded_at = now(), regenerate_due_at = now()
        WHERE study_id = $1 AND provider_id = $2 AND status = 'draft' AND review_until > now()
        RETURNING 'ok'
        """,
        study_id, provider_id, text,
    )  # fmt: skip
    if status:
        return "ok"
    exists = await conn.fetchval(
        "SELECT status FROM reporting.lifecycle WHERE study_id = $1 AND provider_id = $2",
        study_id,
        provider_id,
    )
    return "no_draft" if exists is None else "window_closed"


async def publish_now(conn: Connection, study_id: str, provider_id: str) -> str:
    """The bureau makes a draft final now, once the provider has responded (hoor en wederhoor is
    done) or its window has closed: the window ends now and the report loop writes the final.
    Returns 'publishing', 'final' (it was already), 'awaiting_response' or 'no_draft'."""
    status = await conn.fetchval(
        """
        UPDATE reporting.lifecycle SET review_until = least(review_until, now())
        WHERE study_id = $1 AND provider_id = $2 AND status = 'draft'
          AND (responded_at IS NOT NULL OR review_until <= now())
        RETURNING 'publishing'
        """,
        study_id, provider_id,
    )  # fmt: skip
    if status:
        return "publishing"
    current = await conn.fetchval(
        "SELECT status FROM reporting.lifecycle WHERE study_id = $1 AND provider_id = $2",
        study_id,
        provider_id,
    )
    return {None: "no_draft", "final": "final"}.get(current, "awaiting_response")


async def claim_due(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """Reports due now (a draft whose window closed becomes final; a regeneration), locked for
    this transaction; their timers are cleared. Each row: the lifecycle, study and snapshot."""
    records = await conn.fetch(
        """
        WITH due AS (
            SELECT study_id, provider_id FROM reporting.lifecycle
            WHERE regenerate_due_at <= now() OR (status = 'draft' AND review_until <= now())
            ORDER BY study_id, provider_id LIMIT $1 FOR UPDATE SKIP LOCKED
        )
        UPDATE reporting.lifecycle AS l
        SET status = CASE WHEN l.review_until <= now() THEN 'final' ELSE l.status END,
            regenerate_due_at = NULL
        FROM due WHERE l.study_id = due.study_id AND l.provider_id = due.provider_id
        RETURNING l.study_id, l.provider_id, l.status, l.review_until, l.provider_response
        """,
        limit,
    )
    if not records:
        return []
    found = await conn.fetch(
        """
        SELECT s.study_id, s.provider_id, s.payload::text AS payload, st.study_name, st.period_start,
               st.period_end, st.provider_names ->> s.provider_id AS provider_name
        FROM reporting.snapshots AS s JOIN reporting.studies AS st USING (study_id)
        WHERE (s.study_id, s.provider_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
        """,
        [r["study_id"] for r in records],
        [r["provider_id"] for r in records],
    )
    extra = {(f["study_id"], f["provider_id"]): dict(f) for f in found}
    return [
        {**dict(r), **extra[(r["study_id"], r["provider_id"])]}
        for r in records
        if (r["study_id"], r["provider_id"]) in extra
    ]


async def add_version(
    conn: Connection, study_id: str, provider_id: str, status: str, as_of: Any, folder: Path
) -> int:
    """Keep a new version (never overwritten); returns its number."""
    version: int = await conn.fetchval(
        """
        INSERT INTO reporting.versions (study_id, provider_id, version, status, snapshot_as_of, folder)
        SELECT $1, $2, coalesce(max(version), 0) + 1, $3, $4, $5
        FROM reporting.versions WHERE study_id = $1 AND provider_id = $2
        RETURNING version
        """,
        study_id, provider_id, status, as_of, str(folder),
    )  # fmt: skip
    return version


async def versions(conn: Connection, study_id: str, provider_id: str) -> list[dict[str, Any]]:
    records = await conn.fetch(
        """
        SELECT v.version, v.status, v.snapshot_as_of, v.created_at, v.folder,
               l.review_until, l.provider_response IS NOT NULL AS has_response
        FROM reporting.versions AS v
        LEFT JOIN reporting.lifecycle AS l USING (study_id, provider_id)
        WHERE v.study_id = $1 AND v.provider_id = $2 ORDER BY v.version
        """,
        study_id,
        provider_id,
    )
    return [dict(r) for r in records]


async def register_rows(conn: Connection, study_id: str) -> list[dict[str, Any]]:
    """Final reports of a study with their snapshot (the register shows only eligible grades)."""
    records = await conn.fetch(
        """
        SELECT s.provider_id, s.payload::text AS payload,
               st.provider_names ->> s.provider_id AS provider_name,
               st.study_name, st.period_start, st.period_end, v.version, v.created_at
        FROM reporting.lifecycle AS l
        JOIN reporting.snapshots AS s USING (study_id, provider_id)
        JOIN reporting.studies AS st USING (study_id)
        LEFT JOIN LATERAL (
            SELECT version, created_at FROM reporting.versions
            WHERE study_id = l.study_id AND provider_id = l.provider_id AND status = 'final'
            ORDER BY version DESC LIMIT 1
        ) AS v ON true
        WHERE l.study_id = $1 AND l.status = 'final'
        ORDER BY coalesce(st.provider_names ->> s.provider_id, s.provider_id), s.provider_id
        """,
        study_id,
    )
    return [dict(r) for r in records]
