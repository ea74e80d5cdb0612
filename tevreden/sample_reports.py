"""Realistic score snapshots without the running services: generated answers to the real
questionnaires, counted by the real scoring domain. For report tests, the report benchmark
and anyone who wants to look at a report of every kind.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from services.scoring.domain import (
    PeriodFact,
    UnitKey,
    UnitTally,
    aggregate,
    pair_periods,
    response_tally,
    study_snapshots,
)
from services.scoring.groups import scheme_group_comparisons
from shared.events import AnswerValue, PeriodGrades, ScoresUpdatedPayload
from shared.questionnaires import Question, Questionnaire, RankingQuestion, load_questionnaire
from shared.schemes import Scheme, load_scheme

AS_OF = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FIELDWORK_START = datetime(2025, 11, 1, 9, 0, tzinfo=UTC)  # the generated forms come in from here


def answer(question: Question, rng: random.Random, mood: float) -> AnswerValue:
    """One plausible answer; ``mood`` in 0..1 tilts scales towards the positive end."""
    kind = question.type
    if kind == "grade":
        value = min(10.0, max(1.0, rng.gauss(5 + 4 * mood, 1.3)))
        return round(value) if not getattr(question, "decimals", False) else round(value * 2) / 2
    if kind == "likelihood0_10":
        return min(10, max(0, round(rng.gauss(4 + 5 * mood, 2))))
    if kind == "numeric":
        return rng.randint(0, 40)
    if kind == "free_text":
        return None  # never generated: free text is not counted anyway
    if kind == "multiple_choice":
        options = [o.value for o in question.choices() if not o.other]
        return rng.sample(options, k=rng.randint(1, min(3, len(options))))
    if isinstance(question, RankingQuestion):
        items = list(question.item_values())
        rng.shuffle(items)
        return items
    options = [o.value for o in question.choices() if not o.other]
    if not options:
        return None
    if kind in ("satisfaction5",) and rng.random() < 0.05:
        return "geen_mening"
    if kind in ("satisfaction5", "rating4", "yes_partly_no"):
        ordered = options if kind != "satisfaction5" else list(reversed(options[:4]))
        index = min(len(ordered) - 1, max(0, round(rng.gauss(mood * (len(ordered) - 1), 0.8))))
        return ordered[index]
    return rng.choice(options)


def answers_for(questionnaire: Questionnaire, rng: random.Random, mood: float) -> dict[str, AnswerValue]:
    """A complete, routed set of answers (hidden questions stay empty)."""
    answers: dict[str, AnswerValue] = {}
    for q in questionnaire.questions:
        if not all(c.holds(answers) for c in q.routing):
            continue
        if q.type == "likert_matrix":
            for key in q.answer_keys():
                answers[key] = min(5, max(1, round(rng.gauss(2.5 + 2 * mood, 0.9))))
            continue
        if q.type == "percentage_allocation":
            keys = q.answer_keys()
            cuts = sorted(rng.randint(0, 100) for _ in range(len(keys) - 1))
            for key, (low, high) in zip(keys, zip([0, *cuts], [*cuts, 100], strict=True), strict=True):
                answers[key] = high - low
            continue
        value = answer(q, rng, mood)
        if value is not None:
            answers[q.id] = value
    return answers


def study_units(
    scheme: Scheme, study_id: str, providers: int, seed: int, per_provider: int = 40
) -> dict[UnitKey, UnitTally]:
    """Units of a whole study: every provider's net sample, partials and usable responses."""
    rng = random.Random(seed)
    contributions: list[tuple[UnitKey, UnitTally]] = []
    services = [s.code for s in scheme.services if not s.retired] or ["all"]
    for p in range(1, providers + 1):
        provider_id = f"P{p:03d}"
        mood = rng.uniform(0.45, 0.95)
        own_services = rng.sample(services, k=min(len(services), rng.randint(1, 3)))
        for respondent_type in scheme.respondent_types:
            questionnaire = load_questionnaire(scheme.questionnaire_id(respondent_type))
            invited = (
                per_provider if respondent_type in ("client", "werknemer", "employee") else per_provider // 4
            )
            for i in range(max(1, invited)):
                service = own_services[i % len(own_services)]
                key = UnitKey(study_id, provider_id, service, respondent_type)
                tally = UnitTally(invited=1)
                roll = rng.random()
                if roll < 0.06:
                    tally.undeliverable = 1
                elif roll < 0.45:
                    answers = answers_for(questionnaire, rng, mood)
                    tally.add(response_tally(questionnaire, True, answers))
                elif roll < 0.48:
                    tally.add(response_tally(questionnaire, False, {}))
                contributions.append((key, tally))
    return aggregate(contributions)


def study_payloads(
    scheme_id: str, providers: int = 8, seed: int = 7, per_provider: int = 40
) -> list[ScoresUpdatedPayload]:
    """Every provider's snapshot in a generated study of ``scheme_id``."""
    scheme = load_scheme(scheme_id)
    study_id = f"{scheme_id}-2026"
    units = study_units(scheme, study_id, providers, seed, per_provider)
    snapshots = study_snapshots(study_id, scheme, units, AS_OF)
    payloads = [snapshots[p] for p in sorted(snapshots)]
    if scheme.group_by:
        payloads = [_with_groups(p, scheme, seed) for p in payloads]
    if {"werknemer", "werkgever"} <= set(scheme.respondent_types):
        payloads = [_with_periods(p, units, seed) for p in payloads]
    return payloads


def _grades(units: Mapping[UnitKey, UnitTally], provider_id: str, respondent_type: str) -> list[Decimal]:
    """Every exact grade given by ``respondent_type`` at a provider (7.5 stays 7.5)."""
    return [
        grade
        for key, tally in sorted(units.items())
        if (key.provider_id, key.respondent_type) == (provider_id, respondent_type)
        for grade, count in sorted(tally.grades.items())
        for _ in range(count)
    ]


def _with_periods(
    payload: ScoresUpdatedPayload, units: Mapping[UnitKey, UnitTally], seed: int
) -> ScoresUpdatedPayload:
    """UWV jobcoach: the generated forms paired into jobcoach periods by the scoring service's own
    pairing (:func:`pair_periods`; a werkgever form for some periods only), consistent with the
    counted grades. Period keys are pseudonymous, as ``invitations.issued`` carries them."""
    rng = random.Random(f"{seed}-periods-{payload.provider_id}")
    employees = _grades(units, payload.provider_id, "werknemer")
    employers = _grades(units, payload.provider_id, "werkgever")
    rng.shuffle(employees)
    rng.shuffle(employers)
    facts = [
        PeriodFact(_period_key(payload.provider_id, i), side, grade, FIELDWORK_START + timedelta(hours=i))
        for side, grades in (("werknemer", employees), ("werkgever", employers))
        for i, grade in enumerate(grades)
    ]
    periods = tuple(PeriodGrades.model_validate(row) for row in pair_periods(facts))
    return payload.model_copy(update={"periods": periods})


def _period_key(provider_id: str, i: int) -> str:
    return hashlib.sha256(f"demo-jobcoach-period/{provider_id}/{i}".encode()).hexdigest()[:16]


def _with_groups(payload: ScoresUpdatedPayload, scheme: Scheme, seed: int) -> ScoresUpdatedPayload:
    questionnaire = load_questionnaire(scheme.questionnaire_id("employee"))
    rng = random.Random(f"{seed}-{payload.provider_id}")
    answers = []
    for _ in range(payload.completed):
        group_mood = rng.uniform(0.4, 0.6)
        a = answers_for(questionnaire, rng, group_mood)
        if a.get("organisation") == "sw_organisatie":  # a real difference to find
            a["grade_organisation"] = min(10, int(a.get("grade_organisation", 7)) + 1)  # type: ignore[arg-type]
        answers.append(a)
    analyses = scheme_group_comparisons(scheme, questionnaire, answers)
    data: Mapping[str, Any] = {**payload.model_dump(), "group_comparisons": analyses}
    return ScoresUpdatedPayload.model_validate(data)
