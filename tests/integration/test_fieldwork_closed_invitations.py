"""Fieldwork that ends, at the invitations service, on the real database, broker and SMTP server:
once ``reports.fieldwork_closed`` arrives, nobody of the study is approached again (no reminder,
no call task handed out) and deliveries and extra waves are refused with 409; another study goes
on as before.

A plan day lasts 2 s here, so Blik op Werk's email reminder (after 7 days) falls due 14 s after
the invitation.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import httpx
import pytest

from services.invitations import app as invitations
from shared.events import FieldworkClosed, FieldworkClosedPayload, Topics, encode_event, utc_now
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings
from tests.polling import eventually
from tevreden.infra import LocalInfra

pytestmark = pytest.mark.integration
ADMIN = {"X-API-Key": "test-admin-key"}
CALLCENTRE = {"X-API-Key": "test-callcentre-key"}
HEADER = "client_ref,name,email,phone,service\n"


@pytest.fixture(scope="module")
async def service(
    module_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceRuntime]:
    settings = module_settings(
        wave_day_seconds=2.0,
        smtp_retry_after_seconds=0.2,
        smtp_timeout_seconds=1.0,
        email_rate_per_second=0.0,
        calling_hours_apply=False,
        callcentre_api_key=CALLCENTRE["X-API-Key"],
        letter_dir=tmp_path_factory.mktemp("closed") / "letters",
    )
    public = f"http://127.0.0.1:{settings.port_for('invitations')}"
    runtime = invitations.runtime(settings.model_copy(update={"invitations_public_url": public}))
    await runtime.start()
    yield runtime
    await runtime.stop()


class Study:
    """A BoW study with one provider (phone option on); Eva has email, Piet only a phone."""

    def __init__(self, service: ServiceRuntime) -> None:
        self.service = service
        self.study_id = f"bow-{uuid.uuid4().hex[:8]}"
        self.provider_id = f"P{uuid.uuid4().hex[:8]}"
        self.email = f"eva-{uuid.uuid4().hex[:8]}@example.nl"

    @property
    def http(self) -> httpx.AsyncClient:
        port = self.service.settings.port_for("invitations")
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)

    async def start(self) -> None:
        async with self.http as http:
            (
                await http.post(
                    "/api/studies",
                    json={"study_id": self.study_id, "name": "BoW", "scheme_id": "bow", "year": 2026},
                    headers=ADMIN,
                )
            ).raise_for_status()
            (
                await http.post(
                    "/api/providers", json={"provider_id": self.provider_id, "name": "Werkt"}, headers=ADMIN
                )
            ).raise_for_status()
            enrolment = {"provider_id": self.provider_id, "services": ["3"], "phone_option": True}
            (
                await http.post(f"/api/studies/{self.study_id}/enrolments", json=enrolment, headers=ADMIN)
            ).raise_for_status()
        response = await self.deliver(f"E1,Eva,{self.email},,3\nP1,Piet,,0612345678,3\n")
        assert response.status_code == 201, response.text

    async def deliver(self, rows: str) -> httpx.Response:
        async with self.http as http:
            return await http.post(
                f"/api/studies/{self.study_id}/deliveries",
                params={"provider_id": self.provider_id},
                content=(HEADER + rows).encode(),
                headers=ADMIN | {"Content-Type": "text/csv"},
            )

    async def fetchval(self, sql: str, *args: Any) -> Any:
        ctx = self.service.ctx
        assert ctx is not None
        async with ctx.pool.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def open_call_tasks(self) -> int:
        found: int = await self.fetchval(
            "SELECT count(*) FROM invitations.call_tasks WHERE study_id = $1 AND state = 'open'",
            self.study_id,
        )
        return found

    def emails(self, infra: LocalInfra) -> int:
        return sum(1 for m in infra.smtp.messages if m.message["To"] == self.email)

    async def next_calls(self) -> list[dict[str, Any]]:
        """The tasks the callcentre is handed now, of every study (they are leased to agent-1)."""
        async with self.http as http:
            response = await http.post(
                "/api/calls/next", json={"agent_id": "agent-1", "limit": 50}, headers=CALLCENTRE
            )
        response.raise_for_status()
        tasks: list[dict[str, Any]] = response.json()["tasks"]
        return tasks

    async def close(self) -> None:
        """What the reporting service publishes when the bureau closes the study's fieldwork;
        returns once the invitations service has taken it in."""
        ctx = self.service.ctx
        assert ctx is not None
        event = FieldworkClosed(payload=FieldworkClosedPayload(study_id=self.study_id, closed_at=utc_now()))
        await ctx.broker.publish(encode_event(event), Topics.REPORTS_FIELDWORK_CLOSED, key=event.key.encode())
        await eventually(self.is_closed)

    async def is_closed(self) -> bool:
        closed: bool = await self.fetchval(
            "SELECT EXISTS (SELECT 1 FROM invitations.closed_studies WHERE study_id = $1)", self.study_id
        )
        return closed


async def invited(service: ServiceRuntime, infra: LocalInfra) -> Study:
    """A study whose invitation email went out and whose phone-only person has an open call task."""
    study = Study(service)
    await study.start()
    await eventually(lambda: _holds(study.emails(infra) == 1))
    await eventually(lambda: _holds_async(study.open_call_tasks(), 1))
    return study


async def _holds(condition: bool) -> bool:
    return condition


async def _holds_async(count: Awaitable[int], at_least: int) -> bool:
    return await count >= at_least


async def test_closed_fieldwork_stops_the_reminders_and_the_calls_of_that_study_only(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    closed = await invited(service, infra)
    await closed.close()
    assert await closed.open_call_tasks() == 0
    assert closed.study_id not in {t["study_id"] for t in await closed.next_calls()}
    other = await invited(service, infra)
    # The other study's reminder, due later than the closed one's would be, arrives; that one never.
    await eventually(lambda: _holds(other.emails(infra) >= 2))
    assert closed.emails(infra) == 1
    handed_out = {t["study_id"] for t in await closed.next_calls()}  # one agent asks for all open tasks
    assert other.study_id in handed_out and closed.study_id not in handed_out


async def test_a_delivery_to_a_closed_study_is_refused_with_409(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    study = await invited(service, infra)
    await study.close()
    response = await study.deliver("E2,Els,,0612345679,3\n")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "veldwerk" in detail and "gesloten" in detail and "fieldwork" in detail and "deliveries" in detail
    assert (
        await study.fetchval("SELECT count(*) FROM invitations.contacts WHERE study_id = $1", study.study_id)
        == 2
    )  # Els was not stored


async def test_an_extra_wave_for_a_closed_study_is_refused_with_409(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    study = await invited(service, infra)
    await study.close()
    async with study.http as http:
        response = await http.post(
            f"/api/studies/{study.study_id}/extra-waves",
            json={"kind": "reminder", "providers": [study.provider_id], "wave_key": uuid.uuid4().hex},
            headers=ADMIN,
        )
    assert response.status_code == 409
    assert "extra rondes" in response.json()["detail"] and "extra waves" in response.json()["detail"]
