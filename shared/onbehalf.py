"""The portal calls the services as the signed-in person: a short-lived, signed assertion.

The portal (``services/portal``) holds ``portal_assertion_secret``; with it, it signs for each
call "on behalf of the bureau", "of provider X" or "of an interviewer", with the portal user's
id and an expiry a minute ahead. A service that holds the same secret verifies the signature
and the expiry and then gives the caller exactly the authority of the matching key: a bureau
assertion that of the admin key, a provider assertion that of provider X's own API key and
nothing more, an interviewer assertion that of the callcentre key. The secret is the portal's
credential; without it (the empty default) every service refuses every assertion.

Wire format, in the ``X-On-Behalf-Of`` header: ``v1.<base64url(JSON claims)>.<base64url(HMAC-SHA256)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

from fastapi import Header, HTTPException, status
from pydantic import SecretStr

from shared.apikeys import INVALID_KEY, same_key

Role = Literal["bureau", "provider", "interviewer"]
ROLES: tuple[Role, ...] = get_args(Role)
HEADER = "X-On-Behalf-Of"
VERSION = "v1"
# An assertion is made per call; a long one would only widen what a leaked header allows.
DEFAULT_TTL_SECONDS = 60
MAX_TTL_SECONDS = 300


class InvalidAssertionError(ValueError):
    """The header is no valid assertion: malformed, tampered with, expired or not for this use."""


@dataclass(frozen=True)
class Assertion:
    """Who the portal acts for: a role, the provider (role ``provider`` only) and the portal user."""

    role: Role
    user_id: str
    provider_id: str | None
    expires_at: int  # Unix seconds

    def claims(self) -> dict[str, object]:
        return {"r": self.role, "u": self.user_id, "p": self.provider_id, "e": self.expires_at}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, body: str) -> bytes:
    return hmac.new(secret.encode(), f"{VERSION}.{body}".encode(), hashlib.sha256).digest()


def sign(assertion: Assertion, secret: str) -> str:
    """The header value for ``assertion``."""
    if not secret:
        raise ValueError("portal_assertion_secret is not set")
    body = _b64(json.dumps(assertion.claims(), separators=(",", ":"), sort_keys=True).encode())
    return f"{VERSION}.{body}.{_b64(_signature(secret, body))}"


def issue(
    role: Role,
    user_id: str,
    provider_id: str | None,
    secret: str,
    *,
    now: float | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
) -> str:
    """A fresh assertion for one call, valid ``ttl_seconds``."""
    moment = time.time() if now is None else now
    return sign(Assertion(role, user_id, provider_id, int(moment) + ttl_seconds), secret)


def verify(token: str, secret: str, *, now: float | None = None) -> Assertion:
    """The assertion in ``token`` if its signature is right and it has not expired."""
    if not secret:
        raise InvalidAssertionError("assertions are not accepted here (no portal_assertion_secret)")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != VERSION:
        raise InvalidAssertionError("malformed assertion")
    _, body, given = parts
    try:
        signature_ok = hmac.compare_digest(_unb64(given), _signature(secret, body))
    except (binascii.Error, ValueError) as exc:
        raise InvalidAssertionError("malformed signature") from exc
    if not signature_ok:
        raise InvalidAssertionError("bad signature")
    assertion = _parse_claims(body)
    moment = time.time() if now is None else now
    if assertion.expires_at <= moment:
        raise InvalidAssertionError("expired assertion")
    if assertion.expires_at > moment + MAX_TTL_SECONDS:
        raise InvalidAssertionError("assertion valid for too long")
    return assertion


def _parse_claims(body: str) -> Assertion:
    try:
        claims = json.loads(_unb64(body))
    except (binascii.Error, ValueError) as exc:
        raise InvalidAssertionError("malformed claims") from exc
    if not isinstance(claims, dict):
        raise InvalidAssertionError("malformed claims")
    role, user_id, provider_id, expires_at = (claims.get(k) for k in ("r", "u", "p", "e"))
    if role not in ROLES or not isinstance(user_id, str) or not user_id or not isinstance(expires_at, int):
        raise InvalidAssertionError("malformed claims")
    if (role == "provider") != (isinstance(provider_id, str) and bool(provider_id)):
        raise InvalidAssertionError("a provider assertion names exactly one provider, no other does")
    return Assertion(role, user_id, provider_id, expires_at)


def assertion_of(header: str, secret: SecretStr) -> Assertion | None:
    """For a service's caller dependency: None without the header, 401 for an invalid one."""
    if not header:
        return None
    try:
        return verify(header, secret.get_secret_value())
    except InvalidAssertionError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, f"{INVALID_KEY}: {exc}") from exc


def key_or_role(
    expected_key: str, secret: SecretStr, role: Role, refusal: str = INVALID_KEY
) -> Callable[[str, str], None]:
    """Like :func:`shared.apikeys.key_check`, and also lets through a valid assertion of ``role``
    (``bureau`` where the admin key is asked, ``interviewer`` where the callcentre key is)."""

    def check(x_api_key: str = Header(default=""), x_on_behalf_of: str = Header(default="")) -> None:
        assertion = assertion_of(x_on_behalf_of, secret)
        if assertion is not None:
            if assertion.role != role:
                raise HTTPException(status.HTTP_403_FORBIDDEN, "not allowed for this role")
            return
        if not same_key(x_api_key, expected_key):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, refusal)

    return check


def bureau_or_provider(assertion: Assertion) -> str | None:
    """For the APIs the admin key and providers' own keys share: None for the bureau (the admin
    key's authority), the provider id for a provider; 403 for any other role."""
    if assertion.role == "bureau":
        return None
    if assertion.role == "provider" and assertion.provider_id:
        return assertion.provider_id
    raise HTTPException(status.HTTP_403_FORBIDDEN, "not allowed for this role")
