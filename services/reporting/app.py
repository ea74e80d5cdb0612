"""Reporting service wiring: write a report for every new score snapshot."""

from __future__ import annotations

import asyncio
import os
from functools import partial

from services.reporting import pdf, service
from services.reporting.http import create_http_app
from shared.db import migrations_dir
from shared.events import FieldworkClosed, ReportPublished, Topics
from shared.logging import get_logger
from shared.runtime import Loop, ServiceContext, ServiceRuntime
from shared.settings import Settings

NAME = "reporting"
log = get_logger(__name__)


def wire(ctx: ServiceContext) -> list[Loop]:
    ctx.publishes(ReportPublished, FieldworkClosed)
    settings = ctx.settings
    ctx.consume(
        Topics.SCORES_UPDATED,
        partial(
            service.publish_reports,
            report_dir=settings.report_dir,
            debounce_seconds=settings.report_debounce_seconds,
            bureau=settings.bureau,
        ),
    )

    async def lifecycle() -> None:
        """Drafts, finals and debounced regenerations, whenever they are due (timers in the database).
        One PDF printer (a Chromium) serves the loop for the service's lifetime."""
        async with pdf.printer(pages=os.cpu_count() or 1) as printer:
            log.info("report_pdf_engine", engine=printer.name)
            while True:
                try:
                    async with ctx.pool.acquire() as conn, conn.transaction():
                        written = await service.produce_due_reports(
                            conn, settings.report_dir, printer, bureau=settings.bureau
                        )
                except Exception as exc:
                    log.error("report_lifecycle_failed", error=repr(exc))
                    written = 0
                if written:
                    ctx.relay.wake()  # report.published now, not at the relay's next poll
                else:
                    await asyncio.sleep(settings.scheduler_poll_seconds)

    ctx.consume(Topics.INVITATIONS_PROVIDER_REGISTERED, service.PROVIDER_KEYS.keep)
    return [lifecycle]


def runtime(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(
        NAME, settings, migrations=migrations_dir("services.reporting"), wire=wire, http_app=create_http_app
    )
