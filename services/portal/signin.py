"""Sign-in by one-time link, sign-out, and the start page that leads each role to its areas."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from services.portal import service, store
from services.portal.domain import EMAIL_PATTERN, signed, token_hash
from services.portal.web import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CheckedForm,
    Portal,
    client_address,
    field_text,
    optional_user,
    portal_of,
    redirect,
    render,
    session_token,
    set_cookie,
)


def router(portal: Portal) -> APIRouter:
    routes = APIRouter()

    @routes.get("/", response_class=HTMLResponse)
    async def start(request: Request) -> Response:
        """Signed in: the areas of the user's role; else the sign-in page."""
        user = await optional_user(request)
        if user is None:
            return render(request, "signin.html")
        return render(request, "home.html")

    @routes.get("/aanmelden", response_class=HTMLResponse)
    async def signin_page(request: Request) -> Response:
        return render(request, "signin.html")

    @routes.post("/aanmelden", response_class=HTMLResponse)
    async def request_link(request: Request, form: CheckedForm) -> Response:
        """Email a sign-in link; the answer is the same whether or not the address has an account."""
        email = field_text(form, "email").strip()
        if not EMAIL_PATTERN.match(email):
            errors = {"email": "Vul uw e-mailadres in, bijvoorbeeld naam@organisatie.nl."}
            return render(request, "signin.html", 422, errors=errors, email=email)
        try:
            async with portal.ctx.pool.acquire() as conn, conn.transaction():
                link = await service.request_link(conn, portal.settings, email, client_address(request))
        except service.TooManyRequestsError:
            return render(request, "signin.html", 429, too_many=True, email=email)
        if link is not None:
            await service.send(portal.settings, service.signin_message(portal.settings, link, invited=False))
        return render(request, "signin_sent.html")

    @routes.get("/aanmelden/link/{token}", response_class=HTMLResponse)
    async def link_page(request: Request, token: str) -> Response:
        """The link from the email: a button that signs in (a mail scanner that opens the link
        does not use it up; only the person's POST does)."""
        async with portal.ctx.pool.acquire() as conn:
            usable = len(token) < 100 and await store.signin_link_usable(conn, token_hash(token))
        if not usable:
            return render(request, "signin_link_invalid.html", 410)
        return render(request, "signin_confirm.html", token=token)

    @routes.post("/aanmelden/link", response_class=HTMLResponse)
    async def use_link(request: Request, form: CheckedForm) -> Response:
        token = field_text(form, "token")
        async with portal.ctx.pool.acquire() as conn, conn.transaction():
            session = await service.use_link(conn, portal.settings, token) if len(token) < 100 else None
        if session is None:
            return render(request, "signin_link_invalid.html", 410)
        response = redirect(request, "/", "U bent aangemeld.")
        max_age = int(portal.settings.portal_session_hours * 3600)
        set_cookie(
            request, response, SESSION_COOKIE, _signed_session(request, session.token), max_age=max_age
        )
        # A fresh CSRF key for the new session: a key planted before sign-in is of no use.
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    @routes.post("/afmelden")
    async def sign_out(request: Request, form: CheckedForm) -> Response:
        """End the session on the server, so a copied cookie stops working too."""
        token = session_token(request)
        if token is not None:
            async with portal.ctx.pool.acquire() as conn, conn.transaction():
                await service.sign_out(conn, token)
        response = redirect(request, "/aanmelden", "U bent afgemeld.")
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
        return response

    return routes


def _signed_session(request: Request, token: str) -> str:
    return signed(portal_of(request).secret, "session", token)
