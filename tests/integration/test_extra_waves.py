"""The bureau's extra wave and the mailer's counters, on the real database, broker and SMTP server.

The study has no scheme and no reminders, so each person's plan is over once their invitation
is sent: they are who an extra wave is for.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from services.invitations import app as invitations
from shared.events import ResponseSubmitted, ResponseSubmittedPayload, Topics, encode_event, utc_now
from shared.runtime import ServiceRuntime
from shared.tokens import invitation_token
from tests.conftest import MakeSettings
from tests.ops_config import INVITATIONS_ONLY, exposed_name
from tests.polling import eventually
from tevreden.infra import LocalInfra
from tevreden.status import run_extra_wave

pytestmark = pytest.mark.integration
ADMIN = {"X-API-Key": "test-admin-key"}
HEADER = "client_ref,name,email,service\n"
STUDY_NAME = "Klanttevredenheid Blik op Werk 2026"


@pytest.fixture(scope="module")
async def service(module_settings: MakeSettings) -> AsyncIterator[ServiceRuntime]:
    settings = module_settings(
        max_reminders=0,
        smtp_retry_after_seconds=0.2,
        smtp_timeout_seconds=2.0,
        email_rate_per_second=0.0,
        metrics_poll_seconds=0.2,
    )
    port = settings.port_for("invitations")
    runtime = invitations.runtime(
        settings.model_copy(update={"invitations_public_url": f"http://127.0.0.1:{port}"})
    )
    await runtime.start()
    yield runtime
    await runtime.stop()


def http(service: ServiceRuntime) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{service.settings.port_for('invitations')}", timeout=30
    )


class Panel:
    """A study without scheme, its providers and their people (one email address each)."""

    def __init__(self, service: ServiceRuntime) -> None:
        self.service = service
        self.study_id = f"x-{uuid.uuid4().hex[:8]}"
        self.tag = uuid.uuid4().hex[:8]

    def address(self, ref: str) -> str:
        return f"{ref.lower()}-{self.tag}@example.nl"

    async def create(self, providers: dict[str, list[str]]) -> None:
        async with http(self.service) as client:
            (
                await client.post(
                    "/api/studies", json={"study_id": self.study_id, "name": STUDY_NAME}, headers=ADMIN
                )
            ).raise_for_status()
            for provider, refs in providers.items():
                await client.post(
                    "/api/providers", json={"provider_id": provider, "name": provider}, headers=ADMIN
                )
                (
                    await client.post(
                        f"/api/studies/{self.study_id}/enrolments",
                        json={"provider_id": provider, "services": ["3"]},
                        headers=ADMIN,
                    )
                ).raise_for_status()
                rows = "".join(f"{ref},{ref},{self.address(ref)},3\n" for ref in refs)
                delivered = await client.post(
                    f"/api/studies/{self.study_id}/deliveries",
                    params={"provider_id": provider},
                    content=(HEADER + rows).encode(),
                    headers=ADMIN | {"Content-Type": "text/csv"},
                )
                assert delivered.status_code == 201, delivered.text

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        ctx = self.service.ctx
        assert ctx is not None
        async with ctx.pool.acquire() as conn:
            return list(await conn.fetch(sql, *args))

    async def invitation(self, ref: str) -> uuid.UUID:
        (row,) = await self.fetch(
            "SELECT i.invitation_id FROM invitations.invitations i"
            " JOIN invitations.contacts c USING (contact_id) WHERE c.study_id = $1 AND c.client_ref = $2",
            self.study_id,
            ref,
        )
        found: uuid.UUID = row["invitation_id"]
        return found

    async def statuses(self) -> dict[str, str]:
        rows = await self.fetch(
            "SELECT c.client_ref, i.status FROM invitations.invitations i JOIN invitations.contacts c"
            " USING (contact_id) WHERE c.study_id = $1",
            self.study_id,
        )
        return {r["client_ref"]: r["status"] for r in rows}

    async def responds(self, ref: str, provider: str) -> None:
        ctx = self.service.ctx
        assert ctx is not None
        event = ResponseSubmitted(
            payload=ResponseSubmittedPayload(
                response_id=uuid.uuid4(),
                invitation_id=await self.invitation(ref),
                study_id=self.study_id,
                provider_id=provider,
                service_code="3",
                questionnaire_id="minimal-v1",
                questionnaire_version=1,
                mode="web",
                answers={},
                usable=True,
                submitted_at=utc_now(),
            )
        )
        await ctx.broker.publish(encode_event(event), Topics.RESPONSES_SUBMITTED, key=provider.encode())

    async def opts_out(self, ref: str) -> None:
        secret = self.service.settings.token_secret.get_secret_value().encode()
        token = invitation_token(secret, await self.invitation(ref))
        async with http(self.service) as client:
            asked = await client.get(f"/afmelden/{token}")
            done = await client.post(f"/afmelden/{token}")
        done.raise_for_status()
        # The opt-out pages name the study and say what stops.
        assert STUDY_NAME in asked.text and "wij bellen u niet meer" in asked.text
        assert "U bent afgemeld" in done.text and STUDY_NAME in done.text


def mails(infra: LocalInfra, panel: Panel, ref: str) -> list[str]:
    to = panel.address(ref)
    return [str(m.message["Message-ID"]) for m in infra.smtp.messages if m.message["To"] == to]


def counts(infra: LocalInfra, panel: Panel, refs: list[str]) -> dict[str, int]:
    return {ref: len(mails(infra, panel, ref)) for ref in refs}


async def extra_wave(service: ServiceRuntime, study_id: str, body: dict[str, Any]) -> httpx.Response:
    async with http(service) as client:
        return await client.post(f"/api/studies/{study_id}/extra-waves", json=body, headers=ADMIN)


async def test_an_extra_reminder_reaches_each_non_respondent_of_the_chosen_providers_once(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    panel = Panel(service)
    a, b = f"PA{panel.tag}", f"PB{panel.tag}"
    everyone = ["A1", "A2", "A3", "A4", "B1", "B2"]
    await panel.create({a: ["A1", "A2", "A3", "A4"], b: ["B1", "B2"]})
    await eventually(lambda: _all(panel, "done", everyone))
    await panel.responds("A1", a)
    await panel.opts_out("A2")
    await eventually(lambda: _status(panel, {"A1": "responded", "A2": "opted_out"}))
    assert counts(infra, panel, everyone) == dict.fromkeys(everyone, 1)

    body = {"kind": "reminder", "providers": [a], "wave_key": f"wave-{panel.tag}"}
    first = await extra_wave(service, panel.study_id, body)
    assert first.status_code == 201, first.text
    assert first.json()["approached"] == 2
    assert first.json()["per_provider"][a] == {"email": 2, "skipped_responded": 1, "skipped_opted_out": 1}

    await eventually(lambda: _all(panel, "done", ["A3", "A4"], received=(infra, 2)))
    again = await extra_wave(service, panel.study_id, body)
    assert again.status_code == 200 and again.json()["repeated"] is True
    assert again.json()["approached"] == 2
    await asyncio.sleep(2.0)  # the schedulers poll every 0.1 s: anything wrongly due would go now

    assert counts(infra, panel, everyone) == {"A1": 1, "A2": 1, "A3": 2, "A4": 2, "B1": 1, "B2": 1}
    first_id, extra_id = mails(infra, panel, "A3")
    assert first_id != extra_id  # a new Message-ID: attempt 2
    reminder = next(m.message for m in infra.smtp.messages if m.message["Message-ID"] == extra_id)
    assert ".2@" in extra_id and reminder["Subject"] is not None
    approaches = await panel.fetch(
        "SELECT mode, attempt, outcome FROM invitations.approaches WHERE invitation_id = $1 ORDER BY attempt",
        await panel.invitation("A3"),
    )
    assert [(r["mode"], r["attempt"], r["outcome"]) for r in approaches] == [
        ("email", 1, "sent"),
        ("email", 2, "sent"),
    ]


async def test_a_wave_key_used_for_another_wave_is_refused(service: ServiceRuntime) -> None:
    panel = Panel(service)
    a, b = f"PA{panel.tag}", f"PB{panel.tag}"
    await panel.create({a: [], b: []})
    key = f"wave-{panel.tag}"
    assert (
        await extra_wave(service, panel.study_id, {"kind": "reminder", "providers": [a], "wave_key": key})
    ).status_code == 201
    other = await extra_wave(service, panel.study_id, {"kind": "phone", "providers": [a], "wave_key": key})
    assert other.status_code == 409
    unknown = await extra_wave(
        service, panel.study_id, {"kind": "reminder", "providers": ["NOPE"], "wave_key": key + "x"}
    )
    assert unknown.status_code == 422 and "NOPE" in unknown.text


async def test_the_ops_form_needs_the_admin_key_and_is_idempotent(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    panel = Panel(service)
    a = f"PA{panel.tag}"
    await panel.create({a: ["C1"]})
    await eventually(lambda: _all(panel, "done", ["C1"]))
    form = {"kind": "reminder", "providers": a, "wave_key": f"form-{panel.tag}"}
    async with http(service) as client:
        refused = await client.post(
            f"/ops/studies/{panel.study_id}/extra-waves", data=form | {"api_key": "wrong"}
        )
        assert refused.status_code == 401
        done = await client.post(
            f"/ops/studies/{panel.study_id}/extra-waves", data=form | {"api_key": "test-admin-key"}
        )
        assert done.status_code == 201 and "approached in total" in done.text
        repeat = await client.post(
            f"/ops/studies/{panel.study_id}/extra-waves", data=form | {"api_key": "test-admin-key"}
        )
        assert repeat.status_code == 200 and "already done" in repeat.text
    await eventually(lambda: _has(infra, panel, "C1", 2))
    await asyncio.sleep(1.0)
    assert counts(infra, panel, ["C1"]) == {"C1": 2}


async def test_emails_are_counted_sent_deferred_and_bounced(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    panel = Panel(service)
    before = await email_counts(service)
    infra.smtp.set_faults(["451 4.7.1 Try again later", "550 5.1.1 No such user"])
    await panel.create({f"PA{panel.tag}": ["D1", "D2"]})

    async def settled() -> bool:
        return sorted((await panel.statuses()).values()) == ["done", "undeliverable"]

    await eventually(settled)

    async def counted() -> dict[str, float] | None:
        now = await email_counts(service)
        delta = {k: now[k] - before.get(k, 0.0) for k in now}
        return delta if delta.get("sent") == 1 else None

    delta = await eventually(counted)
    assert delta == {"sent": 1.0, "deferred": 1.0, "bounced": 1.0}


async def test_wave_progress_is_on_metrics(service: ServiceRuntime) -> None:
    panel = Panel(service)
    await panel.create({f"PA{panel.tag}": ["E1", "E2"]})
    await eventually(lambda: _all(panel, "done", ["E1", "E2"]))

    async def sent() -> float | None:
        text = await scrape(service)
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name == "tevreden_wave_progress" and s.labels == {
                    "study": panel.study_id,
                    "wave": "plan",
                    "mode": "email",
                    "state": "sent",
                }:
                    return s.value if s.value == 2 else None
        return None

    assert await eventually(sent) == 2


async def scrape(service: ServiceRuntime) -> str:
    async with http(service) as client:
        response = await client.get("/metrics")
    response.raise_for_status()
    return response.text


async def email_counts(service: ServiceRuntime) -> dict[str, float]:
    found: dict[str, float] = {}
    for family in text_string_to_metric_families(await scrape(service)):
        for s in family.samples:
            if s.name == "tevreden_emails_total":
                found[s.labels["outcome"]] = s.value
    return found


async def _all(
    panel: Panel, status: str, refs: list[str], received: tuple[LocalInfra, int] | None = None
) -> bool:
    found = await panel.statuses()
    if any(found.get(ref) != status for ref in refs):
        return False
    return received is None or all(len(mails(received[0], panel, ref)) >= received[1] for ref in refs)


async def _status(panel: Panel, wanted: dict[str, str]) -> bool:
    found = await panel.statuses()
    return all(found.get(ref) == status for ref, status in wanted.items())


async def _has(infra: LocalInfra, panel: Panel, ref: str, n: int) -> bool:
    return len(mails(infra, panel, ref)) >= n


async def test_tevreden_extra_wave_sends_for_named_providers_and_a_repeat_on_the_same_day_sends_nothing(
    service: ServiceRuntime, infra: LocalInfra
) -> None:
    panel = Panel(service)
    a = f"PA{panel.tag}"
    await panel.create({a: ["F1"]})
    await eventually(lambda: _all(panel, "done", ["F1"]))
    url = f"http://127.0.0.1:{service.settings.port_for('invitations')}"

    def run() -> tuple[int, str]:
        console = Console(record=True, width=200)
        code = run_extra_wave(
            study=panel.study_id,
            kind="reminder",
            providers=a,
            wave_key=None,
            invitations_url=url,
            scoring_url="http://127.0.0.1:9",  # not asked: the providers are named
            api_key="test-admin-key",
            console=console,
        )
        return code, console.export_text()

    code, text = await asyncio.to_thread(run)
    assert code == 0 and "1 people approached" in text
    code, text = await asyncio.to_thread(run)
    assert code == 0 and "done before" in text
    await eventually(lambda: _has(infra, panel, "F1", 2))
    await asyncio.sleep(1.0)
    assert counts(infra, panel, ["F1"]) == {"F1": 2}


async def test_every_invitations_metric_the_dashboard_and_alerts_read_is_exposed(
    service: ServiceRuntime,
) -> None:
    panel = Panel(service)
    await panel.create({f"PA{panel.tag}": ["G1"]})

    async def exposed() -> set[str] | None:
        names = {
            exposed_name(s.name)
            for f in text_string_to_metric_families(await scrape(service))
            for s in f.samples
        }
        return names if "tevreden_wave_progress" in names else None

    names = await eventually(exposed)
    assert names >= INVITATIONS_ONLY
    assert "tevreden_emails_total" in names
