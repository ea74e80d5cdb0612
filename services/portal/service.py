"""Accounts and sign-in: invite and remove users, send and use one-time links, sessions.

Everything here runs in the caller's transaction (one ``Connection``) except sending email,
which happens after the link is stored: a link that was never mailed is harmless.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage

import aiosmtplib

from services.portal import store
from services.portal.domain import NewUser, User, new_token, requester_key, token_hash, within_limit
from shared.db import Connection
from shared.logging import get_logger
from shared.settings import Settings

log = get_logger(__name__)
HOUR = timedelta(hours=1)


class AlreadyExistsError(Exception):
    """A live user has this address already."""


class TooManyRequestsError(Exception):
    """Too many sign-in requests for this address or from this client in the last hour."""


@dataclass(frozen=True)
class SignInLink:
    user: User
    url: str
    valid: timedelta


def signin_url(settings: Settings, token: str) -> str:
    return f"{settings.portal_public_url.rstrip('/')}/aanmelden/link/{token}"


async def issue_link(conn: Connection, settings: Settings, user: User, valid: timedelta) -> SignInLink:
    token = new_token()
    await store.add_signin_link(conn, user.user_id, token_hash(token), valid)
    return SignInLink(user, signin_url(settings, token), valid)


async def invite(
    conn: Connection, settings: Settings, new: NewUser, invited_by: uuid.UUID | None
) -> SignInLink:
    """A new user and their first sign-in link (valid ``portal_invite_link_hours``)."""
    user = await store.add_user(conn, new, invited_by)
    if user is None:
        raise AlreadyExistsError(new.email)
    await store.audit(
        conn,
        invited_by,
        "gebruiker_uitgenodigd",
        str(user.user_id),
        {"role": user.role.value, "provider_id": user.provider_id},
    )
    return await issue_link(conn, settings, user, timedelta(hours=settings.portal_invite_link_hours))


async def request_link(
    conn: Connection, settings: Settings, email: str, client_address: str
) -> SignInLink | None:
    """A sign-in link for a live user at ``email``; None for an unknown address (the page says
    the same either way). Refused past the hourly limit per address and per client."""
    keys = [requester_key("email", email), requester_key("address", client_address)]
    for key in keys:
        if not within_limit(
            await store.count_recent_requests(conn, key, HOUR), settings.portal_signin_requests_per_hour
        ):
            raise TooManyRequestsError
    await store.record_request(conn, keys)
    user = await store.live_user_by_email(conn, email)
    if user is None:
        return None
    return await issue_link(conn, settings, user, timedelta(minutes=settings.portal_signin_link_minutes))


@dataclass(frozen=True)
class Session:
    user: User
    token: str
    expires_at: datetime


async def use_link(conn: Connection, settings: Settings, token: str) -> Session | None:
    """Sign in with a link: a new session, or None when the link is used, expired or unknown."""
    user = await store.use_signin_link(conn, token_hash(token))
    if user is None:
        return None
    session_token = new_token()
    expires_at = await store.add_session(
        conn, token_hash(session_token), user.user_id, timedelta(hours=settings.portal_session_hours)
    )
    await store.audit(conn, user.user_id, "aangemeld")
    return Session(user, session_token, expires_at)


async def sign_out(conn: Connection, session_token: str) -> None:
    user_id = await store.end_session(conn, token_hash(session_token))
    if user_id is not None:
        await store.audit(conn, user_id, "afgemeld")


async def remove(conn: Connection, user_id: uuid.UUID, removed_by: uuid.UUID) -> User | None:
    removed = await store.remove_user(conn, user_id)
    if removed is not None:
        await store.audit(
            conn, removed_by, "gebruiker_verwijderd", str(user_id), {"role": removed.role.value}
        )
    return removed


# --- email ----------------------------------------------------------------------------------


def signin_message(settings: Settings, link: SignInLink, *, invited: bool) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = link.user.email
    if invited:
        message["Subject"] = "Uitnodiging voor het portaal van het tevredenheidsonderzoek"
        opening = "U bent uitgenodigd voor het portaal van het tevredenheidsonderzoek."
    else:
        message["Subject"] = "Uw aanmeldlink voor het portaal"
        opening = "U vroeg om een link om u aan te melden bij het portaal van het tevredenheidsonderzoek."
    hours = link.valid.total_seconds() / 3600
    lasts = f"{hours:g} uur" if hours >= 1 else f"{link.valid.total_seconds() / 60:g} minuten"
    message.set_content(
        f"Beste gebruiker,\n\n{opening}\n\nMeld u aan met deze link:\n\n{link.url}\n\n"
        f"De link werkt één keer en is {lasts} geldig. Heeft u hier niet om gevraagd? "
        "Dan kunt u deze e-mail negeren.\n\nMet vriendelijke groet,\nHet onderzoeksbureau\n"
    )
    return message


async def send(settings: Settings, message: EmailMessage) -> bool:
    """Send through the configured SMTP server; False (logged, without the address) on failure."""
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            timeout=settings.smtp_timeout_seconds,
        )
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        log.warning("portal_email_failed", error=type(exc).__name__)
        return False
    return True
