"""PostgreSQL killed under load and started again: on a server of the test's own (never the
machine's shared server), every process of it SIGKILLed at once mid-stream."""

from __future__ import annotations

import httpx
import pytest

from tests.faults.conftest import MakeStack
from tests.faults.harness import SERVICES, Scenario, deliver, run_until_settled
from tests.faults.invariants import assert_nothing_lost_nothing_twice
from tevreden.infra import LocalPostgres

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(600)]


async def test_postgres_killed_under_load_and_restarted_loses_nothing_and_counts_nothing_twice(
    make_stack: MakeStack,
) -> None:
    postgres = LocalPostgres.start(embedded=True, durable=True)
    try:
        stack = make_stack(postgres=postgres)
        for service in SERVICES:
            stack.add(service)
        stack.start_all()
        await stack.wait_healthy(timeout=300)
        scenario = Scenario.small("pgrestart")
        restarts = 0

        async def crash_mid_stream() -> None:
            nonlocal restarts
            if (
                not restarts
                and len(scenario.mine(stack.smtp.messages)) >= 60
                and len(scenario.answered) >= 10
            ):
                # On this (main) thread: the new server must not die with a worker thread.
                postgres.restart(crash=True)
                restarts += 1

        async with httpx.AsyncClient(timeout=30) as http:
            await deliver(http, stack, scenario)
            await run_until_settled(http, stack, scenario, within=300, step=crash_mid_stream)
        assert restarts == 1
        await assert_nothing_lost_nothing_twice(stack, scenario, duplicates_allowed=True)
        stack.stop()
    finally:
        postgres.stop()
