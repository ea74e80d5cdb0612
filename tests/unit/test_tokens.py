"""The personal code on letters: easy to read aloud and to type, hard to guess."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from shared.tokens import (
    LETTER_CODE_ALPHABET,
    LETTER_CODE_LENGTH,
    format_short_code,
    letter_code,
    normalise_letter_code,
)

SECRET = b"test-secret"


def test_the_alphabet_has_no_characters_that_are_mixed_up() -> None:
    assert not set("0O1IL") & set(LETTER_CODE_ALPHABET)
    assert len(set(LETTER_CODE_ALPHABET)) == len(LETTER_CODE_ALPHABET) == 31


@given(st.uuids())
def test_a_code_has_ten_characters_from_the_alphabet(invitation_id: uuid.UUID) -> None:
    code = letter_code(SECRET, invitation_id)
    assert len(code) == LETTER_CODE_LENGTH and set(code) <= set(LETTER_CODE_ALPHABET)


def test_a_code_depends_on_the_secret_and_the_invitation() -> None:
    invitation_id = uuid.uuid4()
    assert letter_code(SECRET, invitation_id) == letter_code(SECRET, invitation_id)
    assert letter_code(SECRET, invitation_id) != letter_code(b"other", invitation_id)
    assert letter_code(SECRET, invitation_id) != letter_code(SECRET, uuid.uuid4())


@given(st.uuids())
def test_a_code_typed_in_lower_case_with_spaces_or_a_hyphen_is_understood(invitation_id: uuid.UUID) -> None:
    code = letter_code(SECRET, invitation_id)
    typed = f" {format_short_code(code).lower()} "
    assert normalise_letter_code(typed) == code
    assert normalise_letter_code(code[:5] + " " + code[5:]) == code


def test_a_code_with_a_zero_or_a_one_or_the_wrong_length_is_none() -> None:
    assert normalise_letter_code("ABCDE-FGH20") is None
    assert normalise_letter_code("ABCDE-FGH21") is None
    assert normalise_letter_code("ABCDE-FGH2") is None
