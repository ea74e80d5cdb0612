"""The responses service with two HTTP worker processes: the questionnaire rate limiter's
buckets are shared (PostgreSQL), so a client gets its burst once, whichever process answers."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from services.responses import app as responses
from services.responses import store
from services.responses.domain import RateLimit
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings
from tests.integration.test_responses_capture import invite

pytestmark = pytest.mark.integration

BURST = 4
RESPONDENT = {"X-Forwarded-For": "198.51.100.23"}  # uvicorn trusts it from 127.0.0.1


@pytest.fixture(scope="module")
async def service(
    module_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceRuntime]:
    runtime = responses.runtime(
        module_settings(
            http_workers=2,
            audio_dir=tmp_path_factory.mktemp("audio"),
            questionnaire_rate_per_second=0.001,  # no refill during a test
            questionnaire_rate_burst=BURST,
        )
    )
    await runtime.start()
    yield runtime
    await runtime.stop()


def url(service: ServiceRuntime, path: str) -> str:
    return f"http://127.0.0.1:{service.settings.port_for('responses')}{path}"


def get_blocking(service: ServiceRuntime, path: str, headers: dict[str, str], deadline: float) -> int:
    """A GET on a fresh connection that blocks this test's event loop, and with it the first
    process's HTTP server (it runs in this loop): only the other worker can answer it."""
    while True:
        try:
            return httpx.get(url(service, path), headers=headers, timeout=5).status_code
        except httpx.TimeoutException:
            if time.monotonic() > deadline:
                raise


async def test_two_http_workers_share_one_rate_limit_per_client(service: ServiceRuntime) -> None:
    token, _ = await invite(service)
    [worker] = service.http_worker_pids
    deadline = time.monotonic() + 120
    assert get_blocking(service, "/healthz", {}, deadline) == 200  # the worker is up
    # The worker alone (this loop blocked): three of the client's four requests.
    assert [get_blocking(service, f"/q/{token}", RESPONDENT, deadline) for _ in range(3)] == [200] * 3
    # The first process alone (the worker stopped): one request left, then 429s.
    os.kill(worker, signal.SIGSTOP)
    try:
        async with httpx.AsyncClient(headers=RESPONDENT, timeout=20) as http:
            statuses = [(await http.get(url(service, f"/q/{token}"))).status_code for _ in range(3)]
    finally:
        os.kill(worker, signal.SIGCONT)
    assert statuses == [200, 429, 429]


async def test_a_client_gets_its_burst_then_waits_and_others_have_their_own(service: ServiceRuntime) -> None:
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        takes = [await store.take_rate_token(conn, "203.0.113.5", rate=0.01, burst=3) for _ in range(4)]
        other = await store.take_rate_token(conn, "203.0.113.6", rate=0.01, burst=3)
    assert [t.allowed for t in takes] == [True, True, True, False]
    assert other.allowed


async def test_a_bucket_refills_at_its_rate(service: ServiceRuntime) -> None:
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        first = await store.take_rate_token(conn, "203.0.113.9", rate=1, burst=1)
        again = await store.take_rate_token(conn, "203.0.113.9", rate=1, burst=1)
        await asyncio.sleep(1.1)
        later = await store.take_rate_token(conn, "203.0.113.9", rate=1, burst=1)
    assert (first.allowed, again.allowed, later.allowed) == (True, False, True)


async def test_buckets_that_filled_up_again_are_forgotten(service: ServiceRuntime) -> None:
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        limit = RateLimit("t", "/t/", rate=1, burst=2)
        await store.take_rate_token(conn, limit.client_key("203.0.113.7"), rate=1, burst=2)  # one left
        for _ in range(2):
            await store.take_rate_token(conn, limit.client_key("203.0.113.8"), rate=1, burst=2)  # none
        await asyncio.sleep(1.1)  # +1.1 tokens: the first is full again, the second is not
        await store.forget_full_rate_buckets(conn, limit)
        left = {r["client"] for r in await conn.fetch("SELECT client FROM responses.rate_buckets")}
    assert limit.client_key("203.0.113.7") not in left
    assert limit.client_key("203.0.113.8") in left
