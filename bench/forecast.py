"""Fieldwork forecast: accuracy against the real final response, and its cost, in one run.

    python bench/forecast.py [--providers 500] [--people 200] [--days-in 14] [--seed 8]

Simulates a study: ``--providers`` providers of ``--people`` each (eventual response 10–50%,
exponential delay with a mean of 3–9 days per study), invited uniformly over the last
``--days-in`` days of a 42-day fieldwork. Then:

1. Accuracy: the mean absolute error of the forecast of each provider's final response (at 42
   days per invitation) against the simulated truth, beside the naive forecast "the response
   so far", and how many providers each flags wrongly against Blik op Werk's requirement.
2. Cost: ``forecast_study`` beside a raw baseline (one pass summing every provider's waiting
   people by age, the least any forecast must read), as a ratio.
"""

from __future__ import annotations

import argparse
import math
import random
import time

from services.scoring.fieldwork import ProviderFieldwork, forecast_study
from shared.schemes import load_scheme

HORIZON_DAYS = 42


def simulated_provider(
    rng: random.Random, provider_id: str, size: int, eventual: float, mean_delay: float, days_in: float
) -> tuple[ProviderFieldwork, int]:
    """What the provider's fieldwork shows now, and how many will have answered by the end."""
    usable, delays, final = 0, 0.0, 0
    waiting: dict[float, int] = {}
    for _ in range(size):
        age = rng.uniform(0, days_in)
        delay = rng.expovariate(1 / mean_delay) if rng.random() < eventual else math.inf
        final += delay <= HORIZON_DAYS
        if delay <= age:
            usable, delays = usable + 1, delays + delay
        else:
            bucket = (math.floor(age * 24) + 0.5) / 24  # hours, as the store reads them
            waiting[bucket] = waiting.get(bucket, 0) + 1
    return ProviderFieldwork(
        provider_id, "client", size, usable, 0, delays, tuple(sorted(waiting.items()))
    ), final


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", type=int, default=500)
    parser.add_argument("--people", type=int, default=200)
    parser.add_argument("--days-in", type=float, default=14.0)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args()
    rule = load_scheme("bow").publication
    rng = random.Random(args.seed)
    mean_delay = rng.uniform(3, 9)
    simulated = [
        simulated_provider(rng, f"p{i:05d}", args.people, rng.uniform(0.1, 0.5), mean_delay, args.days_in)
        for i in range(args.providers)
    ]
    fieldwork = [f for f, _ in simulated]

    started = time.perf_counter()
    raw = sum(age * n for f in fieldwork for age, n in f.waiting)
    raw_seconds = time.perf_counter() - started
    started = time.perf_counter()
    forecast = forecast_study(fieldwork, rule)
    forecast_seconds = time.perf_counter() - started
    assert raw >= 0

    model_error = naive_error = 0.0
    model_wrong = naive_wrong = 0
    for status, (f, final) in zip(forecast.providers, simulated, strict=True):
        truth = final / f.net_sample
        will_meet = rule.requirement_met(final, f.net_sample)
        model_error += abs((status.forecast_response or 0) - truth)
        naive_error += abs(f.usable / f.net_sample - truth)
        model_wrong += status.flagged == will_meet
        naive_wrong += rule.requirement_met(f.usable, f.net_sample) != will_meet
    n = len(simulated)
    print(
        f"{n} providers × {args.people} people, {args.days_in:g} of 42 days in, mean delay {mean_delay:.1f} d"
    )
    print(f"fitted median delay {forecast.fit.median_delay_days:.2f} d (true {mean_delay * 0.6931:.2f} d)")
    print(f"mean absolute error of the final response: forecast {model_error / n:.4f},", end=" ")
    print(f"so far {naive_error / n:.4f}")
    print(f"providers misjudged against the requirement: forecast {model_wrong}, so far {naive_wrong}")
    ratio = forecast_seconds / raw_seconds
    print(f"cost: forecast {ratio:.0f}× one raw pass over the waiting people", end=" ")
    print(f"({forecast_seconds:.2f} s here)")


if __name__ == "__main__":
    main()
