"""Reporting use cases: keep the newest score snapshots and (re)write their reports.

Runs inside the consumer's one transaction per batch. Files are written before the
transaction commits: if it then fails, the batch is retried and the same files are
simply rewritten, so a report on disk is never older than its committed version.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path

from services.reporting import documents, store
from services.reporting.domain import Snapshot, newest_per_provider
from services.reporting.kinds import build_document
from services.reporting.model import (
    Context,
    RegisterEntry,
    RegisterPage,
    RegisterProvider,
    ReportDocument,
    default_bureau,
    nl_date,
    period_text,
    register_entries,
)
from services.reporting.pdf import PdfPrinter
from shared.apikeys import ProviderKeys
from shared.db import Connection
from shared.events import (
    Event,
    FieldworkClosed,
    FieldworkClosedPayload,
    ReportPublished,
    ReportPublishedPayload,
    ScoresUpdated,
    ScoresUpdatedPayload,
)
from shared.outbox import add_to_outbox
from shared.schemes import find_scheme
from shared.settings import Bureau

# Providers' own keys: a provider reads and answers only its own reports.
PROVIDER_KEYS = ProviderKeys("reporting")


async def publish_reports(
    conn: Connection,
    events: list[Event],
    report_dir: Path,
    debounce_seconds: float = 60.0,
    bureau: Bureau | None = None,
) -> None:
    """``scores.updated``: report each provider's newest snapshot, unless a newer one is stored.

    Before fieldwork closes the report is a live interim report (tussenstand), rewritten each
    time. After it closed there is no interim report any more: a late snapshot (a withdrawal, a
    late disposition) schedules the kept draft to be regenerated once, ``debounce_seconds``
    later (the lifecycle loop does it), so a burst gives one new version, not one per change;
    a provider whose first scores come after closing gets its draft. A final report is final:
    later snapshots of it are not kept (docs/fieldwork.md).
    """
    updates = [e for e in events if isinstance(e, ScoresUpdated)]
    final = await store.final_reports(conn, [(e.payload.study_id, e.payload.provider_id) for e in updates])
    updates = [e for e in updates if (e.payload.study_id, e.payload.provider_id) not in final]
    newer = await store.keep_newer_snapshots(conn, newest_per_provider(snapshot(e.payload) for e in updates))
    if not newer:
        return
    payloads = {(u.payload.study_id, u.payload.provider_id, u.payload.as_of): u.payload for u in updates}
    kept = [payloads[(s.study_id, s.provider_id, s.as_of)] for s in newer]
    await store.keep_payloads(conn, [(p.study_id, p.provider_id, p.model_dump_json()) for p in kept])
    await store.schedule_regeneration(conn, [s.key for s in newer], debounce_seconds)
    closed = await store.closed_studies(conn, [s.study_id for s in newer])
    await store.start_late_drafts(conn, [s.key for s in newer if s.study_id in closed])
    live = [s for s in newer if s.study_id not in closed]
    if not live:
        return
    open_studies = [p for p in kept if p.study_id not in closed]
    versions = await _write_reports(conn, open_studies, report_dir, bureau or default_bureau())
    await add_to_outbox(conn, store.SCHEMA, _published(live, versions, updates))


async def _write_reports(
    conn: Connection, payloads: list[ScoresUpdatedPayload], report_dir: Path, bureau: Bureau
) -> dict[tuple[str, str], int]:
    """Bump each live report's version, then render and write the files; returns the versions."""
    paths = {
        (p.study_id, p.provider_id): documents.report_file(report_dir, p.study_id, p.provider_id)
        for p in payloads
    }
    versions = await store.next_report_versions(conn, paths)
    pages = [
        (paths[(p.study_id, p.provider_id)], live_document(p, versions[(p.study_id, p.provider_id)], bureau))
        for p in payloads
    ]
    await asyncio.to_thread(documents.write_documents, pages)  # rendering and file I/O off the event loop
    return versions


def live_document(payload: ScoresUpdatedPayload, version: int, bureau: Bureau) -> ReportDocument:
    scheme = find_scheme(payload.scheme_id)
    context = Context("live", version, payload.provider_id, payload.study_id, bureau=bureau)
    return build_document(payload, scheme, context)


# --- lifecycle: draft, hoor en wederhoor, final -------------------------------------------------


async def close_fieldwork(
    conn: Connection, study_id: str, study_name: str, period: tuple[date, date] | None,
    review_days: float, provider_names: dict[str, str],
) -> list[str]:  # fmt: skip
    """Fieldwork closed: every provider's draft is due now (the loop writes it), and
    ``reports.fieldwork_closed`` tells the responses service to close the study's links (once:
    closing again changes nothing)."""
    closed_at, providers = await store.close_fieldwork(
        conn, study_id, study_name, period, review_days, provider_names
    )
    if closed_at is not None:
        event = FieldworkClosed(payload=FieldworkClosedPayload(study_id=study_id, closed_at=closed_at))
        await add_to_outbox(conn, store.SCHEMA, [event])
    return providers


async def produce_due_reports(
    conn: Connection, report_dir: Path, printer: PdfPrinter, limit: int = 20, bureau: Bureau | None = None
) -> int:
    """Write every due version (a draft, a final, a regeneration) as HTML, PDF, CSV and XLSX in
    its own folder, keep it, and publish ``reports.published``. Returns how many were written.
    The PDFs of a batch print side by side (the printer has a tab per core)."""
    due = await store.claim_due(conn, limit)
    versions: list[tuple[Path, ReportDocument]] = []
    events: list[Event] = []
    for row in due:
        payload = ScoresUpdatedPayload.model_validate_json(row["payload"])
        folder = documents.version_folder(report_dir, row["study_id"], row["provider_id"])
        version = await store.add_version(
            conn, row["study_id"], row["provider_id"], row["status"], payload.as_of, folder
        )
        period = (row["period_start"], row["period_end"]) if row["period_start"] else None
        context = Context(
            status=row["status"], version=version, provider_name=row["provider_name"] or row["provider_id"],
            study_name=row["study_name"], period=period, provider_response=row["provider_response"],
            review_until=row["review_until"].date() if row["status"] == "draft" else None,
            bureau=bureau or default_bureau(),
        )  # fmt: skip
        versions.append(
            (folder / f"v{version}", build_document(payload, find_scheme(payload.scheme_id), context))
        )
        events.append(
            ReportPublished(
                payload=ReportPublishedPayload(
                    study_id=row["study_id"], provider_id=row["provider_id"], report_version=version,
                    kind="pdf", status=row["status"],
                )
            )
        )  # fmt: skip
    pdfs = await asyncio.gather(
        *(printer.pdf(documents.render_document(doc, pdf=True)) for _, doc in versions)
    )
    for (folder, doc), pdf in zip(versions, pdfs, strict=True):
        await asyncio.to_thread(documents.write_version, folder, doc, pdf)
        # The report's address shows the newest kept version (draft, then final) from now on.
        await store.point_report_at(
            conn, doc.study_id, doc.provider_id, folder / documents.VERSION_FILES["html"]
        )
    if events:
        await add_to_outbox(conn, store.SCHEMA, events)
    return len(events)


async def register(conn: Connection, study_id: str) -> list[RegisterEntry]:
    """The public register: eligible grades of final reports only."""
    page = await register_page(conn, study_id)
    return [entry for provider in page.providers for entry in provider.entries]


async def register_page(conn: Connection, study_id: str) -> RegisterPage:
    """The public register as a page: the study's name and period, each provider once with its
    published grades and a link to the final report they come from."""
    rows = await store.register_rows(conn, study_id)
    providers = []
    for row in rows:
        if row["payload"] is None:
            continue
        payload = ScoresUpdatedPayload.model_validate_json(row["payload"])
        name = row["provider_name"] or row["provider_id"]
        entries = register_entries(payload, find_scheme(payload.scheme_id), name)
        if not entries:
            continue
        url = f"/reports/{study_id}/{row['provider_id']}/v{row['version']}.pdf" if row["version"] else ""
        final_on = nl_date(row["created_at"].date()) if row["created_at"] else ""
        providers.append(RegisterProvider(name, url, final_on, tuple(entries)))
    first = rows[0] if rows else None
    period = (first["period_start"], first["period_end"]) if first and first["period_start"] else None
    study_name = first["study_name"] if first else study_id
    return RegisterPage(study_id, study_name, period_text(period), tuple(providers))


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
