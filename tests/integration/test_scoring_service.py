"""The scoring service on the real database and broker: the seeds' figures from raw events,
exactly once, withdrawals, and a recompute that must equal the incremental state.

Each test uses its own study id: the broker and the module's service are shared.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console

from services.scoring import app as scoring
from services.scoring import service as scoring_service
from shared.events import (
    Event,
    ProvinceCount,
    ResponseSubmitted,
    ScoresUpdatedPayload,
    encode_event,
    parse_event,
)
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings
from tests.polling import eventually
from tests.seeds import Panel, bow_client_answers, seed_000_events, seed_001_events
from tevreden.recompute import recompute, run_recompute

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def service(module_settings: MakeSettings) -> AsyncIterator[ServiceRuntime]:
    runtime = scoring.runtime(module_settings())
    await runtime.start()
    yield runtime
    await runtime.stop()


def new_study() -> str:
    return f"kto-{uuid.uuid4().hex[:12]}"


async def publish(service: ServiceRuntime, events: Sequence[Event]) -> None:
    """Publish without awaiting each ack, then await them all (as the outbox relay does)."""
    assert service.ctx is not None
    broker = service.ctx.broker
    acks = [
        await broker.publish(encode_event(e), e.topic, key=e.key.encode(), no_confirm=True) for e in events
    ]
    await asyncio.gather(*acks)


async def scores(service: ServiceRuntime, study_id: str) -> list[dict[str, Any]]:
    port = service.settings.port_for("scoring")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        admin = {"X-API-Key": service.settings.admin_api_key.get_secret_value()}
        response = await http.get(f"/api/studies/{study_id}/scores", headers=admin)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


async def scores_when(
    service: ServiceRuntime, study_id: str, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        found = await scores(service, study_id)
        return found if done(found) else None

    return await eventually(probe)


async def emitted(service: ServiceRuntime, study_id: str) -> list[ScoresUpdatedPayload]:
    """The ``scores.updated`` payloads this service put in its outbox for a study, in order."""
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        rows = await conn.fetch("SELECT body FROM scoring.outbox WHERE topic = 'scores.updated' ORDER BY id")
    payloads = [parse_event(bytes(r["body"])).payload for r in rows]
    return [p for p in payloads if isinstance(p, ScoresUpdatedPayload) and p.study_id == study_id]


async def recomputed(
    service: ServiceRuntime, study_id: str, file: Path | None = None
) -> scoring_service.Recomputed:
    return await recompute(service.settings.database_url, study_id, file)


async def consumed(service: ServiceRuntime, events: Sequence[Event]) -> bool:
    """True once every event's id is in the service's inbox (its batch committed)."""
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        seen = await conn.fetchval(
            "SELECT count(*) FROM scoring.inbox WHERE event_id = ANY($1::uuid[])",
            [e.event_id for e in events],
        )
    return bool(seen == len({e.event_id for e in events}))


def unit(snapshot: dict[str, Any], respondent_type: str, service_code: str | None = "9") -> dict[str, Any]:
    group = snapshot["units"] if service_code is not None else snapshot["totals"]
    [found] = [
        u for u in group if (u["respondent_type"], u["service_code"]) == (respondent_type, service_code)
    ]
    return found


async def test_seed_000_tabel_1_1_comes_from_raw_events_through_the_live_pipeline(
    service: ServiceRuntime,
) -> None:
    study = new_study()
    events = seed_000_events(Panel(study))

    await publish(service, events)

    [snapshot] = await scores_when(
        service, study, lambda s: bool(s) and (s[0]["net_sample"], s[0]["completed"]) == (43, 8)
    )
    await eventually(lambda: consumed(service, events))
    [snapshot] = await scores(service, study)
    clients, buyers = unit(snapshot, "client"), unit(snapshot, "opdrachtgever")
    assert (clients["net_sample"], clients["completed"], round(100 * clients["response_rate"], 1)) == (
        43,
        8,
        18.6,
    )
    assert (clients["grade"]["mean"], clients["published"]) == (8.5, False)
    assert (buyers["net_sample"], buyers["completed"], buyers["response_rate"]) == (1, 1, 1.0)
    assert (buyers["grade"]["mean"], buyers["published"]) == (7.5, True)
    [attention] = [s for s in clients["satisfaction"] if s["question_id"] == "aspect_attention"]
    assert [attention["percentages"][k] for k in ("zeer_tevreden", "tevreden", "zeer_ontevreden")] == [
        38,
        50,
        13,
    ]
    assert clients["promoter"]["score"] == 37.5
    assert (snapshot["mean_grade"], snapshot["scheme_id"], snapshot["norms"][0]["verdict"]) == (
        8.5,
        "bow",
        "met",
    )


async def test_seed_000_the_recompute_gives_the_same_figures_as_the_pipeline(service: ServiceRuntime) -> None:
    study = new_study()
    events = seed_000_events(Panel(study))
    await publish(service, events)
    await eventually(lambda: consumed(service, events))

    result = await recomputed(service, study)

    assert (result.ok, result.providers, result.responses) == (True, 1, 10)
    last = (await emitted(service, study))[-1]
    [served] = await scores(service, study)
    assert served == last.model_dump(mode="json")


async def test_seed_001_jobcoach_means_7_2_and_7_1_through_the_pipeline_and_the_recompute(
    service: ServiceRuntime,
) -> None:
    study = new_study()
    events = seed_001_events(Panel(study, "uwv-jobcoach"))
    await publish(service, events)
    await eventually(lambda: consumed(service, events))

    [snapshot] = await scores(service, study)

    assert unit(snapshot, "werknemer", None)["grade"]["mean"] == pytest.approx(7.2)
    assert unit(snapshot, "werkgever", None)["grade"]["mean"] == pytest.approx(7.1)
    assert [(n["rule"], n["verdict"]) for n in snapshot["norms"]] == [("per_respondent_type", "met")]
    assert (await recomputed(service, study)).ok


async def test_a_redelivered_event_is_counted_once(service: ServiceRuntime) -> None:
    panel = Panel(new_study())
    invitation = panel.invite("pluswerk")
    response = panel.answer(invitation, bow_client_answers(7))

    await publish(service, [invitation, invitation, response, response])
    await eventually(lambda: consumed(service, [invitation, response]))
    await publish(service, [invitation, response])
    fresh = panel.invite("pluswerk")
    await publish(service, [fresh])  # then one genuinely new
    await eventually(lambda: consumed(service, [fresh]))

    [figures] = await scores(service, panel.study_id)
    assert (figures["net_sample"], figures["completed"], figures["grade_sum"]) == (2, 1, 7.0)


async def test_a_withdrawn_response_is_subtracted_exactly(service: ServiceRuntime) -> None:
    panel = Panel(new_study())
    invitations = [panel.invite("pluswerk") for _ in range(3)]
    responses = [panel.answer(i, bow_client_answers(g)) for i, g in zip(invitations, (9, 6, 3), strict=True)]
    await publish(service, [*invitations, *responses])
    await eventually(lambda: consumed(service, [*invitations, *responses]))

    withdrawal = panel.withdraw(responses[2])
    await publish(service, [withdrawal, withdrawal])
    await eventually(lambda: consumed(service, [withdrawal]))

    [figures] = await scores(service, panel.study_id)
    assert (figures["net_sample"], figures["completed"], figures["mean_grade"]) == (3, 2, 7.5)
    assert unit(figures, "client")["grade"]["distribution"]["3"] == 0
    assert (await recomputed(service, panel.study_id)).ok
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        erased = await conn.fetchval(
            "SELECT answers IS NULL FROM scoring.responses WHERE response_id = $1",
            responses[2].payload.response_id,
        )
    assert erased


async def test_a_withdrawal_that_overtakes_its_response_keeps_it_from_ever_counting(
    service: ServiceRuntime,
) -> None:
    # The handlers called directly, as the consumers call them: one transaction per batch.
    assert service.ctx is not None
    panel = Panel(new_study())
    invitation = panel.invite("pluswerk")
    response = panel.answer(invitation, bow_client_answers(2))
    async with service.ctx.pool.acquire() as conn:
        for handler, batch in (
            (scoring_service.count_withdrawals, [panel.withdraw(response)]),
            (scoring_service.count_invitations, [invitation]),
            (scoring_service.count_responses, [response]),
        ):
            async with conn.transaction():
                await handler(conn, list(batch))

    [figures] = await scores(service, panel.study_id)
    assert (figures["net_sample"], figures["completed"]) == (1, 0)
    assert (await recomputed(service, panel.study_id)).ok


async def test_a_batch_emits_one_snapshot_per_provider_not_one_per_event(service: ServiceRuntime) -> None:
    assert service.ctx is not None
    panel = Panel(new_study())
    invitations = [panel.invite(f"provider-{n % 3}") for n in range(300)]
    async with service.ctx.pool.acquire() as conn, conn.transaction():
        await scoring_service.count_invitations(conn, list(invitations))
        await scoring_service.count_responses(
            conn, [panel.answer(i, bow_client_answers(8)) for i in invitations[:90]]
        )

    snapshots = await emitted(service, panel.study_id)
    assert [(s.provider_id, s.net_sample, s.completed) for s in snapshots] == [
        ("provider-0", 100, 0),
        ("provider-1", 100, 0),
        ("provider-2", 100, 0),
        ("provider-0", 100, 30),
        ("provider-1", 100, 30),
        ("provider-2", 100, 30),
    ]
    assert snapshots[3].benchmark[-1].completed == 90  # every provider's answers in the benchmark


async def test_snapshots_of_a_provider_are_ordered_by_their_moment(service: ServiceRuntime) -> None:
    panel = Panel(new_study())
    first = [panel.invite("werkfit")]
    await publish(service, first)
    await eventually(lambda: consumed(service, first))
    second = [panel.invite("werkfit")]
    await publish(service, second)
    await eventually(lambda: consumed(service, second))

    moments = [s.as_of for s in await emitted(service, panel.study_id)]
    assert len(moments) == 2 and moments[0] < moments[1]


async def test_the_recompute_names_an_aggregate_that_differs_and_exits_non_zero(
    service: ServiceRuntime, tmp_path: Path
) -> None:
    panel = Panel(new_study())
    events = seed_000_events(panel)
    await publish(service, events)
    await eventually(lambda: consumed(service, events))
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE scoring.unit_answers SET n = n + 1 WHERE study_id = $1 AND provider_id = 'pluswerk'"
            " AND question_id = 'aspect_attention' AND answer = 'tevreden'",
            panel.study_id,
        )

    output = tmp_path / "out.txt"
    with output.open("w") as f:
        code = await asyncio.to_thread(
            run_recompute, service.settings.database_url, panel.study_id, None, Console(file=f, width=200)
        )

    assert code == 1
    text = output.read_text()
    assert text.startswith("DIFFERENT") and "pluswerk / 9 / client" in text
    assert "aspect_attention" in text


async def test_the_recompute_from_a_responses_file_equals_the_pipeline(
    service: ServiceRuntime, tmp_path: Path
) -> None:
    panel = Panel(new_study())
    events = seed_000_events(panel)
    await publish(service, events)
    await eventually(lambda: consumed(service, events))
    responses = [e for e in events if isinstance(e, ResponseSubmitted)]
    complete, partial = tmp_path / "responses.jsonl", tmp_path / "missing-one.jsonl"
    complete.write_text("\n".join(r.payload.model_dump_json() for r in responses) + "\n")
    partial.write_text("\n".join(r.model_dump_json() for r in responses[1:]) + "\n")

    assert (await recomputed(service, panel.study_id, complete)).ok
    missing = await recomputed(service, panel.study_id, partial)
    assert not missing.ok and missing.responses == 9


async def test_a_refusal_a_complete_and_a_non_contact_give_the_aapor_rates_in_the_snapshot(
    service: ServiceRuntime,
) -> None:
    panel = Panel(new_study())
    refused, answered, unreached = (panel.invite("pluswerk") for _ in range(3))
    events: list[Event] = [
        refused,
        answered,
        unreached,
        panel.approach(refused, "refusal", "R"),
        panel.approach(unreached, "no_answer", "UH"),
        panel.approach(unreached, "answering_machine", "NC", attempt=2),
        panel.approach(answered, "no_answer", "UH"),
        panel.answer(answered, bow_client_answers(8)),
    ]

    await publish(service, events)

    await eventually(lambda: consumed(service, events))
    last = (await emitted(service, panel.study_id))[-1]
    d = next(u for u in last.units if u.respondent_type == "client").dispositions
    assert (d.complete, d.partial, d.refusal, d.non_contact, d.unknown_household) == (1, 0, 1, 1, 0)
    assert (d.rr1, d.rr2, d.coop1) == pytest.approx((1 / 3, 1 / 3, 1 / 2))
    assert (await recomputed(service, panel.study_id)).ok


async def test_an_opt_out_is_a_refusal_until_a_questionnaire_comes(service: ServiceRuntime) -> None:
    panel = Panel(new_study())
    invitation = panel.invite("pluswerk")
    opted_out = [invitation, panel.opt_out(invitation)]
    await publish(service, opted_out)
    await eventually(lambda: consumed(service, opted_out))
    assert unit(await scores_of(service, panel.study_id), "client")["dispositions"]["refusal"] == 1

    answered = [panel.answer(invitation, bow_client_answers(7))]
    await publish(service, answered)

    await eventually(lambda: consumed(service, answered))
    d = unit(await scores_of(service, panel.study_id), "client")["dispositions"]
    assert (d["complete"], d["refusal"], d["rr1"]) == (1, 0, 1.0)


async def scores_of(service: ServiceRuntime, study_id: str) -> dict[str, Any]:
    [snapshot] = await scores(service, study_id)
    return snapshot


async def test_under_load_a_provider_gets_one_snapshot_per_interval_and_always_the_last(
    service: ServiceRuntime,
) -> None:
    assert service.ctx is not None
    panel = Panel(new_study())
    batches = [[panel.invite("werkfit") for _ in range(3)] for _ in range(4)]
    policy = scoring_service.SNAPSHOTS
    saved = policy.backlog_from
    policy.backlog_from = 3  # a batch of 3 events counts as full: the consumer is behind
    try:
        for batch in batches:
            async with service.ctx.pool.acquire() as conn, conn.transaction():
                await scoring_service.count_invitations(conn, list(batch))

        async def last_state() -> list[ScoresUpdatedPayload] | None:
            found = await emitted(service, panel.study_id)
            return found if found and found[-1].net_sample == 12 else None

        snapshots = await eventually(last_state)
    finally:
        policy.backlog_from = saved

    # Four full batches in quick succession: one or two snapshots, the last with every count.
    assert 1 <= len(snapshots) <= 2
    moments = [s.as_of for s in snapshots]
    assert all((b - a).total_seconds() >= policy.debounce_seconds for a, b in itertools.pairwise(moments))


async def test_the_scores_api_answers_only_the_admin_key(service: ServiceRuntime) -> None:
    port = service.settings.port_for("scoring")
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        anonymous = await http.get("/api/studies/kto/scores")
        wrong = await http.get("/api/studies/kto/scores", headers={"X-API-Key": "not-the-key"})
    assert (anonymous.status_code, wrong.status_code) == (401, 401)


async def test_the_invited_clients_per_province_come_through_the_pipeline_most_first(
    service: ServiceRuntime,
) -> None:
    panel = Panel(new_study())
    events: list[Event] = [
        *(panel.invite("pluswerk", province="Zuid-Holland") for _ in range(3)),
        *(panel.invite("pluswerk", province="Utrecht") for _ in range(2)),
        panel.invite("pluswerk", province="Gelderland"),
        panel.invite("pluswerk"),  # no known postcode: in no province
        panel.invite("pluswerk", "9", "opdrachtgever", "bow-opdrachtgever", province="Limburg"),
    ]
    bounced = panel.invite("pluswerk", province="Gelderland")
    events += [panel.bounce(bounced), bounced]  # the bounce first: still invited from Gelderland

    await publish(service, events)

    await eventually(lambda: consumed(service, events))
    [snapshot] = await scores(service, panel.study_id)
    assert snapshot["provinces"] == [
        {"province": "Zuid-Holland", "invited": 3},
        {"province": "Gelderland", "invited": 2},
        {"province": "Utrecht", "invited": 2},
    ]
    assert (await emitted(service, panel.study_id))[-1].provinces == tuple(
        ProvinceCount.model_validate(p) for p in snapshot["provinces"]
    )
    assert (await recomputed(service, panel.study_id)).ok


async def test_the_recompute_names_a_province_count_that_differs_from_the_invitations(
    service: ServiceRuntime,
) -> None:
    panel = Panel(new_study())
    events = [panel.invite("pluswerk", province="Zeeland") for _ in range(2)]
    await publish(service, events)
    await eventually(lambda: consumed(service, events))
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        await conn.execute(
            "UPDATE scoring.province_counts SET invited = invited + 1 WHERE study_id = $1", panel.study_id
        )

    result = await recomputed(service, panel.study_id)

    assert (
        "pluswerk / client / Zeeland: kept 3 invitation(s) in the province, recomputed 2"
        in result.differences
    )
    assert any(line.startswith("pluswerk: provinces[0].invited") for line in result.differences)
