"""Text PostgreSQL cannot store (shared/text.py): NUL and lone surrogates, found where they are."""

from __future__ import annotations

from shared.text import storable, unstorable_places


def test_ordinary_text_with_accents_and_emoji_is_storable() -> None:
    assert storable("Renée 😊 \t\n\x01")


def test_nul_and_lone_surrogates_are_not_storable() -> None:
    assert not storable("a\x00b")
    assert not storable("a\ud800b")
    assert not storable("\udfff")


def test_every_place_of_such_a_character_in_a_json_value_is_named() -> None:
    value = {"name": "ok", "answers": {"remarks": "a\x00", "list": ["x", "\ud800"]}, "n": 3}
    assert list(unstorable_places(value)) == [("answers", "remarks"), ("answers", "list", 1)]


def test_a_key_with_a_lone_surrogate_is_named_in_a_form_json_can_carry() -> None:
    [place] = unstorable_places({"P\udfff": "Werkt"})
    assert place == ("P\\udfff",)
    assert place[0].encode("utf-8")
