"""All SQL of the reporting service: set-based, one statement per batch and table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
               r.version AS report_version
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
