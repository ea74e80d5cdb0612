"""Consumer lag from offsets, and the backlog figures ``tevreden status`` reads from /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from shared.consumer import partition_lag
from tevreden.status import parse_metrics


def test_lag_is_the_end_offset_minus_the_committed_offset() -> None:
    assert partition_lag({("t", 0): 120, ("t", 1): 40}, {("t", 0): 100, ("t", 1): 40}, {}) == {
        ("t", 0): 20,
        ("t", 1): 0,
    }


def test_a_partition_never_committed_counts_everything_from_its_beginning() -> None:
    assert partition_lag({("t", 0): 120}, {}, {("t", 0): 20}) == {("t", 0): 100}


def test_lag_is_never_negative() -> None:
    # A committed offset read just after the end offset was: the group is ahead of the snapshot.
    assert partition_lag({("t", 0): 10}, {("t", 0): 12}, {}) == {("t", 0): 0}


def exposition() -> str:
    registry = CollectorRegistry()
    backlog = Gauge("tevreden_outbox_backlog", "", ["service"], registry=registry)
    age = Gauge("tevreden_outbox_oldest_age_seconds", "", ["service"], registry=registry)
    lag = Gauge("tevreden_consumer_lag", "", ["group", "topic", "partition"], registry=registry)
    dead = Counter("tevreden_events_dead_lettered", "", ["topic"], registry=registry)
    backlog.labels(service="scoring").set(7)
    backlog.labels(service="responses").set(99)  # another service in the same process
    age.labels(service="scoring").set(2.5)
    for partition, value in enumerate((3, 4, 0)):
        lag.labels(group="scoring", topic="responses.submitted", partition=str(partition)).set(value)
    lag.labels(group="reporting", topic="scores.updated", partition="0").set(50)
    dead.labels(topic="responses.submitted").inc(2)
    return generate_latest(registry).decode()


def test_status_reads_a_services_own_backlog_and_sums_its_lag_per_topic() -> None:
    found = parse_metrics(exposition(), "scoring")
    assert found.outbox_backlog == 7
    assert found.outbox_oldest_age_seconds == 2.5
    assert found.lag == {("scoring", "responses.submitted"): 7}
    assert found.dead_lettered == {"responses.submitted": 2}
