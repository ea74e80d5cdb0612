"""A provider's API key as the invitations service announces it: ``invitations.provider_registered``
with the key's hash only, kept by the service that checks keys (scoring, reporting)."""

from __future__ import annotations

import secrets

from shared.events import ProviderRegistered, ProviderRegisteredPayload, encode_event
from shared.runtime import ServiceRuntime
from shared.tokens import token_hash
from tests.polling import eventually


async def registered_key(service: ServiceRuntime, provider_id: str) -> str:
    """A fresh API key of ``provider_id``, once ``service`` keeps its hash."""
    assert service.ctx is not None
    api_key = secrets.token_urlsafe(24)
    event = ProviderRegistered(
        payload=ProviderRegisteredPayload(provider_id=provider_id, api_key_hash=token_hash(api_key))
    )
    await service.ctx.broker.publish(encode_event(event), event.topic, key=event.key.encode())

    async def kept() -> bool:
        assert service.ctx is not None
        async with service.ctx.pool.acquire() as conn:
            found = await conn.fetchval(
                f"SELECT provider_id FROM {service.name}.provider_keys WHERE api_key_hash = $1",
                token_hash(api_key),
            )
        return bool(found == provider_id)

    await eventually(kept)
    return api_key
