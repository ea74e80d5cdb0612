"""Scoring service wiring: count invitations, approaches, opt-outs, responses and withdrawals,
publish score snapshots."""

from __future__ import annotations

import asyncio

import asyncpg

from services.scoring import service
from services.scoring.http import create_http_app
from shared.db import migrations_dir
from shared.events import ScoresUpdated, Topics
from shared.logging import get_logger
from shared.runtime import Loop, ServiceContext, ServiceRuntime
from shared.settings import Settings

NAME = "scoring"
log = get_logger(__name__)


def wire(ctx: ServiceContext) -> list[Loop]:
    service.SNAPSHOTS.backlog_from = ctx.settings.consumer_batch_size
    ctx.publishes(ScoresUpdated)
    ctx.consume(Topics.INVITATIONS_ISSUED, service.count_invitations)
    ctx.consume(Topics.INVITATIONS_UNDELIVERABLE, service.count_undeliverable)
    ctx.consume(Topics.INVITATIONS_APPROACHED, service.count_approaches)
    ctx.consume(Topics.INVITATIONS_OPTED_OUT, service.count_opt_outs)
    ctx.consume(Topics.RESPONSES_SUBMITTED, service.count_responses)
    ctx.consume(Topics.RESPONSES_WITHDRAWN, service.count_withdrawals)
    ctx.consume(Topics.INVITATIONS_PROVIDER_REGISTERED, service.PROVIDER_KEYS.keep)

    async def held_back_snapshots() -> None:
        """Publish the snapshots held back under load when their interval ends."""
        while True:
            try:
                async with ctx.pool.acquire() as conn, conn.transaction():
                    emitted = await service.emit_due_snapshots(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("held_back_snapshots_failed", error=str(exc))
                emitted = 0
            if emitted:
                ctx.relay.wake()
            if emitted < service.SNAPSHOTS.batch:
                await asyncio.sleep(await until_next_snapshot())

    async def until_next_snapshot() -> float:
        """Quickly while snapshots are held back; at the scheduler's pace when none is (idle)."""
        idle = ctx.settings.scheduler_poll_seconds
        try:
            async with ctx.pool.acquire() as conn:
                return await service.snapshot_loop_pause(conn, idle)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return idle

    return [held_back_snapshots]


def runtime(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(
        NAME, settings, migrations=migrations_dir("services.scoring"), wire=wire, http_app=create_http_app
    )
