"""Each service killed with SIGKILL in the middle of its work, then started again.

SIGKILL: no shutdown hook runs, no round is finished, no offset committed, no outbox row
marked. What was committed before stays; what was not is done again, and counted once.
The one duplicate SMTP allows: emails the server accepted in the round the invitations
service died in, before it recorded them, go out again after the round's lease (same
Message-ID).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.faults.harness import FaultStack, Scenario, deliver, run_until_settled
from tests.faults.invariants import assert_nothing_lost_nothing_twice

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(240)]

Condition = Callable[[FaultStack, Scenario], Awaitable[bool]]


async def count(stack: FaultStack, sql: str, scenario: Scenario) -> int:
    conn = await stack.db()
    try:
        return int(await conn.fetchval(sql, scenario.study_id))
    finally:
        await conn.close()


async def invitations_mid_round(stack: FaultStack, scenario: Scenario) -> bool:
    """Every contact delivered, emails going out: some accepted, most not yet."""
    sent = len(scenario.mine(stack.smtp.messages))
    if not 30 <= sent < scenario.contacts() - 100:
        return False
    invited = await count(stack, "SELECT count(*) FROM invitations.invitations WHERE study_id = $1", scenario)
    return invited == scenario.contacts()


async def responses_mid_batch(stack: FaultStack, scenario: Scenario) -> bool:
    """Responses is taking in the issued invitations: some recorded, not all."""
    n = await count(stack, "SELECT count(*) FROM responses.invitations WHERE study_id = $1", scenario)
    return 0 < n < scenario.contacts()


async def scoring_mid_batch(stack: FaultStack, scenario: Scenario) -> bool:
    """Scoring is counting responses: some counted, most not yet."""
    n = await count(stack, "SELECT count(*) FROM scoring.responses WHERE study_id = $1", scenario)
    return 5 <= n < scenario.answering() // 2


async def reporting_mid_batch(stack: FaultStack, scenario: Scenario) -> bool:
    """Reporting has taken in snapshots while more are on their way."""
    taken = await count(stack, "SELECT count(*) FROM reporting.snapshots WHERE study_id = $1", scenario)
    counted = await count(stack, "SELECT count(*) FROM scoring.responses WHERE study_id = $1", scenario)
    return taken > 0 and counted < scenario.answering() // 2


async def kill_when(stack: FaultStack, scenario: Scenario, service: str, condition: Condition) -> None:
    """Poll ``condition`` every 20 ms; when it holds, SIGKILL the service and start it again."""
    async with asyncio.timeout(120):
        while not await condition(stack, scenario):
            await asyncio.sleep(0.02)
    replica = stack.replica(service)
    stack.kill(replica)
    stack.start(replica)


@pytest.mark.parametrize(
    ("service", "condition"),
    [
        ("invitations", invitations_mid_round),
        ("responses", responses_mid_batch),
        ("scoring", scoring_mid_batch),
        ("reporting", reporting_mid_batch),
    ],
)
async def test_a_service_killed_mid_batch_and_restarted_loses_nothing_and_counts_nothing_twice(
    stack: FaultStack, service: str, condition: Condition
) -> None:
    scenario = Scenario.small(f"kill-{service}")
    async with httpx.AsyncClient(timeout=30) as http:
        killer = asyncio.create_task(kill_when(stack, scenario, service, condition))
        await deliver(http, stack, scenario)
        await run_until_settled(http, stack, scenario, within=180, step=lambda: _raise_from(killer))
        await killer
    await stack.wait_healthy()
    checked = await assert_nothing_lost_nothing_twice(
        stack, scenario, duplicates_allowed=service == "invitations"
    )
    # Only the round in flight can be emailed twice, each copy under its own Message-ID.
    assert sum(checked.duplicates.values()) <= 2 * 50


async def _raise_from(task: asyncio.Task[None]) -> None:
    if task.done():
        task.result()  # a killer that failed (condition never met) fails the test
