"""Poison events mid-wave: each goes to its topic's dead-letter topic, once per consumer
group, with the error, and everything around it on the same partition is counted once."""

from __future__ import annotations

import asyncio
import collections

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from shared.events import ReportPublished, ReportPublishedPayload, Topics, encode_event
from tests.faults.harness import FaultStack, Scenario, deliver, run_until_settled
from tests.faults.invariants import assert_nothing_lost_nothing_twice
from tests.polling import DEADLINE

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(180)]

# Every consumed topic and the consumer groups (services) that read it.
CONSUMED = {
    Topics.INVITATIONS_ISSUED: {"responses", "scoring"},
    Topics.INVITATIONS_UNDELIVERABLE: {"scoring"},
    Topics.RESPONSES_SUBMITTED: {"invitations", "scoring"},
    Topics.SCORES_UPDATED: {"reporting"},
}


def poisons(study_id: str, provider_id: str) -> list[bytes]:
    """Not JSON; JSON but no event; an event of this type missing its payload; another topic's event."""
    stray = ReportPublished(
        payload=ReportPublishedPayload(study_id=study_id, provider_id=provider_id, report_version=1)
    )
    return [
        b"\x00\xffnot json at all",
        b'{"hello": "world"}',
        b'{"type": "responses.submitted", "version": 1, "payload": {"study_id": "x"}}',
        encode_event(stray),
    ]


async def publish_poison(bootstrap: str, key: bytes, study_id: str, provider_id: str) -> int:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        sent = 0
        for topic in CONSUMED:
            for value in poisons(study_id, provider_id):
                await producer.send_and_wait(topic, value, key=key, headers=[("poison", b"1")])
                sent += 1
        return sent
    finally:
        await producer.stop()


async def dead_lettered(bootstrap: str, key: bytes, want: int) -> list[tuple[str, str, str]]:
    """(original topic, consumer group, error) of every dead letter with ``key``."""
    consumer = AIOKafkaConsumer(
        *[Topics.dlq(t) for t in CONSUMED], bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[tuple[str, str, str]] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while len(found) < want:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        if r.key == key:
                            h = {k: v.decode() for k, v in r.headers}
                            found.append((h["original-topic"], h["consumer-group"], h["error"]))
        await asyncio.sleep(1)  # anything beyond ``want`` would be a second dead letter
        batch = await consumer.getmany(timeout_ms=500)
        found += [("extra", "", "") for rs in batch.values() for r in rs if r.key == key]
    finally:
        await consumer.stop()
    return found


async def test_poison_events_are_dead_lettered_once_per_consumer_and_everything_else_counted_once(
    stack: FaultStack,
) -> None:
    scenario = Scenario.small("poison")
    provider = scenario.panel[0].provider_id
    key = provider.encode()
    injected = 0

    async def inject_once() -> None:
        nonlocal injected
        # Mid-wave: once the first emails are out, before everything is counted.
        if not injected and len(scenario.mine(stack.smtp.messages)) >= 20:
            injected = await publish_poison(stack.broker.bootstrap_servers, key, scenario.study_id, provider)

    async with httpx.AsyncClient(timeout=30) as http:
        await deliver(http, stack, scenario)
        await run_until_settled(http, stack, scenario, step=inject_once)
    assert injected == 4 * len(CONSUMED)
    await assert_nothing_lost_nothing_twice(stack, scenario)
    want = sum(len(groups) * 4 for groups in CONSUMED.values())
    letters = await dead_lettered(stack.broker.bootstrap_servers, key, want)
    assert len(letters) == want, letters
    per_group = collections.Counter((topic, group) for topic, group, _ in letters)
    assert per_group == {(t, g): 4 for t, groups in CONSUMED.items() for g in groups}
    assert all(error for _, _, error in letters)
    assert sum("malformed event" in e for _, _, e in letters) == want // 4 * 3
    assert sum("event type 'reports.published'" in e for _, _, e in letters) == want // 4
