"""Questionnaires as data: the files, each question type's validation, routing, usability, promoters."""

from __future__ import annotations

from typing import Any

import pytest

from shared.questionnaires import (
    MSG_CHOOSE,
    MSG_GRADE_ONE_DECIMAL,
    MSG_GRADE_RANGE,
    MSG_GRADE_WHOLE,
    MSG_HIDDEN,
    MSG_MATRIX,
    MSG_NOT_AN_OPTION,
    MSG_OTHER_TEXT,
    MSG_PERCENTAGE,
    MSG_RANK_ALL,
    MSG_WHOLE_NUMBER,
    FreeTextQuestion,
    Questionnaire,
    QuestionnaireConfigError,
    all_questionnaires,
    is_usable,
    load_questionnaire,
    parse_questionnaire,
    promoter_class,
    promoter_score,
    validate_answers,
    visible_questions,
)
from shared.schemes import all_schemes

# --- helpers ----------------------------------------------------------------------


def _questionnaire(*questions: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A questionnaire definition around ``questions``; the first one decides usability."""
    return {
        "questionnaire_id": "test",
        "version": 1,
        "title": "Test",
        "respondent_type": "client",
        "variant": "regular",
        "language_level": "B1",
        "questions": list(questions),
        "usable_when_answered": [questions[0]["id"]],
        **extra,
    }


def _one(question: dict[str, Any]) -> Questionnaire:
    return parse_questionnaire(_questionnaire(question), "test.yaml")


def _errors(question: dict[str, Any], raw: dict[str, object]) -> dict[str, str]:
    return validate_answers(_one(question), raw).errors


def _answers(question: dict[str, Any], raw: dict[str, object]) -> dict[str, object]:
    validated = validate_answers(_one(question), raw)
    assert validated.ok, validated.errors
    return dict(validated.answers)


CHOICE = {
    "id": "q",
    "type": "single_choice",
    "text": "Wat?",
    "options": [
        {"value": "a", "label": "A"},
        {"value": "b", "label": "B"},
        {"value": "anders", "label": "Anders, namelijk:", "other": True},
    ],
}


# --- the files ----------------------------------------------------------------------


def test_every_questionnaire_file_loads_and_validates() -> None:
    assert set(all_questionnaires()) == {
        "minimal-v1",
        "bow-client-regular",
        "bow-client-laagdrempelig",
        "bow-client-inburgering",
        "bow-opdrachtgever",
        "uwv-reintegratie-client",
        "uwv-jobcoach-werknemer",
        "uwv-jobcoach-werkgever",
        "staff-survey",
    }


def test_every_questionnaire_a_scheme_names_exists_for_that_respondent_type() -> None:
    for scheme in all_schemes().values():
        for key, questionnaire_id in scheme.questionnaires.items():
            assert load_questionnaire(questionnaire_id).respondent_type == key.split("/")[0]


def test_the_low_threshold_variant_has_the_same_question_ids_as_the_regular_one() -> None:
    regular = load_questionnaire("bow-client-regular")
    simple = load_questionnaire("bow-client-laagdrempelig")
    assert set(simple.question_ids()) == set(regular.question_ids())


def test_the_low_threshold_variant_keeps_types_routing_and_answer_values_so_results_pool() -> None:
    regular = load_questionnaire("bow-client-regular")
    simple = load_questionnaire("bow-client-laagdrempelig")
    for ours, theirs in zip(simple.questions, regular.questions, strict=True):
        assert (ours.id, ours.type, ours.routing) == (theirs.id, theirs.type, theirs.routing)
        assert [o.value for o in ours.choices()] == [o.value for o in theirs.choices()]
    assert simple.usable_when_answered == regular.usable_when_answered
    assert simple.promoter == regular.promoter


def test_the_low_threshold_variant_can_be_listened_to() -> None:
    assert load_questionnaire("bow-client-laagdrempelig").audio_available


def test_the_jobcoach_werknemer_form_asks_the_seeds_questions_on_nee_niet_helemaal_ja() -> None:
    form = load_questionnaire("uwv-jobcoach-werknemer")
    rated = [q for q in form.questions if q.type == "yes_partly_no"]
    assert [q.text for q in rated] == [
        "Bent u tevreden over de begeleiding van de jobcoach?",
        "Bent u tevreden over de bereikbaarheid van de jobcoach (per telefoon/email/app)?",
    ]
    assert [o.label for o in rated[0].choices()] == ["Nee", "Niet helemaal", "Ja"]


def test_the_jobcoach_werkgever_form_rates_nine_questions_from_onvoldoende_to_goed() -> None:
    form = load_questionnaire("uwv-jobcoach-werkgever")
    rated = [q for q in form.questions if q.type == "rating4"]
    assert len(rated) == 9
    assert [o.label for o in rated[0].choices()] == ["Onvoldoende", "Matig", "Voldoende", "Goed"]


def test_opdrachtgevers_may_grade_with_one_decimal() -> None:
    validated = validate_answers(load_questionnaire("bow-opdrachtgever"), {"grade": "7,5"})
    assert "grade" not in validated.errors
    assert validated.answers["grade"] == 7.5


def test_an_unknown_questionnaire_or_version_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        load_questionnaire("no-such-questionnaire")
    with pytest.raises(KeyError):
        load_questionnaire("minimal-v1", version=99)


def test_the_current_version_is_found_by_its_number() -> None:
    assert load_questionnaire("minimal-v1", version=1) == load_questionnaire("minimal-v1")


# --- checks on a definition ---------------------------------------------------------


def test_a_field_with_a_typo_is_refused_naming_the_file_and_field() -> None:
    definition = _questionnaire({"id": "g", "type": "grade", "text": "Cijfer?", "decimal": True})
    with pytest.raises(QuestionnaireConfigError, match=r"(?s)bad\.yaml.*decimal"):
        parse_questionnaire(definition, "bad.yaml")


def test_routing_may_only_refer_to_an_earlier_question() -> None:
    later = {"id": "later", "type": "single_choice", "text": "?", "options": CHOICE["options"]}
    early = {**CHOICE, "id": "early", "routing": [{"question": "later", "any_of": ["a"]}]}
    with pytest.raises(QuestionnaireConfigError, match="no earlier question"):
        parse_questionnaire(_questionnaire(early, later), "routing.yaml")


def test_routing_on_an_answer_the_question_does_not_have_is_refused() -> None:
    routed = {"id": "r", "type": "free_text", "text": "?", "routing": [{"question": "q", "any_of": ["c"]}]}
    with pytest.raises(QuestionnaireConfigError, match="has no answer"):
        parse_questionnaire(_questionnaire(CHOICE, routed), "routing.yaml")


def test_usable_questions_must_exist() -> None:
    definition = {**_questionnaire(CHOICE), "usable_when_answered": ["missing"]}
    with pytest.raises(QuestionnaireConfigError, match="unknown question 'missing'"):
        parse_questionnaire(definition, "usable.yaml")


def test_the_promoter_mapping_must_name_an_existing_question() -> None:
    definition = _questionnaire(CHOICE, promoter={"question": "missing", "classes": {"a": "promoter"}})
    with pytest.raises(QuestionnaireConfigError, match="promoter mapping names unknown question"):
        parse_questionnaire(definition, "promoter.yaml")


def test_the_promoter_mapping_may_only_map_answers_the_question_has() -> None:
    definition = _questionnaire(CHOICE, promoter={"question": "q", "classes": {"z": "promoter"}})
    with pytest.raises(QuestionnaireConfigError, match="does not have"):
        parse_questionnaire(definition, "promoter.yaml")


# --- one question type at a time ----------------------------------------------------

GRADE = {"id": "g", "type": "grade", "text": "Cijfer?"}


def test_a_grade_is_a_whole_number_from_one_to_ten() -> None:
    assert _answers(GRADE, {"g": "8"}) == {"g": 8}
    assert _errors(GRADE, {"g": "11"}) == {"g": MSG_GRADE_RANGE}
    assert _errors(GRADE, {"g": "acht"}) == {"g": MSG_GRADE_RANGE}


def test_a_grade_with_a_decimal_is_refused_where_decimals_are_not_allowed() -> None:
    assert _errors(GRADE, {"g": "7,5"}) == {"g": MSG_GRADE_WHOLE}


def test_a_decimal_grade_allows_one_digit_after_the_comma() -> None:
    decimal_grade = {**GRADE, "decimals": True}
    assert _answers(decimal_grade, {"g": "7,5"}) == {"g": 7.5}
    assert _answers(decimal_grade, {"g": 6.0}) == {"g": 6}
    assert _errors(decimal_grade, {"g": "7,25"}) == {"g": MSG_GRADE_ONE_DECIMAL}


def test_a_missing_required_answer_is_named() -> None:
    assert _errors(GRADE, {}) == {"g": MSG_CHOOSE}
    assert _errors({**GRADE, "required": False}, {}) == {}


def test_satisfaction_takes_the_five_point_scale_with_geen_mening() -> None:
    question = {"id": "s", "type": "satisfaction5", "text": "Hoe tevreden?"}
    assert _answers(question, {"s": "geen_mening"}) == {"s": "geen_mening"}
    assert _errors(question, {"s": "blij"}) == {"s": MSG_NOT_AN_OPTION}


def test_yes_partly_no_takes_ja_niet_helemaal_nee() -> None:
    question = {"id": "y", "type": "yes_partly_no", "text": "Tevreden?"}
    assert _answers(question, {"y": "niet_helemaal"}) == {"y": "niet_helemaal"}
    assert _errors(question, {"y": "misschien"}) == {"y": MSG_NOT_AN_OPTION}


def test_rating4_takes_onvoldoende_to_goed() -> None:
    question = {"id": "r", "type": "rating4", "text": "Uw mening?"}
    assert _answers(question, {"r": "voldoende"}) == {"r": "voldoende"}
    assert _errors(question, {"r": "slecht"}) == {"r": MSG_NOT_AN_OPTION}


def test_likelihood_is_a_whole_number_from_zero_to_ten() -> None:
    question = {"id": "l", "type": "likelihood0_10", "text": "Hoe waarschijnlijk?"}
    assert _answers(question, {"l": "0"}) == {"l": 0}
    assert _errors(question, {"l": "11"}) == {"l": "Vul een getal in van 0 tot en met 10."}


def test_single_choice_takes_one_of_its_options() -> None:
    assert _answers(CHOICE, {"q": "b"}) == {"q": "b"}
    assert _errors(CHOICE, {"q": "c"}) == {"q": MSG_NOT_AN_OPTION}


def test_anders_namelijk_needs_its_text() -> None:
    assert _errors(CHOICE, {"q": "anders"}) == {"q": MSG_OTHER_TEXT}
    assert _answers(CHOICE, {"q": "anders", "q.other": " Via de huisarts "}) == {
        "q": "anders",
        "q.other": "Via de huisarts",
    }


def test_multiple_choice_keeps_the_chosen_options_in_option_order() -> None:
    question = {**CHOICE, "type": "multiple_choice"}
    assert _answers(question, {"q": ["b", "a"]}) == {"q": ["a", "b"]}
    assert _errors(question, {"q": ["a", "z"]}) == {"q": MSG_NOT_AN_OPTION}


def test_multiple_choice_holds_to_its_maximum() -> None:
    question = {**CHOICE, "type": "multiple_choice", "max_choices": 1}
    assert _errors(question, {"q": ["a", "b"]}) == {"q": "Kies er hoogstens 1."}


def test_multiple_choice_with_anders_needs_its_text() -> None:
    question = {**CHOICE, "type": "multiple_choice"}
    assert _errors(question, {"q": ["a", "anders"]}) == {"q": MSG_OTHER_TEXT}


def test_numeric_holds_to_its_range_and_whole_numbers() -> None:
    question = {"id": "n", "type": "numeric", "text": "Hoeveel?", "min": 0, "max": 40}
    assert _answers(question, {"n": "12"}) == {"n": 12}
    assert _errors(question, {"n": "41"}) == {"n": "Vul een getal in van 0 tot en met 40."}
    assert _errors(question, {"n": "2,5"}) == {"n": MSG_WHOLE_NUMBER}


RANKING = {
    "id": "rank",
    "type": "ranking",
    "text": "Volgorde?",
    "items": [{"value": v, "label": v.upper()} for v in ("a", "b", "c")],
}


def test_a_ranking_puts_every_item_in_its_own_place() -> None:
    assert _answers(RANKING, {"rank": ["c", "a", "b"]}) == {"rank": ["c", "a", "b"]}
    assert _answers(RANKING, {"rank.a": "2", "rank.b": "3", "rank.c": "1"}) == {"rank": ["c", "a", "b"]}
    assert _errors(RANKING, {"rank.a": "1", "rank.b": "1", "rank.c": "2"}) == {"rank": MSG_RANK_ALL}


def test_a_top_k_ranking_takes_exactly_k_items() -> None:
    top_two = {**RANKING, "top_k": 2}
    assert _answers(top_two, {"rank": ["b", "a"]}) == {"rank": ["b", "a"]}
    assert _errors(top_two, {"rank": ["b"]}) == {
        "rank": "Kies precies 2 onderdelen en zet ze in volgorde: 1, 2, 3 enzovoort."
    }


ALLOCATION = {
    "id": "tijd",
    "type": "percentage_allocation",
    "text": "Verdeling?",
    "items": [{"value": v, "label": v} for v in ("klanten", "administratie", "overig")],
}


def test_a_percentage_allocation_sums_to_100_with_blanks_as_zero() -> None:
    assert _answers(ALLOCATION, {"tijd.klanten": "60", "tijd.administratie": "40", "tijd.overig": ""}) == {
        "tijd.klanten": 60,
        "tijd.administratie": 40,
        "tijd.overig": 0,
    }


def test_a_percentage_allocation_that_does_not_sum_to_100_is_refused() -> None:
    assert _errors(ALLOCATION, {"tijd": {"klanten": 50, "administratie": 40}}) == {
        "tijd": "De percentages moeten samen 100 zijn; nu is het samen 90."
    }
    assert _errors(ALLOCATION, {"tijd.klanten": "-10", "tijd.overig": "110"}) == {"tijd": MSG_PERCENTAGE}


MATRIX = {
    "id": "stellingen",
    "type": "likert_matrix",
    "text": "Eens?",
    "items": [{"value": "ruimte", "label": "Ruimte"}, {"value": "regels", "label": "Regels"}],
}


def test_a_likert_matrix_takes_one_to_five_per_statement() -> None:
    assert _answers(MATRIX, {"stellingen.ruimte": "4", "stellingen.regels": 2}) == {
        "stellingen.ruimte": 4,
        "stellingen.regels": 2,
    }
    assert _errors(MATRIX, {"stellingen.ruimte": "6", "stellingen.regels": "2"}) == {"stellingen": MSG_MATRIX}


def test_a_required_likert_matrix_needs_every_statement() -> None:
    assert _errors(MATRIX, {"stellingen.ruimte": "4"}) == {"stellingen": MSG_MATRIX}


def test_free_text_holds_to_its_maximum_length() -> None:
    question = {"id": "t", "type": "free_text", "text": "Opmerkingen?", "max_length": 10}
    assert _answers(question, {"t": "Prima"}) == {"t": "Prima"}
    assert _errors(question, {"t": "x" * 11}) == {"t": "Uw antwoord is te lang: hoogstens 10 tekens."}


def test_free_text_is_flagged_as_possibly_identifying() -> None:
    question = _one({"id": "t", "type": "free_text", "text": "Opmerkingen?"}).question("t")
    assert isinstance(question, FreeTextQuestion)
    assert question.identifying


def test_keys_of_no_question_are_ignored() -> None:
    assert _answers(GRADE, {"g": "8", "csrf": "abc"}) == {"g": 8}


# --- routing ------------------------------------------------------------------------

BOW = "bow-client-regular"


def test_a_question_hidden_by_routing_is_not_asked() -> None:
    questionnaire = load_questionnaire(BOW)
    shown = {q.id for q in visible_questions(questionnaire, {"complaint": "nee"})}
    assert "complaint_filed" not in shown
    shown = {q.id for q in visible_questions(questionnaire, {"complaint": "ja"})}
    assert "complaint_filed" in shown


def test_a_question_routed_on_a_hidden_question_is_hidden_too() -> None:
    shown = {q.id for q in visible_questions(load_questionnaire(BOW), {"complaint": "nee"})}
    assert "complaint_resolved" not in shown


def test_a_hidden_question_needs_no_answer() -> None:
    errors = validate_answers(load_questionnaire(BOW), _bow_response(complaint="nee")).errors
    assert errors == {}


def test_an_answer_to_a_hidden_question_is_refused() -> None:
    raw = {**_bow_response(complaint="nee"), "complaint_filed": "ja"}
    validated = validate_answers(load_questionnaire(BOW), raw)
    assert validated.errors == {"complaint_filed": MSG_HIDDEN}
    assert "complaint_filed" not in validated.answers


def test_a_shown_routed_question_is_required() -> None:
    errors = validate_answers(load_questionnaire(BOW), _bow_response(complaint="ja")).errors
    assert errors == {"complaint_filed": MSG_CHOOSE}


def test_a_refused_earlier_answer_does_not_make_its_routed_questions_required() -> None:
    # The respondent first corrects the earlier answer; only then is the follow-up asked.
    errors = validate_answers(load_questionnaire(BOW), _bow_response(complaint="misschien")).errors
    assert errors == {"complaint": MSG_NOT_AN_OPTION}


def test_routing_on_a_multiple_choice_shows_the_question_for_any_chosen_option() -> None:
    questionnaire = load_questionnaire("bow-opdrachtgever")
    shown = {q.id for q in visible_questions(questionnaire, {"services_bought": ["5", "9"]})}
    assert {"persons_5", "persons_9"} <= shown
    assert "persons_1" not in shown


# --- usability and promoters --------------------------------------------------------


def test_a_bow_response_counts_only_when_every_service_aspect_is_answered() -> None:
    questionnaire = load_questionnaire(BOW)
    answers = validate_answers(questionnaire, _bow_response()).answers
    assert is_usable(questionnaire, answers)
    del answers["aspect_job_help"]
    assert not is_usable(questionnaire, answers)


def test_seed_000_promoter_score_is_37_5_from_eight_clients() -> None:
    # Seed 000: 8 usable questionnaires, zeer tevreden 3, tevreden 4, zeer ontevreden 1, promoter
    # score 37.5: 4 recommended (promoters), 3 would (passive), 1 advised against (detractor).
    questionnaire = load_questionnaire(BOW)
    panel = [
        *[_bow_response(recommended="ja", satisfaction="zeer_tevreden", grade=g) for g in (10, 9, 9)],
        _bow_response(recommended="ja", satisfaction="tevreden", grade=9),
        *[_bow_response(recommended="nee_zou_wel", satisfaction="tevreden", grade=g) for g in (9, 8, 8)],
        _bow_response(recommended="afgeraden", satisfaction="zeer_ontevreden", grade=6),
    ]
    answers = [validate_answers(questionnaire, raw) for raw in panel]
    assert all(a.ok and is_usable(questionnaire, a.answers) for a in answers)
    assert promoter_score([promoter_class(questionnaire, a.answers) for a in answers]) == 37.5


def test_a_0_to_10_recommendation_maps_9_and_10_to_promoter_and_0_to_6_to_detractor() -> None:
    questionnaire = load_questionnaire("uwv-reintegratie-client")
    classes = {n: promoter_class(questionnaire, {"recommend_likelihood": n}) for n in range(11)}
    assert [n for n, c in classes.items() if c == "promoter"] == [9, 10]
    assert [n for n, c in classes.items() if c == "passive"] == [7, 8]
    assert [n for n, c in classes.items() if c == "detractor"] == list(range(7))


def test_a_response_without_a_recommendation_is_not_counted_for_the_promoter_score() -> None:
    assert promoter_class(load_questionnaire(BOW), {"grade": 8}) is None
    assert promoter_score([None, None]) is None


def _bow_response(
    *, recommended: str = "ja", satisfaction: str = "tevreden", grade: int = 8, complaint: str = "nee"
) -> dict[str, object]:
    """A complete, valid web form for the Blik op Werk client questionnaire."""
    aspects = load_questionnaire(BOW).usable_when_answered
    return {
        "grade": str(grade),
        "recommended": recommended,
        "reason": "eigen_initiatief",
        "contact_frequency": "een",
        "contact_ways": ["persoonlijk", "telefonisch"],
        "contact_amount": "precies_goed",
        "fixed_contact": "ja",
        **dict.fromkeys(aspects, satisfaction),
        "expectations": "zoals_verwacht",
        "complaint": complaint,
    }
