"""The fieldwork forecast: a provider's final response from its response so far, and the flag
for providers heading below the scheme's publication requirement."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.scoring.fieldwork import (
    ForecastSettings,
    ProviderFieldwork,
    expected_usable,
    fit_curve,
    forecast_study,
    required_usable,
)
from shared.schemes import load_scheme

BOW = load_scheme("bow").publication


def simulated_provider(
    rng: random.Random, provider_id: str, size: int, eventual: float, mean_delay: float, days_in: float
) -> tuple[ProviderFieldwork, int]:
    """A provider whose people were invited uniformly over the last ``days_in`` days; returns
    its fieldwork so far and how many will have answered 42 days after their invitation."""
    usable = 0
    delays = 0.0
    waiting: dict[float, int] = {}
    final = 0
    for _ in range(size):
        age = rng.uniform(0, days_in)
        answers = rng.random() < eventual
        delay = rng.expovariate(1 / mean_delay) if answers else math.inf
        final += delay <= 42
        if delay <= age:
            usable += 1
            delays += delay
        else:
            bucket = (math.floor(age * 24) + 0.5) / 24
            waiting[bucket] = waiting.get(bucket, 0) + 1
    fieldwork = ProviderFieldwork(
        provider_id, "client", size, usable, 0, delays, tuple(sorted(waiting.items()))
    )
    return fieldwork, final


def test_the_study_response_curve_is_recovered_from_a_simulated_fieldwork() -> None:
    rng = random.Random(8)
    providers = [
        simulated_provider(rng, f"p{i:02d}", 300, rng.uniform(0.1, 0.5), 5.0, 20.0)[0] for i in range(20)
    ]
    fit = fit_curve(providers, ForecastSettings())
    assert 1 / fit.rate_per_day == pytest.approx(5.0, rel=0.15)


def test_forecasts_halfway_through_fieldwork_are_close_to_the_final_response() -> None:
    # 15 providers, 400 people each, invited over the last 14 days of a 42-day fieldwork.
    rng = random.Random(80)
    simulated = [
        simulated_provider(rng, f"p{i:02d}", 400, rng.uniform(0.1, 0.5), 6.0, 14.0) for i in range(15)
    ]
    forecast = forecast_study([f for f, _ in simulated], BOW)
    errors = []
    for status, (fieldwork, final) in zip(forecast.providers, simulated, strict=True):
        assert status.forecast_response is not None
        errors.append(abs(status.forecast_response - final / fieldwork.net_sample))
    assert max(errors) < 0.07
    assert sum(errors) / len(errors) < 0.03


def test_the_forecast_is_far_closer_than_the_response_so_far() -> None:
    rng = random.Random(81)
    simulated = [
        simulated_provider(rng, f"p{i:02d}", 400, rng.uniform(0.1, 0.5), 6.0, 14.0) for i in range(15)
    ]
    forecast = forecast_study([f for f, _ in simulated], BOW)
    forecast_error = sum(
        abs((s.forecast_response or 0) - final / f.net_sample)
        for s, (f, final) in zip(forecast.providers, simulated, strict=True)
    )
    naive_error = sum(abs(f.usable / f.net_sample - final / f.net_sample) for f, final in simulated)
    assert forecast_error < naive_error / 3


def test_a_provider_already_meeting_the_requirement_is_met() -> None:
    p = ProviderFieldwork("p1", "client", 40, 12, 0, 12 * 3.0, ((10.0, 28),))
    [status] = forecast_study([p], BOW).providers
    assert status.status == "met"
    assert not status.flagged


def test_a_provider_late_in_fieldwork_with_low_response_is_flagged() -> None:
    # Others show the study's curve: most answers within a week.
    others = [ProviderFieldwork(f"o{i}", "client", 100, 40, 0, 40 * 4.0, ((40.0, 60),)) for i in range(5)]
    late = ProviderFieldwork("late", "client", 100, 5, 0, 5 * 4.0, ((40.0, 95),))
    forecast = forecast_study([*others, late], BOW)
    flagged = forecast.flagged
    assert [p.provider_id for p in flagged] == ["late"]
    assert flagged[0].status == "at_risk"


def test_a_provider_at_the_start_of_fieldwork_with_a_good_start_is_on_track() -> None:
    others = [ProviderFieldwork(f"o{i}", "client", 100, 40, 0, 40 * 4.0, ((40.0, 60),)) for i in range(5)]
    early = ProviderFieldwork("early", "client", 100, 8, 0, 8 * 1.0, ((2.0, 92),))
    status = {p.provider_id: p for p in forecast_study([*others, early], BOW).providers}["early"]
    assert status.status == "on_track"
    assert status.forecast_response is not None and status.forecast_response > 0.2


def test_opdrachtgevers_are_exempt_under_blik_op_werk() -> None:
    p = ProviderFieldwork("p1", "opdrachtgever", 3, 0, 0, 0.0, ((30.0, 3),))
    [status] = forecast_study([p], BOW).providers
    assert status.status == "exempt"
    assert not status.flagged


def test_without_a_scheme_nobody_is_flagged() -> None:
    p = ProviderFieldwork("p1", "client", 50, 0, 0, 0.0, ((41.0, 50),))
    [status] = forecast_study([p], None).providers
    assert status.status == "no_requirement"
    assert status.required_usable is None


def test_seed_000_net_sample_of_43_needs_10_usable_questionnaires() -> None:
    # 20% of 43 is 8.6 → 9, but Blik op Werk asks at least 10.
    assert required_usable(BOW, 43) == 10
    assert required_usable(BOW, 100) == 20


def test_nobody_waiting_means_the_forecast_is_the_response_so_far() -> None:
    p = ProviderFieldwork("p1", "client", 43, 8, 35, 8 * 3.0, ())
    [status] = forecast_study([p], BOW).providers
    assert status.forecast_usable == 8
    assert status.status == "at_risk"


ages = st.lists(
    st.tuples(st.floats(min_value=0, max_value=60), st.integers(min_value=1, max_value=50)), max_size=8
)


@settings(max_examples=60, deadline=None)
@given(
    usable=st.integers(min_value=0, max_value=200),
    closed=st.integers(min_value=0, max_value=50),
    waiting=ages,
    eventual=st.floats(min_value=0, max_value=1),
    rate=st.floats(min_value=0.01, max_value=5),
    horizon=st.floats(min_value=0, max_value=90),
)
def test_the_forecast_lies_between_the_usable_so_far_and_everyone_still_waiting(
    usable: int,
    closed: int,
    waiting: list[tuple[float, int]],
    eventual: float,
    rate: float,
    horizon: float,
) -> None:
    waiting_n = sum(n for _, n in waiting)
    p = ProviderFieldwork(
        "p", "client", usable + closed + waiting_n, usable, closed, usable * 2.0, tuple(waiting)
    )
    forecast = expected_usable(p, eventual, rate, horizon)
    assert usable - 1e-9 <= forecast <= usable + waiting_n + 1e-9
