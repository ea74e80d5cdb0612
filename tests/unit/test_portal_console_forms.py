"""The forms of the bureau console and the interviewer screen read without I/O: a study, an
enrolment with its groups and sample sizes, keyed-in answers, an appointment's date and time;
and the dead-letter listing's envelope reading (never the payload)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from starlette.datastructures import FormData

from services.portal.console import enrolment_body, study_body
from services.portal.interviewer import answers_of, appointment_at, is_chosen
from services.scoring.deadletters import envelope_of, without_values


def test_a_study_form_becomes_the_invitations_request() -> None:
    body, errors = study_body(
        FormData(
            {
                "study_id": "bow-2026",
                "name": "Blik op Werk 2026",
                "scheme_id": "bow",
                "year": "2026",
                "period_start": "2026-01-01",
                "period_end": "2026-12-31",
            }
        )
    )
    assert errors == {}
    assert body == {
        "study_id": "bow-2026",
        "name": "Blik op Werk 2026",
        "scheme_id": "bow",
        "year": 2026,
        "period_start": "2026-01-01",
        "period_end": "2026-12-31",
    }


def test_a_study_form_says_per_field_what_is_wrong() -> None:
    _, errors = study_body(
        FormData({"study_id": "Bow 2026", "name": "", "year": "twintig", "period_end": "31-12"})
    )
    assert set(errors) == {"study_id", "name", "year", "period_end"}


def test_an_enrolment_form_reads_services_phone_option_groups_and_sample_sizes() -> None:
    body, errors = enrolment_body(
        FormData(
            {
                "services": "3, 4",
                "phone_option": "ja",
                "phone_interviews": "25",
                "group_variants": "doelgroep=jongeren\n",
                "sample_sizes": "3=40\n4=10",
            }
        )
    )
    assert errors == {}
    assert body == {
        "services": ["3", "4"],
        "phone_option": True,
        "phone_interviews": 25,
        "group_variants": {"doelgroep": "jongeren"},
        "sample_sizes": {"3": 40, "4": 10},
    }


def test_an_enrolment_form_refuses_sample_sizes_that_are_no_numbers() -> None:
    _, errors = enrolment_body(FormData({"services": "3", "sample_sizes": "3=veertig"}))
    assert set(errors) == {"sample_sizes"}


def test_keyed_in_answers_keep_every_ticked_box_and_drop_the_csrf_token() -> None:
    form = FormData([("csrf", "x"), ("grade", "8"), ("help", "cv"), ("help", "sollicitatie")])
    assert answers_of(form) == {"grade": "8", "help": ["cv", "sollicitatie"]}
    assert is_chosen(["cv", "sollicitatie"], "cv") and is_chosen("8", 8) and not is_chosen("8", 9)


def test_an_appointment_is_read_in_amsterdam_time() -> None:
    at = appointment_at("2026-12-07", "10:30")
    assert at == datetime(2026, 12, 7, 10, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
    assert appointment_at("", "10:30") is None and appointment_at("2026-12-07", "half elf") is None


def test_a_dead_letter_shows_only_its_envelopes_type_and_id() -> None:
    raw = b'{"type": "invitations.issued", "event_id": "e1", "payload": {"name": "Anna"}}'
    assert envelope_of(raw) == ("invitations.issued", "e1")
    assert envelope_of(b"not json") == (None, None)
    assert envelope_of(b"[1, 2]") == (None, None)


def test_a_dead_letters_error_loses_the_values_a_validation_message_quotes() -> None:
    error = (
        "1 validation error for Payload\nemail\n"
        "  Value error [type=value_error, input_value='anna@example.nl', input_type=str]"
    )
    assert "anna@" not in without_values(error) and "value_error" in without_values(error)
