"""The whole pipeline as real ``tevreden run <service>`` processes, with faults on demand.

Each test gets its own broker (Tansu), its own SMTP sink and a fresh database, so what one
test leaves on a topic never reaches another. Services run as child processes, any number of
replicas each; a replica can be killed with SIGKILL (no clean-up at all) and started again.

The scenario is small and fixed: a study of a few providers with ~100 contacts each, emailed
once (no reminders, no letters or calls within a test), and the simulated people who mean to
answer do so on the real questionnaire page. :mod:`tests.faults.invariants` then checks that
nothing was lost and nothing counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.consumer import LagMonitor
from shared.tokens import token_hash
from tests.polling import DEADLINE
from tevreden.demo import register_and_deliver
from tevreden.infra import (
    ChildProcess,
    InfraError,
    LocalPostgres,
    ReceivedMail,
    SmtpSink,
    TansuBroker,
    TansuProxy,
    free_port,
)
from tevreden.panel import Person, Provider, generate_panel

SERVICES = ("invitations", "responses", "scoring", "reporting")
# The topics each service's consumer group reads (services/*/app.py).
CONSUMED_BY = {
    "invitations": ("responses.submitted",),
    "responses": ("invitations.issued",),
    "scoring": (
        "invitations.issued",
        "invitations.undeliverable",
        "responses.submitted",
        "responses.withdrawn",
    ),
    "reporting": ("scores.updated",),
}
LINK = re.compile(r"http://[^/\s]+(/q/[A-Za-z0-9_-]+)")


@dataclass
class Replica:
    service: str
    index: int
    port: int
    process: ChildProcess | None = None

    @property
    def name(self) -> str:
        return f"{self.service}-{self.index}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.exit_code() is None


# Test timing: no reminder or letter within a test (a plan day is an hour), 4xx retried
# after half a second, a silent SMTP server given up on after 2 s, a crashed email round
# retaken after 30 s. The lease must outlast any round (50 emails): a round still sending
# when its lease ends is claimed again and emailed twice (10 s was too short under load).
FAULT_SETTINGS = {
    "TEVREDEN_REMINDER_AFTER_SECONDS": "3600",
    "TEVREDEN_WAVE_DAY_SECONDS": "3600",
    "TEVREDEN_CALLING_HOURS_APPLY": "false",
    "TEVREDEN_EMAIL_RATE_PER_SECOND": "0",
    "TEVREDEN_SMTP_RETRY_AFTER_SECONDS": "0.5",
    "TEVREDEN_SMTP_TIMEOUT_SECONDS": "2",
    "TEVREDEN_SMTP_MAX_RETRIES": "8",
    "TEVREDEN_EMAIL_LEASE_SECONDS": "30",
    "TEVREDEN_EMAIL_BATCH_SIZE": "50",
    "TEVREDEN_SCHEDULER_POLL_SECONDS": "0.2",
    "TEVREDEN_OUTBOX_POLL_SECONDS": "0.1",
    "TEVREDEN_CONSUMER_RETRY_BACKOFF_SECONDS": "0.05",
    "TEVREDEN_CONSUMER_BATCH_SIZE": "50",
    "TEVREDEN_REPORT_DEBOUNCE_SECONDS": "0",
    "TEVREDEN_TOPIC_PARTITIONS": "6",
    "TEVREDEN_LOG_FORMAT": "json",
    "TEVREDEN_DATABASE_POOL_SIZE": "4",
}


@dataclass
class FaultStack:
    """Broker, database, SMTP sink and the services' processes of one fault test."""

    workdir: Path
    broker: TansuBroker | TansuProxy  # a proxy where the test kills the broker endpoint
    postgres: LocalPostgres
    smtp: SmtpSink
    settings: dict[str, str] = field(default_factory=dict)
    admin_api_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    token_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    replicas: dict[str, list[Replica]] = field(default_factory=dict)
    settled: list[Scenario] = field(default_factory=list)  # scenarios run to the end on this stack

    # --- processes ---------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        responses = self.replicas.get("responses") or [Replica("responses", 0, 0)]
        invitations = self.replicas.get("invitations") or [Replica("invitations", 0, 0)]
        return (
            dict(os.environ)
            | FAULT_SETTINGS
            | {
                "TEVREDEN_DATABASE_URL": self.postgres.url,
                "TEVREDEN_KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
                "TEVREDEN_SMTP_HOST": self.smtp.host,
                "TEVREDEN_SMTP_PORT": str(self.smtp.port),
                "TEVREDEN_ENVIRONMENT": "local",
                "TEVREDEN_TOKEN_SECRET": self.token_secret,
                "TEVREDEN_ADMIN_API_KEY": self.admin_api_key,
                "TEVREDEN_PUBLIC_BASE_URL": responses[0].url,
                "TEVREDEN_INVITATIONS_PUBLIC_URL": invitations[0].url,
                "TEVREDEN_REPORT_DIR": str(self.workdir / "reports"),
                "TEVREDEN_LETTER_DIR": str(self.workdir / "letters"),
                "TEVREDEN_AUDIO_DIR": str(self.workdir / "audio"),
            }
            | self.settings
        )

    def add(self, service: str, count: int = 1) -> None:
        """Plan ``count`` replicas of ``service`` (ports fixed now, so links can name them)."""
        existing = self.replicas.setdefault(service, [])
        existing += [Replica(service, len(existing) + i, free_port()) for i in range(count)]

    def start_all(self) -> None:
        for replicas in self.replicas.values():
            for replica in replicas:
                self.start(replica)

    def start(self, replica: Replica) -> None:
        env = self.env() | {"TEVREDEN_HTTP_PORT": str(replica.port)}
        process = ChildProcess(
            [sys.executable, "-m", "tevreden", "run", replica.service],
            self.workdir / f"{replica.name}.log",
            env=env,
        )
        process.spawn()
        replica.process = process

    def kill(self, replica: Replica) -> None:
        """SIGKILL: no shutdown hook, no flush, no commit; then reap the process."""
        process, replica.process = replica.process, None
        assert process is not None and process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.stop(grace=5)

    def stop_replica(self, replica: Replica) -> None:
        """A clean stop (SIGTERM): the replica leaves its consumer groups."""
        process, replica.process = replica.process, None
        if process is not None:
            process.stop(grace=15)

    async def metric(self, replica: Replica, name: str, **labels: str) -> float:
        """One sample of a Prometheus counter from the replica's /metrics (0 when absent)."""
        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(f"{replica.url}/metrics")).text
        want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith(f"{name}{{{want}}} ") or (not labels and line.startswith(f"{name} ")):
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def replica(self, service: str, index: int = 0) -> Replica:
        return self.replicas[service][index]

    def live(self, service: str) -> list[Replica]:
        return [r for r in self.replicas[service] if r.running]

    async def wait_healthy(self, replicas: list[Replica] | None = None, timeout: float = DEADLINE) -> None:
        todo = replicas or [r for rs in self.replicas.values() for r in rs]
        async with httpx.AsyncClient(timeout=2) as http:
            await asyncio.gather(*(self._healthy(http, r, timeout) for r in todo))

    async def _healthy(self, http: httpx.AsyncClient, replica: Replica, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not replica.running:
                raise InfraError(f"{replica.name} exited; log {self.workdir / (replica.name + '.log')}")
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get(f"{replica.url}/healthz")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise InfraError(f"{replica.name} not healthy after {timeout:.0f} s")
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        """Kill every replica at once: nothing they would do on a clean stop is needed here."""
        for replicas in self.replicas.values():
            for replica in replicas:
                if replica.process is not None:
                    self.kill(replica)

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for replicas in self.replicas.values():
            for replica in replicas:
                path = self.workdir / f"{replica.name}.log"
                if path.exists():
                    tail = path.read_text(errors="replace").splitlines()[-lines:]
                    out.append(f"--- {replica.name}\n" + "\n".join(tail))
        return "\n".join(out)

    async def db(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.postgres.url)


# --- the scenario ------------------------------------------------------------------------


@dataclass
class Scenario:
    """The panel, and what the simulated people did: the independent truth to check against.

    Each scenario has its own study, providers and addresses (prefixed by ``tag``), so several
    can run one after another on the same stack without seeing each other.
    """

    tag: str
    panel: list[Provider]
    answered: dict[str, Person] = field(default_factory=dict)  # by email
    handled_messages: set[str] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)  # addresses SMTP refused for good (5xx)
    duplicates_allowed: bool = False  # its fault made a second copy of some email unavoidable

    @classmethod
    def small(cls, tag: str, providers: int = 3, contacts: int = 300, seed: int = 11) -> Scenario:
        panel = generate_panel(providers, contacts, seed)
        for provider in panel:
            provider.bad_rows = 0  # a clean delivery: every contact is invited
            provider.provider_id = f"{tag}-{provider.provider_id}"
            for person in provider.people:
                person.client_ref = f"{tag}-{person.client_ref}"
                person.email = f"{tag.lower()}.{person.email}"
        return cls(tag, panel)

    @property
    def study_id(self) -> str:
        return f"fault-{self.tag}"

    def provider_of(self, email: str) -> str:
        return next(p.provider_id for p in self.panel if any(q.email == email for q in p.people))

    def mine(self, mails: list[ReceivedMail]) -> list[ReceivedMail]:
        """This scenario's messages among everything the SMTP sink holds."""
        people = self.people
        return [m for m in mails if str(m.message["To"]) in people]

    @property
    def people(self) -> dict[str, Person]:
        return {p.email: p for provider in self.panel for p in provider.people}

    def contacts(self) -> int:
        return sum(len(p.people) for p in self.panel)

    def reachable(self, provider: Provider) -> list[Person]:
        return [p for p in provider.people if p.email not in self.unreachable]

    def answering(self) -> int:
        return sum(1 for provider in self.panel for p in self.reachable(provider) if p.answers_at_attempt)

    def expected(self) -> dict[str, tuple[int, int]]:
        """Per provider: (net sample, completed) when everyone reached who means to has answered."""
        return {
            provider.provider_id: (
                len(self.reachable(provider)),
                sum(1 for p in self.reachable(provider) if p.answers_at_attempt),
            )
            for provider in self.panel
        }


async def deliver(http: httpx.AsyncClient, stack: FaultStack, scenario: Scenario) -> None:
    """The bureau registers the study and providers; each provider delivers its contacts."""
    base = stack.live("invitations")[0].url
    admin = {"X-API-Key": stack.admin_api_key}
    study = {
        "study_id": scenario.study_id,
        "name": "Storingsproef",
        "scheme_id": "bow",
        "year": 2026,
        "questionnaire_id": "minimal-v1",
    }
    (await http.post(f"{base}/api/studies", json=study, headers=admin)).raise_for_status()
    for provider in scenario.panel:
        problems = await register_and_deliver(http, base, admin, scenario.study_id, provider)
        assert problems == [], problems


async def answer_new_mail(http: httpx.AsyncClient, stack: FaultStack, scenario: Scenario) -> int:
    """Everyone with new mail who means to answer does so, once, on a live responses replica.

    A person answers only their first email: a duplicate (the same Message-ID) or a second
    copy changes nothing for them. Returns how many answered now.
    """
    people = scenario.people
    new = [
        m
        for m in scenario.mine(stack.smtp.messages)
        if m.message["Message-ID"] not in scenario.handled_messages
    ]
    semaphore = asyncio.Semaphore(8)
    answered = 0

    async def handle(mail: Any) -> None:
        nonlocal answered
        person = people[str(mail.message["To"])]
        if person.answers_at_attempt and person.email not in scenario.answered:
            body = mail.message.get_body(("plain",)).get_content()
            found = LINK.search(body)
            assert found is not None, "an invitation without a questionnaire link"
            async with semaphore:
                if await _answer(http, stack, found.group(1), person):
                    scenario.answered[person.email] = person
                    answered += 1
                    scenario.handled_messages.add(mail.message["Message-ID"])
            return
        scenario.handled_messages.add(mail.message["Message-ID"])

    await asyncio.gather(*(handle(m) for m in new))
    return answered


async def _answer(http: httpx.AsyncClient, stack: FaultStack, path: str, person: Person) -> bool:
    """Fill in the questionnaire; False when no responses replica could take it (try later).

    A replica killed after storing the answer but before replying leaves the person with a
    used link: the stored response is then theirs (a person answers once)."""
    for replica in stack.live("responses"):
        try:
            page = await http.get(replica.url + path)
            csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
            if page.status_code != 200 or csrf is None:
                if await _already_answered(stack, path.rsplit("/", 1)[1]):
                    return True
                continue
            done = await http.post(
                replica.url + path,
                data={"csrf": csrf.group(1), "grade": str(person.grade), "recommend": person.recommend},
            )
        except httpx.HTTPError:
            continue
        if done.status_code == 200 and "Bedankt" in done.text:
            return True
    return False


async def _already_answered(stack: FaultStack, token: str) -> bool:
    conn = await stack.db()
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM responses.responses r JOIN responses.invitations i USING (invitation_id)"
            " WHERE i.token_hash = $1",
            token_hash(token),
        )
    finally:
        await conn.close()
    return bool(found)


async def scoring_figures(
    http: httpx.AsyncClient, stack: FaultStack, scenario: Scenario
) -> dict[str, dict[str, Any]]:
    return await _figures_per_provider(http, stack, "scoring", f"/api/studies/{scenario.study_id}/scores")


async def reporting_figures(
    http: httpx.AsyncClient, stack: FaultStack, scenario: Scenario
) -> dict[str, dict[str, Any]]:
    return await _figures_per_provider(http, stack, "reporting", f"/api/studies/{scenario.study_id}/summary")


async def _figures_per_provider(
    http: httpx.AsyncClient, stack: FaultStack, service: str, path: str
) -> dict[str, dict[str, Any]]:
    """Rows per provider from the first live replica of ``service`` that answers."""
    for replica in stack.live(service):
        with contextlib.suppress(httpx.HTTPError):
            response = await http.get(f"{replica.url}{path}", headers={"X-API-Key": stack.admin_api_key})
            if response.status_code == 200:
                return {row["provider_id"]: row for row in response.json()}
    return {}


async def outbox_backlog(stack: FaultStack) -> int:
    conn = await stack.db()
    try:
        total = 0
        for schema in SERVICES:
            total += await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL")
        return int(total)
    finally:
        await conn.close()


async def _not_settled(http: httpx.AsyncClient, stack: FaultStack, scenario: Scenario, within: float) -> str:
    def headline(figures: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int]]:
        return {pid: (f["net_sample"], f["completed"]) for pid, f in figures.items()}

    return (
        f"not settled within {within:.0f} s: {len(scenario.answered)} of {scenario.answering()} answered, "
        f"{len(scenario.mine(stack.smtp.messages))} emails, {await emails_pending(stack, scenario)} pending, "
        f"outbox backlog {await outbox_backlog(stack)}; (net sample, completed) expected "
        f"{scenario.expected()}, scoring {headline(await scoring_figures(http, stack, scenario))}, "
        f"reporting {headline(await reporting_figures(http, stack, scenario))}\n{stack.log_tail(8)}"
    )


async def emails_pending(stack: FaultStack, scenario: Scenario) -> int:
    """Invitations of the scenario whose first email has no outcome yet (due, retried or leased)."""
    conn = await stack.db()
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM invitations.invitations WHERE study_id = $1 AND status = 'pending'",
                scenario.study_id,
            )
        )
    finally:
        await conn.close()


async def refused_addresses(stack: FaultStack, scenario: Scenario) -> set[str]:
    """Addresses whose email the SMTP server refused for good (5xx), from the email log."""
    conn = await stack.db()
    try:
        rows = await conn.fetch(
            "SELECT c.email FROM invitations.email_log l JOIN invitations.invitations i USING (invitation_id)"
            " JOIN invitations.contacts c USING (contact_id) WHERE l.outcome = 'undeliverable'"
            " AND i.study_id = $1",
            scenario.study_id,
        )
    except asyncpg.UndefinedTableError:
        return set()
    finally:
        await conn.close()
    return {r["email"] for r in rows}


def _matches(figures: dict[str, dict[str, Any]], expected: dict[str, tuple[int, int]]) -> bool:
    return all(
        pid in figures and (figures[pid]["net_sample"], figures[pid]["completed"]) == want
        for pid, want in expected.items()
    )


async def run_until_settled(
    http: httpx.AsyncClient,
    stack: FaultStack,
    scenario: Scenario,
    *,
    within: float = DEADLINE,
    step: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Answer mail as it arrives until every figure is in, in scoring and in reporting, and
    every outbox is empty. ``step`` runs each round (a fault injected along the way)."""
    deadline = time.monotonic() + within
    while True:
        if step is not None:
            await step()
        await answer_new_mail(http, stack, scenario)
        scenario.unreachable = await refused_addresses(stack, scenario)
        expected = scenario.expected()
        if (
            len(scenario.answered) == scenario.answering()
            and _matches(await scoring_figures(http, stack, scenario), expected)
            and _matches(await reporting_figures(http, stack, scenario), expected)
            and await outbox_backlog(stack) == 0
            and await emails_pending(stack, scenario) == 0
        ):
            stack.settled.append(scenario)
            return
        if time.monotonic() > deadline:
            raise TimeoutError(await _not_settled(http, stack, scenario, within))
        await asyncio.sleep(0.3)


# --- consumer groups -----------------------------------------------------------------------


REPLAYED = "tevreden-test-replayed"


async def replay_topic(bootstrap: str, topic: str) -> int:
    """Publish every message on ``topic`` again, from offset 0 to its current end, with its
    key and headers, in order: every consumer of the topic reads all of it a second time.

    (A consumer-group offset reset would do the same for one group, but Tansu 0.6 keeps
    refusing a group's offset commit from outside (UnknownMemberId) long after its
    members stopped cleanly, so the replay is done on the wire instead.)"""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await consumer.start()
    await producer.start()
    replayed = 0
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        async with asyncio.timeout(DEADLINE):
            idle_rounds = 0
            # Until nothing new comes (Tansu's end offset may stop short of a batch's last
            # records); the copies carry a header and are not copied again.
            while idle_rounds < 4:
                batch = await consumer.getmany(timeout_ms=250)
                records = [(tp, r) for tp, rs in batch.items() for r in rs if REPLAYED not in dict(r.headers)]
                idle_rounds = 0 if records else idle_rounds + 1
                for tp, r in records:
                    headers = [*r.headers, (REPLAYED, b"1")]
                    await producer.send(topic, r.value, key=r.key, partition=tp.partition, headers=headers)
                    replayed += 1
        await producer.flush()
    finally:
        await producer.stop()
        await consumer.stop()
    return replayed


async def wait_caught_up(bootstrap: str, within: float = DEADLINE) -> None:
    """Until every service's group has committed up to the end of every topic it reads."""
    monitors = [LagMonitor(bootstrap, group, topics) for group, topics in CONSUMED_BY.items()]
    try:
        async with asyncio.timeout(within):
            while True:
                lags = [await m.lag() for m in monitors]
                if all(lag and not any(lag.values()) for lag in lags):
                    return
                await asyncio.sleep(0.5)
    finally:
        for monitor in monitors:
            await monitor.close()
