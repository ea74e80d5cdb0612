"""The figures every report needs, computed from invertible summaries (pure, no I/O).

Part of the scoring domain. Every summary here is counts and exact sums, so it can
be kept incrementally (add a response, subtract a withdrawn one) and still give the
same figure as a recompute. Formulas are documented in docs/figures.md.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal

from scipy import special

from shared.schemes import NormSettings

ZERO = Decimal(0)
GRADES = tuple(range(1, 11))


def round_half_up(value: float | Decimal, places: int = 0) -> Decimal:
    """Dutch reports round 12.5% to 13%, not to the even 12 (Python's round)."""
    quantum = Decimal(1).scaleb(-places)
    return Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class GradeSummary:
    """Grades (rapportcijfers) of one group: n, sums, the failing part, and a histogram.

    ``failing_n`` and ``passing_total`` use the scheme's ``failing_below`` (5.5), so
    the corrected mean can be derived without the individual grades.
    """

    n: int = 0
    total: Decimal = ZERO
    total_sq: Decimal = ZERO
    failing_n: int = 0
    passing_total: Decimal = ZERO
    histogram: tuple[int, ...] = (0,) * 10  # grades 1..10, decimals rounded half up

    @classmethod
    def of(cls, grade: Decimal, failing_below: Decimal = Decimal("5.5")) -> GradeSummary:
        rounded = min(10, max(1, int(round_half_up(grade))))
        histogram = tuple(1 if g == rounded else 0 for g in GRADES)
        failing = grade < failing_below
        return cls(1, grade, grade * grade, int(failing), ZERO if failing else grade, histogram)

    @classmethod
    def of_all(cls, grades: Iterable[Decimal], failing_below: Decimal = Decimal("5.5")) -> GradeSummary:
        summary = cls()
        for grade in grades:
            summary = summary + cls.of(grade, failing_below)
        return summary

    @classmethod
    def of_counts(
        cls, counts: Mapping[Decimal, int], failing_below: Decimal = Decimal("5.5")
    ) -> GradeSummary:
        """The summary of ``count`` times each exact value: what the stored value counts give."""
        n = failing_n = 0
        total = total_sq = passing_total = ZERO
        histogram = [0] * 10
        for grade, count in counts.items():
            if not count:
                continue
            n += count
            total += grade * count
            total_sq += grade * grade * count
            if grade < failing_below:
                failing_n += count
            else:
                passing_total += grade * count
            histogram[_histogram_index(grade)] += count
        return cls(n, total, total_sq, failing_n, passing_total, tuple(histogram))

    def __add__(self, other: GradeSummary) -> GradeSummary:
        return GradeSummary(
            self.n + other.n,
            self.total + other.total,
            self.total_sq + other.total_sq,
            self.failing_n + other.failing_n,
            self.passing_total + other.passing_total,
            tuple(a + b for a, b in zip(self.histogram, other.histogram, strict=True)),
        )

    def __neg__(self) -> GradeSummary:
        return GradeSummary(
            -self.n, -self.total, -self.total_sq, -self.failing_n, -self.passing_total,
            tuple(-h for h in self.histogram),
        )  # fmt: skip

    def __sub__(self, other: GradeSummary) -> GradeSummary:
        return self + -other


@functools.lru_cache(maxsize=1024)
def _histogram_index(grade: Decimal) -> int:
    """The histogram slot of an exact grade (rounded half up to 1..10); the same few values
    come back in every snapshot, so each is rounded once."""
    return min(10, max(1, int(round_half_up(grade)))) - 1


def mean(s: GradeSummary) -> float | None:
    """Gemiddeld rapportcijfer: the exact mean of the exact values (decimals included)."""
    return float(s.total / s.n) if s.n else None


def corrected_mean(s: GradeSummary, failing_value: float = 5.0) -> float | None:
    """Gecorrigeerd gemiddelde: every failing grade counted as ``failing_value``."""
    if not s.n:
        return None
    return float((s.passing_total + Decimal(str(failing_value)) * s.failing_n) / s.n)


def variance(s: GradeSummary) -> float | None:
    """Sample variance (n − 1); None below two grades."""
    if s.n < 2:
        return None
    return float((s.total_sq - s.total * s.total / s.n) / (s.n - 1))


def std_dev(s: GradeSummary) -> float | None:
    v = variance(s)
    return math.sqrt(max(v, 0.0)) if v is not None else None


@functools.lru_cache(maxsize=4096)
def t_quantile(probability: float, degrees_of_freedom: float) -> float:
    """The t distribution's quantile (scipy's ``stdtrit``: the same as ``stats.t.ppf``, far cheaper)."""
    return float(special.stdtrit(degrees_of_freedom, probability))


def t_two_sided_p(t: float, degrees_of_freedom: float) -> float:
    """P(|T| ≥ |t|) under the t distribution (``2 · stats.t.sf(|t|, df)``)."""
    return float(2 * special.stdtr(degrees_of_freedom, -abs(t)))


def confidence_interval_95(s: GradeSummary) -> tuple[float, float] | None:
    """Mean ± t(0.975, n−1) · sd / √n; None below two grades."""
    m, sd = mean(s), std_dev(s)
    if m is None or sd is None:
        return None
    half = t_quantile(0.975, s.n - 1) * sd / math.sqrt(s.n)
    return (m - half, m + half)


def grade_distribution(s: GradeSummary) -> dict[int, int]:
    """Spreiding rapportcijfers: how many gave each grade (decimals rounded half up)."""
    return dict(zip(GRADES, s.histogram, strict=True))


def percentages(counts: Mapping[str, int], order: Sequence[str], places: int = 0) -> dict[str, Decimal]:
    """Each category's share of the answers, in ``order``, rounded half up."""
    values = [counts.get(k, 0) for k in order]
    total = sum(values)
    if not total:
        return {k: ZERO for k in order}
    if places == 0 and total > 0 and min(values) >= 0:
        return {k: Decimal(v) for k, v in zip(order, whole_percentages(values, total), strict=True)}
    return {k: round_half_up(100 * Decimal(v) / total, places) for k, v in zip(order, values, strict=True)}


def whole_percentages(values: Sequence[int], total: int) -> list[int]:
    """Each of ``values`` (none negative, ``total`` their positive sum) as a whole percentage,
    rounded half up, in integers: floor(100·c/total + ½) = (200·c + total) // (2·total)."""
    twice = 2 * total
    return [(200 * v + total) // twice for v in values]


PromoterClass = Literal["promoter", "passive", "detractor"]


def promoter_score(counts: Mapping[PromoterClass, int]) -> float | None:
    """Promotorscore: % promoters − % detractors among those who answered."""
    total = sum(counts.values())
    if not total:
        return None
    return 100 * (counts.get("promoter", 0) - counts.get("detractor", 0)) / total


def response_rate(completed: int, net_sample: int) -> float | None:
    """Respons: usable questionnaires / netto steekproef."""
    return completed / net_sample if net_sample > 0 else None


@dataclass(frozen=True)
class Dispositions:
    """AAPOR final dispositions of the cases approached."""

    complete: int = 0  # I
    partial: int = 0  # P
    refusal: int = 0  # R (refusal and break-off)
    non_contact: int = 0  # NC
    other: int = 0  # O
    unknown_household: int = 0  # UH
    unknown_other: int = 0  # UO


# AAPOR's e: the estimated proportion of the unknown-eligibility cases (UH, UO) that are eligible.
# Default: the proportion eligible among the cases whose eligibility is known. Every case here
# comes from a provider's list of ended services and no disposition records "not eligible"
# (AAPOR 4.x), so that proportion is 1 and RR3 = RR1, RR4 = RR2 unless a scheme sets e.
DEFAULT_ELIGIBILITY = 1.0
# The standard normal quantile of 97.5%: two-sided 95% intervals.
Z_95 = 1.959963984540054


@dataclass(frozen=True)
class AaporRates:
    """Every outcome rate of the AAPOR Standard Definitions (None when its denominator is 0)."""

    rr1: float | None = None
    rr2: float | None = None
    rr3: float | None = None
    rr4: float | None = None
    rr5: float | None = None
    rr6: float | None = None
    coop1: float | None = None
    coop2: float | None = None
    coop3: float | None = None
    coop4: float | None = None
    ref1: float | None = None
    ref2: float | None = None
    ref3: float | None = None
    con1: float | None = None
    con2: float | None = None
    con3: float | None = None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def aapor_rates(d: Dispositions, e: float = DEFAULT_ELIGIBILITY) -> AaporRates:
    """The AAPOR response (RR), cooperation (COOP), refusal (REF) and contact (CON) rates.

    With I complete, P partial, R refusal, NC non-contact, O other, U = UH + UO unknown
    eligibility and e the estimated eligible share of U (0 ≤ e ≤ 1):
    all = (I+P) + (R+NC+O) + U; estimated = (I+P) + (R+NC+O) + e·U; known = (I+P) + (R+NC+O).
    RR1, RR3, RR5 = I / all, estimated, known; RR2, RR4, RR6 = (I+P) / the same.
    COOP1 = I / ((I+P)+R+O); COOP2 = (I+P) / ((I+P)+R+O); COOP3 = I / ((I+P)+R);
    COOP4 = (I+P) / ((I+P)+R). REF1–3 = R / all, estimated, known.
    CON1–3 = ((I+P)+R+O) / all, estimated, known.
    """
    if not 0 <= e <= 1:
        raise ValueError(f"e must lie between 0 and 1, not {e}")
    interviews = d.complete + d.partial
    known = interviews + d.refusal + d.non_contact + d.other
    unknown = d.unknown_household + d.unknown_other
    everyone, estimated = known + unknown, known + e * unknown
    contacted = interviews + d.refusal + d.other
    return AaporRates(
        rr1=_ratio(d.complete, everyone),
        rr2=_ratio(interviews, everyone),
        rr3=_ratio(d.complete, estimated),
        rr4=_ratio(interviews, estimated),
        rr5=_ratio(d.complete, known),
        rr6=_ratio(interviews, known),
        coop1=_ratio(d.complete, contacted),
        coop2=_ratio(interviews, contacted),
        coop3=_ratio(d.complete, interviews + d.refusal),
        coop4=_ratio(interviews, interviews + d.refusal),
        ref1=_ratio(d.refusal, everyone),
        ref2=_ratio(d.refusal, estimated),
        ref3=_ratio(d.refusal, known),
        con1=_ratio(contacted, everyone),
        con2=_ratio(contacted, estimated),
        con3=_ratio(contacted, known),
    )


def wilson_interval(successes: int, trials: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (95% with the default z): unlike p ± z·se it stays
    within [0, 1] and is not empty at 0 or n successes. None without trials or when
    ``successes`` is not between 0 and ``trials``."""
    if trials <= 0 or not 0 <= successes <= trials:
        return None
    p = successes / trials
    z2 = z * z
    scale = 1 + z2 / trials
    centre = (p + z2 / (2 * trials)) / scale
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / scale
    # At 0 or n successes one end is exactly 0 or 1; rounding must not move it past p.
    low = 0.0 if successes == 0 else min(p, max(0.0, centre - half))
    high = 1.0 if successes == trials else max(p, min(1.0, centre + half))
    return (low, high)


# --- comparison with the benchmark -------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """Welch's two-sample t-test of a provider against the other providers in the study."""

    difference: float
    t: float
    degrees_of_freedom: float
    p_value: float
    tested: bool
    reason: str = ""


def welch_test(group: GradeSummary, rest: GradeSummary) -> Comparison:
    """Two-sided Welch t-test on the means, from the summaries alone (no raw grades needed)."""
    vg, vr = variance(group), variance(rest)
    mg, mr = mean(group), mean(rest)
    if vg is None or vr is None or mg is None or mr is None:
        return Comparison(0.0, 0.0, 0.0, 1.0, False, "fewer than two answers on one side")
    se2 = vg / group.n + vr / rest.n
    if se2 == 0:
        return Comparison(mg - mr, 0.0, 0.0, 1.0, False, "no variation")
    t = (mg - mr) / math.sqrt(se2)
    df = se2**2 / ((vg / group.n) ** 2 / (group.n - 1) + (vr / rest.n) ** 2 / (rest.n - 1))
    return Comparison(mg - mr, t, df, t_two_sided_p(t, df), True)


def compare_with_benchmark(group: GradeSummary, benchmark: GradeSummary, *, min_n: int) -> Comparison:
    """'Scoort relatief goed op': significantly above the other providers (the benchmark minus
    this provider, so the groups are independent), and never on fewer than ``min_n`` answers
    on either side."""
    if group.n < min_n or benchmark.n - group.n < min_n:
        return Comparison(0.0, 0.0, 0.0, 1.0, False, f"fewer than {min_n} answers")
    return welch_test(group, benchmark - group)


def is_clearly_above(comparison: Comparison, alpha: float = 0.05) -> bool:
    return comparison.tested and comparison.difference > 0 and comparison.p_value < alpha


# --- comparisons between groups (staff survey, seed 003) ---------------------------------


@dataclass(frozen=True)
class GroupTest:
    """A significance test between groups: which test, its statistic, degrees of freedom, p."""

    test: Literal["welch_t", "welch_anova", "anova", "chi_square", "none"]
    statistic: float
    degrees_of_freedom: tuple[float, ...]
    p_value: float
    tested: bool
    reason: str = ""


NOT_TESTED = GroupTest("none", 0.0, (), 1.0, False)


def welch_anova(groups: Sequence[GradeSummary]) -> GroupTest:
    """Means of two groups: Welch's t-test; of more: Welch's one-way ANOVA (Welch 1951), which,
    like the t-test, does not assume equal variances or sizes. A group without any spread
    makes Welch's weights infinite: then the classic one-way ANOVA (pooled variance)."""
    if len(groups) < 2 or any(g.n < 2 for g in groups):
        return GroupTest("none", 0.0, (), 1.0, False, "fewer than two groups of two or more")
    if len(groups) == 2:
        c = welch_test(groups[0], groups[1])
        return GroupTest("welch_t", c.t, (c.degrees_of_freedom,), c.p_value, c.tested, c.reason)
    variances = [variance(g) or 0.0 for g in groups]
    if any(v <= 0 for v in variances):
        return one_way_anova(groups)
    k = len(groups)
    means = [float(g.total / g.n) for g in groups]
    weights = [g.n / v for g, v in zip(groups, variances, strict=True)]
    w = sum(weights)
    grand = sum(wi * m for wi, m in zip(weights, means, strict=True)) / w
    between = sum(wi * (m - grand) ** 2 for wi, m in zip(weights, means, strict=True)) / (k - 1)
    lam = sum((1 - wi / w) ** 2 / (g.n - 1) for wi, g in zip(weights, groups, strict=True))
    f = between / (1 + 2 * (k - 2) / (k * k - 1) * lam)
    df2 = (k * k - 1) / (3 * lam)
    return GroupTest("welch_anova", f, (k - 1, df2), float(special.fdtrc(k - 1, df2, f)), True)


def one_way_anova(groups: Sequence[GradeSummary]) -> GroupTest:
    """Classic one-way ANOVA from the summaries: F = (SSB / (k − 1)) / (SSW / (N − k))."""
    k, n = len(groups), sum(g.n for g in groups)
    if k < 2 or n <= k:
        return GroupTest("none", 0.0, (), 1.0, False, "too few answers")
    grand = float(sum((g.total for g in groups), ZERO) / n)
    ssb = sum(g.n * (float(g.total / g.n) - grand) ** 2 for g in groups)
    ssw = sum((g.n - 1) * (variance(g) or 0.0) for g in groups)
    if ssw <= 0:
        return GroupTest("none", 0.0, (), 1.0, False, "no variation within the groups")
    f = (ssb / (k - 1)) / (ssw / (n - k))
    return GroupTest("anova", f, (k - 1, n - k), float(special.fdtrc(k - 1, n - k, f)), True)


def chi_square_test(table: Sequence[Sequence[int]]) -> GroupTest:
    """Pearson's chi-square test of independence on a groups × answers table of counts.

    Answers nobody gave are left out. ``reason`` warns when more than a fifth of the expected
    counts are below 5 (Cochran's rule: the p-value is then approximate).
    """
    columns = [j for j in range(len(table[0]) if table else 0) if any(row[j] for row in table)]
    rows = [[row[j] for j in columns] for row in table if sum(row[j] for j in columns)]
    if len(rows) < 2 or len(columns) < 2:
        return GroupTest("none", 0.0, (), 1.0, False, "fewer than two groups or two answers")
    row_totals = [sum(r) for r in rows]
    column_totals = [sum(r[j] for r in rows) for j in range(len(columns))]
    n = sum(row_totals)
    chi2 = 0.0
    small = 0
    for r, row in enumerate(rows):
        for c, observed in enumerate(row):
            expected = row_totals[r] * column_totals[c] / n
            small += expected < 5
            chi2 += (observed - expected) ** 2 / expected
    df = (len(rows) - 1) * (len(columns) - 1)
    reason = (
        "expected counts below 5 in more than 20% of cells" if small > 0.2 * len(rows) * len(columns) else ""
    )
    return GroupTest("chi_square", chi2, (df,), float(special.chdtrc(df, chi2)), True, reason)


# --- norms -------------------------------------------------------------------------------

NormVerdict = Literal["met", "missed", "no_grades", "exemption_possible"]


@dataclass(frozen=True)
class NormOutcome:
    """The norm's verdict for a provider, with the reason in words (Dutch for the report)."""

    verdict: NormVerdict
    reason: str
    used_corrected_mean: bool = False
    failing_units: tuple[str, ...] = field(default_factory=tuple)

    @property
    def met(self) -> bool:
        return self.verdict == "met"


def evaluate_unit_norm(
    norms: NormSettings, total: GradeSummary, units: Mapping[str, GradeSummary]
) -> NormOutcome:
    """Blik op Werk: total mean ≥ total_mean_min and every unit ≥ per_unit_mean_min; when
    missed and the scheme allows it, the same test on the corrected means.
    UWV re-integratie: every perceel ≥ per_unit_mean_min (no total norm)."""
    if total.n == 0:
        return NormOutcome("no_grades", "Geen rapportcijfers ontvangen.")
    plain = _unit_norm(norms, total, units, mean)
    if plain.met or not norms.use_corrected_mean:
        return plain

    def corrected(s: GradeSummary) -> float | None:
        return corrected_mean(s, norms.corrected_mean_failing_value)

    again = _unit_norm(norms, total, units, corrected)
    if again.met:
        return NormOutcome(
            "met",
            f"Norm gehaald met het gecorrigeerde gemiddelde (onvoldoendes geteld als "
            f"{_nl(norms.corrected_mean_failing_value)}). {plain.reason}",
            used_corrected_mean=True,
        )
    return NormOutcome("missed", again.reason, used_corrected_mean=True, failing_units=again.failing_units)


def _unit_norm(
    norms: NormSettings,
    total: GradeSummary,
    units: Mapping[str, GradeSummary],
    compute: Callable[[GradeSummary], float | None],
) -> NormOutcome:
    reasons: list[str] = []
    total_value = compute(total)
    if norms.total_mean_min is not None and total_value is not None and total_value < norms.total_mean_min:
        reasons.append(f"totaal {_nl(total_value)} < {_nl(norms.total_mean_min)}")
    failing = tuple(
        code
        for code, s in sorted(units.items())
        if norms.per_unit_mean_min is not None
        and (value := compute(s)) is not None
        and value < norms.per_unit_mean_min
    )
    for code in failing:
        reasons.append(f"{code}: {_nl(compute(units[code]))} < {_nl(norms.per_unit_mean_min)}")
    if reasons:
        return NormOutcome("missed", "Norm niet gehaald: " + "; ".join(reasons) + ".", failing_units=failing)
    return NormOutcome("met", "Norm gehaald.")


def evaluate_respondent_type_norm(norms: NormSettings, by_type: Mapping[str, GradeSummary]) -> NormOutcome:
    """UWV jobcoach: the mean of each respondent type (werknemer, werkgever) ≥ its minimum."""
    reasons = []
    for respondent_type, minimum in sorted(norms.per_respondent_type_mean_min.items()):
        value = mean(by_type.get(respondent_type, GradeSummary()))
        if value is None:
            reasons.append(f"{respondent_type}: geen cijfers")
        elif value < minimum:
            reasons.append(f"{respondent_type}: {_nl(value)} < {_nl(minimum)}")
    if reasons:
        return NormOutcome("missed", "Norm niet gehaald: " + "; ".join(reasons) + ".")
    return NormOutcome("met", "Norm gehaald.")


def exemption_possible(norms: NormSettings, ended_services: int) -> bool:
    """UWV: fewer than 5 ended services in a perceel → the provider may ask for an exemption."""
    limit = norms.exemption_below_ended_services
    return limit is not None and ended_services < limit


def _nl(value: float | None) -> str:
    """A figure as the report writes it: one decimal, decimal comma."""
    return "–" if value is None else f"{round_half_up(value, 1)}".replace(".", ",")
