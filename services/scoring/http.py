"""Scores API of the scoring service (wiring only; the work is in ``service`` and ``store``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Path

from services.scoring import service
from shared.events import SAFE_ID_MAX_LENGTH, SAFE_ID_PATTERN, ScoresUpdatedPayload
from shared.runtime import ServiceContext


def create_http_app(ctx: ServiceContext) -> FastAPI:
    app = FastAPI(title="Tevreden scoring: figures per provider", version="2")

    @app.get("/api/studies/{study_id}/scores")
    async def study_scores(
        study_id: Annotated[str, Path(pattern=SAFE_ID_PATTERN, max_length=SAFE_ID_MAX_LENGTH)],
    ) -> list[ScoresUpdatedPayload]:
        """Every provider's current figures in a study (as in its latest ``scores.updated``)."""
        async with ctx.pool.acquire() as conn:
            return await service.study_scores(conn, study_id)

    return app
