"""The reporting service for integration tests: started and stopped around a module, its HTTP
client, and events published on its broker."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from services.reporting import app as reporting
from shared.events import Event, encode_event
from shared.runtime import ServiceRuntime
from shared.settings import Settings


@contextlib.asynccontextmanager
async def running_reporting(settings: Settings) -> AsyncIterator[ServiceRuntime]:
    runtime = reporting.runtime(settings)
    await runtime.start()
    try:
        yield runtime
    finally:
        await runtime.stop()


def client(service: ServiceRuntime, timeout: float = 30) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{service.settings.port_for('reporting')}", timeout=timeout
    )


async def publish(service: ServiceRuntime, *events: Event) -> None:
    assert service.ctx is not None
    for event in events:
        await service.ctx.broker.publish(encode_event(event), event.topic, key=event.key.encode())
