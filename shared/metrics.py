"""Prometheus metrics every service exposes on ``/metrics``, and ``/healthz``.

Every metric here is registered when ``shared`` is imported, so every service exposes it
(with no samples yet where it has labels and nothing happened). Metrics of one service only
(responses per mode, scoring latency) live in that service. The list with what each means is
in docs/operations.md, section "Monitoring".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

EVENTS_CONSUMED = Counter(
    "tevreden_events_consumed_total", "Events handled (after de-duplication)", ["topic"]
)
EVENTS_DUPLICATE = Counter(
    "tevreden_events_duplicate_total", "Redelivered events skipped by the inbox", ["topic"]
)
EVENTS_PUBLISHED = Counter(
    "tevreden_events_published_total", "Events published by the outbox relay", ["topic"]
)
EVENTS_FAILED = Counter("tevreden_events_failed_total", "Failed attempts to handle an event", ["topic"])
EVENTS_DEAD_LETTERED = Counter(
    "tevreden_events_dead_lettered_total", "Events sent to a dead-letter topic", ["topic"]
)
BATCH_SECONDS = Histogram("tevreden_consumer_batch_seconds", "Time to handle one consumed batch", ["topic"])

# Outbox, per service (schema): rows not yet published and how long the oldest has waited.
OUTBOX_BACKLOG = Gauge("tevreden_outbox_backlog", "Outbox rows not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "tevreden_outbox_oldest_age_seconds",
    "Age of the oldest outbox row not yet published (0 when none waits)",
    ["service"],
)

# Consumer lag per group, topic and partition: end offset minus the group's committed offset.
# Every replica of a group reports the same figure: aggregate with max, not sum.
CONSUMER_LAG = Gauge(
    "tevreden_consumer_lag", "Messages not yet consumed by the group", ["group", "topic", "partition"]
)
CONSUMER_LAG_SCRAPE_ERRORS = Counter(
    "tevreden_consumer_lag_errors_total", "Failed attempts to read consumer offsets from the broker"
)

# Email outcomes, for the invitations service's mailer to count (a generic hook: the
# alert on SMTP failures reads it). Each outcome is exposed at 0 from the start.
EMAIL_OUTCOMES = ("sent", "deferred", "bounced")
EMAILS = Counter(
    "tevreden_emails_total", "Emails by SMTP outcome (sent, deferred 4xx, bounced 5xx)", ["outcome"]
)
for _outcome in EMAIL_OUTCOMES:
    EMAILS.labels(outcome=_outcome)

HealthCheck = Callable[[], Awaitable[None]]


def health_router(checks: dict[str, HealthCheck]) -> APIRouter:
    """``/healthz`` runs every check (503 with the failing ones), ``/metrics`` for Prometheus."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz", responses={503: {"description": "Unhealthy: the failing checks"}})
    async def healthz(response: Response) -> dict[str, object]:
        failures: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await check()
            except Exception as exc:  # any failure makes the service unhealthy
                failures[name] = f"{type(exc).__name__}: {exc}"
        if failures:
            response.status_code = 503
            return {"status": "unhealthy", "failures": failures}
        return {"status": "ok"}

    @router.get("/metrics", response_class=PlainTextResponse)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
