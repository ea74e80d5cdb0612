"""Two and three replicas of every service; one replica of each killed (SIGKILL) mid-stream
and not started again: the others take over its partitions and its timers."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.faults.conftest import MakeStack
from tests.faults.harness import SERVICES, FaultStack, Scenario, deliver, run_until_settled
from tests.faults.invariants import assert_nothing_lost_nothing_twice

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(600)]


async def mid_stream(stack: FaultStack, scenario: Scenario) -> None:
    """Every contact delivered and some emails out, most responses still to come."""
    async with asyncio.timeout(240):
        while True:
            conn = await stack.db()
            try:
                invited = await conn.fetchval(
                    "SELECT count(*) FROM invitations.invitations WHERE study_id = $1", scenario.study_id
                )
            finally:
                await conn.close()
            if invited == scenario.contacts() and len(scenario.mine(stack.smtp.messages)) >= 40:
                return
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("replicas", [2, 3])
async def test_with_replicas_of_every_service_one_killed_mid_stream_nothing_is_lost_or_counted_twice(
    make_stack: MakeStack, replicas: int
) -> None:
    stack = make_stack()
    for service in SERVICES:
        stack.add(service, replicas)
    stack.start_all()
    await stack.wait_healthy(timeout=300)
    scenario = Scenario.small(f"replicas{replicas}")
    killed = []

    async def kill_one_of_each() -> None:
        await mid_stream(stack, scenario)
        for service in SERVICES:
            victim = stack.replica(service, replicas - 1)
            stack.kill(victim)
            killed.append(victim.name)

    async with httpx.AsyncClient(timeout=30) as http:
        killer = asyncio.create_task(kill_one_of_each())
        await deliver(http, stack, scenario)
        await run_until_settled(http, stack, scenario, within=300, step=lambda: _raise_from(killer))
        await killer
    assert len(killed) == len(SERVICES)
    await assert_nothing_lost_nothing_twice(stack, scenario, duplicates_allowed=True)
    stack.stop()


async def _raise_from(task: asyncio.Task[None]) -> None:
    if task.done():
        task.result()
