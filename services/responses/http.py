"""HTTP wiring of the responses service (the work is in ``service``).

- ``/q/<token>``: the public web questionnaire, page by page (no JavaScript needed);
- ``/code``: the short address on letters (a personal code leads to the questionnaire);
- ``/audio/…``: the spoken questions of the low-threshold questionnaires;
- ``/api/interviews…``: the callcentre's API (``X-API-Key``: the callcentre key);
- ``/api/paper-imports`` and ``DELETE /api/responses/{invitation_id}``: the bureau (admin key).
"""

from __future__ import annotations

import secrets
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from services.responses import service, store
from services.responses.audio import URL_PREFIX, AudioLibrary
from services.responses.domain import (
    INTERVIEWER_ID_PATTERN,
    MSG_CODE_EXPIRED,
    MSG_CODE_FORM,
    MSG_CODE_UNKNOWN,
    PaperFileError,
    RateLimit,
    code_form_csrf,
    code_form_csrf_valid,
    csrf_token,
    form_values,
    in_english,
    is_chosen,
    read_aloud_text,
    retry_after_seconds,
)
from services.responses.service import FieldworkOver, PageView, ShowPage, Submitted, Unavailable
from shared.http import CONFLICT, FORBIDDEN, NOT_FOUND, service_app
from shared.onbehalf import key_or_role
from shared.public_pages import LOOPBACK, PAGE_HEADERS
from shared.questionnaires import (
    FreeTextQuestion,
    GradeQuestion,
    LikertMatrixQuestion,
    NumericQuestion,
    PercentageAllocationQuestion,
    Question,
    RankingQuestion,
    estimated_minutes,
    load_questionnaire,
    with_provider,
)
from shared.runtime import ServiceContext
from shared.settings import Settings
from shared.tokens import normalise_letter_code

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

CODE_PATH = "/code"  # the short address on letters: type the personal code, reach the questionnaire
CODE_COOKIE = "tevreden_code_form"


def _first_input_id(question: Question) -> str:
    """Where an error summary link takes the respondent: the question's first field."""
    if isinstance(question, NumericQuestion | FreeTextQuestion) or (
        isinstance(question, GradeQuestion) and question.decimals
    ):
        return question.id
    if isinstance(question, LikertMatrixQuestion):
        return f"{question.id}--{question.items[0].value}-1"
    if isinstance(question, RankingQuestion | PercentageAllocationQuestion):
        return f"{question.id}--{question.items[0].value}"
    return f"{question.id}-1"


def _nl_number(value: float) -> str:
    return f"{value:g}".replace(".", ",")


_templates.globals.update(
    with_provider=with_provider,
    is_chosen=is_chosen,
    first_input_id=_first_input_id,
    read_aloud_text=read_aloud_text,
    nl_number=_nl_number,
)


def _page(name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def _questionnaire_page(view: PageView, csrf: str, status_code: int = 200) -> HTMLResponse:
    questionnaire = view.questionnaire
    return _page(
        "questionnaire.html",
        status_code,
        view=view,
        q_all=questionnaire,
        simple=questionnaire.variant == "laagdrempelig",
        heading=view.section.title if view.section else questionnaire.title,
        questions=view.questions,
        errors=view.errors,
        values=view.values,
        audio=view.audio,
        csrf=csrf,
        minutes=estimated_minutes(questionnaire),
        provider=view.provider,
    )


def _busy(retry_after: int) -> Response:
    response = _page("busy.html", status.HTTP_429_TOO_MANY_REQUESTS)
    response.headers["Retry-After"] = str(retry_after)
    return response


def rate_limits(settings: Settings) -> tuple[RateLimit, ...]:
    """The questionnaire's pages, and a much smaller bucket on posting a letter's personal code
    (someone guessing codes)."""
    return (
        RateLimit("q", "/q/", settings.questionnaire_rate_per_second, settings.questionnaire_rate_burst),
        RateLimit(
            "code",
            CODE_PATH,
            settings.letter_code_rate_per_second,
            settings.letter_code_rate_burst,
            frozenset({"POST"}),
        ),
    )


class RateLimitMiddleware:
    """The :func:`rate_limits`: 429 with a Dutch page when a client's bucket is empty.

    The buckets live in PostgreSQL (one atomic upsert per request), so the limit holds across
    every HTTP worker process and replica. The address is the one uvicorn reports: behind a
    proxy that sends X-Forwarded-For from a trusted address (FORWARDED_ALLOW_IPS, 127.0.0.1 by
    default) it is the respondent's own. Loopback itself is exempt (the demo, local checks);
    production limits at the proxy too.
    """

    def __init__(self, app: ASGIApp, pool: asyncpg.Pool, limits: tuple[RateLimit, ...]) -> None:
        self.app = app
        self.pool = pool
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self._limit_for(scope)
        client = scope.get("client")
        host = client[0] if client else ""
        if limit is not None and host not in LOOPBACK:
            async with self.pool.acquire() as conn:
                take = await store.take_rate_token(conn, limit.client_key(host), limit.rate, limit.burst)
            if not take.allowed:
                await _busy(retry_after_seconds(take.tokens, limit.rate))(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _limit_for(self, scope: Scope) -> RateLimit | None:
        if scope["type"] != "http":
            return None
        return next((lim for lim in self.limits if lim.applies_to(scope["path"], scope["method"])), None)


class AudioFiles(StaticFiles):
    """Sound files are named by their content, so they never change: cache them for good."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


class Interview(BaseModel):
    """A completed phone interview, answers flat or nested as the questionnaire API shows them."""

    invitation_id: uuid.UUID
    interviewer_id: str = Field(
        pattern=INTERVIEWER_ID_PATTERN,
        description="the callcentre's own opaque code for the interviewer: never a name or an email address",
    )
    answers: dict[str, Any] = Field(max_length=500)


def _problems_json(errors: dict[str, str]) -> list[dict[str, Any]]:
    """Per-question problems in the standard validation list: where, in English, and in Dutch."""
    return [
        {
            "type": "invalid_answer",
            "loc": ["body", "answers", qid],
            "msg": in_english(message),
            "ctx": {"question": qid, "problem_nl": message},
        }
        for qid, message in errors.items()
    ]


_INTERVIEW_REFUSALS = {
    "unknown_invitation": (404, "Onbekende uitnodiging / unknown invitation"),
    "withdrawn": (409, "De antwoorden zijn ingetrokken / the answers were withdrawn"),
    "not_to_be_phoned": (
        403,
        "Deze persoon mag niet gebeld worden (geen telefonische optie) / not to be phoned (no phone option)",
    ),
}
_FIELDWORK_CLOSED: dict[int | str, dict[str, Any]] = {410: {"description": "The study's fieldwork closed"}}


def create_http_app(ctx: ServiceContext) -> FastAPI:
    settings = ctx.settings
    app = service_app(
        "Tevreden responses: questionnaire, callcentre and paper",
        "1",
        limits=[(r"/api/paper-imports", settings.max_import_bytes)],
        default_limit=settings.max_body_bytes,
    )
    secret = settings.token_secret.get_secret_value().encode()
    _templates.globals["bureau"] = settings.bureau  # who asks, in every page's footer
    audio = AudioLibrary(settings.audio_dir)
    settings.audio_dir.mkdir(parents=True, exist_ok=True)
    app.mount(URL_PREFIX.rstrip("/"), AudioFiles(directory=settings.audio_dir), name="audio")
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_middleware(
        RateLimitMiddleware,
        pool=ctx.pool,
        limits=rate_limits(settings),
    )
    portal_secret = settings.portal_assertion_secret
    require_admin = key_or_role(settings.admin_api_key.get_secret_value(), portal_secret, "bureau")
    require_callcentre = key_or_role(
        settings.callcentre_api_key.get_secret_value(), portal_secret, "interviewer"
    )

    # --- the web questionnaire -------------------------------------------------------

    @app.get("/q/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def show_questionnaire(token: str) -> HTMLResponse:
        opened = await service.open_invitation(ctx.pool, token)
        if opened is not None and opened.state == "closed":
            return _page("closed.html", status.HTTP_410_GONE)
        if opened is None or opened.state == "answered":
            # Unknown, used, expired and withdrawn links get one and the same neutral page.
            return _page("unavailable.html")
        return _questionnaire_page(service.current_page(opened, audio), csrf_token(secret, opened.token_hash))

    @app.post("/q/{token}", include_in_schema=False)
    async def submit_page(token: str, request: Request) -> Response:
        raw = await request.form()
        form = form_values((k, v) for k, v in raw.multi_items() if isinstance(v, str))
        outcome = await service.post_form(ctx.pool, token, form, secret, audio)
        if isinstance(outcome, Unavailable):
            return _page("unavailable.html", status_code=outcome.status)
        if isinstance(outcome, FieldworkOver):
            return _page("closed.html", status.HTTP_410_GONE)
        if isinstance(outcome, Submitted):
            if outcome.stored:
                ctx.relay.wake()
            return _page("thanks.html", already=not outcome.stored)
        if isinstance(outcome, ShowPage):
            return _questionnaire_page(outcome.view, csrf_token(secret, outcome.token_hash), 422)
        return RedirectResponse(f"/q/{token}", status_code=status.HTTP_303_SEE_OTHER, headers=PAGE_HEADERS)

    # --- the short address on letters: a personal code leads to the questionnaire -----

    def code_page(nonce: str, status_code: int = 200, code: str = "", error: str = "") -> HTMLResponse:
        response = _page("code.html", status_code, csrf=code_form_csrf(secret, nonce), code=code, error=error)
        response.set_cookie(CODE_COOKIE, nonce, httponly=True, samesite="strict", path=CODE_PATH)
        return response

    @app.get(CODE_PATH, response_class=HTMLResponse, include_in_schema=False)
    async def show_code_form(request: Request) -> HTMLResponse:
        return code_page(request.cookies.get(CODE_COOKIE) or secrets.token_urlsafe(16))

    @app.post(CODE_PATH, include_in_schema=False)
    async def submit_code(request: Request) -> Response:
        form = await request.form()
        typed, csrf = str(form.get("code", ""))[:40], str(form.get("csrf", ""))
        nonce = request.cookies.get(CODE_COOKIE, "")
        if not code_form_csrf_valid(secret, nonce, csrf):
            return code_page(secrets.token_urlsafe(16), 403, typed, MSG_CODE_EXPIRED)
        code = normalise_letter_code(typed)
        if code is None:
            return code_page(nonce, 422, typed, MSG_CODE_FORM)
        token = await service.token_for_letter_code(ctx.pool, code, secret)
        if token is None:
            return code_page(nonce, 422, typed, MSG_CODE_UNKNOWN)
        return RedirectResponse(f"/q/{token}", status_code=status.HTTP_303_SEE_OTHER, headers=PAGE_HEADERS)

    # --- the callcentre --------------------------------------------------------------

    @app.get(
        "/api/questionnaires/{questionnaire_id}",
        dependencies=[Depends(require_callcentre)],
        tags=["callcentre"],
    )
    async def get_questionnaire(questionnaire_id: str) -> dict[str, Any]:
        """A questionnaire's questions, options and routing: what the interviewer asks."""
        try:
            questionnaire = load_questionnaire(questionnaire_id)
        except KeyError:
            raise HTTPException(404, "niet gevonden / not found") from None
        return questionnaire.model_dump(mode="json")

    @app.get(
        "/api/interviews/{invitation_id}", dependencies=[Depends(require_callcentre)], tags=["callcentre"]
    )
    async def interview_status(invitation_id: uuid.UUID) -> dict[str, object]:
        """Before calling: is the invitation still open, and which questionnaire to ask."""
        found = await service.invitation_status(ctx.pool, invitation_id)
        if found is None:
            raise HTTPException(404, "Onbekende uitnodiging / unknown invitation")
        return found

    @app.post(
        "/api/interviews",
        dependencies=[Depends(require_callcentre)],
        tags=["callcentre"],
        responses={201: {"description": "Stored"}, **FORBIDDEN, **NOT_FOUND, **CONFLICT, **_FIELDWORK_CLOSED},
    )
    async def submit_interview(body: Interview) -> JSONResponse:
        """A completed interview. 201 stored; 200 already answered (a no-op); 422 per-question errors;
        403 an invitation the callcentre may not phone (no phone option); 404 unknown invitation;
        409 withdrawn; 410 the study's fieldwork closed (not counted)."""
        outcome = await service.submit_interview(
            ctx.pool, body.invitation_id, body.interviewer_id, body.answers
        )
        content: dict[str, Any] = {"invitation_id": str(body.invitation_id), "status": outcome.status}
        if outcome.response_id is not None:
            content["response_id"] = str(outcome.response_id)
        if outcome.status == "stored":
            ctx.relay.wake()
            content["usable"] = outcome.usable
            return JSONResponse(content, status_code=201)
        if outcome.status == "already_answered":
            content["answered_mode"] = outcome.answered_mode
            return JSONResponse(content, status_code=200)
        if outcome.status == "invalid":
            return JSONResponse(content | {"detail": _problems_json(outcome.errors)}, status_code=422)
        if outcome.fieldwork_closed_at is not None:
            problem_nl, problem_en = service.fieldwork_closed_text(outcome.fieldwork_closed_at)
            closed = {
                "detail": f"{problem_nl} / {problem_en}",
                "problem_nl": problem_nl,
                "problem_en": problem_en,
            }
            return JSONResponse(content | closed, status_code=410)
        status_code, detail = _INTERVIEW_REFUSALS[outcome.status]
        return JSONResponse(content | {"detail": detail}, status_code=status_code)

    # --- the bureau ------------------------------------------------------------------

    @app.post("/api/paper-imports", dependencies=[Depends(require_admin)], tags=["admin"])
    async def import_paper(request: Request) -> dict[str, Any]:
        """Keyed-in paper forms as CSV (body ``text/csv``, or multipart field ``file``)."""
        if request.headers.get("content-type", "").startswith("multipart/form-data"):
            upload = (await request.form()).get("file")
            if upload is None or isinstance(upload, str):
                raise HTTPException(422, "Geen bestand in veld 'file' / no file in field 'file'")
            data = await upload.read()
        else:
            data = await request.body()
        try:
            report = await service.import_paper(ctx.pool, data)
        except PaperFileError as exc:
            raise HTTPException(422, str(exc)) from None
        if report.rows_stored:
            ctx.relay.wake()
        return {
            "rows_total": report.rows_total,
            "rows_stored": report.rows_stored,
            "rows_usable": report.rows_usable,
            "rows_rejected": report.rows_rejected,
            "rows_already_answered": report.rows_already_answered,
            "problems": [p.__dict__ for p in report.problems],
            "stored": report.stored,
        }

    @app.delete("/api/responses/{invitation_id}", dependencies=[Depends(require_admin)], tags=["admin"])
    async def withdraw(invitation_id: uuid.UUID) -> dict[str, Any]:
        """AVG: delete a person's answers and close the link; publishes ``responses.withdrawn``."""
        withdrawal = await service.withdraw(ctx.pool, invitation_id)
        if withdrawal is None:
            raise HTTPException(404, "Onbekende uitnodiging / unknown invitation")
        if withdrawal.outcome == "withdrawn":
            ctx.relay.wake()
        return {
            "invitation_id": str(invitation_id),
            "outcome": withdrawal.outcome,
            "response_id": None if withdrawal.response_id is None else str(withdrawal.response_id),
        }

    return app
