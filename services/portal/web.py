"""What every page area of the portal shares: the signed-in user, role guards, CSRF, rendering,
flash messages, error pages and the client that calls the services as the signed-in person.

A page area is a module with ``router(portal) -> APIRouter`` (see docs/portal.md). Its routes
take what they need as typed dependencies::

    @router.get("/dienstverlener")
    async def home(request: Request, user: ProviderUser, api: Services) -> HTMLResponse:
        studies = await api.get_json("invitations", "/api/studies")
        return render(request, "provider/home.html", studies=studies)

    @router.post("/dienstverlener/iets")
    async def act(request: Request, user: ProviderUser, form: CheckedForm) -> Response:
        ...
        return redirect(request, "/dienstverlener", "Gedaan.")
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

import httpx
from fastapi import Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.datastructures import FormData

from services.portal import store
from services.portal.domain import Permission, Role, User, csrf_ok, csrf_token, signed, token_hash, unsigned
from shared import onbehalf
from shared.events import SAFE_ID_MAX_LENGTH, SAFE_ID_PATTERN
from shared.runtime import ServiceContext
from shared.settings import Settings

# An id in a page's path (a study, a provider): only these characters reach a service's URL,
# so a path can never step outside the resource it names; anything else answers 404.
SafeId = Annotated[str, PathParam(pattern=SAFE_ID_PATTERN, max_length=SAFE_ID_MAX_LENGTH)]

SESSION_COOKIE = "portal_sessie"
CSRF_COOKIE = "portal_csrf"
FLASH_COOKIE = "portal_melding"
CSRF_FIELD = "csrf"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")

# Every page: no framing, no sniffing, no referrer (a sign-in link is in a URL), never cached.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self';"
    " form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class Area:
    """A page area in the navigation: shown to users with ``permission``."""

    title: str
    path: str
    permission: Permission
    description: str = ""


@dataclass
class Portal:
    """The portal's wiring, reachable from every request as ``request.app.state.portal``."""

    ctx: ServiceContext
    templates: Environment
    areas: list[Area] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.ctx.settings

    @property
    def secret(self) -> str:
        return self.ctx.settings.portal_session_secret.get_secret_value()

    @property
    def secure_cookies(self) -> bool:
        return self.settings.portal_public_url.startswith("https://")

    def areas_for(self, user: User | None) -> list[Area]:
        return [a for a in self.areas if user is not None and user.may(a.permission)]


def portal_of(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


# --- errors -----------------------------------------------------------------------------------


class SignInRequiredError(Exception):
    """No live session: the page answers with the sign-in page."""


class PageError(Exception):
    """A page answered with an error page in Dutch (title and explanation)."""

    def __init__(self, status_code: int, title: str, message: str = "") -> None:
        super().__init__(title)
        self.status_code = status_code
        self.title = title
        self.message = message


def not_found() -> PageError:
    return PageError(404, "Niet gevonden", "Deze pagina bestaat niet, of u heeft er geen toegang toe.")


# --- the signed-in user ---------------------------------------------------------------------


def session_token(request: Request) -> str | None:
    """The session token from the cookie, if its signature is right."""
    cookie = request.cookies.get(SESSION_COOKIE)
    return unsigned(portal_of(request).secret, "session", cookie) if cookie else None


async def optional_user(request: Request) -> User | None:
    """The signed-in user, or None (pages open to everyone, like the sign-in page)."""
    if getattr(request.state, "user_known", False):
        cached: User | None = request.state.user
        return cached
    token = session_token(request)
    user = None
    if token is not None:
        async with portal_of(request).ctx.pool.acquire() as conn:
            user = await store.session_user(conn, token_hash(token))
    request.state.user = user
    request.state.user_known = True
    return user


async def current_user(request: Request) -> User:
    user = await optional_user(request)
    if user is None:
        raise SignInRequiredError
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def requires(permission: Permission) -> Callable[[Request], Coroutine[Any, Any, User]]:
    """A dependency: the signed-in user if they have ``permission``, else a 403 page."""

    async def guard(request: Request) -> User:
        user = await current_user(request)
        if not user.may(permission):
            raise PageError(403, "Geen toegang", "Deze pagina is niet voor uw rol.")
        return user

    return guard


BureauUser = Annotated[User, Depends(requires(Permission.RUN_STUDIES))]
ProviderUser = Annotated[User, Depends(requires(Permission.OWN_PROVIDER))]
InterviewerUser = Annotated[User, Depends(requires(Permission.CALL))]


# --- CSRF -----------------------------------------------------------------------------------


def browser_key(request: Request) -> str:
    """This browser's CSRF key (cookie); a new one is made (and set by ``render``) if it has none."""
    existing = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_browser_key", None)
    if existing:
        return str(existing)
    key = secrets.token_urlsafe(24)
    request.state.new_browser_key = key
    return key


def csrf_for(request: Request) -> str:
    """The hidden field every form carries: ``<input type="hidden" name="csrf" value="...">``."""
    return csrf_token(portal_of(request).secret, browser_key(request))


async def checked_form(request: Request) -> FormData:
    """The posted form, if its CSRF token matches this browser's key; else a 403 page."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    browser = request.cookies.get(CSRF_COOKIE)
    if not csrf_ok(portal_of(request).secret, browser, given if isinstance(given, str) else None):
        raise PageError(
            403,
            "Formulier verlopen",
            "Dit formulier is niet (meer) geldig. Ga terug, laad de pagina opnieuw en probeer het nog eens.",
        )
    return form


CheckedForm = Annotated[FormData, Depends(checked_form)]


def field_text(form: FormData, name: str) -> str:
    """A text field of a form ('' when absent or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else ""


# --- rendering ------------------------------------------------------------------------------


def _flash(request: Request) -> str | None:
    cookie = request.cookies.get(FLASH_COOKIE)
    value = unsigned(portal_of(request).secret, "flash", cookie) if cookie else None
    return unquote(value) if value else None


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """A page from ``templates/`` with what every page needs: the user, their areas, the CSRF
    token, the flash message (shown once) and the security headers."""
    portal = portal_of(request)
    user = getattr(request.state, "user", None)
    flash = _flash(request)
    html = portal.templates.get_template(template).render(
        request=request,
        user=user,
        areas=portal.areas_for(user),
        csrf=csrf_for(request),
        flash=flash,
        mailbox=portal.settings.portal_mailbox_dir is not None,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    _set_browser_key(request, response)
    if flash is not None:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def _set_browser_key(request: Request, response: Response) -> None:
    key = getattr(request.state, "new_browser_key", None)
    if key:
        set_cookie(request, response, CSRF_COOKIE, key, max_age=None, same_site="strict")


def set_cookie(
    request: Request,
    response: Response,
    name: str,
    value: str,
    *,
    max_age: int | None,
    same_site: str = "lax",
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        secure=portal_of(request).secure_cookies,
        samesite=same_site,  # type: ignore[arg-type]  # one of the three values starlette accepts
    )


def redirect(request: Request, url: str, flash: str | None = None) -> RedirectResponse:
    """After a form: go to ``url`` (303), showing ``flash`` there once."""
    response = RedirectResponse(url, status_code=303, headers=PAGE_HEADERS)
    if flash:
        value = signed(portal_of(request).secret, "flash", quote(flash))
        set_cookie(request, response, FLASH_COOKIE, value, max_age=120)
    return response


def nl_date(value: date | datetime | str | None) -> str:
    """4 december 2026 (times in Amsterdam time)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value or " " in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(AMSTERDAM).date()
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def nl_datetime(value: datetime | str | None) -> str:
    """4 december 2026, 14:05 (Amsterdam time)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(AMSTERDAM)
    return f"{nl_date(local.date())}, {local:%H:%M}"


def nl_number(value: float | int | None, decimals: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    return f"{value:,.{decimals}f}".replace(",", "_").replace(".", ",").replace("_", ".")


def nl_percent(fraction: float | None, decimals: int = 0) -> str:
    return "–" if fraction is None else f"{nl_number(fraction * 100, decimals)}%"


MONTHS = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip


def make_templates(folder: Path) -> Environment:
    env = Environment(
        loader=FileSystemLoader(folder),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(nl_date=nl_date, nl_datetime=nl_datetime, nl_number=nl_number, nl_percent=nl_percent)
    env.globals.update(Role=Role)
    return env


# --- calling the services as the signed-in person -----------------------------------------


class ServiceClient:
    """httpx to the four services, each request carrying a fresh assertion "on behalf of" the
    signed-in user (shared/onbehalf.py): the services give it that user's authority, no more.

    ``get_json``/``post_json`` turn a service's refusal into the matching error page (404 stays
    404: another provider's things look as if they did not exist); ``request`` gives the raw
    response for pages that show a service's own answer (a delivery's row report, a 409).
    """

    def __init__(self, settings: Settings, user: User, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self.user = user
        self._http = http

    def _headers(self) -> dict[str, str]:
        assertion = onbehalf.issue(
            self.user.role.value,
            str(self.user.user_id),
            self.user.provider_id,
            self._settings.portal_assertion_secret.get_secret_value(),
        )
        return {onbehalf.HEADER: assertion}

    def url(self, service: str, path: str) -> str:
        return f"{self._settings.service_url(service).rstrip('/')}{path}"

    async def request(
        self,
        method: str,
        service: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            return await self._http.request(
                method,
                self.url(service, path),
                params=params,
                json=json,
                content=content,
                headers=self._headers() | dict(headers or {}),
            )
        except httpx.HTTPError as exc:
            raise unavailable(service) from exc

    async def get_json(self, service: str, path: str, **params: Any) -> Any:
        response = await self.request("GET", service, path, params=params or None)
        return json_or_error(response, service)

    async def post_json(self, service: str, path: str, body: Any, **params: Any) -> Any:
        response = await self.request("POST", service, path, json=body, params=params or None)
        return json_or_error(response, service)


def unavailable(service: str) -> PageError:
    return PageError(
        502, "Even niet beschikbaar", f"De dienst '{service}' antwoordt nu niet. Probeer het later opnieuw."
    )


def service_message(response: httpx.Response, fallback: str) -> str:
    """A service's refusal in Dutch, or ``fallback``: its ``detail`` (Dutch before " / "), a
    string, or the messages of a validation list (shared/http.py's error shape)."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return fallback
    if isinstance(detail, list):
        detail = " ".join(str(item.get("msg", "")) for item in detail if isinstance(item, dict)).strip()
    return detail.split(" / ")[0] if isinstance(detail, str) and detail else fallback


def json_or_error(response: httpx.Response, service: str) -> Any:
    """The JSON of a 2xx answer; else the error page that matches the service's refusal."""
    if response.is_success:
        return response.json()
    if response.status_code == 404:
        raise not_found()
    if response.status_code in (401, 403):
        raise PageError(403, "Geen toegang", "U heeft geen toegang tot deze gegevens.")
    raise unavailable(service)


async def services_for(request: Request, user: CurrentUser) -> AsyncIterator[ServiceClient]:
    async with httpx.AsyncClient(timeout=60) as http:
        yield ServiceClient(portal_of(request).settings, user, http)


Services = Annotated[ServiceClient, Depends(services_for)]


async def audit(request: Request, user: User, action: str, subject: str = "", **details: Any) -> None:
    """Write an entry in the audit log (logboek) as ``user``: what they did, to what."""
    async with portal_of(request).ctx.pool.acquire() as conn:
        await store.audit(conn, user.user_id, action, subject, details)


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def user_id_of(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
