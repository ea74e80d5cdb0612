"""Fieldwork status: forecast each provider's final response and flag who heads below the
publication requirement (pure, no I/O; part of the scoring domain).

The model (docs/operations.md, "Fieldwork status"): a *mixture cure model*, the
standard survival model for "some never answer".

- Each person in a provider's net sample (netto steekproef) eventually returns a usable
  questionnaire with probability ``pi`` (the provider's eventual response), or never does.
- Those who do, answer after a delay since their invitation that is exponential with rate
  ``lam`` per day: the response curve flattens as reminders are spent. ``lam`` is one shape
  for the whole study (every provider of the study pooled: same questionnaire, same modes,
  same reminder plan), ``pi`` is per provider.
- Someone invited ``a`` days ago who has not answered yet is still a future respondent with
  probability ``w(a) = pi·e^(−lam·a) / (1 − pi + pi·e^(−lam·a))``; a partial (unusable) or
  withdrawn response closes the case (``w = 0``).

``pi`` and ``lam`` are fitted together by expectation-maximisation on the sufficient
statistics (usable responses and the sum of their delays; non-respondents by age), with two
weak priors so an early, small provider does not get a wild forecast: ``pi`` is shrunk
toward the study's pooled value with the weight of ``prior_weight`` people, and ``lam``
starts from a typical delay of ``prior_delay_days`` with the weight of ``prior_responses``.

The forecast is the expected number of usable questionnaires when each invitation's
fieldwork ends, ``horizon_days`` after it was sent:
``usable + Σ w(a)·(1 − e^(−lam·max(0, horizon − a)))`` over the people still waiting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from shared.schemes import PublicationRule

Status = Literal["met", "on_track", "at_risk", "exempt", "no_requirement", "no_sample"]


@dataclass(frozen=True)
class ProviderFieldwork:
    """What a provider's fieldwork shows so far, for one respondent type."""

    provider_id: str
    respondent_type: str
    net_sample: int  # netto steekproef: invited minus undeliverable
    usable: int  # usable questionnaires (bruikbare vragenlijsten) so far
    closed: int = 0  # answered unusably or withdrew: will not become usable
    delay_days_sum: float = 0.0  # Σ days from invitation to usable response
    # People who have not answered: (days since their invitation, how many).
    waiting: tuple[tuple[float, int], ...] = ()

    @property
    def waiting_count(self) -> int:
        return sum(n for _, n in self.waiting)


@dataclass(frozen=True)
class ForecastSettings:
    horizon_days: float = 42.0  # fieldwork per invitation: invitation, reminders, a last week
    prior_delay_days: float = 7.0  # a typical delay before a study has shown its own
    prior_responses: float = 5.0  # weight of that prior, in responses
    prior_weight: float = 10.0  # shrinkage of a provider's pi toward the study's, in people
    iterations: int = 200
    tolerance: float = 1e-7


@dataclass(frozen=True)
class CurveFit:
    """The study's fitted response curve: shape lam (per day) and each provider's pi."""

    rate_per_day: float
    study_eventual: float
    eventual: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def median_delay_days(self) -> float:
        return math.log(2) / self.rate_per_day


@dataclass(frozen=True)
class ProviderStatus:
    provider_id: str
    respondent_type: str
    net_sample: int
    usable: int
    response_so_far: float | None  # usable / net sample now
    forecast_usable: float
    forecast_response: float | None  # expected usable / net sample at the end of fieldwork
    required_usable: int | None  # usable questionnaires the requirement asks of this net sample
    required_response: float | None
    status: Status

    @property
    def flagged(self) -> bool:
        """Heading below the publication requirement: the bureau should act."""
        return self.status == "at_risk"


def _still_coming(eventual: float, rate: float, age: float) -> float:
    """w(a): chance that someone silent ``age`` days after the invitation will still answer."""
    if eventual <= 0.0:
        return 0.0
    if eventual >= 1.0:
        return 1.0
    tail = eventual * math.exp(-rate * age)
    return tail / (1.0 - eventual + tail)


def fit_curve(providers: Sequence[ProviderFieldwork], settings: ForecastSettings) -> CurveFit:
    """Fit lam (study) and pi (per provider) by expectation-maximisation.

    Vectorised over every (provider, age) group of waiting people: one iteration is a few
    array operations however many providers the study has.
    """
    total_n = sum(p.net_sample for p in providers)
    total_usable = sum(p.usable for p in providers)
    total_delay = sum(p.delay_days_sum for p in providers)
    study_pi = total_usable / total_n if total_n else 0.0
    rate = 1.0 / settings.prior_delay_days
    count = len(providers)
    usable = np.array([p.usable for p in providers], dtype=float)
    net = np.array([p.net_sample for p in providers], dtype=float)
    owner = np.array([i for i, p in enumerate(providers) for _ in p.waiting], dtype=np.intp)
    ages = np.array([age for p in providers for age, _ in p.waiting], dtype=float)
    people = np.array([n for p in providers for _, n in p.waiting], dtype=float)
    pis = np.full(count, study_pi)
    for _ in range(settings.iterations):
        w = people * _still_coming_array(pis[owner], rate, ages)
        future = np.bincount(owner, weights=w, minlength=count)
        exposure = float(np.dot(w, ages))
        new_study_pi = (total_usable + float(future.sum())) / total_n if total_n else 0.0
        new_pis = (usable + future + settings.prior_weight * new_study_pi) / (net + settings.prior_weight)
        new_rate = (total_usable + settings.prior_responses) / (
            total_delay + exposure + settings.prior_responses * settings.prior_delay_days
        )
        change = abs(new_rate - rate) + (float(np.max(np.abs(new_pis - pis))) if count else 0.0)
        rate, pis, study_pi = new_rate, new_pis, new_study_pi
        if change < settings.tolerance:
            break
    eventual = {(p.provider_id, p.respondent_type): float(pis[i]) for i, p in enumerate(providers)}
    return CurveFit(rate, study_pi, eventual)


def _still_coming_array(
    eventual: npt.NDArray[np.float64], rate: float, ages: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """w(a) for many people at once (see :func:`_still_coming`)."""
    tail = np.clip(eventual, 0.0, 1.0) * np.exp(-rate * ages)
    denominator = 1.0 - np.clip(eventual, 0.0, 1.0) + tail
    result: npt.NDArray[np.float64] = np.divide(
        tail, denominator, out=np.zeros_like(tail), where=denominator > 0
    )
    return result


def expected_usable(p: ProviderFieldwork, eventual: float, rate: float, horizon_days: float) -> float:
    """Usable questionnaires expected when the fieldwork of every invitation has ended."""
    more = sum(
        n * _still_coming(eventual, rate, age) * (1.0 - math.exp(-rate * max(0.0, horizon_days - age)))
        for age, n in p.waiting
    )
    return p.usable + more


def required_usable(rule: PublicationRule, net_sample: int) -> int:
    """The fewest usable questionnaires that meet both thresholds for this net sample."""
    by_rate = math.ceil(rule.min_response_rate * net_sample - 1e-9)
    return max(rule.min_usable, by_rate)


def provider_status(p: ProviderFieldwork, forecast: float, rule: PublicationRule | None) -> ProviderStatus:
    rate_now = p.usable / p.net_sample if p.net_sample else None
    rate_then = forecast / p.net_sample if p.net_sample else None
    required = None if rule is None else required_usable(rule, p.net_sample)
    status: Status
    if p.net_sample == 0:
        status = "no_sample"
    elif rule is None:
        status = "no_requirement"
    elif p.respondent_type in rule.always_published_for:
        status = "exempt"
    elif rule.requirement_met(p.usable, p.net_sample):
        status = "met"
    elif rule.requirement_met(math.floor(forecast + 1e-9), p.net_sample):
        status = "on_track"
    else:
        status = "at_risk"
    return ProviderStatus(
        provider_id=p.provider_id,
        respondent_type=p.respondent_type,
        net_sample=p.net_sample,
        usable=p.usable,
        response_so_far=rate_now,
        forecast_usable=forecast,
        forecast_response=rate_then,
        required_usable=required,
        required_response=None if rule is None else rule.min_response_rate,
        status=status,
    )


@dataclass(frozen=True)
class StudyForecast:
    fit: CurveFit
    providers: list[ProviderStatus]

    @property
    def flagged(self) -> list[ProviderStatus]:
        return [p for p in self.providers if p.flagged]


def forecast_study(
    providers: Sequence[ProviderFieldwork],
    rule: PublicationRule | None,
    settings: ForecastSettings | None = None,
) -> StudyForecast:
    """Every provider's response so far, its forecast and its status against ``rule``."""
    settings = settings or ForecastSettings()
    fit = fit_curve(providers, settings)
    statuses = []
    for p in sorted(providers, key=lambda p: (p.provider_id, p.respondent_type)):
        eventual = fit.eventual.get((p.provider_id, p.respondent_type), fit.study_eventual)
        forecast = expected_usable(p, eventual, fit.rate_per_day, settings.horizon_days)
        statuses.append(provider_status(p, forecast, rule))
    return StudyForecast(fit, statuses)


def waiting_by_day(ages_days: Mapping[float, int]) -> tuple[tuple[float, int], ...]:
    """Non-respondents grouped by age, sorted (a helper for callers that count by age)."""
    return tuple(sorted((age, n) for age, n in ages_days.items() if n > 0))


# The study-level lines of the status a provider may see beside its own rows: they describe the
# study and its scheme, never another provider's figures. The fitted ``curve`` is not among
# them: it pools every provider's responses (with two providers, the study's eventual response
# and one's own figures give the other's).
PROVIDER_VISIBLE_LINES = ("study_id", "scheme_id", "as_of", "horizon_days", "requirement")


def status_seen_by(status: Mapping[str, Any], provider_id: str | None) -> dict[str, Any] | None:
    """What a caller may see of a study's fieldwork status: the bureau (``provider_id`` None)
    all of it; a provider only its own rows, its own flag and the study-level lines that reveal
    no other provider's figures. None when the provider has no rows in the study."""
    if provider_id is None:
        return dict(status)
    rows = [row for row in status["providers"] if row["provider_id"] == provider_id]
    if not rows:
        return None
    return {line: status[line] for line in PROVIDER_VISIBLE_LINES} | {
        "curve": None,
        "providers": rows,
        "flagged": [provider_id] if any(row["flagged"] for row in rows) else [],
    }
