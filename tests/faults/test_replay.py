"""Every consumed topic replayed from the start, while the services run, counts nothing twice."""

from __future__ import annotations

import httpx
import pytest

from tests.faults.harness import (
    CONSUMED_BY,
    FaultStack,
    Scenario,
    deliver,
    replay_topic,
    run_until_settled,
    wait_caught_up,
)
from tests.faults.invariants import assert_nothing_lost_nothing_twice

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(240)]


async def test_every_topic_replayed_from_the_start_changes_no_figure_and_sends_no_email(
    stack: FaultStack,
) -> None:
    scenario = Scenario.small("replay")
    async with httpx.AsyncClient(timeout=30) as http:
        await deliver(http, stack, scenario)
        await run_until_settled(http, stack, scenario)
    emails_before = len(stack.smtp.messages)
    skipped_before = await stack.metric(
        stack.replica("scoring"), "tevreden_events_duplicate_total", topic="responses.submitted"
    )
    topics = sorted({t for ts in CONSUMED_BY.values() for t in ts})
    replayed = {topic: await replay_topic(stack.broker.bootstrap_servers, topic) for topic in topics}
    await wait_caught_up(stack.broker.bootstrap_servers)
    # Every response of every scenario this stack ran came a second time, and was skipped.
    responses = sum(len(s.answered) for s in stack.settled)
    assert replayed["responses.submitted"] >= responses
    skipped = await stack.metric(
        stack.replica("scoring"), "tevreden_events_duplicate_total", topic="responses.submitted"
    )
    assert skipped - skipped_before >= responses
    assert len(stack.smtp.messages) == emails_before
    for earlier in stack.settled:
        await assert_nothing_lost_nothing_twice(stack, earlier)
