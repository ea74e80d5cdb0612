"""Scores API of the scoring service (wiring only; the work is in ``service`` and ``store``).

Who sees the fieldwork status: the bureau's admin key every provider; a provider's own API key
(the one the invitations service issued, known here by its hash from
``invitations.provider_registered``) only its own rows, and 404 for a study it has no rows in,
exactly as if the study did not exist; no key or an unknown key answers 401.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from aiokafka.errors import KafkaError
from fastapi import Depends, FastAPI, Header, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse

from services.scoring import deadletters, pipeline, service, status_page
from services.scoring.fieldwork import ForecastSettings, status_seen_by
from shared.apikeys import same_key
from shared.events import SAFE_ID_MAX_LENGTH, SAFE_ID_PATTERN, ScoresUpdatedPayload
from shared.http import KEY_REFUSED_PAGE, service_app
from shared.onbehalf import assertion_of, bureau_or_provider, key_or_role
from shared.runtime import ServiceContext

StudyId = Annotated[str, Path(pattern=SAFE_ID_PATTERN, max_length=SAFE_ID_MAX_LENGTH)]
Horizon = Annotated[
    float, Query(gt=0, le=365, description="Days of fieldwork per invitation (invitation, reminders)")
]
WRONG_KEY = "wrong or missing API key"
NO_STATUS = "geen veldwerk / no fieldwork of yours in this study"
BUREAU = "bureau"  # the caller with the admin key


def create_http_app(ctx: ServiceContext) -> FastAPI:
    app = service_app(
        "Tevreden scoring: figures per provider", "2", limits=[], default_limit=ctx.settings.max_body_bytes
    )

    admin_key = ctx.settings.admin_api_key.get_secret_value()
    portal_secret = ctx.settings.portal_assertion_secret
    require_admin = key_or_role(admin_key, portal_secret, "bureau")
    page_headers = _page_headers(ctx.settings.invitations_public_url)

    async def caller_of(api_key: str, on_behalf_of: str = "") -> str | None:
        """``BUREAU`` for the admin key, the provider id for a provider's own key, else None; the
        portal's assertion for the bureau or a provider counts the same."""
        assertion = assertion_of(on_behalf_of, portal_secret)
        if assertion is not None:
            return bureau_or_provider(assertion) or BUREAU
        if same_key(api_key, admin_key):
            return BUREAU
        if not api_key:
            return None
        async with ctx.pool.acquire() as conn:
            return await service.PROVIDER_KEYS.provider_for(conn, api_key)

    @app.get("/api/dead-letters", dependencies=[Depends(require_admin)], tags=["operations"])
    async def dead_letters() -> list[dict[str, Any]]:
        """Every dead-letter topic (``<topic>.dlq``): how many events it holds and the newest
        few with their type, id and the consumer's error, read from the broker now. Never a
        payload (it may hold anything)."""
        try:
            return await deadletters.dead_letters(ctx.settings.kafka_bootstrap_servers)
        except (TimeoutError, KafkaError) as exc:
            raise HTTPException(503, f"broker not reachable: {type(exc).__name__}") from exc

    @app.get("/api/studies/{study_id}/scores", dependencies=[Depends(require_admin)])
    async def study_scores(study_id: StudyId) -> list[ScoresUpdatedPayload]:
        """Every provider's current figures in a study (as in its latest ``scores.updated``): the
        bureau's own view, before any review, so the admin key only."""
        async with ctx.pool.acquire() as conn:
            return await service.study_scores(conn, study_id)

    async def status_for(study_id: str, horizon_days: float, caller: str) -> dict[str, Any]:
        async with ctx.pool.acquire() as conn:
            status = await service.study_status(
                conn, study_id, datetime.now(UTC), ForecastSettings(horizon_days=horizon_days)
            )
        seen = status_seen_by(status, None if caller == BUREAU else caller)
        if seen is None:
            raise HTTPException(404, NO_STATUS)
        return seen

    @app.get("/api/studies/{study_id}/status")
    async def study_status(
        study_id: StudyId,
        horizon_days: Horizon = 42.0,
        x_api_key: str = Header(default=""),
        x_on_behalf_of: str = Header(default=""),
    ) -> dict[str, Any]:
        """Fieldwork status: per provider the response so far, the forecast of the final
        response and whether it heads below the publication requirement (flagged). The admin
        key sees every provider; a provider's own key its own rows only."""
        caller = await caller_of(x_api_key, x_on_behalf_of)
        if caller is None:
            raise HTTPException(401, WRONG_KEY)
        return await status_for(study_id, horizon_days, caller)

    async def status_page_for(study_id: str, horizon_days: float, api_key: str | None) -> HTMLResponse:
        """The page for a key; without one, the form that asks for it (the key travels only in a
        POST body or a header, never in a URL, and the page never holds it)."""
        if api_key is None:
            return HTMLResponse(status_page.key_form(study_id), headers=page_headers)
        caller = await caller_of(api_key)
        if caller is None:
            return HTMLResponse(status_page.key_form(study_id, refused=True), 401, headers=page_headers)
        try:
            status = await status_for(study_id, horizon_days, caller)
        except HTTPException as exc:
            return HTMLResponse(
                status_page.message_page(study_id, str(exc.detail)), exc.status_code, headers=page_headers
            )
        if caller != BUREAU:  # a provider: its own rows, no action, no pipeline
            return HTMLResponse(status_page.render(status), headers=page_headers)
        settings = ctx.settings
        backlogs = await pipeline.fetch_all(
            {
                name: settings.service_url(name)
                for name in ("invitations", "responses", "scoring", "reporting")
            }
            | {"scoring": f"http://127.0.0.1:{settings.port_for('scoring')}"}
        )
        page = status_page.render(
            status,
            invitations_url=settings.invitations_public_url,
            pipeline=pipeline.pipeline_table(backlogs),
        )
        return HTMLResponse(page, headers=page_headers)

    @app.get("/ops/studies/{study_id}/status", response_class=HTMLResponse, responses=KEY_REFUSED_PAGE)
    async def study_status_page(
        study_id: StudyId, horizon_days: Horizon = 42.0, x_api_key: str | None = Header(default=None)
    ) -> HTMLResponse:
        """The same as a page for operations, with a chart, the extra-wave action for flagged
        providers and every service's backlogs (outbox, lag, dead letters). In a browser it
        first asks for the key (a form that posts it here); a script may send ``X-API-Key``."""
        return await status_page_for(study_id, horizon_days, x_api_key)

    @app.post("/ops/studies/{study_id}/status", response_class=HTMLResponse, responses=KEY_REFUSED_PAGE)
    async def study_status_page_with_key(
        study_id: StudyId, request: Request, horizon_days: Horizon = 42.0
    ) -> HTMLResponse:
        """The key form's answer: the ``api_key`` field, the admin key or a provider's own."""
        form = await request.form()
        api_key = form.get("api_key")
        return await status_page_for(study_id, horizon_days, api_key if isinstance(api_key, str) else "")

    return app


def _page_headers(invitations_url: str) -> dict[str, str]:
    """The ops pages show figures and take a key: kept by the browser only (``private``; so
    going back to a page and submitting its extra-wave form again repeats the same wave key,
    which approaches nobody twice), never framed, and their forms post only here or to the
    invitations service (the extra wave)."""
    parts = urlsplit(invitations_url)
    form_targets = f"'self' {parts.scheme}://{parts.netloc}" if parts.netloc else "'self'"
    return {
        "Cache-Control": "private, no-cache",
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';"
        f" form-action {form_targets}; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
