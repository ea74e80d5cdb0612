"""Invitations use cases: studies and enrolments, accept a delivery, send due emails,
stop reminding respondents."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import functools
import io
import secrets
import traceback
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeAlias, cast

import asyncpg
from prometheus_client import Counter, Gauge

from services.invitations import store
from services.invitations.domain import (
    CONTROL_CHARACTERS,
    Contact,
    ContactKey,
    DeliveryCheck,
    DeliveryRefusedError,
    DeliveryTable,
    EmailKey,
    Enrolment,
    IntakeRules,
    SchemeFacts,
    ServiceAccount,
    Study,
    account_delivery,
    check_delivery,
    check_enrolment,
    classify_smtp_code,
    delivery_keys,
    jobcoach_period_key,
    message_id,
    normalise_email,
    opt_out_invitation,
    opt_out_token,
    read_delivery,
    remaining_quotas,
    safe_file_name,
    sample_contacts,
    sampling_seed,
)
from services.invitations.emails import Bounce, EmailFields, audience, period_sentence, render, smtp_date
from services.invitations.letters import Letter, manifest_csv, render_pdf
from services.invitations.mailer import Mailer, Outgoing, SmtpReply, not_sendable
from services.invitations.provinces import province_of
from services.invitations.waves import (
    AAPOR,
    ALWAYS,
    AttemptOutcome,
    CallingHours,
    ExtraAttempt,
    ExtraKind,
    Mode,
    Position,
    Reach,
    Stage,
    Standing,
    advance,
    after_call,
    appointment_problem,
    daypart_allowed,
    extra_attempt,
    phone_cost_lines,
    phone_first,
    plan_for,
    scaled,
    stage_exhausted,
)
from shared.db import Connection
from shared.events import (
    CallDisposition,
    DeliveryChecked,
    DeliveryCheckedPayload,
    DeliveryCount,
    Event,
    FieldworkClosed,
    InvitationApproached,
    InvitationApproachedPayload,
    InvitationIssued,
    InvitationIssuedPayload,
    InvitationOptedOut,
    InvitationOptedOutPayload,
    InvitationUndeliverable,
    InvitationUndeliverablePayload,
    ProviderRegistered,
    ProviderRegisteredPayload,
    RespondentType,
    ResponseSubmitted,
    utc_now,
)
from shared.logging import get_logger
from shared.questionnaires import estimated_minutes, load_questionnaire
from shared.schemes import Scheme, all_schemes, load_scheme, measurement_period
from shared.settings import Settings
from shared.tokens import (
    format_short_code,
    invitation_token,
    letter_code,
    normalise_short_code,
    short_code,
    token_hash,
)

log = get_logger(__name__)
# /metrics: every attempt by mode and outcome, SMTP retries, letter waves and call tasks.
APPROACHES = Counter("tevreden_invitations_approaches_total", "Attempts to reach people", ["mode", "outcome"])
SMTP_RETRIES = Counter("tevreden_invitations_smtp_retries_total", "Emails put back after a 4xx or a timeout")
LETTER_WAVES = Counter("tevreden_invitations_letter_waves_total", "Letter waves made for the mail house")
CALL_TASKS = Counter("tevreden_invitations_call_tasks_opened_total", "Call tasks opened for the callcentre")
# Wave progress per study: wave 'plan' (people's own plans) or an extra wave's key; mode; state
# planned (timer set for later), due (timer passed, waiting for a scheduler), sent (attempts made).
WAVE_PROGRESS = Gauge(
    "tevreden_wave_progress",
    "People and attempts per wave, mode and state",
    ["study", "wave", "mode", "state"],
)
EXTRA_WAVE_PEOPLE = Counter(
    "tevreden_invitations_extra_wave_people_total", "People given an extra reminder or call round", ["kind"]
)

# The questionnaire of a study without a scheme that names none (the thin path's).
DEFAULT_QUESTIONNAIRE = "minimal-v1"
# Deliveries this large are checked in a worker thread, so the event loop keeps serving.
_THREAD_FROM_ROWS = 2000


class NotFoundError(LookupError):
    """The study, provider, enrolment or delivery does not exist, or is not the caller's.

    The API answers 404 either way, so a provider cannot learn what other providers have.
    """


class UnknownStudyError(NotFoundError):
    pass


class InvalidRequestError(ValueError):
    """A study or enrolment that breaks a rule; the message says which, in Dutch and English."""


class AlreadyExistsError(ValueError):
    pass


# --- studies and enrolments --------------------------------------------------------------


def _scheme(scheme_id: str) -> Scheme:
    try:
        return load_scheme(scheme_id)
    except KeyError as exc:
        known = ", ".join(sorted(all_schemes()))
        raise InvalidRequestError(
            f"Onbekende regeling / unknown scheme {scheme_id!r}; known: {known}"
        ) from exc


def scheme_facts(scheme: Scheme) -> SchemeFacts:
    return SchemeFacts(
        active_services=scheme.active_service_codes(),
        retired_services=frozenset(s.code for s in scheme.services if s.retired),
        variants=frozenset(scheme.questionnaires),
        phone_offered=any("phone" in modes for modes in scheme.invitation_modes.values()),
        needs_recognition_date=scheme.period.kind == "from_recognition_date",
    )


async def register_provider(pool: asyncpg.Pool, provider_id: str, name: str) -> str:
    """Register a provider (dienstverlener) and return its new API key, shown once.

    Only the key's hash leaves this schema, as ``invitations.provider_registered`` in the same
    transaction, so the reporting service can recognise the provider's own key.
    Raises ``asyncpg.UniqueViolationError`` when the provider exists."""
    api_key = secrets.token_urlsafe(32)
    async with pool.acquire() as conn, conn.transaction():
        await store.create_provider(conn, provider_id, name, api_key)
        registered = ProviderRegisteredPayload(provider_id=provider_id, api_key_hash=token_hash(api_key))
        await store.add_events(conn, [ProviderRegistered(payload=registered)])
    return api_key


async def create_study(
    pool: asyncpg.Pool,
    *,
    study_id: str,
    name: str,
    scheme_id: str | None = None,
    year: int | None = None,
    period_start: date | None = None,
    period_end: date | None = None,
    questionnaire_id: str | None = None,
) -> Study:
    """A study: a scheme over a measurement period (or, without a scheme, one questionnaire).

    The period is given, or follows from the scheme and the year (calendar year schemes);
    for schemes whose period runs from the recognition date each enrolment gets its own.
    """
    if (period_start is None) != (period_end is None):
        raise InvalidRequestError(
            "Geef begin en einde van de meetperiode / give both period_start and period_end"
        )
    if period_start is not None and period_end is not None and period_start > period_end:
        raise InvalidRequestError("De meetperiode eindigt voor het begin / the period ends before it starts")
    if scheme_id is not None:
        scheme = _scheme(scheme_id)
        if period_start is None and scheme.period.kind == "calendar_year":
            if year is None:
                raise InvalidRequestError(
                    "Geef het jaar of de meetperiode / give the year or the period (period_start, period_end)"
                )
            period_start, period_end = measurement_period(scheme, year=year)
    elif questionnaire_id is None:
        questionnaire_id = DEFAULT_QUESTIONNAIRE
    if year is None and period_start is not None:
        year = period_start.year
    study = Study(study_id, name, scheme_id, questionnaire_id, year, period_start, period_end)
    async with pool.acquire() as conn:
        try:
            await store.create_study(conn, study)
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyExistsError(f"study {study_id} exists") from exc
    return study


async def get_study(pool: asyncpg.Pool, study_id: str, provider_id: str | None) -> Study:
    """A study; for a provider only one it is enrolled in (NotFoundError otherwise)."""
    async with pool.acquire() as conn:
        study = await store.get_study(conn, study_id)
        if study is None or (
            provider_id is not None and await store.get_enrolment(conn, study_id, provider_id) is None
        ):
            raise NotFoundError(study_id)
    return study


async def list_studies(pool: asyncpg.Pool, provider_id: str | None) -> list[Study]:
    async with pool.acquire() as conn:
        return await store.list_studies(conn, provider_id)


def _complete_enrolment(study: Study, enrolment: Enrolment) -> Enrolment:
    """Check an enrolment against its study's scheme and fill in its measurement period."""
    scheme = load_scheme(study.scheme_id) if study.scheme_id is not None else None
    problems = check_enrolment(enrolment, scheme_facts(scheme) if scheme is not None else None)
    if problems:
        raise InvalidRequestError("; ".join(problems))
    if enrolment.period is None and scheme is not None and enrolment.recognition_date is not None:
        try:
            start, end = measurement_period(
                scheme, year=study.year, recognition_date=enrolment.recognition_date
            )
        except ValueError as exc:
            raise InvalidRequestError(f"Geen meetperiode / no measurement period: {exc}") from exc
        enrolment = dataclasses.replace(enrolment, period_start=start, period_end=end)
    return enrolment


async def enrol(pool: asyncpg.Pool, enrolment: Enrolment) -> Enrolment:
    """Enrol a provider in a study with its services and options (admin)."""
    async with pool.acquire() as conn, conn.transaction():
        study = await store.get_study(conn, enrolment.study_id)
        if study is None:
            raise NotFoundError(f"onbekend onderzoek / unknown study: {enrolment.study_id}")
        if not await store.provider_exists(conn, enrolment.provider_id):
            raise NotFoundError(f"onbekende dienstverlener / unknown provider: {enrolment.provider_id}")
        enrolment = _complete_enrolment(study, enrolment)
        try:
            await store.save_enrolment(conn, enrolment, new=True)
        except asyncpg.UniqueViolationError as exc:
            raise AlreadyExistsError(
                f"{enrolment.provider_id} is already enrolled in {enrolment.study_id}"
            ) from exc
    return enrolment


# What a provider may change in its own enrolment; the rest is the bureau's (admin).
PROVIDER_OPTIONS = frozenset({"phone_option", "phone_interviews", "group_variants", "sample_sizes"})
ADMIN_FIELDS = PROVIDER_OPTIONS | {"services", "recognition_date", "period_start", "period_end"}


async def change_enrolment(
    pool: asyncpg.Pool, study_id: str, provider_id: str, changes: dict[str, Any]
) -> Enrolment:
    """Change an enrolment's options (the caller has checked who may change which field)."""
    unknown = set(changes) - ADMIN_FIELDS
    if unknown:
        raise InvalidRequestError(f"Onbekende velden / unknown fields: {', '.join(sorted(unknown))}")
    async with pool.acquire() as conn, conn.transaction():
        study = await store.get_study(conn, study_id)
        current = await store.get_enrolment(conn, study_id, provider_id)
        if study is None or current is None:
            raise NotFoundError(study_id)
        if "services" in changes:
            changes["services"] = tuple(changes["services"])
        if "recognition_date" in changes and "period_start" not in changes:
            changes |= {"period_start": None, "period_end": None}  # follows the new date
        enrolment = _complete_enrolment(study, dataclasses.replace(current, **changes))
        await store.save_enrolment(conn, enrolment, new=False)
    return enrolment


async def get_enrolment(pool: asyncpg.Pool, study_id: str, provider_id: str) -> Enrolment:
    async with pool.acquire() as conn:
        enrolment = await store.get_enrolment(conn, study_id, provider_id)
    if enrolment is None:
        raise NotFoundError(study_id)
    return enrolment


async def list_enrolments(
    pool: asyncpg.Pool, *, study_id: str | None = None, provider_id: str | None = None
) -> list[Enrolment]:
    async with pool.acquire() as conn:
        return await store.list_enrolments(conn, study_id=study_id, provider_id=provider_id)


# --- deliveries ---------------------------------------------------------------------------


def intake_rules(study: Study, enrolment: Enrolment) -> IntakeRules:
    """What a provider's delivery is checked against: its enrolment under the study's scheme."""
    period = enrolment.period or study.period
    if study.scheme_id is None:
        return IntakeRules(
            services=frozenset(enrolment.services),
            group_variants=enrolment.group_variants,
            period=period,
            phone_option=enrolment.phone_option,
        )
    scheme = load_scheme(study.scheme_id)
    has_services = bool(scheme.services)
    return IntakeRules(
        services=frozenset(enrolment.services) & scheme.active_service_codes() if has_services else None,
        retired_services=frozenset(s.code for s in scheme.services if s.retired),
        service_required=has_services,
        respondent_types=scheme.respondent_types,
        modes={str(kind): modes for kind, modes in scheme.invitation_modes.items()},
        variants=frozenset(scheme.questionnaires),
        service_variants={
            s.code: s.questionnaire_variant for s in scheme.services if s.questionnaire_variant is not None
        },
        group_variants=enrolment.group_variants,
        period=period,
        phone_option=enrolment.phone_option,
        jobcoach_periods={"werknemer", "werkgever"} <= set(scheme.respondent_types),
    )


def questionnaire_for(study: Study, contact: Contact) -> str:
    """The study's own questionnaire when it names one, else the scheme's for the contact's variant."""
    if study.questionnaire_id is not None:
        return study.questionnaire_id
    assert study.scheme_id is not None  # a study names a questionnaire or a scheme (CHECK constraint)
    return load_scheme(study.scheme_id).questionnaires[contact.variant]


@dataclass(frozen=True)
class DeliveryReceipt:
    delivery_id: uuid.UUID
    file_format: str
    rows_total: int
    rows_accepted: int  # invited
    rows_sampled_out: int
    rows_rejected: int
    problems: list[dict[str, Any]]
    ignored_columns: list[str]
    accounting: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"delivery_id": str(self.delivery_id)}


async def accept_delivery(
    pool: asyncpg.Pool,
    settings: Settings,
    study_id: str,
    provider_id: str,
    data: bytes | str,
    *,
    file_name: str = "",
) -> DeliveryReceipt:
    """Check a CSV or XLSX delivery, store the good rows, invite the sample, report the rest.

    One transaction: the delivery, its contacts (invited or sampled out), the invitations,
    the ``invitations.issued`` events and the ``invitations.delivery_checked`` accounting.
    Raises :class:`~services.invitations.domain.DeliveryRefusedError` before anything is
    stored when the file as a whole is unacceptable (a BSN column), and
    :class:`NotFoundError` when the provider is not enrolled in the study.
    """
    file_name = safe_file_name(file_name)
    large = len(data) > 200 * _THREAD_FROM_ROWS
    with _no_values_in_errors():
        table = (
            await asyncio.to_thread(read_delivery, data, filename=file_name)
            if large
            else read_delivery(data, filename=file_name)
        )
    async with pool.acquire() as conn, conn.transaction():
        study = await store.get_study(conn, study_id)
        enrolment = await store.get_enrolment(conn, study_id, provider_id) if study is not None else None
        if study is None or enrolment is None:
            raise UnknownStudyError(study_id)
        await _refuse_when_closed(conn, study_id, "aanleveringen", "deliveries")
        rules = intake_rules(study, enrolment)
        with _no_values_in_errors():
            refs, pairs = delivery_keys(table, rules)  # refuses a BSN column or missing columns
        await store.lock_provider_deliveries(conn, study_id, provider_id)
        known_refs, known_pairs = await store.known_duplicates(conn, study_id, provider_id, refs, pairs)
        with _no_values_in_errors():
            check = await _check(table, rules, known_refs, known_pairs)
        delivery_id = uuid.uuid4()
        quotas = remaining_quotas(
            enrolment.sample_sizes, await store.invited_clients_by_service(conn, study_id, provider_id)
        )
        invited, sampled_out = sample_contacts(
            check.contacts, quotas, sampling_seed(study_id, provider_id, delivery_id)
        )
        accounting = account_delivery(check, sampled_out)
        await _store_checked(
            conn,
            settings,
            check,
            study,
            enrolment,
            provider_id,
            delivery_id,
            file_name,
            invited,
            sampled_out,
            accounting,
        )
    log.info(
        "delivery_accepted",
        study_id=study_id,
        provider_id=provider_id,
        delivery_id=str(delivery_id),
        file_format=check.file_format,
        rows_total=check.rows_total,
        rows_accepted=len(invited),
        rows_sampled_out=len(sampled_out),
        rows_rejected=check.rows_rejected,
    )
    return DeliveryReceipt(
        delivery_id=delivery_id,
        file_format=check.file_format,
        rows_total=check.rows_total,
        rows_accepted=len(invited),
        rows_sampled_out=len(sampled_out),
        rows_rejected=check.rows_rejected,
        problems=[asdict(p) for p in check.problems],
        ignored_columns=check.ignored_columns,
        accounting=[asdict(a) for a in accounting],
    )


class DeliveryCheckFailedError(RuntimeError):
    """Reading or checking a delivery failed unexpectedly (a bug, not the provider's file)."""


@contextlib.contextmanager
def _no_values_in_errors() -> Iterator[None]:
    """Let no unexpected error carry a delivered value (a BSN, perhaps) into a log.

    A traceback holds the frames' locals (the rows) and its message may quote a value,
    so it is replaced by an error that names only the exception type and the line.
    """
    try:
        yield
    except DeliveryRefusedError:
        raise
    except Exception as exc:
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{Path(frame.filename).name}:{frame.lineno}"
        log.error("delivery_check_failed", error=type(exc).__name__, at=where)
        raise DeliveryCheckFailedError(f"{type(exc).__name__} at {where}") from None


async def _check(
    table: DeliveryTable, rules: IntakeRules, refs: set[ContactKey], pairs: set[EmailKey]
) -> DeliveryCheck:
    if len(table.rows) < _THREAD_FROM_ROWS:
        return check_delivery(table, rules=rules, known_client_refs=refs, known_email_services=pairs)
    return await asyncio.to_thread(
        check_delivery, table, rules=rules, known_client_refs=refs, known_email_services=pairs
    )


async def _store_checked(
    conn: Connection,
    settings: Settings,
    check: DeliveryCheck,
    study: Study,
    enrolment: Enrolment,
    provider_id: str,
    delivery_id: uuid.UUID,
    file_name: str,
    invited: list[Contact],
    sampled_out: list[Contact],
    accounting: list[ServiceAccount],
) -> None:
    secret = settings.token_secret.get_secret_value().encode()
    correlation_id = delivery_id  # every event of one delivery can be traced back to it
    provider_name = await store.provider_name(conn, provider_id)
    to_invite = [(uuid.uuid4(), uuid.uuid4(), questionnaire_for(study, c), c) for c in invited]
    starts = []
    unreachable: list[Event] = []
    for _, invitation_id, _, contact in to_invite:
        plan, mode, first = plan_start(study, enrolment, contact, settings)
        hashed = token_hash(invitation_token(secret, invitation_id))
        starts.append((plan, mode, first, hashed, "pending" if mode else "undeliverable"))
        if mode is None:  # nothing in the scheme's plan reaches this person
            row = {
                "invitation_id": invitation_id,
                "study_id": study.study_id,
                "provider_id": provider_id,
                "service_code": contact.service_code,
                "respondent_type": contact.respondent_type,
            }
            unreachable.append(_undeliverable_event(row, "email", "no mode of the plan reaches the person"))
    events: list[Event] = [
        InvitationIssued(
            correlation_id=correlation_id,
            payload=InvitationIssuedPayload(
                invitation_id=invitation_id,
                study_id=study.study_id,
                provider_id=provider_id,
                service_code=contact.service_code,
                respondent_type=cast(RespondentType, contact.respondent_type),
                questionnaire_id=questionnaire_id,
                scheme_id=study.scheme_id,
                token_hash=token_hash(invitation_token(secret, invitation_id)),
                jobcoach_period=_period_key(secret, study.study_id, provider_id, contact.jobcoach_period),
                province=province_of(contact.postcode),
                provider_name=provider_name,
                letter_code_hash=token_hash(letter_code(secret, invitation_id)),
                phone_allowed=reach_of(enrolment, contact).by_phone,
            ),
        )
        for _, invitation_id, questionnaire_id, contact in to_invite
    ]
    events += unreachable
    events.append(
        DeliveryChecked(
            correlation_id=correlation_id,
            payload=DeliveryCheckedPayload(
                study_id=study.study_id,
                provider_id=provider_id,
                delivery_id=delivery_id,
                rows_total=check.rows_total,
                counts=tuple(DeliveryCount.model_validate(asdict(a)) for a in accounting),
            ),
        )
    )
    await store.record_delivery(
        conn,
        delivery_id=delivery_id,
        study_id=study.study_id,
        provider_id=provider_id,
        file_format=check.file_format,
        file_name=file_name,
        rows_total=check.rows_total,
        problems=check.problems,
        rows_rejected=check.rows_rejected,
        ignored_columns=check.ignored_columns,
        accounting=accounting,
        invited=to_invite,
        sampled_out=[(uuid.uuid4(), c) for c in sampled_out],
        events=events,
        starts=starts,
    )


def _period_key(secret: bytes, study_id: str, provider_id: str, reference: str) -> str | None:
    """The pseudonymous key of a contact's jobcoach period; None when it has none."""
    return jobcoach_period_key(secret, study_id, provider_id, reference) if reference else None


async def list_deliveries(pool: asyncpg.Pool, study_id: str, provider_id: str | None) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return await store.list_deliveries(conn, study_id, provider_id)


async def get_delivery(
    pool: asyncpg.Pool, study_id: str, delivery_id: uuid.UUID, provider_id: str | None
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        delivery = await store.get_delivery(conn, study_id, delivery_id, provider_id)
    if delivery is None:
        raise NotFoundError(str(delivery_id))
    return delivery


async def progress(pool: asyncpg.Pool, study_id: str, provider_id: str) -> dict[str, Any]:
    async with pool.acquire() as conn:
        if await store.get_enrolment(conn, study_id, provider_id) is None:
            raise NotFoundError(study_id)
        return await store.progress(conn, study_id, provider_id)


async def invitations_of_email(pool: asyncpg.Pool, email: str) -> list[dict[str, Any]]:
    """Who a person is to us, found by the address they give: their invitations (ids, study,
    provider, status), to act on an AVG request."""
    try:
        address = normalise_email(email)
    except ValueError:
        return []  # intake never stored such an address
    async with pool.acquire() as conn:
        return await store.invitations_of_email(conn, address)


# A claimed invitation: an asyncpg record, or a dict with the same keys.
Row: TypeAlias = asyncpg.Record | Mapping[str, Any]


# --- wave plans --------------------------------------------------------------------------


def stages_for(study: Study, contact: Contact, settings: Settings) -> tuple[Stage, ...]:
    """The scheme's stages for the contact's respondent type (a plan day lasts wave_day_seconds);
    a study without a scheme: email with the settings' reminders."""
    if study.scheme_id is None:
        return (Stage("email", 1 + settings.max_reminders, settings.reminder_after_seconds),)
    plan = load_scheme(study.scheme_id).wave_plan(contact.respondent_type)
    return scaled(
        ((s.mode, s.attempts, s.interval_days, s.fallback) for s in plan), settings.wave_day_seconds
    )


def reach_of(enrolment: Enrolment, contact: Contact) -> Reach:
    """How the person can be approached: the phone only with the provider's phone option (clients)
    or as an inburgeraar with learning profile 1 or 2 (phoned first)."""
    return Reach(
        email=bool(contact.email),
        address=contact.has_full_address,
        phone=bool(contact.phone) and enrolment.phone_option and contact.respondent_type == "client",
        phone_first=phone_first(contact.respondent_type, contact.variant, contact.learning_profile)
        and bool(contact.phone),
    )


def plan_start(
    study: Study, enrolment: Enrolment, contact: Contact, settings: Settings
) -> tuple[list[dict[str, Any]], str | None, bool]:
    """(plan, first mode or None when nothing can reach the person, phone first)."""
    reach = reach_of(enrolment, contact)
    first = reach.phone_first
    default_phone = Stage("phone", 5, 0.5 * settings.wave_day_seconds)
    plan = plan_for(stages_for(study, contact, settings), reach, phone_stage=default_phone)
    return [s.as_json() for s in plan], (plan[0].mode if plan else None), first


def _plan(row: Row) -> list[Stage]:
    return [Stage.from_json(s) for s in row["plan"]]


def _position(row: Row, reached: bool | None = None) -> Position:
    return Position(row["stage"], row["stage_attempts"], row["reached"] if reached is None else reached)


def _ids(row: Row) -> dict[str, Any]:
    return {
        "invitation_id": row["invitation_id"],
        "study_id": row["study_id"],
        "provider_id": row["provider_id"],
        "service_code": row["service_code"],
        "respondent_type": row["respondent_type"],
    }


def approached(
    row: Row,
    mode: Mode,
    attempt: int,
    outcome: str,
    aapor: str | None = None,
) -> InvitationApproached:
    return InvitationApproached(
        payload=InvitationApproachedPayload(
            **_ids(row),
            mode=mode,
            attempt=attempt,
            reminder=attempt > 1 and mode != "phone",
            outcome=outcome,
            aapor=aapor,
        )
    )


@dataclass
class _Moves:
    """Position changes and events of one round, written in one go."""

    now: datetime
    rows: list[tuple[uuid.UUID, int | None, int, bool, str | None, datetime | None, str, int]] = field(
        default_factory=list
    )
    events: list[Event] = field(default_factory=list)
    approaches: list[tuple[uuid.UUID, str, int, str, str]] = field(default_factory=list)

    def move(
        self,
        row: Row,
        to: Position,
        *,
        retries: int = 0,
        last_mode: str = "email",
        why: str = "",
        proven: bool = True,
    ) -> None:
        """Move to a new position. ``proven`` False: the plan may end without reaching the person
        (calls unanswered, quota full), but their details are not known to be wrong, so they stay
        in the net sample."""
        plan = _plan(row)
        mode = plan[to.stage].mode if to.stage is not None else None
        due = self.now + timedelta(seconds=to.wait_seconds or 0) if to.stage is not None else None
        if to.end == "unreachable" and proven:
            status = "undeliverable"
            self.events.append(_undeliverable_event(row, last_mode, why or "no mode reached the person"))
        elif to.end is not None:
            status = "done"
        else:
            status = "sent" if to.reached else "pending"
        self.rows.append(
            (row["invitation_id"], to.stage, to.stage_attempts, to.reached, mode, due, status, retries)
        )

    def wait(self, row: Row, due: datetime | None, retries: int) -> None:
        """Same stage, same attempt, later (an SMTP retry, a call task taking over the timer)."""
        plan = _plan(row)
        self.rows.append(
            (
                row["invitation_id"],
                row["stage"],
                row["stage_attempts"],
                row["reached"],
                plan[row["stage"]].mode,
                due,
                "sent" if row["reached"] else "pending",
                retries,
            )
        )

    async def save(self, conn: Connection) -> None:
        await store.save_positions(conn, self.rows)
        await store.record_approaches(conn, self.approaches)
        await store.add_events(conn, self.events)
        for _, mode, _, outcome, _ in self.approaches:
            APPROACHES.labels(mode, outcome).inc()


def _undeliverable_event(row: Row, mode: str, reason: str) -> Event:
    return InvitationUndeliverable(
        payload=InvitationUndeliverablePayload(**_ids(row), mode=mode, reason=reason[:200])
    )


# --- email ---------------------------------------------------------------------------------


def _links(settings: Settings, invitation_id: uuid.UUID) -> tuple[str, str]:
    """The questionnaire link and the opt-out link: each with a token of its own."""
    secret = settings.token_secret.get_secret_value().encode()
    token, optout = invitation_token(secret, invitation_id), opt_out_token(secret, invitation_id)
    return f"{settings.public_base_url}/q/{token}", f"{settings.invitations_public_url}/afmelden/{optout}"


def _period(row: Row) -> str:
    """The sentence saying which jobcoach period an email or letter is about ("" without one).
    Rows read elsewhere (the benchmarks) may lack the period's columns: no period then."""
    return period_sentence(
        row["respondent_type"],
        row.get("jobcoach_period") or "",
        row.get("end_date"),
        row.get("period_employer") or "",
    )


def email_bytes(settings: Settings, row: Row, date: str) -> tuple[str, bytes]:
    """The Message-ID and bytes of the person's next email in their email stage."""
    attempt = row["stage_attempts"] + 1
    link, optout = _links(settings, row["invitation_id"])
    mid = message_id(row["invitation_id"], attempt)
    fields = EmailFields(
        row["email"],
        row["name"],
        row["provider_name"],
        link,
        optout,
        mid,
        minutes=_minutes(row["questionnaire_id"]),
        reply_by=_reply_by(settings),
        period=_period(row),
    )
    which = audience(row["respondent_type"], row["variant"])
    return mid, render(
        which, attempt > 1, fields, sender=settings.smtp_sender, date=date, bureau=settings.bureau
    )


@functools.cache
def _minutes(questionnaire_id: str) -> int:
    """The questionnaire's estimated length, told in emails and letters."""
    return estimated_minutes(load_questionnaire(questionnaire_id))


def _reply_by(settings: Settings) -> date:
    """The reply-by date an email or letter sent today names."""
    return utc_now().date() + timedelta(days=settings.reply_within_days)


def _built_email(settings: Settings, row: Row, date: str) -> tuple[str, bytes | SmtpReply]:
    """The message's Message-ID and bytes; one that cannot be rendered is a permanent failure of
    that message only."""
    try:
        return email_bytes(settings, row, date)
    except Exception as exc:  # a malformed row must not end the round
        return message_id(row["invitation_id"], row["stage_attempts"] + 1), not_sendable(exc)


async def send_due_emails(
    pool: asyncpg.Pool, settings: Settings, mailer: Mailer, limit: int | None = None
) -> int:
    """Send the invitations and reminders that are due; returns how many were attempted.

    Claimed rows are leased (their timer pushed ``email_lease_seconds`` ahead) and the claim is
    committed before sending, so no other scheduler takes them and nothing waits on their
    locks while the emails go out (a response arriving meanwhile is recorded at once, and the
    outcomes below never overwrite it). A crash between claim and record resends after the
    lease, with the same Message-ID. Sent: the plan moves on (reminder or next stage). 4xx or
    no answer: the same email again after a doubling backoff, up to ``smtp_max_retries``.
    5xx: the address is undeliverable, the next stage (a letter) starts at once.
    """
    async with pool.acquire() as conn:
        async with conn.transaction():
            due = await store.claim_due(conn, "email", limit or settings.email_batch_size)
            if not due:
                return 0
            await store.lease(conn, [row["invitation_id"] for row in due], settings.email_lease_seconds)
        date = smtp_date()
        built = [_built_email(settings, row, date) for row in due]
        outgoing = [
            Outgoing(row["email"], data)
            for row, (_, data) in zip(due, built, strict=True)
            if isinstance(data, bytes)
        ]
        sent = iter(await mailer.send_all(outgoing))
        replies = [data if isinstance(data, SmtpReply) else next(sent) for _, data in built]
        await _record_emails(conn, settings, due, [mid for mid, _ in built], replies)
    log.info("emails_sent", attempted=len(due))
    return len(due)


async def _record_emails(
    conn: Connection,
    settings: Settings,
    due: Sequence[asyncpg.Record],
    message_ids: Sequence[str],
    replies: Sequence[SmtpReply],
) -> None:
    async with conn.transaction():
        moves = _Moves(utc_now())
        log_rows = []
        for row, mid, reply in zip(due, message_ids, replies, strict=True):
            outcome = classify_smtp_code(reply.code)
            attempt = row["stage_attempts"] + 1
            retries = row["email_retries"]
            if outcome == "retry" and retries >= settings.smtp_max_retries:
                outcome = "undeliverable"
            said = CONTROL_CHARACTERS.sub(" ", f"{reply.code} {reply.text}")  # what the server said[:500]
            log_rows.append((mid, row["invitation_id"], attempt, outcome, said))
            if outcome == "retry":
                SMTP_RETRIES.inc()
                backoff = settings.smtp_retry_after_seconds * 2**retries
                moves.wait(row, moves.now + timedelta(seconds=backoff), retries + 1)
                continue
            plan = _plan(row)
            sent: AttemptOutcome = "sent" if outcome == "sent" else "undeliverable"
            moves.approaches.append((row["invitation_id"], "email", attempt, sent, mid))
            moves.events.append(approached(row, "email", attempt, sent))
            why = reply.text if reply.local else f"SMTP {reply.code}"
            moves.move(row, advance(plan, _position(row), sent), last_mode="email", why=why)
        await store.log_emails(conn, log_rows)
        await moves.save(conn)


async def late_bounce(pool: asyncpg.Pool, bounce: Bounce) -> dict[str, Any]:
    """A DSN after the SMTP server had accepted the email: a permanent failure makes the address
    undeliverable (the next stage starts when the person is still in the email stage).
    A bounce that does not quote the Message-ID (many formats return only the address) counts
    for the latest email sent to each failed address."""
    async with pool.acquire() as conn, conn.transaction():
        if not bounce.message_id:
            return await _bounce_by_address(conn, bounce)
        found = await store.invitation_for_message(conn, bounce.message_id)
        if found is None:
            raise NotFoundError(bounce.message_id)
        if not bounce.permanent:
            return {"message_id": bounce.message_id, "action": "ignored", "reason": "not a permanent failure"}
        invitation_id, attempt = found
        return await _undeliverable_after_the_fact(conn, invitation_id, "email", attempt, bounce.message_id)


async def _bounce_by_address(conn: Connection, bounce: Bounce) -> dict[str, Any]:
    emailed = await store.emails_sent_to(conn, sorted(bounce.addresses))
    if not emailed:
        raise NotFoundError("address")
    if not bounce.permanent:
        return {"matched_by": "address", "action": "ignored", "reason": "not a permanent failure"}
    results = [
        await _undeliverable_after_the_fact(
            conn, row["invitation_id"], "email", row["attempt"], row["message_id"]
        )
        for row in emailed
    ]
    return {"matched_by": "address", "invitations": results}


async def _undeliverable_after_the_fact(
    conn: Connection, invitation_id: uuid.UUID, mode: Mode, attempt: int, reference: str
) -> dict[str, Any]:
    """A bounce or returned letter: record it once; move on when the person is still in that
    mode's stage; when their plan is over and nothing else reached them, they are undeliverable."""
    (row,) = await store.lock_invitations(conn, [invitation_id])
    already = await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM invitations.approaches WHERE invitation_id = $1 AND mode = $2"
        " AND outcome = 'undeliverable' AND reference = $3)",
        invitation_id,
        mode,
        reference,
    )
    if already:
        return {"invitation_id": str(invitation_id), "action": "already recorded"}
    moves = _Moves(utc_now())
    moves.approaches.append((invitation_id, mode, attempt, "undeliverable", reference))
    moves.events.append(approached(row, mode, attempt, "undeliverable"))
    reached = await store.reached_except(conn, invitation_id, mode)
    action = "recorded"
    if row["status"] in ("pending", "sent") and row["mode"] == mode:
        moves.move(row, advance(_plan(row), _position(row, reached), "undeliverable"), last_mode=mode)
        action = "next stage"
    elif row["status"] == "done" and not reached:
        moves.events.append(_undeliverable_event(row, mode, f"{mode} undeliverable"))
        await conn.execute(
            "UPDATE invitations.invitations SET status = 'undeliverable' WHERE invitation_id = $1",
            invitation_id,
        )
        action = "undeliverable"
    await moves.save(conn)
    return {"invitation_id": str(invitation_id), "action": action}


async def study_name_for_link(pool: asyncpg.Pool, settings: Settings, token: str) -> str | None:
    """The name of the study an opt-out (or older questionnaire) link belongs to: the page names it."""
    async with pool.acquire() as conn:
        invitation_id = await _invitation_for_link(conn, settings, token)
        return None if invitation_id is None else await store.study_name(conn, invitation_id)


async def _invitation_for_link(conn: Connection, settings: Settings, token: str) -> uuid.UUID | None:
    """The invitation an opt-out link names: its own token, or (emails sent before the opt-out
    token existed) the questionnaire token."""
    secret = settings.token_secret.get_secret_value().encode()
    return opt_out_invitation(secret, token) or await store.invitation_by_token_hash(conn, token_hash(token))


async def opt_out(pool: asyncpg.Pool, settings: Settings, token: str) -> bool:
    """Afmelden: no more emails, letters or calls for this person, from this moment.

    False for an unknown link. Letters already handed to the mail house cannot be stopped;
    every letter not yet in a wave and every call not yet made is. Links in emails sent before
    the opt-out token existed carry the questionnaire token: they keep working.
    """
    async with pool.acquire() as conn, conn.transaction():
        invitation_id = await _invitation_for_link(conn, settings, token)
        row = await store.opt_out(conn, invitation_id) if invitation_id is not None else None
        if row is None:
            return False
        if not row["already"]:
            await store.add_events(
                conn,
                [
                    InvitationOptedOut(
                        payload=InvitationOptedOutPayload(
                            **{
                                k: row[k]
                                for k in ("invitation_id", "study_id", "provider_id", "service_code")
                            },
                            respondent_type=row["respondent_type"],
                        )
                    )
                ],
            )
    log.info("opted_out", invitation_id=str(row["invitation_id"]))
    return True


# --- post ----------------------------------------------------------------------------------


def _letter(settings: Settings, row: Row) -> Letter:
    link, _ = _links(settings, row["invitation_id"])
    return Letter(
        letter_id=str(uuid.uuid4()),
        reminder=row["stage_attempts"] > 0,
        simple=audience(row["respondent_type"], row["variant"]) == "simple",
        name=row["name"],
        street=row["street"],
        house_number=row["house_number"],
        postcode=row["postcode"],
        city=row["city"],
        provider=row["provider_name"],
        link=link,
        short_code=short_code(row["invitation_id"]),
        letter_code=letter_code(settings.token_secret.get_secret_value().encode(), row["invitation_id"]),
        short_address=short_address(settings),
        minutes=_minutes(row["questionnaire_id"]),
        sent_on=utc_now().date(),
        reply_by=_reply_by(settings),
        bureau=settings.bureau,
        period=_period(row),
    )


def short_address(settings: Settings) -> str:
    """Where a letter's code is typed in, as printed: the questionnaire's host and ``/code``."""
    return settings.public_base_url.split("://", 1)[-1].rstrip("/") + "/code"


async def make_letter_wave(pool: asyncpg.Pool, settings: Settings, limit: int = 2000) -> int | None:
    """Every letter that is due, as one wave: a PDF (one page per person) and a manifest CSV
    for the mail house in ``letter_dir/wave-NNNNN/``. Returns the wave id (None: no letters due)."""
    async with pool.acquire() as conn, conn.transaction():
        due = await store.claim_due(conn, "post", limit)
        if not due:
            return None
        wave_id = await store.next_wave_id(conn)
        letters = [_letter(settings, row) for row in due]
        folder = Path(settings.letter_dir) / f"wave-{wave_id:05d}"
        pdf = await asyncio.to_thread(render_pdf, letters)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "letters.pdf").write_bytes(pdf)
        (folder / "manifest.csv").write_text(manifest_csv(letters), encoding="utf-8")
        moves = _Moves(utc_now())
        for row, letter in zip(due, letters, strict=True):
            attempt = row["stage_attempts"] + 1
            moves.approaches.append((row["invitation_id"], "post", attempt, "sent", letter.letter_id))
            moves.events.append(approached(row, "post", attempt, "sent"))
            moves.move(row, advance(_plan(row), _position(row), "sent"), last_mode="post")
        await store.record_letter_wave_with_id(
            conn,
            wave_id,
            [
                (
                    uuid.UUID(letter.letter_id),
                    row["invitation_id"],
                    row["stage_attempts"] + 1,
                    letter.short_code,
                )
                for row, letter in zip(due, letters, strict=True)
            ],
            str(folder / "letters.pdf"),
            str(folder / "manifest.csv"),
        )
        await moves.save(conn)
    LETTER_WAVES.inc()
    log.info("letter_wave_made", wave_id=wave_id, letters=len(due))
    return wave_id


async def letter_waves(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return await store.letter_waves(conn)


async def letter_wave_file(pool: asyncpg.Pool, wave_id: int, which: str) -> Path:
    async with pool.acquire() as conn:
        wave = await store.letter_wave(conn, wave_id)
    if wave is None:
        raise NotFoundError(str(wave_id))
    return Path(wave["pdf_path"] if which == "pdf" else wave["manifest_path"])


@dataclass(frozen=True)
class ReturnedMail:
    """One returned letter as the mail house reports it: its short code or letter id."""

    reference: str
    reason: str = "retour"


def read_returns_csv(text: str) -> list[ReturnedMail]:
    """CSV with a column ``short_code`` (or ``code``) or ``letter_id``, and optional ``reason``."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip().lower() for h in reader.fieldnames or []]
    column = next((h for h in ("short_code", "code", "letter_id") if h in header), None)
    if column is None:
        raise InvalidRequestError(
            "Kolom short_code of letter_id ontbreekt / need a short_code or letter_id column"
        )
    found = []
    for record in reader:
        values = {k.strip().lower(): (v or "").strip() for k, v in record.items() if k}
        if values.get(column):
            found.append(ReturnedMail(values[column], values.get("reason") or "retour"))
    return found


async def import_returns(pool: asyncpg.Pool, returns: Sequence[ReturnedMail]) -> dict[str, Any]:
    """Returned mail (retourpost): each letter's address is undeliverable, the person moves on.

    Unknown references are listed, not fatal; a letter reported twice counts once.
    """
    codes: dict[str, ReturnedMail] = {}
    ids: dict[uuid.UUID, ReturnedMail] = {}
    unknown = []
    for item in returns:
        try:
            ids[uuid.UUID(item.reference)] = item
            continue
        except ValueError:
            pass
        code = normalise_short_code(item.reference)
        if code is None:
            unknown.append(item.reference)
        else:
            codes[code] = item
    actions: list[dict[str, Any]] = []
    async with pool.acquire() as conn, conn.transaction():
        known = await store.known_letters(conn, list(codes), list(ids))
        seen = {r["short_code"] for r in known} | {r["letter_id"] for r in known}
        unknown += [format_short_code(c) for c in codes if c not in seen] + [
            str(i) for i in ids if i not in seen
        ]
        returned = await store.mark_returned(conn, list(codes), list(ids), "retour")
        by_invitation: dict[uuid.UUID, asyncpg.Record] = {}
        for letter in returned:
            by_invitation.setdefault(letter["invitation_id"], letter)
        for invitation_id, letter in sorted(by_invitation.items()):
            actions.append(
                await _undeliverable_after_the_fact(
                    conn, invitation_id, "post", letter["attempt"], str(letter["letter_id"])
                )
            )
    return {"returned": len(by_invitation), "unknown": unknown, "actions": actions}


# --- phone ---------------------------------------------------------------------------------


async def open_due_calls(pool: asyncpg.Pool, settings: Settings, limit: int = 500) -> int:
    """People whose phone stage is due get a call task; the task's timer takes over. Tasks of
    providers whose quota is full are cancelled and their people move to the next stage."""
    async with pool.acquire() as conn, conn.transaction():
        due = await store.claim_due(conn, "phone", limit)
        moves = _Moves(utc_now())
        tasks = []
        for row in due:
            stage = _plan(row)[row["stage"]]
            kind = "inburgering" if row["phone_first"] and row["stage"] == 0 else "option"
            tasks.append(
                (
                    uuid.uuid4(),
                    row["invitation_id"],
                    row["study_id"],
                    row["provider_id"],
                    kind,
                    stage.attempts,
                    stage.interval_seconds,
                )
            )
            moves.wait(row, None, 0)
        await store.open_call_tasks(conn, tasks)
        CALL_TASKS.inc(len(tasks))
        full = await store.full_quotas(conn)
        if full:
            # Invitations before their tasks, the lock order of every path (no deadlocks).
            ids = [r["invitation_id"] for r in full]
            locked = await store.lock_invitations(conn, ids)
            await store.cancel_call_tasks(conn, ids)
            for row in locked:
                if row["status"] in ("pending", "sent") and row["mode"] == "phone":
                    moves.move(
                        row,
                        stage_exhausted(_plan(row), _position(row), reached=False),
                        last_mode="phone",
                        proven=False,
                    )
        await moves.save(conn)
    return len(due) + len(full)


def _calling_daypart(settings: Settings, now: datetime) -> str | None:
    return (CallingHours() if settings.calling_hours_apply else ALWAYS).daypart(now)


async def next_calls(pool: asyncpg.Pool, settings: Settings, agent_id: str, limit: int) -> dict[str, Any]:
    """The next call tasks for an agent, leased to them for ``call_lease_seconds``: appointments
    that are due first, then the longest waiting. Outside calling hours: none."""
    now = utc_now()
    part = _calling_daypart(settings, now)
    if part is None:
        return {"daypart": None, "tasks": [], "message": "Buiten de beltijden / outside calling hours"}
    async with pool.acquire() as conn, conn.transaction():
        rows = await store.candidate_calls(conn, limit * 4)
        chosen = [
            r
            for r in rows
            if r["appointment_at"] is not None
            or not settings.calling_hours_apply
            or daypart_allowed(r["dayparts"], part, r["max_attempts"])  # type: ignore[arg-type]
        ][:limit]
        await store.lease_calls(conn, [r["task_id"] for r in chosen], agent_id, settings.call_lease_seconds)
    return {
        "daypart": part,
        "tasks": [_call_json(r) for r in chosen],
    }


def _call_json(r: asyncpg.Record) -> dict[str, Any]:
    """A call task as the callcentre sees it: whom to call and what to ask."""
    return {
        "task_id": str(r["task_id"]),
        "invitation_id": str(r["invitation_id"]),
        "study_id": r["study_id"],
        "provider_id": r["provider_id"],
        "provider_name": r["provider_name"],
        "name": r["name"],
        "phone": r["phone"],
        "questionnaire_id": r["questionnaire_id"],
        "low_threshold": audience(r["respondent_type"], r["variant"]) == "simple",
        "short_code": format_short_code(short_code(r["invitation_id"])),
        "attempt": r["attempts"] + 1,
        "max_attempts": r["max_attempts"],
        "appointment_at": r["appointment_at"].isoformat() if r["appointment_at"] else None,
    }


class ConflictError(ValueError):
    """The request is well-formed but the thing is not in a state that allows it (HTTP 409)."""


async def leased_call(pool: asyncpg.Pool, task_id: uuid.UUID, agent_id: str) -> dict[str, Any]:
    """A call task while it is leased to ``agent_id`` (name and number to call); NotFoundError
    once the lease has passed or the task is someone else's or closed."""
    async with pool.acquire() as conn:
        row = await store.leased_call(conn, task_id, agent_id)
    if row is None:
        raise NotFoundError(str(task_id))
    return _call_json(row) | {"leased_until": row["leased_until"].isoformat()}


async def record_call_outcome(
    pool: asyncpg.Pool,
    settings: Settings,
    task_id: uuid.UUID,
    agent_id: str,
    disposition: CallDisposition,
    appointment_at: datetime | None = None,
) -> dict[str, Any]:
    """A call's outcome. Final dispositions close the task; no answer, busy and answering machine
    try again after the stage's interval (in another part of the day) until the attempts run out;
    an appointment sets the task's time. The person's plan moves on when the phone stage ends
    without an interview (attempts exhausted, wrong number)."""
    now = utc_now()
    if disposition == "appointment":
        if appointment_at is None:
            raise InvalidRequestError(
                "Een afspraak heeft een tijd nodig / an appointment needs appointment_at"
            )
        problem = appointment_problem(
            appointment_at, now, CallingHours() if settings.calling_hours_apply else ALWAYS
        )
        if problem is not None:
            raise InvalidRequestError(problem)
    async with pool.acquire() as conn, conn.transaction():
        invitation_id = await store.invitation_of_call_task(conn, task_id)
        if invitation_id is None:
            raise NotFoundError(str(task_id))
        # The invitation before its task: the order every other path (a response cancelling
        # the person's calls) takes, so the two can never deadlock.
        (row,) = await store.lock_invitations(conn, [invitation_id])
        task = await store.lock_call_task(conn, task_id)
        if task is None:
            raise NotFoundError(str(task_id))
        # The interview itself reaches us first (responses.submitted cancels the task): its
        # outcome is still recorded, so the call counts and the task counts as completed.
        answered_by_phone = (
            task["state"] == "cancelled"
            and task["invitation_status"] == "responded"
            and disposition in ("complete", "partial")
        )
        if task["state"] != "open" and not answered_by_phone:
            raise ConflictError(f"De taak is afgesloten / the task is {task['state']}")
        counted = disposition != "appointment"
        attempts = task["attempts"] + (1 if counted else 0)
        result = after_call(disposition, attempts, task["max_attempts"], task["interval_seconds"])
        dayparts = dict(task["dayparts"])
        if disposition in ("no_answer", "busy", "answering_machine"):
            part = _calling_daypart(settings, now) or "evening"
            dayparts[part] = dayparts.get(part, 0) + 1
        await store.update_call_task(
            conn,
            task_id,
            state=result.task_state,
            attempts=attempts,
            due_at=now + timedelta(seconds=result.retry_after_seconds)
            if result.retry_after_seconds
            else None,
            appointment_at=appointment_at if disposition == "appointment" else None,
            dayparts=dayparts,
            disposition=disposition,
        )
        moves = _Moves(now)
        number = await store.phone_attempt_number(conn, task["invitation_id"])
        moves.approaches.append(
            (task["invitation_id"], "phone", number, disposition, f"{task_id}:{agent_id}")
        )
        moves.events.append(approached(row, "phone", number, disposition, AAPOR[disposition]))
        if row["status"] in ("pending", "sent") and row["mode"] == "phone" and result.task_state != "open":
            plan = _plan(row)
            if result.task_state in ("completed", "closed") and disposition != "wrong_number":
                # Spoken to: an interview, a refusal, a language barrier. Nobody is approached again.
                moves.move(row, Position(None, 0, True, None, "done"), last_mode="phone")
            else:
                moves.move(
                    row,
                    stage_exhausted(plan, _position(row), reached=result.reached),
                    last_mode="phone",
                    why=f"call: {disposition}",
                    proven=disposition == "wrong_number",
                )
        await moves.save(conn)
    return {"task_id": str(task_id), "state": result.task_state, "attempts": attempts}


async def phone_costs(
    pool: asyncpg.Pool, settings: Settings, study_id: str, provider_id: str | None
) -> list[dict[str, Any]]:
    """Per provider: interviews bought and completed, and the cost lines (the scheme's share)."""
    async with pool.acquire() as conn:
        study = await store.get_study(conn, study_id)
        if study is None:
            raise NotFoundError(study_id)
        rows = await store.phone_summary(conn, study_id, provider_id)
    scheme = load_scheme(study.scheme_id) if study.scheme_id else None
    subsidy = scheme.phone_subsidy if scheme else None
    price = settings.phone_interview_price_cents
    result = []
    for r in rows:
        lines = phone_cost_lines(
            interviews_bought=r["phone_interviews"] if r["phone_option"] else 0,
            unit_price_cents=price,
            subsidy_share=subsidy.share if subsidy else None,
            subsidy_first=subsidy.first_interviews if subsidy else None,
            scheme_name=scheme.name if scheme else "",
        )
        result.append(
            {
                "provider_id": r["provider_id"],
                "phone_option": r["phone_option"],
                "interviews_bought": r["phone_interviews"],
                "interviews_completed": r["completed_option"],
                "inburgering_interviews_completed": r["completed_inburgering"],
                "open_call_tasks": r["open_tasks"],
                "lines": [asdict(line) for line in lines],
                "provider_pays_cents": sum(line.amount_cents for line in lines),
            }
        )
    return result


async def approach_accounting(
    pool: asyncpg.Pool, study_id: str, provider_id: str | None
) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return await store.approach_counts(conn, study_id, provider_id)


async def stop_reminders(conn: Connection, events: list[Event]) -> None:
    """``responses.submitted``: whoever answered is not approached again (no email, letter or call)."""
    ids = [e.payload.invitation_id for e in events if isinstance(e, ResponseSubmitted)]
    await store.mark_responded(conn, ids)
    await store.cancel_call_tasks(conn, ids)


async def close_fieldwork(conn: Connection, events: list[Event]) -> None:
    """``reports.fieldwork_closed``: the study's fieldwork is over, so nobody of it is approached
    again: reminder timers, letters not yet in a wave and open call tasks stop at once, and no
    delivery or extra wave is taken for it any more (docs/fieldwork.md)."""
    closings = [(e.payload.study_id, e.payload.closed_at) for e in events if isinstance(e, FieldworkClosed)]
    await store.close_studies(conn, closings)


async def _refuse_when_closed(conn: Connection, study_id: str, what_nl: str, what_en: str) -> None:
    """A ConflictError (409) when the study's fieldwork closed."""
    closed_at = await store.fieldwork_closed_at(conn, study_id)
    if closed_at is not None:
        when = f"{closed_at:%Y-%m-%d %H:%M} UTC"
        raise ConflictError(
            f"Het veldwerk van {study_id} is gesloten op {when}: geen {what_nl} meer"
            f" / fieldwork of {study_id} closed at {when}: no more {what_en}"
        )


# --- extra waves ---------------------------------------------------------------------------


def _phone_stage(study: Study, settings: Settings) -> Stage:
    """The scheme's phone stage for clients (the one the phone option buys), else 5 calls."""
    if study.scheme_id is not None:
        for s in load_scheme(study.scheme_id).wave_plan("client"):
            if s.mode == "phone":
                return Stage("phone", s.attempts, s.interval_days * settings.wave_day_seconds)
    return Stage("phone", 5, 0.5 * settings.wave_day_seconds)


def _standing(row: Row) -> Standing:
    return Standing(
        status=row["status"],
        in_plan=row["stage"] is not None,
        email=row["email_usable"],
        address=row["address_usable"],
        phone=row["phone_usable"],
        phoned=row["phoned"],
        made=row["made"],
    )


async def extra_wave(
    pool: asyncpg.Pool,
    settings: Settings,
    study_id: str,
    kind: ExtraKind,
    providers: Sequence[str],
    wave_key: str,
) -> dict[str, Any]:
    """One more reminder (email, or a letter where email cannot reach) or a round of calls for
    the non-respondents of these providers whose own plan is over. The schedulers send it: the
    extended plans are due now and move on through :func:`advance` as any other.

    Idempotent on ``wave_key``: the same key again returns the first answer with
    ``repeated: true`` and approaches nobody; with other parameters it is a ConflictError.
    """
    providers = sorted(set(providers))
    async with pool.acquire() as conn, conn.transaction():
        study = await store.get_study(conn, study_id)
        if study is None:
            raise NotFoundError(study_id)
        await _refuse_when_closed(conn, study_id, "extra rondes", "extra waves")
        enrolled = {e.provider_id for e in await store.list_enrolments(conn, study_id=study_id)}
        unknown = [p for p in providers if p not in enrolled]
        if unknown:
            raise InvalidRequestError(f"Niet ingeschreven / not enrolled in {study_id}: {', '.join(unknown)}")
        if await store.claim_extra_wave(conn, wave_key, study_id, kind, providers) is None:
            return _repeated(await store.get_extra_wave(conn, wave_key), study_id, kind, providers)
        phone_stage = _phone_stage(study, settings)
        rows = await store.lock_extra_wave_candidates(conn, study_id, providers)
        starts = []
        per_provider: dict[str, dict[str, int]] = {p: {} for p in providers}
        for row in rows:
            decision = extra_attempt(
                kind, _standing(row), _plan(row), phone_stage=phone_stage, reached=row["reached"]
            )
            counts = per_provider[row["provider_id"]]
            if isinstance(decision, ExtraAttempt):
                p = decision.position
                assert p.stage is not None
                plan = [
                    s.as_json() | {"extra_wave": wave_key} if i == p.stage else s.as_json()
                    for i, s in enumerate(decision.plan)
                ]
                starts.append(
                    (row["invitation_id"], plan, p.stage, p.stage_attempts, p.reached, decision.mode)
                )
                counts[decision.mode] = counts.get(decision.mode, 0) + 1
            else:
                counts[f"skipped_{decision}"] = counts.get(f"skipped_{decision}", 0) + 1
        await store.start_extra_stages(conn, wave_key, starts)
        result = {
            "wave_key": wave_key,
            "study_id": study_id,
            "kind": kind,
            "providers": providers,
            "approached": len(starts),
            "per_provider": per_provider,
            "repeated": False,
        }
        await store.save_extra_wave_result(conn, wave_key, result)
    EXTRA_WAVE_PEOPLE.labels(kind).inc(len(starts))
    log.info(
        "extra_wave",
        study_id=study_id,
        kind=kind,
        wave_key=wave_key,
        providers=len(providers),
        approached=len(starts),
    )
    return result


def _repeated(
    wave: asyncpg.Record | None, study_id: str, kind: str, providers: Sequence[str]
) -> dict[str, Any]:
    assert wave is not None  # the key was taken in a committed transaction
    if (wave["study_id"], wave["kind"], sorted(wave["providers"])) != (study_id, kind, list(providers)):
        raise ConflictError(
            f"Sleutel al gebruikt voor een andere golf / wave key {wave['wave_key']} was used for"
            f" {wave['kind']} in {wave['study_id']} for {', '.join(wave['providers'])}"
        )
    return dict(wave["result"]) | {"repeated": True}


async def extra_waves(pool: asyncpg.Pool, study_id: str) -> list[dict[str, Any]]:
    """The study's extra waves: who asked for what, how many people, how many approached yet."""
    async with pool.acquire() as conn:
        rows = await store.list_extra_waves(conn, study_id)
    return [
        {
            "wave_key": r["wave_key"],
            "kind": r["kind"],
            "providers": list(r["providers"]),
            "created_at": r["created_at"].isoformat(),
            "people": r["people"],
            "approached": r["approached"],
            "per_provider": r["result"].get("per_provider", {}),
        }
        for r in rows
    ]


async def update_wave_progress(pool: asyncpg.Pool) -> None:
    """Refresh ``tevreden_wave_progress`` from the database (studies that ended drop out)."""
    async with pool.acquire() as conn:
        rows = await store.wave_progress(conn)
    WAVE_PROGRESS.clear()
    for r in rows:
        WAVE_PROGRESS.labels(r["study_id"], r["wave"], r["mode"], r["state"]).set(r["n"])
