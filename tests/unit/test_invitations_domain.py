"""Contact deliveries (aanlevering), tokens, emails and reminder timing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.invitations.domain import (
    DeliveryRefusedError,
    EmailAttempt,
    build_email,
    check_delivery,
    classify_smtp_code,
    looks_like_bsn,
    message_id,
    next_attempt_due_at,
)
from shared.tokens import invitation_token

HEADER = "client_ref,name,email,service\n"


def test_a_clean_delivery_keeps_every_row() -> None:
    check = check_delivery(HEADER + "A1,Anna de Vries,anna@example.nl,3\nA2,,bram@example.nl,7\n")
    assert [c.client_ref for c in check.contacts] == ["A1", "A2"]
    assert check.problems == []


def test_a_half_wrong_delivery_keeps_the_right_half_and_reports_the_rest() -> None:
    text = HEADER + "A1,Anna,anna@example.nl,3\nA2,Bram,not-an-email,3\nA3,Cor,cor@example.nl,\n"
    check = check_delivery(text)
    assert [c.client_ref for c in check.contacts] == ["A1"]
    assert [(p.row, p.column) for p in check.problems] == [(3, "email"), (4, "service")]
    assert check.rows_rejected == 2


def test_problems_are_reported_in_dutch_and_english() -> None:
    problem = check_delivery(HEADER + ",Anna,anna@example.nl,3\n").problems[0]
    assert problem.problem_nl == "Ontbreekt"
    assert problem.problem_en == "Missing"


def test_a_duplicate_within_one_delivery_is_reported() -> None:
    check = check_delivery(HEADER + "A1,Anna,a@example.nl,3\nA1,Anna,a@example.nl,3\n")
    assert len(check.contacts) == 1
    assert check.problems[0].problem_en.startswith("Duplicate")


def test_a_contact_delivered_last_month_is_a_duplicate() -> None:
    check = check_delivery(HEADER + "A1,Anna,a@example.nl,3\n", known_client_refs=frozenset({"A1"}))
    assert check.contacts == []


def test_a_bsn_column_refuses_the_whole_delivery() -> None:
    with pytest.raises(DeliveryRefusedError, match="BSN"):
        check_delivery("client_ref,bsn,email,service\nA1,111222333,a@example.nl,3\n")


def test_a_bsn_value_refuses_its_row_without_echoing_it() -> None:
    check = check_delivery(HEADER + "A1,111222333,a@example.nl,3\n")
    assert check.contacts == []
    assert "111222333" not in repr(check.problems)


def test_missing_required_columns_refuse_the_delivery() -> None:
    with pytest.raises(DeliveryRefusedError, match="email"):
        check_delivery("client_ref,name,service\nA1,Anna,3\n")


def test_names_with_control_characters_are_refused() -> None:
    check = check_delivery(HEADER + "A1,Anna\x07,a@example.nl,3\n")
    assert check.problems[0].column == "name"


def test_semicolon_separated_files_from_dutch_excel_are_read() -> None:
    check = check_delivery("client_ref;name;email;service\nA1;Anna;a@example.nl;3\n")
    assert len(check.contacts) == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("111222333", True),
        ("123456782", True),
        ("123456789", False),
        ("12345678", False),
        ("000000000", False),
    ],
)
def test_the_eleven_check_recognises_a_bsn(value: str, expected: bool) -> None:
    assert looks_like_bsn(value) is expected


def test_a_token_carries_256_bits_and_is_stable_per_invitation() -> None:
    invitation_id = uuid.uuid4()
    token = invitation_token(b"secret", invitation_id)
    assert len(token) == 43
    assert token == invitation_token(b"secret", invitation_id)
    assert token != invitation_token(b"other", invitation_id)


def test_an_email_has_a_deterministic_message_id_and_the_personal_link() -> None:
    invitation_id = uuid.uuid4()
    attempt = EmailAttempt(invitation_id, 2, "a@example.nl", "Anna", "http://x/q/TOKEN")
    message = build_email(attempt, "Onderzoek <o@example.nl>")
    assert message["Message-ID"] == message_id(invitation_id, 2)
    assert "http://x/q/TOKEN" in message.get_content()
    assert message["Subject"].startswith("Herinnering")


@pytest.mark.parametrize(
    ("code", "outcome"), [(250, "sent"), (451, "retry"), (0, "retry"), (550, "undeliverable")]
)
def test_smtp_replies_decide_what_happens_next(code: int, outcome: str) -> None:
    assert classify_smtp_code(code) == outcome


def test_after_the_invitation_a_reminder_is_due_and_after_the_last_reminder_none() -> None:
    sent = datetime(2026, 3, 1, tzinfo=UTC)
    week = timedelta(days=7)
    assert next_attempt_due_at(sent, 1, max_reminders=1, reminder_after=week) == sent + week
    assert next_attempt_due_at(sent, 2, max_reminders=1, reminder_after=week) is None
