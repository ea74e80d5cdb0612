"""An AVG request made with what a person gives: their email address. The invitations service
looks the address up (admin only); the responses service withdraws the one invitation found.
Both services on the real database and broker, driven through ``tevreden responses withdraw``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from services.invitations import app as invitations
from services.responses import app as responses
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings
from tests.polling import eventually
from tevreden import cli

pytestmark = pytest.mark.integration
ADMIN = {"X-API-Key": "test-admin-key"}


@dataclass
class Services:
    invitations: ServiceRuntime
    responses: ServiceRuntime

    def url(self, runtime: ServiceRuntime, name: str) -> str:
        return f"http://127.0.0.1:{runtime.settings.port_for(name)}"

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url(self.invitations, "invitations"), timeout=60)

    async def withdraw(self, person: str) -> Result:
        args = ["responses", "withdraw", person, "--api-key", "test-admin-key"]
        args += ["--url", self.url(self.responses, "responses")]
        args += ["--invitations-url", self.url(self.invitations, "invitations")]
        return await asyncio.to_thread(CliRunner().invoke, cli.app, args)  # the services run on this loop

    async def responses_row(self, invitation_id: str) -> Any:
        assert self.responses.ctx is not None
        async with self.responses.ctx.pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT withdrawn_at FROM responses.invitations WHERE invitation_id = $1",
                uuid.UUID(invitation_id),
            )


@pytest.fixture(scope="module")
async def services(module_settings: MakeSettings) -> AsyncIterator[Services]:
    started = Services(
        invitations.runtime(module_settings(max_reminders=0, email_rate_per_second=0.0)),
        responses.runtime(module_settings()),
    )
    for runtime in (started.invitations, started.responses):
        await runtime.start()
    yield started
    for runtime in (started.responses, started.invitations):
        await runtime.stop()


async def invite(services: Services, rows: dict[str, str]) -> str:
    """A study without scheme; each provider named in ``rows`` delivers one contact with that
    address. The study id."""
    study_id = f"avg-{uuid.uuid4().hex[:8]}"
    async with services.http() as http:
        (
            await http.post("/api/studies", json={"study_id": study_id, "name": "AVG"}, headers=ADMIN)
        ).raise_for_status()
        for provider, email in rows.items():
            await http.post("/api/providers", json={"provider_id": provider, "name": provider}, headers=ADMIN)
            enrolment = {"provider_id": provider, "services": ["3"]}
            (
                await http.post(f"/api/studies/{study_id}/enrolments", json=enrolment, headers=ADMIN)
            ).raise_for_status()
            delivered = await http.post(
                f"/api/studies/{study_id}/deliveries",
                params={"provider_id": provider},
                content=f"client_ref,name,email,service\nR1,Anna Smit,{email},3\n".encode(),
                headers=ADMIN | {"Content-Type": "text/csv"},
            )
            assert delivered.status_code == 201, delivered.text
    return study_id


async def lookup(services: Services, email: str, headers: dict[str, str] = ADMIN) -> httpx.Response:
    async with services.http() as http:
        return await http.post("/api/invitations/lookup", json={"email": email}, headers=headers)


async def test_a_person_who_gives_their_email_address_has_their_invitation_withdrawn(
    services: Services,
) -> None:
    tag = uuid.uuid4().hex[:8]
    await invite(services, {f"PA{tag}": f"anna.smit.{tag}@example.nl"})
    [found] = (await lookup(services, f"anna.smit.{tag}@example.nl")).json()
    invitation_id = found["invitation_id"]
    await eventually(lambda: services.responses_row(invitation_id))  # the link reached responses

    result = await services.withdraw(f"  Anna.Smit.{tag}@EXAMPLE.nl ")  # as the person writes it

    assert result.exit_code == 0, result.output
    assert f"{invitation_id}: nothing_to_withdraw" in result.output.splitlines()  # logs run here too
    assert (await services.responses_row(invitation_id))["withdrawn_at"] is not None


async def test_an_address_with_several_invitations_lists_them_and_withdraws_none(services: Services) -> None:
    tag = uuid.uuid4().hex[:8]
    email = f"twee.{tag}@example.nl"
    await invite(services, {f"PA{tag}": email, f"PB{tag}": email})
    ids = [i["invitation_id"] for i in (await lookup(services, email)).json()]

    result = await services.withdraw(email)

    assert result.exit_code == 1
    assert f"2 invitations were sent to {email}" in result.output
    assert all(i in result.output for i in ids) and len(ids) == 2
    for invitation_id in ids:
        row = await eventually(lambda i=invitation_id: services.responses_row(i))
        assert row["withdrawn_at"] is None


async def test_an_address_nobody_was_invited_with_says_so(services: Services) -> None:
    result = await services.withdraw(f"niemand.{uuid.uuid4().hex[:8]}@example.nl")
    assert result.exit_code == 1
    assert "No invitation was sent to niemand." in result.output


async def test_only_the_bureau_may_look_an_address_up(services: Services) -> None:
    tag = uuid.uuid4().hex[:8]
    await invite(services, {f"PA{tag}": f"geheim.{tag}@example.nl"})
    refused = await lookup(services, f"geheim.{tag}@example.nl", {"X-API-Key": "a-provider-key"})
    assert refused.status_code == 401
