"""Staff survey (seed 003): results per group and comparisons with a test suited to each question."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import pytest

from services.scoring.groups import (
    GroupAnalysis,
    QuestionComparison,
    compare_groups,
    likert_reading,
    scheme_group_comparisons,
)
from services.scoring.service import snapshot_message
from shared.events import AnswerValue, ScoresUpdatedPayload, parse_event
from shared.questionnaires import load_questionnaire
from shared.schemes import load_scheme

STAFF = load_questionnaire("staff-survey")
DISCLOSURE = load_scheme("staff-survey").disclosure  # show from 5, test from 20 per group
GOALS = [
    "wet_regelgeving",
    "onafhankelijk_uitkering",
    "nodige_dienstverlening",
    "duurzame_participatie",
    "plaatsen",
]


def employee(organisation: str, rnd: random.Random, *, leaning: int = 0) -> dict[str, AnswerValue]:
    """One employee's answers; ``leaning`` shifts the statements, grades and choices of a group."""
    goals = list(GOALS)
    rnd.shuffle(goals)
    if leaning:
        goals.remove("plaatsen")
        goals.insert(0, "plaatsen")
    return {
        "organisation": organisation,
        "age_group": rnd.choice(["jonger_dan_35", "35_49", "50_plus"]),
        "education": "hbo_pa" if leaning and rnd.random() < 0.7 else rnd.choice(["hbo_smw", "mbo", "wo"]),
        "grade_organisation": min(10, rnd.choice([6, 7, 7, 8]) + leaning),
        "current_statements.maatwerk": min(5, rnd.choice([2, 3, 3, 4]) + leaning),
        "current_statements.overleg_collegas": rnd.choice([3, 4, 4, 5]),
        "goals_ranking": goals,
        "boosters": ["meer_klantcontact", "werkgevers"] if leaning else ["meer_klantcontact", "intervisie"],
        "remarks": "Mijn leidinggevende Kees luistert niet.",
    }


def staff(sd: int, sw: int, *, seed: int = 3) -> list[dict[str, AnswerValue]]:
    rnd = random.Random(seed)
    return [employee("sociale_dienst", rnd) for _ in range(sd)] + [
        employee("sw_organisatie", rnd, leaning=1) for _ in range(sw)
    ]


def analyse(responses: list[dict[str, AnswerValue]], by: str = "organisation") -> GroupAnalysis:
    return compare_groups(
        STAFF,
        responses,
        by,
        min_n_to_show=DISCLOSURE.min_n_to_show,
        min_n_for_test=DISCLOSURE.min_n_for_significance_test,
    )


def comparison(analysis: GroupAnalysis, question_id: str, option: str | None = None) -> QuestionComparison:
    [found] = [c for c in analysis.comparisons if c.question_id == question_id and c.option == option]
    return found


def test_groups_come_from_the_background_question() -> None:
    assert analyse(staff(185, 31)).groups == ("sociale_dienst", "sw_organisatie")


def test_likert_statement_means_of_two_groups_are_compared_with_welchs_t_test() -> None:
    maatwerk = comparison(analyse(staff(185, 31)), "current_statements.maatwerk")

    assert (maatwerk.question_type, maatwerk.test.test) == ("likert_matrix", "welch_t")
    assert maatwerk.significant


def test_three_groups_are_compared_with_welchs_anova() -> None:
    responses = staff(60, 0) + staff(0, 40, seed=4)
    for n, r in enumerate(responses):
        r["organisation"] = ("a", "b", "c")[n % 3] if r["organisation"] == "sociale_dienst" else "sw"
    grade = comparison(analyse(responses), "grade_organisation")

    assert grade.test.test == "welch_anova" and len(grade.test.degrees_of_freedom) == 2


def test_a_single_choice_is_compared_with_chi_square() -> None:
    education = comparison(analyse(staff(185, 31)), "education")

    assert (education.test.test, education.significant) == ("chi_square", True)


def test_a_multiple_choice_compares_each_option_as_chosen_or_not() -> None:
    analysis = analyse(staff(185, 31))

    assert comparison(analysis, "boosters", "werkgevers").significant
    assert not comparison(analysis, "boosters", "meer_klantcontact").test.tested  # everyone chose it


def test_a_ranking_compares_the_mean_place_of_each_item() -> None:
    plaatsen = comparison(analyse(staff(185, 31)), "goals_ranking.plaatsen")

    assert plaatsen.question_type == "ranking" and plaatsen.significant
    sw = next(g for g in plaatsen.groups if g.group == "sw_organisatie")
    assert sw.mean == 1.0


def test_only_significant_differences_are_flagged() -> None:
    analysis = analyse(staff(185, 31))

    assert not comparison(analysis, "age_group").significant
    assert all(c.test.p_value < 0.05 for c in analysis.significant())
    assert "age_group" not in {c.question_id for c in analysis.significant()}


def test_no_test_where_a_group_is_below_the_schemes_minimum() -> None:
    maatwerk = comparison(analyse(staff(185, 19)), "current_statements.maatwerk")

    assert not maatwerk.test.tested and not maatwerk.significant
    assert "20" in maatwerk.test.reason


def test_a_group_below_the_minimum_to_show_has_no_figures() -> None:
    maatwerk = comparison(analyse(staff(40, 4)), "current_statements.maatwerk")

    sw = next(g for g in maatwerk.groups if g.group == "sw_organisatie")
    assert (sw.n, sw.shown, sw.mean) == (4, False, None)


def test_a_shown_likert_mean_carries_its_reading() -> None:
    maatwerk = comparison(analyse(staff(185, 31)), "current_statements.maatwerk")

    assert all(g.reading is not None for g in maatwerk.groups)


def test_free_text_is_never_compared() -> None:
    assert "remarks" not in {c.question_id for c in analyse(staff(185, 31)).comparisons}


@pytest.mark.parametrize(
    ("mean", "reading"),
    [
        (4.2, "clearly_positive"),
        (3.8, "clearly_positive"),
        (3.5, "hesitantly_positive"),
        (3.0, "not_positive"),
    ],
)
def test_likert_means_read_as_seed_003_footnote_4(mean: float, reading: str) -> None:
    assert likert_reading(mean) == reading


def test_published_group_comparisons_read_as_the_model_makes_them() -> None:
    scheme = load_scheme("staff-survey")
    analyses = scheme_group_comparisons(scheme, STAFF, staff(30, 30))
    tree = {
        "study_id": "mto-2026",
        "provider_id": "gemeente",
        "net_sample": 60,
        "completed": 60,
        "response_rate": 1.0,
        "mean_grade": None,
        "grade_sum": 0.0,
        "as_of": datetime(2026, 3, 1, tzinfo=UTC),
        "group_comparisons": analyses,
    }

    event = parse_event(snapshot_message(tree, uuid.uuid4()).body)

    assert event.payload == ScoresUpdatedPayload.model_validate(tree)
    assert event.payload.group_comparisons[0].significant
