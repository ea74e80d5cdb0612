"""Reporting service wiring: write a report for every new score snapshot."""

from __future__ import annotations

from functools import partial

from services.reporting import service
from services.reporting.http import create_http_app
from shared.db import migrations_dir
from shared.events import ReportPublished, Topics
from shared.runtime import Loop, ServiceContext, ServiceRuntime
from shared.settings import Settings

NAME = "reporting"


def wire(ctx: ServiceContext) -> list[Loop]:
    ctx.publishes(ReportPublished)
    ctx.consume(Topics.SCORES_UPDATED, partial(service.publish_reports, report_dir=ctx.settings.report_dir))
    return []


def runtime(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(
        NAME, settings, migrations=migrations_dir("services.reporting"), wire=wire, http_app=create_http_app
    )
