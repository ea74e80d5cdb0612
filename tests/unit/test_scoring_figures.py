"""Figures from invertible summaries, checked against the seeds' worked numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from services.scoring.figures import (
    Dispositions,
    GradeSummary,
    aapor_rates,
    chi_square_test,
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
    round_half_up,
    std_dev,
    t_quantile,
    t_two_sided_p,
    welch_anova,
)
from shared.schemes import load_scheme


def grades(*values: float) -> GradeSummary:
    return GradeSummary.of_all(Decimal(str(v)) for v in values)


def test_seed_000_response_is_8_of_43() -> None:
    assert round(100 * response_rate(8, 43), 1) == 18.6  # type: ignore[operator]


def test_seed_000_satisfaction_shares_round_half_up_to_38_50_13() -> None:
    shares = percentages({"zeer_tevreden": 3, "tevreden": 4, "zeer_ontevreden": 1},
                         ["zeer_tevreden", "tevreden", "ontevreden", "zeer_ontevreden"])  # fmt: skip
    assert [int(v) for v in shares.values()] == [38, 50, 0, 13]


def test_seed_000_promoter_score_is_37_5() -> None:
    assert promoter_score({"promoter": 4, "passive": 3, "detractor": 1}) == 37.5


def test_seed_001_werknemer_and_werkgever_means_are_7_2_and_7_1() -> None:
    assert mean(grades(7, 7.5, 5.5, 8, 8)) == pytest.approx(7.2)
    assert mean(grades(7.5, 7, 7, 8, 6)) == pytest.approx(7.1)


def test_decimal_grades_keep_their_exact_value_in_the_mean_and_round_in_the_distribution() -> None:
    s = grades(7.4, 7.6)
    assert mean(s) == pytest.approx(7.5)
    assert grade_distribution(s)[7] == 1 and grade_distribution(s)[8] == 1


def test_the_corrected_mean_counts_every_failing_grade_as_five() -> None:
    assert corrected_mean(grades(1, 8, 9)) == pytest.approx((5 + 8 + 9) / 3)
    assert corrected_mean(grades(5.4, 5.5)) == pytest.approx((5 + 5.5) / 2)


def test_no_grades_give_no_figures() -> None:
    empty = GradeSummary()
    assert (mean(empty), corrected_mean(empty), std_dev(empty), confidence_interval_95(empty)) == (None,) * 4
    assert response_rate(0, 0) is None
    assert promoter_score({}) is None


def test_one_respondent_has_a_mean_but_no_spread() -> None:
    assert mean(grades(6)) == 6.0
    assert std_dev(grades(6)) is None


def test_the_95_percent_interval_uses_the_t_distribution() -> None:
    low, high = confidence_interval_95(grades(6, 7, 8, 9))  # type: ignore[misc]
    assert (low, high) == pytest.approx((5.4457, 9.5543), abs=1e-3)


def test_aapor_response_and_cooperation_rates() -> None:
    rates = aapor_rates(
        Dispositions(complete=40, partial=10, refusal=20, non_contact=20, other=5, unknown_other=5)
    )
    assert (rates.rr1, rates.rr2, rates.coop1) == pytest.approx((0.4, 0.5, 40 / 75))


def test_a_provider_clearly_above_the_benchmark_is_named_and_a_tiny_group_never() -> None:
    provider = grades(*([9] * 20 + [10] * 10))
    benchmark = provider + grades(*([6, 7, 8] * 30))
    assert is_clearly_above(compare_with_benchmark(provider, benchmark, min_n=5))
    tiny = grades(10, 10)
    assert not compare_with_benchmark(tiny, tiny + benchmark, min_n=5).tested


def test_bow_norm_is_met_with_total_and_every_service_above_their_minimum() -> None:
    norms = load_scheme("bow").norms
    assert evaluate_unit_norm(norms, grades(7, 8), {"3": grades(7), "5": grades(8)}).met


def test_bow_norm_missed_on_the_mean_is_met_with_the_corrected_mean() -> None:
    norms = load_scheme("bow").norms
    total = grades(1, 7, 7, 7)  # mean 5.5 < 6.5; corrected (5+21)/4 = 6.5
    outcome = evaluate_unit_norm(norms, total, {"3": total})
    assert outcome.met and outcome.used_corrected_mean


def test_bow_norm_is_missed_when_a_service_stays_below_5_5() -> None:
    norms = load_scheme("bow").norms
    outcome = evaluate_unit_norm(norms, grades(9, 9, 9, 4), {"3": grades(9, 9, 9), "5": grades(4)})
    assert not outcome.met
    assert outcome.failing_units == ("5",)


def test_uwv_reintegratie_needs_seven_per_perceel_and_offers_an_exemption_below_five_services() -> None:
    norms = load_scheme("uwv-reintegratie").norms
    assert not evaluate_unit_norm(
        norms, grades(8, 6.5), {"naar-werk": grades(8), "werkfit-maken": grades(6.5)}
    ).met
    assert exemption_possible(norms, 4) and not exemption_possible(norms, 5)


def test_jobcoach_norm_checks_werknemers_and_werkgevers_separately() -> None:
    norms = load_scheme("uwv-jobcoach").norms
    seed_001 = {"werknemer": grades(7, 7.5, 5.5, 8, 8), "werkgever": grades(7.5, 7, 7, 8, 6)}
    assert evaluate_respondent_type_norm(norms, seed_001).met
    assert not evaluate_respondent_type_norm(norms, {"werknemer": grades(6), "werkgever": grades(8)}).met


grade_values = st.decimals(min_value=1, max_value=10, places=1)


@given(st.lists(grade_values, max_size=30), st.lists(grade_values, max_size=30))
def test_adding_then_withdrawing_a_group_gives_back_the_summary_exactly(
    kept: list[Decimal], withdrawn: list[Decimal]
) -> None:
    base = GradeSummary.of_all(kept)
    assert base + GradeSummary.of_all(withdrawn) - GradeSummary.of_all(withdrawn) == base


@given(st.lists(grade_values, max_size=40), st.randoms())
def test_the_order_of_arrival_does_not_change_the_summary(values: list[Decimal], rnd: object) -> None:
    shuffled = list(values)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert GradeSummary.of_all(values) == GradeSummary.of_all(shuffled)


@given(st.lists(grade_values, max_size=40))
def test_a_summary_from_value_counts_equals_the_summary_of_the_values(values: list[Decimal]) -> None:
    counts: dict[Decimal, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    assert GradeSummary.of_counts(counts) == GradeSummary.of_all(values)


@pytest.mark.parametrize(("t", "df"), [(0.3, 4), (2.1, 7.5), (-3.4, 30), (1.96, 1000)])
def test_the_t_distribution_helpers_equal_scipy_stats(t: float, df: float) -> None:
    assert t_two_sided_p(t, df) == pytest.approx(2 * stats.t.sf(abs(t), df), rel=1e-12)
    assert t_quantile(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), rel=1e-12)


def test_the_benchmark_test_needs_the_minimum_on_the_other_providers_side_too() -> None:
    provider = grades(*([9] * 20 + [10] * 10))
    assert not compare_with_benchmark(provider, provider + grades(6, 7, 8), min_n=5).tested


def test_two_groups_are_compared_with_welchs_t_test() -> None:
    a, b = grades(3, 4, 4, 5, 5), grades(2, 2, 3, 3, 4, 2)
    test = welch_anova([a, b])
    reference = stats.ttest_ind([3, 4, 4, 5, 5], [2, 2, 3, 3, 4, 2], equal_var=False)
    assert (test.test, test.p_value) == ("welch_t", pytest.approx(reference.pvalue))


def test_more_groups_are_compared_with_welchs_anova() -> None:
    groups = [grades(3, 4, 4, 5, 5, 4), grades(2, 2, 3, 3, 4, 2), grades(1, 2, 2, 1, 3)]
    test = welch_anova(groups)
    assert test.test == "welch_anova" and test.tested
    assert test.degrees_of_freedom[0] == 2 and test.p_value < 0.01


def test_welchs_anova_finds_nothing_between_groups_with_the_same_mean() -> None:
    test = welch_anova([grades(2, 3, 4), grades(1, 3, 5), grades(3, 2, 4)])
    assert test.statistic == pytest.approx(0.0) and test.p_value == pytest.approx(1.0)


def test_a_group_without_spread_falls_back_to_the_classic_anova() -> None:
    values = [[4, 4, 4, 4], [2, 3, 3, 2], [1, 2, 1, 2]]
    test = welch_anova([grades(*v) for v in values])
    assert test.test == "anova"
    assert test.p_value == pytest.approx(stats.f_oneway(*values).pvalue)


def test_categorical_answers_are_compared_with_pearsons_chi_square() -> None:
    table = [[12, 5, 3], [4, 10, 9]]
    test = chi_square_test(table)
    reference = stats.chi2_contingency(table, correction=False)
    assert (test.test, test.statistic, test.p_value) == (
        "chi_square",
        pytest.approx(reference.statistic),
        pytest.approx(reference.pvalue),
    )


def test_answers_nobody_gave_are_left_out_of_the_chi_square_test() -> None:
    assert chi_square_test([[12, 0, 3], [4, 0, 9]]).degrees_of_freedom == (1,)


def test_chi_square_warns_when_expected_counts_are_small() -> None:
    assert "below 5" in chi_square_test([[2, 1], [1, 3]]).reason


@given(st.lists(st.integers(0, 500), min_size=1, max_size=6))
def test_whole_percentages_round_half_up_exactly_as_the_decimal_rule(counts: list[int]) -> None:
    order = [f"k{i}" for i in range(len(counts))]
    shares = percentages(dict(zip(order, counts, strict=True)), order)
    total = sum(counts)
    expected = {
        k: round_half_up(100 * Decimal(c) / total) if total else Decimal(0)
        for k, c in zip(order, counts, strict=True)
    }
    assert shares == expected
