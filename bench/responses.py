"""Web response capture throughput and latency beside raw baselines, in one run on this machine.

    python bench/responses.py [--submissions 5000] [--concurrency 32] [--workers 2]
                              [--questionnaire bow-client-regular]

1. Starts a Tansu broker, a fresh database (``TEVREDEN_DATABASE_URL``, else an embedded
   PostgreSQL) and the responses service as a real process (``tevreden run responses`` with
   ``TEVREDEN_HTTP_WORKERS=--workers``), and stores ``--submissions`` issued invitations.
   Every request carries its own respondent address (``X-Forwarded-For``, trusted from
   127.0.0.1), so the questionnaire rate limiter is in play as in production.
2. Service: ``--concurrency`` keep-alive connections each POST complete questionnaires
   (every question answered, one form per submission, CSRF included) to ``/q/<token>``,
   as fast as the service answers. Prints submissions/s and p50/p99 latency. A consumer of
   ``responses.submitted`` (``fetch_max_wait_ms=5``) times each submission from its POST to
   its event on the topic (through the outbox and the relay).
3. Raw HTTP baseline: the same client and the same bodies against an empty FastAPI endpoint
   on uvicorn (``--workers`` processes, same settings): what any Python web service pays.
4. Raw database baseline: the same number of single-row INSERT transactions (jsonb answers)
   on 8 connections: what storing one response per transaction costs at the least; and the
   rate limiter's upsert alone, once per new client, on 8 connections.

The client is a bare asyncio HTTP/1.1 client with pre-built requests, so it takes little of
the two cores; the service, PostgreSQL, the broker and the client still share them: read the
ratios, not the absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.responses import store
from services.responses.audio import ESPEAK, audio_questionnaires, manifest_path
from services.responses.domain import csrf_token
from shared.broker import all_topics, ensure_topics
from shared.events import InvitationIssued, InvitationIssuedPayload, Topics
from shared.tokens import token_hash
from tevreden.infra import ChildProcess, LocalPostgres, TansuBroker, free_port

WARM_UP = 300
ASPECTS = [
    "aspect_expertise",
    "aspect_understanding",
    "aspect_attention",
    "aspect_taken_seriously",
    "aspect_appointments",
    "aspect_location",
    "aspect_reachability",
    "aspect_intake_speed",
    "aspect_response_speed",
    "aspect_plan",
    "aspect_fit",
    "aspect_information",
    "aspect_job_help",
]
ANSWERS: dict[str, list[tuple[str, str]]] = {
    "bow-client-regular": [
        ("grade", "8"),
        ("recommended", "ja"),
        ("reason", "verplicht"),
        ("sanction_threat", "nee"),
        ("contact_frequency", "twee_drie"),
        ("contact_ways", "persoonlijk"),
        ("contact_ways", "telefonisch"),
        ("contact_amount", "precies_goed"),
        ("fixed_contact", "ja"),
        *((a, "tevreden") for a in ASPECTS),
        ("expectations", "zoals_verwacht"),
        ("complaint", "ja"),
        ("complaint_filed", "ja"),
        ("complaint_resolved", "gedeeltelijk"),
        ("gender", "vrouw"),
        ("education", "mbo"),
        ("benefit", "anders"),
        ("benefit.other", "Toeslag"),
        ("remarks", "Prima geholpen, dank u wel."),
    ],
    "minimal-v1": [("grade", "8"), ("recommend", "ja")],
}


# --- a small HTTP/1.1 client ---------------------------------------------------------


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    sent_at: dict[int, float] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    bad_bodies: int = 0
    elapsed: float = 0.0


def request_bytes(path: str, body: bytes, port: int, client: str) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"X-Forwarded-For: {client}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def run_load(port: int, requests: list[bytes], concurrency: int, expect: bytes | None) -> Load:
    load = Load()
    next_index = iter(range(len(requests)))

    async def worker() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for i in next_index:
                started = time.perf_counter()
                load.sent_at[i] = started
                writer.write(requests[i])
                status, body = await _read_response(reader)
                load.latencies.append(time.perf_counter() - started)
                load.statuses[status] = load.statuses.get(status, 0) + 1
                if expect is not None and expect not in body:
                    load.bad_bodies += 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    load.elapsed = time.perf_counter() - began
    return load


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


# --- the baselines -----------------------------------------------------------------------


def serve_empty(port: int) -> None:
    """The raw HTTP baseline: an empty FastAPI endpoint on uvicorn, as the service runs it (one
    process of ``--workers``, each on its own SO_REUSEPORT socket)."""
    import socket

    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    app = FastAPI()

    @app.post("/q/{token}")
    async def empty(token: str) -> HTMLResponse:
        return HTMLResponse("<p>Bedankt</p>")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    sock = socket.create_server(("127.0.0.1", port), reuse_port=True, backlog=2048)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


async def raw_rate_limiter(url: str, count: int) -> float:
    """The rate limiter's upsert for ``count`` new clients on 8 connections; returns upserts/s."""
    pool = await asyncpg.create_pool(url, min_size=8, max_size=8)
    assert pool is not None
    clients = iter(range(count))

    async def worker() -> None:
        async with pool.acquire() as conn:
            for n in clients:
                await store.take_rate_token(conn, f"bench-{n}", 5.0, 60)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(8)))
    elapsed = time.perf_counter() - began
    await pool.close()
    return count / elapsed


async def raw_inserts(url: str, count: int, answers: dict[str, object]) -> float:
    """Single-row INSERT transactions on 8 connections; returns rows/s."""
    pool = await asyncpg.create_pool(url, min_size=8, max_size=8)
    assert pool is not None
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE bench_raw (id uuid PRIMARY KEY, answers jsonb NOT NULL)")
    body = json.dumps(answers)
    ids = iter(range(count))

    async def worker() -> None:
        async with pool.acquire() as conn:
            for _ in ids:
                await conn.execute("INSERT INTO bench_raw VALUES ($1, $2::jsonb)", uuid.uuid4(), body)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(8)))
    elapsed = time.perf_counter() - began
    await pool.close()
    return count / elapsed


# --- the run -------------------------------------------------------------------------------


async def wait_healthy(port: int, process: ChildProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.exit_code() is not None:
                raise RuntimeError(f"server exited; see {process.log_path}")
            try:
                if (await http.get(f"http://127.0.0.1:{port}/healthz", timeout=2)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise TimeoutError("server not healthy")


async def audio_settled(folder: Path, timeout: float = 600) -> None:
    """Wait until the service has spoken its questionnaires (espeak-ng at start-up, CPU-heavy):
    the measured load must not share the cores with it."""
    if shutil.which(ESPEAK) is None:
        return  # the service speaks nothing without it
    expected = {manifest_path(folder, q) for q in audio_questionnaires()}
    deadline = time.monotonic() + timeout
    while not all(path.exists() for path in expected) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)


async def store_invitations(url: str, questionnaire_id: str, count: int) -> list[tuple[uuid.UUID, str]]:
    links = [(uuid.uuid4(), secrets.token_urlsafe(32)) for _ in range(count)]
    events = [
        InvitationIssued(
            payload=InvitationIssuedPayload(
                invitation_id=invitation_id,
                study_id="bench-2026",
                provider_id=f"P{i % 50}",
                service_code="3",
                questionnaire_id=questionnaire_id,
                token_hash=token_hash(token),
            )
        )
        for i, (invitation_id, token) in enumerate(links)
    ]
    conn = await asyncpg.connect(url)
    try:
        for start in range(0, count, 5000):
            await store.add_invitations(conn, events[start : start + 5000])
    finally:
        await conn.close()
    return links


class EventClock:
    """When each submission's ``responses.submitted`` event arrives on the topic."""

    def __init__(self, bootstrap: str) -> None:
        self.arrived: dict[str, float] = {}
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5
        )
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._consumer.start()
        partitions = self._consumer.partitions_for_topic(Topics.RESPONSES_SUBMITTED) or set()
        if not partitions:
            await self._consumer.force_metadata_update()
            partitions = self._consumer.partitions_for_topic(Topics.RESPONSES_SUBMITTED) or set()
        assigned = [TopicPartition(Topics.RESPONSES_SUBMITTED, p) for p in partitions]
        self._consumer.assign(assigned)
        await self._consumer.seek_to_end(*assigned)
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            now = time.perf_counter()
            for messages in batches.values():
                for message in messages:
                    if message.value is not None:
                        payload = json.loads(message.value)["payload"]
                        self.arrived.setdefault(payload["invitation_id"], now)

    async def wait_for(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.arrived) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self._consumer.stop()


async def main(args: argparse.Namespace) -> None:
    answers = ANSWERS[args.questionnaire]
    total = args.submissions + WARM_UP
    workdir = Path(tempfile.mkdtemp(prefix="bench-responses-"))
    broker, postgres = TansuBroker.start(), LocalPostgres.start()
    processes: list[ChildProcess] = []
    try:
        await ensure_topics(broker.bootstrap_servers, all_topics(), 6)
        secret = secrets.token_urlsafe(16)
        port = free_port()
        env = os.environ | {
            "TEVREDEN_DATABASE_URL": postgres.url,
            "TEVREDEN_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "TEVREDEN_HTTP_PORT": str(port),
            "TEVREDEN_ENVIRONMENT": "local",
            "TEVREDEN_TOKEN_SECRET": secret,
            "TEVREDEN_AUDIO_DIR": str(workdir / "audio"),
            "TEVREDEN_HTTP_WORKERS": str(args.workers),
        }
        service = ChildProcess(
            [sys.executable, "-m", "tevreden", "run", "responses"], workdir / "responses.log", env=env
        )
        service.spawn()
        processes.append(service)
        await wait_healthy(port, service)
        await audio_settled(workdir / "audio")
        print(f"storing {total:,} invitations ({args.questionnaire}) …")
        links = await store_invitations(postgres.url, args.questionnaire, total)
        requests = []
        for n, (_, token) in enumerate(links):
            form = [("csrf", csrf_token(secret.encode(), token_hash(token))), *answers]
            client = f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"  # each respondent its own address
            requests.append(request_bytes(f"/q/{token}", urllib.parse.urlencode(form).encode(), port, client))
        clock = EventClock(broker.bootstrap_servers)
        await clock.start()

        await run_load(port, requests[:WARM_UP], args.concurrency, b"Bedankt")
        measured = requests[WARM_UP:]
        print(f"service: {len(measured):,} complete questionnaires, {args.concurrency} connections …")
        load = await run_load(port, measured, args.concurrency, b"zijn goed ontvangen")
        await clock.wait_for(total)
        to_event = [
            clock.arrived[str(links[WARM_UP + i][0])] - sent
            for i, sent in load.sent_at.items()
            if str(links[WARM_UP + i][0]) in clock.arrived
        ]
        await clock.stop()
        async with asyncpg.create_pool(postgres.url, min_size=1, max_size=1) as pool:
            stored = await pool.fetchval("SELECT count(*) FROM responses.responses")
        service.stop()

        empty_port = free_port()
        empties = [
            ChildProcess(
                [sys.executable, str(Path(__file__).resolve()), "--serve-empty", str(empty_port)],
                workdir / f"empty-{n}.log",
                env=env,
            )
            for n in range(args.workers)
        ]
        for empty in empties:
            empty.spawn()
            processes.append(empty)
            await wait_healthy(empty_port, empty)
        retargeted = [r.replace(f":{port}\r\n".encode(), f":{empty_port}\r\n".encode(), 1) for r in requests]
        await run_load(empty_port, retargeted[:WARM_UP], args.concurrency, None)
        raw_http = await run_load(empty_port, retargeted[WARM_UP:], args.concurrency, b"Bedankt")
        for empty in empties:
            empty.stop()

        print(f"raw database: {len(measured):,} single-row insert transactions, 8 connections …")
        raw_db = await raw_inserts(postgres.url, len(measured), dict(answers))
        limiter = await raw_rate_limiter(postgres.url, len(measured))

        rate = len(measured) / load.elapsed
        http_rate = len(measured) / raw_http.elapsed
        ms = 1000
        print()
        print(f"{'path':<44}{'per s':>10}{'p50 ms':>9}{'p99 ms':>9}")
        print(
            f"{'responses service: complete questionnaire':<44}{rate:>10,.0f}"
            f"{percentile(load.latencies, 50) * ms:>9.1f}{percentile(load.latencies, 99) * ms:>9.1f}"
        )
        print(
            f"{'raw HTTP: empty FastAPI endpoint':<44}{http_rate:>10,.0f}"
            f"{percentile(raw_http.latencies, 50) * ms:>9.1f}{percentile(raw_http.latencies, 99) * ms:>9.1f}"
        )
        print(f"{'raw database: one insert per transaction':<44}{raw_db:>10,.0f}")
        print(f"{'rate limiter: one upsert per new client':<44}{limiter:>10,.0f}")
        if to_event:
            print(
                f"{'submission → event on responses.submitted':<44}{'':>10}"
                f"{percentile(to_event, 50) * ms:>9.1f}{percentile(to_event, 99) * ms:>9.1f}"
            )
        print()
        print(f"service / raw HTTP: {rate / http_rate:.2f}    service / raw database: {rate / raw_db:.2f}")
        print(
            f"statuses {load.statuses}, unexpected bodies {load.bad_bodies}, stored {stored:,} of {total:,}, "
            f"events seen {len(clock.arrived):,}, mean latency {statistics.fmean(load.latencies) * ms:.1f} ms"
        )
        print(f"{args.workers} HTTP worker(s); load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))
    finally:
        for process in processes:
            process.stop()
        postgres.stop()
        broker.stop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2, help="HTTP worker processes (service and raw)")
    parser.add_argument("--questionnaire", choices=sorted(ANSWERS), default="bow-client-regular")
    parser.add_argument("--serve-empty", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_empty:
        serve_empty(arguments.serve_empty)
    else:
        asyncio.run(main(arguments))
