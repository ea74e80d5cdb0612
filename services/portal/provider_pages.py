"""The provider's pages (dienstverlener): its studies and services, deliveries, fieldwork
progress, reports and phone costs. Every call goes to the services as this provider (one
provider's authority, no more): another provider's study or report answers 404 there, and so
here."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.portal.domain import Permission
from services.portal.web import Area, Portal, ProviderUser, Services, render

HOME = "/dienstverlener"


def router(portal: Portal) -> APIRouter:
    routes = APIRouter()
    portal.areas.append(
        Area("Mijn onderzoeken", HOME, Permission.OWN_PROVIDER, "Aanleveren, voortgang en rapporten.")
    )

    @routes.get(HOME, response_class=HTMLResponse)
    async def studies(request: Request, user: ProviderUser, api: Services) -> Response:
        """The provider's studies with its services in each."""
        found: list[dict[str, Any]] = await api.get_json("invitations", "/api/studies")
        enrolments: list[dict[str, Any]] = await api.get_json("invitations", "/api/enrolments")
        services = {e["study_id"]: e["services"] for e in enrolments}
        return render(request, "provider/studies.html", studies=found, services=services)

    return routes
