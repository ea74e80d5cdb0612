"""Fault tests run on stacks of their own: a broker, an SMTP sink, a fresh database and the
four services as processes.

Starting the four services takes half a minute (consumer groups join one subscriber at a
time), so the tests share one stack (``stack``: one replica of each service) and
each test runs its own scenario (its own study, providers and addresses) on it. A test that
kills a replica starts it again before it ends. Tests that need a different stack (more
replicas, a broker or database they restart) build one with ``make_stack``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from tests.faults.harness import SERVICES, FaultStack
from tevreden.infra import LocalPostgres, SmtpSink, TansuBroker, TansuProxy

MakeStack = Callable[..., FaultStack]


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    """The PostgreSQL server of the session (``TEVREDEN_DATABASE_URL``, else embedded)."""
    server = LocalPostgres.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def make_stack(pg_server: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeStack]:
    """Build stacks of one's own; they stop at the end of the module."""
    yield from _stacks(pg_server, tmp_path_factory)


@pytest.fixture(scope="session")
def _session_stacks(
    pg_server: LocalPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[MakeStack]:
    yield from _stacks(pg_server, tmp_path_factory)


def _stacks(pg_server: LocalPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MakeStack]:
    stacks: list[FaultStack] = []
    cleanups: list[Callable[[], None]] = []

    def make(
        *,
        postgres: LocalPostgres | None = None,
        broker: TansuBroker | TansuProxy | None = None,
        **settings: str,
    ) -> FaultStack:
        if broker is None:
            broker = TansuBroker.start()
            cleanups.append(broker.stop)
        if postgres is None:
            postgres = LocalPostgres.on_server(pg_server)
            cleanups.append(postgres.stop)
        smtp = SmtpSink.start()
        cleanups.append(smtp.stop)
        stack = FaultStack(tmp_path_factory.mktemp("stack"), broker, postgres, smtp, settings=dict(settings))
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.stop()
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture(scope="session")
async def stack(_session_stacks: MakeStack) -> AsyncIterator[FaultStack]:
    """One replica of each service, shared by every test that asks for ``stack``."""
    started = _session_stacks()
    for service in SERVICES:
        started.add(service)
    started.start_all()
    await started.wait_healthy()
    yield started
