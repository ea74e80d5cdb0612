"""The dead-letter topics as operations see them: per ``<topic>.dlq`` how many events it holds
and the newest few with their type, id and error header, read from the broker when asked.

Never a payload: a dead-lettered event may be anything, so only the envelope's ``type`` and
``event_id`` (when it is JSON at all) and the consumer's ``error`` header leave this module.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.events import Topics

NEWEST = 5
# pydantic's messages quote the value they refused; a payload's value may be personal data.
_QUOTED_INPUT = re.compile(r"input_value=.*?, input_type=")


def envelope_of(value: bytes | None) -> tuple[str | None, str | None]:
    """The event's type and id from a raw message, or None where it has none."""
    try:
        found = json.loads(value or b"")
    except ValueError:
        return None, None
    if not isinstance(found, dict):
        return None, None
    kind, event_id = found.get("type"), found.get("event_id")
    return (kind if isinstance(kind, str) else None, event_id if isinstance(event_id, str) else None)


def without_values(error: str) -> str:
    """A consumer's error without the input values a validation message quotes."""
    return _QUOTED_INPUT.sub("input_value=…, input_type=", error)


def _headers(record: Any) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", "replace") for k, v in (record.headers or ())}


async def dead_letters(
    bootstrap: str, newest: int = NEWEST, wait_seconds: float = 10.0
) -> list[dict[str, Any]]:
    """Every dead-letter topic: its count and its ``newest`` events, newest first."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        return [await _topic(consumer, Topics.dlq(topic), newest, wait_seconds) for topic in Topics.ALL]
    finally:
        await consumer.stop()


async def _topic(consumer: AIOKafkaConsumer, dlq: str, newest: int, wait_seconds: float) -> dict[str, Any]:
    numbers = consumer.partitions_for_topic(dlq) or set()
    partitions = [TopicPartition(dlq, p) for p in sorted(numbers)]
    if not partitions:
        return {"topic": dlq, "count": 0, "newest": []}
    begin = await consumer.beginning_offsets(partitions)
    end = await consumer.end_offsets(partitions)
    count = sum(end[tp] - begin[tp] for tp in partitions)
    records: list[Any] = []
    wanted = [tp for tp in partitions if end[tp] > begin[tp]]
    if wanted:
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, max(begin[tp], end[tp] - newest))
        async with asyncio.timeout(wait_seconds):
            while [tp for tp in wanted if await consumer.position(tp) < end[tp]]:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    records.extend(batch)
    records.sort(key=lambda r: r.timestamp, reverse=True)
    return {"topic": dlq, "count": count, "newest": [_entry(r) for r in records[:newest]]}


def _entry(record: Any) -> dict[str, Any]:
    kind, event_id = envelope_of(record.value)
    headers = _headers(record)
    return {
        "type": kind,
        "event_id": event_id,
        "error": without_values(headers.get("error", "")),
        "original_topic": headers.get("original-topic", ""),
        "consumer_group": headers.get("consumer-group", ""),
        "timestamp_ms": record.timestamp,
    }
