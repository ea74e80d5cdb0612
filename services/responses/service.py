"""Responses use cases: learn invitations; take answers on the web (page by page), by phone
and from paper; one final response per invitation; withdrawal."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

import asyncpg
from prometheus_client import Counter

from services.responses import store
from services.responses.audio import AudioLibrary
from services.responses.domain import (
    FormValue,
    Paging,
    PaperRow,
    Problem,
    Questionnaire,
    csrf_valid,
    display_values,
    is_usable,
    link_open,
    paging,
    paper_answers,
    questionnaire_for,
    read_paper_csv,
    take_page,
    validate_answers,
)
from services.responses.store import Final, Withdrawal
from shared.db import Connection
from shared.events import (
    AnswerValue,
    Event,
    InvitationIssued,
    ResponseSubmitted,
    ResponseSubmittedPayload,
    utc_now,
)
from shared.logging import get_logger
from shared.questionnaires import Question, Section, visible_questions
from shared.tokens import format_short_code, invitation_token, normalise_short_code, token_hash

log = get_logger(__name__)

Mode = Literal["web", "phone", "paper"]

# Final responses stored, per mode and whether usable (bruikbaar): the response mix on /metrics.
RESPONSES_STORED = Counter(
    "tevreden_responses_total", "Final responses stored, by mode and usability", ["mode", "usable"]
)


async def _insert_responses(conn: Connection, finals: Sequence[Final]) -> set[uuid.UUID]:
    """Store final responses (the first per invitation wins); count the ones stored per mode."""
    taken = await store.insert_responses(conn, finals)
    for final in finals:
        payload = final.event.payload
        if payload.invitation_id in taken:
            RESPONSES_STORED.labels(mode=payload.mode, usable=str(payload.usable).lower()).inc()
    return taken


async def record_invitations(conn: Connection, events: list[Event]) -> None:
    """``invitations.issued``: remember each link's hash so its questionnaire can be opened."""
    await store.add_invitations(conn, [e for e in events if isinstance(e, InvitationIssued)])


# --- the web questionnaire -----------------------------------------------------------


async def token_for_letter_code(pool: asyncpg.Pool, code: str, secret: bytes) -> str | None:
    """The link token behind a letter's personal code (normalised); None when it is unknown.

    Looked up by the code's hash, so no comparison of the code itself can leak its characters.
    """
    async with pool.acquire() as conn:
        invitation_id = await store.invitation_id_by_letter_code_hash(conn, token_hash(code))
    return None if invitation_id is None else invitation_token(secret, invitation_id)


LinkState = Literal["open", "answered"]


@dataclass(frozen=True)
class OpenInvitation:
    """A link that leads somewhere: open, or answered already (POSTs from its form say so)."""

    invitation: asyncpg.Record
    questionnaire: Questionnaire
    token_hash: str
    state: LinkState

    @property
    def invitation_id(self) -> uuid.UUID:
        invitation_id: uuid.UUID = self.invitation["invitation_id"]
        return invitation_id

    @property
    def saved_answers(self) -> dict[str, AnswerValue]:
        return dict(self.invitation["draft_answers"] or {})

    @property
    def provider_name(self) -> str | None:
        name: str | None = self.invitation["provider_name"]
        return name

    @property
    def saved_page(self) -> int:
        return int(self.invitation["draft_page"] or 0)


def _opened(row: asyncpg.Record | None, hashed: str, now: datetime) -> OpenInvitation | None:
    if row is None or row["withdrawn_at"] is not None or not link_open(row["issued_at"], now):
        return None
    state: LinkState = "answered" if row["response_id"] is not None else "open"
    return OpenInvitation(row, questionnaire_for(row["questionnaire_id"]), hashed, state)


async def open_invitation(
    pool: asyncpg.Pool, token: str, now: datetime | None = None
) -> OpenInvitation | None:
    """The invitation behind a link; None for unknown, expired and withdrawn links alike."""
    hashed = token_hash(token)
    async with pool.acquire() as conn:
        row = await store.invitation_by_token_hash(conn, hashed)
    return _opened(row, hashed, now or utc_now())


@dataclass(frozen=True)
class PageView:
    """Everything a questionnaire page shows; ``page`` None: every question on one page."""

    questionnaire: Questionnaire
    paging: Paging
    page: int | None
    answers: dict[str, AnswerValue]  # the valid answers so far: they decide the routing
    values: dict[str, FormValue]  # what the fields show (what was typed, on a page with errors)
    errors: dict[str, str] = field(default_factory=dict)
    audio: dict[str, str] = field(default_factory=dict)  # spoken text → URL (low-threshold)
    provider: str | None = None  # the provider's display name, piped into the questions

    @property
    def questions(self) -> tuple[Question, ...]:
        if self.page is None:
            return visible_questions(self.questionnaire, self.answers)
        return self.paging.pages[self.page].visible(self.answers)

    @property
    def section(self) -> Section | None:
        return None if self.page is None else self.paging.pages[self.page].section

    @property
    def progress(self) -> tuple[int, int]:
        """This page's number and the number of pages ("Deel 2 van 9"); (0, 0) on one page."""
        return (0, 0) if self.page is None else self.paging.progress(self.page, self.answers)

    @property
    def is_last(self) -> bool:
        """The page whose button sends the answers."""
        return self.page is None or not self.paging.may_follow(self.page, self.answers)

    @property
    def has_previous(self) -> bool:
        return self.page is not None and self.paging.before(self.page, self.answers) is not None


def current_page(opened: OpenInvitation, audio: AudioLibrary) -> PageView:
    """The page to show on opening the link: where the respondent left off, answers filled in."""
    questionnaire = opened.questionnaire
    saved = opened.saved_answers
    pages = paging(questionnaire)
    return PageView(
        questionnaire=questionnaire,
        paging=pages,
        page=pages.resume_at(opened.saved_page, saved),
        answers=saved,
        values=display_values(questionnaire, saved),
        audio=audio.urls(questionnaire),
        provider=opened.provider_name,
    )


@dataclass(frozen=True)
class Unavailable:
    """The neutral page: unknown, expired or withdrawn link (200), or a form from elsewhere (403)."""

    status: int = 200


@dataclass(frozen=True)
class ShowPage:
    """Show this page again, with its errors (status 422)."""

    view: PageView
    token_hash: str


@dataclass(frozen=True)
class NextPage:
    """Saved: go (redirect) to the link, which shows the page to continue with."""


@dataclass(frozen=True)
class Submitted:
    """The final response: stored now, or it had been received already (a no-op)."""

    stored: bool


PostOutcome = Unavailable | ShowPage | NextPage | Submitted


def _page_field(form: Mapping[str, FormValue], pages: Paging) -> int | Literal["bad"] | None:
    raw = form.get("page")
    if raw is None:
        return None
    if isinstance(raw, list) or not raw.isdigit() or int(raw) >= len(pages.pages):
        return "bad"
    return int(raw)


async def post_form(
    pool: asyncpg.Pool, token: str, form: Mapping[str, FormValue], secret: bytes, audio: AudioLibrary
) -> PostOutcome:
    """A posted page: save what is valid, then the next page, this page with errors, or the end.

    A form without a ``page`` field is the whole questionnaire at once (one POST, as the
    single-page questionnaires and simple clients send it). One pooled connection and, for a
    final submission, two statements: this is the hot path.
    """
    hashed = token_hash(token)
    async with pool.acquire() as conn:
        opened = _opened(await store.invitation_by_token_hash(conn, hashed), hashed, utc_now())
        if opened is None:
            return Unavailable()
        csrf = form.get("csrf")
        if not isinstance(csrf, str) or not csrf_valid(secret, hashed, csrf):
            return Unavailable(403)
        if opened.state == "answered":
            return Submitted(stored=False)  # a double click, a second tab, or the phone came first
        questionnaire = opened.questionnaire
        pages = paging(questionnaire)
        page_index = _page_field(form, pages)
        saved = opened.saved_answers
        if page_index == "bad" or (page_index is not None and not pages.pages[page_index].visible(saved)):
            return NextPage()  # a page that no longer applies (another tab): show the current one
        step = take_page(questionnaire, saved, page_index, form, back=form.get("action") == "back")
        if step.final:
            final = Final(_submitted_event(opened.invitation, questionnaire, step.answers, "web"))
            stored = opened.invitation_id in await _insert_responses(conn, [final])
            if stored:
                log.debug("response_stored", response_id=str(final.event.payload.response_id), mode="web")
            return Submitted(stored)
        await store.save_draft(conn, opened.invitation_id, step.answers, step.page or 0)
    if step.errors:
        view = PageView(
            questionnaire,
            pages,
            step.page,
            step.answers,
            step.shown,
            step.errors,
            audio.urls(questionnaire),
            opened.provider_name,
        )
        return ShowPage(view, hashed)
    return NextPage()


def _submitted_event(
    invitation: asyncpg.Record, questionnaire: Questionnaire, answers: dict[str, AnswerValue], mode: Mode
) -> ResponseSubmitted:
    return ResponseSubmitted(
        payload=ResponseSubmittedPayload(
            response_id=uuid.uuid4(),
            invitation_id=invitation["invitation_id"],
            study_id=invitation["study_id"],
            provider_id=invitation["provider_id"],
            service_code=invitation["service_code"],
            respondent_type=invitation["respondent_type"],
            questionnaire_id=questionnaire.questionnaire_id,
            questionnaire_version=questionnaire.version,
            mode=mode,
            answers=answers,
            usable=is_usable(questionnaire, answers),
            submitted_at=utc_now(),
        )
    )


# --- callcentre interviews -----------------------------------------------------------

InterviewStatus = Literal["stored", "already_answered", "withdrawn", "unknown_invitation", "invalid"]


@dataclass(frozen=True)
class InterviewOutcome:
    status: InterviewStatus
    response_id: uuid.UUID | None = None
    usable: bool | None = None
    answered_mode: str | None = None  # for already_answered: how the first response came in
    errors: dict[str, str] = field(default_factory=dict)


async def invitation_status(pool: asyncpg.Pool, invitation_id: uuid.UUID) -> dict[str, object] | None:
    """What the callcentre may know before it calls: whether to interview, and with what."""
    async with pool.acquire() as conn:
        row = await store.invitation_by_id(conn, invitation_id)
    if row is None:
        return None
    questionnaire = questionnaire_for(row["questionnaire_id"])
    status = (
        "withdrawn"
        if row["withdrawn_at"] is not None
        else ("already_answered" if row["response_id"] is not None else "open")
    )
    return {
        "invitation_id": str(invitation_id),
        "status": status,
        "answered_mode": row["answered_mode"],
        "questionnaire_id": questionnaire.questionnaire_id,
        "questionnaire_version": questionnaire.version,
        "short_code": format_short_code(row["short_code"]),
    }


async def submit_interview(
    pool: asyncpg.Pool, invitation_id: uuid.UUID, interviewer_id: str, answers: Mapping[str, object]
) -> InterviewOutcome:
    """A phone interview's answers, validated like the web form; the first final response wins."""
    async with pool.acquire() as conn:
        row = await store.invitation_by_id(conn, invitation_id)
    if row is None:
        return InterviewOutcome("unknown_invitation")
    closed = _closed_outcome(row)
    if closed is not None:
        return closed
    questionnaire = questionnaire_for(row["questionnaire_id"])
    validated = validate_answers(questionnaire, answers)
    if not validated.ok:
        return InterviewOutcome("invalid", errors=validated.errors)
    final = Final(_submitted_event(row, questionnaire, validated.answers, "phone"), interviewer_id)
    async with pool.acquire() as conn:
        taken = await _insert_responses(conn, [final])
        if invitation_id not in taken:  # answered or withdrawn a moment ago
            row = await store.invitation_by_id(conn, invitation_id)
            assert row is not None
            return _closed_outcome(row) or InterviewOutcome("already_answered")
    payload = final.event.payload
    log.debug("response_stored", response_id=str(payload.response_id), mode="phone")
    return InterviewOutcome("stored", payload.response_id, payload.usable)


def _closed_outcome(row: asyncpg.Record) -> InterviewOutcome | None:
    if row["withdrawn_at"] is not None:
        return InterviewOutcome("withdrawn")
    if row["response_id"] is not None:
        return InterviewOutcome("already_answered", row["response_id"], answered_mode=row["answered_mode"])
    return None


# --- paper ---------------------------------------------------------------------------


@dataclass
class PaperReport:
    rows_total: int = 0
    rows_stored: int = 0
    rows_usable: int = 0
    rows_rejected: int = 0
    rows_already_answered: int = 0
    problems: list[Problem] = field(default_factory=list)
    stored: list[dict[str, object]] = field(default_factory=list)  # row, invitation_id, response_id


def _problem(row: int, column: str, nl: str, en: str) -> Problem:
    return Problem(row, column, nl, en)


async def import_paper(pool: asyncpg.Pool, data: bytes) -> PaperReport:
    """Keyed-in paper forms: each row validated on its own; the good rows are stored.

    Raises ``PaperFileError`` when the file as a whole cannot be read.
    """
    rows = read_paper_csv(data)
    report = PaperReport(rows_total=len(rows))
    ids, codes = _references(rows)
    async with pool.acquire() as conn:
        found = await store.invitations_by_reference(conn, list(ids.values()), list(codes.values()))
    by_id = {r["invitation_id"]: r for r in found}
    by_code: dict[str, list[asyncpg.Record]] = {}
    for r in found:
        by_code.setdefault(r["short_code"], []).append(r)
    finals: list[tuple[PaperRow, Final]] = []
    seen: set[uuid.UUID] = set()
    for row in rows:
        invitation, problem = _resolve(row, ids, codes, by_id, by_code)
        if invitation is None:
            report.rows_rejected += 1
            report.problems.append(problem or _problem(row.row, "short_code", "?", "?"))
            continue
        if invitation["withdrawn_at"] is not None:
            report.rows_rejected += 1
            report.problems.append(
                _problem(
                    row.row,
                    _ref_column(row),
                    "Deze persoon heeft zijn antwoorden ingetrokken; het formulier wordt niet verwerkt.",
                    "This person withdrew their answers; the form is not processed.",
                )
            )
            continue
        if invitation["response_id"] is not None or invitation["invitation_id"] in seen:
            report.rows_already_answered += 1
            report.problems.append(_already(row, invitation["answered_mode"] or "paper"))
            continue
        questionnaire = questionnaire_for(invitation["questionnaire_id"])
        answers, problems = paper_answers(questionnaire, row)
        if problems:
            report.rows_rejected += 1
            report.problems.extend(problems)
            continue
        seen.add(invitation["invitation_id"])
        finals.append((row, Final(_submitted_event(invitation, questionnaire, answers, "paper"))))
    if finals:
        async with pool.acquire() as conn:
            taken = await _insert_responses(conn, [f for _, f in finals])
        for row, final in finals:
            payload = final.event.payload
            if payload.invitation_id not in taken:
                report.rows_already_answered += 1
                report.problems.append(_already(row, "web, phone"))
                continue
            report.rows_stored += 1
            report.rows_usable += payload.usable
            report.stored.append(
                {
                    "row": row.row,
                    "invitation_id": str(payload.invitation_id),
                    "response_id": str(payload.response_id),
                    "usable": payload.usable,
                }
            )
    report.problems.sort(key=lambda p: p.row)
    log.info(
        "paper_imported",
        rows=report.rows_total,
        stored=report.rows_stored,
        rejected=report.rows_rejected,
        already_answered=report.rows_already_answered,
    )
    return report


def _ref_column(row: PaperRow) -> str:
    found = row.reference()
    return found[0] if found else "short_code"


def _already(row: PaperRow, mode: str) -> Problem:
    return _problem(
        row.row,
        _ref_column(row),
        f"Deze uitnodiging was al beantwoord ({mode}); dit formulier telt niet mee.",
        f"This invitation was answered already ({mode}); this form does not count.",
    )


def _references(rows: Sequence[PaperRow]) -> tuple[dict[int, uuid.UUID], dict[int, str]]:
    """Per row number the invitation id or the normalised short code it names, where readable."""
    ids: dict[int, uuid.UUID] = {}
    codes: dict[int, str] = {}
    for row in rows:
        reference = row.reference()
        if reference is None:
            continue
        column, value = reference
        if column == "invitation_id":
            try:
                ids[row.row] = uuid.UUID(value)
            except ValueError:
                continue
        else:
            code = normalise_short_code(value)
            if code is not None:
                codes[row.row] = code
    return ids, codes


def _resolve(
    row: PaperRow,
    ids: Mapping[int, uuid.UUID],
    codes: Mapping[int, str],
    by_id: Mapping[uuid.UUID, asyncpg.Record],
    by_code: Mapping[str, list[asyncpg.Record]],
) -> tuple[asyncpg.Record | None, Problem | None]:
    reference = row.reference()
    if reference is None:
        return None, _problem(
            row.row,
            "short_code",
            "De code van de uitnodiging ontbreekt (short_code of invitation_id).",
            "The invitation's code is missing (short_code or invitation_id).",
        )
    column, _ = reference
    if column == "invitation_id":
        invitation_id = ids.get(row.row)
        if invitation_id is None:
            return None, _problem(row.row, column, "Geen geldig invitation_id.", "Not a valid invitation_id.")
        invitation = by_id.get(invitation_id)
        if invitation is None:
            return None, _problem(
                row.row, column, "Deze uitnodiging kennen wij niet.", "This invitation is unknown."
            )
        return invitation, None
    code = codes.get(row.row)
    if code is None:
        return None, _problem(
            row.row,
            column,
            "Geen geldige code: tien tekens, bijvoorbeeld ABCDE-FGHJK.",
            "Not a valid code: ten characters, e.g. ABCDE-FGHJK.",
        )
    matches = by_code.get(code, [])
    if not matches:
        return None, _problem(row.row, column, "Deze code kennen wij niet.", "This code is unknown.")
    if len(matches) > 1:
        return None, _problem(
            row.row,
            column,
            "Deze code hoort bij meer dan één uitnodiging: gebruik het invitation_id.",
            "This code belongs to more than one invitation: use the invitation_id.",
        )
    return matches[0], None


# --- withdrawal ----------------------------------------------------------------------


async def withdraw(pool: asyncpg.Pool, invitation_id: uuid.UUID) -> Withdrawal | None:
    """AVG: delete the answers (and any partial save) and close the link; None when unknown."""
    async with pool.acquire() as conn, conn.transaction():
        withdrawal = await store.withdraw(conn, invitation_id)
    if withdrawal is not None:
        log.info("response_withdrawn", invitation_id=str(invitation_id), outcome=withdrawal.outcome)
    return withdrawal
