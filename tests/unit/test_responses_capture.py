"""Pages, routing, paper rows, rate limiting and spoken questions: the pure rules of response capture."""

from __future__ import annotations

import struct
import uuid

import pytest

import shared.questionnaires as questionnaires
from services.responses.domain import (
    PaperFileError,
    PaperRow,
    RateLimiter,
    display_values,
    fix_wav_sizes,
    form_values,
    in_english,
    is_chosen,
    paging,
    paper_answers,
    read_aloud_text,
    read_paper_csv,
    spoken_texts,
    take_page,
    wav_duration,
)
from shared.questionnaires import load_questionnaire
from shared.tokens import format_short_code, normalise_short_code, short_code

REGULAR = load_questionnaire("bow-client-regular")
SIMPLE = load_questionnaire("bow-client-laagdrempelig")
STAFF = load_questionnaire("staff-survey")
OPDRACHTGEVER = load_questionnaire("bow-opdrachtgever")

ASPECTS = {q: "tevreden" for q in REGULAR.usable_when_answered}
COMPLETE_REGULAR: dict[str, object] = {
    "grade": "8",
    "recommended": "ja",
    "reason": "eigen_initiatief",
    "contact_frequency": "een",
    "contact_ways": ["persoonlijk", "email"],
    "contact_amount": "precies_goed",
    "fixed_contact": "ja",
    **ASPECTS,
    "expectations": "beter",
    "complaint": "nee",
}


def page_ids(questionnaire: questionnaires.Questionnaire, index: int) -> list[str]:
    return [q.id for q in paging(questionnaire).pages[index].questions]


# --- pages -----------------------------------------------------------------------------


def test_each_section_is_a_page_and_the_progress_counts_sections() -> None:
    pages = paging(REGULAR)
    assert pages.parts == len(REGULAR.sections)
    assert page_ids(REGULAR, 0) == ["grade", "recommended"]
    assert pages.pages[0].section is not None and pages.pages[0].section.title == "Uw oordeel"


def test_a_section_is_split_where_a_question_is_routed_on_one_on_the_same_page() -> None:
    pages = paging(REGULAR)
    assert page_ids(REGULAR, 1) == ["reason"]
    assert page_ids(REGULAR, 2) == ["sanction_threat"]
    assert pages.pages[1].part == pages.pages[2].part == 2


def test_the_progress_counts_pages_so_it_rises_on_a_split_section() -> None:
    pages = paging(REGULAR)
    answers = {"grade": 7, "reason": "verplicht", "sanction_threat": "ja"}
    numbers = [pages.progress(i, answers)[0] for i in (0, 1, 2, 3)]
    assert numbers == [1, 2, 3, 4]  # pages 1 and 2 are one section: "Deel 2" only once
    assert len({pages.progress(i, answers)[1] for i in (0, 1, 2, 3)}) == 1


def test_pages_routed_away_are_not_counted() -> None:
    pages = paging(REGULAR)
    before = pages.progress(1, {"grade": 7})
    after = pages.progress(4, {"grade": 7, "reason": "eigen_initiatief"})
    assert after == (3, before[1] - 2)  # the two sanction pages left out of the count


def test_a_questionnaire_without_sections_is_one_page() -> None:
    pages = paging(load_questionnaire("minimal-v1"))
    assert len(pages.pages) == 1
    assert pages.parts == 1


def test_pages_whose_questions_are_all_routed_away_are_skipped() -> None:
    pages = paging(REGULAR)
    assert pages.after(1, {"reason": "eigen_initiatief"}) == 4  # the two sanction pages skipped
    assert pages.after(1, {"reason": "verplicht"}) == 2


def test_the_last_page_to_fill_in_is_known_before_it_is_answered() -> None:
    pages = paging(REGULAR)
    klachten = pages.page_of("complaint")
    assert pages.may_follow(klachten, {})  # a complaint leads to more questions
    assert not pages.may_follow(len(pages.pages) - 1, {})


def test_resuming_goes_to_the_saved_page_or_the_next_one_that_still_applies() -> None:
    pages = paging(REGULAR)
    assert pages.resume_at(4, {"reason": "eigen_initiatief"}) == 4
    assert pages.resume_at(2, {"reason": "eigen_initiatief"}) == 4
    assert pages.resume_at(0, {}) == 0


# --- a posted page ---------------------------------------------------------------------


def test_a_valid_page_is_saved_and_leads_to_the_next() -> None:
    step = take_page(REGULAR, {}, 0, {"grade": "8", "recommended": "ja"})
    assert (step.answers, step.errors, step.page, step.final) == (
        {"grade": 8, "recommended": "ja"},
        {},
        1,
        False,
    )


def test_a_page_with_a_missing_answer_stays_with_the_error_and_keeps_the_valid_answer() -> None:
    step = take_page(REGULAR, {}, 0, {"grade": "8"})
    assert step.page == 0
    assert step.errors == {"recommended": "Kies een antwoord."}
    assert step.answers == {"grade": 8}


def test_what_was_typed_wrongly_is_shown_again() -> None:
    step = take_page(OPDRACHTGEVER, {}, 0, {"grade": "11", "recommended": "ja"})
    assert step.shown["grade"] == "11"


def test_a_changed_answer_drops_later_answers_that_no_longer_apply() -> None:
    saved = {"reason": "verplicht", "sanction_threat": "ja", "sanction_imposed": "nee"}
    step = take_page(REGULAR, saved, 1, {"reason": "eigen_initiatief"})
    assert "sanction_threat" not in step.answers
    assert "sanction_imposed" not in step.answers
    assert step.page == 4


def test_going_back_saves_the_page_without_demanding_answers() -> None:
    step = take_page(REGULAR, {"grade": 8, "recommended": "ja"}, 1, {}, back=True)
    assert (step.page, step.errors, step.final) == (0, {}, False)


def test_the_last_page_completes_the_questionnaire() -> None:
    saved = take_page(REGULAR, {}, None, COMPLETE_REGULAR).answers
    last = len(paging(REGULAR).pages) - 1
    step = take_page(REGULAR, saved, last, {"gender": "vrouw"})
    assert step.final
    assert step.answers["gender"] == "vrouw"


def test_finishing_with_a_skipped_page_returns_to_that_page() -> None:
    saved = take_page(REGULAR, {}, None, COMPLETE_REGULAR).answers
    del saved["aspect_plan"]
    last = len(paging(REGULAR).pages) - 1
    step = take_page(REGULAR, saved, last, {})
    assert not step.final
    assert step.page == paging(REGULAR).page_of("aspect_plan")
    assert set(step.errors) == {"aspect_plan"}


def test_the_whole_questionnaire_may_be_posted_at_once() -> None:
    step = take_page(REGULAR, {}, None, COMPLETE_REGULAR)
    assert step.final
    assert step.answers["contact_ways"] == ["persoonlijk", "email"]


def test_every_value_of_a_field_posted_twice_is_kept() -> None:
    form = form_values([("contact_ways", "persoonlijk"), ("contact_ways", "email"), ("grade", "7")])
    assert form == {"contact_ways": ["persoonlijk", "email"], "grade": "7"}


def test_a_ticked_option_is_found_in_a_list_and_never_as_part_of_a_word() -> None:
    assert is_chosen(["app", "email"], "app")
    assert not is_chosen("whatsapp", "app")


def test_saved_answers_fill_the_fields_in_as_typed() -> None:
    shown = display_values(
        STAFF,
        {"goals_ranking": ["plaatsen", "wet_regelgeving"], "experience_years": 12, "time_now.klanten": 40},
    )
    assert shown["goals_ranking.plaatsen"] == "1"
    assert shown["goals_ranking.wet_regelgeving"] == "2"
    assert shown["experience_years"] == "12"


def test_a_decimal_grade_is_shown_with_a_comma() -> None:
    assert display_values(OPDRACHTGEVER, {"grade": 7.5})["grade"] == "7,5"


# --- paper -----------------------------------------------------------------------------


def test_a_paper_csv_is_read_with_semicolons_and_its_line_numbers() -> None:
    rows = read_paper_csv(b"short_code;grade;recommend\nABCDE-FGHJK;8;ja\n\n;;\nXYZ;7;nee\n")
    assert [(r.row, r.cells.get("grade")) for r in rows] == [(2, "8"), (5, "7")]


def test_a_paper_csv_without_an_invitation_column_is_refused() -> None:
    with pytest.raises(PaperFileError, match="short_code"):
        read_paper_csv(b"grade,recommend\n8,ja\n")


def test_a_blank_on_paper_is_unanswered_rather_than_wrong() -> None:
    answers, problems = paper_answers(REGULAR, PaperRow(2, {"short_code": "X", "grade": "8"}))
    assert answers == {"grade": 8}
    assert problems == []


def test_a_wrong_value_on_paper_is_reported_with_row_column_dutch_and_english() -> None:
    _, problems = paper_answers(REGULAR, PaperRow(3, {"short_code": "X", "grade": "12"}))
    assert [(p.row, p.column, p.problem_nl, p.problem_en) for p in problems] == [
        (3, "grade", "Geef een cijfer van 1 tot en met 10.", "Give a grade from 1 to 10.")
    ]


def test_several_choices_and_a_ranking_are_separated_by_a_bar_on_paper() -> None:
    answers, problems = paper_answers(
        STAFF,
        PaperRow(
            2,
            {
                "invitation_id": "x",
                "boosters": "intervisie|bijscholing",
                "goals_ranking": "plaatsen|wet_regelgeving|onafhankelijk_uitkering|nodige_dienstverlening"
                "|duurzame_participatie",
            },
        ),
    )
    assert problems == []
    assert answers["boosters"] == ["intervisie", "bijscholing"]
    assert answers["goals_ranking"][0] == "plaatsen"  # type: ignore[index]


def test_a_paper_column_the_questionnaire_does_not_have_is_reported() -> None:
    _, problems = paper_answers(REGULAR, PaperRow(2, {"short_code": "X", "grade_total": "8"}))
    assert problems[0].column == "grade_total"


def test_the_other_text_is_named_as_its_own_column() -> None:
    _, problems = paper_answers(REGULAR, PaperRow(2, {"short_code": "X", "reason": "anders"}))
    assert problems[0].column == "reason.other"


def test_every_validation_message_has_an_english_version() -> None:
    messages = [getattr(questionnaires, name) for name in dir(questionnaires) if name.startswith("MSG_")]
    assert messages
    for message in messages:
        assert in_english(message) != message
    assert in_english("Vul een getal in van 0 tot en met 50.") == "Enter a number from 0 to 50."
    assert in_english("Kies er hoogstens 5.") == "Choose at most 5."


# --- short codes -----------------------------------------------------------------------


def test_a_short_code_is_ten_unambiguous_characters() -> None:
    code = short_code(uuid.UUID(int=7))
    assert len(code) == 10
    assert not set(code) & set("ILOU")


def test_a_short_code_is_read_back_however_it_was_typed() -> None:
    code = short_code(uuid.UUID(int=42))
    typed = format_short_code(code).lower().replace("0", "o").replace("1", "l")
    assert normalise_short_code(f" {typed} ") == code
    assert normalise_short_code("ABC") is None


# --- rate limiting ---------------------------------------------------------------------


def test_a_client_gets_its_burst_and_then_has_to_wait() -> None:
    limiter = RateLimiter(rate=2, burst=3)
    assert [limiter.allow("a", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b", 0.0)  # another client has its own bucket
    assert limiter.retry_after("a") == 1
    assert limiter.allow("a", 0.5)  # one request back after half a second


def test_idle_clients_are_forgotten_when_there_are_many() -> None:
    limiter = RateLimiter(rate=1, burst=2, max_clients=10)
    for i in range(11):
        limiter.allow(str(i), 0.0)
    limiter.allow("late", 100.0)
    assert len(limiter) == 1


# --- spoken questions ------------------------------------------------------------------


def test_each_question_of_the_low_threshold_questionnaire_is_read_in_one_text_with_its_options() -> None:
    texts = spoken_texts(SIMPLE)
    for question in SIMPLE.questions:
        text = read_aloud_text(question)
        assert text in texts
        assert text.startswith(question.audio_text or question.text)


def test_the_options_are_read_after_the_question_each_as_a_sentence() -> None:
    question = SIMPLE.question("complaint")
    assert read_aloud_text(question) == (
        "Was u ergens boos of niet tevreden over? Dan heeft u een klacht. Ja. Nee."
    )


def test_a_grade_question_reads_its_scale_not_ten_numbers() -> None:
    text = read_aloud_text(SIMPLE.question("grade"))
    assert "1 is heel slecht" in text and " 2." not in text


def test_there_is_one_spoken_text_per_question_and_no_option_on_its_own() -> None:
    texts = spoken_texts(SIMPLE)
    assert "Ja" not in texts and "Ja." not in texts
    introductions = 1 + sum(1 for s in SIMPLE.sections if s.intro)
    assert len(texts) <= len(SIMPLE.questions) + introductions


def wav(samples: int, rate: int = 22050) -> bytes:
    header = b"RIFF" + struct.pack("<I", 0x7FFFF000) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
    header += struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return header + b"data" + struct.pack("<I", 0x7FFFF000) + b"\0\0" * samples


def test_the_sizes_espeak_leaves_open_are_filled_in_and_give_the_duration() -> None:
    fixed = fix_wav_sizes(wav(22050))
    assert wav_duration(fixed) == pytest.approx(1.0)
    assert struct.unpack("<I", fixed[4:8])[0] == len(fixed) - 8


def test_a_file_that_is_no_wav_has_no_duration() -> None:
    with pytest.raises(ValueError, match="WAV"):
        wav_duration(b"OggS" + b"\0" * 40)
