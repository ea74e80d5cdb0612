"""Running one service: its pool, migrations, broker, outbox relay, loops and HTTP app.

A service supplies two thin wiring functions: ``wire(ctx)`` registers its
consumers and returns its background loops, ``http_app(ctx)`` builds its FastAPI
app. :class:`ServiceRuntime` starts everything in one event loop and stops it
cleanly, in-process for tests or as ``tevreden run <service>``.

With ``http_workers`` > 1 the first process binds the port and starts that many minus one
HTTP worker processes that accept on the same socket (pre-fork). A worker has its own pool,
producer and outbox relay (woken after each of its commits), and serves HTTP only: the
consumers, background loops and metrics loop run once per instance, in the first process.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import multiprocessing
import signal
import socket
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, cast

import asyncpg
import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from shared.broker import all_topics, ensure_topics, make_broker
from shared.consumer import BatchHandler, EventConsumer, LagMonitor, subscribe_together
from shared.db import create_pool, migrate
from shared.events import Event
from shared.logging import configure_logging, get_logger
from shared.metrics import health_router
from shared.outbox import OutboxRelay
from shared.settings import MIN_SECRET_LENGTH, Settings

log = get_logger(__name__)

Loop = Callable[[], Coroutine[Any, Any, None]]

# An HTTP worker's relay is woken after each of its commits; the first process's relay polls
# for anything else, so the worker's own poll is only a rare fallback.
WORKER_RELAY_POLL_SECONDS = 60.0


@dataclass
class ServiceContext:
    """What a service's wiring and handlers get: its name, settings, pool and broker."""

    name: str
    settings: Settings
    pool: asyncpg.Pool
    broker: KafkaBroker
    relay: OutboxRelay
    consumers: list[EventConsumer] = field(default_factory=list)
    # Only describing the service (AsyncAPI), not running it.
    documenting: bool = False

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
        self.consumers.append(consumer)
        if self.documenting:
            consumer.subscribe()  # one subscriber per topic: how the AsyncAPI document shows them

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
        http_workers_allowed: bool = False,
    ) -> None:
        """``http_workers_allowed``: the HTTP app keeps no state of its own that the consumers
        feed (scoring and reporting learn providers' keys from events, in-process), so it may
        run in several processes; otherwise ``http_workers`` is ignored."""
        self.name = name
        self.settings = settings
        self._http_workers = settings.http_workers if http_workers_allowed else 1
        self._migrations = migrations
        self._wire = wire
        self._http_app = http_app
        self._tasks: list[asyncio.Task[None]] = []
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self._workers: list[BaseProcess] = []
        self._stopping = False
        self.ctx: ServiceContext | None = None

    def describe(self) -> KafkaBroker:
        """The service's broker with its subscribers and publishers, unconnected (for AsyncAPI)."""
        broker = make_broker(self.settings, description=f"Tevreden {self.name} service")
        no_pool = cast(asyncpg.Pool, None)  # never used: nothing runs
        relay = OutboxRelay(no_pool, broker, self.name)
        self._wire(ServiceContext(self.name, self.settings, no_pool, broker, relay, documenting=True))
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
        if ctx.consumers:
            subscribe_together(broker, s, ctx.consumers)
        await broker.start()
        self._spawn(relay.run(), "outbox-relay")
        self._spawn(self._observe(ctx), "metrics")
        for loop in loops:
            self._spawn(loop(), loop.__name__)
        if self._http_workers > 1:
            self._socket = listening_socket(s.http_host, s.port_for(self.name))
        await self._serve_http(ctx, self._socket)
        self.ctx = ctx
        for _ in range(1, self._http_workers):
            self._start_worker()
        log.info(
            "service_started", service=self.name, port=s.port_for(self.name), http_workers=self._http_workers
        )
        return ctx

    async def start_http_worker(self, sock: socket.socket) -> ServiceContext:
        """An extra HTTP worker process: pool, producer, outbox relay and HTTP on ``sock``."""
        s = self.settings
        pool = await create_pool(s.database_url, s.database_pool_size)
        broker = make_broker(s, description=f"Tevreden {self.name} service")
        relay = OutboxRelay(
            pool, broker, self.name, batch_size=s.outbox_batch_size, poll_seconds=WORKER_RELAY_POLL_SECONDS
        )
        ctx = ServiceContext(self.name, s, pool, broker, relay)
        await broker.start()
        self._spawn(relay.run(), "outbox-relay")
        await self._serve_http(ctx, sock)
        self.ctx = ctx
        log.info("http_worker_started", service=self.name)
        return ctx

    @property
    def http_worker_pids(self) -> list[int]:
        """The process ids of the extra HTTP workers (none with ``http_workers`` = 1)."""
        return [w.pid for w in self._workers if w.pid is not None]

    def _start_worker(self) -> None:
        assert self._socket is not None
        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited loop
        args = (self.name, self.settings, self._migrations, self._wire, self._http_app)
        worker = spawn.Process(target=_http_worker_main, args=(args, self._socket), daemon=True)
        worker.start()
        self._workers.append(worker)

    def _restart_dead_workers(self) -> None:
        for worker in list(self._workers):
            if not worker.is_alive() and not self._stopping:
                log.error("http_worker_exited", service=self.name, exit_code=worker.exitcode)
                self._workers.remove(worker)
                self._start_worker()

    async def _stop_workers(self) -> None:
        workers, self._workers = self._workers, []
        for worker in workers:
            worker.terminate()  # SIGTERM: the worker stops cleanly
        for worker in workers:
            await asyncio.to_thread(worker.join, 10)
            if worker.is_alive():
                worker.kill()
                await asyncio.to_thread(worker.join, 5)

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
                self._restart_dead_workers()
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

    async def _serve_http(self, ctx: ServiceContext, sock: socket.socket | None = None) -> None:
        """Serve the HTTP app on its port, or on ``sock`` (shared by the HTTP workers)."""
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
        self._spawn(self._server.serve(sockets=None if sock is None else [sock]), "http")
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
        self._stopping = True
        await self._stop_workers()
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
        if self._socket is not None:
            self._socket.close()
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


async def run_until_signalled(
    runtime: ServiceRuntime, start: Callable[[], Awaitable[object]] | None = None
) -> None:
    """Run a service (or, with ``start``, a part of it) until SIGTERM or SIGINT, then stop it."""
    configure_logging(runtime.settings.log_level, runtime.settings.log_format)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await (start or runtime.start)()
    await stop.wait()
    await runtime.stop()


def listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port``, to be shared by the HTTP worker processes."""
    return socket.create_server((host, port), backlog=2048)


_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Have the kernel end this process when the one that started it dies (Linux)."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is not None:
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _http_worker_main(args: tuple[str, Settings, Path, Wire, HttpApp], sock: socket.socket) -> None:
    """An HTTP worker process's entry point (started by :class:`ServiceRuntime`, spawned)."""
    _die_with_parent()
    name, settings, migrations, wire, http_app = args
    runtime = ServiceRuntime(
        name, settings, migrations=migrations, wire=wire, http_app=http_app, http_workers_allowed=True
    )
    asyncio.run(run_until_signalled(runtime, lambda: runtime.start_http_worker(sock)))
