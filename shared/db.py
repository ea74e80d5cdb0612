"""The asyncpg pool and a very small migration runner.

Each service owns one PostgreSQL schema. Its migrations are plain SQL files
(``NNN_name.sql``) in ``services/<name>/migrations``, applied in order inside one
transaction each, under an advisory lock so replicas starting together do not race.
The outbox and inbox tables every service needs come first, from ``shared``.
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from shared.logging import get_logger

log = get_logger(__name__)

# What store functions take: a plain connection or one borrowed from the pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

# The outbox, the inbox and the dead-letter record, created in every service's schema.
_SHARED_DDL = """
CREATE TABLE IF NOT EXISTS {schema}.outbox (
    id bigserial PRIMARY KEY,
    event_id uuid NOT NULL UNIQUE,
    topic text NOT NULL,
    message_key text NOT NULL,
    body bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_unsent ON {schema}.outbox (id) WHERE sent_at IS NULL;
CREATE TABLE IF NOT EXISTS {schema}.inbox (
    event_id uuid PRIMARY KEY,
    topic text NOT NULL,
    consumed_at timestamptz NOT NULL DEFAULT now()
);
"""


async def _init_connection(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    # jsonb in and out as Python objects, so stores never call json.dumps by hand.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection[asyncpg.Record]) -> None:
    """Released connections keep their session: the pool still rolls back an open transaction,
    but skips asyncpg's reset query (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL), a
    round trip on every release. No code here leaves session state behind: advisory locks are
    transaction-scoped or unlocked in ``finally``, nothing LISTENs, SETs or holds cursors."""


async def create_pool(database_url: str, size: int = 8) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url, min_size=1, max_size=size, init=_init_connection, reset=_keep_session
    )
    assert pool is not None
    return pool


def migrations_dir(package: str) -> Path:
    """The ``migrations`` folder shipped inside a service package."""
    return Path(str(resources.files(package).joinpath("migrations")))


async def migrate(conn: Connection, schema: str, folder: Path) -> list[str]:
    """Apply the shared DDL and every not-yet-applied file in ``folder``; returns what ran."""
    lock_id = int.from_bytes(hashlib.sha256(schema.encode()).digest()[:4], "big")
    await conn.execute("SELECT pg_advisory_lock($1)", lock_id)
    try:
        return await _apply(conn, schema, folder)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)


async def _apply(conn: Connection, schema: str, folder: Path) -> list[str]:
    async with conn.transaction():
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(_SHARED_DDL.format(schema=schema))
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations ("
            " version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
    done = {r["version"] for r in await conn.fetch(f"SELECT version FROM {schema}.schema_migrations")}
    applied: list[str] = []
    for path in sorted(folder.glob("*.sql")):  # noqa: ASYNC240 - a handful of small files at start
        if path.stem in done:
            continue
        async with conn.transaction():
            await conn.execute(path.read_text().replace("{schema}", schema))
            await conn.execute(f"INSERT INTO {schema}.schema_migrations (version) VALUES ($1)", path.stem)
        applied.append(path.stem)
        log.info("migration_applied", schema=schema, version=path.stem)
    return applied


async def migrate_url(database_url: str, schema: str, folder: Path) -> list[str]:
    conn: Any = await asyncpg.connect(database_url)
    try:
        return await migrate(conn, schema, folder)
    finally:
        await conn.close()
