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
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from prometheus_client import Histogram
from pydantic import ValidationError

from services.scoring import store
from services.scoring.domain import (
    INVITED,
    KeptResponse,
    ProviderKey,
    ResponseLedger,
    StudyFigures,
    UnitKey,
    UnitTally,
    aggregate,
    figure_differences,
    find_questionnaire,
    grade_value,
    providers_in,
    snapshot_tree,
    study_snapshots,
    tally_differences,
    undeliverable_tally,
    units_by_provider,
)
from services.scoring.fieldwork import ForecastSettings, forecast_study
from services.scoring.groups import scheme_group_comparisons
from shared.db import Connection
from shared.events import (
    Event,
    InvitationIssued,
    InvitationUndeliverable,
    ResponseSubmitted,
    ResponseSubmittedPayload,
    ResponseWithdrawn,
    ResponseWithdrawnPayload,
    ScoresUpdated,
    ScoresUpdatedPayload,
)
from shared.outbox import add_to_outbox
from shared.questionnaires import load_questionnaire
from shared.schemes import Scheme, find_scheme


async def count_invitations(conn: Connection, events: list[Event]) -> None:
    """``invitations.issued``: each new invitation adds one to its unit's net sample."""
    issued = [e for e in events if isinstance(e, InvitationIssued)]
    keys = await store.record_issued(
        conn, [e.payload for e in issued], {e.payload.invitation_id: e.occurred_at for e in issued}
    )
    await _apply(conn, aggregate((key, INVITED) for key in keys), events)


async def count_undeliverable(conn: Connection, events: list[Event]) -> None:
    """``invitations.undeliverable``: a counted invitation leaves the net sample."""
    bounced = [e.payload for e in events if isinstance(e, InvitationUndeliverable)]
    changed = await store.record_undeliverable(conn, bounced)
    await _apply(conn, aggregate((key, undeliverable_tally(was)) for key, was in changed), events)


async def count_responses(conn: Connection, events: list[Event]) -> None:
    """``responses.submitted``: a usable questionnaire counts with its grade and answers, an
    unusable one as partial."""
    submitted = [e for e in events if isinstance(e, ResponseSubmitted)]
    recorded = await store.record_responses(conn, [(e.payload, grade_of(e.payload)) for e in submitted])
    contributions = []
    counted_at = []
    for e in submitted:
        p = e.payload
        if p.response_id in recorded:
            recorded.discard(p.response_id)  # the same response twice in one batch counts once
            contributions.append((unit_of(p), kept(p).tally()))
            counted_at.append(e.occurred_at)
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
    """``responses.withdrawn``: a counted response is subtracted exactly (its answers erased)."""
    withdrawn = [e.payload for e in events if isinstance(e, ResponseWithdrawn)]
    taken_out = await store.record_withdrawals(conn, withdrawn)
    await _apply(conn, aggregate((r.key, -r.tally()) for r in taken_out), events)


def unit_of(p: ResponseSubmittedPayload) -> UnitKey:
    return UnitKey(p.study_id, p.provider_id, p.service_code, p.respondent_type)


def kept(p: ResponseSubmittedPayload) -> KeptResponse:
    return KeptResponse(unit_of(p), p.questionnaire_id, p.questionnaire_version, p.usable, p.answers)


def grade_of(p: ResponseSubmittedPayload) -> Decimal | None:
    """The response's rapportcijfer (its questionnaire's grade question), kept with the response."""
    questionnaire = find_questionnaire(p.questionnaire_id, p.questionnaire_version)
    question = "grade" if questionnaire is None else questionnaire.grade_question
    return None if question is None else grade_value(p.answers.get(question))


async def _apply(conn: Connection, changes: Mapping[UnitKey, UnitTally], events: Sequence[Event]) -> None:
    """Add the changes to the aggregates and emit every touched provider's new snapshot."""
    if not changes:
        return
    await store.add_to_units(conn, changes)
    snapshots = await snapshots_of(conn, providers_in(changes))
    correlation = _correlation_by_provider(events)
    await add_to_outbox(
        conn,
        store.SCHEMA,
        [
            ScoresUpdated(
                correlation_id=correlation.get(ProviderKey(s.study_id, s.provider_id), uuid.uuid4()),
                payload=s,
            )
            for s in snapshots
        ],
    )


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


async def snapshots_of(conn: Connection, providers: Sequence[ProviderKey]) -> list[ScoresUpdatedPayload]:
    """New snapshots of these providers: their units beside their studies' benchmarks.

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
        for provider in sorted(p for p in set(providers) if p.study_id == study_id):
            snapshot = figures.snapshot(provider.provider_id, grouped.get(provider, {}), as_of[provider])
            if scheme is not None and scheme.group_by:
                snapshot = await _with_group_comparisons(conn, snapshot, scheme)
            snapshots.append(snapshot)
    return snapshots


async def _with_group_comparisons(
    conn: Connection, snapshot: ScoresUpdatedPayload, scheme: Scheme
) -> ScoresUpdatedPayload:
    """Staff survey: the groups compared on every question (significant differences only)."""
    answers = await store.usable_answers(conn, snapshot.study_id, snapshot.provider_id)
    questionnaire = load_questionnaire(scheme.questionnaire_id(scheme.respondent_types[0]))
    analyses = scheme_group_comparisons(scheme, questionnaire, answers)
    return ScoresUpdatedPayload.model_validate({**snapshot.model_dump(), "group_comparisons": analyses})


async def study_scores(conn: Connection, study_id: str) -> list[ScoresUpdatedPayload]:
    """Every provider's current figures in a study, at the moment of its latest snapshot."""
    kept_units = await store.study_units(conn, study_id)
    moments = await store.latest_snapshot_moments(conn, study_id)
    schemes = await store.schemes_of(conn, [study_id])
    snapshots = study_snapshots(study_id, find_scheme(schemes.get(study_id)), kept_units.tallies, _EPOCH)
    return [
        s.model_copy(update={"as_of": moments.get(p.provider_id, s.as_of)})
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


async def recompute_study(
    conn: Connection, study_id: str, responses: Sequence[KeptResponse] | None = None
) -> Recomputed:
    """Every figure of a study from its facts alone, compared with the incremental state.

    The net sample always comes from the kept invitations; the responses from the kept ones,
    or from ``responses`` (a JSON Lines file, :func:`responses_from_lines`). Aggregates,
    the exact grade sums and every provider's snapshot figures are compared.
    """
    invitations = await store.invitation_counts(conn, study_id)
    if responses is None:
        responses = await store.kept_responses(conn, study_id)
    facts: list[tuple[UnitKey, UnitTally]] = [
        (key, UnitTally(invited=invited, undeliverable=undeliverable))
        for key, (invited, undeliverable) in invitations.items()
    ]
    facts += [(r.key, r.tally()) for r in responses]
    recomputed = aggregate(facts)
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
    return Recomputed(study_id, len(providers), len(responses), differences)


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
    """A line of a responses file that is not a response, a withdrawal or such an event."""


def responses_from_lines(study_id: str, lines: Iterable[str]) -> list[KeptResponse]:
    """The responses that count in a study from a JSON Lines file (format in the README).

    Each line is a ``responses.submitted`` payload, a ``responses.withdrawn`` payload, or
    either event's whole envelope as on the topic. Lines of other studies are skipped; the
    service's rules apply in file order (one final response per invitation, a withdrawal takes
    its response out wherever it stands).
    """
    ledger = ResponseLedger()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = _response_line(json.loads(line))
        except (ValueError, ValidationError) as exc:
            raise ResponseLineError(f"line {number}: {exc}") from exc
        if item.study_id != study_id:
            continue
        if isinstance(item, ResponseSubmittedPayload):
            ledger.submit(item.response_id, item.invitation_id, kept(item))
        else:
            ledger.withdraw(item.response_id, item.invitation_id)
    return ledger.responses()


def _response_line(data: Any) -> ResponseSubmittedPayload | ResponseWithdrawnPayload:
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    kind = data.get("type")
    if kind is not None:
        payload = data.get("payload")
        if kind == "responses.submitted":
            return ResponseSubmittedPayload.model_validate(payload)
        if kind == "responses.withdrawn":
            return ResponseWithdrawnPayload.model_validate(payload)
        raise ValueError(f"event type {kind!r} is no response")
    if "answers" in data:
        return ResponseSubmittedPayload.model_validate(data)
    return ResponseWithdrawnPayload.model_validate(data)


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
