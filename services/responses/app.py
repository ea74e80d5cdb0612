"""Responses service wiring: learn invitations, publish submitted and withdrawn responses."""

from __future__ import annotations

import asyncio

import asyncpg

from services.responses import audio, service, store
from services.responses.http import create_http_app, rate_limits
from shared.db import migrations_dir
from shared.events import ResponseSubmitted, ResponseWithdrawn, Topics
from shared.logging import get_logger
from shared.runtime import Loop, ServiceContext, ServiceRuntime
from shared.settings import Settings

NAME = "responses"
# How often the rate limiter's full buckets are deleted (they hold nothing a new one would not).
RATE_BUCKET_SWEEP_SECONDS = 60.0
log = get_logger(__name__)


def wire(ctx: ServiceContext) -> list[Loop]:
    ctx.publishes(ResponseSubmitted, ResponseWithdrawn)
    ctx.consume(Topics.INVITATIONS_ISSUED, service.record_invitations)
    ctx.consume(Topics.REPORTS_FIELDWORK_CLOSED, service.record_closed_studies)

    async def publish_missing_audio() -> None:
        """Speak the questionnaires whose current version has no audio yet (once, at start)."""
        try:
            await audio.publish_audio(ctx.settings.audio_dir)
        except audio.SpeechUnavailableError as exc:
            log.warning("audio_unavailable", error=str(exc))

    async def sweep_rate_buckets() -> None:
        """Forget the clients whose bucket is full again, so the table stays small."""
        while True:
            await asyncio.sleep(RATE_BUCKET_SWEEP_SECONDS)
            try:
                async with ctx.pool.acquire() as conn:
                    for limit in rate_limits(ctx.settings):
                        await store.forget_full_rate_buckets(conn, limit)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("rate_bucket_sweep_failed", error=str(exc))

    return [publish_missing_audio, sweep_rate_buckets]


def runtime(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(
        NAME,
        settings,
        migrations=migrations_dir("services.responses"),
        wire=wire,
        http_app=create_http_app,
        http_workers_allowed=True,  # its HTTP state (the rate limiter) is in PostgreSQL
    )
