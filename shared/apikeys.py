"""API keys on the services' HTTP APIs: compared in constant time, refused with 401."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Header, HTTPException, status

from shared.db import Connection
from shared.events import Event, ProviderRegistered
from shared.tokens import token_hash

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


class ProviderKeys:
    """Providers' own API keys in a service's schema (table ``provider_keys``), as the invitations
    service announces them on ``invitations.provider_registered``: the SHA-256 hash only, never
    the key. Scoring and reporting let a provider read its own figures with it."""

    def __init__(self, schema: str) -> None:
        self.schema = schema

    async def keep(self, conn: Connection, events: list[Event]) -> None:
        """The consumer of ``invitations.provider_registered``: a provider's newest key replaces
        its old one."""
        newest = {
            e.payload.provider_id: e.payload.api_key_hash for e in events if isinstance(e, ProviderRegistered)
        }  # an upsert may touch a row only once: the last key of a batch wins
        if newest:
            await conn.execute(
                f"""
                INSERT INTO {self.schema}.provider_keys (provider_id, api_key_hash)
                SELECT * FROM unnest($1::text[], $2::text[])
                ON CONFLICT (provider_id)
                DO UPDATE SET api_key_hash = excluded.api_key_hash, registered_at = now()
                """,
                list(newest),
                list(newest.values()),
            )

    async def provider_for(self, conn: Connection, api_key: str) -> str | None:
        """The provider whose own API key this is, if any."""
        provider_id: str | None = await conn.fetchval(
            f"SELECT provider_id FROM {self.schema}.provider_keys WHERE api_key_hash = $1",
            token_hash(api_key),
        )
        return provider_id
