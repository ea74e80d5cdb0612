"""Email templates, late bounces and letters (pure)."""

from __future__ import annotations

import email
import email.policy
import uuid
from email.message import EmailMessage

import pytest

from services.invitations.emails import EmailFields, audience, parse_bounce, render
from services.invitations.letters import Letter, letter_html, manifest_csv
from shared.tokens import short_code

FIELDS = EmailFields(
    to="anna@example.nl",
    name="Anna de Vries",
    provider="Werkt & Zo",
    link="http://127.0.0.1:8002/q/abcDEF123_-",
    optout="http://127.0.0.1:8001/afmelden/abcDEF123_-",
    message_id="<x.1@tevreden.example>",
)


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_an_invitation_has_text_and_html_with_the_personal_link_and_one_click_opt_out() -> None:
    message = parsed(render("client", False, FIELDS, sender="Onderzoek <o@t.example>", date="x"))
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert FIELDS.link in text and FIELDS.link in page
    assert "Werkt &amp; Zo" in page and "Werkt & Zo" in text
    assert message["List-Unsubscribe"] == f"<{FIELDS.optout}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == FIELDS.message_id
    assert message["Subject"] == "Wat vond u van uw begeleiding door Werkt & Zo?"


def test_the_low_threshold_email_uses_short_simple_sentences() -> None:
    message = parsed(render("simple", False, FIELDS, sender="o@t.example", date="x"))
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    sentences = [s for line in text.splitlines() for s in line.split(". ") if s and "http" not in s]
    assert max(len(s.split()) for s in sentences) <= 10


def test_a_reminder_says_it_is_one() -> None:
    message = parsed(render("client", True, FIELDS, sender="o@t.example", date="x"))
    assert str(message["Subject"]).startswith("Herinnering")


def test_the_variant_and_respondent_type_choose_the_wording() -> None:
    assert audience("client", "client/laagdrempelig") == "simple"
    assert audience("client", "client/inburgering") == "simple"
    assert audience("client", "client/regular") == "client"
    assert audience("opdrachtgever", "opdrachtgever") == "buyer"


DSN = b"""From: MAILER-DAEMON@mx.example
To: onderzoek@tevreden.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.
--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example

Final-Recipient: rfc822; anna@example.nl
Action: failed
Status: 5.1.1

--B
Content-Type: text/rfc822-headers

Message-ID: <1234.1@tevreden.example>
Subject: Wat vond u van uw begeleiding?

--B--
"""


def test_a_dsn_gives_the_original_message_id_and_a_permanent_status() -> None:
    bounce = parse_bounce(DSN)
    assert (bounce.message_id, bounce.status, bounce.permanent) == (
        "<1234.1@tevreden.example>",
        "5.1.1",
        True,
    )


def test_a_message_that_is_no_dsn_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="Status"):
        parse_bounce(b"Subject: hello\n\nnot a report\n")


def _letter() -> Letter:
    invitation = uuid.uuid4()
    return Letter(
        str(uuid.uuid4()),
        False,
        False,
        "Anna de Vries",
        "Kerkstraat",
        "1",
        "1234 AB",
        "Zwolle",
        "Werkt Zwolle",
        "http://x/q/abc",
        short_code(invitation),
    )


def test_a_letter_has_the_address_the_link_the_short_code_and_a_qr_code() -> None:
    letter = _letter()
    page = letter_html([letter])
    assert "Kerkstraat 1" in page and "1234 AB Zwolle" in page
    assert "http://x/q/abc" in page and f"{letter.short_code[:5]}-{letter.short_code[5:]}" in page
    assert 'src="data:image/svg+xml' in page


def test_the_manifest_lists_each_letter_on_its_page() -> None:
    letters = [_letter(), _letter()]
    lines = manifest_csv(letters).splitlines()
    assert lines[0].startswith("page,letter_id,short_code")
    assert lines[2].startswith(f"2,{letters[1].letter_id},")
