"""Scoring service wiring: count invitations, responses and withdrawals, publish score snapshots."""

from __future__ import annotations

from services.scoring import service
from services.scoring.http import create_http_app
from shared.db import migrations_dir
from shared.events import ScoresUpdated, Topics
from shared.runtime import Loop, ServiceContext, ServiceRuntime
from shared.settings import Settings

NAME = "scoring"


def wire(ctx: ServiceContext) -> list[Loop]:
    ctx.publishes(ScoresUpdated)
    ctx.consume(Topics.INVITATIONS_ISSUED, service.count_invitations)
    ctx.consume(Topics.INVITATIONS_UNDELIVERABLE, service.count_undeliverable)
    ctx.consume(Topics.RESPONSES_SUBMITTED, service.count_responses)
    ctx.consume(Topics.RESPONSES_WITHDRAWN, service.count_withdrawals)
    return []


def runtime(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(
        NAME, settings, migrations=migrations_dir("services.scoring"), wire=wire, http_app=create_http_app
    )
