"""Consuming events: batches, inbox de-duplication, retries and dead-letter topics.

Each batch is handled in one PostgreSQL transaction that first records the
events' ids in the service's inbox, so a redelivered event changes nothing.
Offsets are committed only after that transaction (faststream's NACK_ON_ERROR
policy: ack after the handler, rewind on an exception), never ack-first.

A message that is not a valid event goes straight to ``<topic>.dlq``. An event
whose handler keeps failing is retried, then isolated from its batch and, after
``consumer_max_attempts`` failures on its own, sent to the dead-letter topic
with the error, so the partition moves on. When the database itself is down
nothing is dead-lettered: the batch is rewound and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, Protocol, TypedDict

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from shared.db import Connection
from shared.events import Event, Topics, parse_event
from shared.logging import batch_context, event_context, get_logger
from shared.metrics import (
    BATCH_SECONDS,
    CONSUMER_LAG,
    CONSUMER_LAG_SCRAPE_ERRORS,
    EVENTS_CONSUMED,
    EVENTS_DEAD_LETTERED,
    EVENTS_DUPLICATE,
    EVENTS_FAILED,
)
from shared.settings import Settings

log = get_logger(__name__)

BatchHandler = Callable[[Connection, list[Event]], Awaitable[None]]

# Errors that mean "the database is unavailable", not "this event is bad".
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
)


class Record(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


# How long one poll of the batch subscriber waits for records; after an empty poll faststream
# also sleeps this long, so it is the delay an event on a quiet topic can meet on our side.
BATCH_TIMEOUT_MS = 50


class BatchSubscriberOptions(TypedDict):
    batch: Literal[True]
    max_records: int
    batch_timeout_ms: int
    fetch_max_wait_ms: int
    auto_offset_reset: Literal["earliest"]
    ack_policy: AckPolicy


def batch_subscriber_options(settings: Settings) -> BatchSubscriberOptions:
    """How every consumer reads its topic: batches, acked after the handler, long-polling.

    ``fetch_max_wait_ms`` is how long the broker may hold a fetch that finds nothing, so an
    idle consumer costs a few requests a second rather than a hundred. Tansu does not answer
    a held fetch when records arrive, it looks again after half the time left (see
    docs/benchmarks.md), so the wait is also the latency an event can meet on a quiet topic.
    """
    return {
        "batch": True,
        "max_records": settings.consumer_batch_size,
        "batch_timeout_ms": BATCH_TIMEOUT_MS,
        "fetch_max_wait_ms": settings.consumer_fetch_max_wait_ms,
        "auto_offset_reset": "earliest",
        "ack_policy": AckPolicy.NACK_ON_ERROR,
    }


class EventConsumer:
    """One consumed topic of one service: decode, de-duplicate, handle, dead-letter."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        settings: Settings,
        schema: str,
        topic: str,
        group_id: str,
        handler: BatchHandler,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.pool = pool
        self.broker = broker
        self.settings = settings
        self.schema = schema
        self.topic = topic
        self.group_id = group_id
        self.handler = handler
        self.after_commit = after_commit

    def subscribe(self) -> None:
        """Register the faststream batch subscriber for this topic."""

        async def raw(*_: Any) -> None:
            return None  # decoding is ours: a malformed message must reach the DLQ, not crash

        @self.broker.subscriber(
            self.topic,
            group_id=self.group_id,
            **batch_subscriber_options(self.settings),
            decoder=raw,
            title=f"{self.group_id}:{self.topic}",
            description=f"Consumed in batches by {self.group_id}; de-duplicated by event_id; "
            f"failures go to {Topics.dlq(self.topic)}. Message: see the publisher of {self.topic}.",
        )
        async def on_batch(body: Any, message: KafkaMessage) -> None:
            records = message.raw_message
            await self.handle_records(records if isinstance(records, tuple) else (records,))

    async def handle_records(self, records: Sequence[Record | ConsumerRecord[Any, Any]]) -> None:
        with BATCH_SECONDS.labels(topic=self.topic).time():
            decoded = [(await self._decode(r), r) for r in records]
            valid = [(event, record) for event, record in decoded if event is not None]
            if valid:
                await self._handle_with_retries(valid)

    async def _decode(self, record: Any) -> Event | None:
        try:
            event = parse_event(record.value or b"")
        except ValidationError as exc:
            await self._dead_letter(record, f"malformed event: {_short(exc)}")
            return None
        if event.topic != self.topic:
            await self._dead_letter(record, f"event type {event.type!r} on topic {self.topic!r}")
            return None
        return event

    async def _handle_with_retries(self, valid: list[tuple[Event, Any]]) -> None:
        if await self._attempts([event for event, _ in valid]):
            return
        # The batch keeps failing: find the poison events one by one.
        for event, record in valid:
            if not await self._attempts([event]):
                with event_context(event.event_id, event.correlation_id):
                    await self._dead_letter(record, self._last_error)

    async def _attempts(self, events: list[Event]) -> bool:
        """Try ``events`` up to the configured number of times; True when committed."""
        for attempt in range(1, self.settings.consumer_max_attempts + 1):
            try:
                await self._commit(events)
                return True
            except INFRASTRUCTURE_ERRORS as exc:
                log.warning("consumer_database_unavailable", topic=self.topic, error=str(exc))
                await asyncio.sleep(self.settings.consumer_retry_backoff_seconds * 5)
                raise  # rewind the batch; nothing is dead-lettered for an outage
            except Exception as exc:
                self._last_error = f"{type(exc).__name__}: {exc}"
                EVENTS_FAILED.labels(topic=self.topic).inc(len(events))
                with batch_context([(e.event_id, e.correlation_id) for e in events]):
                    log.warning(
                        "consumer_batch_failed",
                        topic=self.topic,
                        attempt=attempt,
                        events=len(events),
                        error=self._last_error,
                    )
                await asyncio.sleep(self.settings.consumer_retry_backoff_seconds * attempt)
        return False

    async def _commit(self, events: list[Event]) -> None:
        with batch_context([(e.event_id, e.correlation_id) for e in events]):
            async with self.pool.acquire() as conn, conn.transaction():
                fresh = await claim_inbox(conn, self.schema, self.topic, events)
                if fresh:
                    await self.handler(conn, fresh)
        EVENTS_CONSUMED.labels(topic=self.topic).inc(len(fresh))
        EVENTS_DUPLICATE.labels(topic=self.topic).inc(len(events) - len(fresh))
        if fresh and self.after_commit is not None:
            self.after_commit()

    _last_error: str = ""

    async def _dead_letter(self, record: Any, error: str) -> None:
        dlq = Topics.dlq(self.topic)
        await self.broker.publish(
            record.value or b"",
            dlq,
            key=record.key,
            headers={
                "error": error[:2000],
                "original-topic": record.topic,
                "original-partition": str(record.partition),
                "original-offset": str(record.offset),
                "consumer-group": self.group_id,
            },
        )
        EVENTS_DEAD_LETTERED.labels(topic=self.topic).inc()
        log.error(
            "event_dead_lettered",
            topic=self.topic,
            dlq=dlq,
            partition=record.partition,
            offset=record.offset,
            error=error,
        )


def subscribe_together(broker: KafkaBroker, settings: Settings, consumers: Sequence[EventConsumer]) -> None:
    """One broker consumer for all of a service's topics, each batch handed out by topic.

    One fetch loop and one group member per service instead of one per topic: an idle service
    holds one long-polled fetch, and a start or rebalance joins one member. A batch's topics
    are handled one after the other, each in its own transaction; an exception rewinds the
    whole batch, and what was already committed is then skipped by the inbox.
    """
    by_topic = {c.topic: c for c in consumers}
    group_id = consumers[0].group_id

    async def raw(*_: Any) -> None:
        return None  # decoding is each EventConsumer's

    @broker.subscriber(
        *by_topic,
        group_id=group_id,
        **batch_subscriber_options(settings),
        decoder=raw,
        title=f"{group_id}:all",
        include_in_schema=False,  # the per-topic subscribers document the contract
    )
    async def on_batch(body: Any, message: KafkaMessage) -> None:
        records = message.raw_message
        batch: Sequence[Any] = records if isinstance(records, tuple) else (records,)
        grouped: dict[str, list[Any]] = {}
        for record in batch:
            grouped.setdefault(record.topic, []).append(record)
        for topic, of_topic in grouped.items():
            await by_topic[topic].handle_records(of_topic)


async def claim_inbox(conn: Connection, schema: str, topic: str, events: Sequence[Event]) -> list[Event]:
    """Record the events' ids; return those not seen before, first occurrence only, in order."""
    ids = list(dict.fromkeys(e.event_id for e in events))
    rows = await conn.fetch(
        f"INSERT INTO {schema}.inbox (event_id, topic) SELECT unnest($1::uuid[]), $2"
        " ON CONFLICT DO NOTHING RETURNING event_id",
        ids,
        topic,
    )
    fresh_ids = {r["event_id"] for r in rows}
    fresh: list[Event] = []
    for event in events:
        if event.event_id in fresh_ids:
            fresh.append(event)
            fresh_ids.discard(event.event_id)
    return fresh


def _short(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "message"
    return f"{where}: {first.get('msg', 'invalid')} ({exc.error_count()} error(s))"


# --- consumer lag ---------------------------------------------------------------------------

Partition = tuple[str, int]


def partition_lag(
    end: dict[Partition, int], committed: dict[Partition, int], beginning: dict[Partition, int]
) -> dict[Partition, int]:
    """Messages each partition still holds for the group: end offset minus committed offset.

    A partition the group never committed on is consumed from the beginning
    (``auto_offset_reset="earliest"``), so all it holds counts. Never negative.
    """
    return {tp: max(0, last - committed.get(tp, beginning.get(tp, 0))) for tp, last in sorted(end.items())}


class LagMonitor:
    """Reads a consumer group's committed offsets and the topics' end offsets from the broker.

    Its own consumer that carries the group's id but subscribes to nothing, so it never joins
    the group (no rebalance) yet reads the group's committed offsets (OffsetFetch) and sees the
    whole group, whichever replica holds which partition. (The admin client's
    ``list_consumer_group_offsets`` is not used: Tansu's answer to it does not decode.)
    """

    def __init__(self, bootstrap: str, group_id: str, topics: Sequence[str]) -> None:
        self.bootstrap = bootstrap
        self.group_id = group_id
        self.topics = list(topics)
        self._reader: AIOKafkaConsumer | None = None

    async def _offsets_reader(self) -> AIOKafkaConsumer:
        if self._reader is None:
            reader = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, group_id=self.group_id, enable_auto_commit=False
            )
            await reader.start()
            self._reader = reader
        return self._reader

    async def close(self) -> None:
        if self._reader is not None:
            reader, self._reader = self._reader, None
            await reader.stop()

    async def lag(self) -> dict[Partition, int]:
        reader = await self._offsets_reader()
        await reader.topics()  # refresh metadata: partitions may have been added
        partitions = [
            TopicPartition(topic, p)
            for topic in self.topics
            for p in sorted(reader.partitions_for_topic(topic) or ())
        ]
        if not partitions:
            return {}
        committed: dict[Partition, int] = {}
        for tp in partitions:
            offset = await reader.committed(tp)
            if offset is not None and offset >= 0:
                committed[(tp.topic, tp.partition)] = offset
        end = {(tp.topic, tp.partition): o for tp, o in (await reader.end_offsets(partitions)).items()}
        begin = {
            (tp.topic, tp.partition): o for tp, o in (await reader.beginning_offsets(partitions)).items()
        }
        return partition_lag(end, committed, begin)

    async def observe(self) -> None:
        """Set the lag gauges; a broker error is counted and logged, the gauges keep their value."""
        try:
            lags = await self.lag()
        except Exception as exc:  # the broker may be down: metrics must not crash the service
            CONSUMER_LAG_SCRAPE_ERRORS.inc()
            log.warning("consumer_lag_unavailable", group=self.group_id, error=repr(exc))
            with contextlib.suppress(Exception):
                await self.close()  # start afresh next time
            return
        for (topic, partition), lag in lags.items():
            CONSUMER_LAG.labels(group=self.group_id, topic=topic, partition=str(partition)).set(lag)
