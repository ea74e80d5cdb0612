"""Prometheus metrics every service exposes on ``/metrics``, and ``/healthz``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
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
OUTBOX_BACKLOG = Gauge("tevreden_outbox_backlog", "Outbox rows not yet published")
BATCH_SECONDS = Histogram("tevreden_consumer_batch_seconds", "Time to handle one consumed batch", ["topic"])

HealthCheck = Callable[[], Awaitable[None]]


def health_router(checks: dict[str, HealthCheck]) -> APIRouter:
    """``/healthz`` runs every check (503 with the failing ones), ``/metrics`` for Prometheus."""
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
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

    @router.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
