"""UWV jobcoach periods through the real broker, PostgreSQL and SMTP server: the werknemer and
the werkgever of one jobcoach period answer, and ``scores.updated`` shows their grades on one row;
a person with two periods is delivered, invited and counted once per period.

Each test uses its own study id; the module's scoring (and invitations) services are shared.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest

from services.invitations import app as invitations
from services.scoring import app as scoring
from shared.events import (
    Event,
    InvitationIssued,
    ResponseSubmitted,
    ScoresUpdatedPayload,
    encode_event,
    parse_event,
)
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings
from tests.polling import eventually
from tests.seeds import Panel, jobcoach_answers, seed_001_events, seed_001_period
from tevreden.infra import LocalInfra
from tevreden.recompute import recompute

pytestmark = pytest.mark.integration

PERIOD = "0a1b2c3d4e5f6789"


@pytest.fixture(scope="module")
async def service(module_settings: MakeSettings) -> AsyncIterator[ServiceRuntime]:
    runtime = scoring.runtime(module_settings())
    await runtime.start()
    yield runtime
    await runtime.stop()


@pytest.fixture(scope="module")
async def intake(module_settings: MakeSettings) -> AsyncIterator[ServiceRuntime]:
    runtime = invitations.runtime(module_settings())
    await runtime.start()
    yield runtime
    await runtime.stop()


async def publish(service: ServiceRuntime, events: Sequence[Event]) -> None:
    assert service.ctx is not None
    broker = service.ctx.broker
    acks = [
        await broker.publish(encode_event(e), e.topic, key=e.key.encode(), no_confirm=True) for e in events
    ]
    await asyncio.gather(*acks)


async def latest_snapshot(service: ServiceRuntime, study_id: str) -> ScoresUpdatedPayload | None:
    """The last ``scores.updated`` payload this service put in its outbox for a study."""
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT body FROM scoring.outbox WHERE topic = 'scores.updated' ORDER BY id DESC LIMIT 50"
        )
    for row in rows:
        payload = parse_event(bytes(row["body"])).payload
        if isinstance(payload, ScoresUpdatedPayload) and payload.study_id == study_id:
            return payload
    return None


async def snapshot_when(service: ServiceRuntime, study_id: str, periods: int) -> ScoresUpdatedPayload:
    async def probe() -> ScoresUpdatedPayload | None:
        found = await latest_snapshot(service, study_id)
        complete = found is not None and len(found.periods) == periods
        if complete and all(p.werknemer is not None and p.werkgever is not None for p in found.periods):
            return found
        return None

    return await eventually(probe)


async def test_the_werknemer_and_werkgever_of_one_period_make_one_row_in_scores_updated(
    service: ServiceRuntime,
) -> None:
    panel = Panel(f"kto-{uuid.uuid4().hex[:12]}", "uwv-jobcoach")
    employee = panel.invite("jc-oost", "all", "werknemer", "uwv-jobcoach-werknemer", jobcoach_period=PERIOD)
    employer = panel.invite("jc-oost", "all", "werkgever", "uwv-jobcoach-werkgever", jobcoach_period=PERIOD)

    await publish(service, [employee, employer])
    await publish(
        service,
        [
            panel.answer(employee, jobcoach_answers("werknemer", 7.5)),
            panel.answer(employer, jobcoach_answers("werkgever", 6.0)),
        ],
    )

    snapshot = await snapshot_when(service, panel.study_id, periods=1)
    [row] = snapshot.periods
    assert (row.period, row.werknemer, row.werkgever) == (PERIOD, 7.5, 6.0)


async def test_seed_001_periods_come_through_the_pipeline_and_the_recompute_gives_the_same(
    service: ServiceRuntime, tmp_path: Path
) -> None:
    panel = Panel(f"kto-{uuid.uuid4().hex[:12]}", "uwv-jobcoach")
    events = seed_001_events(panel, periods=True)
    await publish(service, events)

    snapshot = await snapshot_when(service, panel.study_id, periods=5)

    assert [(p.period, p.werknemer, p.werkgever) for p in snapshot.periods] == [
        (seed_001_period(0), 7, 7.5),
        (seed_001_period(1), 7.5, 7),
        (seed_001_period(2), 5.5, 7),
        (seed_001_period(3), 8, 8),
        (seed_001_period(4), 8, 6),
    ]
    assert (await recompute(service.settings.database_url, panel.study_id)).ok
    responses = tmp_path / "responses.jsonl"
    responses.write_text("\n".join(e.model_dump_json() for e in events if isinstance(e, ResponseSubmitted)))
    assert (await recompute(service.settings.database_url, panel.study_id, responses)).ok


async def test_a_withdrawn_form_leaves_its_side_of_the_period_empty(service: ServiceRuntime) -> None:
    panel = Panel(f"kto-{uuid.uuid4().hex[:12]}", "uwv-jobcoach")
    employee = panel.invite("jc-west", "all", "werknemer", "uwv-jobcoach-werknemer", jobcoach_period=PERIOD)
    employer = panel.invite("jc-west", "all", "werkgever", "uwv-jobcoach-werkgever", jobcoach_period=PERIOD)
    answers = [
        panel.answer(employee, jobcoach_answers("werknemer", 8.0)),
        panel.answer(employer, jobcoach_answers("werkgever", 7.0)),
    ]
    await publish(service, [employee, employer, *answers])
    await snapshot_when(service, panel.study_id, periods=1)

    await publish(service, [panel.withdraw(answers[1])])

    async def withdrawn() -> ScoresUpdatedPayload | None:
        found = await latest_snapshot(service, panel.study_id)
        return found if found is not None and found.periods and found.periods[0].werkgever is None else None

    snapshot = await eventually(withdrawn)
    assert [(p.werknemer, p.werkgever) for p in snapshot.periods] == [(8.0, None)]


# --- two periods per person, delivered in one file (seed 001) ---------------------------------

ADMIN = {"X-API-Key": "test-admin-key"}
# Seed 001's example: werknemer A at two employers, B twice at employer 1, C once; the grades of
# each period's werknemer and werkgever as the seed gives them.
SEED_001_ROWS = (
    ("A", "JC-1", "1", 7, 7.5),
    ("A", "JC-2", "2", 7.5, 7),
    ("B", "JC-3", "1", 5.5, 7),
    ("B", "JC-4", "1", 8, 8),
    ("C", "JC-5", "1", 8, 6),
)


async def jobcoach_study(intake: ServiceRuntime) -> tuple[str, str, str]:
    """A jobcoach study with one enrolled provider: (study, provider, the provider's key)."""
    tag = uuid.uuid4().hex[:8]
    study_id, provider_id = f"jc-{tag}", f"jc-noord-{tag}"
    async with intake_client(intake) as http:
        study = {"study_id": study_id, "name": "Jobcoach 2026", "scheme_id": "uwv-jobcoach", "year": 2026}
        (await http.post("/api/studies", json=study, headers=ADMIN)).raise_for_status()
        created = await http.post(
            "/api/providers", json={"provider_id": provider_id, "name": "Jobcoach Noord"}, headers=ADMIN
        )
        created.raise_for_status()
        enrolment = {"provider_id": provider_id, "recognition_date": "2019-04-15"}
        (
            await http.post(f"/api/studies/{study_id}/enrolments", json=enrolment, headers=ADMIN)
        ).raise_for_status()
    return study_id, provider_id, str(created.json()["api_key"])


def intake_client(intake: ServiceRuntime) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{intake.settings.port_for('invitations')}", timeout=60
    )


def seed_001_file(tag: str) -> str:
    """Seed 001 as one delivery: a werknemer row and a werkgever row per jobcoach period."""
    lines = ["client_ref,name,email,respondent_type,organisation,jobcoach_period,end_date"]
    for person, period, employer, _, _ in SEED_001_ROWS:
        lines.append(
            f"W{person},Werknemer {person},{person.lower()}-{tag}@example.nl,werknemer,,{period},2026-06-01"
        )
        lines.append(
            f"G{employer},Werkgever {employer},g{employer}-{tag}@example.nl,werkgever,"
            f"Werkgever {employer} BV,{period},2026-06-01"
        )
    return "\n".join(lines) + "\n"


async def mails_to(infra: LocalInfra, address: str, count: int) -> list[str]:
    """The plain text of the emails sent to ``address``, once there are ``count``."""

    async def probe() -> list[str] | None:
        texts = [
            m.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
            for m in infra.smtp.messages
            if m.message["To"] == address
        ]
        return texts if len(texts) >= count else None

    return await eventually(probe, within=60)


async def issued_in(intake: ServiceRuntime, study_id: str, count: int) -> list[InvitationIssued]:
    """The ``invitations.issued`` events of a study, once there are ``count``."""
    assert intake.ctx is not None
    pool = intake.ctx.pool

    async def probe() -> list[InvitationIssued] | None:
        async with pool.acquire() as conn:
            rows = await conn.fetch("SELECT body FROM invitations.outbox WHERE topic = 'invitations.issued'")
        events = [parse_event(bytes(r["body"])) for r in rows]
        found = [e for e in events if isinstance(e, InvitationIssued) and e.payload.study_id == study_id]
        return found if len(found) >= count else None

    return await eventually(probe)


async def test_two_periods_per_person_in_one_file_are_invited_and_counted_each_in_its_own_period(
    service: ServiceRuntime, intake: ServiceRuntime, infra: LocalInfra
) -> None:
    study_id, provider_id, key = await jobcoach_study(intake)
    tag = uuid.uuid4().hex[:8]
    async with intake_client(intake) as http:
        delivered = await http.post(
            f"/api/studies/{study_id}/deliveries",
            content=seed_001_file(tag).encode(),
            headers={"X-API-Key": key, "Content-Type": "text/csv"},
        )
    assert delivered.status_code == 201, delivered.text
    assert (delivered.json()["rows_accepted"], delivered.json()["problems"]) == (10, [])

    # Both of A's periods invited, each email naming its own employer and period.
    a_mails = await mails_to(infra, f"a-{tag}@example.nl", 2)
    assert sorted("bij Werkgever 1 BV (kenmerk JC-1" in t for t in a_mails) == [False, True]
    assert sorted("bij Werkgever 2 BV (kenmerk JC-2" in t for t in a_mails) == [False, True]
    employer_1 = await mails_to(infra, f"g1-{tag}@example.nl", 4)
    periods = ("JC-1", "JC-3", "JC-4", "JC-5")
    assert sorted(p for t in employer_1 for p in periods if f"kenmerk {p}," in t) == [
        "JC-1", "JC-3", "JC-4", "JC-5",
    ]  # fmt: skip

    # Each form answered with the seed's grade; the scoring counts each in its own period.
    assert intake.ctx is not None
    async with intake.ctx.pool.acquire() as conn:
        refs = await conn.fetch(
            "SELECT i.invitation_id, c.respondent_type, c.jobcoach_period FROM invitations.invitations i"
            " JOIN invitations.contacts c USING (contact_id) WHERE i.study_id = $1",
            study_id,
        )
    period_of = {r["invitation_id"]: (r["jobcoach_period"], r["respondent_type"]) for r in refs}
    grades = {(period, "werknemer"): w for _, period, _, w, _ in SEED_001_ROWS} | {
        (period, "werkgever"): g for _, period, _, _, g in SEED_001_ROWS
    }
    issued = await issued_in(intake, study_id, 10)
    panel = Panel(study_id, "uwv-jobcoach")
    answers = [
        panel.answer(
            i, jobcoach_answers(i.payload.respondent_type, grades[period_of[i.payload.invitation_id]])
        )
        for i in issued
    ]
    await publish(service, answers)

    snapshot = await snapshot_when(service, study_id, periods=5)
    assert sorted((p.werknemer, p.werkgever) for p in snapshot.periods) == sorted(
        (float(w), float(g)) for _, _, _, w, g in SEED_001_ROWS
    )
    assert provider_id == snapshot.provider_id
