"""The provider's pages (dienstverlener): its studies and services, delivering a contact file
(aanlevering) with the row report and the gross → net table at once, earlier deliveries,
fieldwork progress, the draft report with the response form (hoor en wederhoor), the final
report and earlier versions, and the phone option's cost lines.

Every call goes to the services on behalf of this provider (its authority, no more): another
provider's study, delivery or report answers 404 there, and so here. The provider id in every
path to a service is the signed-in user's own, never one from the URL.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from services.portal.domain import Permission, User
from services.portal.web import (
    Area,
    CheckedForm,
    Portal,
    ProviderUser,
    SafeId,
    ServiceClient,
    Services,
    audit,
    field_text,
    json_or_error,
    not_found,
    redirect,
    render,
    service_message,
    unavailable,
)

HOME = "/dienstverlener"
MAX_UPLOAD_BYTES = 64 * 1024 * 1024  # as the invitations service allows
UPLOAD_TYPES = {
    ".csv": "text/csv",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
REPORT_FORMATS = {"html", "pdf", "csv", "xlsx"}

STATUS_NL = {
    "met": ("Voldoet aan de publicatie-eis", "ok"),
    "on_track": ("Op koers voor de publicatie-eis", "ok"),
    "at_risk": ("Dreigt onder de publicatie-eis te blijven", "bad"),
    "exempt": ("Wordt altijd gepubliceerd", "neutral"),
    "no_requirement": ("Geen publicatie-eis", "neutral"),
    "no_sample": ("Nog geen steekproef", "neutral"),
}
RESPONDENTS_NL = {
    "client": "Cliënten",
    "opdrachtgever": "Opdrachtgevers",
    "werknemer": "Werknemers",
    "werkgever": "Werkgevers",
    "employee": "Medewerkers",
}
MODES_NL = {"email": "e-mail", "letter": "brief", "phone": "telefoon"}
OUTCOMES_NL = {
    "sent": "verstuurd",
    "undeliverable": "onbestelbaar",
    "complete": "interview afgerond",
    "partial": "interview deels",
    "refusal": "weigering",
    "no_answer": "geen gehoor",
    "busy": "in gesprek",
    "answering_machine": "voicemail",
    "wrong_number": "verkeerd nummer",
    "language_barrier": "taalbarrière",
    "appointment": "afspraak gemaakt",
}
INVITATION_STATUS_NL = {
    "pending": "nog te benaderen",
    "sent": "benaderd, nog geen antwoord",
    "responded": "geantwoord",
    "done": "benaderd, alle rondes voorbij",
    "undeliverable": "onbereikbaar",
    "opted_out": "afgemeld",
}
VERSION_STATUS_NL = {"draft": "concept", "final": "definitief"}


def router(portal: Portal) -> APIRouter:
    routes = APIRouter()
    portal.areas.append(
        Area("Mijn onderzoeken", HOME, Permission.OWN_PROVIDER, "Aanleveren, voortgang en rapporten.")
    )

    @routes.get(HOME, response_class=HTMLResponse)
    async def studies(request: Request, user: ProviderUser, api: Services) -> Response:
        """The provider's studies with its services in each."""
        found, enrolments = await asyncio.gather(
            api.get_json("invitations", "/api/studies"), api.get_json("invitations", "/api/enrolments")
        )
        services = {e["study_id"]: e["services"] for e in enrolments}
        return render(request, "provider/studies.html", studies=found, services=services)

    @routes.get(HOME + "/{study_id}", response_class=HTMLResponse)
    async def study(request: Request, study_id: SafeId, user: ProviderUser, api: Services) -> Response:
        """One study: the enrolment, the upload form, earlier deliveries, the phone costs."""
        return await study_page(request, api, study_id)

    async def study_page(
        request: Request, api: ServiceClient, study_id: str, status_code: int = 200, **context: Any
    ) -> Response:
        provider = _provider(api.user)
        the_study = await _study(api, study_id)
        enrolment, deliveries, costs = await asyncio.gather(
            api.get_json("invitations", f"/api/studies/{study_id}/enrolments/{provider}"),
            api.get_json("invitations", f"/api/studies/{study_id}/deliveries"),
            api.get_json("invitations", f"/api/studies/{study_id}/phone-costs"),
        )
        return render(
            request,
            "provider/study.html",
            status_code,
            study=the_study,
            enrolment=enrolment,
            deliveries=list(reversed(deliveries)),
            costs=costs[0] if costs else None,
            **context,
        )

    @routes.post(HOME + "/{study_id}/aanleveringen", response_class=HTMLResponse)
    async def deliver(
        request: Request, study_id: SafeId, user: ProviderUser, form: CheckedForm, api: Services
    ) -> Response:
        """Deliver a contact file through the invitations service; its row report at once."""
        upload = form.get("bestand")
        if not isinstance(upload, UploadFile) or not upload.filename:
            errors = {"bestand": "Kies een bestand (CSV of Excel, .xlsx) om aan te leveren."}
            return await study_page(request, api, study_id, 422, errors=errors)
        suffix = "." + upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
        data = await upload.read(MAX_UPLOAD_BYTES + 1)
        if suffix not in UPLOAD_TYPES or len(data) > MAX_UPLOAD_BYTES:
            errors = {"bestand": "Lever een CSV- of Excelbestand (.csv of .xlsx) aan van hoogstens 64 MB."}
            return await study_page(request, api, study_id, 422, errors=errors)
        response = await api.request(
            "POST",
            "invitations",
            f"/api/studies/{study_id}/deliveries",
            params={"file_name": upload.filename[:200]},
            content=data,
            headers={"Content-Type": UPLOAD_TYPES[suffix]},
        )
        if response.status_code == 422:
            refusal = service_message(response, "Het bestand is in zijn geheel geweigerd.")
            return await study_page(request, api, study_id, 422, errors={"bestand": refusal})
        receipt = json_or_error(response, "invitations")
        await audit(
            request,
            user,
            "aanlevering",
            study_id,
            provider_id=user.provider_id,
            rows=receipt["rows_total"],
            accepted=receipt["rows_accepted"],
            rejected=receipt["rows_rejected"],
        )
        return render(
            request,
            "provider/delivery.html",
            study=await _study(api, study_id),
            delivery=receipt | {"file_name": upload.filename, "received_at": None},
            just_delivered=True,
            respondents=RESPONDENTS_NL,
        )

    @routes.get(HOME + "/{study_id}/aanleveringen/{delivery_id}", response_class=HTMLResponse)
    async def delivery(
        request: Request, study_id: SafeId, delivery_id: uuid.UUID, user: ProviderUser, api: Services
    ) -> Response:
        """An earlier delivery's row report and gross → net table."""
        the_study = await _study(api, study_id)
        found = await api.get_json("invitations", f"/api/studies/{study_id}/deliveries/{delivery_id}")
        return render(
            request, "provider/delivery.html", study=the_study, delivery=found, respondents=RESPONDENTS_NL
        )

    @routes.get(HOME + "/{study_id}/voortgang", response_class=HTMLResponse)
    async def progress(request: Request, study_id: SafeId, user: ProviderUser, api: Services) -> Response:
        """Fieldwork so far: people approached per status, approaches per service and mode, and
        per respondent type the response, its forecast and the publication requirement."""
        the_study = await _study(api, study_id)
        counts, approaches, status = await asyncio.gather(
            api.get_json("invitations", f"/api/studies/{study_id}/progress"),
            api.get_json("invitations", f"/api/studies/{study_id}/approaches"),
            _fieldwork_status(api, study_id),
        )
        return render(
            request,
            "provider/progress.html",
            study=the_study,
            counts=counts,
            statuses=INVITATION_STATUS_NL,
            approaches=approaches,
            rows=[fieldwork_row(r) for r in (status or {}).get("providers", [])],
            requirement=(status or {}).get("requirement"),
            modes=MODES_NL,
            outcomes=OUTCOMES_NL,
            respondents=RESPONDENTS_NL,
        )

    @routes.get(HOME + "/{study_id}/rapport", response_class=HTMLResponse)
    async def report(request: Request, study_id: SafeId, user: ProviderUser, api: Services) -> Response:
        """The report: the draft with its review deadline and the response form, or the final
        report; every earlier version with its HTML and PDF."""
        return await report_page(request, api, study_id)

    async def report_page(
        request: Request, api: ServiceClient, study_id: str, status_code: int = 200, **context: Any
    ) -> Response:
        provider = _provider(api.user)
        the_study = await _study(api, study_id)
        versions = await api.get_json("reporting", f"/api/reports/{study_id}/{provider}/versions")
        newest = versions[-1] if versions else None
        return render(
            request,
            "provider/report.html",
            status_code,
            study=the_study,
            versions=list(reversed(versions)),
            newest=newest,
            may_respond=newest is not None and review_open(newest, datetime.now(UTC)),
            version_status=VERSION_STATUS_NL,
            **context,
        )

    @routes.post(HOME + "/{study_id}/rapport/reactie", response_class=HTMLResponse)
    async def respond(
        request: Request, study_id: SafeId, user: ProviderUser, form: CheckedForm, api: Services
    ) -> Response:
        """Hoor en wederhoor: the provider's response to its draft, kept with the report."""
        text = field_text(form, "reactie").strip()
        if not text or len(text) > 20000:
            errors = {"reactie": "Schrijf uw reactie (hoogstens 20.000 tekens)."}
            return await report_page(request, api, study_id, 422, errors=errors, typed=text)
        response = await api.request(
            "POST", "reporting", f"/api/reports/{study_id}/{_provider(user)}/response", json={"text": text}
        )
        if response.status_code == 409:
            errors = {"reactie": "De reactietermijn is voorbij: een reactie kan niet meer worden gegeven."}
            return await report_page(request, api, study_id, 409, errors=errors, typed=text)
        json_or_error(response, "reporting")
        await audit(request, user, "reactie_op_concept", study_id, provider_id=user.provider_id)
        return redirect(
            request,
            f"{HOME}/{study_id}/rapport",
            "Uw reactie is ontvangen. Het conceptrapport wordt opnieuw gemaakt, met uw reactie erin.",
        )

    @routes.get(HOME + "/{study_id}/rapport/v{version}.{fmt}")
    async def report_file(
        request: Request, study_id: SafeId, version: int, fmt: str, user: ProviderUser, api: Services
    ) -> Response:
        """A report version as HTML, PDF, CSV or Excel, fetched as this provider."""
        if fmt not in REPORT_FORMATS:
            raise not_found()
        path = f"/reports/{study_id}/{_provider(user)}/v{version}.{fmt}"
        response = await api.request("GET", "reporting", path)
        if response.status_code == 404:
            raise not_found()
        if not response.is_success:
            raise unavailable("reporting")
        headers = {k: v for k, v in response.headers.items() if k.lower() in _PASSED_HEADERS}
        if fmt != "html":
            headers["Content-Disposition"] = f'attachment; filename="rapport-{study_id}-v{version}.{fmt}"'
        return Response(response.content, media_type=response.headers.get("content-type"), headers=headers)

    return routes


# The reporting service's own security headers for its documents travel with them.
_PASSED_HEADERS = {"content-security-policy", "x-content-type-options", "cache-control"}


def _provider(user: User) -> str:
    assert user.provider_id is not None  # ProviderUser: a provider user always has one
    return user.provider_id


async def _study(api: ServiceClient, study_id: str) -> dict[str, Any]:
    """The study as this provider sees it: 404 (as if it did not exist) when not enrolled."""
    found: dict[str, Any] = await api.get_json("invitations", f"/api/studies/{study_id}")
    return found


async def _fieldwork_status(api: ServiceClient, study_id: str) -> dict[str, Any] | None:
    """Scoring's fieldwork status for this provider; None before it has any row (404)."""
    response = await api.request("GET", "scoring", f"/api/studies/{study_id}/status")
    if response.status_code == 404:
        return None
    result: dict[str, Any] = json_or_error(response, "scoring")
    return result


def review_open(version: dict[str, Any], now: datetime) -> bool:
    """A draft whose review deadline (reactietermijn) has not passed."""
    until = version.get("review_until")
    if version.get("status") != "draft" or not until:
        return False
    return datetime.fromisoformat(until) > now


def _percent(fraction: float | None) -> float:
    """A fraction as a bar width in percent, 0–100."""
    return 0.0 if fraction is None else max(0.0, min(100.0, fraction * 100))


def fieldwork_row(row: dict[str, Any]) -> dict[str, Any]:
    """A scoring status row with what the page shows: Dutch labels and bar widths."""
    label, tone = STATUS_NL.get(row["status"], (row["status"], "neutral"))
    return row | {
        "respondents": RESPONDENTS_NL.get(row["respondent_type"], row["respondent_type"]),
        "status_label": label,
        "tone": tone,
        "bar_now": _percent(row.get("response_so_far")),
        "bar_forecast": _percent(row.get("forecast_response")),
        "bar_required": _percent(row.get("required_response")),
    }
