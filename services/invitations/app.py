"""Invitations service wiring: consumers, the email scheduler and the HTTP app."""

from __future__ import annotations

import asyncio

from services.invitations import service
from services.invitations.http import create_http_app
from services.invitations.mailer import Mailer
from shared.db import migrations_dir
from shared.events import DeliveryChecked, InvitationIssued, InvitationUndeliverable, Topics
from shared.logging import get_logger
from shared.runtime import Loop, ServiceContext, ServiceRuntime
from shared.settings import Settings

NAME = "invitations"
log = get_logger(__name__)


def wire(ctx: ServiceContext) -> list[Loop]:
    ctx.publishes(InvitationIssued, InvitationUndeliverable, DeliveryChecked)
    ctx.consume(Topics.RESPONSES_SUBMITTED, service.stop_reminders)
    mailer = Mailer(ctx.settings)

    async def email_scheduler() -> None:
        while True:
            try:
                sent = await service.send_due_emails(ctx.pool, ctx.settings, mailer)
            except Exception as exc:  # a failed round is retried on the next poll
                log.warning("email_round_failed", error=repr(exc))
                sent = 0
            if sent:
                ctx.relay.wake()
            else:
                await asyncio.sleep(ctx.settings.scheduler_poll_seconds)

    return [email_scheduler]


def runtime(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(
        NAME, settings, migrations=migrations_dir("services.invitations"), wire=wire, http_app=create_http_app
    )
