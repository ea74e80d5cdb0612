"""Invitations use cases: studies and enrolments, accept a delivery, send due emails,
stop reminding respondents."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, cast

import asyncpg

from services.invitations import store
from services.invitations.domain import (
    Contact,
    DeliveryCheck,
    DeliveryRefusedError,
    DeliveryTable,
    EmailAttempt,
    Enrolment,
    IntakeRules,
    SchemeFacts,
    ServiceAccount,
    Study,
    account_delivery,
    build_email,
    check_delivery,
    check_enrolment,
    classify_smtp_code,
    delivery_keys,
    invitation_token,
    message_id,
    next_attempt_due_at,
    read_delivery,
    remaining_quotas,
    safe_file_name,
    sample_contacts,
    sampling_seed,
)
from services.invitations.mailer import Mailer
from shared.db import Connection
from shared.events import (
    DeliveryChecked,
    DeliveryCheckedPayload,
    DeliveryCount,
    Event,
    InvitationIssued,
    InvitationIssuedPayload,
    InvitationUndeliverable,
    InvitationUndeliverablePayload,
    RespondentType,
    ResponseSubmitted,
    utc_now,
)
from shared.logging import get_logger
from shared.schemes import Scheme, all_schemes, load_scheme, measurement_period
from shared.settings import Settings
from shared.tokens import token_hash

log = get_logger(__name__)

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
    table: DeliveryTable, rules: IntakeRules, refs: set[str], pairs: set[tuple[str, str]]
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
    provider_id: str,
    delivery_id: uuid.UUID,
    file_name: str,
    invited: list[Contact],
    sampled_out: list[Contact],
    accounting: list[ServiceAccount],
) -> None:
    secret = settings.token_secret.get_secret_value().encode()
    correlation_id = delivery_id  # every event of one delivery can be traced back to it
    to_invite = [(uuid.uuid4(), uuid.uuid4(), questionnaire_for(study, c), c) for c in invited]
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
            ),
        )
        for _, invitation_id, questionnaire_id, contact in to_invite
    ]
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
    )


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


async def send_due_emails(pool: asyncpg.Pool, settings: Settings, mailer: Mailer, limit: int = 200) -> int:
    """Send the invitations and reminders that are due; returns how many were attempted.

    The rows stay locked while their emails go out, so a second scheduler never
    sends them too; a crash before the commit resends them (same Message-ID).
    """
    secret = settings.token_secret.get_secret_value().encode()
    async with pool.acquire() as conn, conn.transaction():
        due = await store.claim_due_emails(conn, limit)
        if not due:
            return 0
        attempts = [
            EmailAttempt(
                invitation_id=row["invitation_id"],
                attempt=row["attempts"] + 1,
                to=row["email"],
                name=row["name"],
                link=f"{settings.public_base_url}/q/{invitation_token(secret, row['invitation_id'])}",
            )
            for row in due
        ]
        replies = await mailer.send_all([build_email(a, settings.smtp_sender) for a in attempts])
        now = utc_now()
        outcomes = []
        undeliverable: list[Event] = []
        for row, attempt, reply in zip(due, attempts, replies, strict=True):
            outcome = classify_smtp_code(reply.code)
            next_due = _next_due(settings, outcome, attempt.attempt, now)
            outcomes.append(
                (
                    attempt.invitation_id,
                    attempt.attempt,
                    message_id(attempt.invitation_id, attempt.attempt),
                    outcome,
                    f"{reply.code} {reply.text}"[:500],
                    next_due,
                )
            )
            if outcome == "undeliverable":
                undeliverable.append(_undeliverable_event(row, f"SMTP {reply.code}"))
        await store.record_email_outcomes(conn, outcomes)
        await store.add_events(conn, undeliverable)
    log.info("emails_sent", attempted=len(due), undeliverable=len(undeliverable))
    return len(due)


def _next_due(settings: Settings, outcome: str, attempt: int, now: Any) -> Any:
    if outcome == "sent":
        return next_attempt_due_at(
            now,
            attempt,
            max_reminders=settings.max_reminders,
            reminder_after=timedelta(seconds=settings.reminder_after_seconds),
        )
    if outcome == "retry":
        return now + timedelta(seconds=settings.smtp_retry_after_seconds)
    return None


def _undeliverable_event(row: asyncpg.Record, reason: str) -> Event:
    return InvitationUndeliverable(
        payload=InvitationUndeliverablePayload(
            invitation_id=row["invitation_id"],
            study_id=row["study_id"],
            provider_id=row["provider_id"],
            service_code=row["service_code"],
            respondent_type=row["respondent_type"],
            mode="email",
            reason=reason,
        )
    )


async def stop_reminders(conn: Connection, events: list[Event]) -> None:
    """``responses.submitted``: whoever answered is not reminded again."""
    await store.mark_responded(
        conn, [e.payload.invitation_id for e in events if isinstance(e, ResponseSubmitted)]
    )
