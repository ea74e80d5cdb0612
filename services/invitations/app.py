"""Invitations service wiring: consumers, the wave schedulers (email, post, phone) and the HTTP app."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from services.invitations import service
from services.invitations.http import create_http_app
from services.invitations.mailer import Mailer
from shared.db import migrations_dir
from shared.events import (
    DeliveryChecked,
    InvitationApproached,
    InvitationIssued,
    InvitationOptedOut,
    InvitationUndeliverable,
    Topics,
)
from shared.logging import get_logger
from shared.runtime import Loop, ServiceContext, ServiceRuntime
from shared.settings import Settings

NAME = "invitations"
log = get_logger(__name__)


def wire(ctx: ServiceContext) -> list[Loop]:
    ctx.publishes(
        InvitationIssued, InvitationUndeliverable, DeliveryChecked, InvitationApproached, InvitationOptedOut
    )
    ctx.consume(Topics.RESPONSES_SUBMITTED, service.stop_reminders)
    ctx.consume(Topics.REPORTS_FIELDWORK_CLOSED, service.close_fieldwork)
    mailer = Mailer(ctx.settings)

    async def emails() -> int:
        return await service.send_due_emails(ctx.pool, ctx.settings, mailer)

    async def letters() -> int:
        wave = await service.make_letter_wave(ctx.pool, ctx.settings)
        return 1 if wave is not None else 0

    async def calls() -> int:
        return await service.open_due_calls(ctx.pool, ctx.settings)

    async def wave_progress() -> None:
        while True:
            try:
                await service.update_wave_progress(ctx.pool)
            except Exception as exc:  # a metric must never stop the service
                log.warning("wave_progress_failed", error=repr(exc))
            await asyncio.sleep(ctx.settings.metrics_poll_seconds)

    return [
        wave_progress,
        *(_scheduler(ctx, f"email_{n}", emails) for n in range(ctx.settings.email_rounds_in_flight)),
        _scheduler(ctx, "post", letters),
        _scheduler(ctx, "phone", calls),
    ]


def _scheduler(ctx: ServiceContext, name: str, one_round: Callable[[], Awaitable[int]]) -> Loop:
    """A loop that runs rounds while there is work and polls when there is none.

    A round is finished even when the service stops in the middle of it (shielded): its emails
    are on their way, so its outcomes must be committed, or a restart would send them again.
    """

    async def loop() -> None:
        while True:
            task = asyncio.ensure_future(one_round())
            try:
                done = await asyncio.shield(task)
            except asyncio.CancelledError:
                await asyncio.wait([task])
                raise
            except Exception as exc:  # a failed round is retried on the next poll
                log.warning("wave_round_failed", scheduler=name, error=repr(exc))
                done = 0
            if done:
                ctx.relay.wake()
            else:
                await asyncio.sleep(ctx.settings.scheduler_poll_seconds)

    loop.__name__ = f"{name}_scheduler"
    return loop


def runtime(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(
        NAME, settings, migrations=migrations_dir("services.invitations"), wire=wire, http_app=create_http_app
    )
