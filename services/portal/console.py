"""The bureau console (onderzoeksbureau): studies and schemes, providers, enrolments (phone
option, interviews bought, client groups, sample sizes), every provider's fieldwork status with
the forecast and the one-action extra wave, closing fieldwork, the review window per provider
(hoor en wederhoor) and the public register.

Every call goes to the services on behalf of the signed-in bureau user (the admin key's
authority). Closing fieldwork, extra waves and enrolments are written to the audit log.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from services.portal.domain import Permission
from services.portal.provider_pages import RESPONDENTS_NL, VERSION_STATUS_NL, fieldwork_row
from services.portal.web import (
    Area,
    BureauUser,
    CheckedForm,
    Portal,
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
from shared.events import SAFE_ID_MAX_LENGTH, SAFE_ID_PATTERN

HOME = "/bureau"
PROVIDERS = HOME + "/dienstverleners"
DEAD_LETTERS = HOME + "/storingen"
SCHEMES = {
    "bow": "Blik op Werk",
    "uwv-reintegratie": "UWV re-integratie",
    "uwv-jobcoach": "UWV jobcoaching",
}
WAVE_KINDS = {"reminder": "een extra herinnering (e-mail, of een brief)", "phone": "een belronde"}


def router(portal: Portal) -> APIRouter:
    routes = APIRouter()
    portal.areas.append(
        Area(
            "Onderzoeken", HOME, Permission.RUN_STUDIES, "Onderzoeken, inschrijvingen, veldwerk en rapporten."
        )
    )

    @routes.get(HOME, response_class=HTMLResponse)
    async def studies(request: Request, user: BureauUser, api: Services) -> Response:
        """Every study, and the form for a new one."""
        return await studies_page(request, api)

    async def studies_page(
        request: Request, api: ServiceClient, status_code: int = 200, **context: Any
    ) -> Response:
        found = await api.get_json("invitations", "/api/studies")
        return render(request, "console/studies.html", status_code, studies=found, schemes=SCHEMES, **context)

    @routes.post(HOME + "/onderzoeken", response_class=HTMLResponse)
    async def create_study(request: Request, user: BureauUser, form: CheckedForm, api: Services) -> Response:
        body, errors = study_body(form)
        if errors:
            return await studies_page(request, api, 422, errors=errors, typed=_typed(form))
        response = await api.request("POST", "invitations", "/api/studies", json=body)
        if response.status_code in (409, 422):
            field = "study_id" if response.status_code == 409 else "name"
            errors = {field: service_message(response, "Dit onderzoek bestaat al.")}
            return await studies_page(request, api, 422, errors=errors, typed=_typed(form))
        json_or_error(response, "invitations")
        await audit(request, user, "onderzoek_aangemaakt", body["study_id"])
        return redirect(request, f"{HOME}/{body['study_id']}", "Het onderzoek is aangemaakt.")

    @routes.get(PROVIDERS, response_class=HTMLResponse)
    async def providers(request: Request, user: BureauUser, api: Services) -> Response:
        """Every provider, and the form to register one."""
        return await providers_page(request, api)

    async def providers_page(
        request: Request, api: ServiceClient, status_code: int = 200, **context: Any
    ) -> Response:
        found = await api.get_json("invitations", "/api/providers")
        return render(request, "console/providers.html", status_code, providers=found, **context)

    @routes.post(PROVIDERS, response_class=HTMLResponse)
    async def register_provider(
        request: Request, user: BureauUser, form: CheckedForm, api: Services
    ) -> Response:
        """Register a provider; its API key (for its own systems) is shown once, on this page."""
        provider_id, name = field_text(form, "provider_id").strip(), field_text(form, "name").strip()
        errors = {}
        if not _safe_id(provider_id):
            errors["provider_id"] = (
                "Geef een code van kleine letters, cijfers en streepjes (bijvoorbeeld werkfit)."
            )
        if not name or len(name) > 200:
            errors["name"] = "Geef de naam van de organisatie (hoogstens 200 tekens)."
        if errors:
            return await providers_page(request, api, 422, errors=errors, typed=_typed(form))
        response = await api.request(
            "POST", "invitations", "/api/providers", json={"provider_id": provider_id, "name": name}
        )
        if response.status_code == 409:
            errors = {"provider_id": "Deze code is al in gebruik."}
            return await providers_page(request, api, 422, errors=errors, typed=_typed(form))
        created = json_or_error(response, "invitations")
        await audit(request, user, "dienstverlener_geregistreerd", provider_id)
        return await providers_page(request, api, 201, created=created | {"name": name})

    @routes.get(DEAD_LETTERS, response_class=HTMLResponse)
    async def dead_letters(request: Request, user: BureauUser, api: Services) -> Response:
        """The dead-letter topics: events a service could not handle, with their error."""
        topics = await api.get_json("scoring", "/api/dead-letters")
        for topic in topics:
            for event in topic["newest"]:
                event["at"] = datetime.fromtimestamp(event["timestamp_ms"] / 1000, UTC)
        return render(
            request, "console/dead_letters.html", topics=topics, total=sum(t["count"] for t in topics)
        )

    @routes.get(HOME + "/{study_id}", response_class=HTMLResponse)
    async def study(request: Request, study_id: SafeId, user: BureauUser, api: Services) -> Response:
        """One study: enrolments, fieldwork status with the extra wave, closing fieldwork, the
        review window per provider."""
        return await study_page(request, api, study_id)

    async def study_page(
        request: Request, api: ServiceClient, study_id: str, status_code: int = 200, **context: Any
    ) -> Response:
        the_study = await api.get_json("invitations", f"/api/studies/{study_id}")
        enrolments, names, status = await asyncio.gather(
            api.get_json("invitations", f"/api/studies/{study_id}/enrolments"),
            _provider_names(api),
            _fieldwork_status(api, study_id),
        )
        reviews = await asyncio.gather(*(_versions(api, study_id, e["provider_id"]) for e in enrolments))
        rows = [
            fieldwork_row(r) | {"name": names.get(r["provider_id"], r["provider_id"])}
            for r in (status or {}).get("providers", [])
        ]
        return render(
            request,
            "console/study.html",
            status_code,
            study=the_study,
            scheme=SCHEMES.get(the_study.get("scheme_id") or "", the_study.get("scheme_id")),
            enrolments=enrolments,
            names=names,
            all_providers=sorted(names.items(), key=lambda p: p[1]),
            rows=rows,
            status=status,
            flagged=(status or {}).get("flagged", []),
            reviews=[(e["provider_id"], versions) for e, versions in zip(enrolments, reviews, strict=True)],
            version_status=VERSION_STATUS_NL,
            wave_kinds=WAVE_KINDS,
            wave_key=f"portal-{uuid.uuid4().hex}",
            **context,
        )

    @routes.post(HOME + "/{study_id}/inschrijvingen", response_class=HTMLResponse)
    async def enrol(
        request: Request, study_id: SafeId, user: BureauUser, form: CheckedForm, api: Services
    ) -> Response:
        """Enrol a provider with its services and options (inschrijving)."""
        provider_id = field_text(form, "provider_id")
        body, errors = enrolment_body(form)
        if not _safe_id(provider_id):
            errors["provider_id"] = "Kies een dienstverlener."
        if errors:
            return await study_page(request, api, study_id, 422, errors=errors, typed=_typed(form))
        response = await api.request(
            "POST",
            "invitations",
            f"/api/studies/{study_id}/enrolments",
            json=body | {"provider_id": provider_id},
        )
        if response.status_code in (404, 409, 422):
            errors = {"provider_id": service_message(response, "Deze dienstverlener is al ingeschreven.")}
            return await study_page(request, api, study_id, 422, errors=errors, typed=_typed(form))
        json_or_error(response, "invitations")
        await audit(request, user, "ingeschreven", study_id, provider_id=provider_id, **body)
        return redirect(request, f"{HOME}/{study_id}", "De dienstverlener is ingeschreven.")

    @routes.get(HOME + "/{study_id}/inschrijvingen/{provider_id}", response_class=HTMLResponse)
    async def enrolment(
        request: Request, study_id: SafeId, provider_id: SafeId, user: BureauUser, api: Services
    ) -> Response:
        """One enrolment, with the form to change its options."""
        return await enrolment_page(request, api, study_id, provider_id)

    async def enrolment_page(
        request: Request,
        api: ServiceClient,
        study_id: str,
        provider_id: str,
        status_code: int = 200,
        **context: Any,
    ) -> Response:
        the_study, found, names = await asyncio.gather(
            api.get_json("invitations", f"/api/studies/{study_id}"),
            api.get_json("invitations", f"/api/studies/{study_id}/enrolments/{provider_id}"),
            _provider_names(api),
        )
        return render(
            request,
            "console/enrolment.html",
            status_code,
            study=the_study,
            enrolment=found,
            name=names.get(provider_id, provider_id),
            **context,
        )

    @routes.post(HOME + "/{study_id}/inschrijvingen/{provider_id}", response_class=HTMLResponse)
    async def change_enrolment(
        request: Request,
        study_id: SafeId,
        provider_id: SafeId,
        user: BureauUser,
        form: CheckedForm,
        api: Services,
    ) -> Response:
        body, errors = enrolment_body(form)
        if errors:
            return await enrolment_page(request, api, study_id, provider_id, 422, errors=errors)
        response = await api.request(
            "PATCH", "invitations", f"/api/studies/{study_id}/enrolments/{provider_id}", json=body
        )
        if response.status_code == 422:
            errors = {"services": service_message(response, "Deze wijziging kan niet.")}
            return await enrolment_page(request, api, study_id, provider_id, 422, errors=errors)
        json_or_error(response, "invitations")
        await audit(request, user, "inschrijving_gewijzigd", study_id, provider_id=provider_id, **body)
        return redirect(request, f"{HOME}/{study_id}", "De inschrijving is gewijzigd.")

    @routes.post(HOME + "/{study_id}/extra-ronde", response_class=HTMLResponse)
    async def extra_wave(
        request: Request, study_id: SafeId, user: BureauUser, form: CheckedForm, api: Services
    ) -> Response:
        """The one action for providers heading below the publication requirement: an extra
        reminder or a round of calls for their non-respondents (the same key twice: once)."""
        kind = field_text(form, "kind")
        chosen = [p for p in form.getlist("providers") if isinstance(p, str) and _safe_id(p)]
        errors = {}
        if kind not in WAVE_KINDS:
            errors["kind"] = "Kies een herinnering of een belronde."
        if not chosen:
            errors["providers"] = "Kies ten minste één dienstverlener."
        if errors:
            return await study_page(request, api, study_id, 422, errors=errors)
        body = {"kind": kind, "providers": chosen, "wave_key": field_text(form, "wave_key")}
        response = await api.request("POST", "invitations", f"/api/studies/{study_id}/extra-waves", json=body)
        if response.status_code in (409, 422):
            errors = {"providers": service_message(response, "Deze extra ronde kan niet worden gestart.")}
            return await study_page(request, api, study_id, 422, errors=errors)
        result = json_or_error(response, "invitations")
        if not result.get("repeated"):
            await audit(
                request,
                user,
                "extra_ronde",
                study_id,
                kind=kind,
                providers=chosen,
                approached=result.get("approached"),
            )
        message = (
            "Deze extra ronde was al gestart: niemand is opnieuw benaderd."
            if result.get("repeated")
            else f"De extra ronde is gestart: {result.get('approached', 0)} mensen worden opnieuw benaderd."
        )
        return redirect(request, f"{HOME}/{study_id}", message)

    @routes.post(HOME + "/{study_id}/veldwerk-sluiten", response_class=HTMLResponse)
    async def close_fieldwork(
        request: Request, study_id: SafeId, user: BureauUser, form: CheckedForm, api: Services
    ) -> Response:
        """Close fieldwork: each provider's draft is written; the review window opens."""
        days_text = field_text(form, "review_days").strip() or "21"
        if not days_text.isdigit() or not 0 <= int(days_text) <= 365:
            errors = {"review_days": "Geef de reactietermijn in dagen (0 tot en met 365)."}
            return await study_page(request, api, study_id, 422, errors=errors)
        the_study, names = await asyncio.gather(
            api.get_json("invitations", f"/api/studies/{study_id}"), _provider_names(api)
        )
        body = {"study_name": the_study["name"], "review_days": int(days_text), "provider_names": names}
        if the_study.get("period_start") and the_study.get("period_end"):
            body |= {"period_start": the_study["period_start"], "period_end": the_study["period_end"]}
        result = await api.post_json("reporting", f"/api/studies/{study_id}/fieldwork-closed", body)
        await audit(
            request,
            user,
            "veldwerk_gesloten",
            study_id,
            review_days=int(days_text),
            drafts=len(result.get("drafts_due", [])),
        )
        drafts = len(result.get("drafts_due", []))
        message = f"Het veldwerk is gesloten. Conceptrapporten voor {drafts} dienstverleners worden gemaakt."
        return redirect(request, f"{HOME}/{study_id}", message)

    @routes.post(HOME + "/{study_id}/rapport/{provider_id}/definitief", response_class=HTMLResponse)
    async def publish(
        request: Request,
        study_id: SafeId,
        provider_id: SafeId,
        user: BureauUser,
        form: CheckedForm,
        api: Services,
    ) -> Response:
        """Make a provider's draft final now (once it has responded or its window has closed)."""
        response = await api.request("POST", "reporting", f"/api/reports/{study_id}/{provider_id}/final")
        if response.status_code == 409:
            refusal = service_message(response, "De dienstverlener kan nog reageren.")
            return await study_page(request, api, study_id, 409, errors={"rapporten": refusal})
        json_or_error(response, "reporting")
        await audit(request, user, "rapport_definitief", f"{study_id}/{provider_id}")
        message = "Het rapport wordt definitief gemaakt en gepubliceerd in het register."
        return redirect(request, f"{HOME}/{study_id}", message)

    @routes.get(HOME + "/{study_id}/rapport/{provider_id}/v{version}.{fmt}")
    async def report_file(
        request: Request,
        study_id: SafeId,
        provider_id: SafeId,
        version: int,
        fmt: str,
        user: BureauUser,
        api: Services,
    ) -> Response:
        """A provider's report version (draft with its response, or final) as HTML or PDF."""
        if fmt not in ("html", "pdf"):
            raise not_found()
        response = await api.request(
            "GET", "reporting", f"/reports/{study_id}/{provider_id}/v{version}.{fmt}"
        )
        if response.status_code == 404:
            raise not_found()
        if not response.is_success:
            raise unavailable("reporting")
        headers = {k: v for k, v in response.headers.items() if k.lower() in _PASSED_HEADERS}
        return Response(response.content, media_type=response.headers.get("content-type"), headers=headers)

    @routes.get(HOME + "/{study_id}/register", response_class=HTMLResponse)
    async def register(request: Request, study_id: SafeId, user: BureauUser, api: Services) -> Response:
        """The public register: published grades per provider and service."""
        the_study, entries, names = await asyncio.gather(
            api.get_json("invitations", f"/api/studies/{study_id}"),
            api.get_json("reporting", f"/register/{study_id}.json"),
            _provider_names(api),
        )
        return render(
            request,
            "console/register.html",
            study=the_study,
            entries=entries,
            names=names,
            respondents=RESPONDENTS_NL,
        )

    return routes


# The reporting service's own security headers for its documents travel with them.
_PASSED_HEADERS = {"content-security-policy", "x-content-type-options", "cache-control"}


def _safe_id(text: str) -> bool:
    return bool(text) and len(text) <= SAFE_ID_MAX_LENGTH and re.fullmatch(SAFE_ID_PATTERN, text) is not None


def _typed(form: FormData) -> dict[str, str]:
    return {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}


def study_body(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """A new study from the form, or what is wrong with it (field id → Dutch message)."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {
        "study_id": field_text(form, "study_id").strip(),
        "name": field_text(form, "name").strip(),
    }
    if not _safe_id(body["study_id"]):
        errors["study_id"] = "Geef een code van kleine letters, cijfers en streepjes (bijvoorbeeld bow-2026)."
    if not body["name"] or len(body["name"]) > 200:
        errors["name"] = "Geef het onderzoek een naam (hoogstens 200 tekens)."
    scheme = field_text(form, "scheme_id")
    if scheme:
        if scheme not in SCHEMES:
            errors["scheme_id"] = "Kies een van de regelingen."
        body["scheme_id"] = scheme
    year = field_text(form, "year").strip()
    if year:
        if not year.isdigit() or not 2000 <= int(year) <= 2100:
            errors["year"] = "Geef een meetjaar, bijvoorbeeld 2026."
        else:
            body["year"] = int(year)
    for field in ("period_start", "period_end"):
        value = field_text(form, field).strip()
        if value:
            try:
                body[field] = date.fromisoformat(value).isoformat()
            except ValueError:
                errors[field] = "Geef een datum (jjjj-mm-dd)."
    return body, errors


def enrolment_body(form: FormData) -> tuple[dict[str, Any], dict[str, str]]:
    """Services, phone option, interviews bought, client groups and sample sizes from the form."""
    errors: dict[str, str] = {}
    services = [s.strip() for s in field_text(form, "services").split(",") if s.strip()]
    if not services or not all(_safe_id(s) for s in services):
        errors["services"] = "Noem de diensten met hun code, gescheiden door komma's (bijvoorbeeld 3, 4)."
    interviews = field_text(form, "phone_interviews").strip() or "0"
    if not interviews.isdigit() or int(interviews) > 100_000:
        errors["phone_interviews"] = "Geef het aantal gekochte interviews (0 tot 100.000)."
    body: dict[str, Any] = {
        "services": services,
        "phone_option": field_text(form, "phone_option") == "ja",
        "phone_interviews": int(interviews) if interviews.isdigit() else 0,
    }
    for field, label in (("group_variants", "cliëntgroepen"), ("sample_sizes", "steekproefomvang")):
        parsed = _pairs(field_text(form, field), as_int=field == "sample_sizes")
        if parsed is None:
            errors[field] = f"Schrijf de {label} als naam=waarde, één per regel."
        else:
            body[field] = parsed
    return body, errors


def _pairs(text: str, *, as_int: bool) -> dict[str, Any] | None:
    """``name=value`` lines as a dict; None when a line is not of that form."""
    found: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip() or not value.strip():
            return None
        if as_int and not value.strip().isdigit():
            return None
        found[name.strip()] = int(value.strip()) if as_int else value.strip()
    return found


def pairs_text(values: dict[str, Any]) -> str:
    return "\n".join(f"{k}={v}" for k, v in values.items())


async def _provider_names(api: ServiceClient) -> dict[str, str]:
    found = await api.get_json("invitations", "/api/providers")
    return {p["provider_id"]: p["name"] for p in found}


async def _fieldwork_status(api: ServiceClient, study_id: str) -> dict[str, Any] | None:
    """Scoring's fieldwork status of every provider; None before it has any row (404)."""
    response = await api.request("GET", "scoring", f"/api/studies/{study_id}/status")
    if response.status_code == 404:
        return None
    result: dict[str, Any] = json_or_error(response, "scoring")
    return result


async def _versions(api: ServiceClient, study_id: str, provider_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await api.get_json(
        "reporting", f"/api/reports/{study_id}/{provider_id}/versions"
    )
    return list(reversed(found))
