"""Provider API of the invitations service (wiring only; the work is in ``service``).

Who sees what: the bureau's admin key sees and does everything; a provider's key sees
only the studies it is enrolled in, its own enrolments and its own deliveries. Anything
else answers 404, exactly as if it did not exist, so a provider cannot probe for other
providers' studies, enrolments or deliveries.

No ``from __future__ import annotations`` here: FastAPI must resolve the
``Annotated[..., Depends(local_function)]`` parameters at definition time.
"""

import html
import uuid
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import BaseModel, Field, StrictBool, StrictInt, TypeAdapter, ValidationError

from services.invitations import opt_out_page as pages
from services.invitations import service, store
from services.invitations.domain import DeliveryRefusedError, Enrolment, Study
from services.invitations.emails import Bounce, parse_bounce
from shared.apikeys import same_key
from shared.events import SAFE_ID_MAX_LENGTH, SAFE_ID_PATTERN, CallDisposition, SafeId
from shared.http import CONFLICT, FORBIDDEN, KEY_REFUSED_PAGE, answer_errors, invalid, service_app
from shared.http import NOT_FOUND as NOT_FOUND_RESPONSE
from shared.logging import get_logger
from shared.onbehalf import assertion_of, bureau_or_provider, key_or_role
from shared.public_pages import PAGE_HEADERS, RateLimiter, RateLimitMiddleware
from shared.runtime import ServiceContext
from shared.settings import Bureau

NOT_FOUND = "niet gevonden / not found"
log = get_logger(__name__)


class NewProvider(BaseModel):
    provider_id: str = Field(pattern=SAFE_ID_PATTERN, max_length=SAFE_ID_MAX_LENGTH)
    name: str = Field(min_length=1, max_length=200)


class NewStudy(BaseModel):
    study_id: str = Field(pattern=SAFE_ID_PATTERN, max_length=SAFE_ID_MAX_LENGTH)
    name: str = Field(min_length=1, max_length=200)
    scheme_id: SafeId | None = Field(default=None, description="bow, uwv-reintegratie, uwv-jobcoach, …")
    year: StrictInt | None = Field(default=None, ge=2000, le=2100, description="the measurement year")
    period_start: date | None = None
    period_end: date | None = None
    questionnaire_id: SafeId | None = Field(
        default=None,
        description="overrides the scheme's questionnaires; without a scheme the default is minimal-v1",
    )


GroupName = Annotated[str, Field(pattern=r"^[a-z0-9_./-]{1,64}$")]


class EnrolmentOptions(BaseModel):
    """What a provider may change in its own enrolment."""

    phone_option: StrictBool | None = None
    phone_interviews: StrictInt | None = Field(default=None, ge=0, le=100_000)
    group_variants: dict[GroupName, str] | None = Field(
        default=None,
        description='client group → questionnaire variant, e.g. {"inburgering": "client/inburgering"}',
    )
    sample_sizes: dict[SafeId, StrictInt] | None = Field(
        default=None, description="service → requested net sample size; more delivered → a sample is drawn"
    )


class EnrolmentChanges(EnrolmentOptions):
    """Admin only, beside the options: services, recognition date and period."""

    services: list[SafeId] | None = None
    recognition_date: date | None = None
    period_start: date | None = None
    period_end: date | None = None


class NewEnrolment(BaseModel):
    provider_id: str = Field(pattern=SAFE_ID_PATTERN, max_length=SAFE_ID_MAX_LENGTH)
    services: list[SafeId] = Field(default_factory=list, description="dienst or perceel codes")
    phone_option: StrictBool = False
    phone_interviews: StrictInt = Field(default=0, ge=0, le=100_000)
    group_variants: dict[GroupName, str] = Field(default_factory=dict)
    sample_sizes: dict[SafeId, StrictInt] = Field(default_factory=dict)
    recognition_date: date | None = Field(default=None, description="erkenningsdatum (jobcoach)")
    period_start: date | None = None
    period_end: date | None = None


@dataclass(frozen=True)
class Caller:
    """Who is asking: the bureau (admin key) or one provider."""

    provider_id: str | None  # None: the bureau

    @property
    def is_admin(self) -> bool:
        return self.provider_id is None

    def may_see(self, provider_id: str) -> bool:
        return self.provider_id is None or self.provider_id == provider_id


def _study_json(study: Study) -> dict[str, Any]:
    return asdict(study)


def _enrolment_json(enrolment: Enrolment) -> dict[str, Any]:
    return asdict(enrolment) | {
        "group_variants": dict(enrolment.group_variants),
        "sample_sizes": dict(enrolment.sample_sizes),
    }


def create_http_app(ctx: ServiceContext) -> FastAPI:
    settings = ctx.settings
    app = service_app(
        "Tevreden invitations: provider API",
        "1",
        limits=[
            (r"/api/studies/[^/]+/deliveries", settings.max_delivery_bytes),
            (r"/api/returned-mail", settings.max_import_bytes),
        ],
        default_limit=settings.max_body_bytes,
    )
    app.add_middleware(
        RateLimitMiddleware,
        limiter=RateLimiter(settings.questionnaire_rate_per_second, settings.questionnaire_rate_burst),
        prefixes=("/afmelden/",),
        refusal=_too_many,
    )
    answer_errors(
        app,
        {service.InvalidRequestError: 422, service.AlreadyExistsError: 409, service.ConflictError: 409},
    )
    admin_key = ctx.settings.admin_api_key.get_secret_value()

    portal_secret = ctx.settings.portal_assertion_secret
    require_admin = key_or_role(admin_key, portal_secret, "bureau")

    async def current_caller(
        x_api_key: Annotated[str, Header()] = "", x_on_behalf_of: Annotated[str, Header()] = ""
    ) -> Caller:
        """The admin key or a provider's own key; or the portal acting for the bureau or a provider."""
        assertion = assertion_of(x_on_behalf_of, portal_secret)
        if assertion is not None:
            return Caller(bureau_or_provider(assertion))
        if same_key(x_api_key, admin_key):
            return Caller(None)
        async with ctx.pool.acquire() as conn:
            provider_id = await store.provider_for_key(conn, x_api_key)
        if provider_id is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Ongeldige sleutel / invalid API key")
        return Caller(provider_id)

    def acting_provider(caller: Caller, provider_id: str | None) -> str:
        """The provider a request is about: the caller itself, or the one the admin names."""
        if caller.provider_id is not None:
            if provider_id not in (None, caller.provider_id):
                raise HTTPException(404, NOT_FOUND)
            return caller.provider_id
        if provider_id is None:
            raise invalid(
                "De beheerder noemt de dienstverlener / admin: give ?provider_id=", ("query", "provider_id")
            )
        return provider_id

    @app.post("/api/providers", status_code=201, dependencies=[Depends(require_admin)], responses=CONFLICT)
    async def create_provider(body: NewProvider) -> dict[str, str]:
        """Register a provider (dienstverlener); its API key is shown once."""
        try:
            api_key = await service.register_provider(ctx.pool, body.provider_id, body.name)
        except asyncpg.UniqueViolationError as exc:
            raise HTTPException(409, f"provider {body.provider_id} exists") from exc
        ctx.relay.wake()
        return {"provider_id": body.provider_id, "api_key": api_key}

    @app.get("/api/providers", dependencies=[Depends(require_admin)])
    async def list_providers() -> list[dict[str, str]]:
        """Every provider (dienstverlener): id and name, for the bureau."""
        async with ctx.pool.acquire() as conn:
            return await store.list_providers(conn)

    @app.post("/api/studies", status_code=201, dependencies=[Depends(require_admin)], responses=CONFLICT)
    async def create_study(body: NewStudy) -> dict[str, Any]:
        """A study (onderzoek): a scheme over a measurement period."""
        return _study_json(await service.create_study(ctx.pool, **body.model_dump()))

    @app.get("/api/studies")
    async def list_studies(caller: Annotated[Caller, Depends(current_caller)]) -> list[dict[str, Any]]:
        """Every study (admin), or the studies the provider is enrolled in."""
        return [_study_json(s) for s in await service.list_studies(ctx.pool, caller.provider_id)]

    @app.get("/api/studies/{study_id}")
    async def get_study(study_id: str, caller: Annotated[Caller, Depends(current_caller)]) -> dict[str, Any]:
        try:
            return _study_json(await service.get_study(ctx.pool, study_id, caller.provider_id))
        except service.NotFoundError as exc:
            raise HTTPException(404, NOT_FOUND) from exc

    @app.post(
        "/api/studies/{study_id}/enrolments",
        status_code=201,
        dependencies=[Depends(require_admin)],
        responses=CONFLICT,
    )
    async def enrol(study_id: str, body: NewEnrolment) -> dict[str, Any]:
        """Enrol a provider in a study with its services and options (inschrijving)."""
        values = body.model_dump()
        values["services"] = tuple(values["services"])
        try:
            enrolment = await service.enrol(ctx.pool, Enrolment(study_id=study_id, **values))
        except service.NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc  # the bureau's own call: which one is unknown
        return _enrolment_json(enrolment)

    @app.get("/api/studies/{study_id}/enrolments")
    async def list_study_enrolments(
        study_id: str, caller: Annotated[Caller, Depends(current_caller)]
    ) -> list[dict[str, Any]]:
        """Every enrolment in the study (admin), or the provider's own."""
        enrolments = await service.list_enrolments(
            ctx.pool, study_id=study_id, provider_id=caller.provider_id
        )
        if not caller.is_admin and not enrolments:
            raise HTTPException(404, NOT_FOUND)
        return [_enrolment_json(e) for e in enrolments]

    @app.get("/api/studies/{study_id}/enrolments/{provider_id}")
    async def get_enrolment(
        study_id: str, provider_id: str, caller: Annotated[Caller, Depends(current_caller)]
    ) -> dict[str, Any]:
        if not caller.may_see(provider_id):
            raise HTTPException(404, NOT_FOUND)
        try:
            return _enrolment_json(await service.get_enrolment(ctx.pool, study_id, provider_id))
        except service.NotFoundError as exc:
            raise HTTPException(404, NOT_FOUND) from exc

    @app.patch("/api/studies/{study_id}/enrolments/{provider_id}", responses=FORBIDDEN)
    async def change_enrolment(
        study_id: str,
        provider_id: str,
        body: EnrolmentChanges,
        caller: Annotated[Caller, Depends(current_caller)],
    ) -> dict[str, Any]:
        """Change options: a provider its own phone option, client groups and sample sizes; admin all."""
        if not caller.may_see(provider_id):
            raise HTTPException(404, NOT_FOUND)
        changes = body.model_dump(exclude_unset=True)
        if not caller.is_admin and set(changes) - service.PROVIDER_OPTIONS:
            raise HTTPException(
                403,
                "Alleen het bureau wijzigt diensten, erkenningsdatum en meetperiode / only the bureau "
                f"changes: {', '.join(sorted(set(changes) - service.PROVIDER_OPTIONS))}",
            )
        if any(
            v is None
            for k, v in changes.items()
            if k not in ("recognition_date", "period_start", "period_end")
        ):
            raise invalid("null is not a value for these fields")
        try:
            enrolment = await service.change_enrolment(ctx.pool, study_id, provider_id, changes)
        except service.NotFoundError as exc:
            raise HTTPException(404, NOT_FOUND) from exc
        return _enrolment_json(enrolment)

    @app.get("/api/enrolments")
    async def my_enrolments(
        caller: Annotated[Caller, Depends(current_caller)], provider_id: Annotated[str | None, Query()] = None
    ) -> list[dict[str, Any]]:
        """The provider's enrolments in every study (admin: everyone's, or ?provider_id=)."""
        who = caller.provider_id if not caller.is_admin else provider_id
        return [_enrolment_json(e) for e in await service.list_enrolments(ctx.pool, provider_id=who)]

    @app.post("/api/studies/{study_id}/deliveries", status_code=201, responses=CONFLICT)
    async def deliver_contacts(
        study_id: str,
        request: Request,
        caller: Annotated[Caller, Depends(current_caller)],
        provider_id: Annotated[str | None, Query(description="admin only: deliver for this provider")] = None,
        file_name: Annotated[str, Query(max_length=200)] = "",
    ) -> dict[str, Any]:
        """Deliver contacts (aanlevering) as CSV or XLSX; the good rows are kept, the rest reported.

        Body: the file itself (``text/csv`` or the XLSX content type), or a multipart form with
        the file in the field ``file``. 422 when the file as a whole is refused (a BSN column);
        409 once the study's fieldwork closed.
        """
        who = acting_provider(caller, provider_id)
        data, name = await _uploaded_file(request)
        try:
            receipt = await service.accept_delivery(
                ctx.pool, ctx.settings, study_id, who, data, file_name=name or file_name
            )
        except DeliveryRefusedError as exc:
            raise HTTPException(422, str(exc)) from exc
        except service.NotFoundError as exc:
            raise HTTPException(404, f"onbekend onderzoek / unknown study: {study_id}") from exc
        except service.ConflictError as exc:  # the study's fieldwork closed
            raise HTTPException(409, str(exc)) from exc
        except Exception as exc:
            # Never let a traceback reach the log: its frames hold the file (personal data).
            log.error("delivery_failed", study_id=study_id, provider_id=who, error=type(exc).__name__)
            raise HTTPException(
                500, "Aanlevering mislukt; probeer het later opnieuw / delivery failed"
            ) from None
        ctx.relay.wake()
        return receipt.as_json()

    @app.get("/api/studies/{study_id}/deliveries")
    async def list_deliveries(
        study_id: str,
        caller: Annotated[Caller, Depends(current_caller)],
        provider_id: Annotated[str | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        """The provider's deliveries to the study (admin: everyone's, or ?provider_id=)."""
        who = caller.provider_id if not caller.is_admin else provider_id
        if not caller.is_admin:
            try:
                await service.get_study(ctx.pool, study_id, caller.provider_id)
            except service.NotFoundError as exc:
                raise HTTPException(404, NOT_FOUND) from exc
        return await service.list_deliveries(ctx.pool, study_id, who)

    @app.get("/api/studies/{study_id}/deliveries/{delivery_id}")
    async def get_delivery(
        study_id: str, delivery_id: uuid.UUID, caller: Annotated[Caller, Depends(current_caller)]
    ) -> dict[str, Any]:
        """One delivery: its row report and gross → net accounting."""
        try:
            return await service.get_delivery(ctx.pool, study_id, delivery_id, caller.provider_id)
        except service.NotFoundError as exc:
            raise HTTPException(404, NOT_FOUND) from exc

    @app.get("/api/studies/{study_id}/progress")
    async def progress(
        study_id: str,
        caller: Annotated[Caller, Depends(current_caller)],
        provider_id: Annotated[str | None, Query()] = None,
    ) -> dict[str, Any]:
        """Invitations by status, sampled out, deliveries."""
        who = acting_provider(caller, provider_id)
        try:
            return await service.progress(ctx.pool, study_id, who)
        except service.NotFoundError as exc:
            raise HTTPException(404, NOT_FOUND) from exc

    _wave_routes(app, ctx, require_admin, current_caller)
    _extra_wave_routes(app, ctx, require_admin)
    _lookup_routes(app, ctx, require_admin)
    return app


class EmailLookup(BaseModel):
    """An email address as a person gives it (any case, spaces around it)."""

    email: str = Field(min_length=3, max_length=320)


def _lookup_routes(app: FastAPI, ctx: ServiceContext, require_admin: Any) -> None:
    # POST, not GET: the address stays out of URLs and access logs.
    @app.post("/api/invitations/lookup", dependencies=[Depends(require_admin)], tags=["admin"])
    async def invitations_of_email(body: EmailLookup) -> list[dict[str, Any]]:
        """The invitations sent to an email address (for an AVG request), oldest first."""
        return await service.invitations_of_email(ctx.pool, body.email)


class BounceNotice(BaseModel):
    """A late bounce as JSON (a relay's webhook); a raw DSN (RFC 3464) is accepted too."""

    message_id: str = Field(pattern=r"^<[^<>\s]+@[^<>\s]+>$", max_length=300)
    status: str = Field(
        pattern=r"^[245]\.\d{1,3}\.\d{1,3}$", description="enhanced status code, 5.x.x permanent"
    )


class ReturnedLetter(BaseModel):
    reference: str = Field(
        min_length=1, max_length=64, description="the short code on the letter, or its letter_id"
    )
    reason: str = Field(default="retour", max_length=200)


class NextCalls(BaseModel):
    agent_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    limit: StrictInt = Field(default=5, ge=1, le=100)


class CallOutcome(BaseModel):
    agent_id: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    disposition: CallDisposition
    appointment_at: datetime | None = Field(default=None, description="with disposition 'appointment'")


class NewExtraWave(BaseModel):
    """One action for providers heading below the publication requirement."""

    kind: Literal["reminder", "phone"] = Field(
        description="reminder: one more email (a letter where email cannot reach); phone: a round of calls"
    )
    providers: list[SafeId] = Field(min_length=1, max_length=10_000)
    wave_key: str = Field(
        pattern=r"^[A-Za-z0-9_.:-]{8,100}$",
        description="idempotency key: the same key again approaches nobody and answers the first result",
    )


def _opt_out_page(
    state: pages.OptOutState,
    bureau: Bureau,
    status_code: int = 200,
    *,
    study: str | None = None,
    token: str = "",
) -> HTMLResponse:
    page = pages.opt_out_page(state, bureau, study=study, token=token)
    return HTMLResponse(page, status_code, headers=PAGE_HEADERS)


def _too_many(retry_after: int) -> Response:
    page = HTMLResponse(
        '<!DOCTYPE html><html lang="nl"><head><meta charset="utf-8"><title>Even geduld</title></head>'
        "<body><h1>Even geduld</h1><p>Te veel verzoeken. Probeer het over een minuut opnieuw.</p>"
        "</body></html>",
        429,
        headers=PAGE_HEADERS,
    )
    page.headers["Retry-After"] = str(retry_after)
    return page


def _wave_routes(app: FastAPI, ctx: ServiceContext, require_admin: Any, current_caller: Any) -> None:
    callcentre_key = ctx.settings.callcentre_api_key.get_secret_value()

    require_callcentre = key_or_role(
        callcentre_key,
        ctx.settings.portal_assertion_secret,
        "interviewer",
        "Ongeldige sleutel / invalid callcentre key",
    )

    @app.get("/afmelden/{token}", response_class=HTMLResponse, tags=["public"])
    async def opt_out_page(token: str) -> HTMLResponse:
        """The opt-out link of every email (List-Unsubscribe): a page with one button."""
        study = None if len(token) > 100 else await service.study_name_for_link(ctx.pool, ctx.settings, token)
        return _opt_out_page("ask", ctx.settings.bureau, study=study, token=token)

    @app.post("/afmelden/{token}", response_class=HTMLResponse, tags=["public"])
    async def opt_out(token: str) -> HTMLResponse:
        """Opt out (also RFC 8058 one-click: ``List-Unsubscribe=One-Click``): honoured at once."""
        if len(token) > 100 or not await service.opt_out(ctx.pool, ctx.settings, token):
            return _opt_out_page("invalid", ctx.settings.bureau, 404)
        ctx.relay.wake()
        study = await service.study_name_for_link(ctx.pool, ctx.settings, token)
        return _opt_out_page("done", ctx.settings.bureau, study=study)

    @app.post("/api/bounces", dependencies=[Depends(require_admin)], tags=["waves"])
    async def late_bounce(request: Request) -> dict[str, Any]:
        """A late bounce: JSON ``{"message_id", "status"}`` or the raw bounce message as a mail
        server sent it (a DSN, ``multipart/report``, or any format flufl.bounce recognises).
        A permanent failure makes the address undeliverable; the email is found by the
        returned Message-ID, else by the failed address."""
        body = await request.body()
        if len(body) > 1_000_000:
            raise HTTPException(413, "Te groot / too large")
        try:
            if request.headers.get("content-type", "").startswith("application/json"):
                notice = BounceNotice.model_validate_json(body)
                bounce = Bounce.of_status(notice.message_id, notice.status)
            else:
                bounce = parse_bounce(body)
        except (ValueError, ValidationError) as exc:
            raise HTTPException(422, str(exc)) from exc
        try:
            result = await service.late_bounce(ctx.pool, bounce)
        except service.NotFoundError as exc:
            raise HTTPException(
                404, "Onbekende Message-ID of adres / unknown Message-ID or address: not one of our emails"
            ) from exc
        ctx.relay.wake()
        return result

    @app.post("/api/returned-mail", dependencies=[Depends(require_admin)], tags=["waves"])
    async def returned_mail(request: Request) -> dict[str, Any]:
        """Returned letters (retourpost): CSV with ``short_code`` or ``letter_id`` (and ``reason``),
        or JSON ``[{"reference": ..., "reason": ...}]``. The person moves to the next mode."""
        body = await request.body()
        try:
            if request.headers.get("content-type", "").startswith("application/json"):
                items = [service.ReturnedMail(r.reference, r.reason) for r in _RETURNS.validate_json(body)]
            else:
                items = service.read_returns_csv(body.decode("utf-8-sig"))
        except (ValueError, ValidationError, service.InvalidRequestError) as exc:
            raise HTTPException(422, str(exc)) from exc
        result = await service.import_returns(ctx.pool, items)
        ctx.relay.wake()
        return result

    @app.get("/api/letter-waves", dependencies=[Depends(require_admin)], tags=["waves"])
    async def letter_waves() -> list[dict[str, Any]]:
        """Every wave of letters made for the mail house."""
        return await service.letter_waves(ctx.pool)

    @app.get("/api/letter-waves/{wave_id}/{name}", dependencies=[Depends(require_admin)], tags=["waves"])
    async def letter_wave_file(wave_id: int, name: str) -> FileResponse:
        """``letters.pdf`` (print-ready, one page per person) or ``manifest.csv``."""
        if name not in ("letters.pdf", "manifest.csv"):
            raise HTTPException(404, NOT_FOUND)
        try:
            path = await service.letter_wave_file(ctx.pool, wave_id, "pdf" if name.endswith("pdf") else "csv")
        except service.NotFoundError as exc:
            raise HTTPException(404, NOT_FOUND) from exc
        media = "application/pdf" if name.endswith("pdf") else "text/csv; charset=utf-8"
        return FileResponse(path, media_type=media, filename=f"wave-{wave_id}-{name}")

    @app.post("/api/calls/next", dependencies=[Depends(require_callcentre)], tags=["callcentre"])
    async def next_calls(body: NextCalls) -> dict[str, Any]:
        """The agent's next call tasks (leased to them), within calling hours."""
        return await service.next_calls(ctx.pool, ctx.settings, body.agent_id, body.limit)

    @app.get(
        "/api/calls/{task_id}",
        dependencies=[Depends(require_callcentre)],
        tags=["callcentre"],
        responses=NOT_FOUND_RESPONSE,
    )
    async def leased_call(
        task_id: uuid.UUID, agent_id: Annotated[str, Query(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    ) -> dict[str, Any]:
        """The task again (whom to call, what to ask) while it is leased to this agent; 404 once
        the lease has passed, the task is closed or another agent's."""
        try:
            return await service.leased_call(ctx.pool, task_id, agent_id)
        except service.NotFoundError as exc:
            raise HTTPException(404, "Onbekende taak / unknown task") from exc

    @app.post(
        "/api/calls/{task_id}/outcome",
        dependencies=[Depends(require_callcentre)],
        tags=["callcentre"],
        responses=CONFLICT,
    )
    async def call_outcome(task_id: uuid.UUID, body: CallOutcome) -> dict[str, Any]:
        """A call's outcome (disposition); 409 when the task is already closed or cancelled
        (the person answered or opted out meanwhile)."""
        try:
            result = await service.record_call_outcome(
                ctx.pool, ctx.settings, task_id, body.agent_id, body.disposition, body.appointment_at
            )
        except service.NotFoundError as exc:
            raise HTTPException(404, "Onbekende taak / unknown task") from exc
        ctx.relay.wake()
        return result

    @app.get("/api/studies/{study_id}/phone-costs", tags=["waves"])
    async def phone_costs(
        study_id: str,
        caller: Annotated[Caller, Depends(current_caller)],
        provider_id: Annotated[str | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        """Cost lines of the phone option per provider (a provider sees its own)."""
        who = caller.provider_id if not caller.is_admin else provider_id
        try:
            return await service.phone_costs(ctx.pool, ctx.settings, study_id, who)
        except service.NotFoundError as exc:
            raise HTTPException(404, NOT_FOUND) from exc

    @app.get("/api/studies/{study_id}/approaches", tags=["waves"])
    async def approaches(
        study_id: str,
        caller: Annotated[Caller, Depends(current_caller)],
        provider_id: Annotated[str | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        """How people were approached: attempts and people per service, mode and outcome."""
        who = caller.provider_id if not caller.is_admin else provider_id
        return await service.approach_accounting(ctx.pool, study_id, who)


_RETURNS = TypeAdapter(list[ReturnedLetter])


def _extra_wave_routes(app: FastAPI, ctx: ServiceContext, require_admin: Any) -> None:
    admin_key = ctx.settings.admin_api_key.get_secret_value()

    async def start(study_id: str, body: NewExtraWave) -> dict[str, Any]:
        try:
            result = await service.extra_wave(
                ctx.pool, ctx.settings, study_id, body.kind, body.providers, body.wave_key
            )
        except service.NotFoundError as exc:
            raise HTTPException(404, NOT_FOUND) from exc
        except service.InvalidRequestError as exc:  # here too: the ops page answers these as a page
            raise HTTPException(422, str(exc)) from exc
        except service.ConflictError as exc:
            raise HTTPException(409, str(exc)) from exc
        return result

    @app.post(
        "/api/studies/{study_id}/extra-waves",
        dependencies=[Depends(require_admin)],
        tags=["waves"],
        responses={201: {"description": "Started"}, **CONFLICT},
    )
    async def extra_wave(study_id: str, body: NewExtraWave, response: Response) -> dict[str, Any]:
        """An extra reminder or phone round for the non-respondents of these providers whose own
        plan is over (respondents and people who opted out never). 201 the first time; 200 with
        ``repeated: true`` for the same ``wave_key`` again (nobody approached twice); 409 when the
        key was used for another wave."""
        result = await start(study_id, body)
        response.status_code = 200 if result["repeated"] else 201
        return result

    @app.get("/api/studies/{study_id}/extra-waves", dependencies=[Depends(require_admin)], tags=["waves"])
    async def list_extra_waves(study_id: str) -> list[dict[str, Any]]:
        """The study's extra waves with the people in each and how many were approached yet."""
        return await service.extra_waves(ctx.pool, study_id)

    @app.post(
        "/ops/studies/{study_id}/extra-waves",
        response_class=HTMLResponse,
        tags=["operations"],
        responses={201: {"description": "Started"}, **KEY_REFUSED_PAGE, **CONFLICT},
    )
    async def extra_wave_form(study_id: str, request: Request) -> HTMLResponse:
        """The ops page's button (a form: ``kind``, ``providers`` comma-separated, ``wave_key``,
        ``api_key``, the admin key the operator types): the same action, answered as a page."""
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        if not same_key(fields.get("api_key", ""), admin_key):
            return HTMLResponse(_ops_page("Ongeldige sleutel / invalid admin key", []), 401)
        try:
            body = NewExtraWave(
                kind=fields.get("kind", ""),
                providers=[p.strip() for p in fields.get("providers", "").split(",") if p.strip()],
                wave_key=fields.get("wave_key", ""),
            )
        except ValidationError as exc:
            return HTMLResponse(_ops_page(f"Invalid request: {exc.error_count()} error(s)", []), 422)
        try:
            result = await start(study_id, body)
        except HTTPException as exc:
            return HTMLResponse(_ops_page(str(exc.detail), []), exc.status_code)
        title = f"Extra {result['kind']} wave for {study_id}" + (
            " (already done: this request was made before, nobody approached again)"
            if result["repeated"]
            else ""
        )
        return HTMLResponse(_ops_page(title, _result_rows(result)), 200 if result["repeated"] else 201)


def _result_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    rows = [
        (p, ", ".join(f"{k}: {v}" for k, v in sorted(c.items())) or "nobody")
        for p, c in result["per_provider"].items()
    ]
    return [("approached in total", str(result["approached"])), *rows]


def _ops_page(title: str, rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Extra wave</title></head>'
        '<body style="font-family:system-ui,sans-serif;margin:1.5rem">'
        f'<h1 id="result">{html.escape(title)}</h1>'
        f"<table>{body}</table></body></html>"
    )


async def _uploaded_file(request: Request) -> tuple[bytes, str]:
    """The file from a raw body or a multipart ``file`` field, and its name when it has one."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "multipart upload needs a 'file' field")
        return await upload.read(), upload.filename or ""
    return await request.body(), ""
