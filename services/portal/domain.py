"""The portal's rules, without I/O: roles and what each may do, sign-in links, session cookies,
CSRF tokens and the sign-in rate limit.

Roles (rollen): the bureau (het onderzoeksbureau: everything), a provider user (een
dienstverlener: its own provider only, across studies) and an interviewer (the calling screen
only). A sign-in link (aanmeldlink) is a random token sent by email, kept only as its hash,
good once and for minutes; a session (sessie) is a random token in a cookie signed with the
portal's secret, kept only as its hash, ended at sign-out or expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    """The three kinds of portal user; the values are the assertion roles of shared.onbehalf."""

    BUREAU = "bureau"
    PROVIDER = "provider"
    INTERVIEWER = "interviewer"


ROLE_NAMES_NL: dict[Role, str] = {
    Role.BUREAU: "Onderzoeksbureau",
    Role.PROVIDER: "Dienstverlener",
    Role.INTERVIEWER: "Interviewer",
}


class Permission(StrEnum):
    """What a page area or form needs; roles grant them (``PERMISSIONS``)."""

    MANAGE_USERS = "manage_users"  # invite and remove users
    READ_AUDIT_LOG = "read_audit_log"
    READ_MAILBOX = "read_mailbox"  # local mode only
    RUN_STUDIES = "run_studies"  # the bureau console
    OWN_PROVIDER = "own_provider"  # a provider's own studies, deliveries, progress, reports
    CALL = "call"  # the interviewer screen


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.BUREAU: frozenset(
        {
            Permission.MANAGE_USERS,
            Permission.READ_AUDIT_LOG,
            Permission.READ_MAILBOX,
            Permission.RUN_STUDIES,
        }
    ),
    Role.PROVIDER: frozenset({Permission.OWN_PROVIDER}),
    Role.INTERVIEWER: frozenset({Permission.CALL}),
}


@dataclass(frozen=True)
class User:
    """A signed-in portal user (gebruiker)."""

    user_id: uuid.UUID
    email: str
    role: Role
    provider_id: str | None  # role PROVIDER only

    def may(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]

    @property
    def role_name(self) -> str:
        return ROLE_NAMES_NL[self.role]


# --- invitations of users ---------------------------------------------------------------

EMAIL_PATTERN = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")
PROVIDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class NewUser:
    email: str
    role: Role
    provider_id: str | None


def new_user(email: str, role: str, provider_id: str) -> tuple[NewUser | None, dict[str, str]]:
    """A user to invite from what the bureau typed, or the errors per field (in Dutch)."""
    errors: dict[str, str] = {}
    email = email.strip()
    provider_id = provider_id.strip()
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        errors["email"] = "Vul een geldig e-mailadres in, bijvoorbeeld naam@organisatie.nl."
    try:
        chosen = Role(role)
    except ValueError:
        errors["role"] = "Kies een rol."
        return None, errors
    if chosen is Role.PROVIDER and not PROVIDER_ID_PATTERN.match(provider_id):
        errors["provider_id"] = "Vul de code van de dienstverlener in (letters, cijfers, - _ .)."
    if errors:
        return None, errors
    return NewUser(email, chosen, provider_id if chosen is Role.PROVIDER else None), {}


# --- tokens -------------------------------------------------------------------------------


def new_token() -> str:
    """A random 256-bit token, URL-safe: a sign-in link or a session."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What the database keeps of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _mac(secret: str, purpose: str, value: str) -> str:
    digest = hmac.new(secret.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signed(secret: str, purpose: str, value: str) -> str:
    """``value`` with its signature for ``purpose`` (session cookie, flash message)."""
    return f"{value}.{_mac(secret, purpose, value)}"


def unsigned(secret: str, purpose: str, signed_value: str) -> str | None:
    """The value if the signature is right, else None."""
    value, _, mac = signed_value.rpartition(".")
    if not value or not hmac.compare_digest(mac, _mac(secret, purpose, value)):
        return None
    return value


def csrf_token(secret: str, browser_key: str) -> str:
    """The token every form carries: bound to the browser's own CSRF cookie."""
    return _mac(secret, "csrf", browser_key)


def csrf_ok(secret: str, browser_key: str | None, given: str | None) -> bool:
    if not browser_key or not given:
        return False
    return hmac.compare_digest(given, csrf_token(secret, browser_key))


# --- sign-in rate limit ---------------------------------------------------------------------

Requester = Literal["email", "address"]


def requester_key(kind: Requester, value: str) -> str:
    """Who asked for a link, as a hash: the typed address (lower case) or the client address."""
    return token_hash(f"{kind}:{value.strip().lower()}")


def within_limit(recent_requests: int, per_hour: int) -> bool:
    """True while fewer than ``per_hour`` requests came in the last hour."""
    return recent_requests < per_hour
