"""HTTP wiring of the responses service (the work is in ``service``).

- ``/q/<token>``: the public web questionnaire, page by page (no JavaScript needed);
- ``/code``: the short address on letters (a personal code leads to the questionnaire);
- ``/audio/…``: the spoken questions of the low-threshold questionnaires;
- ``/api/interviews…``: the callcentre's API (``X-API-Key``: the callcentre key);
- ``/api/paper-imports`` and ``DELETE /api/responses/{invitation_id}``: the bureau (admin key).
"""

from __future__ import annotations

import secrets
import time
import uuid
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Receive, Scope, Send

from services.responses import service
from services.responses.audio import URL_PREFIX, AudioLibrary
from services.responses.domain import (
    INTERVIEWER_ID_PATTERN,
    MSG_CODE_EXPIRED,
    MSG_CODE_FORM,
    MSG_CODE_UNKNOWN,
    PaperFileError,
    RateLimiter,
    code_form_csrf,
    code_form_csrf_valid,
    csrf_token,
    form_values,
    in_english,
    is_chosen,
    read_aloud_text,
)
from services.responses.service import PageView, ShowPage, Submitted, Unavailable
from shared.apikeys import key_check
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
from shared.tokens import normalise_letter_code

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

# Security headers for every page: no framing, no sniffing, no referrer leaking the token.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
LOOPBACK = frozenset({"127.0.0.1", "::1"})
CODE_PATH = "/code"  # the short address on letters: type the personal code, reach the questionnaire
CODE_COOKIE = "tevreden_code_form"
MAX_PAPER_BYTES = 16 * 1024 * 1024


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
    return HTMLResponse(html, status_code=status_code, headers=_HEADERS)


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


class RateLimitMiddleware:
    """A token bucket per client address on ``/q/*``, and a much smaller one on posts to
    ``/code`` (guessing codes): 429 with a Dutch page when it is empty.

    The address is the one uvicorn reports: behind a proxy that sends X-Forwarded-For from a
    trusted address (FORWARDED_ALLOW_IPS, 127.0.0.1 by default) it is the respondent's own.
    Loopback itself is exempt (the demo, local checks); production limits at the proxy too.
    """

    def __init__(self, app: ASGIApp, limiter: RateLimiter, code_limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter
        self.code_limiter = code_limiter

    def _limiter_for(self, scope: Scope) -> RateLimiter | None:
        if scope["type"] != "http":
            return None
        if scope["path"].startswith("/q/"):
            return self.limiter
        if scope["path"] == CODE_PATH and scope["method"] == "POST":
            return self.code_limiter
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limiter = self._limiter_for(scope)
        if limiter is not None:
            client = scope.get("client")
            host = client[0] if client else ""
            if host not in LOOPBACK and not limiter.allow(host, time.monotonic()):
                response = _page("busy.html", status.HTTP_429_TOO_MANY_REQUESTS)
                response.headers["Retry-After"] = str(limiter.retry_after(host))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


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


def _problems_json(errors: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"question": qid, "problem_nl": message, "problem_en": in_english(message)}
        for qid, message in errors.items()
    ]


def create_http_app(ctx: ServiceContext) -> FastAPI:
    settings = ctx.settings
    app = FastAPI(title="Tevreden responses: questionnaire, callcentre and paper", version="1")
    secret = settings.token_secret.get_secret_value().encode()
    _templates.globals["bureau"] = settings.bureau  # who asks, in every page's footer
    audio = AudioLibrary(settings.audio_dir)
    settings.audio_dir.mkdir(parents=True, exist_ok=True)
    app.mount(URL_PREFIX.rstrip("/"), AudioFiles(directory=settings.audio_dir), name="audio")
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    app.add_middleware(
        RateLimitMiddleware,
        limiter=RateLimiter(settings.questionnaire_rate_per_second, settings.questionnaire_rate_burst),
        code_limiter=RateLimiter(settings.letter_code_rate_per_second, settings.letter_code_rate_burst),
    )
    require_admin = key_check(settings.admin_api_key.get_secret_value())
    require_callcentre = key_check(settings.callcentre_api_key.get_secret_value())

    # --- the web questionnaire -------------------------------------------------------

    @app.get("/q/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def show_questionnaire(token: str) -> HTMLResponse:
        opened = await service.open_invitation(ctx.pool, token)
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
        if isinstance(outcome, Submitted):
            if outcome.stored:
                ctx.relay.wake()
            return _page("thanks.html", already=not outcome.stored)
        if isinstance(outcome, ShowPage):
            return _questionnaire_page(outcome.view, csrf_token(secret, outcome.token_hash), 422)
        return RedirectResponse(f"/q/{token}", status_code=status.HTTP_303_SEE_OTHER, headers=_HEADERS)

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
        return RedirectResponse(f"/q/{token}", status_code=status.HTTP_303_SEE_OTHER, headers=_HEADERS)

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

    @app.post("/api/interviews", dependencies=[Depends(require_callcentre)], tags=["callcentre"])
    async def submit_interview(body: Interview) -> JSONResponse:
        """A completed interview. 201 stored; 200 already answered (a no-op); 422 per-question errors;
        404 unknown invitation; 409 withdrawn."""
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
            content["errors"] = _problems_json(outcome.errors)
            return JSONResponse(content, status_code=422)
        return JSONResponse(content, status_code=404 if outcome.status == "unknown_invitation" else 409)

    # --- the bureau ------------------------------------------------------------------

    @app.post("/api/paper-imports", dependencies=[Depends(require_admin)], tags=["admin"])
    async def import_paper(request: Request) -> dict[str, Any]:
        """Keyed-in paper forms as CSV (body ``text/csv``, or multipart field ``file``)."""
        if int(request.headers.get("content-length") or 0) > MAX_PAPER_BYTES:
            raise HTTPException(413, "Bestand te groot / file too large")
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
