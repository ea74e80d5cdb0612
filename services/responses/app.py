"""Responses service wiring: learn invitations, publish submitted and withdrawn responses."""

from __future__ import annotations

from services.responses import audio, service
from services.responses.http import create_http_app
from shared.db import migrations_dir
from shared.events import ResponseSubmitted, ResponseWithdrawn, Topics
from shared.logging import get_logger
from shared.runtime import Loop, ServiceContext, ServiceRuntime
from shared.settings import Settings

NAME = "responses"
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

    return [publish_missing_audio]


def runtime(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(
        NAME, settings, migrations=migrations_dir("services.responses"), wire=wire, http_app=create_http_app
    )
