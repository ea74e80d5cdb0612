"""How long a questionnaire takes (the estimate respondents are told) and the provider's name
piped into question texts."""

from __future__ import annotations

import pytest

from shared.questionnaires import (
    SECONDS_PER_QUESTION,
    SECONDS_PER_SECTION,
    QuestionnaireConfigError,
    estimated_minutes,
    estimated_seconds,
    load_questionnaire,
    parse_questionnaire,
    with_provider,
)


def _closed(n: int, level: str = "B1") -> dict[str, object]:
    return {
        "questionnaire_id": "effort",
        "version": 1,
        "title": "Effort",
        "respondent_type": "client",
        "variant": "regular",
        "language_level": level,
        "questions": [{"id": f"q{i}", "type": "yes_partly_no", "text": f"Vraag {i}?"} for i in range(n)],
        "usable_when_answered": ["q0"],
    }


def test_each_closed_question_adds_its_documented_time() -> None:
    ten = parse_questionnaire(_closed(10), "test")
    assert estimated_seconds(ten) == SECONDS_PER_SECTION + 10 * SECONDS_PER_QUESTION


def test_the_estimate_is_rounded_up_to_whole_minutes() -> None:
    assert estimated_minutes(parse_questionnaire(_closed(1), "test")) == 1
    assert estimated_minutes(parse_questionnaire(_closed(5), "test")) == 2  # 65 s


def test_simple_dutch_questionnaires_are_estimated_slower() -> None:
    plain = parse_questionnaire(_closed(10), "test")
    simple = parse_questionnaire(_closed(10, "A2"), "test")
    assert estimated_seconds(simple) == 1.5 * estimated_seconds(plain)


def test_the_regular_client_questionnaire_takes_more_than_five_minutes() -> None:
    # 27 questions over 10 pages: the old "ongeveer 5 minuten" was too low.
    assert estimated_minutes(load_questionnaire("bow-client-regular")) > 5


def test_the_provider_name_is_piped_into_a_question_that_names_it() -> None:
    question = load_questionnaire("bow-client-regular").question("recommended")
    shown = with_provider(question.text, question.provider_text, "Pluswerk Reïntegratie")
    assert shown == "Heeft u Pluswerk Reïntegratie aangeraden bij anderen?"


def test_without_a_provider_name_the_question_keeps_its_plain_text() -> None:
    question = load_questionnaire("bow-client-regular").question("recommended")
    assert with_provider(question.text, question.provider_text, None) == question.text


def test_a_provider_text_without_the_placeholder_is_refused() -> None:
    data = _closed(1)
    data["questions"] = [{"id": "q0", "type": "yes_partly_no", "text": "Vraag?", "provider_text": "Vraag?"}]
    with pytest.raises(QuestionnaireConfigError, match="provider_text"):
        parse_questionnaire(data, "test")
