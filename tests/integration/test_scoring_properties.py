"""Property: whatever the order, duplication and batching of the events (approaches and
opt-outs among them), and whatever is withdrawn, the incremental aggregates in PostgreSQL
equal a recompute from the facts and the figures a reader expects from what really happened.

The handlers are called as the consumers call them (inbox first, one transaction per batch
and topic), on the real database, for random event orders made by hypothesis.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.scoring import service as scoring_service
from services.scoring import store
from services.scoring.domain import (
    INVITED,
    UnitKey,
    UnitTally,
    aggregate,
    approach_class,
    better_disposition,
    disposition_tally,
    figure_differences,
    final_disposition,
    providers_in,
    tally_differences,
)
from shared.consumer import claim_inbox
from shared.db import Connection, create_pool, migrate, migrations_dir
from shared.events import (
    AaporCode,
    ApproachOutcome,
    Event,
    InvitationIssued,
    Province,
    RespondentType,
    ResponseSubmitted,
)
from tests.conftest import MakeSettings
from tests.seeds import Panel, bow_client_answers, bow_opdrachtgever_answers

pytestmark = pytest.mark.integration

HANDLERS: dict[str, Callable[[Connection, list[Event]], Awaitable[None]]] = {
    "invitations.issued": scoring_service.count_invitations,
    "invitations.undeliverable": scoring_service.count_undeliverable,
    "responses.submitted": scoring_service.count_responses,
    "responses.withdrawn": scoring_service.count_withdrawals,
    "invitations.approached": scoring_service.count_approaches,
    "invitations.opted_out": scoring_service.count_opt_outs,
}
# Approaches as the invitations service reports them: email and post sent, calls with their class.
APPROACHES: tuple[tuple[ApproachOutcome, AaporCode | None], ...] = (
    ("sent", None),
    ("undeliverable", None),
    ("no_answer", "UH"),
    ("answering_machine", "NC"),
    ("wrong_number", "UO"),
    ("language_barrier", "O"),
    ("refusal", "R"),
    ("complete", "I"),
)


@pytest.fixture(scope="module")
async def pool(module_settings: MakeSettings) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(module_settings().database_url, 2)
    async with created.acquire() as conn:
        await migrate(conn, "scoring", migrations_dir("services.scoring"))
    yield created
    await created.close()


@dataclass(frozen=True)
class Person:
    """One invited person and what happened: approached, opted out, bounced, answered (usable
    or not), withdrew."""

    provider: str
    service: str
    respondent_type: RespondentType
    bounced: bool
    grade: int | None  # None: never answered
    usable: bool
    withdrew: bool
    approaches: list[tuple[ApproachOutcome, AaporCode | None]]
    opted_out: bool
    province: Province | None = None


people = st.builds(
    Person,
    provider=st.sampled_from(["pluswerk", "werkfit"]),
    service=st.sampled_from(["3", "9"]),
    respondent_type=st.sampled_from(["client", "client", "opdrachtgever"]),
    bounced=st.booleans(),
    grade=st.none() | st.integers(1, 10),
    usable=st.booleans(),
    withdrew=st.booleans(),
    approaches=st.lists(st.sampled_from(APPROACHES), max_size=3),
    opted_out=st.booleans(),
    province=st.sampled_from([None, "Utrecht", "Limburg", "Zeeland"]),
)


def fieldwork(study_id: str, persons: list[Person]) -> tuple[list[Event], dict[UnitKey, UnitTally]]:
    """Every event of the fieldwork, and the aggregates a reader expects from what happened."""
    panel = Panel(study_id)
    events: list[Event] = []
    expected: list[tuple[UnitKey, UnitTally]] = []
    for person in persons:
        buyer = person.respondent_type == "opdrachtgever"
        invitation: InvitationIssued = panel.invite(
            person.provider,
            person.service,
            person.respondent_type,
            "bow-opdrachtgever" if buyer else "bow-client-regular",
            province=person.province,
        )
        key = UnitKey(study_id, person.provider, person.service, person.respondent_type)
        events.append(invitation)
        expected.append((key, INVITED))
        # What a reader knows of the person's disposition: the best of every approach.
        approach: AaporCode | None = None
        if person.bounced:
            events.append(panel.bounce(invitation))
            expected.append((key, UnitTally(undeliverable=1)))
            approach = better_disposition(approach, "UO")
        for attempt, (outcome, aapor) in enumerate(person.approaches, 1):
            events.append(panel.approach(invitation, outcome, aapor, attempt=attempt))
            approach = better_disposition(approach, approach_class(outcome, aapor))
        if person.opted_out:
            events.append(panel.opt_out(invitation))
            approach = better_disposition(approach, "R")
        answered: AaporCode | None = None
        if person.grade is not None:
            answers = bow_opdrachtgever_answers(person.grade) if buyer else bow_client_answers(person.grade)
            response: ResponseSubmitted = panel.answer(invitation, answers, usable=person.usable)
            events.append(response)
            if person.withdrew:
                events.append(panel.withdraw(response))
            else:
                expected.append((key, scoring_service.kept(response.payload).tally()))
                answered = "I" if person.usable else "P"
        expected.append((key, disposition_tally(final_disposition(approach, answered))))
    return events, aggregate(expected)


def provinces_of(persons: list[Person]) -> dict[str, list[dict[str, object]]]:
    """What the summary page shows: per provider the invited clients per province, most first."""
    counts: dict[str, Counter[str]] = {}
    for person in persons:
        if person.respondent_type == "client" and person.province is not None:
            counts.setdefault(person.provider, Counter())[person.province] += 1
    return {
        provider: [
            {"province": p, "invited": n}
            for p, n in sorted(found.items(), key=lambda item: (-item[1], item[0]))
        ]
        for provider, found in counts.items()
    }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    persons=st.lists(people, min_size=1, max_size=12),
    order=st.randoms(use_true_random=False),
    duplicates=st.lists(st.integers(0, 1000), max_size=6),
    batch_sizes=st.lists(st.integers(1, 8), min_size=1, max_size=8),
)
async def test_incremental_aggregates_and_dispositions_equal_the_recompute_in_any_order_with_duplicates(
    pool: asyncpg.Pool,
    persons: list[Person],
    order: object,
    duplicates: list[int],
    batch_sizes: list[int],
) -> None:
    study = f"prop-{uuid.uuid4().hex[:12]}"
    events, expected = fieldwork(study, persons)
    # Redeliveries (the same event again) and re-sent facts (the same fact in a new event).
    for n, index in enumerate(duplicates):
        again = events[index % len(events)]
        events.append(again if n % 2 else again.model_copy(update={"event_id": uuid.uuid4()}))
    order.shuffle(events)  # type: ignore[attr-defined]

    position, size = 0, 0
    async with pool.acquire() as conn:
        while position < len(events):
            size = batch_sizes[size % len(batch_sizes)]
            batch = events[position : position + size]
            position += size
            for topic in sorted({e.topic for e in batch}, key=lambda t: hash((t, position))):
                async with conn.transaction():
                    fresh = await claim_inbox(conn, "scoring", topic, [e for e in batch if e.topic == topic])
                    if fresh:
                        await HANDLERS[topic](conn, fresh)

        kept = await store.study_units(conn, study)
        result = await scoring_service.recompute_study(conn, study)
        # The snapshots from the tallies the batches remembered equal those read from scratch.
        providers = [p for p in providers_in(kept.tallies) if p.provider_id]
        remembered = await scoring_service.snapshot_trees(conn, providers)
        scoring_service.forget_remembered()
        read_back = await scoring_service.snapshot_trees(conn, providers)

    assert result.differences == []
    assert tally_differences(expected, kept.tallies) == []
    for mine, theirs in zip(remembered, read_back, strict=True):
        assert figure_differences({**theirs, "as_of": None}, {**mine, "as_of": None}) == []
    expected_provinces = provinces_of(persons)
    for tree in read_back:
        assert tree.get("provinces", []) == expected_provinces.get(tree["provider_id"], [])
