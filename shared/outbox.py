"""Transactional outbox: events are written with the state change, then relayed.

A service calls :func:`add_to_outbox` inside the transaction that changes its
tables. The :class:`OutboxRelay` publishes unsent rows in id order and marks
them sent. A crash between publish and mark resends (never loses); consumers
de-duplicate by ``event_id`` (the inbox), so the net effect is exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker

from shared.db import Connection
from shared.events import Event, encode_event
from shared.logging import get_logger
from shared.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE

log = get_logger(__name__)

# From this many events on, add_to_outbox writes them with COPY.
_COPY_FROM = 200


async def add_to_outbox(conn: Connection, schema: str, events: Sequence[Event]) -> None:
    """Record events to publish; call inside the state change's transaction."""
    if not events:
        return
    rows = [(e.event_id, e.topic, e.key, encode_event(e)) for e in events]
    if len(rows) >= _COPY_FROM:
        # Large batches (a delivery's invitations) by COPY: several times faster than
        # executemany; the ids still come from the sequence in this order.
        await conn.copy_records_to_table(
            "outbox", schema_name=schema, columns=["event_id", "topic", "message_key", "body"], records=rows
        )
        return
    await conn.executemany(
        f"INSERT INTO {schema}.outbox (event_id, topic, message_key, body) VALUES ($1, $2, $3, $4)", rows
    )


class OutboxRelay:
    """Publishes a schema's outbox rows in order; any number of replicas may run one."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        broker: KafkaBroker,
        schema: str,
        *,
        batch_size: int = 500,
        poll_seconds: float = 0.5,
    ) -> None:
        self._pool = pool
        self._broker = broker
        self._schema = schema
        self._batch_size = batch_size
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._stopping = False

    def wake(self) -> None:
        """Publish now rather than at the next poll (call after committing events)."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping:
            try:
                sent = await self.relay_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("outbox_relay_failed", schema=self._schema, error=str(exc))
                sent = 0
            except Exception as exc:  # broker errors: keep trying, never lose the rows
                log.warning("outbox_relay_failed", schema=self._schema, error=repr(exc))
                sent = 0
            if sent < self._batch_size:
                await self._sleep()

    async def _sleep(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=self._poll_seconds)
        self._wake.clear()

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were sent."""
        async with self._pool.acquire() as conn, conn.transaction():
            # SKIP LOCKED: two relays never publish the same rows at the same time.
            rows = await conn.fetch(
                f"SELECT id, topic, message_key, body FROM {self._schema}.outbox"
                " WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch_size,
            )
            if not rows:
                OUTBOX_BACKLOG.labels(service=self._schema).set(0)
                OUTBOX_OLDEST_AGE.labels(service=self._schema).set(0)
                return 0
            await self._publish(rows)
            await conn.execute(
                f"UPDATE {self._schema}.outbox SET sent_at = now() WHERE id = ANY($1::bigint[])",
                [r["id"] for r in rows],
            )
        await self.observe()
        return len(rows)

    async def _publish(self, rows: Sequence[Any]) -> None:
        # Send without awaiting each ack, then await them all: one round of acks per batch.
        futures = [
            await self._broker.publish(
                bytes(r["body"]),
                r["topic"],
                key=r["message_key"].encode(),
                headers={"content-type": "application/json"},
                no_confirm=True,
            )
            for r in rows
        ]
        await asyncio.gather(*futures)
        for r in rows:
            EVENTS_PUBLISHED.labels(topic=r["topic"]).inc()

    async def backlog(self) -> int:
        count, _ = await self.backlog_and_age()
        return count

    async def backlog_and_age(self) -> tuple[int, float]:
        """Rows not yet published, and the age in seconds of the oldest (0 when none)."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT count(*) AS n,"
                " coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS age"
                f" FROM {self._schema}.outbox WHERE sent_at IS NULL"
            )
        assert row is not None
        return int(row["n"]), max(0.0, float(row["age"]))

    async def observe(self) -> None:
        """Set the backlog and oldest-age gauges of this service's outbox."""
        count, age = await self.backlog_and_age()
        OUTBOX_BACKLOG.labels(service=self._schema).set(count)
        OUTBOX_OLDEST_AGE.labels(service=self._schema).set(age)
