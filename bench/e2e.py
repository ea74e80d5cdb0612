"""End to end: providers' contact lists through the whole pipeline, beside raw baselines.

    python bench/e2e.py [--providers 500 --contacts 100000 --respond 0.3]   # the full size
    python bench/e2e.py --quick                                              # 20 providers, 2,000 contacts

1. Starts the local infrastructure and the four services as real ``tevreden run <service>``
   processes (``tevreden/stack.py``, as the demo does). Emails go to an SMTP sink in its own
   process (``bench/emails.py``'s, which forgets what it got). Reminders are a plan week away,
   so every person gets exactly one email.
2. Registers a Blik op Werk study (the minimal questionnaire), the providers and their
   enrolments (not timed), then the pipeline runs, every stage on the real service:
   * **intake**: each provider delivers its CSV over the provider API (4 deliveries in flight);
   * **email**: the invitations service's email scheduler sends one invitation per contact;
   * **responses**: ``--respond`` of the people answer once every email has gone out (with
     ``--overlap``: as soon as their own email has; then this stage runs at the email stage's
     pace). The driver learns who was emailed from the invitations schema and derives their link
     from the token secret, as the email carries it: a POST of the form with its CSRF token to ``/q/<token>``
     on ``--concurrency`` keep-alive connections, a grade and a recommendation each;
   * **scoring**: the scoring service counts every response (``scoring.responses``);
   * **reports**: the reporting service's figures per provider (``/api/studies/{s}/summary``)
     equal what the simulated respondents answered, for every provider.
   A stage's throughput is its items over its own window (first item in to last item out); the
   stages overlap, as they do in production.
3. Raw baselines, in the same run on the same machine: ``copy_records_to_table`` of the same
   contact rows (intake), ``bench/emails.py``'s bare aiosmtplib loop on 8 connections with the
   real, pre-rendered messages (email), ``bench/responses.py``'s empty FastAPI endpoint for the
   same POSTs (responses), ``bench/scoring.py``'s bare consumer with batched upserts over the same
   number of response events (scoring).

End to end is printed two ways: contacts per second from the first delivery to the last
report, and as a ratio against the raw baselines one after the other (the sum of their times
for the same volumes divided by the pipeline's time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import logging
import os
import random
import sys
import time
import urllib.parse
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import emails as raw_emails  # noqa: E402  (bench/emails.py)
import responses as raw_responses  # noqa: E402  (bench/responses.py)
import scoring as raw_scoring  # noqa: E402  (bench/scoring.py)

from services.invitations import service as invitations_service  # noqa: E402
from services.invitations.emails import smtp_date  # noqa: E402
from services.responses.domain import csrf_token  # noqa: E402
from shared.broker import ensure_topics  # noqa: E402
from shared.events import encode_event  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.tokens import invitation_token, token_hash  # noqa: E402
from tevreden.infra import ChildProcess, free_port  # noqa: E402
from tevreden.stack import LocalStack, local_stack  # noqa: E402

STUDY = "e2e-bow-2026"
SERVICES = ("3", "9")
HEADER = ["client_ref", "name", "email", "service"]
THANKS = b"Bedankt voor uw mening"
RAW_EMAILS_MAX = 20_000  # the raw SMTP loop's sample (its rate does not depend on the count)


@dataclass
class Person:
    ref: str
    provider: str
    grade: int | None  # None: does not answer


@dataclass
class Panel:
    providers: list[str]
    people: list[Person]

    def csv_for(self, provider: str) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for n, p in enumerate(x for x in self.people if x.provider == provider):
            writer.writerow([p.ref, f"Persoon {p.ref}", f"{p.ref.lower()}@e2e.example", SERVICES[n % 2]])
        return out.getvalue().encode()

    def expected(self) -> dict[str, tuple[int, int]]:
        """Per provider: (net sample, completed)."""
        found = {p: [0, 0] for p in self.providers}
        for person in self.people:
            found[person.provider][0] += 1
            found[person.provider][1] += person.grade is not None
        return {p: (n, done) for p, (n, done) in found.items()}


def make_panel(providers: int, contacts: int, respond: float, seed: int) -> Panel:
    rng = random.Random(seed)
    ids = [f"E{n:04d}" for n in range(providers)]
    people = [
        Person(f"C{n:07d}", ids[n % providers], rng.randint(1, 10) if rng.random() < respond else None)
        for n in range(contacts)
    ]
    return Panel(ids, people)


@dataclass
class Window:
    """When a stage's first item went in and its last item came out."""

    first: float | None = None
    last: float | None = None
    items: int = 0

    def seen(self, count: int, target: int, now: float) -> None:
        if count and self.first is None:
            self.first = now
        if count >= target and self.last is None:
            self.last = now
        self.items = count

    @property
    def seconds(self) -> float:
        assert self.first is not None and self.last is not None
        return max(self.last - self.first, 1e-9)

    @property
    def rate(self) -> float:
        return self.items / self.seconds


@dataclass
class Run:
    intake: Window = field(default_factory=Window)
    email: Window = field(default_factory=Window)
    responses: Window = field(default_factory=Window)
    scoring: Window = field(default_factory=Window)
    reports: Window = field(default_factory=Window)
    started: float = 0.0
    posts: int = 0
    retried: int = 0


# --- the pipeline --------------------------------------------------------------------------


async def setup(http: httpx.AsyncClient, stack: LocalStack, panel: Panel) -> None:
    base, admin = stack.url("invitations"), {"X-API-Key": stack.admin_api_key}
    study = {
        "study_id": STUDY,
        "name": "E2E",
        "scheme_id": "bow",
        "year": 2026,
        "questionnaire_id": "minimal-v1",
    }
    (await http.post(f"{base}/api/studies", json=study, headers=admin)).raise_for_status()
    semaphore = asyncio.Semaphore(8)

    async def one(provider: str) -> None:
        async with semaphore:
            body = {"provider_id": provider, "name": f"Aanbieder {provider}"}
            (await http.post(f"{base}/api/providers", json=body, headers=admin)).raise_for_status()
            enrolment = {"provider_id": provider, "services": list(SERVICES)}
            (
                await http.post(f"{base}/api/studies/{STUDY}/enrolments", json=enrolment, headers=admin)
            ).raise_for_status()

    await asyncio.gather(*(one(p) for p in panel.providers))


async def deliver_all(http: httpx.AsyncClient, stack: LocalStack, panel: Panel, run: Run) -> None:
    base, admin = stack.url("invitations"), {"X-API-Key": stack.admin_api_key, "Content-Type": "text/csv"}
    semaphore = asyncio.Semaphore(4)
    delivered = 0

    async def one(provider: str) -> None:
        nonlocal delivered
        async with semaphore:
            response = await http.post(
                f"{base}/api/studies/{STUDY}/deliveries",
                params={"provider_id": provider},
                content=panel.csv_for(provider),
                headers=admin,
            )
            response.raise_for_status()
            delivered += response.json()["rows_accepted"]
            run.intake.seen(delivered, len(panel.people), time.perf_counter())

    run.intake.first = time.perf_counter()
    await asyncio.gather(*(one(p) for p in panel.providers))
    print(f"  intake: {run.intake.items:,} contacts in {run.intake.seconds:.1f} s", flush=True)


async def respondents(
    stack: LocalStack, panel: Panel, run: Run, concurrency: int, overlap: bool, done: asyncio.Event
) -> None:
    """People answer once their email went out (``overlap``), or once every email went out, so
    the responses stage runs at its own pace: a POST of the form to their link."""
    secret = stack.env["TEVREDEN_TOKEN_SECRET"].encode()
    grades = {p.ref: p.grade for p in panel.people if p.grade is not None}
    port = stack.ports["responses"]
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    conn = await asyncpg.connect(stack.env["TEVREDEN_DATABASE_URL"])

    async def feed() -> None:
        last = 0
        while not overlap and run.email.last is None:
            await asyncio.sleep(0.2)
        while not done.is_set():
            rows = await conn.fetch(
                "SELECT a.approach_id, a.invitation_id, c.client_ref FROM invitations.approaches a"
                " JOIN invitations.invitations i USING (invitation_id)"
                " JOIN invitations.contacts c ON c.contact_id = i.contact_id"
                " WHERE a.approach_id > $1 AND a.mode = 'email' AND a.outcome = 'sent'"
                " ORDER BY a.approach_id LIMIT 5000",
                last,
            )
            for r in rows:
                grade = grades.get(r["client_ref"])
                if grade is not None:
                    token = invitation_token(secret, r["invitation_id"])
                    form = [
                        ("csrf", csrf_token(secret, token_hash(token))),
                        ("grade", str(grade)),
                        ("recommend", "ja"),
                    ]
                    body = urllib.parse.urlencode(form).encode()
                    queue.put_nowait(raw_responses.request_bytes(f"/q/{token}", body, port))
            if rows:
                last = rows[-1]["approach_id"]
            else:
                await asyncio.sleep(0.5)

    async def worker() -> None:
        connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        while True:
            request = await queue.get()
            if run.responses.first is None:
                run.responses.first = time.perf_counter()
            try:
                if connection is None:
                    connection = await asyncio.open_connection("127.0.0.1", port)
                reader, writer = connection
                writer.write(request)
                status, body = await raw_responses._read_response(reader)
            except (ConnectionError, asyncio.IncompleteReadError):
                connection = None  # the server closed an idle keep-alive connection: open a new one
                queue.put_nowait(request)
                continue
            run.posts += 1
            if status != 200 or THANKS not in body:  # the responses service has not had the
                run.retried += 1  # invitation yet: the person tries again a little later
                asyncio.get_running_loop().call_later(1.0, queue.put_nowait, request)

    tasks = [asyncio.create_task(feed()), *(asyncio.create_task(worker()) for _ in range(concurrency))]
    await done.wait()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await conn.close()


async def watch(
    http: httpx.AsyncClient, stack: LocalStack, panel: Panel, run: Run, done: asyncio.Event
) -> None:
    """Counts per stage every half second, until every provider's figures are right."""
    contacts = len(panel.people)
    answering = sum(p.grade is not None for p in panel.people)
    expected = panel.expected()
    conn = await asyncpg.connect(stack.env["TEVREDEN_DATABASE_URL"])
    try:
        while True:
            now = time.perf_counter()
            sent = await conn.fetchval(
                "SELECT count(*) FROM invitations.approaches WHERE mode = 'email' AND outcome = 'sent'"
            )
            if sent >= contacts and run.email.last is None:
                print(f"  email: {sent:,} in {now - (run.email.first or now):.1f} s", flush=True)
            run.email.seen(sent, contacts, now)
            stored = await conn.fetchval("SELECT count(*) FROM responses.responses")
            run.responses.seen(stored, answering, now)
            scored = await conn.fetchval("SELECT count(*) FROM scoring.responses WHERE study_id = $1", STUDY)
            run.scoring.seen(scored, answering, now)
            admin = {"X-API-Key": stack.admin_api_key}
            summary = await http.get(f"{stack.url('reporting')}/api/studies/{STUDY}/summary", headers=admin)
            rows = summary.json() if summary.status_code == 200 else []
            right = sum(
                1 for r in rows if expected.get(r["provider_id"]) == (r["net_sample"], r["completed"])
            )
            if rows and run.reports.first is None:
                run.reports.first = now
            run.reports.seen(right, len(panel.providers), now)
            if run.reports.last is not None and run.scoring.last is not None and run.email.last is not None:
                done.set()
                return
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def pipeline(stack: LocalStack, panel: Panel, concurrency: int, overlap: bool, timeout: float) -> Run:
    run = Run()
    limits = httpx.Limits(max_connections=16, keepalive_expiry=1.0)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        await setup(http, stack, panel)
        done = asyncio.Event()
        run.started = time.perf_counter()
        answering = asyncio.create_task(respondents(stack, panel, run, concurrency, overlap, done))
        watching = asyncio.create_task(watch(http, stack, panel, run, done))
        await deliver_all(http, stack, panel, run)
        await progress_until(done, run, len(panel.people), timeout)
        await asyncio.gather(answering, watching)
    return run


async def progress_until(done: asyncio.Event, run: Run, contacts: int, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while not done.is_set():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"not settled after {timeout:.0f} s: {describe(run)}")
        print(f"  {time.perf_counter() - run.started:6.0f} s  {describe(run)}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), 15)


def describe(run: Run) -> str:
    return (
        f"delivered {run.intake.items:,}, emailed {run.email.items:,}, answered {run.responses.items:,}"
        f" (posts {run.posts:,}, retried {run.retried:,}), scored {run.scoring.items:,},"
        f" providers right {run.reports.items:,}"
    )


# --- raw baselines -------------------------------------------------------------------------


async def raw_copy(url: str, panel: Panel) -> float:
    """Rows/s: the same contact rows parsed from CSV and COPYed into a scratch table."""
    data = [panel.csv_for(p) for p in panel.providers]
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE TABLE e2e_raw_contacts (" + ", ".join(f"{c} text" for c in HEADER) + ")")
        started = time.perf_counter()
        rows = 0
        for blob in data:
            records = list(csv.reader(io.StringIO(blob.decode())))[1:]
            async with conn.transaction():
                await conn.copy_records_to_table("e2e_raw_contacts", records=records, columns=HEADER)
            rows += len(records)
        return rows / (time.perf_counter() - started)
    finally:
        await conn.close()


async def raw_smtp(stack: LocalStack, sink_port: int, count: int) -> float:
    """Emails/s: the real messages (rendered beforehand) through a bare aiosmtplib loop."""
    settings = Settings(
        token_secret=stack.env["TEVREDEN_TOKEN_SECRET"],
        public_base_url=stack.env["TEVREDEN_PUBLIC_BASE_URL"],
        invitations_public_url=stack.env["TEVREDEN_INVITATIONS_PUBLIC_URL"],
        smtp_port=sink_port,
    )
    conn = await asyncpg.connect(stack.env["TEVREDEN_DATABASE_URL"])
    try:
        rows = await conn.fetch(
            "SELECT i.invitation_id, 0 AS stage_attempts, i.respondent_type, c.email, c.name, c.variant,"
            " p.name AS provider_name FROM invitations.invitations i"
            " JOIN invitations.contacts c USING (contact_id) JOIN invitations.providers p"
            " ON p.provider_id = i.provider_id LIMIT $1",
            count,
        )
    finally:
        await conn.close()
    date = smtp_date()
    messages = [(r["email"], invitations_service.email_bytes(settings, r, date)[1]) for r in rows]
    started = time.perf_counter()
    sent = await raw_emails.raw_loop(settings, messages, 8)
    return sent / (time.perf_counter() - started)


async def raw_http(stack: LocalStack, panel: Panel, count: int, concurrency: int) -> float:
    """POSTs/s of the same size against an empty FastAPI endpoint on uvicorn (one process)."""
    port = free_port()
    empty = ChildProcess(
        [sys.executable, str(ROOT / "bench" / "responses.py"), "--serve-empty", str(port)],
        stack.workdir / "empty.log",
        env=dict(os.environ),
    )
    empty.spawn()
    try:
        await raw_responses.wait_healthy(port, empty)
        form = [("csrf", "0" * 64), ("grade", "8"), ("recommend", "ja")]
        body = urllib.parse.urlencode(form).encode()
        requests = [
            raw_responses.request_bytes(f"/q/{uuid.uuid4().hex}{uuid.uuid4().hex}", body, port)
        ] * count
        load = await raw_responses.run_load(port, requests, concurrency, b"Bedankt")
        return count / load.elapsed
    finally:
        empty.stop()


async def raw_consume(stack: LocalStack, count: int, providers: int) -> float:
    """Events/s: bare getmany + one transaction per batch (dedup insert, per-provider upsert)."""
    bootstrap = stack.env["TEVREDEN_KAFKA_BOOTSTRAP_SERVERS"]
    events = raw_scoring.backlog(count, providers, "minimal-v1")
    await ensure_topics(bootstrap, [raw_scoring.RAW_TOPIC], raw_scoring.PARTITIONS)
    await raw_scoring.produce(
        bootstrap, [(raw_scoring.RAW_TOPIC, encode_event(e), e.key.encode()) for e in events]
    )
    return await raw_scoring.raw_baseline(bootstrap, stack.env["TEVREDEN_DATABASE_URL"], count)


# --- the report ----------------------------------------------------------------------------


async def timed(what: str, make: Callable[[], Awaitable[float]]) -> float:
    print(f"raw baseline: {what} …", flush=True)
    return await make()


async def drive(stack: LocalStack, panel: Panel, args: argparse.Namespace, sink_port: int) -> None:
    contacts = len(panel.people)
    answering = sum(p.grade is not None for p in panel.people)
    print(
        f"pipeline: {len(panel.providers):,} providers, {contacts:,} contacts, {answering:,} answer …",
        flush=True,
    )
    run = await pipeline(stack, panel, args.concurrency, args.overlap, args.timeout)
    end_to_end = run.reports.last - run.started  # type: ignore[operator]
    url = stack.env["TEVREDEN_DATABASE_URL"]
    raw = {
        "intake": await timed("COPY of the contact rows", lambda: raw_copy(url, panel)),
        "email": await timed(
            "aiosmtplib loop", lambda: raw_smtp(stack, sink_port, min(contacts, RAW_EMAILS_MAX))
        ),
        "responses": await timed(
            "HTTP POST to an empty endpoint", lambda: raw_http(stack, panel, answering, args.concurrency)
        ),
        "scoring": await timed(
            "consume + upsert", lambda: raw_consume(stack, answering, len(panel.providers))
        ),
    }
    stages = [
        ("intake (provider API, validate, store, events)", run.intake, "contacts", raw["intake"]),
        ("email (scheduler, render, SMTP, record)", run.email, "emails", raw["email"]),
        ("responses (web form POST, store, event)", run.responses, "responses", raw["responses"]),
        ("scoring (consume, count, snapshot)", run.scoring, "responses", raw["scoring"]),
        ("reports (figures per provider right)", run.reports, "providers", None),
    ]
    print()
    print(f"{'stage':<50}{'items':>9}{'seconds':>9}{'per s':>10}{'raw per s':>11}{'ratio':>8}")
    for name, window, unit, baseline in stages:
        ratio = f"{window.rate / baseline:8.3f}" if baseline else f"{'–':>8}"
        base = f"{baseline:11,.0f}" if baseline else f"{'–':>11}"
        print(
            f"{name:<50}{window.items:>9,}{window.seconds:>9.1f}{window.rate:>10,.1f}{base}{ratio}   {unit}"
        )
    raw_seconds = (
        contacts / raw["intake"]
        + contacts / raw["email"]
        + answering / (raw["responses"])
        + answering / raw["scoring"]
    )
    print()
    print(
        f"end to end: {contacts:,} contacts from the first delivery to every provider's figures right"
        f" in {end_to_end:.1f} s = {contacts / end_to_end:,.1f} contacts/s"
    )
    print(
        f"raw baselines one after the other for the same volumes: {raw_seconds:.1f} s;"
        f" ratio raw / pipeline = {raw_seconds / end_to_end:.3f}"
    )
    last_report = run.reports.last - run.scoring.last  # type: ignore[operator]
    last_scored = run.scoring.last - run.responses.last  # type: ignore[operator]
    print(f"the last response was counted {last_scored:.1f} s after it was stored;")
    print(
        f"the last report was right {last_report:.1f} s after the last response was counted;"
        f" {run.retried:,} of {run.posts:,} POSTs came before the responses service had the invitation"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--providers", type=int, default=500)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--respond", type=float, default=0.3, help="share of people who answer")
    parser.add_argument("--concurrency", type=int, default=16, help="respondents' connections")
    parser.add_argument("--quick", action="store_true", help="20 providers, 2,000 contacts")
    parser.add_argument(
        "--overlap",
        action="store_true",
        help="people answer as soon as their own email went out (default: once every email went out)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--timeout", type=float, default=7200, help="seconds before giving up")
    args = parser.parse_args()
    if args.quick:
        args.providers, args.contacts = 20, 2000
    logging.disable(logging.WARNING)
    panel = make_panel(args.providers, args.contacts, args.respond, args.seed)
    sink_port = free_port()
    sink = raw_emails.start_sink(sink_port)
    try:
        settings = {
            "TEVREDEN_SMTP_PORT": str(sink_port),
            "TEVREDEN_EMAIL_RATE_PER_SECOND": "0",
            "TEVREDEN_WAVE_DAY_SECONDS": "86400",
            "TEVREDEN_CALLING_HOURS_APPLY": "false",
            "TEVREDEN_LOG_LEVEL": "WARNING",
            "TEVREDEN_QUESTIONNAIRE_RATE_PER_SECOND": "1000000",
            "TEVREDEN_QUESTIONNAIRE_RATE_BURST": "1000000",
        }
        with local_stack(settings=settings) as stack:
            print(
                f"load before: {os.getloadavg()[0]:.2f} (1-min average), {os.cpu_count()} cores", flush=True
            )
            asyncio.run(drive(stack, panel, args, sink_port))
            print(f"load after: {os.getloadavg()[0]:.2f} (1-min average)")
    finally:
        sink.terminate()
        sink.wait()


if __name__ == "__main__":
    main()
