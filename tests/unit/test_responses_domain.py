"""Answer validation, usability and CSRF for the web questionnaire."""

from __future__ import annotations

from services.responses.domain import MINIMAL, csrf_token, csrf_valid, is_usable, validate_answers


def test_a_complete_form_gives_typed_answers() -> None:
    validated = validate_answers(MINIMAL, {"grade": "8", "recommend": "ja"})
    assert validated.ok
    assert validated.answers == {"grade": 8, "recommend": "ja"}


def test_a_missing_answer_is_named_and_the_others_are_kept() -> None:
    validated = validate_answers(MINIMAL, {"grade": "8"})
    assert validated.errors == {"recommend": "Kies een antwoord."}
    assert validated.answers == {"grade": 8}


def test_a_grade_outside_one_to_ten_is_refused() -> None:
    assert "grade" in validate_answers(MINIMAL, {"grade": "11", "recommend": "ja"}).errors


def test_a_response_without_a_grade_is_not_usable() -> None:
    assert not is_usable(MINIMAL, {"recommend": "ja"})
    assert is_usable(MINIMAL, {"grade": 3})


def test_a_csrf_token_only_fits_its_own_invitation() -> None:
    token = csrf_token(b"s", "a" * 64)
    assert csrf_valid(b"s", "a" * 64, token)
    assert not csrf_valid(b"s", "b" * 64, token)
