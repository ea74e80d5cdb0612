"""Reporting use cases: keep the newest score snapshots and (re)write their reports.

Runs inside the consumer's one transaction per batch. Files are written before the
transaction commits: if it then fails, the batch is retried and the same files are
simply rewritten, so a report on disk is never older than its committed version.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from services.reporting import documents, store
from services.reporting.domain import Snapshot, build_report, newest_per_provider
from shared.db import Connection
from shared.events import Event, ReportPublished, ReportPublishedPayload, ScoresUpdated, ScoresUpdatedPayload
from shared.outbox import add_to_outbox


async def publish_reports(conn: Connection, events: list[Event], report_dir: Path) -> None:
    """``scores.updated``: report each provider's newest snapshot, unless a newer one is stored."""
    updates = [e for e in events if isinstance(e, ScoresUpdated)]
    newer = await store.keep_newer_snapshots(conn, newest_per_provider(snapshot(e.payload) for e in updates))
    if not newer:
        return
    versions = await _write_reports(conn, newer, report_dir)
    await add_to_outbox(conn, store.SCHEMA, _published(newer, versions, updates))


async def _write_reports(
    conn: Connection, snapshots: list[Snapshot], report_dir: Path
) -> dict[tuple[str, str], int]:
    """Bump each report's version, then render and write the files; returns the versions."""
    paths = {s.key: documents.report_file(report_dir, s.study_id, s.provider_id) for s in snapshots}
    versions = await store.next_report_versions(conn, paths)
    reports = [(paths[s.key], build_report(s, versions[s.key])) for s in snapshots]
    await asyncio.to_thread(documents.write_reports, reports)  # file I/O off the event loop
    return versions


def _published(
    snapshots: list[Snapshot], versions: dict[tuple[str, str], int], updates: list[ScoresUpdated]
) -> list[Event]:
    # Each event keeps the correlation id of the snapshot it reports, for tracing.
    correlation = {
        (u.payload.study_id, u.payload.provider_id, u.payload.as_of): u.correlation_id for u in updates
    }
    return [
        ReportPublished(
            correlation_id=correlation.get((s.study_id, s.provider_id, s.as_of), uuid.uuid4()),
            payload=ReportPublishedPayload(
                study_id=s.study_id, provider_id=s.provider_id, report_version=versions[s.key]
            ),
        )
        for s in snapshots
    ]


def snapshot(payload: ScoresUpdatedPayload) -> Snapshot:
    """What the report shows today: the top-level figures (version 1 and 2 alike; the full
    figures per unit, benchmark and norms of version 2 are for the full report, issue 7)."""
    return Snapshot(
        study_id=payload.study_id,
        provider_id=payload.provider_id,
        net_sample=payload.net_sample,
        completed=payload.completed,
        response_rate=payload.response_rate,
        mean_grade=payload.mean_grade,
        grade_sum=payload.grade_sum,
        as_of=payload.as_of,
    )
