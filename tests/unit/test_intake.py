"""Contact intake: reading CSV and XLSX, every row rule, BSN refusal, duplicates and accounting."""

from __future__ import annotations

import io
from datetime import date, datetime

import openpyxl
import pytest

from services.invitations.domain import (
    DeliveryRefusedError,
    Enrolment,
    IntakeRules,
    SchemeFacts,
    Study,
    account_delivery,
    check_delivery,
    check_enrolment,
    contains_bsn,
    delivery_keys,
    normalise_email,
    parse_date,
    read_delivery,
    safe_file_name,
)
from services.invitations.service import intake_rules, scheme_facts
from shared.schemes import load_scheme

BSN = "111222333"  # passes the 11-check
HEADER = "client_ref,name,email,service\n"
ADDRESS_HEADER = "client_ref,name,email,phone,street,house_number,postcode,city,service\n"
PERIOD = (date(2026, 1, 1), date(2026, 12, 31))


def bow_rules(**enrolment: object) -> IntakeRules:
    """The Blik op Werk scheme with an enrolment in diensten 3, 7 and 11, for 2026."""
    values: dict[str, object] = {"services": ("3", "7", "11")} | enrolment
    study = Study("s", "BoW 2026", "bow", None, 2026, *PERIOD)
    return intake_rules(study, Enrolment("s", "P1", **values))  # type: ignore[arg-type]


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def problems_of(text: str, rules: IntakeRules | None = None) -> list[tuple[int, str, str]]:
    return [(p.row, p.column, p.kind) for p in check_delivery(text, rules=rules).problems]


# --- reading files ------------------------------------------------------------------------


def test_an_xlsx_delivery_is_read_like_a_csv_one() -> None:
    data = xlsx([["client_ref", "name", "email", "service"], ["A1", "Anna", "anna@example.nl", 3]])
    check = check_delivery(read_delivery(data))
    assert check.file_format == "xlsx"
    assert [(c.client_ref, c.service_code) for c in check.contacts] == [("A1", "3")]


def test_xlsx_rows_are_numbered_as_excel_shows_them_and_empty_rows_are_skipped() -> None:
    data = xlsx([["client_ref", "email", "service"], ["A1", "a@example.nl", "3"], [], ["A2", "nope", "3"]])
    check = check_delivery(read_delivery(data))
    assert [(p.row, p.column) for p in check.problems] == [(4, "email")]
    assert check.rows_total == 2


def test_an_xlsx_date_cell_is_an_end_date() -> None:
    data = xlsx([["client_ref", "email", "service", "end_date"], ["A1", "a@x.nl", "3", datetime(2026, 3, 1)]])
    check = check_delivery(read_delivery(data), rules=bow_rules())
    assert check.contacts[0].end_date == date(2026, 3, 1)


def test_a_bsn_stored_as_a_number_in_excel_refuses_its_row() -> None:
    data = xlsx(
        [
            ["client_ref", "email", "service", "notes"],
            ["A1", "a@x.nl", "3", int(BSN)],
            ["A2", "b@x.nl", "3", 1],
        ]
    )
    check = check_delivery(read_delivery(data))
    assert [c.client_ref for c in check.contacts] == ["A2"]
    assert BSN not in repr(check)


def test_a_damaged_xlsx_file_is_refused_as_a_whole() -> None:
    with pytest.raises(DeliveryRefusedError, match="XLSX"):
        read_delivery(b"PK\x03\x04 not really a workbook")


def test_the_old_excel_format_is_refused_with_advice() -> None:
    with pytest.raises(DeliveryRefusedError, match=r"\.xlsx"):
        read_delivery(b"\xd0\xcf\x11\xe0rest", filename="contacten.xls")


def test_a_windows_1252_csv_is_read() -> None:
    data = "client_ref;name;email;service\nA1;Zoë Müller;z@example.nl;3\n".encode("cp1252")
    assert check_delivery(read_delivery(data)).contacts[0].name == "Zoë Müller"


def test_a_tab_separated_file_is_read() -> None:
    assert len(check_delivery("client_ref\temail\tservice\nA1\ta@example.nl\t3\n").contacts) == 1


def test_csv_rows_are_numbered_by_their_line_in_the_file() -> None:
    check = check_delivery(HEADER + "A1,Anna,a@example.nl,3\n\nA2,Bram,nope,3\n")
    assert [p.row for p in check.problems] == [4]


# --- the header --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "column", ["BSN", "bsn_client", "client-bsn", "Burgerservicenummer", "sofinummer", "BSN nr"]
)
def test_a_column_named_for_the_bsn_refuses_the_whole_delivery(column: str) -> None:
    with pytest.raises(DeliveryRefusedError, match="BSN"):
        check_delivery(f"client_ref,{column},email,service\nA1,x,a@example.nl,3\n")


def test_a_header_that_is_itself_a_bsn_refuses_the_delivery_without_echoing_it() -> None:
    with pytest.raises(DeliveryRefusedError) as refused:
        check_delivery(f"client_ref,{BSN},email,service\nA1,x,a@example.nl,3\n")
    assert BSN not in str(refused.value)


def test_a_delivery_without_client_ref_is_refused() -> None:
    with pytest.raises(DeliveryRefusedError, match="client_ref"):
        check_delivery("name,email,service\nAnna,a@example.nl,3\n")


def test_a_delivery_without_any_contact_column_is_refused() -> None:
    with pytest.raises(DeliveryRefusedError, match="contact"):
        check_delivery("client_ref,name,service\nA1,Anna,3\n")


def test_a_column_given_twice_refuses_the_delivery() -> None:
    with pytest.raises(DeliveryRefusedError, match="twice"):
        check_delivery("client_ref,email,e-mail,service\nA1,a@x.nl,a@x.nl,3\n")


def test_dutch_column_names_are_understood() -> None:
    check = check_delivery("Klantnummer;Naam;E-mail;Dienst;Leerprofiel\nA1;Anna;a@example.nl;3;\n")
    assert check.contacts[0].email == "a@example.nl"


def test_unknown_columns_are_ignored_and_listed() -> None:
    check = check_delivery("client_ref,email,service,remarks\nA1,a@example.nl,3,friendly\n")
    assert check.ignored_columns == ["remarks"]
    assert len(check.contacts) == 1


# --- essential data: a way to reach the person -----------------------------------------------------


def test_a_client_with_only_a_full_postal_address_is_accepted() -> None:
    check = check_delivery(ADDRESS_HEADER + "A1,Anna,,,Dorpsstraat,12a,1234 ab,Zwolle,3\n")
    assert check.contacts[0].postcode == "1234 AB"
    assert check.contacts[0].email == ""


def test_a_client_with_an_incomplete_address_and_no_email_misses_essential_data() -> None:
    check = check_delivery(ADDRESS_HEADER + "A1,Anna,,,Dorpsstraat,12,,Zwolle,3\n")
    assert check.contacts == []
    assert check.rejected[0].outcome == "missing_essential_data"


def test_a_phone_number_alone_is_not_enough_without_the_phone_option() -> None:
    check = check_delivery(ADDRESS_HEADER + "A1,Anna,,0612345678,,,,,3\n", rules=bow_rules())
    assert check.rejected[0].outcome == "missing_essential_data"


def test_a_phone_number_alone_is_enough_with_the_phone_option() -> None:
    check = check_delivery(ADDRESS_HEADER + "A1,Anna,,0612345678,,,,,3\n", rules=bow_rules(phone_option=True))
    assert check.contacts[0].phone == "+31612345678"


@pytest.mark.parametrize(("profile", "reachable"), [("1", True), ("2", True), ("3", False)])
def test_inburgeraars_with_learning_profile_1_or_2_are_phoned_without_the_phone_option(
    profile: str, reachable: bool
) -> None:
    text = f"client_ref,phone,service,learning_profile\nA1,0612345678,11,{profile}\n"
    assert bool(check_delivery(text, rules=bow_rules()).contacts) is reachable


def test_an_opdrachtgever_is_only_reached_by_email() -> None:
    text = "client_ref,respondent_type,organisation,street,house_number,postcode,city,service\n"
    check = check_delivery(
        text + "O1,opdrachtgever,Gemeente Zwolle,Markt,1,8011 AA,Zwolle,3\n", rules=bow_rules()
    )
    assert check.rejected[0].outcome == "missing_essential_data"


def test_an_opdrachtgever_needs_an_organisation_name() -> None:
    text = "client_ref,respondent_type,email,organisation,service\nO1,opdrachtgever,o@zwolle.nl,,3\n"
    assert problems_of(text, bow_rules()) == [(2, "organisation", "missing")]


def test_a_row_without_a_service_misses_essential_data() -> None:
    assert problems_of(HEADER + "A1,Anna,a@example.nl,\n") == [(2, "service", "missing")]


def test_a_row_without_a_client_ref_misses_essential_data() -> None:
    assert problems_of(HEADER + ",Anna,a@example.nl,3\n") == [(2, "client_ref", "missing")]


# --- formats --------------------------------------------------------------------------------------


def test_an_invalid_email_address_is_reported_once() -> None:
    assert problems_of(HEADER + "A1,Anna,anna@,3\n") == [(2, "email", "invalid")]


def test_an_email_address_is_stored_in_lower_case() -> None:
    assert check_delivery(HEADER + "A1,Anna,Anna@Example.NL,3\n").contacts[0].email == "anna@example.nl"


@pytest.mark.parametrize(
    ("phone", "stored"),
    [
        ("0612345678", "+31612345678"),
        ("06-12345678", "+31612345678"),
        ("+31 6 1234 5678", "+31612345678"),
        ("0031612345678", "+31612345678"),
        ("020-1234567", "+31201234567"),
        ("+31 (0)38 123 45 67", "+31381234567"),
    ],
)
def test_dutch_mobile_and_landline_numbers_are_accepted_and_normalised(phone: str, stored: str) -> None:
    check = check_delivery(f'client_ref,email,phone,service\nA1,a@example.nl,"{phone}",3\n')
    assert check.contacts[0].phone == stored


@pytest.mark.parametrize("phone", ["12345", "061234567", "+32 470 12 34 56", "0012345678", "06123456789"])
def test_numbers_that_are_not_dutch_phone_numbers_are_refused(phone: str) -> None:
    assert problems_of(f"client_ref,email,phone,service\nA1,a@example.nl,{phone},3\n") == [
        (2, "phone", "invalid")
    ]


@pytest.mark.parametrize(
    ("postcode", "stored"), [("1234 AB", "1234 AB"), ("1234ab", "1234 AB"), ("9999zz", "9999 ZZ")]
)
def test_dutch_postcodes_are_accepted_and_normalised(postcode: str, stored: str) -> None:
    text = ADDRESS_HEADER + f"A1,Anna,,,Dorpsstraat,1,{postcode},Zwolle,3\n"
    assert check_delivery(text).contacts[0].postcode == stored


@pytest.mark.parametrize("postcode", ["0123 AB", "1234 SS", "12345", "1234 A", "AB 1234"])
def test_postcodes_that_do_not_exist_in_the_netherlands_are_refused(postcode: str) -> None:
    text = ADDRESS_HEADER + f"A1,Anna,a@example.nl,,Dorpsstraat,1,{postcode},Zwolle,3\n"
    assert problems_of(text) == [(2, "postcode", "invalid")]


def test_a_house_number_must_start_with_a_number() -> None:
    text = ADDRESS_HEADER + "A1,Anna,a@example.nl,,Dorpsstraat,een,1234 AB,Zwolle,3\n"
    assert problems_of(text) == [(2, "house_number", "invalid")]


@pytest.mark.parametrize("column", ["name", "street", "city"])
def test_text_with_control_characters_is_refused(column: str) -> None:
    values = {"name": "Anna", "street": "Dorpsstraat", "city": "Zwolle"} | {column: "x\x1by"}
    text = (
        ADDRESS_HEADER
        + f"A1,{values['name']},a@example.nl,,{values['street']},1,1234 AB,{values['city']},3\n"
    )
    assert problems_of(text) == [(2, column, "invalid")]


@pytest.mark.parametrize(("value", "profile"), [("1", 1), ("4", 4), ("LP2", 2), ("leerprofiel 3", 3)])
def test_a_learning_profile_is_1_to_4(value: str, profile: int) -> None:
    check = check_delivery(
        f"client_ref,email,service,learning_profile\nA1,a@x.nl,11,{value}\n", rules=bow_rules()
    )
    assert check.contacts[0].learning_profile == profile


@pytest.mark.parametrize("value", ["0", "5", "hoog"])
def test_a_learning_profile_outside_1_to_4_is_refused(value: str) -> None:
    text = f"client_ref,email,service,learning_profile\nA1,a@x.nl,11,{value}\n"
    assert problems_of(text, bow_rules()) == [(2, "learning_profile", "invalid")]


def test_an_inburgeraar_without_a_learning_profile_misses_essential_data() -> None:
    text = "client_ref,email,service,learning_profile\nA1,a@x.nl,11,\n"
    assert problems_of(text, bow_rules()) == [(2, "learning_profile", "missing")]


@pytest.mark.parametrize("value", ["2026-03-31", "31-3-2026", "31/03/2026", "1.12.2026"])
def test_an_end_date_inside_the_period_is_accepted_in_iso_or_dutch_notation(value: str) -> None:
    text = f"client_ref,email,service,end_date\nA1,a@x.nl,3,{value}\n"
    assert check_delivery(text, rules=bow_rules()).contacts[0].end_date is not None


def test_an_end_date_outside_the_study_period_is_refused() -> None:
    text = "client_ref,email,service,end_date\nA1,a@x.nl,3,2025-12-31\n"
    check = check_delivery(text, rules=bow_rules())
    assert [(p.column, p.problem_en.startswith("End date lies outside")) for p in check.problems] == [
        ("end_date", True)
    ]


@pytest.mark.parametrize("value", ["2026-02-30", "tomorrow", "20260301"])
def test_an_end_date_that_is_no_date_is_refused(value: str) -> None:
    assert parse_date(value) is None
    text = f"client_ref,email,service,end_date\nA1,a@x.nl,3,{value}\n"
    assert problems_of(text, bow_rules()) == [(2, "end_date", "invalid")]


def test_a_service_outside_the_enrolment_is_refused_naming_the_enrolled_ones() -> None:
    check = check_delivery(HEADER + "A1,Anna,a@example.nl,9\n", rules=bow_rules())
    assert check.problems[0].column == "service"
    assert check.problems[0].problem_en.endswith("your enrolment has: 3, 7, 11")
    assert check.rejected[0].service_code == "unknown"


def test_a_retired_service_is_refused_as_retired() -> None:
    check = check_delivery(HEADER + "A1,Anna,a@example.nl,12\n", rules=bow_rules())
    assert "retired" in check.problems[0].problem_en


def test_an_unknown_respondent_type_is_refused() -> None:
    text = "client_ref,email,service,respondent_type\nA1,a@x.nl,3,buurman\n"
    assert problems_of(text, bow_rules()) == [(2, "respondent_type", "invalid")]


def test_a_werkgever_is_an_opdrachtgever_in_blik_op_werk() -> None:
    text = "client_ref,email,service,respondent_type,organisation\nO1,o@x.nl,3,werkgever,Bakkerij\n"
    contact = check_delivery(text, rules=bow_rules()).contacts[0]
    assert (contact.respondent_type, contact.variant) == ("opdrachtgever", "opdrachtgever")


def test_the_enrolment_maps_a_client_group_to_its_questionnaire_variant() -> None:
    rules = bow_rules(group_variants={"nt2": "client/laagdrempelig"})
    check = check_delivery(
        "client_ref,email,service,client_group\nA1,a@x.nl,3,NT2\nA2,b@x.nl,3,\n", rules=rules
    )
    assert [c.variant for c in check.contacts] == ["client/laagdrempelig", "client/regular"]


def test_a_client_group_named_after_a_scheme_variant_needs_no_mapping() -> None:
    check = check_delivery(
        "client_ref,email,service,client_group\nA1,a@x.nl,3,laagdrempelig\n", rules=bow_rules()
    )
    assert check.contacts[0].variant == "client/laagdrempelig"


def test_an_unknown_client_group_is_refused() -> None:
    text = "client_ref,email,service,client_group\nA1,a@x.nl,3,vip\n"
    assert problems_of(text, bow_rules()) == [(2, "client_group", "invalid")]


def test_dienst_11_gets_the_inburgering_questionnaire() -> None:
    check = check_delivery("client_ref,email,service,leerprofiel\nA1,a@x.nl,11,3\n", rules=bow_rules())
    assert check.contacts[0].variant == "client/inburgering"


def test_a_scheme_reported_per_provider_needs_no_service_column() -> None:
    study = Study("j", "Jobcoach", "uwv-jobcoach", None, 2026, None, None)
    rules = intake_rules(study, Enrolment("j", "P1", (), recognition_date=date(2020, 5, 1)))
    check = check_delivery(
        "client_ref,email,respondent_type,organisation\nW1,w@x.nl,werknemer,\nG1,g@x.nl,werkgever,Bakkerij\n",
        rules=rules,
    )
    assert [(c.service_code, c.respondent_type, c.variant) for c in check.contacts] == [
        ("all", "werknemer", "werknemer"),
        ("all", "werkgever", "werkgever"),
    ]


# --- duplicates ------------------------------------------------------------------------------------


def test_the_same_email_for_the_same_service_twice_is_a_duplicate() -> None:
    check = check_delivery(HEADER + "A1,Anna,a@example.nl,3\nA2,Anna,A@example.nl,3\n")
    assert [(p.row, p.column, p.kind) for p in check.problems] == [(3, "email", "duplicate")]


def test_the_same_email_for_another_service_is_no_duplicate() -> None:
    assert len(check_delivery(HEADER + "A1,Anna,a@example.nl,3\nA2,Anna,a@example.nl,7\n").contacts) == 2


def test_an_email_and_service_delivered_last_month_is_a_duplicate() -> None:
    check = check_delivery(
        HEADER + "B7,Anna,a@example.nl,3\n", known_email_services={("a@example.nl", "3", "")}
    )
    assert check.rejected[0].outcome == "duplicate"


def test_a_row_that_repeats_a_rejected_row_is_judged_on_its_own() -> None:
    check = check_delivery(HEADER + "A1,Anna,nope,3\nA1,Anna,a@example.nl,3\n")
    assert [c.row for c in check.contacts] == [3]


def test_delivery_keys_are_the_references_and_email_service_pairs_to_look_up() -> None:
    refs, pairs = delivery_keys(read_delivery(HEADER + "A1,Anna,A@x.nl,3\nA2,Bram,,7\n"))
    assert (refs, pairs) == ({("A1", ""), ("A2", "")}, {("a@x.nl", "3", "")})


# --- BSN values ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [BSN, "111 222 333", "111.222.333", "111-222-333", f"jan{BSN}@example.nl"])
def test_a_bsn_written_in_any_usual_way_is_recognised(value: str) -> None:
    assert contains_bsn(value)


@pytest.mark.parametrize(
    "value", ["0612345678", "+31612345678", "123456789", "1234 AB", "2026-03-01", "12345678"]
)
def test_phone_numbers_postcodes_dates_and_other_nine_digit_numbers_are_no_bsn(value: str) -> None:
    assert not contains_bsn(value)


def test_a_bsn_in_a_column_the_check_does_not_use_still_refuses_its_row_without_echoing_it() -> None:
    check = check_delivery(f"client_ref,email,service,notes\nA1,a@x.nl,3,{BSN}\nA2,b@x.nl,3,ok\n")
    assert [c.client_ref for c in check.contacts] == ["A2"]
    assert check.problems[0].column == "notes"
    assert BSN not in repr(check)


def test_a_bsn_beyond_the_last_header_column_refuses_its_row() -> None:
    check = check_delivery(f"client_ref,email,service\nA1,a@x.nl,3,{BSN}\n")
    assert check.contacts == []
    assert check.problems[0].column == "kolom 4"


# --- outcomes and accounting -------------------------------------------------------------------------


def test_a_row_with_an_invalid_value_counts_as_invalid_even_when_it_also_misses_data() -> None:
    check = check_delivery("client_ref,name,email,service\n,Anna\x07,a@x.nl,3\n")
    assert check.rejected[0].outcome == "invalid"


def test_every_row_is_counted_once_per_service_and_respondent_type() -> None:
    text = (
        "client_ref,email,service,respondent_type,organisation\n"
        "A1,a@x.nl,3,,\n"  # accepted
        "A1,b@x.nl,3,,\n"  # duplicate
        "A3,c@x.nl,3,,\n"  # sampled out (below)
        "A4,nope,7,,\n"  # invalid
        "A5,,7,,\n"  # missing essential data
        "O1,o@x.nl,3,opdrachtgever,Gemeente\n"  # accepted
        "A7,d@x.nl,99,,\n"  # invalid: unknown service
    )
    check = check_delivery(text, rules=bow_rules())
    sampled_out = [c for c in check.contacts if c.client_ref == "A3"]
    counts = {
        (a.service_code, a.respondent_type): (
            a.gross,
            a.duplicates,
            a.missing_essential_data,
            a.invalid,
            a.sampled_out,
            a.accepted,
        )
        for a in account_delivery(check, sampled_out)
    }
    assert counts == {
        ("3", "client"): (3, 1, 0, 0, 1, 1),
        ("3", "opdrachtgever"): (1, 0, 0, 0, 0, 1),
        ("7", "client"): (2, 0, 1, 1, 0, 0),
        ("unknown", "client"): (1, 0, 0, 1, 0, 0),
    }


# --- enrolments ---------------------------------------------------------------------------------------

BOW = scheme_facts(load_scheme("bow"))
JOBCOACH = scheme_facts(load_scheme("uwv-jobcoach"))


def test_an_enrolment_in_active_services_of_the_scheme_is_accepted() -> None:
    enrolment = Enrolment("s", "P1", ("3", "11"), True, 20, {"nt2": "client/laagdrempelig"}, {"3": 40})
    assert check_enrolment(enrolment, BOW) == []


def test_an_enrolment_in_a_retired_service_is_refused() -> None:
    assert any("retired" in p for p in check_enrolment(Enrolment("s", "P1", ("12",)), BOW))


def test_an_enrolment_in_a_service_the_scheme_does_not_know_is_refused() -> None:
    assert any("unknown service" in p for p in check_enrolment(Enrolment("s", "P1", ("3", "14")), BOW))


def test_a_sample_size_for_a_service_not_enrolled_is_refused() -> None:
    problems = check_enrolment(Enrolment("s", "P1", ("3",), sample_sizes={"7": 10}), BOW)
    assert any("sample size" in p for p in problems)


def test_interviews_cannot_be_bought_without_the_phone_option() -> None:
    assert check_enrolment(Enrolment("s", "P1", ("3",), False, 20), BOW) != []


def test_a_client_group_must_map_to_a_variant_of_the_scheme() -> None:
    problems = check_enrolment(Enrolment("s", "P1", ("3",), group_variants={"nt2": "client/simple"}), BOW)
    assert any("variant" in p for p in problems)


def test_a_jobcoach_enrolment_needs_the_recognition_date_and_no_services() -> None:
    assert check_enrolment(Enrolment("j", "P1", ()), JOBCOACH) == [
        "Erkenningsdatum ontbreekt / recognition date missing"
    ]
    assert check_enrolment(Enrolment("j", "P1", (), recognition_date=date(2020, 5, 1)), JOBCOACH) == []


def test_the_phone_option_is_refused_where_the_scheme_phones_nobody() -> None:
    enrolment = Enrolment("j", "P1", (), True, 5, recognition_date=date(2020, 5, 1))
    assert any("phone option" in p for p in check_enrolment(enrolment, JOBCOACH))


def test_a_recognition_date_outside_a_jobcoach_scheme_is_refused() -> None:
    assert check_enrolment(Enrolment("s", "P1", ("3",), recognition_date=date(2020, 5, 1)), BOW) != []


def test_a_study_without_a_scheme_accepts_any_well_formed_service_code() -> None:
    facts: SchemeFacts | None = None
    assert check_enrolment(Enrolment("s", "P1", ("reintegratie-a",)), facts) == []


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("maart.xlsx", "maart.xlsx"),
        ("C:\\export\\maart.csv", "maart.csv"),
        (f"bsn-{BSN}.csv", ""),
        ("a\x00b.csv", "ab.csv"),
    ],
)
def test_a_file_name_is_stored_without_folders_control_characters_or_a_bsn(given: str, stored: str) -> None:
    assert safe_file_name(given) == stored


# --- hostile input (issue 15) ------------------------------------------------------------


@pytest.mark.parametrize("control", ["\x01", "\x7f", "\x1f"])
def test_an_email_address_with_a_control_character_is_refused_at_intake(control: str) -> None:
    text = HEADER + f"A1,Anna,bad{control}x@example.nl,3\nA2,Bram,bram@example.nl,3\n"
    check = check_delivery(text)
    assert [(p.row, p.column) for p in check.problems] == [(2, "email")]
    assert [c.client_ref for c in check.contacts] == ["A2"]


FULL_HEADER = (
    "client_ref,name,email,phone,street,house_number,postcode,city,service,respondent_type,"
    "client_group,learning_profile,end_date,organisation\n"
)
FULL_ROW = ["A1", "Anna", "anna@example.nl", "0612345678", "Markt", "1", "8011 AA", "Zwolle", "3",
            "client", "", "", "2026-03-01", ""]  # fmt: skip


@pytest.mark.parametrize("column", range(len(FULL_ROW)))
def test_a_nul_in_any_cell_never_reaches_a_kept_contact(column: int) -> None:
    row = list(FULL_ROW)
    row[column] = row[column][:1] + "\x00" + row[column][1:]
    check = check_delivery(FULL_HEADER + ",".join(row) + "\n")
    for contact in check.contacts:
        assert not any("\x00" in str(value) for value in contact.__dict__.values())


def test_a_nul_in_a_header_ignores_that_column_and_says_why() -> None:
    check = check_delivery("client_ref,name,email,service,opmer\x00king\nA1,Anna,anna@example.nl,3,x\n")
    assert len(check.contacts) == 1
    assert check.ignored_columns == [
        "kolom 5 (opmer?king): kop met stuurtekens, genegeerd / "
        "column 5: header with control characters, ignored"
    ]


@pytest.mark.parametrize(
    "written",
    [
        "111/222/333",
        "111,222,333",
        "111\u00a0222\u00a0333",  # non-breaking spaces
        "111\u2009222\u2009333",  # thin spaces
        "111\u202f222\u202f333",  # narrow non-breaking spaces
        "111  222  333",  # double spaces
        "111 \u2013 222 \u2013 333",  # en dashes
        "111\u200b222\u200b333",  # zero-width spaces
        "111 222 333, 06",
        "Jan 111/222/333 de Vries",
    ],
)
def test_a_bsn_written_with_any_separator_refuses_its_row_in_every_column(written: str) -> None:
    assert contains_bsn(written)
    for column in ("name", "email", "organisation"):
        cells = {"client_ref": "A1", "name": "Anna", "email": "anna@example.nl", "organisation": ""}
        cells[column] = written
        text = (
            "client_ref,name,email,organisation,service\n"
            + ",".join(f'"{cells[c]}"' for c in ("client_ref", "name", "email", "organisation"))
            + ",3\n"
        )
        check = check_delivery(text)
        assert check.contacts == []
        assert ("Looks like a BSN; row not stored") in [p.problem_en for p in check.problems]
        assert all(written not in p.problem_nl + p.problem_en for p in check.problems)


@pytest.mark.parametrize(
    "phone",  # 612345671 passes the 11-check
    ["+31 6 12345671", "0031 6 1234 5671", "+31 (0)6 1234 5671", "06 1234 5671", "020 123 4567"],
)
def test_a_phone_number_written_in_groups_is_not_taken_for_a_bsn(phone: str) -> None:
    assert not contains_bsn(phone)


@pytest.mark.parametrize(
    "address",
    ['grp:"x"@example.nl', "x(comment)y@example.nl", '"a b"@example.nl', "a@[192.0.2.1]",
     "Anna <anna@example.nl>", "a..b@example.nl", "a@example.test"],
)  # fmt: skip
def test_only_a_plain_address_is_accepted_and_the_refusal_says_why(address: str) -> None:
    check = check_delivery(
        HEADER + f"A1,Anna,{address},3\n".replace(",Anna <", ',"Anna <').replace(">,", '>",')
    )
    (problem,) = check.problems
    assert problem.column == "email"
    assert problem.problem_en.startswith("Not a plain email address: ")
    assert len(problem.problem_en) > len("Not a plain email address: ")


def test_the_duplicate_check_compares_the_normalised_address() -> None:
    # The same domain, in Unicode and in its ASCII (punycode) form.
    check = check_delivery(HEADER + "A1,Anna,Anna@Bücher.example,3\nA2,Anna,anna@xn--bcher-kva.example,3\n")
    assert [c.email for c in check.contacts] == ["anna@bücher.example"]
    assert [(p.row, p.kind) for p in check.problems] == [(3, "duplicate")]


@pytest.mark.parametrize("address", ["anna@example.nl", "a.b-c+d_e%f@sub.example.co.uk", "x@t.example"])
def test_a_plain_address_passes_the_fast_check_and_email_validator_alike(address: str) -> None:
    from email_validator import validate_email

    assert normalise_email(address) == validate_email(address, check_deliverability=False).normalized


def test_a_utf8_file_with_one_stray_latin1_byte_refuses_only_that_row_and_reads_the_rest_as_utf8() -> None:
    data = "client_ref,name,email,service\nA1,Renée,renee@example.nl,3\n".encode() + (
        b"A2,Ren\xe9,rene@example.nl,3\n"
    )
    check = check_delivery(read_delivery(data))
    assert [c.name for c in check.contacts] == ["Renée"]
    (problem,) = check.problems
    assert (problem.row, problem.column) == (3, "name")
    assert "UTF-8" in problem.problem_en


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-16-le"])
def test_a_utf16_file_with_its_byte_order_mark_is_read(encoding: str) -> None:
    text = "client_ref\tname\temail\tservice\nA1\tZoë Müller\tz@example.nl\t3\n"
    data = text.encode(encoding)
    if encoding != "utf-16":  # Python writes the mark only for plain utf-16
        data = ("\ufeff" + text).encode(encoding)
    assert [c.name for c in check_delivery(read_delivery(data)).contacts] == ["Zoë Müller"]


def xlsx_with_sheet_xml(prologue: str, cell: str) -> bytes:
    """A workbook whose first sheet declares ``prologue`` (a DTD) and holds ``cell`` inline in A2."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(xlsx([["client_ref", "name", "email", "service"]])))
    sheet = (
        f'<?xml version="1.0" encoding="UTF-8"?>{prologue}'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        '<row r="1"><c r="A1" t="inlineStr"><is><t>client_ref</t></is></c>'
        '<c r="B1" t="inlineStr"><is><t>name</t></is></c><c r="C1" t="inlineStr"><is><t>email</t></is></c>'
        '<c r="D1" t="inlineStr"><is><t>service</t></is></c></row>'
        f'<row r="2"><c r="A2" t="inlineStr"><is><t>A1</t></is></c><c r="B2" t="inlineStr"><is><t>{cell}</t>'
        '</is></c><c r="C2" t="inlineStr"><is><t>a@example.nl</t></is></c><c r="D2"><v>3</v></c></row>'
        "</sheetData></worksheet>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = sheet.encode() if item.filename == "xl/worksheets/sheet1.xml" else source.read(item)
            target.writestr(item, content)
    return out.getvalue()


def test_the_xlsx_helper_makes_a_readable_sheet_without_a_dtd() -> None:
    assert check_delivery(read_delivery(xlsx_with_sheet_xml("", "Anna"))).contacts[0].name == "Anna"


@pytest.mark.parametrize(
    ("prologue", "cell"),
    [
        ('<!DOCTYPE w [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
        (
            '<!DOCTYPE w [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
            '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
            "&d;",
        ),
    ],
    ids=["external entity", "entity bomb"],
)
def test_an_xlsx_with_xml_entities_is_refused_with_a_clear_message(prologue: str, cell: str) -> None:
    with pytest.raises(DeliveryRefusedError, match="XML entities"):
        read_delivery(xlsx_with_sheet_xml(prologue, cell))


def test_openpyxl_parses_with_defusedxml() -> None:
    from openpyxl.xml import DEFUSEDXML

    assert DEFUSEDXML


def test_a_bsn_split_by_nul_characters_in_a_header_refuses_the_delivery_without_echoing_it() -> None:
    with pytest.raises(DeliveryRefusedError) as refused:
        check_delivery("client_ref,name,email,service,111\x00222\x00333\nA1,Anna,anna@example.nl,3,x\n")
    assert "111" not in str(refused.value)
