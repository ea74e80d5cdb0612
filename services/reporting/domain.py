"""Reporting domain: which snapshots to report, and the report model in Dutch.

Pure: no I/O, no framework. The report model holds display-ready text only
(Dutch labels, comma decimals), so the template does no arithmetic and no formatting.
Snapshots are aggregates: a report never holds anything about one person.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from shared.events import SAFE_ID_MAX_LENGTH, SAFE_ID_PATTERN

NO_FIGURE = "–"  # shown where there is nothing to compute yet (no net sample, no grades)
DUTCH_MONTHS = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip
REPORT_ZONE = ZoneInfo("Europe/Amsterdam")


def is_safe_id(value: str) -> bool:
    """True when ``value`` can be used as one path part without escaping the report folder."""
    return len(value) <= SAFE_ID_MAX_LENGTH and re.fullmatch(SAFE_ID_PATTERN, value) is not None


@dataclass(frozen=True)
class Snapshot:
    """One provider's figures in one study at ``as_of`` (from ``scores.updated``)."""

    study_id: str
    provider_id: str
    net_sample: int  # netto steekproef
    completed: int  # aantal bruikbare vragenlijsten
    response_rate: float | None  # respons, as a fraction
    mean_grade: float | None  # gemiddeld rapportcijfer
    grade_sum: float
    as_of: datetime

    @property
    def key(self) -> tuple[str, str]:
        return (self.study_id, self.provider_id)


def newest_per_provider(snapshots: Iterable[Snapshot]) -> list[Snapshot]:
    """The newest snapshot of each provider in a batch; on a tie the later one wins."""
    newest: dict[tuple[str, str], Snapshot] = {}
    for snapshot in snapshots:
        kept = newest.get(snapshot.key)
        if kept is None or snapshot.as_of >= kept.as_of:
            newest[snapshot.key] = snapshot
    return sorted(newest.values(), key=lambda s: s.key)


# --- Dutch number formatting ------------------------------------------------------


def format_decimal(value: float, places: int = 1) -> str:
    """``8.45`` -> ``"8,5"``: rounded half up as a reader expects (not the float's binary value)."""
    exact = Decimal(repr(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    whole, _, fraction = f"{abs(exact):f}".partition(".")
    sign = "-" if exact < 0 else ""
    return sign + format_count(int(whole)) + ("," + fraction if fraction else "")


def format_count(count: int) -> str:
    """``1234`` -> ``"1.234"``: a point groups the thousands in Dutch."""
    return f"{count:,}".replace(",", ".")


def format_percentage(fraction: float | None) -> str:
    """Respons: ``8/43`` -> ``"18,6%"``; ``"–"`` when there is no net sample."""
    return NO_FIGURE if fraction is None else format_decimal(fraction * 100) + "%"


def format_grade(mean: float | None) -> str:
    """Gemiddeld rapportcijfer with one decimal: ``"8,5"``; ``"–"`` when nobody gave one."""
    return NO_FIGURE if mean is None else format_decimal(mean)


def format_against_norm(value: float, minimum: float) -> str:
    """A mean as a norm sentence writes it: one decimal, or as many more (up to four) as it takes
    to show a miss that rounding would hide: 6.96 against 7 → ``"6,96"``, not ``"7,0"``. The norm
    compares the exact mean (see docs/disclosure.md)."""
    for places in range(1, 5):
        text = format_decimal(value, places)
        if value >= minimum or _parsed(text) < minimum:
            return text
    exact = Decimal(repr(value)).quantize(Decimal("0.0001"), rounding=ROUND_DOWN)
    return format_decimal(float(exact), 4)


def _parsed(text: str) -> Decimal:
    return Decimal(text.replace(".", "").replace(",", "."))


def format_moment(moment: datetime) -> str:
    """``"23 november 2025, 10:42"`` in Dutch time."""
    local = moment.astimezone(REPORT_ZONE)
    return f"{local.day} {DUTCH_MONTHS[local.month - 1]} {local.year}, {local:%H:%M}"


# --- the report model ---------------------------------------------------------------

TITLE = "Tevredenheidsonderzoek"
CAPTION = "Tabel 1.1 Respons en gemiddeld rapportcijfer"
COLUMNS = ("Netto steekproef", "Aantal bruikbare vragenlijsten", "Respons", "Gemiddeld rapportcijfer")


@dataclass(frozen=True)
class ResponseRow:
    """One row of the response table (tabel 1.1), every cell ready to print."""

    label: str
    net_sample: str
    completed: str
    response: str
    mean_grade: str

    @property
    def cells(self) -> tuple[str, str, str, str]:
        return (self.net_sample, self.completed, self.response, self.mean_grade)


@dataclass(frozen=True)
class Report:
    """Everything the report template shows, as text."""

    title: str
    study_id: str
    provider_id: str
    version: int
    status: str  # "Concept" until the hoor-en-wederhoor window closes
    as_of: str
    as_of_iso: str
    caption: str
    columns: tuple[str, ...]
    rows: tuple[ResponseRow, ...]


def response_row(label: str, snapshot: Snapshot) -> ResponseRow:
    return ResponseRow(
        label=label,
        net_sample=format_count(snapshot.net_sample),
        completed=format_count(snapshot.completed),
        response=format_percentage(snapshot.response_rate),
        mean_grade=format_grade(snapshot.mean_grade),
    )


def build_report(snapshot: Snapshot, version: int) -> Report:
    """The report model of one provider; later per-service rows join the provider total."""
    return Report(
        title=TITLE,
        study_id=snapshot.study_id,
        provider_id=snapshot.provider_id,
        version=version,
        status="Concept",
        as_of=format_moment(snapshot.as_of),
        as_of_iso=snapshot.as_of.isoformat(),
        caption=CAPTION,
        columns=COLUMNS,
        rows=(response_row("Totaal", snapshot),),
    )
