"""The Kafka broker factory and topic creation.

Producers never use idempotence or transactions: Tansu (tests, demo) has neither,
and the outbox plus inbox make delivery effectively-once without them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker

from shared.events import Topics
from shared.settings import Settings


def make_broker(settings: Settings, *, description: str = "") -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        linger_ms=5,
        # Our own structlog lines replace faststream's per-message logging (a hot path);
        # its other lines go through the standard root logger, formatted like ours.
        log_level=logging.DEBUG,
        logger=logging.getLogger("tevreden.faststream"),
        description=description,
        allow_auto_create_topics=False,
    )


def all_topics() -> list[str]:
    """Every topic and its dead-letter topic."""
    return [*Topics.ALL, *(Topics.dlq(t) for t in Topics.ALL)]


async def ensure_topics(bootstrap: str, topics: Iterable[str], partitions: int) -> None:
    """Create missing topics; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(name=t, num_partitions=partitions, replication_factor=1)
            for t in topics
            if t not in existing
        ]
        if missing:
            await admin.create_topics(missing)
    finally:
        await admin.close()
