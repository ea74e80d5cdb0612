"""Provider API of the invitations service (wiring only; the work is in ``service``).

Who sees what: the bureau's admin key sees and does everything; a provider's key sees
only the studies it is enrolled in, its own enrolments and its own deliveries. Anything
else answers 404, exactly as if it did not exist, so a provider cannot probe for other
providers' studies, enrolments or deliveries.

No ``from __future__ import annotations`` here: FastAPI must resolve the
``Annotated[..., Depends(local_function)]`` parameters at definition time.
"""

import hmac
import secrets
import uuid
from dataclasses import asdict, dataclass
from datetime import date
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from services.invitations import service, store
from services.invitations.domain import DeliveryRefusedError, Enrolment, Study
from shared.events import SAFE_ID_MAX_LENGTH, SAFE_ID_PATTERN, SafeId
from shared.logging import get_logger
from shared.runtime import ServiceContext

# A delivery larger than this is refused before it is read (a year of contacts is far smaller).
MAX_DELIVERY_BYTES = 64 * 1024 * 1024
NOT_FOUND = "niet gevonden / not found"
log = get_logger(__name__)


class NewProvider(BaseModel):
    provider_id: str = Field(pattern=SAFE_ID_PATTERN, max_length=SAFE_ID_MAX_LENGTH)
    name: str = Field(min_length=1, max_length=200)


class NewStudy(BaseModel):
    study_id: str = Field(pattern=SAFE_ID_PATTERN, max_length=SAFE_ID_MAX_LENGTH)
    name: str = Field(min_length=1, max_length=200)
    scheme_id: SafeId | None = Field(default=None, description="bow, uwv-reintegratie, uwv-jobcoach, …")
    year: int | None = Field(default=None, ge=2000, le=2100, description="the measurement year")
    period_start: date | None = None
    period_end: date | None = None
    questionnaire_id: SafeId | None = Field(
        default=None,
        description="overrides the scheme's questionnaires; without a scheme the default is minimal-v1",
    )


GroupName = Annotated[str, Field(pattern=r"^[a-z0-9_./-]{1,64}$")]


class EnrolmentOptions(BaseModel):
    """What a provider may change in its own enrolment."""

    phone_option: bool | None = None
    phone_interviews: int | None = Field(default=None, ge=0, le=100_000)
    group_variants: dict[GroupName, str] | None = Field(
        default=None,
        description='client group → questionnaire variant, e.g. {"inburgering": "client/inburgering"}',
    )
    sample_sizes: dict[SafeId, int] | None = Field(
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
    phone_option: bool = False
    phone_interviews: int = Field(default=0, ge=0, le=100_000)
    group_variants: dict[GroupName, str] = Field(default_factory=dict)
    sample_sizes: dict[SafeId, int] = Field(default_factory=dict)
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
    app = FastAPI(title="Tevreden invitations: provider API", version="1")
    admin_key = ctx.settings.admin_api_key.get_secret_value()

    def require_admin(x_api_key: Annotated[str, Header()] = "") -> None:
        if not hmac.compare_digest(x_api_key.encode(), admin_key.encode()):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "Ongeldige sleutel / invalid API key")

    async def current_caller(x_api_key: Annotated[str, Header()] = "") -> Caller:
        if hmac.compare_digest(x_api_key.encode(), admin_key.encode()):
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
            raise HTTPException(422, "De beheerder noemt de dienstverlener / admin: give ?provider_id=")
        return provider_id

    @app.post("/api/providers", status_code=201, dependencies=[Depends(require_admin)])
    async def create_provider(body: NewProvider) -> dict[str, str]:
        """Register a provider (dienstverlener); its API key is shown once."""
        api_key = secrets.token_urlsafe(32)
        async with ctx.pool.acquire() as conn:
            try:
                await store.create_provider(conn, body.provider_id, body.name, api_key)
            except asyncpg.UniqueViolationError as exc:
                raise HTTPException(409, f"provider {body.provider_id} exists") from exc
        return {"provider_id": body.provider_id, "api_key": api_key}

    @app.post("/api/studies", status_code=201, dependencies=[Depends(require_admin)])
    async def create_study(body: NewStudy) -> dict[str, Any]:
        """A study (onderzoek): a scheme over a measurement period."""
        try:
            study = await service.create_study(ctx.pool, **body.model_dump())
        except service.InvalidRequestError as exc:
            raise HTTPException(422, str(exc)) from exc
        except service.AlreadyExistsError as exc:
            raise HTTPException(409, str(exc)) from exc
        return _study_json(study)

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

    @app.post("/api/studies/{study_id}/enrolments", status_code=201, dependencies=[Depends(require_admin)])
    async def enrol(study_id: str, body: NewEnrolment) -> dict[str, Any]:
        """Enrol a provider in a study with its services and options (inschrijving)."""
        values = body.model_dump()
        values["services"] = tuple(values["services"])
        try:
            enrolment = await service.enrol(ctx.pool, Enrolment(study_id=study_id, **values))
        except service.NotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc
        except service.InvalidRequestError as exc:
            raise HTTPException(422, str(exc)) from exc
        except service.AlreadyExistsError as exc:
            raise HTTPException(409, str(exc)) from exc
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

    @app.patch("/api/studies/{study_id}/enrolments/{provider_id}")
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
            raise HTTPException(422, "null is not a value for these fields")
        try:
            enrolment = await service.change_enrolment(ctx.pool, study_id, provider_id, changes)
        except service.NotFoundError as exc:
            raise HTTPException(404, NOT_FOUND) from exc
        except service.InvalidRequestError as exc:
            raise HTTPException(422, str(exc)) from exc
        return _enrolment_json(enrolment)

    @app.get("/api/enrolments")
    async def my_enrolments(
        caller: Annotated[Caller, Depends(current_caller)], provider_id: Annotated[str | None, Query()] = None
    ) -> list[dict[str, Any]]:
        """The provider's enrolments in every study (admin: everyone's, or ?provider_id=)."""
        who = caller.provider_id if not caller.is_admin else provider_id
        return [_enrolment_json(e) for e in await service.list_enrolments(ctx.pool, provider_id=who)]

    @app.post("/api/studies/{study_id}/deliveries", status_code=201)
    async def deliver_contacts(
        study_id: str,
        request: Request,
        caller: Annotated[Caller, Depends(current_caller)],
        provider_id: Annotated[str | None, Query(description="admin only: deliver for this provider")] = None,
        file_name: Annotated[str, Query(max_length=200)] = "",
    ) -> dict[str, Any]:
        """Deliver contacts (aanlevering) as CSV or XLSX; the good rows are kept, the rest reported.

        Body: the file itself (``text/csv`` or the XLSX content type), or a multipart form with
        the file in the field ``file``. 422 when the file as a whole is refused (a BSN column).
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

    return app


async def _uploaded_file(request: Request) -> tuple[bytes, str]:
    """The file from a raw body or a multipart ``file`` field, and its name when it has one."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > MAX_DELIVERY_BYTES:
        raise HTTPException(413, "Bestand te groot / file too large")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise HTTPException(422, "multipart upload needs a 'file' field")
        return await upload.read(), upload.filename or ""
    return await request.body(), ""
