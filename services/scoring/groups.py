"""Staff survey (medewerkersonderzoek, seed 003): results per group and comparisons between groups.

Pure: no I/O. Groups come from a background question (organisation type, age, education,
…). Each question gets the test that suits its type: the means of a scale (grades, Likert
statements, satisfaction and rating scales, numbers, shares of time, ranks) with Welch's
t-test for two groups and Welch's ANOVA for more; the answers of a categorical question
with Pearson's chi-square test (a multiple choice: each option chosen or not). Groups
below the scheme's minimum for a test are left out of it (and no test at all when fewer than
two remain); groups below the minimum to show have no figures. Only differences with
p < alpha are flagged significant: the report names those and no others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from services.scoring.figures import (
    NOT_TESTED,
    GradeSummary,
    GroupTest,
    chi_square_test,
    percentages,
    welch_anova,
)
from shared.events import AnswerValue
from shared.questionnaires import (
    LikertMatrixQuestion,
    PercentageAllocationQuestion,
    Question,
    Questionnaire,
    RankingQuestion,
)
from shared.schemes import Scheme

# Scores of the closed scales, low to high (geen mening: no score).
SCALE_SCORES: Mapping[str, Mapping[str, int]] = {
    "satisfaction5": {"zeer_ontevreden": 1, "ontevreden": 2, "tevreden": 3, "zeer_tevreden": 4},
    "rating4": {"onvoldoende": 1, "matig": 2, "voldoende": 3, "goed": 4},
    "yes_partly_no": {"nee": 1, "niet_helemaal": 2, "ja": 3},
}
NUMERIC_TYPES = frozenset({"grade", "likelihood0_10", "numeric", "likert_matrix", "percentage_allocation"})

LikertReading = Literal["clearly_positive", "hesitantly_positive", "not_positive"]


def likert_reading(mean: float) -> LikertReading:
    """Seed 003, footnote 4: on 1–5, 3.8 or more is clearly positive (uitgesproken positief),
    above 3 hesitantly positive (aarzelend positief)."""
    if mean >= 3.8:
        return "clearly_positive"
    return "hesitantly_positive" if mean > 3 else "not_positive"


@dataclass(frozen=True)
class GroupResult:
    """One group's result on one question; no figures below the minimum to show."""

    group: str
    n: int
    shown: bool
    mean: float | None = None  # scale questions
    reading: LikertReading | None = None  # Likert statements
    percentages: Mapping[str, float] | None = None  # categorical questions


@dataclass(frozen=True)
class QuestionComparison:
    """One question (or statement, or option) compared between the groups."""

    question_id: str  # "question" or "question.item"
    question_type: str
    option: str | None  # a multiple choice's option (chosen or not)
    groups: tuple[GroupResult, ...]
    test: GroupTest
    significant: bool


@dataclass(frozen=True)
class GroupAnalysis:
    by: str  # the background question that defines the groups
    groups: tuple[str, ...]
    comparisons: tuple[QuestionComparison, ...]

    def significant(self) -> tuple[QuestionComparison, ...]:
        """Only the significant differences: what the report names."""
        return tuple(c for c in self.comparisons if c.significant)


def compare_groups(
    questionnaire: Questionnaire,
    responses: Iterable[Mapping[str, AnswerValue]],
    by: str,
    *,
    min_n_to_show: int,
    min_n_for_test: int,
    alpha: float = 0.05,
) -> GroupAnalysis:
    """Every question of ``questionnaire`` compared between the groups formed by the answer to
    ``by`` (responses without that answer are left out)."""
    grouped: dict[str, list[Mapping[str, AnswerValue]]] = {}
    for answers in responses:
        group = answers.get(by)
        if group is not None and not isinstance(group, list):
            grouped.setdefault(str(group), []).append(answers)
    groups = dict(sorted(grouped.items()))
    rules = _Rules(min_n_to_show, min_n_for_test, alpha)
    comparisons: list[QuestionComparison] = []
    for question in questionnaire.questions:
        if question.id == by or question.type == "free_text":
            continue
        comparisons += _compare_question(question, groups, rules)
    return GroupAnalysis(by, tuple(groups), tuple(comparisons))


@dataclass(frozen=True)
class _Rules:
    min_n_to_show: int
    min_n_for_test: int
    alpha: float


def _compare_question(
    question: Question, groups: Mapping[str, Sequence[Mapping[str, AnswerValue]]], rules: _Rules
) -> list[QuestionComparison]:
    kind = question.type
    if isinstance(question, LikertMatrixQuestion | PercentageAllocationQuestion):
        return [
            _compare_scale(key, kind, {g: [a.get(key) for a in rs] for g, rs in groups.items()}, rules)
            for key in question.answer_keys()
        ]
    if isinstance(question, RankingQuestion):
        return [
            _compare_scale(
                f"{question.id}.{item}",
                kind,
                {g: [_place(a.get(question.id), item) for a in rs] for g, rs in groups.items()},
                rules,
            )
            for item in question.item_values()
        ]
    values = {g: [a.get(question.id) for a in rs] for g, rs in groups.items()}
    if kind in NUMERIC_TYPES or kind in SCALE_SCORES:
        return [_compare_scale(question.id, kind, values, rules)]
    options = [o.value for o in question.choices()]
    if kind == "multiple_choice":
        return [_compare_option(question.id, option, values, rules) for option in options]
    return [_compare_categories(question.id, kind, options, values, rules)]


def _place(answer: AnswerValue, item: str) -> AnswerValue:
    """The place (1 = first) a ranking gave ``item``; None when unranked or unanswered."""
    if isinstance(answer, list) and item in answer:
        return answer.index(item) + 1
    return None


def _number(kind: str, value: AnswerValue) -> Decimal | None:
    if value is None or isinstance(value, list | bool):
        return None
    scores = SCALE_SCORES.get(kind)
    if scores is not None:
        score = scores.get(str(value))
        return None if score is None else Decimal(score)
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _compare_scale(
    key: str, kind: str, values: Mapping[str, Sequence[AnswerValue]], rules: _Rules
) -> QuestionComparison:
    summaries: dict[str, GradeSummary] = {}
    for group, answers in values.items():
        counts: dict[Decimal, int] = {}
        for value in answers:
            number = _number(kind, value)
            if number is not None:
                counts[number] = counts.get(number, 0) + 1
        summaries[group] = GradeSummary.of_counts(counts)
    results = []
    for group, s in summaries.items():
        shown = s.n >= rules.min_n_to_show and s.n > 0
        mean = float(s.total / s.n) if shown else None
        reading = likert_reading(mean) if shown and mean is not None and kind == "likert_matrix" else None
        results.append(GroupResult(group, s.n, shown, mean, reading))
    eligible = [s for s in summaries.values() if s.n >= rules.min_n_for_test]
    test = _too_small(rules) if len(eligible) < 2 else welch_anova(eligible)
    return QuestionComparison(key, kind, None, tuple(results), test, _significant(test, rules))


def _compare_categories(
    key: str, kind: str, options: Sequence[str], values: Mapping[str, Sequence[AnswerValue]], rules: _Rules
) -> QuestionComparison:
    counts = {g: [sum(1 for v in vs if v == option) for option in options] for g, vs in values.items()}
    results = []
    for group, row in counts.items():
        n = sum(row)
        shown = n >= rules.min_n_to_show and n > 0
        shares = (
            {k: float(v) for k, v in percentages(dict(zip(options, row, strict=True)), options).items()}
            if shown
            else None
        )
        results.append(GroupResult(group, n, shown, percentages=shares))
    table = [row for row in counts.values() if sum(row) >= rules.min_n_for_test]
    test = _too_small(rules) if len(table) < 2 else chi_square_test(table)
    return QuestionComparison(key, kind, None, tuple(results), test, _significant(test, rules))


def _compare_option(
    key: str, option: str, values: Mapping[str, Sequence[AnswerValue]], rules: _Rules
) -> QuestionComparison:
    """A multiple choice's option: the share of each group's respondents who chose it."""
    table: dict[str, list[int]] = {}
    for group, answers in values.items():
        answered = [a for a in answers if isinstance(a, list)]
        chosen = sum(1 for a in answered if option in a)
        table[group] = [chosen, len(answered) - chosen]
    results = []
    for group, (chosen, not_chosen) in table.items():
        n = chosen + not_chosen
        shown = n >= rules.min_n_to_show and n > 0
        share = {option: float(percentages({"yes": chosen, "no": not_chosen}, ["yes", "no"])["yes"])}
        results.append(GroupResult(group, n, shown, percentages=share if shown else None))
    eligible = [row for row in table.values() if sum(row) >= rules.min_n_for_test]
    test = _too_small(rules) if len(eligible) < 2 else chi_square_test(eligible)
    return QuestionComparison(key, "multiple_choice", option, tuple(results), test, _significant(test, rules))


def _too_small(rules: _Rules) -> GroupTest:
    return GroupTest(
        NOT_TESTED.test,
        0.0,
        (),
        1.0,
        False,
        f"fewer than two groups with {rules.min_n_for_test} or more answers",
    )


def _significant(test: GroupTest, rules: _Rules) -> bool:
    return test.tested and test.p_value < rules.alpha


def group_figures(analysis: GroupAnalysis) -> dict[str, object]:
    """A GroupAnalysis as ``GroupAnalysisFigures`` (the snapshot's staff-survey part): the
    significant differences only, each group's figure (none for groups below the minimum)."""
    significant = []
    for c in analysis.significant():
        values = []
        for g in c.groups:
            share = None
            if g.shown and g.percentages:
                share = g.percentages.get(c.option) if c.option else max(g.percentages.values())
            values.append({"group": g.group, "n": g.n, "mean": g.mean if g.shown else None, "share": share})
        significant.append(
            {
                "question_id": c.question_id,
                "option": c.option,
                "test": c.test.test,
                "p_value": c.test.p_value,
                "groups": values,
            }
        )
    tested = sum(1 for c in analysis.comparisons if c.test.tested)
    return {"by": analysis.by, "groups": analysis.groups, "tested": tested, "significant": significant}


def scheme_group_comparisons(
    scheme: Scheme, questionnaire: Questionnaire, responses: Sequence[Mapping[str, AnswerValue]]
) -> list[dict[str, object]]:
    """The snapshot's ``group_comparisons``: every background question of the scheme's
    ``group_by`` compared, with the scheme's minimums to show and to test."""
    return [
        group_figures(
            compare_groups(
                questionnaire,
                responses,
                by,
                min_n_to_show=scheme.disclosure.min_n_to_show,
                min_n_for_test=scheme.disclosure.min_n_for_significance_test,
            )
        )
        for by in scheme.group_by
    ]
