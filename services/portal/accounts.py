"""The bureau's account pages: invite and remove users, read the audit log and (local mode) the
mailbox of the SMTP sink."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from services.portal import mailbox, service, store
from services.portal.domain import ROLE_NAMES_NL, Permission, User, new_user
from services.portal.web import (
    Area,
    CheckedForm,
    Portal,
    field_text,
    not_found,
    redirect,
    render,
    requires,
    user_id_of,
)

USERS = "/beheer/gebruikers"
UserManager = Annotated[User, Depends(requires(Permission.MANAGE_USERS))]
AuditReader = Annotated[User, Depends(requires(Permission.READ_AUDIT_LOG))]
MailboxReader = Annotated[User, Depends(requires(Permission.READ_MAILBOX))]


def router(portal: Portal) -> APIRouter:
    routes = APIRouter()
    portal.areas.append(Area("Gebruikers", USERS, Permission.MANAGE_USERS, "Uitnodigen en verwijderen."))
    portal.areas.append(
        Area("Logboek", "/beheer/logboek", Permission.READ_AUDIT_LOG, "Wie deed wat, en wanneer.")
    )
    if portal.settings.portal_mailbox_dir is not None:
        portal.areas.append(
            Area("Postvak", "/beheer/postvak", Permission.READ_MAILBOX, "Wat de lokale mailserver ontving.")
        )

    async def users_page(request: Request, status_code: int = 200, **context: object) -> Response:
        async with portal.ctx.pool.acquire() as conn:
            users = await store.live_users(conn)
        return render(
            request, "accounts/users.html", status_code, users=users, role_names=ROLE_NAMES_NL, **context
        )

    @routes.get(USERS, response_class=HTMLResponse)
    async def users(request: Request, user: UserManager) -> Response:
        return await users_page(request)

    @routes.post(USERS, response_class=HTMLResponse)
    async def invite(request: Request, form: CheckedForm, user: UserManager) -> Response:
        """Invite a user: an account and an email with their first sign-in link."""
        typed = {k: field_text(form, k) for k in ("email", "role", "provider_id")}
        new, errors = new_user(typed["email"], typed["role"], typed["provider_id"])
        if new is None:
            return await users_page(request, 422, errors=errors, typed=typed)
        try:
            async with portal.ctx.pool.acquire() as conn, conn.transaction():
                link = await service.invite(conn, portal.settings, new, user.user_id)
        except service.AlreadyExistsError:
            errors = {"email": "Er is al een gebruiker met dit e-mailadres."}
            return await users_page(request, 409, errors=errors, typed=typed)
        message = service.signin_message(portal.settings, link, invited=True)
        if await service.send(portal.settings, message):
            return redirect(request, USERS, f"{new.email} is uitgenodigd.")
        return redirect(
            request, USERS, f"{new.email} is toegevoegd, maar de e-mail kon niet worden verstuurd."
        )

    @routes.post(USERS + "/{user_id}/verwijderen")
    async def remove(request: Request, user_id: str, form: CheckedForm, user: UserManager) -> Response:
        """Remove a user: their sessions end and their links stop working at once."""
        target = user_id_of(user_id)
        if target is None:
            raise not_found()
        if target == user.user_id:
            return redirect(request, USERS, "U kunt uzelf niet verwijderen.")
        async with portal.ctx.pool.acquire() as conn, conn.transaction():
            removed = await service.remove(conn, target, user.user_id)
        if removed is None:
            raise not_found()
        return redirect(request, USERS, f"{removed.email} is verwijderd.")

    @routes.get("/beheer/logboek", response_class=HTMLResponse)
    async def audit_log(request: Request, user: AuditReader, voor: int | None = None) -> Response:
        """The audit log (logboek), newest first, 200 a page."""
        async with portal.ctx.pool.acquire() as conn:
            entries = await store.audit_entries(conn, 200, voor)
        older = entries[-1]["entry_id"] if len(entries) == 200 else None
        return render(request, "accounts/audit.html", entries=entries, older=older)

    @routes.get("/beheer/postvak", response_class=HTMLResponse)
    async def mail_list(request: Request, user: MailboxReader) -> Response:
        folder = portal.settings.portal_mailbox_dir
        if folder is None:
            raise not_found()
        mails = await asyncio.to_thread(mailbox.newest, folder)
        return render(request, "accounts/mailbox.html", mails=mails)

    @routes.get("/beheer/postvak/{name}", response_class=HTMLResponse)
    async def mail(request: Request, name: str, user: MailboxReader) -> Response:
        folder = portal.settings.portal_mailbox_dir
        found = None if folder is None else await asyncio.to_thread(mailbox.one, folder, name)
        if found is None:
            raise not_found()
        return render(request, "accounts/mail.html", mail=found)

    return routes
