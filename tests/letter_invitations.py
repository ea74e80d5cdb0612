"""An invitation as the responses service learns it from ``invitations.issued`` version 2: with
the link token derived as invitations derives it, the provider's name and the letter code."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.responses import store
from shared.events import InvitationIssued, InvitationIssuedPayload
from shared.runtime import ServiceRuntime
from shared.tokens import invitation_token, letter_code, token_hash


@dataclass(frozen=True)
class LetterInvitation:
    invitation_id: uuid.UUID
    token: str  # the /q/<token> link
    code: str  # the personal code on the letter


async def issue(
    service: ServiceRuntime,
    questionnaire_id: str = "bow-client-regular",
    provider_name: str = "Pluswerk Reïntegratie",
) -> LetterInvitation:
    """Store the invitation in the responses service directly (no consumer wait)."""
    assert service.ctx is not None
    secret = service.settings.token_secret.get_secret_value().encode()
    invitation_id = uuid.uuid4()
    token, code = invitation_token(secret, invitation_id), letter_code(secret, invitation_id)
    event = InvitationIssued(
        payload=InvitationIssuedPayload(
            invitation_id=invitation_id,
            study_id="bow-2026",
            provider_id="P1",
            service_code="3",
            questionnaire_id=questionnaire_id,
            token_hash=token_hash(token),
            provider_name=provider_name,
            letter_code_hash=token_hash(code),
        )
    )
    async with service.ctx.pool.acquire() as conn:
        await store.add_invitations(conn, [event])
    return LetterInvitation(invitation_id, token, code)
