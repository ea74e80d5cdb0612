"""Outbox, inbox and dead-letter topics on the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer

from shared.events import InvitationIssued, InvitationIssuedPayload, Topics, encode_event
from shared.outbox import add_to_outbox
from shared.runtime import ServiceContext, ServiceRuntime
from tests.conftest import MakeSettings
from tests.integration import probe_service
from tests.polling import DEADLINE, eventually

pytestmark = pytest.mark.integration


def issued(study_id: str, provider_id: str) -> InvitationIssued:
    return InvitationIssued(
        payload=InvitationIssuedPayload(
            invitation_id=uuid.uuid4(),
            study_id=study_id,
            provider_id=provider_id,
            service_code="3",
            questionnaire_id="minimal-v1",
            token_hash=secrets.token_hex(32),
        )
    )


@pytest.fixture
async def probe(make_settings: MakeSettings) -> AsyncIterator[ServiceRuntime]:
    runtime = probe_service.runtime(make_settings())
    await runtime.start()
    yield runtime
    await runtime.stop()


async def handled(ctx: ServiceContext, invitation_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT invitation_id FROM probe.handled WHERE invitation_id = ANY($1::uuid[])", invitation_ids
        )
    return [r["invitation_id"] for r in rows]


async def dead_letters(bootstrap: str, key: bytes, count: int) -> list[tuple[bytes, dict[str, bytes]]]:
    consumer = AIOKafkaConsumer(
        Topics.dlq(Topics.INVITATIONS_ISSUED), bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[tuple[bytes, dict[str, bytes]]] = []
    try:
        async with asyncio.timeout(DEADLINE):
            while len(found) < count:
                batch = await consumer.getmany(timeout_ms=500)
                found += [(r.value, dict(r.headers)) for rs in batch.values() for r in rs if r.key == key]
    finally:
        await consumer.stop()
    return found


async def test_a_malformed_event_goes_to_the_dead_letter_topic_and_the_partition_moves_on(
    probe: ServiceRuntime,
) -> None:
    ctx = probe.ctx
    assert ctx is not None
    provider = f"prov-{uuid.uuid4().hex[:8]}"
    good = issued("s1", provider)
    await ctx.broker.publish(
        b'{"type": "invitations.issued", "nonsense": 1}', Topics.INVITATIONS_ISSUED, key=provider.encode()
    )
    await ctx.broker.publish(encode_event(good), Topics.INVITATIONS_ISSUED, key=provider.encode())
    await eventually(lambda: _has(ctx, [good.payload.invitation_id]))
    [(value, headers)] = await dead_letters(ctx.settings.kafka_bootstrap_servers, provider.encode(), 1)
    assert value == b'{"type": "invitations.issued", "nonsense": 1}'
    assert headers["error"].startswith(b"malformed event")


async def test_an_event_whose_handler_keeps_failing_is_dead_lettered_with_the_error(
    probe: ServiceRuntime,
) -> None:
    ctx = probe.ctx
    assert ctx is not None
    provider = f"prov-{uuid.uuid4().hex[:8]}"
    poison, good = issued(probe_service.POISON_STUDY, provider), issued("s1", provider)
    for event in (poison, good):
        await ctx.broker.publish(encode_event(event), Topics.INVITATIONS_ISSUED, key=provider.encode())
    await eventually(lambda: _has(ctx, [good.payload.invitation_id]))
    [(value, headers)] = await dead_letters(ctx.settings.kafka_bootstrap_servers, provider.encode(), 1)
    assert value == encode_event(poison)
    assert b"cannot be handled" in headers["error"]


async def test_the_same_event_delivered_twice_changes_nothing_the_second_time(probe: ServiceRuntime) -> None:
    ctx = probe.ctx
    assert ctx is not None
    event, marker = issued("s1", "p-dup"), issued("s1", "p-dup")
    for e in (event, event, marker):
        await ctx.broker.publish(encode_event(e), Topics.INVITATIONS_ISSUED, key=b"p-dup")
    await eventually(lambda: _has(ctx, [marker.payload.invitation_id]))
    assert await handled(ctx, [event.payload.invitation_id]) == [event.payload.invitation_id]


async def test_an_event_committed_before_a_crash_is_published_after_restart_and_counted_once(
    make_settings: MakeSettings,
) -> None:
    settings = make_settings()
    event = issued("s1", "p-crash")
    # The first life: the state change and its event are committed, then the process dies
    # before the relay publishes (here: the relay never ran) ...
    first = probe_service.runtime(settings)
    ctx = await first.start()
    ctx.relay.stop()
    await asyncio.sleep(0.2)
    async with ctx.pool.acquire() as conn, conn.transaction():
        await add_to_outbox(conn, "probe", [event])
    # ... and it had even published once before dying, without marking the row sent.
    await ctx.broker.publish(encode_event(event), Topics.INVITATIONS_ISSUED, key=b"p-crash")
    await first.stop()
    second = probe_service.runtime(settings)
    ctx = await second.start()
    try:
        await eventually(lambda: _has(ctx, [event.payload.invitation_id]))
        await eventually(lambda: _outbox_empty(ctx))
        await asyncio.sleep(1.0)  # time for a second delivery to arrive, had it been counted
        assert await handled(ctx, [event.payload.invitation_id]) == [event.payload.invitation_id]
    finally:
        await second.stop()


async def _has(ctx: ServiceContext, ids: list[uuid.UUID]) -> bool:
    return len(await handled(ctx, ids)) == len(ids)


async def _outbox_empty(ctx: ServiceContext) -> bool:
    return await ctx.relay.backlog() == 0
