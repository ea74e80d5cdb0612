"""A callback appointment (terugbelafspraak) is ahead and within calling hours
(services/invitations/waves.py: appointment_problem)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from services.invitations.waves import CallingHours, appointment_problem

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)  # a Friday


def test_an_appointment_on_a_weekday_within_calling_hours_is_fine() -> None:
    assert appointment_problem(datetime(2026, 12, 7, 10, 30, tzinfo=AMSTERDAM), NOW, CallingHours()) is None


def test_an_appointment_in_the_evening_after_nine_is_refused() -> None:
    problem = appointment_problem(datetime(2026, 12, 7, 21, 15, tzinfo=AMSTERDAM), NOW, CallingHours())
    assert problem is not None and "beltijden" in problem


def test_an_appointment_on_a_sunday_is_refused() -> None:
    problem = appointment_problem(datetime(2026, 12, 6, 11, 0, tzinfo=AMSTERDAM), NOW, CallingHours())
    assert problem is not None and "beltijden" in problem


def test_an_appointment_in_the_past_is_refused() -> None:
    problem = appointment_problem(datetime(2026, 12, 3, 10, 0, tzinfo=AMSTERDAM), NOW, CallingHours())
    assert problem is not None and "toekomst" in problem


def test_an_appointment_without_a_time_zone_is_refused() -> None:
    problem = appointment_problem(datetime(2026, 12, 7, 10, 0), NOW, CallingHours())
    assert problem is not None and "tijdzone" in problem
