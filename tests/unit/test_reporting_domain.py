"""Reporting domain: which snapshots to report, Dutch formatting and the report model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.reporting.domain import (
    COLUMNS,
    NO_FIGURE,
    Snapshot,
    build_report,
    format_against_norm,
    format_count,
    format_grade,
    format_moment,
    format_percentage,
    is_safe_id,
    newest_per_provider,
)

T0 = datetime(2025, 11, 23, 9, 42, tzinfo=UTC)


def snap(provider_id: str = "pluswerk", *, at: datetime = T0, completed: int = 8, **kw: object) -> Snapshot:
    fields: dict[str, object] = {
        "study_id": "kto-2025",
        "provider_id": provider_id,
        "net_sample": 43,
        "completed": completed,
        "response_rate": completed / 43,
        "mean_grade": 8.5,
        "grade_sum": 68.0,
        "as_of": at,
    } | kw
    return Snapshot(**fields)  # type: ignore[arg-type]


def test_response_is_a_percentage_with_a_decimal_comma() -> None:
    assert format_percentage(8 / 43) == "18,6%"


def test_a_full_response_shows_one_decimal() -> None:
    assert format_percentage(1.0) == "100,0%"


def test_mean_grade_has_one_decimal_with_a_comma() -> None:
    assert format_grade(8.5) == "8,5"
    assert format_grade(7.0) == "7,0"


def test_mean_grade_rounds_half_up_as_a_reader_expects() -> None:
    # 8.45 is 8.4499... as a float; the reader sees 8.45 and expects 8,5.
    assert format_grade(8.45) == "8,5"
    assert format_grade(7.14) == "7,1"


def test_a_missing_figure_is_a_dash() -> None:
    assert format_percentage(None) == NO_FIGURE == "–"
    assert format_grade(None) == "–"


def test_thousands_are_grouped_with_a_point() -> None:
    assert format_count(1234567) == "1.234.567"
    assert format_count(43) == "43"


def test_the_moment_is_in_dutch_and_in_dutch_time() -> None:
    assert format_moment(T0) == "23 november 2025, 10:42"  # CET, UTC+1
    assert format_moment(datetime(2025, 7, 1, 9, 0, tzinfo=UTC)) == "1 juli 2025, 11:00"  # CEST


def test_only_the_newest_snapshot_per_provider_is_kept() -> None:
    old, new = snap(at=T0, completed=7), snap(at=T0 + timedelta(seconds=1), completed=8)
    other = snap("werkfit", at=T0 - timedelta(days=1))

    assert newest_per_provider([new, other, old]) == [new, other]


def test_of_two_snapshots_at_the_same_moment_the_later_one_wins() -> None:
    first, second = snap(completed=7), snap(completed=8)

    assert newest_per_provider([first, second]) == [second]


def test_no_snapshots_give_no_reports() -> None:
    assert newest_per_provider([]) == []


def test_the_report_shows_the_seed_000_figures_in_dutch() -> None:
    report = build_report(snap(), version=3)

    assert report.title == "Tevredenheidsonderzoek"
    assert report.columns == COLUMNS
    assert "Aantal bruikbare vragenlijsten" in COLUMNS and "Gemiddeld rapportcijfer" in COLUMNS
    [row] = report.rows
    assert (row.label, *row.cells) == ("Totaal", "43", "8", "18,6%", "8,5")
    assert (report.version, report.status) == (3, "Concept")
    assert report.as_of == "23 november 2025, 10:42"


def test_a_report_without_net_sample_or_grades_shows_dashes() -> None:
    report = build_report(
        snap(net_sample=0, completed=0, response_rate=None, mean_grade=None, grade_sum=0.0), version=1
    )

    assert report.rows[0].cells == ("0", "0", "–", "–")


@pytest.mark.parametrize("value", ["pluswerk", "kto-2025", "BoW_2025.1", "a" * 64])
def test_plain_ids_are_safe_path_parts(value: str) -> None:
    assert is_safe_id(value)


@pytest.mark.parametrize("value", ["", ".", "..", "...", "../etc", "a/b", "a\\b", "a b", "a" * 65, "ä"])
def test_ids_that_could_escape_the_report_folder_are_refused(value: str) -> None:
    assert not is_safe_id(value)


@pytest.mark.parametrize(
    ("mean", "says"),
    [
        (6.96, "6,96"),  # "7,0" would hide the miss of "≥ 7"
        (6.95, "6,95"),
        (6.999, "6,999"),
        (6.99999, "6,9999"),  # never rounded up to the norm
        (6.94, "6,9"),  # one decimal already shows the miss
        (7.0, "7,0"),
        (7.04, "7,0"),  # met: one decimal as everywhere
    ],
)
def test_a_mean_against_its_norm_shows_as_many_decimals_as_the_miss_needs(mean: float, says: str) -> None:
    assert format_against_norm(mean, 7.0) == says
