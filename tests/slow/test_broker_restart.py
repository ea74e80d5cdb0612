"""The broker killed (SIGKILL) mid-wave and started again: every producer and consumer
connection drops mid-request, then comes back.

Two cases. The Kafka endpoint: a Tansu proxy in front of a memory broker is killed, so the
topics survive whatever the broker's storage. The broker itself: a durable Tansu (S3 storage on
a local S3 server, ``TansuBroker.start(durable=True)``) is killed and relaunched on the same
storage, and must come back with every message and committed offset (see docs/testing.md's
fault-injection section for what that needs from the consumers)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.faults.conftest import MakeStack
from tests.faults.harness import SERVICES, Scenario, deliver, run_until_settled
from tests.faults.invariants import assert_nothing_lost_nothing_twice
from tevreden.infra import TansuBroker, TansuProxy

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(900)]

# Tansu 0.6 on S3 answers a fetch whose object listing outlasts its max wait with no records,
# so the consumers must allow more than a listing takes on the (loaded) local S3 server.
DURABLE_SETTINGS = {"TEVREDEN_CONSUMER_FETCH_MAX_WAIT_MS": "2000"}


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


async def test_a_durable_broker_killed_mid_wave_and_relaunched_loses_nothing_and_counts_nothing_twice(
    make_stack: MakeStack,
) -> None:
    broker = TansuBroker.start(durable=True, ready_timeout=60)
    try:
        stack = make_stack(broker=broker, **DURABLE_SETTINGS)
        for service in SERVICES:
            stack.add(service)
        stack.start_all()
        await stack.wait_healthy(timeout=300)
        scenario = Scenario.small("durablekill")
        killed_pid: int | None = None

        async def kill_mid_wave() -> None:
            nonlocal killed_pid
            if (
                killed_pid is None
                and len(scenario.mine(stack.smtp.messages)) >= 60
                and len(scenario.answered) >= 10
            ):
                killed_pid = broker.pid
                broker.kill()
                await asyncio.sleep(3)  # down long enough for every client to notice
                broker.relaunch()  # on this (main) thread: the child must not die with a worker

        async with httpx.AsyncClient(timeout=30) as http:
            await deliver(http, stack, scenario)
            await run_until_settled(http, stack, scenario, within=420, step=kill_mid_wave)
        assert killed_pid is not None and broker.pid not in (None, killed_pid), "the broker was never killed"
        await assert_nothing_lost_nothing_twice(stack, scenario)
        stack.stop()
    finally:
        broker.stop()
