"""UWV jobcoach periods through the real broker and PostgreSQL: the werknemer and the werkgever
of one jobcoach period answer, and ``scores.updated`` shows their grades on one row.

Each test uses its own study id; the module's scoring service is shared.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from services.scoring import app as scoring
from shared.events import Event, ResponseSubmitted, ScoresUpdatedPayload, encode_event, parse_event
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings
from tests.polling import eventually
from tests.seeds import Panel, jobcoach_answers, seed_001_events, seed_001_period
from tevreden.recompute import recompute

pytestmark = pytest.mark.integration

PERIOD = "0a1b2c3d4e5f6789"


@pytest.fixture(scope="module")
async def service(module_settings: MakeSettings) -> AsyncIterator[ServiceRuntime]:
    runtime = scoring.runtime(module_settings())
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
