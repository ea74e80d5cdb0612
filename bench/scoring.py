"""Scoring throughput and latency beside a raw baseline, in one run on this machine.

    python bench/scoring.py [--events 50000] [--providers 200] [--questionnaire bow-client-regular]
                            [--rate 1000] [--paced-seconds 20]

1. Publishes ``--events`` ``responses.submitted`` events (usable questionnaires, one final
   response per invitation) for ``--providers`` providers in one Blik op Werk study to a
   local Tansu broker, as a backlog.
2. Raw baseline: a bare aiokafka consumer reads the same backlog with ``getmany`` and writes
   each batch in one transaction to a scratch table (dedup by ``unnest`` … ON CONFLICT) plus a
   pre-aggregated upsert of per-provider count and grade sum: the floor any scorer pays.
3. Scoring: ``services.scoring.app.runtime`` in this process reads the same backlog: inbox,
   facts, aggregates per unit and benchmark, snapshots of the touched providers (debounced per
   provider while the batches come full) in the outbox, relayed to ``scores.updated``. Measured
   from its first scored event to its last (scored = committed), and to the outbox drained with
   no snapshot pending (every last state on the topic).
4. Paced: ``--rate`` events/s for ``--paced-seconds`` to the running service (new providers in
   the same study, so the benchmark is the big one); a consumer of ``scores.updated`` measures
   each response's time from its ``occurred_at`` to the arrival of the first snapshot that
   counts it (its provider's ``completed`` reaching it: one provider's events stay in order).
   The producer and that consumer run in a process of their own, apart from the service.
5. Recomputes the study from scratch and checks it equals the incremental state.

Uses tevreden.infra: a Tansu broker and a fresh database on ``TEVREDEN_DATABASE_URL`` (else an
embedded PostgreSQL). Everything shares this machine's cores: read the ratios, not the absolutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import random
import secrets
import statistics
import time
import uuid
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.scoring import app as scoring
from services.scoring import service as scoring_service
from services.scoring import store as scoring_store
from shared.broker import all_topics, ensure_topics
from shared.events import (
    Event,
    InvitationApproached,
    InvitationApproachedPayload,
    InvitationIssued,
    InvitationIssuedPayload,
    InvitationOptedOut,
    InvitationOptedOutPayload,
    InvitationUndeliverable,
    InvitationUndeliverablePayload,
    ResponseSubmitted,
    ResponseSubmittedPayload,
    ResponseWithdrawn,
    ResponseWithdrawnPayload,
    Topics,
    encode_event,
)
from shared.questionnaires import is_usable, load_questionnaire, validate_answers
from shared.settings import Settings
from tevreden.infra import LocalPostgres, TansuBroker, free_port

STUDY = "bench-bow-2026"
SERVICES = ("3", "9", "10")
RAW_TOPIC = "bench.raw-responses"
PARTITIONS = 6  # the services' default (TEVREDEN_TOPIC_PARTITIONS)
SATISFACTION = ("zeer_tevreden", "tevreden", "tevreden", "ontevreden", "zeer_ontevreden", "geen_mening")


# --- the events -------------------------------------------------------------------------


def answers_for(questionnaire_id: str, rnd: random.Random, lean: int) -> dict[str, object]:
    """A plausible usable questionnaire; ``lean`` shifts a provider's satisfaction."""
    grade = max(1, min(10, round(rnd.gauss(7.4 + lean * 0.6, 1.4))))
    if questionnaire_id == "minimal-v1":
        return {"grade": grade, "recommend": rnd.choice(["ja", "nee"])}
    q = load_questionnaire(questionnaire_id)
    answers: dict[str, object] = {
        "grade": grade,
        "recommended": rnd.choice(["ja", "ja", "nee_zou_wel", "nee_zou_niet", "afgeraden"]),
        "reason": rnd.choice(["eigen_initiatief", "verzocht", "verplicht", "werkgever"]),
        "contact_frequency": rnd.choice(["minder_dan_1", "een", "twee_drie", "vier_of_meer"]),
        "contact_ways": rnd.sample(
            ["persoonlijk", "telefonisch", "email", "video", "app"], rnd.randint(1, 3)
        ),
        "contact_amount": rnd.choice(["te_weinig", "precies_goed", "te_veel", "geen_mening"]),
        "fixed_contact": rnd.choice(["ja", "nee", "weet_niet"]),
        "expectations": rnd.choice(["beter", "zoals_verwacht", "slechter", "geen_verwachting"]),
        "complaint": rnd.choice(["ja", "nee", "nee", "nee"]),
        "gender": rnd.choice(["man", "vrouw"]),
        "education": rnd.choice(["vmbo", "mbo", "hbo", "havo_vwo"]),
    }
    for question in q.questions:
        if question.type == "satisfaction5":
            answers[question.id] = SATISFACTION[max(0, min(5, int(rnd.random() * 4) - lean))]
    if answers["reason"] in ("verzocht", "verplicht"):
        answers["sanction_threat"] = rnd.choice(["ja", "nee", "weet_niet"])
        if answers["sanction_threat"] == "ja":
            answers["sanction_imposed"] = rnd.choice(["ja", "nee"])
    if answers["complaint"] == "ja":
        answers["complaint_filed"] = rnd.choice(["ja", "nee"])
        if answers["complaint_filed"] == "ja":
            answers["complaint_resolved"] = rnd.choice(["ja", "gedeeltelijk", "nee"])
    validated = validate_answers(q, answers)
    assert validated.ok and is_usable(q, validated.answers), validated.errors
    return dict(validated.answers)


def response_event(
    provider: str, questionnaire_id: str, answers: dict[str, object], rnd: random.Random, study: str = STUDY
) -> ResponseSubmitted:
    return ResponseSubmitted(
        payload=ResponseSubmittedPayload(
            response_id=uuid.uuid4(),
            invitation_id=uuid.uuid4(),
            study_id=study,
            provider_id=provider,
            service_code=rnd.choice(SERVICES),
            questionnaire_id=questionnaire_id,
            questionnaire_version=1,
            mode="web",
            answers=answers,  # type: ignore[arg-type]
            usable=True,
            submitted_at=datetime.now(UTC),
        )
    )


def backlog(count: int, providers: int, questionnaire_id: str, seed: int = 2026) -> list[ResponseSubmitted]:
    rnd = random.Random(seed)
    return [
        response_event(
            f"provider-{n % providers:04d}",
            questionnaire_id,
            answers_for(questionnaire_id, rnd, n % 3 - 1),
            rnd,
        )
        for n in range(count)
    ]


def fresh(event: ResponseSubmitted) -> ResponseSubmitted:
    """The same answers as a new response to a new invitation, in a new event."""
    payload = event.payload.model_copy(update={"response_id": uuid.uuid4(), "invitation_id": uuid.uuid4()})
    return ResponseSubmitted(payload=payload)


async def produce(bootstrap: str, messages: list[tuple[str, bytes, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all", max_batch_size=262144)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for topic, value, key in messages]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


# --- raw baseline -------------------------------------------------------------------------


async def raw_baseline(bootstrap: str, database_url: str, count: int) -> float:
    """getmany + one transaction per batch: dedup insert and a pre-aggregated per-provider upsert."""
    conn = await asyncpg.connect(database_url)
    await conn.execute(
        "CREATE TABLE bench_raw (event_id uuid PRIMARY KEY, provider_id text NOT NULL, grade numeric);"
        "CREATE TABLE bench_raw_totals"
        " (provider_id text PRIMARY KEY, n int NOT NULL, grade_sum numeric NOT NULL)"
    )
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=10)
    await consumer.start()
    partitions = [TopicPartition(RAW_TOPIC, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    done, started = 0, 0.0
    try:
        while done < count:
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            records = [r for rs in batches.values() for r in rs]
            if not records:
                continue
            if not started:
                started = time.perf_counter()
            ids, providers, grades = [], [], []
            for record in records:
                event = json.loads(record.value)
                ids.append(event["event_id"])
                providers.append(event["payload"]["provider_id"])
                grades.append(event["payload"]["answers"].get("grade"))
            async with conn.transaction():
                fresh = await conn.fetch(
                    "INSERT INTO bench_raw SELECT * FROM unnest($1::uuid[], $2::text[], $3::numeric[])"
                    " ON CONFLICT DO NOTHING RETURNING provider_id, grade",
                    ids,
                    providers,
                    grades,
                )
                totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
                for r in fresh:
                    totals[r["provider_id"]][0] += 1
                    totals[r["provider_id"]][1] += float(r["grade"] or 0)
                keys = sorted(totals)
                await conn.execute(
                    "INSERT INTO bench_raw_totals AS t"
                    " SELECT * FROM unnest($1::text[], $2::int[], $3::numeric[])"
                    " ON CONFLICT (provider_id) DO UPDATE"
                    " SET n = t.n + EXCLUDED.n, grade_sum = t.grade_sum + EXCLUDED.grade_sum",
                    keys,
                    [totals[k][0] for k in keys],
                    [totals[k][1] for k in keys],
                )
            done += len(records)
        return done / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await conn.close()


# --- scoring ---------------------------------------------------------------------------------


@dataclass
class ScoringRun:
    scored_per_second: float
    published_per_second: float
    snapshots: int


async def settle(bootstrap: str, database_url: str) -> None:
    """Wait until the service's consumers have joined their group and consume: one probe event
    per topic, each found in the inbox. (All share the group "scoring", so each join rebalances
    the others; measuring during that would measure Tansu's rebalancing.)"""
    rnd = random.Random(1)
    response = response_event("probe", "minimal-v1", {"grade": 8}, rnd, study="bench-probe")
    p = response.payload
    ids = {"invitation_id": p.invitation_id, "study_id": p.study_id, "provider_id": p.provider_id}
    unit = {"service_code": p.service_code, "respondent_type": "client"}
    probes: list[Event] = [
        InvitationIssued(
            payload=InvitationIssuedPayload(
                **ids, **unit, questionnaire_id="minimal-v1", token_hash=secrets.token_hex(32)
            )
        ),
        InvitationUndeliverable(
            payload=InvitationUndeliverablePayload(**ids, **unit, mode="email", reason="probe")
        ),
        response,
        ResponseWithdrawn(payload=ResponseWithdrawnPayload(response_id=p.response_id, **ids)),
        InvitationApproached(
            payload=InvitationApproachedPayload(**ids, **unit, mode="email", attempt=1, outcome="sent")
        ),
        InvitationOptedOut(payload=InvitationOptedOutPayload(**ids, **unit)),
    ]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for probe in probes:
            await producer.send_and_wait(probe.topic, encode_event(probe), key=probe.key.encode())
    finally:
        await producer.stop()
    conn = await asyncpg.connect(database_url)
    try:
        ids = [p.event_id for p in probes]
        while await conn.fetchval(
            "SELECT count(*) FROM scoring.inbox WHERE event_id = ANY($1::uuid[])", ids
        ) < len(probes):
            await asyncio.sleep(0.1)
        await conn.execute("DELETE FROM scoring.outbox")
    finally:
        await conn.close()
    await asyncio.sleep(3)


async def scoring_throughput(database_url: str, count: int) -> ScoringRun:
    """Poll the facts and the outbox while the service works through the events."""
    conn = await asyncpg.connect(database_url)
    try:
        first_seen, first_count = 0.0, 0
        while True:
            scored = await conn.fetchval("SELECT count(*) FROM scoring.responses WHERE study_id = $1", STUDY)
            now = time.perf_counter()
            if scored and not first_seen:
                first_seen, first_count = now, scored
            if scored >= count:
                scored_at = now
                break
            await asyncio.sleep(0.02)
        while await conn.fetchval(
            "SELECT (SELECT count(*) FROM scoring.outbox WHERE sent_at IS NULL)"
            " + (SELECT count(*) FROM scoring.pending_snapshots)"
        ):
            await asyncio.sleep(0.02)
        published_at = time.perf_counter()
        snapshots = await conn.fetchval("SELECT count(*) FROM scoring.outbox")
        work = count - first_count
        return ScoringRun(work / (scored_at - first_seen), work / (published_at - first_seen), snapshots)
    finally:
        await conn.close()


@dataclass
class Latency:
    sent: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # provider → occurred_at
    covered: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    latencies: list[float] = field(default_factory=list)


async def measure_arrivals(bootstrap: str, latency: Latency, stop: asyncio.Event) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=5)
    await consumer.start()
    partitions = [TopicPartition(Topics.SCORES_UPDATED, p) for p in range(PARTITIONS)]
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for p in partitions:
        await consumer.position(p)
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=50, max_records=1000)
            arrived = time.time()
            for records in batches.values():
                for record in records:
                    payload = json.loads(record.value)["payload"]
                    provider = payload["provider_id"]
                    sent = latency.sent.get(provider)
                    if not sent or payload["study_id"] != STUDY:
                        continue
                    k = min(payload["completed"], len(sent))
                    for i in range(latency.covered[provider], k):
                        latency.latencies.append(arrived - sent[i])
                    latency.covered[provider] = max(latency.covered[provider], k)
    finally:
        await consumer.stop()


async def paced(
    bootstrap: str, rate: int, seconds: float, providers: int, questionnaire_id: str
) -> tuple[Latency, float]:
    """``rate`` events/s in ticks of 10 ms; returns the latencies and the rate achieved."""
    rnd = random.Random(7)
    total = int(rate * seconds)
    # Made before the clock starts: generating and validating answers is the bench's work, and it
    # shares this process (and its event loop) with the service.
    prepared = [
        response_event(
            f"paced-{n % providers:04d}", questionnaire_id, answers_for(questionnaire_id, rnd, 0), rnd
        )
        for n in range(total)
    ]
    latency = Latency()
    stop = asyncio.Event()
    measurer = asyncio.create_task(measure_arrivals(bootstrap, latency, stop))
    await asyncio.sleep(1.0)  # the measuring consumer is at the end of the topic
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks="all")
    await producer.start()
    per_tick, tick = max(1, rate // 100), 0.01
    pending = []
    started = time.perf_counter()
    sent = 0
    try:
        while sent < total:
            for _ in range(min(per_tick, total - sent)):
                event = prepared[sent].model_copy(update={"occurred_at": datetime.now(UTC)})
                latency.sent[event.payload.provider_id].append(event.occurred_at.timestamp())
                pending.append(await producer.send(event.topic, encode_event(event), key=event.key.encode()))
                sent += 1
            next_tick = started + (sent // per_tick) * tick
            await asyncio.sleep(max(0.0, next_tick - time.perf_counter()))
        achieved = sent / (time.perf_counter() - started)
        await asyncio.gather(*pending)
        deadline = time.perf_counter() + 60
        while len(latency.latencies) < sent and time.perf_counter() < deadline:
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await measurer
        await producer.stop()
    return latency, achieved


def paced_apart(
    bootstrap: str, rate: int, seconds: float, providers: int, questionnaire_id: str
) -> tuple[list[float], float]:
    """:func:`paced` in a process of its own: the producer and the measuring consumer must not
    wait for the service's event loop (they would measure their own starvation)."""
    latency, achieved = asyncio.run(paced(bootstrap, rate, seconds, providers, questionnaire_id))
    return latency.latencies, achieved


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- time per batch phase ------------------------------------------------------------------

# The phases of a batch, timed by wrapping the service's own functions in this process (each
# name: the module and the function looked up at call time). Nested: the snapshot phase holds
# the stamp, the unit reads and the outbox insert.
PHASES = (
    (scoring_service, "count_responses", "batch (handler)"),
    (scoring_store, "record_responses", "facts: responses"),
    (scoring_store, "record_dispositions", "facts: dispositions"),
    (scoring_store, "add_to_units", "aggregates upsert"),
    (scoring_store, "hold_back", "hold back (debounce)"),
    (scoring_service, "emit_snapshots", "emit snapshots (all)"),
    (scoring_service, "emit_due_snapshots", "snapshots (held back)"),
    (scoring_service, "snapshot_trees", "  snapshot trees"),
    (scoring_store, "unit_rows", "    unit rows"),
    (scoring_store, "unit_details", "    unit details"),
    (scoring_store, "add_snapshots_to_outbox", "  outbox insert"),
)


@dataclass
class PhaseTimes:
    """Calls and seconds per phase since the last :meth:`reset`."""

    calls: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def install(self) -> None:
        for module, name, label in PHASES:
            setattr(module, name, self._timed(getattr(module, name), label))

    def _timed(self, function, label):  # type: ignore[no-untyped-def]
        async def timed(*args, **kwargs):  # type: ignore[no-untyped-def]
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                self.calls[label] += 1
                self.seconds[label] += time.perf_counter() - started

        return timed

    def reset(self) -> None:
        self.calls.clear()
        self.seconds.clear()

    def report(self, title: str) -> None:
        batches = self.calls.get("batch (handler)", 0)
        total = self.seconds.get("batch (handler)", 0.0)
        print(f"{title}: {batches} batches, {total:.2f} s in the handler")
        for _, _, label in PHASES:
            if self.calls.get(label):
                seconds = self.seconds[label]
                per_batch = seconds * 1000 / max(1, batches)
                print(
                    f"  {label:<24} {self.calls[label]:>5} calls {per_batch:8.1f} ms/batch"
                    f" {seconds * 1000 / self.calls[label]:8.1f} ms/call"
                    f" {100 * seconds / total if total else 0:5.1f}%"
                )


# --- main ----------------------------------------------------------------------------------


async def main(args: argparse.Namespace) -> None:
    logging.disable(logging.WARNING)
    broker, postgres = TansuBroker.start(), LocalPostgres.start()
    try:
        settings = Settings(
            environment="local",
            database_url=postgres.url,
            kafka_bootstrap_servers=broker.bootstrap_servers,
            http_port=free_port(),
            log_format="console",
            log_level="WARNING",
            topic_partitions=PARTITIONS,
        )
        await ensure_topics(broker.bootstrap_servers, all_topics(), settings.topic_partitions)
        print(f"generating {args.events} responses ({args.questionnaire}) for {args.providers} providers …")
        events = backlog(args.events, args.providers, args.questionnaire)
        encoded = [(e.topic, encode_event(e), e.key.encode()) for e in events]

        # Raw baseline: the same bytes on a scratch topic, a bare consumer from its start.
        await ensure_topics(broker.bootstrap_servers, [RAW_TOPIC], settings.topic_partitions)
        await produce(broker.bootstrap_servers, [(RAW_TOPIC, value, key) for _, value, key in encoded])
        raw = await raw_baseline(broker.bootstrap_servers, postgres.url, args.events)
        print(f"raw baseline (getmany + batched upsert): {raw:,.0f} events/s")

        # Scoring: started and settled first (its offsets start at the topic's end), then the
        # same events again under new ids (so they are new facts), as fast as the producer goes.
        phases = PhaseTimes()
        phases.install()
        runtime = scoring.runtime(settings)
        await runtime.start()
        await settle(broker.bootstrap_servers, postgres.url)
        phases.reset()
        again = [(e.topic, encode_event(fresh(e)), e.key.encode()) for e in events]
        watcher = asyncio.create_task(scoring_throughput(postgres.url, args.events))
        started = time.perf_counter()
        await produce(broker.bootstrap_servers, again)
        produced = time.perf_counter() - started
        run = await watcher
        print(
            f"scoring: {run.scored_per_second:,.0f} events/s scored, {run.published_per_second:,.0f} events/s"
            f" with every snapshot on the topic ({run.snapshots:,} snapshots;"
            f" the producer took {produced:.1f} s)"
        )
        print(
            f"ratio scored/raw: {run.scored_per_second / raw:.2f};"
            f" published/raw: {run.published_per_second / raw:.2f}"
        )
        phases.report("backlog phases")
        phases.reset()

        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as apart:
            latencies, achieved = await asyncio.get_running_loop().run_in_executor(
                apart,
                paced_apart,
                broker.bootstrap_servers,
                args.rate,
                args.paced_seconds,
                args.providers,
                args.questionnaire,
            )
        values = [v * 1000 for v in latencies]
        if values:
            print(
                f"paced {achieved:,.0f} events/s for {args.paced_seconds:.0f} s:"
                f" {len(values):,} responses measured;"
                f" submitted → scores.updated p50 {statistics.median(values):.1f} ms,"
                f" p95 {quantile(values, 0.95):.1f} ms, p99 {quantile(values, 0.99):.1f} ms,"
                f" max {max(values):.1f} ms"
            )
        phases.report("paced phases")
        await runtime.stop()

        pool_conn = await asyncpg.connect(postgres.url)
        try:
            await pool_conn.set_type_codec(
                "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
            )
            result = await scoring_service.recompute_study(pool_conn, STUDY)
        finally:
            await pool_conn.close()
        verdict = "OK" if result.ok else f"{len(result.differences)} DIFFERENCES"
        print(
            f"recompute of {STUDY}: {verdict} ({result.providers} providers, {result.responses:,} responses)"
        )
    finally:
        postgres.stop()
        broker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--providers", type=int, default=200)
    parser.add_argument(
        "--questionnaire", default="bow-client-regular", choices=["bow-client-regular", "minimal-v1"]
    )
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--paced-seconds", type=float, default=20)
    asyncio.run(main(parser.parse_args()))
