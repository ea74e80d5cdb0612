"""Email templates, late bounces and letters (pure)."""

from __future__ import annotations

import email
import email.policy
import uuid
from datetime import date
from email.message import EmailMessage

import pytest

from services.invitations.emails import Audience, EmailFields, audience, dutch_date, parse_dsn, render
from services.invitations.letters import Letter, letter_html, manifest_csv
from shared.settings import Settings
from shared.tokens import format_short_code, letter_code, short_code

FIELDS = EmailFields(
    to="anna@example.nl",
    name="Anna de Vries",
    provider="Werkt & Zo",
    link="http://127.0.0.1:8002/q/abcDEF123_-",
    optout="http://127.0.0.1:8001/afmelden/abcDEF123_-",
    message_id="<x.1@tevreden.example>",
    minutes=7,
    reply_by=date(2026, 12, 18),
)
BUREAU = Settings().bureau


def text_of(which: Audience, reminder: bool = False) -> str:
    message = parsed(render(which, reminder, FIELDS, sender="o@t.example", date="x", bureau=BUREAU))
    return message.get_body(("plain",)).get_content()  # type: ignore[union-attr, no-any-return]


def parsed(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_an_invitation_has_text_and_html_with_the_personal_link_and_one_click_opt_out() -> None:
    message = parsed(
        render("client", False, FIELDS, sender="Onderzoek <o@t.example>", date="x", bureau=BUREAU)
    )
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert FIELDS.link in text and FIELDS.link in page
    assert "Werkt &amp; Zo" in page and "Werkt & Zo" in text
    assert message["List-Unsubscribe"] == f"<{FIELDS.optout}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Message-ID"] == FIELDS.message_id
    assert message["Subject"] == "Wat vond u van uw begeleiding door Werkt & Zo?"


def test_the_low_threshold_email_uses_short_simple_sentences() -> None:
    message = parsed(render("simple", False, FIELDS, sender="o@t.example", date="x", bureau=BUREAU))
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    sentences = [s for line in text.splitlines() for s in line.split(". ") if s and "http" not in s]
    assert max(len(s.split()) for s in sentences) <= 10


def test_a_reminder_says_it_is_one() -> None:
    message = parsed(render("client", True, FIELDS, sender="o@t.example", date="x", bureau=BUREAU))
    assert str(message["Subject"]).startswith("Herinnering")


def test_the_variant_and_respondent_type_choose_the_wording() -> None:
    assert audience("client", "client/laagdrempelig") == "simple"
    assert audience("client", "client/inburgering") == "simple"
    assert audience("client", "client/regular") == "client"
    assert audience("opdrachtgever", "opdrachtgever") == "buyer"
    assert audience("werkgever", "form") == "employer"


AUDIENCES: tuple[Audience, ...] = ("client", "simple", "buyer", "employer", "werknemer", "employee")


@pytest.mark.parametrize("which", AUDIENCES)
@pytest.mark.parametrize("reminder", [False, True])
def test_every_email_names_the_bureau_its_phone_email_and_privacy_statement(
    which: Audience, reminder: bool
) -> None:
    text = text_of(which, reminder)
    assert BUREAU.name in text and BUREAU.phone in text and BUREAU.privacy_url in text
    if which != "simple":
        assert BUREAU.email in text and BUREAU.postal_address in text


@pytest.mark.parametrize("which", AUDIENCES)
def test_every_email_says_how_long_it_takes_and_by_when(which: Audience) -> None:
    text = text_of(which)
    assert "7 minuten" in text and "18 december 2026" in text
    assert "5 minuten" not in text


def test_the_werkgever_is_asked_about_the_jobcoach_not_about_a_purchase() -> None:
    text = text_of("employer")
    assert "jobcoach" in text and "ingekocht" not in text
    assert "ingekocht" in text_of("buyer")


def test_every_audience_has_its_own_words() -> None:
    bodies = [text_of(which).replace("\r\n", "\n").split("\n\n")[1] for which in AUDIENCES]
    assert len(set(bodies)) == len(AUDIENCES)


def test_the_first_email_says_one_can_stop_and_continue_later() -> None:
    assert "later verder" in text_of("client") and "later verder" in text_of("simple")


def test_a_date_is_written_the_dutch_way() -> None:
    assert dutch_date(date(2027, 3, 1)) == "1 maart 2027"


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
    bounce = parse_dsn(DSN)
    assert (bounce.message_id, bounce.status, bounce.permanent) == (
        "<1234.1@tevreden.example>",
        "5.1.1",
        True,
    )


def test_a_message_that_is_no_dsn_is_refused_with_a_reason() -> None:
    with pytest.raises(ValueError, match="Status"):
        parse_dsn(b"Subject: hello\n\nnot a report\n")


SECRET = b"letter-test-secret"


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
        letter_code(SECRET, invitation),
        "tevreden.example/code",
        7,
        date(2026, 12, 4),
        date(2026, 12, 18),
        BUREAU,
    )


def test_a_letter_has_the_address_the_short_address_the_personal_code_and_a_qr_code() -> None:
    letter = _letter()
    page = letter_html([letter])
    assert "Kerkstraat 1" in page and "1234 AB Zwolle" in page
    assert "tevreden.example/code" in page and format_short_code(letter.letter_code) in page
    assert "http://x/q/abc" not in page  # no long link to type over: it is in the QR code
    assert 'src="data:image/svg+xml' in page


def test_a_letter_carries_the_letterhead_return_address_date_reference_and_phone() -> None:
    letter = _letter()
    page = letter_html([letter])
    assert page.count(BUREAU.name) >= 3  # letterhead, return address, signature
    assert f"Retour: {BUREAU.name}, {BUREAU.postal_address}" in page
    assert "4 december 2026" in page and "18 december 2026" in page
    assert f"Ons kenmerk</th><td>{format_short_code(letter.short_code)}" in page
    assert f"Bel {BUREAU.phone}" in page and "noem uw persoonlijke code" in page
    assert BUREAU.privacy_url in page and "ongeveer 7 minuten" in page


def test_the_manifest_lists_each_letter_on_its_page() -> None:
    letters = [_letter(), _letter()]
    lines = manifest_csv(letters).splitlines()
    assert lines[0].startswith("page,letter_id,short_code")
    assert lines[2].startswith(f"2,{letters[1].letter_id},")
