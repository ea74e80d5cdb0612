"""Running one service: its pool, migrations, broker, outbox relay, loops and HTTP app.

A service supplies two thin wiring functions: ``wire(ctx)`` registers its
consumers and returns its background loops, ``http_app(ctx)`` builds its FastAPI
app. :class:`ServiceRuntime` starts everything in one event loop and stops it
cleanly, in-process for tests or as ``tevreden run <service>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import asyncpg
import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from shared.broker import all_topics, ensure_topics, make_broker
from shared.consumer import BatchHandler, EventConsumer, LagMonitor
from shared.db import create_pool, migrate
from shared.events import Event
from shared.logging import configure_logging, get_logger
from shared.metrics import health_router
from shared.outbox import OutboxRelay
from shared.settings import MIN_SECRET_LENGTH, Settings

log = get_logger(__name__)

Loop = Callable[[], Coroutine[Any, Any, None]]


@dataclass
class ServiceContext:
    """What a service's wiring and handlers get: its name, settings, pool and broker."""

    name: str
    settings: Settings
    pool: asyncpg.Pool
    broker: KafkaBroker
    relay: OutboxRelay
    consumers: list[EventConsumer] = field(default_factory=list)

    @property
    def schema(self) -> str:
        return self.name

    def consume(self, topic: str, handler: BatchHandler) -> None:
        """Handle ``topic`` in batches, de-duplicated, in this service's consumer group."""
        consumer = EventConsumer(
            pool=self.pool,
            broker=self.broker,
            settings=self.settings,
            schema=self.schema,
            topic=topic,
            group_id=self.name,
            handler=handler,
            after_commit=self.relay.wake,
        )
        consumer.subscribe()
        self.consumers.append(consumer)

    def publishes(self, *event_types: type[Event]) -> None:
        """Declare published events, for the AsyncAPI document (the relay does the sending)."""
        for event_type in event_types:
            self.broker.publisher(
                event_type.topic, title=f"{self.name}:{event_type.topic}", schema=event_type
            )


Wire = Callable[[ServiceContext], Sequence[Loop]]
HttpApp = Callable[[ServiceContext], FastAPI]


class ServiceRuntime:
    def __init__(
        self,
        name: str,
        settings: Settings,
        *,
        migrations: Path,
        wire: Wire,
        http_app: HttpApp,
    ) -> None:
        self.name = name
        self.settings = settings
        self._migrations = migrations
        self._wire = wire
        self._http_app = http_app
        self._tasks: list[asyncio.Task[None]] = []
        self._server: uvicorn.Server | None = None
        self.ctx: ServiceContext | None = None

    def describe(self) -> KafkaBroker:
        """The service's broker with its subscribers and publishers, unconnected (for AsyncAPI)."""
        broker = make_broker(self.settings, description=f"Tevreden {self.name} service")
        no_pool = cast(asyncpg.Pool, None)  # never used: nothing runs
        self._wire(
            ServiceContext(self.name, self.settings, no_pool, broker, OutboxRelay(no_pool, broker, self.name))
        )
        return broker

    async def start(self) -> ServiceContext:
        s = self.settings
        refuse_weak_secrets(self.name, s)
        pool = await create_pool(s.database_url, s.database_pool_size)
        async with pool.acquire() as conn:
            await migrate(conn, self.name, self._migrations)
        await ensure_topics(s.kafka_bootstrap_servers, all_topics(), s.topic_partitions)
        broker = make_broker(s, description=f"Tevreden {self.name} service")
        relay = OutboxRelay(
            pool, broker, self.name, batch_size=s.outbox_batch_size, poll_seconds=s.outbox_poll_seconds
        )
        ctx = ServiceContext(self.name, s, pool, broker, relay)
        loops = self._wire(ctx)
        await broker.start()
        self._spawn(relay.run(), "outbox-relay")
        self._spawn(self._observe(ctx), "metrics")
        for loop in loops:
            self._spawn(loop(), loop.__name__)
        await self._serve_http(ctx)
        self.ctx = ctx
        log.info("service_started", service=self.name, port=s.port_for(self.name))
        return ctx

    async def _observe(self, ctx: ServiceContext) -> None:
        """Every ``metrics_poll_seconds``: the outbox backlog and age, and the consumer lag."""
        topics = [c.topic for c in ctx.consumers]
        lag = LagMonitor(self.settings.kafka_bootstrap_servers, ctx.name, topics) if topics else None
        try:
            while True:
                try:
                    await ctx.relay.observe()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("outbox_metrics_unavailable", service=self.name, error=str(exc))
                if lag is not None:
                    await lag.observe()
                await asyncio.sleep(self.settings.metrics_poll_seconds)
        finally:
            if lag is not None:
                await asyncio.shield(lag.close())

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=f"{self.name}:{name}")
        task.add_done_callback(self._loop_ended)
        self._tasks.append(task)

    def _loop_ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            log.error("service_loop_crashed", task=task.get_name(), error=repr(task.exception()))

    async def _serve_http(self, ctx: ServiceContext) -> None:
        app = self._http_app(ctx)
        app.include_router(health_router(self._health_checks(ctx)))
        config = uvicorn.Config(
            app,
            host=self.settings.http_host,
            port=self.settings.port_for(self.name),
            log_level="warning",
            lifespan="off",
            access_log=False,
        )
        self._server = uvicorn.Server(config)
        # Signals are the runtime's to handle, not uvicorn's.
        self._server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        self._spawn(self._server.serve(), "http")
        while not self._server.started:
            await asyncio.sleep(0.01)
            if self._tasks[-1].done():
                raise RuntimeError(f"{self.name}: HTTP server failed to start")

    @staticmethod
    def _health_checks(ctx: ServiceContext) -> dict[str, Callable[[], Awaitable[None]]]:
        async def database() -> None:
            async with ctx.pool.acquire(timeout=2) as conn:
                await conn.fetchval("SELECT 1")

        async def broker() -> None:
            if not await ctx.broker.ping(timeout=2):
                raise ConnectionError("broker unreachable")

        return {"database": database, "broker": broker}

    async def stop(self) -> None:
        if self.ctx is not None:
            self.ctx.relay.stop()
        if self._server is not None:
            self._server.should_exit = True
        if self.ctx is not None:
            await self.ctx.broker.stop()
        for task in self._tasks:
            if task.get_name().endswith(":http") or task.get_name().endswith(":outbox-relay"):
                continue
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.ctx is not None:
            await self.ctx.pool.close()
        log.info("service_stopped", service=self.name)


class WeakSecretsError(RuntimeError):
    """A service outside the local environment was given a default or short secret."""


def refuse_weak_secrets(service: str, settings: Settings) -> None:
    """Refuse to start with a default or short secret unless TEVREDEN_ENVIRONMENT=local: a default
    key would let anyone read people's names and phone numbers."""
    weak = settings.weak_secrets(service)
    if weak:
        raise WeakSecretsError(
            f"{service} refuses to start: "
            + "; ".join(weak)
            + f". Set each to a random value of at least {MIN_SECRET_LENGTH} characters (e.g. `openssl rand"
            " -hex 32`), or TEVREDEN_ENVIRONMENT=local on a developer's machine. See docs/security.md."
        )


async def run_until_signalled(runtime: ServiceRuntime) -> None:
    """Run a service until SIGTERM or SIGINT, then stop it cleanly."""
    configure_logging(runtime.settings.log_level, runtime.settings.log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await runtime.start()
    await stop.wait()
    await runtime.stop()
