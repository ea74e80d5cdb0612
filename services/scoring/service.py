"""Scoring use cases: count a batch of facts into the aggregates, publish the new figures,
and recompute a study from scratch to check them.

Each handler runs inside the consumer's one transaction per batch: the facts are kept
first, and only the ones that are new (not already known by invitation or response id)
change the aggregates. The batch's contributions are summed in memory per unit (and per
benchmark unit) and written with one upsert per table; then every touched provider gets one
new snapshot in the outbox.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from prometheus_client import Histogram
from pydantic import ValidationError
from pydantic_core import to_json

from services.scoring import store
from services.scoring.domain import (
    INVITED,
    DispositionChange,
    DispositionLedger,
    KeptResponse,
    ProviderKey,
    ResponseLedger,
    StudyFigures,
    Tree,
    UnitKey,
    UnitTally,
    aggregate,
    approach_class,
    better_disposition,
    count_provinces,
    figure_differences,
    find_questionnaire,
    grade_value,
    headline_type,
    pair_periods,
    pairs_periods,
    period_facts_of,
    providers_in,
    province_counts,
    snapshot_tree,
    study_snapshots,
    tally_differences,
    undeliverable_tally,
    units_by_provider,
)
from services.scoring.fieldwork import ForecastSettings, forecast_study
from services.scoring.groups import scheme_group_comparisons
from shared.apikeys import ProviderKeys
from shared.db import Connection
from shared.events import (
    AaporCode,
    Event,
    InvitationApproached,
    InvitationApproachedPayload,
    InvitationIssued,
    InvitationOptedOut,
    InvitationOptedOutPayload,
    InvitationUndeliverable,
    InvitationUndeliverablePayload,
    PeriodGrades,
    ProvinceCount,
    ResponseSubmitted,
    ResponseSubmittedPayload,
    ResponseWithdrawn,
    ResponseWithdrawnPayload,
    ScoresUpdated,
    ScoresUpdatedPayload,
)
from shared.questionnaires import load_questionnaire
from shared.schemes import Scheme, find_scheme

# Providers' own keys: a provider reads the fieldwork status of its own rows only.
PROVIDER_KEYS = ProviderKeys("scoring")


async def count_invitations(conn: Connection, events: list[Event]) -> None:
    """``invitations.issued``: each new invitation adds one to its unit's net sample."""
    issued = [e for e in events if isinstance(e, InvitationIssued)]
    keys = await store.record_issued(
        conn, [e.payload for e in issued], {e.payload.invitation_id: e.occurred_at for e in issued}
    )
    await store.record_jobcoach_periods(conn, [e.payload for e in issued])
    provinces = await store.record_provinces(conn, [e.payload for e in issued])
    # A province counted for an invitation whose undeliverable event came first (its unit is
    # unchanged) still needs its provider's new snapshot.
    counted = {ProviderKey(k.study_id, k.provider_id) for k in provinces}
    await _apply(conn, aggregate((key, INVITED) for key in keys), events, counted)


async def count_undeliverable(conn: Connection, events: list[Event]) -> None:
    """``invitations.undeliverable``: a counted invitation leaves the net sample; its
    disposition is at least UO (AAPOR 3.30, returned undelivered)."""
    bounced = [e.payload for e in events if isinstance(e, InvitationUndeliverable)]
    changed = await store.record_undeliverable(conn, bounced)
    contributions = [(key, undeliverable_tally(was)) for key, was in changed]
    contributions += await _dispositions(conn, [(p.invitation_id, _unit(p), "UO") for p in bounced])
    await _apply(conn, aggregate(contributions), events)


async def count_approaches(conn: Connection, events: list[Event]) -> None:
    """``invitations.approached``: each approach's AAPOR class (the call's, or sent UH and
    undeliverable UO) raises its invitation's disposition if it ranks higher."""
    approached = [e.payload for e in events if isinstance(e, InvitationApproached)]
    facts = [(p.invitation_id, _unit(p), approach_class(p.outcome, p.aapor)) for p in approached]
    await _apply(conn, aggregate(await _dispositions(conn, facts)), events)


async def count_opt_outs(conn: Connection, events: list[Event]) -> None:
    """``invitations.opted_out``: an afmelding is a refusal (R)."""
    opted_out = [e.payload for e in events if isinstance(e, InvitationOptedOut)]
    facts: list[tuple[uuid.UUID, UnitKey, AaporCode | None]] = [
        (p.invitation_id, _unit(p), "R") for p in opted_out
    ]
    await _apply(conn, aggregate(await _dispositions(conn, facts)), events)


def _unit(
    p: InvitationUndeliverablePayload | InvitationApproachedPayload | InvitationOptedOutPayload,
) -> UnitKey:
    return UnitKey(p.study_id, p.provider_id, p.service_code, p.respondent_type)


async def _dispositions(
    conn: Connection, facts: Sequence[tuple[uuid.UUID, UnitKey, AaporCode | None]]
) -> list[tuple[UnitKey, UnitTally]]:
    """Merge approach classes into the invitations' dispositions; the tally changes they make."""
    changes: dict[uuid.UUID, tuple[UnitKey, DispositionChange]] = {}
    for invitation_id, unit, code in facts:
        if code is None:
            continue
        known = changes.get(invitation_id)
        best = code if known is None else better_disposition(known[1].approach, code)
        changes[invitation_id] = (unit if known is None else known[0], DispositionChange(approach=best))
    return await _disposition_changes(conn, changes)


async def _disposition_changes(
    conn: Connection, changes: Mapping[uuid.UUID, tuple[UnitKey, DispositionChange]]
) -> list[tuple[UnitKey, UnitTally]]:
    changed = await store.record_dispositions(conn, changes)
    return [(unit, after.tally() - before.tally()) for unit, before, after in changed]


async def count_responses(conn: Connection, events: list[Event]) -> None:
    """``responses.submitted``: a usable questionnaire counts with its grade and answers, an
    unusable one as partial; the invitation's disposition becomes I or P."""
    submitted = [e for e in events if isinstance(e, ResponseSubmitted)]
    recorded = await store.record_responses(conn, [(e.payload, grade_of(e.payload)) for e in submitted])
    contributions = []
    counted_at = []
    answered: dict[uuid.UUID, tuple[UnitKey, DispositionChange]] = {}
    for e in submitted:
        p = e.payload
        if p.response_id in recorded:
            recorded.discard(p.response_id)  # the same response twice in one batch counts once
            contributions.append((unit_of(p), kept(p).tally()))
            answered[p.invitation_id] = (unit_of(p), DispositionChange(answered="I" if p.usable else "P"))
            counted_at.append(e.occurred_at)
    contributions += await _disposition_changes(conn, answered)
    await _apply(conn, aggregate(contributions), events)
    observe_scoring_latency(counted_at, datetime.now(UTC))


# Submitted → scored: from the responses.submitted event's occurred_at to the moment its batch
# is written (the figures are in the outbox; the relay publishes them right after the commit).
SCORING_LATENCY = Histogram(
    "tevreden_scoring_latency_seconds",
    "From a response's submission (its event's occurred_at) to its counting in the aggregates",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)


def observe_scoring_latency(submitted: Sequence[datetime], scored_at: datetime) -> None:
    for moment in submitted:
        SCORING_LATENCY.observe(max(0.0, (scored_at - moment).total_seconds()))


async def count_withdrawals(conn: Connection, events: list[Event]) -> None:
    """``responses.withdrawn``: a counted response is subtracted exactly (its answers erased);
    its invitation's disposition falls back to what its approaches gave."""
    withdrawn = [e.payload for e in events if isinstance(e, ResponseWithdrawn)]
    taken_out = await store.record_withdrawals(conn, withdrawn)
    contributions = [(r.key, -r.tally()) for _, r in taken_out]
    contributions += await _disposition_changes(
        conn, {invitation_id: (r.key, DispositionChange(withdrawn=True)) for invitation_id, r in taken_out}
    )
    await _apply(conn, aggregate(contributions), events)


def unit_of(p: ResponseSubmittedPayload) -> UnitKey:
    return UnitKey(p.study_id, p.provider_id, p.service_code, p.respondent_type)


def kept(p: ResponseSubmittedPayload) -> KeptResponse:
    return KeptResponse(unit_of(p), p.questionnaire_id, p.questionnaire_version, p.usable, p.answers)


def grade_of(p: ResponseSubmittedPayload) -> Decimal | None:
    """The response's rapportcijfer (its questionnaire's grade question), kept with the response."""
    questionnaire = find_questionnaire(p.questionnaire_id, p.questionnaire_version)
    question = "grade" if questionnaire is None else questionnaire.grade_question
    return None if question is None else grade_value(p.answers.get(question))


async def _apply(
    conn: Connection,
    changes: Mapping[UnitKey, UnitTally],
    events: Sequence[Event],
    also: Iterable[ProviderKey] = (),
) -> None:
    """Add the changes to the aggregates and emit every touched provider's new snapshot (and
    those of ``also``: providers whose other counts changed)."""
    providers = sorted(set(providers_in(changes)) | set(also))
    if not providers:
        return
    if changes:
        remember_tallies(changes, await store.add_to_units(conn, changes))
    if SNAPSHOTS.holds_back(len(events)):
        await store.hold_back(conn, providers, SNAPSHOTS.debounce_seconds)
    else:
        await emit_snapshots(conn, providers, _correlation_by_provider(events))


@dataclass
class SnapshotPolicy:
    """When a provider's new figures are published.

    A batch that is not full (the consumer keeps up) publishes one snapshot per touched provider,
    at once. A full batch (``backlog_from`` events or more: the consumer is behind) publishes
    none: its providers are held back (``scoring.pending_snapshots``), each due
    ``debounce_seconds`` after its latest snapshot, and the snapshot loop publishes their figures
    as they are by then. So under load each provider gets at most one snapshot per interval, the
    consumer spends its time counting, and the last state is always published (also after a
    restart: the pending rows are in the database).
    """

    debounce_seconds: float = 2.0
    backlog_from: int | None = None  # None: never hold back (handlers called directly)
    poll_seconds: float = 0.05
    batch: int = 100

    def holds_back(self, batch_size: int) -> bool:
        return self.backlog_from is not None and batch_size >= self.backlog_from


SNAPSHOTS = SnapshotPolicy()


async def emit_snapshots(
    conn: Connection, providers: Sequence[ProviderKey], correlation: Mapping[ProviderKey, uuid.UUID]
) -> None:
    """Put the providers' new snapshots in the outbox."""
    trees = await snapshot_trees(conn, providers)
    await store.add_snapshots_to_outbox(
        conn,
        [
            snapshot_message(t, correlation.get(ProviderKey(t["study_id"], t["provider_id"]), uuid.uuid4()))
            for t in trees
        ],
    )


async def emit_due_snapshots(conn: Connection) -> int:
    """The snapshot loop's step: publish the held-back snapshots that are due; returns how many."""
    providers = await store.take_due_snapshots(conn, SNAPSHOTS.batch, SNAPSHOTS.debounce_seconds)
    await emit_snapshots(conn, providers, {})
    return len(providers)


async def snapshot_loop_pause(conn: Connection, idle_seconds: float) -> float:
    """How long the snapshot loop may sleep: until the next held-back snapshot is due (at least
    ``SNAPSHOTS.poll_seconds``), or ``idle_seconds`` when none is held back."""
    due = await store.seconds_to_next_snapshot(conn)
    return idle_seconds if due is None else min(idle_seconds, max(SNAPSHOTS.poll_seconds, due))


_SNAPSHOT_TYPE = ScoresUpdated.model_fields["type"].default
_SNAPSHOT_VERSION = ScoresUpdated.model_fields["version"].default


def snapshot_message(tree: Mapping[str, Any], correlation_id: uuid.UUID) -> store.OutboxMessage:
    """A ``scores.updated`` event of a snapshot tree, serialised as it is.

    The tree is the service's own computation, so it is not validated again (pydantic
    validation of hundreds of nested models per snapshot was most of a batch's time); the unit
    tests check that every kind of snapshot tree validates to the payload the model makes of it.
    Non-finite floats become null, as pydantic writes them.
    """
    event_id = uuid.uuid4()
    body = to_json(
        {
            "event_id": event_id,
            "type": _SNAPSHOT_TYPE,
            "version": _SNAPSHOT_VERSION,
            "occurred_at": datetime.now(UTC),
            "correlation_id": correlation_id,
            "payload": tree,
        },
        inf_nan_mode="null",
    )
    return store.OutboxMessage(event_id, ScoresUpdated.topic, str(tree["provider_id"]), body)


class _Recent(OrderedDict[Any, Any]):
    """A small LRU map: the units (and their figures) seen most recently, by kept version."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def __getitem__(self, key: Any) -> Any:
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    def get(self, key: Any, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)


# Per process: a unit's tally and figures by (unit, version). A version is never reused (not
# even after a rollback), so an entry can only ever describe what that version holds.
_TALLIES = _Recent(4096)
_FIGURES = _Recent(4096)


def remember_tallies(
    changes: Mapping[UnitKey, UnitTally], versions: Mapping[UnitKey, tuple[uuid.UUID | None, uuid.UUID]]
) -> None:
    """Remember each changed unit's tally at its new version: the tally remembered at its previous
    version (nothing, for a new unit) plus the batch's change. The upsert held the row at that
    previous version, so this is exactly what the new version holds: the snapshots need not read
    the unit's grade and answer counts back. A unit whose previous tally is forgotten (another
    process changed it, or it fell out of memory) is read in full as before."""
    for key, (previous, version) in versions.items():
        before = UnitTally() if previous is None else _TALLIES.get((key, previous))
        if before is not None:
            _TALLIES[(key, version)] = (before + changes[key]).without_zeros()


def forget_remembered() -> None:
    """Drop every remembered tally and unit figures (tests compare with a read from scratch)."""
    _TALLIES.clear()
    _FIGURES.clear()


async def snapshot_trees(conn: Connection, providers: Sequence[ProviderKey]) -> list[Tree]:
    """New snapshots of these providers (as payload trees): their units beside their studies'
    benchmarks.

    Units whose version was seen before come from memory; only the changed ones (and the
    benchmark's, which every batch changes) are read in full.
    """
    if not providers:
        return []
    as_of = await store.stamp_snapshots(conn, providers)
    studies = sorted({p.study_id for p in providers})
    rows = await store.unit_rows(conn, [*providers, *(store.benchmark_of(s) for s in studies)])
    missing = [key for key, row in rows.items() if (key, row.version) not in _TALLIES]
    details = await store.unit_details(conn, missing)
    tallies: dict[UnitKey, UnitTally] = {}
    versions: dict[UnitKey, object] = {}
    for key, row in rows.items():
        tally = _TALLIES.get((key, row.version))
        if tally is None:
            tally = details.get(key) or UnitTally()
            for name, count in row.counts.items():
                setattr(tally, name, count)
            _TALLIES[(key, row.version)] = tally
        tallies[key], versions[key] = tally, row.version
    schemes = await store.schemes_of(conn, studies)
    grouped = units_by_provider(tallies)
    snapshots = []
    for study_id in studies:
        benchmark = grouped.get(store.benchmark_of(study_id), {})
        figures = StudyFigures(
            study_id, find_scheme(schemes.get(study_id)), benchmark, versions=versions, memo=_FIGURES
        )
        scheme = find_scheme(schemes.get(study_id))
        in_study = sorted(p for p in set(providers) if p.study_id == study_id)
        periods = await _periods(conn, study_id, [p.provider_id for p in in_study], scheme)
        provinces = await _provinces(conn, study_id, [p.provider_id for p in in_study], scheme)
        for provider in in_study:
            tree = figures.snapshot_tree(provider.provider_id, grouped.get(provider, {}), as_of[provider])
            if scheme is not None and scheme.group_by:
                tree["group_comparisons"] = await _group_comparisons(conn, provider, scheme)
            if provider.provider_id in periods:
                tree["periods"] = periods[provider.provider_id]
            if provider.provider_id in provinces:
                tree["provinces"] = provinces[provider.provider_id]
            snapshots.append(tree)
            # A snapshot is milliseconds of CPU: let the consumers' heartbeats and the relay run
            # between them, or a batch of hundreds blocks the loop until the group rebalances.
            await asyncio.sleep(0)
    return snapshots


async def _periods(
    conn: Connection, study_id: str, provider_ids: Sequence[str], scheme: Scheme | None
) -> dict[str, list[Tree]]:
    """UWV jobcoach: per provider the grades per jobcoach period (pair_periods), from the kept facts."""
    if not pairs_periods(scheme) or not provider_ids:
        return {}
    facts = await store.period_facts(conn, study_id, provider_ids)
    return {provider_id: pair_periods(facts.get(provider_id, [])) for provider_id in provider_ids}


async def _provinces(
    conn: Connection, study_id: str, provider_ids: Sequence[str], scheme: Scheme | None
) -> dict[str, list[Tree]]:
    """Per provider the headline group's invitations per province (province_counts)."""
    if not provider_ids:
        return {}
    counts = await store.kept_province_counts(conn, study_id, provider_ids)
    return province_counts(counts, headline_type(scheme))


async def _group_comparisons(
    conn: Connection, provider: ProviderKey, scheme: Scheme
) -> list[dict[str, object]]:
    """Staff survey: the groups compared on every question (significant differences only)."""
    answers = await store.usable_answers(conn, provider.study_id, provider.provider_id)
    questionnaire = load_questionnaire(scheme.questionnaire_id(scheme.respondent_types[0]))
    return scheme_group_comparisons(scheme, questionnaire, answers)


async def study_scores(conn: Connection, study_id: str) -> list[ScoresUpdatedPayload]:
    """Every provider's current figures in a study, at the moment of its latest snapshot."""
    kept_units = await store.study_units(conn, study_id)
    moments = await store.latest_snapshot_moments(conn, study_id)
    schemes = await store.schemes_of(conn, [study_id])
    scheme = find_scheme(schemes.get(study_id))
    snapshots = study_snapshots(study_id, scheme, kept_units.tallies, _EPOCH)
    provider_ids = sorted(p.provider_id for p in snapshots)
    periods = await _periods(conn, study_id, provider_ids, scheme)
    provinces = await _provinces(conn, study_id, provider_ids, scheme)
    return [
        s.model_copy(
            update={"as_of": moments.get(p.provider_id, s.as_of)}
            | (
                {"periods": tuple(PeriodGrades.model_validate(t) for t in periods[p.provider_id])}
                if p.provider_id in periods
                else {}
            )
            | (
                {"provinces": tuple(ProvinceCount.model_validate(t) for t in provinces[p.provider_id])}
                if p.provider_id in provinces
                else {}
            )
        )
        for p, s in sorted(snapshots.items())
    ]


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _correlation_by_provider(events: Sequence[Event]) -> dict[ProviderKey, uuid.UUID]:
    # A snapshot carries the correlation id of the last event that touched its provider,
    # so a trace follows a response from the questionnaire to the report.
    return {ProviderKey(e.payload.study_id, e.payload.provider_id): e.correlation_id for e in events}


# --- recompute ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recomputed:
    """A study recomputed from scratch beside its incremental state."""

    study_id: str
    providers: int
    responses: int  # responses that count (kept, not withdrawn)
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


@dataclass
class FileFacts:
    """A study's facts from a JSON Lines file: the responses that count (by invitation) and,
    when the file holds any, the approaches' dispositions."""

    responses: dict[Any, KeptResponse]
    dispositions: DispositionLedger | None = None
    submitted_at: dict[Any, datetime] = field(default_factory=dict)  # of each kept response, by invitation


async def recompute_study(conn: Connection, study_id: str, facts: FileFacts | None = None) -> Recomputed:
    """Every figure of a study from its facts alone, compared with the incremental state.

    The net sample always comes from the kept invitations; the responses from the kept ones,
    or from ``facts`` (a JSON Lines file, :func:`facts_from_lines`); the approach dispositions
    from the file when it has any, else the kept ones. Aggregates, the exact grade sums and
    every provider's snapshot figures are compared.
    """
    invitations = await store.invitation_counts(conn, study_id)
    responses = dict(await store.kept_responses(conn, study_id)) if facts is None else facts.responses
    ledger = facts.dispositions if facts is not None else None
    if ledger is None:
        ledger = DispositionLedger()
        for invitation_id, unit, code in await store.approach_classes(conn, study_id):
            ledger.approach(invitation_id, unit, code)  # type: ignore[arg-type]  # stored AAPOR codes
    recomputed = aggregate(
        [
            *(
                (key, UnitTally(invited=invited, undeliverable=undeliverable))
                for key, (invited, undeliverable) in invitations.items()
            ),
            *((r.key, r.tally()) for r in responses.values()),
            *ledger.tallies(responses),
        ]
    )
    kept_units = await store.study_units(conn, study_id)
    differences = tally_differences(recomputed, kept_units.tallies)
    differences += _grade_sum_differences(kept_units)
    schemes = await store.schemes_of(conn, [study_id])
    scheme = find_scheme(schemes.get(study_id))
    providers = set(providers_in(recomputed)) | set(providers_in(kept_units.tallies))
    expected = study_snapshots(study_id, scheme, recomputed, _EPOCH, providers)
    actual = study_snapshots(study_id, scheme, kept_units.tallies, _EPOCH, providers)
    for provider in sorted(providers):
        differences += [
            f"{provider.provider_id}: {line}"
            for line in figure_differences(snapshot_tree(expected[provider]), snapshot_tree(actual[provider]))
        ]
    if pairs_periods(scheme):
        submitted_at = (
            facts.submitted_at if facts is not None else await store.submitted_times(conn, study_id)
        )
        differences += await _period_differences(conn, study_id, responses, submitted_at, providers)
    differences += await _province_differences(conn, study_id, scheme)
    return Recomputed(study_id, len(providers), len(responses), differences)


async def _period_differences(
    conn: Connection,
    study_id: str,
    responses: Mapping[Any, KeptResponse],
    submitted_at: Mapping[Any, datetime],
    providers: Iterable[ProviderKey],
) -> list[str]:
    """UWV jobcoach: the periods paired from the facts (the file's, or the kept responses with
    their answers) against the periods a snapshot shows (the kept grades per period)."""
    ids = sorted(p.provider_id for p in providers)
    expected_facts = period_facts_of(
        responses, await store.jobcoach_period_keys(conn, study_id), submitted_at
    )
    actual_facts = await store.period_facts(conn, study_id, ids)
    lines = []
    for provider_id in ids:
        expected = pair_periods(expected_facts.get(provider_id, []))
        actual = pair_periods(actual_facts.get(provider_id, []))
        if expected != actual:
            lines.append(f"{provider_id}: jobcoach periods {actual} differ from the recomputed {expected}")
    return lines


async def _province_differences(conn: Connection, study_id: str, scheme: Scheme | None) -> list[str]:
    """The invitations per province counted from every kept invitation's province against the
    counts kept as they came, and the summary's figures (per provider, the headline group's)."""
    recomputed = count_provinces(await store.invitation_provinces(conn, study_id))
    kept_counts = await store.kept_province_counts(conn, study_id)
    lines = [
        f"{key.provider_id or '(benchmark)'} / {key.respondent_type} / {key.province}: kept"
        f" {kept_counts.get(key, 0)} invitation(s) in the province, recomputed {recomputed.get(key, 0)}"
        for key in sorted(set(recomputed) | set(kept_counts), key=store.province_order)
        if recomputed.get(key, 0) != kept_counts.get(key, 0)
    ]
    headline = headline_type(scheme)
    expected, actual = province_counts(recomputed, headline), province_counts(kept_counts, headline)
    for provider_id in sorted(set(expected) | set(actual)):
        lines += [
            f"{provider_id}: {line}"
            for line in figure_differences(
                {"provinces": expected.get(provider_id, [])}, {"provinces": actual.get(provider_id, [])}
            )
        ]
    return lines


def _grade_sum_differences(kept_units: store.KeptUnits) -> list[str]:
    lines = []
    for key, (n, grade_sum, grade_sumsq) in sorted(kept_units.grade_sums.items()):
        tally = kept_units.tallies[key]
        if (n, grade_sum, grade_sumsq) != (tally.grade_n, tally.grade_sum, tally.grade_sumsq):
            who = key.provider_id or "(benchmark)"
            lines.append(
                f"{who} / {key.service_code} / {key.respondent_type}: kept grade sums"
                f" {(n, grade_sum, grade_sumsq)} differ from the kept grades"
                f" {(tally.grade_n, tally.grade_sum, tally.grade_sumsq)}"
            )
    return lines


class ResponseLineError(ValueError):
    """A line of a facts file that is not a response, a withdrawal, an approach, an opt-out,
    an undeliverable invitation or such an event."""


LineItem = (
    ResponseSubmittedPayload
    | ResponseWithdrawnPayload
    | InvitationApproachedPayload
    | InvitationOptedOutPayload
    | InvitationUndeliverablePayload
)
_LINE_TYPES: dict[str, type[LineItem]] = {
    "responses.submitted": ResponseSubmittedPayload,
    "responses.withdrawn": ResponseWithdrawnPayload,
    "invitations.approached": InvitationApproachedPayload,
    "invitations.opted_out": InvitationOptedOutPayload,
    "invitations.undeliverable": InvitationUndeliverablePayload,
}


def facts_from_lines(study_id: str, lines: Iterable[str]) -> FileFacts:
    """A study's facts from a JSON Lines file (format in docs/figures.md).

    Each line is a payload (or the whole envelope as on the topic) of ``responses.submitted``,
    ``responses.withdrawn``, ``invitations.approached``, ``invitations.opted_out`` or
    ``invitations.undeliverable``. Lines of other studies are skipped; the service's rules
    apply (one final response per invitation, a withdrawal takes its response out wherever it
    stands, an invitation's disposition is the best its approaches gave, in any order).
    """
    ledger = ResponseLedger()
    dispositions: DispositionLedger | None = None
    submitted_at: dict[Any, datetime] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = _line_item(json.loads(line))
        except (ValueError, ValidationError) as exc:
            raise ResponseLineError(f"line {number}: {exc}") from exc
        if item.study_id != study_id:
            continue
        if isinstance(item, ResponseSubmittedPayload):
            if ledger.submit(item.response_id, item.invitation_id, kept(item)):
                submitted_at[item.invitation_id] = item.submitted_at
        elif isinstance(item, ResponseWithdrawnPayload):
            ledger.withdraw(item.response_id, item.invitation_id)
        else:
            dispositions = dispositions or DispositionLedger()
            dispositions.approach(item.invitation_id, _unit(item), _line_class(item))
    kept_responses = {i: response for i, (_, response) in ledger.kept.items()}
    return FileFacts(kept_responses, dispositions, {i: submitted_at[i] for i in kept_responses})


def responses_from_lines(study_id: str, lines: Iterable[str]) -> list[KeptResponse]:
    """The responses that count in a study from a JSON Lines file (:func:`facts_from_lines`)."""
    return list(facts_from_lines(study_id, lines).responses.values())


def _line_class(
    item: InvitationApproachedPayload | InvitationOptedOutPayload | InvitationUndeliverablePayload,
) -> AaporCode | None:
    if isinstance(item, InvitationApproachedPayload):
        return approach_class(item.outcome, item.aapor)
    return "R" if isinstance(item, InvitationOptedOutPayload) else "UO"


def _line_item(data: Any) -> LineItem:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    kind = data.get("type")
    if kind is not None:
        model = _LINE_TYPES.get(kind)
        if model is None:
            raise ValueError(f"event type {kind!r} is no response, approach, opt-out or undeliverable")
        return model.model_validate(data.get("payload"))
    if "answers" in data:
        return ResponseSubmittedPayload.model_validate(data)
    if "response_id" in data:
        return ResponseWithdrawnPayload.model_validate(data)
    if "outcome" in data:
        return InvitationApproachedPayload.model_validate(data)
    if "reason" in data:
        return InvitationUndeliverablePayload.model_validate(data)
    return InvitationOptedOutPayload.model_validate(data)


# --- fieldwork status -----------------------------------------------------------------------


async def study_status(
    conn: Connection, study_id: str, now: datetime, settings: ForecastSettings | None = None
) -> dict[str, Any]:
    """Per provider the response so far, the forecast of the final response and the status
    against the scheme's publication requirement (``services.scoring.fieldwork``)."""
    settings = settings or ForecastSettings()
    schemes = await store.schemes_of(conn, [study_id])
    scheme = find_scheme(schemes.get(study_id))
    found = await store.fieldwork(conn, study_id, now)
    # The fit is CPU work (about a second per 100,000 people): off the event loop, so the
    # consumers keep going while it runs.
    rule = None if scheme is None else scheme.publication
    forecast = await asyncio.to_thread(forecast_study, found, rule, settings)
    return {
        "study_id": study_id,
        "scheme_id": None if scheme is None else scheme.scheme_id,
        "as_of": now.isoformat(),
        "horizon_days": settings.horizon_days,
        "requirement": None
        if scheme is None
        else {
            "min_usable": scheme.publication.min_usable,
            "min_response_rate": scheme.publication.min_response_rate,
            "always_published_for": list(scheme.publication.always_published_for),
        },
        "curve": {
            "rate_per_day": forecast.fit.rate_per_day,
            "median_delay_days": forecast.fit.median_delay_days,
            "study_eventual_response": forecast.fit.study_eventual,
        },
        "providers": [
            {
                "provider_id": p.provider_id,
                "respondent_type": p.respondent_type,
                "net_sample": p.net_sample,
                "usable": p.usable,
                "response_so_far": p.response_so_far,
                "forecast_usable": round(p.forecast_usable, 2),
                "forecast_response": p.forecast_response,
                "required_usable": p.required_usable,
                "required_response": p.required_response,
                "status": p.status,
                "flagged": p.flagged,
            }
            for p in forecast.providers
        ],
        "flagged": sorted({p.provider_id for p in forecast.flagged}),
    }
