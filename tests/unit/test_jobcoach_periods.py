"""UWV jobcoach (seed 001): the jobcoach period column at intake, its pseudonymous key, and the
pairing of the werknemer's and the werkgever's grade per period."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from services.invitations.domain import (
    Enrolment,
    Study,
    check_delivery,
    delivery_keys,
    jobcoach_period_key,
    read_delivery,
)
from services.invitations.emails import EmailFields, period_sentence, render
from services.invitations.letters import Letter, letter_html
from services.invitations.service import intake_rules
from services.scoring.domain import KeptResponse, PeriodFact, UnitKey, pair_periods, period_facts_of
from shared.events import InvitationIssuedPayload, PeriodGrades, RespondentType, ScoresUpdatedPayload
from shared.settings import Settings
from tests.seeds import jobcoach_answers
from tevreden.sample_reports import study_payloads

SECRET = b"s" * 32
JOBCOACH = intake_rules(
    Study("j", "Jobcoach", "uwv-jobcoach", None, 2026, None, None),
    Enrolment("j", "P1", (), recognition_date=date(2020, 5, 1)),
)
BOW = intake_rules(
    Study("b", "BoW", "bow", None, 2026, date(2026, 1, 1), date(2026, 12, 31)), Enrolment("b", "P1", ("3",))
)
HEADER = "client_ref,email,respondent_type,organisation,jobcoach_period\n"
T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


def fact(period: str, side: str, grade: float | None, minutes: int) -> PeriodFact:
    return PeriodFact(
        period, side, None if grade is None else Decimal(str(grade)), T0 + timedelta(minutes=minutes)
    )


# --- intake ----------------------------------------------------------------------------------------

# Seed 001: werknemer A at two employers, werknemer B twice at one, each form after its period.
TWO_PERIODS = (
    HEADER
    + "WA,a@x.nl,werknemer,,JC-1\nG1,g1@x.nl,werkgever,Bakkerij,JC-1\n"
    + "WA,a@x.nl,werknemer,,JC-2\nG2,g2@x.nl,werkgever,Garage,JC-2\n"
    + "WB,b@x.nl,werknemer,,JC-3\nG1,g1@x.nl,werkgever,Bakkerij,JC-3\n"
    + "WB,b@x.nl,werknemer,,JC-4\nG1,g1@x.nl,werkgever,Bakkerij,JC-4\n"
)


def test_a_person_with_two_jobcoach_periods_is_delivered_once_per_period() -> None:
    check = check_delivery(TWO_PERIODS, rules=JOBCOACH)
    assert check.problems == []
    werknemers = [c for c in check.contacts if c.respondent_type == "werknemer"]
    assert [(c.client_ref, c.jobcoach_period) for c in werknemers] == [
        ("WA", "JC-1"), ("WA", "JC-2"), ("WB", "JC-3"), ("WB", "JC-4"),
    ]  # fmt: skip


def test_the_same_person_twice_in_one_period_is_a_duplicate_of_that_period() -> None:
    check = check_delivery(HEADER + "WA,a@x.nl,werknemer,,JC-1\nWA,a@x.nl,werknemer,,JC-1\n", rules=JOBCOACH)
    assert [(p.row, p.kind) for p in check.problems if p.column == "email"] == [(3, "duplicate")]
    assert "jobcoach period" in check.problems[0].problem_en


def test_a_period_delivered_last_month_is_a_duplicate_but_a_new_period_of_the_same_person_is_not() -> None:
    check = check_delivery(
        HEADER + "WA,a@x.nl,werknemer,,JC-1\nWA,a@x.nl,werknemer,,JC-2\n",
        rules=JOBCOACH,
        known_client_refs={("WA", "JC-1")},
        known_email_services={("a@x.nl", "all", "JC-1")},
    )
    assert [c.jobcoach_period for c in check.contacts] == ["JC-2"]
    assert {p.kind for p in check.problems} == {"duplicate"}


def test_the_delivery_keys_carry_the_period() -> None:
    refs, emails = delivery_keys(read_delivery(TWO_PERIODS), JOBCOACH)
    assert ("WA", "JC-2") in refs and ("g1@x.nl", "all", "JC-4") in emails


def test_the_werknemers_email_names_the_employer_and_the_period() -> None:
    sentence = period_sentence("werknemer", "JC-2", date(2026, 3, 12), "Garage Jansen")
    assert sentence.startswith(
        "Dit formulier gaat over uw jobcoachperiode bij Garage Jansen (kenmerk JC-2, afgerond op 12-03-2026)."
    )
    assert "voor elke periode een eigen uitnodiging" in sentence


def test_the_werkgevers_email_names_the_period() -> None:
    sentence = period_sentence("werkgever", "JC-4", None)
    assert sentence.startswith("Dit formulier gaat over de jobcoachperiode met kenmerk JC-4.")


def test_without_a_period_the_email_says_nothing_about_one() -> None:
    assert period_sentence("werknemer", "", date(2026, 3, 12)) == ""
    assert period_sentence("client", "JC-1", None) == ""


def test_the_period_sentence_stands_in_both_parts_of_the_email() -> None:
    fields = EmailFields(
        "a@x.nl",
        "Anna",
        "Jobcoach Noord",
        "https://q/x",
        "https://o/x",
        "<m@x>",
        minutes=5,
        reply_by=date(2026, 12, 18),
        period="Over JC-2 & co.",
    )
    raw = render("werknemer", False, fields, sender="s@x.nl", date="d", bureau=Settings().bureau)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    text, page = (part.get_content() for part in message.walk() if not part.is_multipart())  # type: ignore[attr-defined]
    assert "Over JC-2 & co." in text and "Over JC-2 &amp; co." in page


def test_the_werknemer_and_werkgever_of_one_period_carry_its_reference() -> None:
    check = check_delivery(
        HEADER + "W1,w@x.nl,werknemer,,JC-2026/001\nG1,g@x.nl,werkgever,Bakkerij,JC-2026/001\n",
        rules=JOBCOACH,
    )
    assert [(c.respondent_type, c.jobcoach_period) for c in check.contacts] == [
        ("werknemer", "JC-2026/001"),
        ("werkgever", "JC-2026/001"),
    ]


def test_the_jobcoach_period_column_is_optional_and_may_be_empty_in_a_row() -> None:
    check = check_delivery(HEADER + "W1,w@x.nl,werknemer,,\n", rules=JOBCOACH)
    assert [c.jobcoach_period for c in check.contacts] == [""]
    without = check_delivery("client_ref,email,respondent_type\nW1,w@x.nl,werknemer\n", rules=JOBCOACH)
    assert [c.jobcoach_period for c in without.contacts] == [""]


def test_a_jobcoach_period_with_other_characters_is_refused_in_its_row_and_column() -> None:
    check = check_delivery(
        HEADER + "W1,w@x.nl,werknemer,,Jan de Vries\nW2,v@x.nl,werknemer,,P2\n", rules=JOBCOACH
    )
    assert [(p.row, p.column, p.kind) for p in check.problems] == [(2, "jobcoach_period", "invalid")]
    assert [c.client_ref for c in check.contacts] == ["W2"]


def test_a_jobcoach_period_longer_than_64_characters_is_refused() -> None:
    check = check_delivery(HEADER + f"W1,w@x.nl,werknemer,,{'A' * 65}\n", rules=JOBCOACH)
    assert [(p.column, p.kind) for p in check.problems] == [("jobcoach_period", "invalid")]


def test_a_second_werknemer_for_the_same_period_in_a_file_is_refused() -> None:
    check = check_delivery(HEADER + "W1,w@x.nl,werknemer,,P1\nW2,v@x.nl,werknemer,,P1\n", rules=JOBCOACH)
    assert [(p.row, p.column) for p in check.problems] == [(3, "jobcoach_period")]


def test_a_bsn_as_jobcoach_period_refuses_the_row() -> None:
    check = check_delivery(HEADER + "W1,w@x.nl,werknemer,,111222333\n", rules=JOBCOACH)
    assert not check.contacts
    assert ("jobcoach_period", "Looks like a BSN; row not stored") in [
        (p.column, p.problem_en) for p in check.problems
    ]


def test_outside_the_jobcoach_scheme_the_column_is_ignored_and_listed() -> None:
    check = check_delivery("client_ref,email,service,jobcoach_period\nA1,a@x.nl,3,P1\n", rules=BOW)
    assert check.ignored_columns == ["jobcoach_period"]
    assert [c.jobcoach_period for c in check.contacts] == [""]


# --- the pseudonymous key ------------------------------------------------------------------------


def test_the_period_key_is_the_same_for_both_sides_and_never_the_reference() -> None:
    key = jobcoach_period_key(SECRET, "j", "P1", "JC-001")
    assert key == jobcoach_period_key(SECRET, "j", "P1", "JC-001")
    assert len(key) == 16 and "JC" not in key
    InvitationIssuedPayload(
        invitation_id="00000000-0000-0000-0000-000000000001",
        study_id="j",
        provider_id="P1",
        service_code="all",
        respondent_type="werknemer",
        questionnaire_id="q",
        token_hash="0" * 64,
        jobcoach_period=key,
    )


def test_the_period_key_differs_per_provider_and_per_secret() -> None:
    key = jobcoach_period_key(SECRET, "j", "P1", "JC-001")
    assert key != jobcoach_period_key(SECRET, "j", "P2", "JC-001")
    assert key != jobcoach_period_key(b"t" * 32, "j", "P1", "JC-001")


# --- pairing ----------------------------------------------------------------------------------------


def test_the_two_grades_of_one_period_make_one_row() -> None:
    rows = pair_periods([fact("a", "werkgever", 7.5, 5), fact("a", "werknemer", 7, 1)])
    assert rows == [{"period": "a", "werknemer": 7.0, "werkgever": 7.5}]


def test_a_period_with_one_form_shows_the_other_side_empty() -> None:
    assert pair_periods([fact("a", "werkgever", 6, 1)]) == [
        {"period": "a", "werknemer": None, "werkgever": 6.0}
    ]


def test_periods_are_ordered_by_their_earliest_submission_whatever_the_order_of_the_facts() -> None:
    facts = [fact("z", "werknemer", 8, 1), fact("a", "werknemer", 6, 3), fact("a", "werkgever", 7, 0)]
    assert [r["period"] for r in pair_periods(facts)] == ["a", "z"]
    assert pair_periods(reversed(facts)) == pair_periods(facts)


def test_a_side_given_twice_keeps_the_earliest_form() -> None:
    rows = pair_periods([fact("a", "werknemer", 9, 4), fact("a", "werknemer", 5, 2)])
    assert rows == [{"period": "a", "werknemer": 5.0, "werkgever": None}]


def test_forms_without_a_grade_and_other_respondent_types_make_no_row() -> None:
    assert pair_periods([fact("a", "werknemer", None, 1), fact("b", "client", 8, 1)]) == []


def test_seed_001_five_periods_give_werknemer_7_2_and_werkgever_7_1() -> None:
    # Werknemer A at two werkgevers, B twice at one, C once (seed 001, "Weergave cijfers").
    seed = [(7, 7.5), (7.5, 7), (5.5, 7), (8, 8), (8, 6)]
    facts = [
        f
        for i, (wn, wg) in enumerate(seed)
        for f in (fact(f"p{i}", "werknemer", wn, 10 * i), fact(f"p{i}", "werkgever", wg, 10 * i + 1))
    ]
    periods = [PeriodGrades.model_validate(row) for row in pair_periods(facts)]
    assert [(p.werknemer, p.werkgever) for p in periods] == seed
    employees = [p.werknemer for p in periods if p.werknemer is not None]
    employers = [p.werkgever for p in periods if p.werkgever is not None]
    assert (sum(employees), round(sum(employees) / len(employees), 1)) == (36, 7.2)
    assert (sum(employers), round(sum(employers) / len(employers), 1)) == (35.5, 7.1)


def test_paired_periods_fit_the_snapshot() -> None:
    rows = pair_periods([fact("0123456789abcdef", "werknemer", 7, 1)])
    payload = ScoresUpdatedPayload(
        study_id="j",
        provider_id="P1",
        net_sample=1,
        completed=1,
        response_rate=1.0,
        mean_grade=7.0,
        grade_sum=7.0,
        as_of=T0,
        periods=rows,
    )  # type: ignore[arg-type]
    assert payload.periods == (PeriodGrades(period="0123456789abcdef", werknemer=7.0),)


def kept_form(side: RespondentType, grade: float, *, usable: bool = True) -> KeptResponse:
    return KeptResponse(
        UnitKey("j", "P1", "all", side), f"uwv-jobcoach-{side}", 1, usable, jobcoach_answers(side, grade)
    )


def test_a_recompute_pairs_only_usable_forms_of_invitations_with_a_period() -> None:
    responses = {
        1: kept_form("werknemer", 7.5),
        2: kept_form("werkgever", 6, usable=False),
        3: kept_form("werknemer", 9),
    }
    facts = period_facts_of(responses, {1: "a", 2: "a"}, dict.fromkeys((1, 2, 3), T0))
    assert {p: pair_periods(f) for p, f in facts.items()} == {
        "P1": [{"period": "a", "werknemer": 7.5, "werkgever": None}]
    }


def test_the_demo_jobcoach_periods_add_up_to_each_sides_behaald_cijfer() -> None:
    for payload in study_payloads("uwv-jobcoach", providers=2, per_provider=20):
        for unit in payload.totals:
            side = [getattr(p, unit.respondent_type) for p in payload.periods]
            grades = [g for g in side if g is not None]
            assert (sum(grades), len(grades)) == (unit.grade.grade_sum, unit.grade.n)


def test_a_werknemers_letter_says_which_period_it_is_about() -> None:
    sentence = period_sentence("werknemer", "JC-2", date(2026, 3, 12), "Garage & Zn")
    letter = Letter("l1", False, False, "Anna", "Kerkstraat", "1", "1234 AB", "Zwolle", "Jobcoach Noord",
                    "http://x/q/abc", "ABCDE-FGHJK", "ABCDEFGHJK", "tevreden.example/code", 5,
                    date(2026, 12, 4), date(2026, 12, 18), Settings().bureau, sentence)  # fmt: skip
    assert "uw jobcoachperiode bij Garage &amp; Zn (kenmerk JC-2" in letter_html([letter])
