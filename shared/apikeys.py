"""API keys on the services' HTTP APIs: compared in constant time, refused with 401."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Header, HTTPException, status

INVALID_KEY = "Ongeldige sleutel / invalid API key"


def same_key(given: str, expected: str) -> bool:
    """True when ``given`` is ``expected``; constant time, so the key cannot be guessed by timing."""
    return hmac.compare_digest(given.encode(), expected.encode())


def key_check(expected: str, refusal: str = INVALID_KEY) -> Callable[[str], None]:
    """A FastAPI dependency that lets through only requests whose ``X-API-Key`` is ``expected``."""

    def check(x_api_key: str = Header(default="")) -> None:
        if not same_key(x_api_key, expected):
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, refusal)

    return check
