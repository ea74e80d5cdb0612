"""Studies with small groups, counted by the real scoring domain: real questionnaires, answers
generated as in ``tevreden.sample_reports``, the grades chosen per person.

``bow_study``: P001 (Pluswerk) has dienst 9 with 12 clients, dienst 3 with 7, dienst 6 with one
(grade 5: under the dienst norm of 5,5) and dienst 7 with two, and one opdrachtgever; P002 has
dienst 9 with 10 clients and dienst 6 with 2; P003 is only in dienst 1 (4 clients), where no other
provider has answers. ``uwv_study``: P001 with three small percelen and one of eight; P002
alone in Praktijkassessment.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from decimal import Decimal

from services.scoring.domain import UnitKey, UnitTally, aggregate, response_tally, study_snapshots
from shared.events import AnswerValue, AspectComparison, ScoresUpdatedPayload
from shared.questionnaires import load_questionnaire
from shared.schemes import load_scheme
from tevreden.sample_reports import AS_OF, answers_for

# provider → (service, respondent type) → grades of the usable questionnaires; each unit also has
# as many non-respondents again in its net sample.
Plan = Mapping[str, Mapping[tuple[str, str], Sequence[float]]]

BOW_PLAN: Plan = {
    "P001": {
        ("9", "client"): [9, 8, 8, 9, 10, 7, 8, 9, 8, 9, 7, 8],
        ("3", "client"): [7, 8, 6, 8, 7, 9, 8],
        ("6", "client"): [5],
        ("7", "client"): [6, 3],
        ("9", "opdrachtgever"): [7.5],
    },
    "P002": {
        ("9", "client"): [7, 6, 8, 7, 7, 8, 6, 7, 9, 7],
        ("6", "client"): [8, 7],
        ("9", "opdrachtgever"): [8, 6.5],
    },
    "P003": {("1", "client"): [8, 9, 7, 8]},
}
UWV_PLAN: Plan = {
    "P001": {
        ("werkfit-maken", "client"): [7, 8],
        ("naar-werk", "client"): [6],
        ("modulaire-re-integratiediensten", "client"): [8, 7, 9],
        ("praktijkassessment", "client"): [7] * 19 + [6],  # 139 / 20 = 6,95: shown "7,0", misses 7
    },
    "P002": {("naar-werk", "client"): [8, 7, 8, 9, 7, 8]},
}


def study(scheme_id: str, study_id: str, plan: Plan, seed: int = 11) -> list[ScoresUpdatedPayload]:
    """Every provider's snapshot of a study built from ``plan``."""
    scheme = load_scheme(scheme_id)
    rng = random.Random(seed)
    contributions: list[tuple[UnitKey, UnitTally]] = []
    for provider_id, units in plan.items():
        for (service, respondent_type), grades in units.items():
            questionnaire = load_questionnaire(scheme.questionnaire_id(respondent_type))  # type: ignore[arg-type]
            key = UnitKey(study_id, provider_id, service, respondent_type)
            for grade in grades:
                answers: dict[str, AnswerValue] = {
                    **answers_for(questionnaire, rng, 0.7),
                    questionnaire.grade_question or "grade": _grade(grade),
                }
                contributions.append(
                    (key, UnitTally(invited=1).add(response_tally(questionnaire, True, answers)))
                )
                contributions.append((key, UnitTally(invited=1)))  # a non-respondent
    snapshots = study_snapshots(study_id, scheme, aggregate(contributions), AS_OF)
    return [snapshots[p] for p in sorted(snapshots)]


def _grade(value: float) -> AnswerValue:
    return int(value) if Decimal(str(value)) == int(value) else value


def strong_point(question_id: str) -> AspectComparison:
    """A client aspect on which the provider scores significantly well (as scoring's test finds)."""
    return AspectComparison(
        respondent_type="client",
        question_id=question_id,
        question_type="satisfaction5",
        n=12,
        mean=3.8,
        others_mean=3.1,
        difference=0.7,
        p_value=0.01,
    )
