"""Every AAPOR outcome rate (Standard Definitions) and the 95% intervals of a unit's figures."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scoring.domain import UnitTally, unit_figures
from services.scoring.figures import (
    DEFAULT_ELIGIBILITY,
    AaporRates,
    Dispositions,
    aapor_rates,
    wilson_interval,
)
from shared.events import UnitFigures
from shared.schemes import load_scheme

# I 40, P 10, R 20, NC 20, O 5, UO 5: 100 cases, 95 of known eligibility, 75 contacted.
WORKED = Dispositions(complete=40, partial=10, refusal=20, non_contact=20, other=5, unknown_other=5)

counts = st.integers(min_value=0, max_value=10_000)
dispositions = st.builds(
    Dispositions,
    complete=counts,
    partial=counts,
    refusal=counts,
    non_contact=counts,
    other=counts,
    unknown_household=counts,
    unknown_other=counts,
)
shares = st.floats(min_value=0, max_value=1)


def test_every_rate_of_a_hand_computed_case_with_e_one_half() -> None:
    rates = aapor_rates(WORKED, e=0.5)  # e·U = 2.5: estimated base 97.5
    assert rates == AaporRates(
        rr1=40 / 100,
        rr2=50 / 100,
        rr3=pytest.approx(40 / 97.5),  # type: ignore[arg-type]
        rr4=pytest.approx(50 / 97.5),  # type: ignore[arg-type]
        rr5=40 / 95,
        rr6=50 / 95,
        coop1=40 / 75,
        coop2=50 / 75,
        coop3=40 / 70,
        coop4=50 / 70,
        ref1=20 / 100,
        ref2=pytest.approx(20 / 97.5),  # type: ignore[arg-type]
        ref3=20 / 95,
        con1=75 / 100,
        con2=pytest.approx(75 / 97.5),  # type: ignore[arg-type]
        con3=75 / 95,
    )


def test_the_default_e_counts_every_unknown_case_as_eligible() -> None:
    rates = aapor_rates(WORKED)
    assert DEFAULT_ELIGIBILITY == 1.0
    assert (rates.rr3, rates.rr4, rates.ref2, rates.con2) == (rates.rr1, rates.rr2, rates.ref1, rates.con1)


def test_e_zero_leaves_the_unknown_cases_out_as_rr5_does() -> None:
    rates = aapor_rates(WORKED, e=0.0)
    assert (rates.rr3, rates.rr4) == (rates.rr5, rates.rr6)


def test_no_cases_give_no_rates_and_only_non_contacts_no_cooperation_rate() -> None:
    assert aapor_rates(Dispositions()) == AaporRates()
    rates = aapor_rates(Dispositions(non_contact=4))
    assert (rates.rr1, rates.con1, rates.coop1, rates.coop3) == (0.0, 0.0, None, None)


def test_an_e_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="e must lie between 0 and 1"):
        aapor_rates(WORKED, e=1.2)


@given(dispositions, shares)
def test_every_rate_lies_between_zero_and_one(d: Dispositions, e: float) -> None:
    for name, value in vars(aapor_rates(d, e)).items():
        assert value is None or 0 <= value <= 1, name


@given(dispositions, shares)
def test_the_rates_keep_the_standard_definitions_order(d: Dispositions, e: float) -> None:
    r = aapor_rates(d, e)

    def le(*values: float | None) -> bool:
        known = [v for v in values if v is not None]
        return all(a <= b + 1e-12 for a, b in itertools.pairwise(known))

    assert le(r.rr1, r.rr3, r.rr5) and le(r.rr2, r.rr4, r.rr6)
    assert le(r.rr1, r.rr2) and le(r.rr3, r.rr4) and le(r.rr5, r.rr6)
    assert le(r.rr1, r.rr2, r.rr4)
    assert le(r.coop1, r.coop2, r.coop4) and le(r.coop1, r.coop3, r.coop4)
    assert le(r.rr5, r.coop1) and le(r.rr6, r.coop2)
    assert le(r.ref1, r.ref2, r.ref3) and le(r.con1, r.con2, r.con3)


def test_the_wilson_interval_of_8_of_10() -> None:
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_the_wilson_interval_of_none_of_10_is_not_empty() -> None:
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)


def test_no_trials_or_more_successes_than_trials_give_no_interval() -> None:
    assert wilson_interval(0, 0) is None
    assert wilson_interval(3, 2) is None


@given(
    st.integers(min_value=1, max_value=100_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))
)
def test_the_wilson_interval_holds_the_proportion_within_zero_and_one(case: tuple[int, int]) -> None:
    successes, trials = case
    low, high = wilson_interval(successes, trials)  # type: ignore[misc]
    assert 0 <= low <= successes / trials <= high <= 1


# --- in the snapshot ---------------------------------------------------------------------------


def test_a_units_figures_carry_every_rate_with_the_schemes_e() -> None:
    scheme = load_scheme("uwv-reintegratie").model_copy(update={"aapor_eligibility": 0.5})
    tally = UnitTally(invited=10, usable=4, partial=1, refusal=2, non_contact=1, unknown_household=2)
    figures = unit_figures("naar-werk", "client", tally, scheme)
    d = figures["dispositions"]
    assert (d["e"], d["e_source"]) == (0.5, "scheme")
    assert d["rr3"] == pytest.approx(4 / 9)  # 4 / (5 + 3 + 0.5 × 2)
    assert d["con3"] == pytest.approx(7 / 8)
    UnitFigures.model_validate(figures)  # what the snapshot carries


def test_without_a_scheme_setting_the_default_e_is_stated() -> None:
    figures = unit_figures(
        "naar-werk", "client", UnitTally(invited=3, usable=1), load_scheme("uwv-reintegratie")
    )
    assert (figures["dispositions"]["e"], figures["dispositions"]["e_source"]) == (1.0, "default")


def test_a_units_response_carries_its_wilson_interval() -> None:
    figures = unit_figures("9", "client", UnitTally(invited=12, undeliverable=2, usable=8), None)
    assert figures["response_rate"] == 0.8
    assert figures["response_rate_ci95"] == pytest.approx((0.4902, 0.9433), abs=1e-4)
