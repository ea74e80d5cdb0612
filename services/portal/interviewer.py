"""The interviewer's screen (CATI, telefonisch interview): the next call, the questionnaire to
read out and key in, the call's outcome and an appointment to call back.

The person's name and number come from the invitations service only while the call task is
leased to this interviewer (``GET /api/calls/{task}``): the portal keeps none of it, and once
the lease has passed the page answers 404. The questions are the questionnaire the responses
service serves, validated there exactly as the web form (``POST /api/interviews``). The agent id
at the callcentre API is the interviewer's portal user id, never a name.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from services.portal.domain import Permission, User
from services.portal.web import (
    AMSTERDAM,
    Area,
    CheckedForm,
    InterviewerUser,
    Portal,
    ServiceClient,
    Services,
    audit,
    field_text,
    json_or_error,
    redirect,
    render,
    service_message,
)
from shared.questionnaires import Questionnaire, parse_questionnaire

HOME = "/interviewer"
# Every disposition of the callcentre API, in the order an interviewer needs them.
DISPOSITIONS = {
    "no_answer": "Geen gehoor",
    "busy": "In gesprek",
    "answering_machine": "Voicemail",
    "refusal": "Weigert",
    "wrong_number": "Verkeerd nummer",
    "language_barrier": "Taalbarrière",
    "partial": "Interview deels afgenomen",
    "complete": "Interview afgerond",
    "appointment": "Afspraak gemaakt",
}
OUTCOME_MESSAGES = {
    "appointment": "De afspraak is vastgelegd.",
    "complete": "Het gesprek is afgerond.",
}


def router(portal: Portal) -> APIRouter:
    routes = APIRouter()
    portal.areas.append(Area("Bellen", HOME, Permission.CALL, "Het volgende gesprek en de vragenlijst."))

    @routes.get(HOME, response_class=HTMLResponse)
    async def start(request: Request, user: InterviewerUser) -> Response:
        """The start: one button for the next call."""
        return render(request, "interviewer/start.html")

    @routes.post(HOME + "/volgende", response_class=HTMLResponse)
    async def next_call(
        request: Request, user: InterviewerUser, form: CheckedForm, api: Services
    ) -> Response:
        """Lease the next call task to this interviewer and open it."""
        found = await api.post_json(
            "invitations", "/api/calls/next", {"agent_id": agent_of(user), "limit": 1}
        )
        if not found["tasks"]:
            message = (
                "Het is nu buiten de beltijden (maandag tot en met zaterdag, 9.00 tot 21.00 uur)."
                if found.get("daypart") is None
                else "Er is nu niemand te bellen. Probeer het over een paar minuten opnieuw."
            )
            return render(request, "interviewer/start.html", nobody=message)
        return redirect(request, f"{HOME}/gesprek/{found['tasks'][0]['task_id']}")

    @routes.get(HOME + "/gesprek/{task_id}", response_class=HTMLResponse)
    async def call(request: Request, task_id: uuid.UUID, user: InterviewerUser, api: Services) -> Response:
        """The call: whom to call, the questionnaire, the outcome buttons, the appointment."""
        return await call_page(request, api, task_id)

    async def call_page(
        request: Request, api: ServiceClient, task_id: uuid.UUID, status_code: int = 200, **context: Any
    ) -> Response:
        task = await leased(api, task_id)
        questionnaire = await questionnaire_of(api, task["questionnaire_id"])
        return render(
            request,
            "interviewer/call.html",
            status_code,
            task=task,
            questionnaire=questionnaire,
            sections={s.id: s for s in questionnaire.sections},
            dispositions=DISPOSITIONS,
            values=context.pop("values", {}),
            answer_errors=context.pop("answer_errors", {}),
            is_chosen=is_chosen,
            **context,
        )

    @routes.post(HOME + "/gesprek/{task_id}/interview", response_class=HTMLResponse)
    async def interview(
        request: Request, task_id: uuid.UUID, user: InterviewerUser, form: CheckedForm, api: Services
    ) -> Response:
        """The keyed-in answers to the responses service; its errors per question shown as the web
        form shows them, keeping what was keyed in; stored: the call is complete."""
        task = await leased(api, task_id)
        answers = answers_of(form)
        response = await api.request(
            "POST",
            "responses",
            "/api/interviews",
            json={
                "invitation_id": task["invitation_id"],
                "interviewer_id": agent_of(user),
                "answers": answers,
            },
        )
        if response.status_code == 422:
            problems = answer_problems(response.json().get("detail", []))
            return await call_page(request, api, task_id, 422, values=answers, answer_errors=problems)
        if response.status_code in (403, 409, 410):
            return await call_page(
                request,
                api,
                task_id,
                response.status_code,
                values=answers,
                refused=service_message(
                    response, "Deze persoon doet niet meer mee: het interview is niet opgeslagen."
                ),
            )
        json_or_error(response, "responses")
        await record_outcome(api, task_id, user, "complete")
        await audit(request, user, "interview_afgenomen", str(task_id))
        return redirect(request, HOME, "Het interview is opgeslagen. Dank u wel.")

    @routes.post(HOME + "/gesprek/{task_id}/uitkomst", response_class=HTMLResponse)
    async def outcome(
        request: Request, task_id: uuid.UUID, user: InterviewerUser, form: CheckedForm, api: Services
    ) -> Response:
        """The call's outcome; an appointment with its date and time (the service checks it falls
        within calling hours and says so when not)."""
        disposition = field_text(form, "disposition")
        if disposition not in DISPOSITIONS:
            return await call_page(request, api, task_id, 422, errors={"uitkomst": "Kies een uitkomst."})
        at = None
        if disposition == "appointment":
            at = appointment_at(field_text(form, "datum"), field_text(form, "tijd"))
            if at is None:
                errors = {"datum": "Kies een datum en een tijd voor de afspraak."}
                return await call_page(request, api, task_id, 422, errors=errors, typed=_typed(form))
        response = await record_outcome(api, task_id, user, disposition, at)
        if response.status_code == 422:
            errors = {"datum": service_message(response, "Deze afspraak kan niet.")}
            return await call_page(request, api, task_id, 422, errors=errors, typed=_typed(form))
        if response.status_code == 409:
            return redirect(
                request, HOME, "Dit gesprek was al afgesloten: de persoon heeft inmiddels geantwoord."
            )
        json_or_error(response, "invitations")
        return redirect(request, HOME, OUTCOME_MESSAGES.get(disposition, "De uitkomst is vastgelegd."))

    return routes


def agent_of(user: User) -> str:
    """The interviewer at the callcentre API: their portal user id (no name, no address)."""
    return str(user.user_id)


async def leased(api: ServiceClient, task_id: uuid.UUID) -> dict[str, Any]:
    """The task while it is leased to this interviewer; the service's 404 (as if it did not
    exist) once the lease has passed or it is another's."""
    task: dict[str, Any] = await api.get_json(
        "invitations", f"/api/calls/{task_id}", agent_id=agent_of(api.user)
    )
    return task


async def questionnaire_of(api: ServiceClient, questionnaire_id: str) -> Questionnaire:
    data = await api.get_json("responses", f"/api/questionnaires/{questionnaire_id}")
    return parse_questionnaire(data, f"responses: {questionnaire_id}")


async def record_outcome(
    api: ServiceClient, task_id: uuid.UUID, user: User, disposition: str, at: datetime | None = None
) -> Any:
    body: dict[str, Any] = {"agent_id": agent_of(user), "disposition": disposition}
    if at is not None:
        body["appointment_at"] = at.isoformat()
    return await api.request("POST", "invitations", f"/api/calls/{task_id}/outcome", json=body)


def answers_of(form: FormData) -> dict[str, Any]:
    """The posted answers as the interview API takes them (a field ticked more than once: a
    list), without the CSRF token."""
    answers: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key == "csrf" or not isinstance(value, str):
            continue
        earlier = answers.get(key)
        answers[key] = (
            value if earlier is None else [*(earlier if isinstance(earlier, list) else [earlier]), value]
        )
    return answers


def appointment_at(day: str, at: str) -> datetime | None:
    """A date and a time typed in Amsterdam time, or None when either is missing or malformed."""
    try:
        return datetime.combine(date.fromisoformat(day.strip()), time.fromisoformat(at.strip()), AMSTERDAM)
    except ValueError:
        return None


def is_chosen(value: object, option: object) -> bool:
    """Whether ``option`` is ticked in a keyed-in value (one value or a list)."""
    if isinstance(value, list):
        return str(option) in value
    return value == str(option)


def _typed(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}


def answer_problems(detail: Any) -> dict[str, str]:
    """Per question, what is wrong in Dutch, from the interview API's validation list (``loc``
    ``["body", "answers", question]``, the Dutch text in ``ctx.problem_nl``)."""
    problems: dict[str, str] = {}
    for item in detail if isinstance(detail, list) else []:
        loc = item.get("loc", []) if isinstance(item, dict) else []
        if len(loc) >= 3 and loc[1] == "answers":
            problems[str(loc[2])] = str((item.get("ctx") or {}).get("problem_nl") or item.get("msg", ""))
    return problems
