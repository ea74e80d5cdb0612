"""The three promises every fault test checks, written once.

1. **Every invitation emailed once**: the SMTP server holds exactly one message per
   invitation, under its deterministic Message-ID. A second copy is allowed only where SMTP
   makes it unavoidable (the server accepted, the sender died before recording it), and is
   then recognisable: the same Message-ID to the same address.
2. **Every response counted once**: what the simulated people answered, the responses
   service stored, scoring kept and the figures count are the same set, each once.
3. **Final figures equal a recompute**: ``tevreden recompute`` finds no difference, and the
   last ``scores.updated`` per provider, scoring's API and reporting's summary all give the
   figures the simulated answers give.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from services.invitations.domain import message_id
from shared.events import ScoresUpdated, Topics, parse_event
from tests.faults.harness import FaultStack, Scenario, reporting_figures, scoring_figures
from tests.polling import DEADLINE
from tevreden.recompute import recompute


@dataclass(frozen=True)
class Checked:
    """What the checks saw, for a test to assert more on (e.g. that a fault really struck)."""

    invitations: int
    duplicates: dict[str, int]  # Message-ID -> copies beyond the first
    responses: int


async def assert_nothing_lost_nothing_twice(
    stack: FaultStack, scenario: Scenario, *, duplicates_allowed: bool = False
) -> Checked:
    # Remembered: a later check of the same scenario (after a replay) allows the same.
    scenario.duplicates_allowed |= duplicates_allowed
    invitations, duplicates = await assert_every_invitation_emailed_once(
        stack, scenario, duplicates_allowed=scenario.duplicates_allowed
    )
    responses = await assert_every_response_counted_once(stack, scenario)
    await assert_figures_equal_a_recompute(stack, scenario)
    return Checked(invitations, duplicates, responses)


async def assert_every_invitation_emailed_once(
    stack: FaultStack, scenario: Scenario, *, duplicates_allowed: bool = False
) -> tuple[int, dict[str, int]]:
    conn = await stack.db()
    try:
        rows = await conn.fetch(
            "SELECT i.invitation_id, c.email FROM invitations.invitations i"
            " JOIN invitations.contacts c USING (contact_id) WHERE i.study_id = $1",
            scenario.study_id,
        )
        logged = await conn.fetch(
            "SELECT i.status, l.outcome FROM invitations.invitations i"
            " LEFT JOIN invitations.email_log l USING (invitation_id) WHERE i.study_id = $1",
            scenario.study_id,
        )
    finally:
        await conn.close()
    assert len(rows) == scenario.contacts(), f"{len(rows)} invitations for {scenario.contacts()} contacts"
    # An address the SMTP server refused for good (5xx) gets no email: it leaves the net sample.
    expected = {
        message_id(r["invitation_id"], 1): r["email"] for r in rows if r["email"] not in scenario.unreachable
    }
    mails = scenario.mine(stack.smtp.messages)
    copies = collections.Counter(str(m.message["Message-ID"]) for m in mails)
    missing = sorted(set(expected) - set(copies))
    unknown = sorted(set(copies) - set(expected))
    assert not missing, f"{len(missing)} invitations never emailed, e.g. {missing[:3]}"
    assert not unknown, f"{len(unknown)} emails that are no first invitation, e.g. {unknown[:3]}"
    for mail in mails:
        mid = str(mail.message["Message-ID"])
        assert mail.rcpt_tos == (expected[mid],), f"{mid} went to {mail.rcpt_tos}, not its own address"
    duplicates = {mid: n - 1 for mid, n in copies.items() if n > 1}
    if not duplicates_allowed:
        assert not duplicates, f"{len(duplicates)} invitations emailed more than once: {list(duplicates)[:3]}"
    # Every email has its outcome in the log, except where the sender never learnt that SMTP
    # accepted it (it died before recording, or timed out while the server took it) and the
    # addressee answered from that copy: nothing resends to someone who answered, so the log
    # keeps no outcome or "retry". Only where duplicates are allowed (the same fault).
    outcomes = collections.Counter(
        "unknown" if r["status"] == "responded" and r["outcome"] in (None, "retry") else r["outcome"]
        for r in logged
    )
    unknown = outcomes.pop("unknown", 0)
    if not duplicates_allowed:
        assert not unknown, f"{unknown} emails without an outcome in the log"
    want = {"sent": len(expected) - unknown}
    if scenario.unreachable:
        want["undeliverable"] = len(scenario.unreachable)
    assert outcomes == want, f"email log outcomes {dict(outcomes)}, expected {want}"
    return len(expected), duplicates


async def assert_every_response_counted_once(stack: FaultStack, scenario: Scenario) -> int:
    conn = await stack.db()
    try:
        stored = await conn.fetch(
            "SELECT r.invitation_id, i.provider_id FROM responses.responses r"
            " JOIN responses.invitations i USING (invitation_id) WHERE i.study_id = $1",
            scenario.study_id,
        )
        kept = await conn.fetch(
            "SELECT invitation_id, provider_id, grade FROM scoring.responses"
            " WHERE study_id = $1 AND withdrawn_at IS NULL",
            scenario.study_id,
        )
        issued = await conn.fetch(
            "SELECT provider_id, count(*) AS n, count(*) FILTER (WHERE undeliverable) AS undeliverable"
            " FROM scoring.issued WHERE study_id = $1 GROUP BY 1",
            scenario.study_id,
        )
    finally:
        await conn.close()
    answered = collections.Counter(scenario.provider_of(p.email) for p in scenario.answered.values())
    assert len(scenario.answered) == scenario.answering(), "not everyone who meant to has answered"
    assert collections.Counter(r["provider_id"] for r in stored) == answered, "responses stored ≠ answered"
    assert len({r["invitation_id"] for r in stored}) == len(stored)
    assert collections.Counter(r["provider_id"] for r in kept) == answered, "responses scored ≠ answered"
    assert {r["invitation_id"] for r in kept} == {r["invitation_id"] for r in stored}
    assert {r["provider_id"]: r["n"] for r in issued} == {
        p.provider_id: len(p.people) for p in scenario.panel
    }, "scoring's issued invitations ≠ contacts delivered"
    net = {r["provider_id"]: r["n"] - r["undeliverable"] for r in issued}
    assert net == {pid: n for pid, (n, _) in scenario.expected().items()}, "net sample ≠ reachable contacts"
    grades = collections.defaultdict(list)
    for person in scenario.answered.values():
        grades[scenario.provider_of(person.email)].append(Decimal(person.grade))
    for pid, want in grades.items():
        got = sorted(r["grade"] for r in kept if r["provider_id"] == pid)
        assert got == sorted(want), f"{pid}: scored grades differ from the answers given"
    return len(stored)


async def assert_figures_equal_a_recompute(stack: FaultStack, scenario: Scenario) -> None:
    result = await recompute(stack.postgres.url, scenario.study_id)
    assert result.ok, "recompute differs:\n" + "\n".join(result.differences[:20])
    truth = _simulated_figures(scenario)
    async with httpx.AsyncClient(timeout=10) as http:
        scoring = await scoring_figures(http, stack, scenario)
        reporting = await reporting_figures(http, stack, scenario)
    last_events = await last_scores_updated(stack.broker.bootstrap_servers, scenario.study_id)
    for pid, want in truth.items():
        for source, figures in (
            ("scoring", scoring),
            ("reporting", reporting),
            ("scores.updated", last_events),
        ):
            assert pid in figures, f"{source} has no figures for {pid}"
            got = figures[pid]
            assert (got["net_sample"], got["completed"]) == (want["net_sample"], want["completed"]), (
                f"{source} {pid}: {got['net_sample']}/{got['completed']}, answers give "
                f"{want['net_sample']}/{want['completed']}"
            )
            assert _close(got["mean_grade"], want["mean_grade"]), f"{source} {pid}: mean {got['mean_grade']}"
            assert _close(got["response_rate"], want["response_rate"]), f"{source} {pid}: rate"


def _simulated_figures(scenario: Scenario) -> dict[str, dict[str, Any]]:
    out = {}
    for provider in scenario.panel:
        reachable = [p for p in provider.people if p.email not in scenario.unreachable]
        grades = [p.grade for p in reachable if p.answers_at_attempt]
        net = len(reachable)
        out[provider.provider_id] = {
            "net_sample": net,
            "completed": len(grades),
            "response_rate": len(grades) / net,
            "mean_grade": sum(grades) / len(grades) if grades else None,
        }
    return out


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < 1e-9


async def last_scores_updated(bootstrap: str, study_id: str) -> dict[str, dict[str, Any]]:
    """The newest ``scores.updated`` payload of each provider in the study, read from the topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await consumer.start()
    latest: dict[str, tuple[str, dict[str, Any]]] = {}
    try:
        await consumer.topics()
        numbers = consumer.partitions_for_topic(Topics.SCORES_UPDATED) or set()
        partitions = [TopicPartition(Topics.SCORES_UPDATED, p) for p in sorted(numbers)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(DEADLINE):
            # To the end offsets, then on until two rounds bring nothing: Tansu on S3 answers
            # ListOffsets with an end that can stop short of the last second's records.
            idle_rounds = 0
            while idle_rounds < 2 or [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                batch = await consumer.getmany(timeout_ms=500)
                idle_rounds = 0 if batch else idle_rounds + 1
                for records in batch.values():
                    for record in records:
                        try:
                            event = parse_event(record.value or b"")
                        except ValidationError:
                            continue  # a poison message (dead-lettered by the consumers)
                        if not isinstance(event, ScoresUpdated) or event.payload.study_id != study_id:
                            continue
                        payload = event.payload.model_dump(mode="json")
                        # One provider's events share a partition: the last read is the newest;
                        # as_of orders them too (strictly increasing per provider).
                        previous = latest.get(payload["provider_id"])
                        if previous is None or payload["as_of"] >= previous[0]:
                            latest[payload["provider_id"]] = (payload["as_of"], payload)
    finally:
        await consumer.stop()
    return {pid: payload for pid, (_, payload) in latest.items()}
