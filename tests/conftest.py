"""Fixtures on the real parts: a Tansu broker, PostgreSQL and an SMTP server.

``infra`` starts them once per test session. ``make_settings`` gives each test a
fresh database (so tests never see each other's rows) on the shared broker and
SMTP server, with a free HTTP port.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.settings import Settings
from tevreden.infra import LocalInfra, LocalPostgres, free_port

MakeSettings = Callable[..., Settings]


@pytest.fixture(scope="session")
def infra() -> Iterator[LocalInfra]:
    with LocalInfra.start() as started:
        yield started


@pytest.fixture
def make_settings(infra: LocalInfra) -> Iterator[MakeSettings]:
    yield from settings_factory(infra)


@pytest.fixture(scope="module")
def module_settings(infra: LocalInfra) -> Iterator[MakeSettings]:
    """For a service shared by a module's tests (each test then uses its own ids)."""
    yield from settings_factory(infra)


def settings_factory(infra: LocalInfra) -> Iterator[MakeSettings]:
    databases: list[LocalPostgres] = []

    def make(**overrides: Any) -> Settings:
        database = _fresh_database(infra)
        databases.append(database)
        values: dict[str, Any] = {
            "database_url": database.url,
            "kafka_bootstrap_servers": infra.broker.bootstrap_servers,
            "smtp_host": infra.smtp.host,
            "smtp_port": infra.smtp.port,
            "http_port": free_port(),
            "token_secret": secrets.token_urlsafe(16),
            "admin_api_key": "test-admin-key",
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
