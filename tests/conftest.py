"""Fixtures on the real parts: a Tansu broker, PostgreSQL and an SMTP server.

``infra`` starts them once per test session. ``make_settings`` gives each test a
fresh database (so tests never see each other's rows) on the shared PostgreSQL server and
SMTP server, the test module's own broker (``module_broker``), and a free HTTP port.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.settings import Settings
from tevreden.infra import LocalInfra, LocalPostgres, TansuBroker, free_port

MakeSettings = Callable[..., Settings]
# The portal signs its "on behalf of" assertions with this; every test service verifies them.
PORTAL_ASSERTION_SECRET = "test-portal-assertion-secret"

# Commands under test must not find a developer's running demo (tevreden/stack.py).
os.environ["TEVREDEN_STACK_FILE"] = os.path.join(tempfile.mkdtemp(prefix="tevreden-tests-"), "stack.json")


@pytest.fixture(scope="session")
def infra() -> Iterator[LocalInfra]:
    with LocalInfra.start() as started:
        yield started


@pytest.fixture(scope="module")
def module_broker() -> Iterator[TansuBroker]:
    """A broker per test module (it starts in a fraction of a second), so no module inherits
    another's consumer groups: once in CI, on one shared broker, two later modules' scoring
    services never finished starting (the event loop idle, most likely a group join that never
    completed) until the test timeout; a module's own broker keeps that from spreading."""
    broker = TansuBroker.start()
    yield broker
    broker.stop()


@pytest.fixture
def make_settings(infra: LocalInfra, module_broker: TansuBroker) -> Iterator[MakeSettings]:
    yield from settings_factory(infra, module_broker)


@pytest.fixture(scope="module")
def module_settings(infra: LocalInfra, module_broker: TansuBroker) -> Iterator[MakeSettings]:
    """For a service shared by a module's tests (each test then uses its own ids)."""
    yield from settings_factory(infra, module_broker)


def settings_factory(infra: LocalInfra, broker: TansuBroker) -> Iterator[MakeSettings]:
    databases: list[LocalPostgres] = []

    def make(**overrides: Any) -> Settings:
        database = _fresh_database(infra)
        databases.append(database)
        values: dict[str, Any] = {
            "environment": "local",
            "database_url": database.url,
            "kafka_bootstrap_servers": broker.bootstrap_servers,
            "smtp_host": infra.smtp.host,
            "smtp_port": infra.smtp.port,
            "http_port": free_port(),
            "token_secret": secrets.token_urlsafe(16),
            "admin_api_key": "test-admin-key",
            "portal_assertion_secret": PORTAL_ASSERTION_SECRET,
            "topic_partitions": 3,
            "log_format": "console",
            "scheduler_poll_seconds": 0.1,
            "outbox_poll_seconds": 0.1,
            "consumer_retry_backoff_seconds": 0.05,
            "letter_dir": tempfile.mkdtemp(prefix="tevreden-letters-"),  # never in the checkout
        }
        return Settings(**(values | overrides))

    yield make
    for database in databases:
        database.stop()


def _fresh_database(infra: LocalInfra) -> LocalPostgres:
    """Another database on the session's server (external or embedded)."""
    return LocalPostgres.on_server(infra.postgres)
