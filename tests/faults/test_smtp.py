"""The SMTP server says "later" (4xx), "never" (5xx), or nothing at all (silence)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.faults.harness import FaultStack, Scenario, deliver, run_until_settled
from tests.faults.invariants import assert_nothing_lost_nothing_twice
from tests.polling import DEADLINE

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(180)]


async def test_temporary_smtp_failures_are_retried_until_every_invitation_is_emailed_once(
    stack: FaultStack,
) -> None:
    scenario = Scenario.small("smtp4xx")
    attempts_before = stack.smtp.attempts
    stack.smtp.set_faults(["451 4.7.1 Try again later"] * 40)
    async with httpx.AsyncClient(timeout=30) as http:
        await deliver(http, stack, scenario)
        await run_until_settled(http, stack, scenario)
    checked = await assert_nothing_lost_nothing_twice(stack, scenario)
    assert stack.smtp.attempts - attempts_before >= checked.invitations + 40  # the refusals happened


async def test_a_permanent_smtp_refusal_leaves_the_net_sample_once_and_everyone_else_is_emailed_once(
    stack: FaultStack,
) -> None:
    scenario = Scenario.small("smtp5xx")
    stack.smtp.set_faults(["550 5.1.1 No such user"] * 5)
    async with httpx.AsyncClient(timeout=30) as http:
        await deliver(http, stack, scenario)
        await run_until_settled(http, stack, scenario)
    checked = await assert_nothing_lost_nothing_twice(stack, scenario)
    assert len(scenario.unreachable) == 5
    assert checked.invitations == scenario.contacts() - 5


async def test_a_silent_smtp_server_is_given_up_on_and_every_invitation_is_emailed_once_afterwards(
    stack: FaultStack,
) -> None:
    scenario = Scenario.small("smtpsilent")
    attempts_before = stack.smtp.attempts
    stack.smtp.set_silent(True)
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            await deliver(http, stack, scenario)
            # The mailer's connections hang on DATA until its timeout; keep it silent a while.
            async with asyncio.timeout(DEADLINE):
                while stack.smtp.attempts - attempts_before < 16:
                    await asyncio.sleep(0.2)
            await asyncio.sleep(3)
            stack.smtp.set_silent(False)
            await run_until_settled(http, stack, scenario)
    finally:
        stack.smtp.set_silent(False)
    await assert_nothing_lost_nothing_twice(stack, scenario)
