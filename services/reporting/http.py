"""Reports API of the reporting service (wiring only; the work is in ``store`` and ``documents``).

Who sees what: the bureau's admin key sees and does everything; a provider's own API key (the
one the invitations service issued, known here by its hash from ``invitations.provider_registered``)
sees only its own report versions and responds only to its own draft. Anything else answers
404, exactly as if it did not exist, so a provider cannot probe for other providers' reports.
The public register needs no key: it shows only grades eligible for publication.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, StrictFloat

from services.reporting import documents, service, store
from shared.apikeys import same_key
from shared.events import SAFE_ID_MAX_LENGTH, SAFE_ID_PATTERN
from shared.http import CONFLICT, NOT_FOUND, service_app
from shared.onbehalf import assertion_of, bureau_or_provider, key_or_role
from shared.runtime import ServiceContext

SafeId = Annotated[str, PathParam(pattern=SAFE_ID_PATTERN, max_length=SAFE_ID_MAX_LENGTH)]

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
    app = service_app(
        "Tevreden reporting: reports per provider", "1", limits=[], default_limit=ctx.settings.max_body_bytes
    )

    admin_key = ctx.settings.admin_api_key.get_secret_value()
    portal_secret = ctx.settings.portal_assertion_secret
    require_admin = key_or_role(admin_key, portal_secret, "bureau")

    async def current_caller(
        x_api_key: str = Header(default=""), x_on_behalf_of: str = Header(default="")
    ) -> Caller:
        """The admin key or a provider's own key; or the portal acting for the bureau or a provider."""
        assertion = assertion_of(x_on_behalf_of, portal_secret)
        if assertion is not None:
            return Caller(bureau_or_provider(assertion))
        if same_key(x_api_key, admin_key):
            return Caller(None)
        provider_id = None
        if x_api_key:
            async with ctx.pool.acquire() as conn:
                provider_id = await service.PROVIDER_KEYS.provider_for(conn, x_api_key)
        if provider_id is None:
            raise HTTPException(401, "wrong or missing API key")
        return Caller(provider_id)

    as_caller = Depends(current_caller)

    @app.get("/api/studies/{study_id}/summary")
    async def study_summary(study_id: SafeId, caller: Caller = as_caller) -> list[ProviderSummary]:
        """Every provider's row for the bureau; a provider sees only its own, and not its mean
        grade when too few answered to show it (as its report)."""
        async with ctx.pool.acquire() as conn:
            rows = await store.study_summary(conn, study_id)
        return [
            ProviderSummary(**{**row, "mean_grade": caller.may_know(row)})
            for row in rows
            if caller.may_see(row["provider_id"])
        ]

    @app.get("/reports/{study_id}/{provider_id}", response_class=HTMLResponse)
    async def report(study_id: SafeId, provider_id: SafeId, caller: Caller = as_caller) -> HTMLResponse:
        """The provider's current HTML report (the path comes from our own table, never the URL)."""
        if not caller.may_see(provider_id):
            raise HTTPException(404, "geen rapport / no report")
        async with ctx.pool.acquire() as conn:
            path = await store.report_path(conn, study_id, provider_id)
        if path is None:
            raise HTTPException(404, "geen rapport / no report")
        try:
            html = await asyncio.to_thread(path.read_text, encoding="utf-8")
        except FileNotFoundError as exc:
            raise HTTPException(404, "geen rapport / no report") from exc
        return HTMLResponse(html, headers=_REPORT_HEADERS)

    @app.post(
        "/api/studies/{study_id}/fieldwork-closed", dependencies=[Depends(require_admin)], tags=["admin"]
    )
    async def fieldwork_closed(study_id: SafeId, body: FieldworkClosed) -> dict[str, Any]:
        """Fieldwork closed: each provider's draft is written now; the provider may respond for
        ``review_days`` (hoor en wederhoor), then the report becomes final by itself. The study's
        questionnaire links close and late paper or phone answers are refused
        (``reports.fieldwork_closed``); the report's address shows the draft, then the final."""
        period = (body.period_start, body.period_end) if body.period_start and body.period_end else None
        days = ctx.settings.report_review_days if body.review_days is None else body.review_days
        async with ctx.pool.acquire() as conn, conn.transaction():
            providers = await service.close_fieldwork(
                conn, study_id, body.study_name or study_id, period, days, body.provider_names
            )
        ctx.relay.wake()  # reports.fieldwork_closed: the responses service closes the links
        return {"study_id": study_id, "drafts_due": providers}

    @app.post(
        "/api/reports/{study_id}/{provider_id}/final",
        dependencies=[Depends(require_admin)],
        responses={**NOT_FOUND, **CONFLICT},
    )
    async def publish(study_id: SafeId, provider_id: SafeId) -> dict[str, str]:
        """The bureau makes a provider's draft final now (definitief maken): allowed once the
        provider has responded or its review window has closed; 409 while it may still respond;
        an already final report stays as it is."""
        async with ctx.pool.acquire() as conn, conn.transaction():
            outcome = await store.publish_now(conn, study_id, provider_id)
        if outcome == "no_draft":
            raise HTTPException(404, "geen conceptrapport / no draft report")
        if outcome == "awaiting_response":
            raise HTTPException(
                409,
                "de dienstverlener kan nog reageren: wacht op de reactie of het einde van de termijn"
                " / the provider may still respond: wait for its response or the end of the window",
            )
        return {"status": outcome}

    @app.post("/api/reports/{study_id}/{provider_id}/response", responses=CONFLICT)
    async def provider_response(
        study_id: SafeId,
        provider_id: SafeId,
        body: ProviderResponse,
        caller: Caller = as_caller,
    ) -> dict[str, str]:
        """Hoor en wederhoor: the provider's response to its draft, kept with the report."""
        if not caller.may_see(provider_id):
            raise HTTPException(404, "geen conceptrapport / no draft report")
        async with ctx.pool.acquire() as conn, conn.transaction():
            outcome = await store.record_response(conn, study_id, provider_id, body.text)
        if outcome == "no_draft":
            raise HTTPException(404, "geen conceptrapport / no draft report")
        if outcome == "window_closed":
            raise HTTPException(409, "de reactietermijn is voorbij / the response window has closed")
        return {"status": "kept; the draft is regenerated with your response"}

    @app.get("/api/reports/{study_id}/{provider_id}/versions")
    async def report_versions(
        study_id: SafeId, provider_id: SafeId, caller: Caller = as_caller
    ) -> list[VersionInfo]:
        if not caller.may_see(provider_id):
            raise HTTPException(404, "geen rapport / no report")
        async with ctx.pool.acquire() as conn:
            rows = await store.versions(conn, study_id, provider_id)
        return [VersionInfo(**{k: v for k, v in r.items() if k != "folder"}) for r in rows]

    @app.get("/reports/{study_id}/{provider_id}/v{version}.{fmt}")
    async def report_version(
        study_id: SafeId,
        provider_id: SafeId,
        version: int,
        fmt: str,
        caller: Caller = as_caller,
    ) -> Response:
        """A kept version as html, pdf, csv or xlsx (the folder comes from our own table)."""
        if not caller.may_see(provider_id):
            raise HTTPException(404, "geen rapport / no report")
        if fmt not in documents.VERSION_FILES:
            raise HTTPException(404, "onbekend formaat / unknown format")
        async with ctx.pool.acquire() as conn:
            rows = await store.versions(conn, study_id, provider_id)
        found = next((r for r in rows if r["version"] == version), None)
        if found is None:
            raise HTTPException(404, "geen rapport / no report")
        path = Path(found["folder"]) / f"v{version}" / documents.VERSION_FILES[fmt]
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError as exc:
            raise HTTPException(404, "geen rapport / no report") from exc
        return Response(data, media_type=_MEDIA[fmt], headers=_REPORT_HEADERS)

    @app.get("/register/{study_id}.json")
    async def register_json(study_id: SafeId) -> list[dict[str, Any]]:
        """The public register: published grades per provider and service, only where eligible."""
        async with ctx.pool.acquire() as conn:
            entries = await service.register(conn, study_id)
        return [asdict(e) for e in entries]

    @app.get("/register/{study_id}", response_class=HTMLResponse)
    async def register_html(study_id: SafeId) -> HTMLResponse:
        async with ctx.pool.acquire() as conn:
            page = await service.register_page(conn, study_id)
        return HTMLResponse(documents.render_register(page))

    return app


@dataclass(frozen=True)
class Caller:
    """Who calls: the bureau (``provider_id`` None) or one provider."""

    provider_id: str | None

    def may_see(self, provider_id: str) -> bool:
        return self.provider_id is None or self.provider_id == provider_id

    def may_know(self, row: Mapping[str, Any]) -> float | None:
        """A summary row's mean grade: the bureau's always, a provider's only when disclosable."""
        return row["mean_grade"] if self.provider_id is None or row["disclosable"] else None


class FieldworkClosed(BaseModel):
    study_name: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    review_days: StrictFloat | None = Field(default=None, ge=0, le=365)  # never true/false
    # Organisation names for the reports (providers are organisations, never persons).
    provider_names: dict[str, str] = Field(default_factory=dict)


class ProviderResponse(BaseModel):
    text: str = Field(min_length=1, max_length=20000)


class VersionInfo(BaseModel):
    version: int
    status: str
    snapshot_as_of: datetime
    created_at: datetime
    review_until: datetime | None
    has_response: bool | None


_MEDIA = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
