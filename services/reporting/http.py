"""Reports API of the reporting service (wiring only; the work is in ``store`` and ``documents``)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import FastAPI, HTTPException, Path
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from services.reporting import store
from shared.events import SAFE_ID_MAX_LENGTH, SAFE_ID_PATTERN
from shared.runtime import ServiceContext

SafeId = Annotated[str, Path(pattern=SAFE_ID_PATTERN, max_length=SAFE_ID_MAX_LENGTH)]

# Reports are aggregates, but still the provider's own: no caching by proxies, no framing.
_REPORT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, no-cache",
}


class ProviderSummary(BaseModel):
    """One provider's latest figures in a study and the version of its report."""

    provider_id: str
    net_sample: int  # netto steekproef
    completed: int  # aantal bruikbare vragenlijsten
    response_rate: float | None  # respons, as a fraction
    mean_grade: float | None  # gemiddeld rapportcijfer
    report_version: int | None  # None until the first report is written


def create_http_app(ctx: ServiceContext) -> FastAPI:
    app = FastAPI(title="Tevreden reporting: reports per provider", version="1")

    @app.get("/api/studies/{study_id}/summary")
    async def study_summary(study_id: SafeId) -> list[ProviderSummary]:
        async with ctx.pool.acquire() as conn:
            rows = await store.study_summary(conn, study_id)
        return [ProviderSummary(**row) for row in rows]

    @app.get("/reports/{study_id}/{provider_id}", response_class=HTMLResponse)
    async def report(study_id: SafeId, provider_id: SafeId) -> HTMLResponse:
        """The provider's current HTML report (the path comes from our own table, never the URL)."""
        async with ctx.pool.acquire() as conn:
            path = await store.report_path(conn, study_id, provider_id)
        if path is None:
            raise HTTPException(404, "geen rapport / no report")
        try:
            html = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except FileNotFoundError as exc:
            raise HTTPException(404, "geen rapport / no report") from exc
        return HTMLResponse(html, headers=_REPORT_HEADERS)

    return app
