"""Scores API of the scoring service (wiring only; the work is in ``service`` and ``store``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import HTMLResponse

from services.scoring import pipeline, service, status_page
from services.scoring.fieldwork import ForecastSettings
from shared.apikeys import key_check
from shared.events import SAFE_ID_MAX_LENGTH, SAFE_ID_PATTERN, ScoresUpdatedPayload
from shared.runtime import ServiceContext

StudyId = Annotated[str, Path(pattern=SAFE_ID_PATTERN, max_length=SAFE_ID_MAX_LENGTH)]
Horizon = Annotated[
    float, Query(gt=0, le=365, description="Days of fieldwork per invitation (invitation, reminders)")
]


def create_http_app(ctx: ServiceContext) -> FastAPI:
    app = FastAPI(title="Tevreden scoring: figures per provider", version="2")

    require_admin = key_check(ctx.settings.admin_api_key.get_secret_value())

    @app.get("/api/studies/{study_id}/scores", dependencies=[Depends(require_admin)])
    async def study_scores(study_id: StudyId) -> list[ScoresUpdatedPayload]:
        """Every provider's current figures in a study (as in its latest ``scores.updated``): the
        bureau's own view, before any review, so the admin key only."""
        async with ctx.pool.acquire() as conn:
            return await service.study_scores(conn, study_id)

    async def status_of(study_id: str, horizon_days: float) -> dict[str, Any]:
        async with ctx.pool.acquire() as conn:
            return await service.study_status(
                conn, study_id, datetime.now(UTC), ForecastSettings(horizon_days=horizon_days)
            )

    @app.get("/api/studies/{study_id}/status")
    async def study_status(study_id: StudyId, horizon_days: Horizon = 42.0) -> dict[str, Any]:
        """Fieldwork status: per provider the response so far, the forecast of the final
        response and whether it heads below the publication requirement (flagged)."""
        return await status_of(study_id, horizon_days)

    @app.get("/ops/studies/{study_id}/status", response_class=HTMLResponse)
    async def study_status_page(study_id: StudyId, horizon_days: Horizon = 42.0) -> str:
        """The same as a page for operations, with a chart, the extra-wave action for flagged
        providers and every service's backlogs (outbox, lag, dead letters)."""
        settings = ctx.settings
        backlogs = await pipeline.fetch_all(
            {
                name: settings.service_url(name)
                for name in ("invitations", "responses", "scoring", "reporting")
            }
            | {"scoring": f"http://127.0.0.1:{settings.port_for('scoring')}"}
        )
        return status_page.render(
            await status_of(study_id, horizon_days),
            invitations_url=settings.invitations_public_url,
            pipeline=pipeline.pipeline_table(backlogs),
        )

    return app
