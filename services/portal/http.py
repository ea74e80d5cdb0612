"""HTTP wiring of the portal (the pages are in the area modules; see docs/portal.md).

Each page area is a module with ``router(portal) -> APIRouter``; ``AREAS`` lists them. Errors
become Dutch pages: no session → the sign-in page (401), a ``PageError`` → its page, a route or
path that does not exist → 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.portal import accounts, console, interviewer, provider_pages, signin
from services.portal.web import (
    PageError,
    Portal,
    SignInRequiredError,
    make_templates,
    not_found,
    optional_user,
    render,
)
from shared.runtime import ServiceContext

HERE = Path(__file__).parent
# The page areas, in navigation order; a new area adds its module here.
AREAS = (
    signin,
    provider_pages,
    console,
    interviewer,
    accounts,
)


def create_http_app(ctx: ServiceContext) -> FastAPI:
    if not ctx.settings.portal_assertion_secret.get_secret_value():
        raise RuntimeError("the portal needs TEVREDEN_PORTAL_ASSERTION_SECRET (shared with the services)")
    app = FastAPI(title="Tevreden portal", version="1", docs_url=None, redoc_url=None, openapi_url=None)
    portal = Portal(ctx, make_templates(HERE / "templates"))
    app.state.portal = portal
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for area in AREAS:
        app.include_router(area.router(portal))
    _error_pages(app)
    return app


def _error_pages(app: FastAPI) -> None:
    @app.exception_handler(SignInRequiredError)
    async def sign_in_first(request: Request, exc: SignInRequiredError) -> Response:
        return render(request, "signin.html", 401, expired=True)

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> Response:
        await optional_user(request)  # the navigation of a signed-in user stays on the page
        return render(request, "error.html", exc.status_code, error=exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        await optional_user(request)
        if exc.status_code == 405:
            return render(request, "error.html", 405, error=PageError(405, "Niet toegestaan"))
        return render(request, "error.html", 404, error=not_found())

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        await optional_user(request)
        # A malformed path or query (an id that is no id): as if the thing did not exist.
        return render(request, "error.html", 404, error=not_found())
