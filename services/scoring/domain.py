"""Scoring domain: invertible aggregates per unit and every figure derived from them.

Pure: no I/O, no framework. A unit is one study × provider × service (dienst, perceel) ×
respondent type. Its aggregate (:class:`UnitTally`) holds counts and exact value counts
only: invitations, undeliverable ones, usable and partial questionnaires, promoter
classes, each exact rapportcijfer and each answer to each question. Adding a batch's
contributions therefore gives exactly what a recompute from the facts gives, whatever the
order, and a withdrawn response is undone by subtracting its contribution.

The benchmark (all providers in a study) is kept as one more provider, :data:`ALL_PROVIDERS`,
fed the same contributions, so it is as exact and as cheap to read as a provider.
Formulas are in ``figures.py`` and documented in docs/figures.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from services.scoring.figures import (
    DEFAULT_ELIGIBILITY,
    Dispositions,
    GradeSummary,
    aapor_rates,
    compare_with_benchmark,
    confidence_interval_95,
    corrected_mean,
    evaluate_respondent_type_norm,
    evaluate_unit_norm,
    exemption_possible,
    grade_distribution,
    is_clearly_above,
    mean,
    percentages,
    promoter_score,
    response_rate,
    std_dev,
    whole_percentages,
    wilson_interval,
)
from shared.events import AaporCode, AnswerValue, RespondentType, ScoresUpdatedPayload
from shared.questionnaires import (
    OTHER_SUFFIX,
    PromoterClass,
    Questionnaire,
    QuestionnaireConfigError,
    Satisfaction5Question,
    load_questionnaire,
    promoter_class,
)
from shared.schemes import Scheme

ZERO = Decimal(0)
# The benchmark's provider id in keys and tables: never a provider's (a SafeId is never empty).
ALL_PROVIDERS = ""
# Answer key of the number of respondents who answered a list question (multiple choice,
# ranking), where the answers' counts do not add up to the respondents.
RESPONDENTS = ""
# Without a scheme: failing below 5.5, counted as 5 in the corrected mean, tests from 5 answers.
DEFAULT_FAILING_BELOW = Decimal("5.5")
DEFAULT_FAILING_VALUE = 5.0
DEFAULT_MIN_N_FOR_SIGNIFICANCE = 5
# Satisfaction scale, in the report's order; scored 1–4 for means and tests (geen mening: no score).
SATISFACTION_ORDER: tuple[str, ...] = tuple(value for value, _ in Satisfaction5Question.OPTIONS)
SATISFACTION_SCORES: Mapping[str, int] = {
    "zeer_ontevreden": 1,
    "ontevreden": 2,
    "tevreden": 3,
    "zeer_tevreden": 4,
}
# The aspects (dienstverleningsaspecten) "scoort relatief goed op" looks at.
ASPECT_TYPES = frozenset({"satisfaction5", "grade"})
# Never counted: open answers may name people (and say nothing as a frequency).
UNCOUNTED_TYPES = frozenset({"free_text"})


@dataclass(frozen=True, order=True)
class ProviderKey:
    """One provider (dienstverlener) in one study (onderzoek)."""

    study_id: str
    provider_id: str


@dataclass(frozen=True, order=True)
class UnitKey:
    """One study × provider × service (dienst, perceel) × respondent type: the unit kept."""

    study_id: str
    provider_id: str  # ALL_PROVIDERS for the benchmark
    service_code: str
    respondent_type: str

    @property
    def provider(self) -> ProviderKey:
        return ProviderKey(self.study_id, self.provider_id)

    def in_benchmark(self) -> UnitKey:
        """The same service and respondent type over all providers in the study."""
        return UnitKey(self.study_id, ALL_PROVIDERS, self.service_code, self.respondent_type)


class UnitTally:
    """Invertible totals of one unit: a group under ``+`` with inverse ``-``.

    ``grades`` counts each exact rapportcijfer (7.5 stays 7.5); ``answers`` counts per
    question each answer; ``question_types`` says what each counted question is (metadata:
    it never changes, so it is merged, not summed). Counts that reach 0 mean "absent".
    """

    COUNTS: ClassVar[tuple[str, ...]] = (
        "invited",
        "undeliverable",
        "usable",
        "partial",
        "promoters",
        "passives",
        "detractors",
        "refusal",
        "non_contact",
        "other",
        "unknown_household",
        "unknown_other",
    )
    __slots__ = (
        "answers",
        "detractors",
        "grades",
        "invited",
        "non_contact",
        "other",
        "partial",
        "passives",
        "promoters",
        "question_types",
        "refusal",
        "undeliverable",
        "unknown_household",
        "unknown_other",
        "usable",
    )

    def __init__(
        self,
        *,
        invited: int = 0,
        undeliverable: int = 0,
        usable: int = 0,
        partial: int = 0,
        promoters: int = 0,
        passives: int = 0,
        detractors: int = 0,
        refusal: int = 0,
        non_contact: int = 0,
        other: int = 0,
        unknown_household: int = 0,
        unknown_other: int = 0,
        grades: Mapping[Decimal, int] | None = None,
        answers: Mapping[str, Mapping[str, int]] | None = None,
        question_types: Mapping[str, str] | None = None,
    ) -> None:
        self.invited = invited  # every invitation issued (also the ones found undeliverable)
        self.undeliverable = undeliverable  # onbestelbaar: out of the net sample
        self.usable = usable  # bruikbare vragenlijsten (AAPOR I)
        self.partial = partial  # submitted, not usable (AAPOR P)
        self.promoters = promoters
        self.passives = passives
        self.detractors = detractors
        # Final AAPOR dispositions of the approached invitations without a counted response
        # (those are ``usable`` I and ``partial`` P): see :func:`final_disposition`.
        self.refusal = refusal  # R (weigering, afmelding)
        self.non_contact = non_contact  # NC
        self.other = other  # O
        self.unknown_household = unknown_household  # UH
        self.unknown_other = unknown_other  # UO
        self.grades: dict[Decimal, int] = dict(grades or {})
        self.answers: dict[str, dict[str, int]] = {q: dict(c) for q, c in (answers or {}).items()}
        self.question_types: dict[str, str] = dict(question_types or {})

    def add(self, other: UnitTally, sign: int = 1) -> UnitTally:
        """Add ``sign`` × ``other`` in place (the batch aggregation's hot path); returns self."""
        self.invited += sign * other.invited
        self.undeliverable += sign * other.undeliverable
        self.usable += sign * other.usable
        self.partial += sign * other.partial
        self.promoters += sign * other.promoters
        self.passives += sign * other.passives
        self.detractors += sign * other.detractors
        self.refusal += sign * other.refusal
        self.non_contact += sign * other.non_contact
        self.other += sign * other.other
        self.unknown_household += sign * other.unknown_household
        self.unknown_other += sign * other.unknown_other
        grades, answers = self.grades, self.answers
        for grade, count in other.grades.items():
            grades[grade] = grades.get(grade, 0) + sign * count
        for question, counts in other.answers.items():
            mine = answers.get(question)
            if mine is None:
                answers[question] = {a: sign * c for a, c in counts.items()}
            else:
                for answer, count in counts.items():
                    mine[answer] = mine.get(answer, 0) + sign * count
        if other.question_types:
            self.question_types.update(other.question_types)
        return self

    def copy(self) -> UnitTally:
        return UnitTally().add(self)

    def without_zeros(self) -> UnitTally:
        """The same tally as the database gives it back: grades and answers counted 0 left out,
        and so are questions left without answers (with their type); returns self."""
        self.grades = {g: c for g, c in self.grades.items() if c}
        answers = {}
        for question, counts in self.answers.items():
            kept = {a: c for a, c in counts.items() if c}
            if kept:
                answers[question] = kept
        self.answers = answers
        self.question_types = {q: t for q, t in self.question_types.items() if q in answers}
        return self

    def __add__(self, other: UnitTally) -> UnitTally:
        return self.copy().add(other)

    def __sub__(self, other: UnitTally) -> UnitTally:
        return self.copy().add(other, -1)

    def __neg__(self) -> UnitTally:
        return UnitTally(question_types=self.question_types).add(self, -1)

    def _normal(self) -> tuple[Any, ...]:
        return (
            tuple(getattr(self, name) for name in self.COUNTS),
            {g: c for g, c in self.grades.items() if c},
            {q: n for q, c in self.answers.items() if (n := {a: k for a, k in c.items() if k})},
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UnitTally) and self._normal() == other._normal()

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        counts, grades, answers = self._normal()
        fields = [f"{n}={v}" for n, v in zip(self.COUNTS, counts, strict=True) if v]
        if grades:
            fields.append(f"grades={ {str(g): c for g, c in sorted(grades.items())} }")
        if answers:
            fields.append(f"answers={ {q: dict(sorted(c.items())) for q, c in sorted(answers.items())} }")
        return f"UnitTally({', '.join(fields)})"

    @property
    def net_sample(self) -> int:
        """Netto steekproef: invited and not found undeliverable."""
        return self.invited - self.undeliverable

    @property
    def grade_n(self) -> int:
        return sum(self.grades.values())

    @property
    def grade_sum(self) -> Decimal:
        return sum((g * c for g, c in self.grades.items()), ZERO)

    @property
    def grade_sumsq(self) -> Decimal:
        return sum((g * g * c for g, c in self.grades.items()), ZERO)

    def is_zero(self) -> bool:
        """Nothing counted (everything added was taken off again)."""
        return self == UnitTally()

    def grade_summary(self, failing_below: Decimal = DEFAULT_FAILING_BELOW) -> GradeSummary:
        return GradeSummary.of_counts(self.grades, failing_below)

    def answers_of(self, question_id: str) -> dict[str, int]:
        """A question's answers and their counts (zeros left out)."""
        return {a: c for a, c in self.answers.get(question_id, {}).items() if c}


def total(tallies: Iterable[UnitTally]) -> UnitTally:
    result = UnitTally()
    for tally in tallies:
        result.add(tally)
    return result


# --- what one fact contributes -----------------------------------------------------------

# An invitation issued: one more invited, in the net sample.
INVITED = UnitTally(invited=1)


def undeliverable_tally(was_counted: bool) -> UnitTally:
    """An address found undeliverable: it leaves the net sample. One whose invitation was never
    seen is counted as invited and undeliverable at once (its later invitation changes nothing)."""
    return UnitTally(undeliverable=1) if was_counted else UnitTally(invited=1, undeliverable=1)


# --- AAPOR final dispositions ----------------------------------------------------------------
#
# Each invitation ends with one final disposition (AAPOR Standard Definitions): the best of what
# is known about it, whatever the order in which it became known. I and P come only from the
# questionnaire scoring counts (usable: I, not usable: P); the approaches give the rest.

# Highest first: a questionnaire outranks any approach; a person spoken to (refusal R, other O)
# outranks one never reached (NC); known eligibility outranks unknown; among the unknowns, a
# learned fact (UO: undeliverable, wrong number) outranks "nothing came back" (UH).
DISPOSITION_RANKING: tuple[AaporCode, ...] = ("I", "P", "R", "O", "NC", "UO", "UH")
_RANK: Mapping[str, int] = {code: len(DISPOSITION_RANKING) - i for i, code in enumerate(DISPOSITION_RANKING)}
# What an approach teaches when its event carries no AAPOR class (email and post).
OUTCOME_CLASSES: Mapping[str, AaporCode] = {
    "sent": "UH",  # AAPOR 3.19: invited, nothing (yet) came back
    "undeliverable": "UO",  # AAPOR 3.30: the invitation came back undelivered
}
_TALLY_FIELDS: Mapping[str, str] = {
    "R": "refusal",
    "NC": "non_contact",
    "O": "other",
    "UH": "unknown_household",
    "UO": "unknown_other",
}


def approach_class(outcome: str, aapor: AaporCode | None) -> AaporCode | None:
    """The AAPOR class one approach gives its invitation: the call's own class, or the
    outcome's (sent, undeliverable). A call's I or P is left out (None): the questionnaire it
    produced is what counts, as usable or not, and a withdrawn one no longer counts at all."""
    code = aapor if aapor is not None else OUTCOME_CLASSES.get(outcome)
    return None if code in ("I", "P") else code


def better_disposition(a: AaporCode | None, b: AaporCode | None) -> AaporCode | None:
    """The higher ranked of two dispositions (None: nothing known). Commutative, associative and
    idempotent, so any order and any repetition of the same facts ends in the same disposition."""
    if a is None:
        return b
    if b is None:
        return a
    return a if _RANK[a] >= _RANK[b] else b


def final_disposition(approach: AaporCode | None, answered: AaporCode | None) -> AaporCode | None:
    """An invitation's final disposition: its counted questionnaire (I or P) when it has one,
    else the best of its approaches; None when nothing is known (not in the AAPOR base)."""
    return better_disposition(approach, answered)


def disposition_tally(code: AaporCode | None) -> UnitTally:
    """What a final disposition adds to its unit. I and P add nothing here: the response itself
    counts them (usable, partial)."""
    tally = UnitTally()
    field = _TALLY_FIELDS.get(code or "")
    if field is not None:
        setattr(tally, field, 1)
    return tally


@dataclass(frozen=True)
class DispositionState:
    """What the scoring knows about one invitation's disposition: the best class its approaches
    gave, and its counted questionnaire's class (I, P; None: none counted, or withdrawn)."""

    approach: AaporCode | None = None
    answered: AaporCode | None = None

    @property
    def final(self) -> AaporCode | None:
        return final_disposition(self.approach, self.answered)

    def tally(self) -> UnitTally:
        return disposition_tally(self.final)


@dataclass(frozen=True)
class DispositionChange:
    """News about an invitation: an approach class to merge, its questionnaire counted now
    (``answered``: I or P), or its counted questionnaire withdrawn."""

    approach: AaporCode | None = None
    answered: AaporCode | None = None
    withdrawn: bool = False

    def applied_to(self, state: DispositionState) -> DispositionState:
        answered = state.answered
        if self.withdrawn:
            answered = None
        if self.answered is not None:
            answered = self.answered
        return DispositionState(better_disposition(state.approach, self.approach), answered)


class DispositionLedger:
    """The best approach class of each invitation, from approach facts in any order (for the
    recompute from a file and for checking the incremental state)."""

    def __init__(self) -> None:
        self.approaches: dict[Any, tuple[UnitKey, AaporCode]] = {}  # invitation id → (unit, class)

    def approach(self, invitation_id: Any, unit: UnitKey, code: AaporCode | None) -> None:
        if code is None:
            return
        known = self.approaches.get(invitation_id)
        if known is None:
            self.approaches[invitation_id] = (unit, code)
        else:
            self.approaches[invitation_id] = (known[0], better_disposition(known[1], code) or code)

    def tallies(self, answered: Iterable[Any]) -> list[tuple[UnitKey, UnitTally]]:
        """Each approached invitation's contribution, given the invitations with a counted
        questionnaire (those are I or P: counted by their response)."""
        counted = set(answered)
        return [
            (unit, DispositionState(code, "I" if invitation_id in counted else None).tally())
            for invitation_id, (unit, code) in self.approaches.items()
        ]


def answer_text(value: int | float | str) -> str:
    """An answer as its frequency-table key: options as they are, numbers exact ("7.5", "8")."""
    if isinstance(value, str):
        return value
    if type(value) is int:
        return str(value)
    return format(Decimal(str(value)).normalize(), "f")


def grade_value(value: AnswerValue) -> Decimal | None:
    """A rapportcijfer as an exact decimal (``Decimal(str(7.3))`` is 7.3, not the float's
    binary value); None when the answer is no finite number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return Decimal(str(value))


@functools.cache
def find_questionnaire(questionnaire_id: str, version: int) -> Questionnaire | None:
    """The questionnaire a response was given on; None when it is not known here."""
    try:
        return load_questionnaire(questionnaire_id, version)
    except (KeyError, QuestionnaireConfigError):
        return None


@functools.cache
def question_types(questionnaire_id: str, version: int) -> Mapping[str, str]:
    """Question id → question type of a questionnaire (empty when it is not known)."""
    questionnaire = find_questionnaire(questionnaire_id, version)
    return {} if questionnaire is None else {q.id: q.type for q in questionnaire.questions}


def response_tally(
    questionnaire: Questionnaire | None, usable: bool, answers: Mapping[str, AnswerValue]
) -> UnitTally:
    """What one submitted questionnaire adds to its unit.

    Not usable: one partial, nothing else. Usable: one usable, its rapportcijfer (the
    questionnaire's grade question; ``grade`` when the questionnaire is unknown), its promoter
    class, and one count per answer of every question but free text and "anders" texts.
    A multiple choice counts each chosen option, a ranking ``item@place``; both also count
    the respondent under :data:`RESPONDENTS`.
    """
    if not usable:
        return UnitTally(partial=1)
    grade_id = "grade" if questionnaire is None else questionnaire.grade_question
    grade = grade_value(answers.get(grade_id)) if grade_id is not None else None
    tally = UnitTally(usable=1, grades={grade: 1} if grade is not None else None)
    if questionnaire is None:
        return tally
    klass = promoter_class(questionnaire, answers)
    if klass is not None:
        setattr(tally, f"{klass}s", 1)  # promoters, passives, detractors
    types = question_types(questionnaire.questionnaire_id, questionnaire.version)
    counted, kinds = tally.answers, tally.question_types
    for key, value in answers.items():
        if value is None or key == grade_id:
            continue
        dot = key.find(".")
        kind = types.get(key if dot < 0 else key[:dot])
        if kind is None or kind in UNCOUNTED_TYPES or (dot >= 0 and key.endswith(OTHER_SUFFIX)):
            continue
        kinds[key] = kind
        if isinstance(value, list):
            if kind == "ranking":
                counts = {f"{item}@{place}": 1 for place, item in enumerate(value, 1)}
            else:
                counts = dict.fromkeys(map(str, value), 1)
            counts[RESPONDENTS] = 1
            counted[key] = counts
        else:
            counted[key] = {value if isinstance(value, str) else answer_text(value): 1}
    return tally


@dataclass(frozen=True)
class KeptResponse:
    """A response as kept (the fact its contribution is computed from, again on withdrawal)."""

    key: UnitKey
    questionnaire_id: str
    questionnaire_version: int
    usable: bool
    answers: Mapping[str, AnswerValue]

    def tally(self) -> UnitTally:
        questionnaire = find_questionnaire(self.questionnaire_id, self.questionnaire_version)
        return response_tally(questionnaire, self.usable, self.answers)


def aggregate(contributions: Iterable[tuple[UnitKey, UnitTally]]) -> dict[UnitKey, UnitTally]:
    """Sum a batch's contributions per unit and into the study's benchmark, so the database
    gets one row per unit (and per benchmark unit) whatever the batch size."""
    totals: dict[UnitKey, UnitTally] = {}
    for key, tally in contributions:
        for unit in (key, key.in_benchmark()):
            acc = totals.get(unit)
            if acc is None:
                acc = totals[unit] = UnitTally()
            acc.add(tally)
    return totals


# --- the figures --------------------------------------------------------------------------
#
# Figures are built as plain JSON-like trees and validated once per snapshot
# (ScoresUpdatedPayload.model_validate): a snapshot holds hundreds of nested models, and
# pydantic-core builds and checks them far faster than Python code constructing each one.

Tree = dict[str, Any]  # one payload model's fields, as built here (validated with the snapshot)
# A unit's figures memoised by (unit, kept version, scheme): an unchanged unit is not computed again.
FiguresMemo = MutableMapping[tuple[UnitKey, object, str | None], Tree]


def headline_type(scheme: Scheme | None) -> RespondentType | None:
    """Whose total the snapshot's top level holds: the clients', or (None) everyone's when the
    scheme asks no clients (jobcoach: werknemers and werkgevers)."""
    if scheme is None or "client" in scheme.respondent_types:
        return "client"
    return None


def failing_below(scheme: Scheme | None) -> Decimal:
    return DEFAULT_FAILING_BELOW if scheme is None else Decimal(str(scheme.norms.failing_below))


def grade_figures(summary: GradeSummary, failing_value: float) -> Tree:
    """GradeFigures: n, sum, mean, corrected mean, sd, 95% interval, distribution."""
    return {
        "n": summary.n,
        "grade_sum": float(summary.total),
        "mean": mean(summary),
        "corrected_mean": corrected_mean(summary, failing_value),
        "std_dev": std_dev(summary),
        "ci95": confidence_interval_95(summary),
        "distribution": grade_distribution(summary),
    }


def frequency_tables(tally: UnitTally) -> list[Tree]:
    """FrequencyTable per question: how often each answer was given, with the question's own n."""
    tables = []
    for question_id in sorted(tally.answers):
        counts = tally.answers_of(question_id)
        if not counts:
            continue
        n = counts.pop(RESPONDENTS, None)
        tables.append(
            {
                "question_id": question_id,
                "question_type": tally.question_types.get(question_id, "unknown"),
                "n": sum(counts.values()) if n is None else n,
                "counts": counts,
            }
        )
    return tables


def satisfaction_shares(tables: Iterable[Tree]) -> list[Tree]:
    """SatisfactionShares: each satisfaction5 question as percentages of its answers (geen
    mening included), rounded half up."""
    shares = []
    for t in tables:
        if t["question_type"] != "satisfaction5":
            continue
        counts = t["counts"]
        values = [counts.get(k, 0) for k in SATISFACTION_ORDER]
        total = sum(values)
        if total > 0 and min(values) >= 0:  # the usual case, in integers (same figures, faster)
            whole: Mapping[str, float] = dict(
                zip(SATISFACTION_ORDER, map(float, whole_percentages(values, total)), strict=True)
            )
        else:
            whole = {k: float(v) for k, v in percentages(counts, SATISFACTION_ORDER).items()}
        shares.append({"question_id": t["question_id"], "n": t["n"], "percentages": whole})
    return shares


def promoter_figures(tally: UnitTally) -> Tree:
    counts: dict[PromoterClass, int] = {
        "promoter": tally.promoters,
        "passive": tally.passives,
        "detractor": tally.detractors,
    }
    return {
        "promoters": tally.promoters,
        "passives": tally.passives,
        "detractors": tally.detractors,
        "score": promoter_score(counts),
    }


def eligibility(scheme: Scheme | None) -> tuple[float, str]:
    """AAPOR's e and where it comes from: the scheme's setting, or the documented default."""
    if scheme is None or scheme.aapor_eligibility is None:
        return DEFAULT_ELIGIBILITY, "default"
    return scheme.aapor_eligibility, "scheme"


def disposition_figures(tally: UnitTally, scheme: Scheme | None = None) -> Tree:
    """DispositionFigures: complete = usable, partial = submitted but not usable; refusal,
    non-contact, other and unknown eligibility: the final dispositions of the approached
    invitations without a counted questionnaire (:func:`final_disposition`); every AAPOR rate
    with the scheme's e."""
    dispositions = Dispositions(
        complete=tally.usable,
        partial=tally.partial,
        refusal=tally.refusal,
        non_contact=tally.non_contact,
        other=tally.other,
        unknown_household=tally.unknown_household,
        unknown_other=tally.unknown_other,
    )
    e, source = eligibility(scheme)
    rates = aapor_rates(dispositions, e)
    return {
        "complete": dispositions.complete,
        "partial": dispositions.partial,
        "refusal": dispositions.refusal,
        "non_contact": dispositions.non_contact,
        "other": dispositions.other,
        "unknown_household": dispositions.unknown_household,
        "unknown_other": dispositions.unknown_other,
        **vars(rates),
        "e": e,
        "e_source": source,
    }


def is_published(scheme: Scheme | None, respondent_type: str, tally: UnitTally) -> bool | None:
    """Publicatie (tabel 1.1): the scheme's response requirement, or always for some respondent
    types (BoW opdrachtgevers). None without a scheme or for an internal survey (groups)."""
    if scheme is None or scheme.unit == "group":
        return None
    return scheme.publication.is_published(
        respondent_type,  # type: ignore[arg-type]  # a RespondentType: it came from an event
        tally.usable,
        tally.net_sample,
    )


def is_disclosable(scheme: Scheme | None, respondent_type: str, tally: UnitTally) -> bool:
    """Enough usable questionnaires to show the group's figures (disclosure control)."""
    return scheme is None or tally.usable >= scheme.disclosure.min_n(respondent_type)  # type: ignore[arg-type]


def unit_figures(
    service_code: str | None,
    respondent_type: str,
    tally: UnitTally,
    scheme: Scheme | None,
    *,
    benchmark: bool = False,
) -> Tree:
    """UnitFigures of one unit (or roll-up); the benchmark's are neither published nor checked."""
    tables = frequency_tables(tally)
    return {
        "service_code": service_code,
        "respondent_type": respondent_type,
        "invited": tally.invited,
        "net_sample": tally.net_sample,
        "completed": tally.usable,
        "partial": tally.partial,
        "response_rate": response_rate(tally.usable, tally.net_sample),
        "response_rate_ci95": wilson_interval(tally.usable, tally.net_sample),
        "grade": grade_figures(
            tally.grade_summary(failing_below(scheme)),
            DEFAULT_FAILING_VALUE if scheme is None else scheme.norms.corrected_mean_failing_value,
        ),
        "promoter": promoter_figures(tally),
        "satisfaction": satisfaction_shares(tables),
        "questions": tables,
        "dispositions": disposition_figures(tally, scheme),
        "published": None if benchmark else is_published(scheme, respondent_type, tally),
        "disclosable": True if benchmark else is_disclosable(scheme, respondent_type, tally),
    }


def scale_summary(question_type: str, counts: Mapping[str, int]) -> GradeSummary:
    """An aspect's answers as numbers for means and tests: grades as given, satisfaction
    zeer ontevreden 1 … zeer tevreden 4 (geen mening left out)."""
    values: dict[Decimal, int] = {}
    for answer, count in counts.items():
        if question_type == "satisfaction5":
            score = SATISFACTION_SCORES.get(answer)
            number = None if score is None else Decimal(score)
        else:
            try:
                number = Decimal(answer)
            except ArithmeticError:
                number = None
        if number is not None and number.is_finite():
            values[number] = values.get(number, 0) + count
    return GradeSummary.of_counts(values)


def _by_type(units: Mapping[UnitKey, UnitTally]) -> dict[str, UnitTally]:
    result: dict[str, UnitTally] = {}
    for key in sorted(units):
        result.setdefault(key.respondent_type, UnitTally()).add(units[key])
    return result


def _with_service(figures: Tree, service_code: str | None) -> Tree:
    return {**figures, "service_code": service_code}


class StudyFigures:
    """The figures of one study's providers beside its benchmark (one batch's worth).

    Built once per study and batch: the benchmark's figures are computed once and shared by
    every provider snapshot of the batch. With ``versions`` (each unit's kept version) and a
    ``memo``, a unit whose version was seen before is not computed again.
    """

    def __init__(
        self,
        study_id: str,
        scheme: Scheme | None,
        benchmark: Mapping[UnitKey, UnitTally],
        *,
        versions: Mapping[UnitKey, object] | None = None,
        memo: FiguresMemo | None = None,
    ) -> None:
        self.study_id = study_id
        self.scheme = scheme
        self.benchmark = {
            k: v for k, v in benchmark.items() if k.provider_id == ALL_PROVIDERS and k.study_id == study_id
        }
        self.benchmark_by_type = _by_type(self.benchmark)
        self._versions = versions or {}
        self._memo: FiguresMemo = {} if memo is None else memo
        self._benchmark_figures: dict[tuple[str | None, str], Tree] = {}
        self._benchmark_aspects: dict[str, dict[str, tuple[str, GradeSummary]]] = {}

    def snapshot(
        self, provider_id: str, units: Mapping[UnitKey, UnitTally], as_of: datetime
    ) -> ScoresUpdatedPayload:
        """One provider's snapshot (``units``: its units; others are ignored), validated."""
        return ScoresUpdatedPayload.model_validate(self.snapshot_tree(provider_id, units, as_of))

    def snapshot_tree(self, provider_id: str, units: Mapping[UnitKey, UnitTally], as_of: datetime) -> Tree:
        """One provider's snapshot as the tree of a :class:`ScoresUpdatedPayload`, not validated:
        the service serialises it as it is (``snapshot_json``); tests check it validates to the
        same payload."""
        scheme = self.scheme
        own = {
            k: v
            for k, v in units.items()
            if k.provider_id == provider_id and k.study_id == self.study_id and not v.is_zero()
        }
        by_type = _by_type(own)
        headline = headline_type(scheme)
        top = by_type.get(headline, UnitTally()) if headline is not None else total(by_type.values())
        grades = top.grade_summary()
        figures = {k: self._unit(k, own[k]) for k in sorted(own)}
        totals = []
        for respondent_type, tally in by_type.items():
            same = [f for k, f in figures.items() if k.respondent_type == respondent_type]
            single = len(same) == 1
            totals.append(
                _with_service(same[0], None) if single else unit_figures(None, respondent_type, tally, scheme)
            )
        benchmark_keys = sorted({(k.service_code, k.respondent_type) for k in own})
        return {
            "study_id": self.study_id,
            "provider_id": provider_id,
            "net_sample": top.net_sample,
            "completed": top.usable,
            "response_rate": response_rate(top.usable, top.net_sample),
            "mean_grade": mean(grades),
            "grade_sum": float(grades.total),
            "as_of": as_of,
            "scheme_id": None if scheme is None else scheme.scheme_id,
            "headline": headline,
            "units": list(figures.values()),
            "totals": totals,
            "benchmark": [self._benchmark_unit(s, t) for s, t in benchmark_keys]
            + [self._benchmark_unit(None, t) for t in by_type],
            "norms": self.norms(own),
            "relatively_well": self.relatively_well(by_type),
            "group_comparisons": [],
        }

    def _unit(self, key: UnitKey, tally: UnitTally) -> Tree:
        version = self._versions.get(key)
        if version is None:
            return unit_figures(key.service_code, key.respondent_type, tally, self.scheme)
        memo_key = (key, version, None if self.scheme is None else self.scheme.scheme_id)
        found = self._memo.get(memo_key)
        if found is None:
            found = self._memo[memo_key] = unit_figures(
                key.service_code, key.respondent_type, tally, self.scheme
            )
        return found

    def _benchmark_unit(self, service_code: str | None, respondent_type: str) -> Tree:
        key = (service_code, respondent_type)
        if key not in self._benchmark_figures:
            same_type = [k for k in self.benchmark if k.respondent_type == respondent_type]
            if service_code is None and len(same_type) == 1:
                single = self._benchmark_unit(same_type[0].service_code, respondent_type)
                self._benchmark_figures[key] = _with_service(single, None)
                return self._benchmark_figures[key]
            if service_code is None:
                tally = self.benchmark_by_type.get(respondent_type, UnitTally())
            else:
                unit = UnitKey(self.study_id, ALL_PROVIDERS, service_code, respondent_type)
                tally = self.benchmark.get(unit, UnitTally())
            self._benchmark_figures[key] = unit_figures(
                service_code, respondent_type, tally, self.scheme, benchmark=True
            )
        return self._benchmark_figures[key]

    def norms(self, own: Mapping[UnitKey, UnitTally]) -> list[Tree]:
        """NormFigures: the scheme's norms for this provider, per unit (BoW, UWV) and per
        respondent type (jobcoach)."""
        scheme = self.scheme
        if scheme is None:
            return []
        norms, below = scheme.norms, failing_below(scheme)
        outcomes: list[Tree] = []
        if norms.total_mean_min is not None or norms.per_unit_mean_min is not None:
            types = norms.applies_to or scheme.respondent_types
            per_service: dict[str, UnitTally] = {}
            for key in sorted(own):
                if key.respondent_type in types:
                    per_service.setdefault(key.service_code, UnitTally()).add(own[key])
            summaries = {code: t.grade_summary(below) for code, t in per_service.items()}
            outcome = evaluate_unit_norm(norms, sum(summaries.values(), GradeSummary()), summaries)
            exempt = tuple(code for code, t in per_service.items() if exemption_possible(norms, t.invited))
            verdict = outcome.verdict
            if verdict == "missed" and outcome.failing_units and set(outcome.failing_units) <= set(exempt):
                verdict = "exemption_possible"
            outcomes.append(
                {
                    "rule": "per_unit",
                    "respondent_types": types,
                    "verdict": verdict,
                    "reason": outcome.reason,
                    "used_corrected_mean": outcome.used_corrected_mean,
                    "failing_units": outcome.failing_units,
                    "exemption_possible_for": exempt,
                }
            )
        if norms.per_respondent_type_mean_min:
            by_type = {t: tally.grade_summary(below) for t, tally in _by_type(own).items()}
            outcome = evaluate_respondent_type_norm(norms, by_type)
            outcomes.append(
                {
                    "rule": "per_respondent_type",
                    "respondent_types": tuple(sorted(norms.per_respondent_type_mean_min)),
                    "verdict": outcome.verdict,
                    "reason": outcome.reason,
                }
            )
        return outcomes

    def relatively_well(self, by_type: Mapping[str, UnitTally]) -> list[Tree]:
        """AspectComparison per aspect (satisfaction5 and grade questions) on which the provider
        is significantly above the other providers ('scoort relatief goed op': Welch, two-sided
        5%), each side with at least the scheme's minimum number of answers. Strongest first."""
        min_n = (
            DEFAULT_MIN_N_FOR_SIGNIFICANCE
            if self.scheme is None
            else self.scheme.disclosure.min_n_for_significance_test
        )
        found: list[Tree] = []
        for respondent_type, tally in by_type.items():
            aspects = self._aspects(respondent_type)
            for question_id, (kind, benchmark) in aspects.items():
                counts = tally.answers_of(question_id)
                if sum(counts.values()) < min_n:
                    continue
                own = scale_summary(kind, counts)
                comparison = compare_with_benchmark(own, benchmark, min_n=min_n)
                if is_clearly_above(comparison):
                    others = benchmark - own
                    found.append(
                        {
                            "respondent_type": respondent_type,
                            "question_id": question_id,
                            "question_type": kind,
                            "n": own.n,
                            "mean": float(own.total / own.n),
                            "others_mean": float(others.total / others.n),
                            "difference": comparison.difference,
                            "p_value": comparison.p_value,
                        }
                    )
        return sorted(found, key=lambda a: (a["p_value"], a["respondent_type"], a["question_id"]))

    def _aspects(self, respondent_type: str) -> dict[str, tuple[str, GradeSummary]]:
        if respondent_type not in self._benchmark_aspects:
            tally = self.benchmark_by_type.get(respondent_type, UnitTally())
            self._benchmark_aspects[respondent_type] = {
                q: (kind, scale_summary(kind, tally.answers_of(q)))
                for q in sorted(tally.answers)
                if (kind := tally.question_types.get(q, "")) in ASPECT_TYPES
            }
        return self._benchmark_aspects[respondent_type]


def providers_in(units: Iterable[UnitKey]) -> list[ProviderKey]:
    """The providers (not the benchmark) among some units, sorted."""
    return sorted({k.provider for k in units if k.provider_id != ALL_PROVIDERS})


# --- recompute: what differs --------------------------------------------------------------


def tally_differences(
    expected: Mapping[UnitKey, UnitTally], actual: Mapping[UnitKey, UnitTally]
) -> list[str]:
    """Every unit whose kept aggregate differs from the recomputed one, in words."""
    lines = []
    for key in sorted(set(expected) | set(actual)):
        want, got = expected.get(key, UnitTally()), actual.get(key, UnitTally())
        if want != got:
            who = key.provider_id or "(benchmark)"
            lines.append(
                f"{who} / {key.service_code} / {key.respondent_type}: recomputed {want!r}, kept {got!r}"
            )
    return lines


def figure_differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Paths where two JSON-like figure trees differ (floats to 1e-9 relative)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        lines = []
        for key in sorted(set(expected) | set(actual), key=str):
            lines += figure_differences(
                expected.get(key), actual.get(key), f"{path}.{key}" if path else str(key)
            )
        return lines
    if (
        isinstance(expected, list | tuple)
        and isinstance(actual, list | tuple)
        and len(expected) == len(actual)
    ):
        lines = []
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            lines += figure_differences(e, a, f"{path}[{i}]")
        return lines
    if isinstance(expected, float) and isinstance(actual, float):
        same = math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-12)
    else:
        same = expected == actual
    return [] if same else [f"{path}: recomputed {expected!r}, kept {actual!r}"]


def snapshot_tree(payload: ScoresUpdatedPayload) -> dict[str, Any]:
    """A snapshot as JSON-like data without its moment, for comparing figures."""
    tree: dict[str, Any] = payload.model_dump(mode="json", exclude={"as_of"})
    return tree


def units_by_provider(units: Mapping[UnitKey, UnitTally]) -> dict[ProviderKey, dict[UnitKey, UnitTally]]:
    grouped: dict[ProviderKey, dict[UnitKey, UnitTally]] = {}
    for key, tally in units.items():
        grouped.setdefault(key.provider, {})[key] = tally
    return grouped


def study_snapshots(
    study_id: str,
    scheme: Scheme | None,
    units: Mapping[UnitKey, UnitTally],
    as_of: datetime,
    providers: Iterable[ProviderKey] | None = None,
) -> dict[ProviderKey, ScoresUpdatedPayload]:
    """Each provider's snapshot in a study (default: every provider with a unit), all at ``as_of``."""
    figures = StudyFigures(study_id, scheme, units)
    grouped = units_by_provider(units)
    wanted = providers_in(units) if providers is None else sorted(providers)
    return {p: figures.snapshot(p.provider_id, grouped.get(p, {}), as_of) for p in wanted}


class ResponseLedger:
    """The responses that count, from a stream of submissions and withdrawals in any order,
    with the service's rules: one final response per invitation (the first kept), a
    withdrawal takes its response out, and one that comes first blocks the response."""

    def __init__(self) -> None:
        self.kept: dict[Any, tuple[Any, KeptResponse]] = {}  # invitation id → (response id, response)
        self.response_ids: set[Any] = set()
        self.tombstones: set[Any] = set()  # invitations whose response was withdrawn

    def submit(self, response_id: Any, invitation_id: Any, response: KeptResponse) -> bool:
        """Keep a submitted response; False when it does not count (seen, second, withdrawn)."""
        if response_id in self.response_ids or invitation_id in self.kept or invitation_id in self.tombstones:
            return False
        self.response_ids.add(response_id)
        self.kept[invitation_id] = (response_id, response)
        return True

    def withdraw(self, response_id: Any, invitation_id: Any) -> KeptResponse | None:
        """Take a response out; returns it when it was counted."""
        if invitation_id in self.tombstones:
            return None
        found = self.kept.get(invitation_id)
        if found is None:
            self.tombstones.add(invitation_id)
            self.response_ids.add(response_id)
            return None
        if found[0] != response_id:
            return None  # not the response kept for this invitation: it never counted
        del self.kept[invitation_id]
        self.tombstones.add(invitation_id)
        return found[1]

    def responses(self) -> list[KeptResponse]:
        return [response for _, response in self.kept.values()]


# --- UWV jobcoach: grades per jobcoach period -------------------------------------------------

# The two sides of a jobcoach period (seed 001): the werknemer's form and the werkgever's.
PERIOD_SIDES: tuple[RespondentType, ...] = ("werknemer", "werkgever")


def pairs_periods(scheme: Scheme | None) -> bool:
    """Whether a scheme's snapshots show the grades per jobcoach period (werknemer and werkgever)."""
    return scheme is not None and set(PERIOD_SIDES) <= set(scheme.respondent_types)


def kept_grade(response: KeptResponse) -> Decimal | None:
    """A kept response's rapportcijfer, as the scoring service keeps it with the response."""
    questionnaire = find_questionnaire(response.questionnaire_id, response.questionnaire_version)
    question = "grade" if questionnaire is None else questionnaire.grade_question
    return None if question is None else grade_value(response.answers.get(question))


@dataclass(frozen=True)
class PeriodFact:
    """One counted (usable, not withdrawn) questionnaire of a jobcoach period: whose side it is,
    its rapportcijfer (None when not given) and when it was submitted."""

    period: str  # the pseudonymous key of the jobcoach period (invitations.issued)
    respondent_type: str
    grade: Decimal | None
    submitted_at: datetime


def pair_periods(facts: Iterable[PeriodFact]) -> list[Tree]:
    """The grades per jobcoach period (cijfers per jobcoachperiode), werknemer and werkgever side
    by side: one row (``PeriodGrades`` as a tree) per period with at least one grade.

    Only the werknemer and werkgever sides count; a side with several questionnaires (a period
    delivered twice) keeps the earliest submitted one. Rows are ordered by the period's earliest
    submission, then by key, so the same facts give the same rows in any order.
    """
    first: dict[tuple[str, str], PeriodFact] = {}
    for fact in facts:
        if fact.respondent_type not in PERIOD_SIDES:
            continue
        side = (fact.period, fact.respondent_type)
        known = first.get(side)
        if known is None or _submission_order(fact) < _submission_order(known):
            first[side] = fact
    rows: dict[str, Tree] = {}
    started: dict[str, datetime] = {}
    for (period, respondent_type), fact in first.items():
        if fact.grade is None:
            continue
        row = rows.setdefault(period, {"period": period, "werknemer": None, "werkgever": None})
        row[respondent_type] = float(fact.grade)
        started[period] = min(started.get(period, fact.submitted_at), fact.submitted_at)
    return [rows[p] for p in sorted(rows, key=lambda p: (started[p], p))]


def period_facts_of(
    responses: Mapping[Any, KeptResponse], periods: Mapping[Any, str], submitted_at: Mapping[Any, datetime]
) -> dict[str, list[PeriodFact]]:
    """Per provider the period facts of the counted responses (by invitation) that belong to a
    jobcoach period: what a recompute pairs, from the facts alone."""
    found: dict[str, list[PeriodFact]] = {}
    for invitation_id, response in responses.items():
        period, moment = periods.get(invitation_id), submitted_at.get(invitation_id)
        if period is None or moment is None or not response.usable:
            continue
        fact = PeriodFact(period, response.key.respondent_type, kept_grade(response), moment)
        found.setdefault(response.key.provider_id, []).append(fact)
    return found


def _submission_order(fact: PeriodFact) -> tuple[datetime, bool, Decimal]:
    # Ties in submission time (rare) are broken by the grade itself, so the order of the facts
    # never decides.
    return (fact.submitted_at, fact.grade is None, fact.grade if fact.grade is not None else ZERO)


# --- where the clients come from: invitations per province ------------------------------------


@dataclass(frozen=True)
class ProvinceKey:
    """One count of invitations per province: a provider's respondent type in one province."""

    study_id: str
    provider_id: str
    respondent_type: str
    province: str


def count_provinces(keys: Iterable[ProvinceKey]) -> dict[ProvinceKey, int]:
    """How many invitations each key has (one key per invitation): a batch's contribution to the
    counts, or the counts recomputed from every kept invitation."""
    counts: dict[ProvinceKey, int] = {}
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    return counts


def province_counts(
    counts: Mapping[ProvinceKey, int], headline: RespondentType | None
) -> dict[str, list[Tree]]:
    """Per provider the headline group's invitations per province (``ProvinceCount`` trees: the
    summary page's "Cliënten afkomstig uit de volgende provincie(s)"), most first, then by
    name. ``headline`` None (no clients in the scheme): every respondent type counts."""
    summed: dict[str, dict[str, int]] = {}
    for key, invited in counts.items():
        if headline is not None and key.respondent_type != headline:
            continue
        per_province = summed.setdefault(key.provider_id, {})
        per_province[key.province] = per_province.get(key.province, 0) + invited
    return {
        provider_id: [
            {"province": province, "invited": invited}
            for province, invited in sorted(per_province.items(), key=lambda item: (-item[1], item[0]))
            if invited > 0
        ]
        for provider_id, per_province in summed.items()
    }
