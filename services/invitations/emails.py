"""Dutch invitation and reminder emails per questionnaire variant and respondent type.

Pure: no I/O. Each template is prepared once (subject encoded, parts laid out) and filled in
per person cheaply; the result is the message's bytes, ready for SMTP. Text and HTML parts,
a deterministic Message-ID and List-Unsubscribe (one click, RFC 8058).
"""

from __future__ import annotations

import binascii
import email
import email.message
import functools
import html
import re
from dataclasses import dataclass
from datetime import date
from email.header import Header
from email.utils import formatdate
from string import Template
from typing import Literal

from flufl.bounce import all_failures

from shared.settings import Bureau

Audience = Literal["client", "simple", "buyer", "employer", "werknemer", "employee"]
BOUNDARY = "=-tevreden-alternative-="


@dataclass(frozen=True)
class EmailText:
    """One email's wording: subject and paragraphs (``$name``, ``$provider``, ``$link``, ``$minutes``,
    ``$reply_by`` and the bureau's ``$bureau…`` fields filled in)."""

    subject: str
    paragraphs: tuple[str, ...]


_TEXTS: dict[tuple[Audience, bool], EmailText] = {
    ("client", False): EmailText(
        "Wat vond u van uw begeleiding door $provider?",
        (
            "Beste $name,",
            "U heeft begeleiding gehad van $provider. $bureau doet een onafhankelijk onderzoek naar"
            " hoe tevreden cliënten daarover zijn, en wij horen graag wat u ervan vond.",
            "Het invullen duurt ongeveer $minutes minuten. U kunt tussendoor stoppen en later verder"
            " gaan met dezelfde link. Wij rapporteren alleen totalen: niemand ziet wat u persoonlijk"
            " heeft geantwoord. $provider heeft uw gegevens alleen voor dit onderzoek aan ons gegeven.",
            "Wilt u de vragenlijst invullen vóór $reply_by? Begin via deze persoonlijke link:",
            "$link",
            "Met vriendelijke groet,\n$bureau",
        ),
    ),
    ("client", True): EmailText(
        "Herinnering: wat vond u van uw begeleiding door $provider?",
        (
            "Beste $name,",
            "Kort geleden vroegen wij uw mening over de begeleiding van $provider. Wij hebben"
            " uw antwoorden nog niet ontvangen. Uw mening telt mee, ook als u minder tevreden was.",
            "Het invullen duurt ongeveer $minutes minuten. U kunt nog tot en met $reply_by meedoen:",
            "$link",
            "Heeft u de vragenlijst net ingevuld? Dan kunt u deze e-mail vergeten. Dank u wel!",
            "Met vriendelijke groet,\n$bureau",
        ),
    ),
    # Laagdrempelig and inburgering: the simplest Dutch, short sentences, one idea each.
    ("simple", False): EmailText(
        "Was de hulp van $provider goed?",
        (
            "Hallo $name,",
            "U kreeg hulp van $provider.\nWas die hulp goed?\nWij willen dat graag weten.",
            "Klik op de link.\nDan ziet u de vragen.\nU kunt de vragen ook laten voorlezen.",
            "$link",
            "Het duurt ongeveer $minutes minuten.\nU kunt stoppen en later verder gaan.\n"
            "Doe mee vóór $reply_by.\nWij vertellen niet wat u zegt.",
            "Dank u wel!\n$bureau",
        ),
    ),
    ("simple", True): EmailText(
        "Wilt u nog iets vertellen over $provider?",
        (
            "Hallo $name,",
            "Wij stuurden u een mail.\nWij vroegen: was de hulp van $provider goed?"
            "\nWij hebben nog geen antwoord.",
            "Klik op de link.\nDan ziet u de vragen.",
            "$link",
            "Het duurt ongeveer $minutes minuten.\nDoe mee vóór $reply_by.",
            "Dank u wel!\n$bureau",
        ),
    ),
    ("buyer", False): EmailText(
        "Uw oordeel over de dienstverlening van $provider",
        (
            "Geachte heer, mevrouw,",
            "Uw organisatie heeft diensten van $provider ingekocht. In een onafhankelijk"
            " klanttevredenheidsonderzoek vraagt $bureau ook opdrachtgevers naar hun oordeel.",
            "De vragenlijst kost u ongeveer $minutes minuten. Wij ontvangen uw antwoorden graag vóór"
            " $reply_by:",
            "$link",
            "Met vriendelijke groet,\n$bureau",
        ),
    ),
    ("buyer", True): EmailText(
        "Herinnering: uw oordeel over $provider",
        (
            "Geachte heer, mevrouw,",
            "Onlangs vroegen wij uw oordeel over de dienstverlening van $provider. Wij hebben uw"
            " antwoorden nog niet ontvangen en stellen uw bijdrage zeer op prijs. De vragenlijst"
            " kost ongeveer $minutes minuten; u kunt meedoen tot en met $reply_by.",
            "$link",
            "Met vriendelijke groet,\n$bureau",
        ),
    ),
    # UWV jobcoach: the employer (werkgever) judges the jobcoach's support of its employee.
    ("employer", False): EmailText(
        "Uw oordeel over de jobcoach van $provider",
        (
            "Geachte heer, mevrouw,",
            "Een werknemer in uw bedrijf heeft ondersteuning gehad van een jobcoach van $provider."
            " Namens UWV vraagt $bureau werkgevers hoe zij die ondersteuning hebben ervaren: het"
            " contact met de jobcoach, de bezoeken en de aandacht voor de werknemer.",
            "Het formulier kost u ongeveer $minutes minuten. Wij ontvangen uw antwoorden graag vóór"
            " $reply_by. Wij rapporteren alleen totalen.",
            "$link",
            "Met vriendelijke groet,\n$bureau",
        ),
    ),
    ("employer", True): EmailText(
        "Herinnering: uw oordeel over de jobcoach van $provider",
        (
            "Geachte heer, mevrouw,",
            "Onlangs vroegen wij u hoe u de ondersteuning door de jobcoach van $provider heeft"
            " ervaren. Wij hebben uw formulier nog niet ontvangen. Het kost ongeveer $minutes"
            " minuten; u kunt meedoen tot en met $reply_by.",
            "$link",
            "Met vriendelijke groet,\n$bureau",
        ),
    ),
    ("werknemer", False): EmailText(
        "Wat vond u van uw jobcoach van $provider?",
        (
            "Beste $name,",
            "U heeft een jobcoach gehad van $provider. Wij vragen u een kort formulier in te"
            " vullen over die begeleiding. Het duurt ongeveer $minutes minuten. Uw antwoorden"
            " worden alleen als totaal gerapporteerd.",
            "Wilt u het formulier invullen vóór $reply_by?",
            "$link",
            "Met vriendelijke groet,\n$bureau",
        ),
    ),
    ("werknemer", True): EmailText(
        "Herinnering: uw mening over uw jobcoach",
        (
            "Beste $name,",
            "Wij hebben uw formulier over de jobcoach van $provider nog niet ontvangen. Het duurt"
            " ongeveer $minutes minuten; u kunt meedoen tot en met $reply_by.",
            "$link",
            "Met vriendelijke groet,\n$bureau",
        ),
    ),
    ("employee", False): EmailText(
        "Medewerkersonderzoek: uw mening telt",
        (
            "Beste collega,",
            "Wij vragen alle medewerkers naar hun ervaringen. De vragenlijst is anoniem en duurt"
            " ongeveer $minutes minuten. Vul haar in vóór $reply_by.",
            "$link",
            "Met vriendelijke groet,\n$bureau",
        ),
    ),
    ("employee", True): EmailText(
        "Herinnering: medewerkersonderzoek",
        (
            "Beste collega,",
            "U kunt de vragenlijst nog invullen tot en met $reply_by:",
            "$link",
            "Dank u wel!\n$bureau",
        ),
    ),
}
# Who asks and how to reach them, under every email; then the opt-out.
_CONTACT_TEXT = (
    "Vragen? Bel $bureau_phone ($bureau_hours) of mail $bureau_email. $bureau, $bureau_address."
    " Hoe wij met uw gegevens omgaan: $privacy"
)
_CONTACT_SIMPLE = "Vragen? Bel ons: $bureau_phone.\nOver uw gegevens: $privacy"
_OPT_OUT_TEXT = "Wilt u geen e-mail meer over dit onderzoek? Meld u af: $optout"
_OPT_OUT_SIMPLE = "Wilt u geen mail meer? Klik hier: $optout"

_MONTHS = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip


def dutch_date(day: date) -> str:
    """A date as Dutch letters write it: 18 december 2026."""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


def audience(respondent_type: str, variant: str) -> Audience:
    """Which wording a person gets, from their respondent type and questionnaire variant."""
    if respondent_type == "opdrachtgever":
        return "buyer"
    if respondent_type == "werkgever":
        return "employer"
    if respondent_type == "werknemer":
        return "werknemer"
    if respondent_type == "employee":
        return "employee"
    if variant.endswith(("/laagdrempelig", "/inburgering")):
        return "simple"
    return "client"


def period_sentence(respondent_type: str, reference: str, ended: date | None, employer: str = "") -> str:
    """Which jobcoach period a form is about (seed 001: a form after each period), for the
    werknemer's and the werkgever's email or letter; "" without a period. A person with two
    periods gets two invitations with two links, and this sentence tells them apart."""
    if not reference or respondent_type not in ("werknemer", "werkgever"):
        return ""
    details = f"kenmerk {reference}" + (f", afgerond op {ended:%d-%m-%Y}" if ended is not None else "")
    if respondent_type == "werknemer":
        where = f"bij {employer} ({details})" if employer else f"met {details}"
        return (
            f"Dit formulier gaat over uw jobcoachperiode {where}. Had u meer dan één jobcoachperiode? "
            "Dan krijgt u voor elke periode een eigen uitnodiging met een eigen link."
        )
    return (
        f"Dit formulier gaat over de jobcoachperiode met {details}. Liep er bij u meer dan één "
        "jobcoachperiode? Dan krijgt u voor elke periode een eigen uitnodiging met een eigen link."
    )


@dataclass(frozen=True)
class PreparedEmail:
    """A template laid out once: the fixed headers and the two bodies with placeholders."""

    subject_header: str
    text: Template
    html: Template


@functools.cache
def prepared(which: Audience, reminder: bool, about_period: bool = False) -> PreparedEmail:
    """A template laid out; ``about_period``: with the paragraph saying which jobcoach period the
    form is about (``$period``), after the opening lines."""
    wording = _TEXTS[(which, reminder)]
    simple = which == "simple"
    opt_out = _OPT_OUT_SIMPLE if simple else _OPT_OUT_TEXT
    contact = _CONTACT_SIMPLE if simple else _CONTACT_TEXT
    opening = wording.paragraphs[:2]
    middle = ("$period",) if about_period else ()
    paragraphs = (*opening, *middle, *wording.paragraphs[2:], contact, opt_out)
    text = "\n\n".join(paragraphs) + "\n"
    html_paragraphs = []
    for paragraph in paragraphs:
        if paragraph == "$link":
            html_paragraphs.append('<p><a href="$link" style="font-size:1.2em">Naar de vragenlijst</a></p>')
        else:
            body = html.escape(paragraph, quote=False).replace("\n", "<br>")
            body = body.replace("$optout", '<a href="$optout">afmelden</a>')
            body = body.replace("$privacy", '<a href="$privacy">privacyverklaring</a>')
            html_paragraphs.append(f"<p>{body}</p>")
    page = (
        '<!DOCTYPE html><html lang="nl"><head><meta charset="utf-8"></head>'
        '<body style="font-family:Arial,sans-serif;font-size:16px;line-height:1.5">'
        + "".join(html_paragraphs)
        + "</body></html>\n"
    )
    # The subject names only the provider: fill it in per provider, then encode.
    return PreparedEmail(wording.subject, Template(text), Template(page))


@dataclass(frozen=True)
class EmailFields:
    to: str
    name: str
    provider: str
    link: str
    optout: str
    message_id: str
    minutes: int  # the questionnaire's estimated length (shared.questionnaires.estimated_minutes)
    reply_by: date
    period: str = ""  # which jobcoach period the form is about (:func:`period_sentence`)


def _bureau_fields(bureau: Bureau) -> dict[str, str]:
    return {
        "bureau": bureau.name,
        "bureau_phone": bureau.phone,
        "bureau_hours": bureau.phone_hours,
        "bureau_email": bureau.email,
        "bureau_address": bureau.postal_address,
        "privacy": bureau.privacy_url,
    }


def render(
    which: Audience, reminder: bool, fields: EmailFields, *, sender: str, date: str, bureau: Bureau
) -> bytes:
    """The full message as bytes (CRLF line ends, quoted-printable UTF-8 parts)."""
    template = prepared(which, reminder, bool(fields.period))
    name = fields.name or ("meneer, mevrouw" if which != "simple" else "")
    values = {
        "name": name,
        "provider": fields.provider,
        "link": fields.link,
        "optout": fields.optout,
        "minutes": str(fields.minutes),
        "reply_by": dutch_date(fields.reply_by),
        "period": fields.period,
        **_bureau_fields(bureau),
    }
    text = template.text.substitute(values)
    page = template.html.substitute({key: html.escape(value) for key, value in values.items()})
    subject = _subject(template.subject_header, fields.provider)
    head = (
        f"From: {sender}\r\nTo: {fields.to}\r\nSubject: {subject}\r\nDate: {date}\r\n"
        f"Message-ID: {fields.message_id}\r\nMIME-Version: 1.0\r\n"
        f"List-Unsubscribe: <{fields.optout}>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        f'Content-Type: multipart/alternative; boundary="{BOUNDARY}"\r\n\r\n'
    )
    part = "Content-Type: text/{}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    return b"".join(
        (
            head.encode(),
            f"--{BOUNDARY}\r\n{part.format('plain')}".encode(),
            _qp(text),
            f"\r\n--{BOUNDARY}\r\n{part.format('html')}".encode(),
            _qp(page),
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        )
    )


@functools.lru_cache(maxsize=4096)
def _subject(template: str, provider: str) -> str:
    return Header(Template(template).substitute(provider=provider), "utf-8").encode()


def _qp(text: str) -> bytes:
    encoded = binascii.b2a_qp(text.encode(), istext=True)
    return encoded.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def smtp_date() -> str:
    return formatdate(localtime=False, usegmt=True)


# --- late bounces (delivery status notifications, RFC 3464, and the many other kinds) ---------

_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
# A Status field's code; a comment may follow it: "5.1.1 (bad destination mailbox address)".
_STATUS = re.compile(r"\s*([245]\.\d{1,3}\.\d{1,3})\b")
# Where a bounce returns the original message, or its headers alone.
_RETURNED_PARTS = ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers")


@dataclass(frozen=True)
class Bounce:
    """A late bounce: the original Message-ID ("" when the bounce does not quote it), the failed
    recipients' addresses (lower case) and the status (5.x.x permanent, 4.x.x delayed)."""

    message_id: str
    status: str
    addresses: frozenset[str] = frozenset()
    # The sender gave up (a DSN's Action: failed, also after 4.4.7 "expired"); else it tries again.
    permanent: bool = False

    @classmethod
    def of_status(cls, message_id: str, status: str) -> Bounce:
        """A bounce reported by its status alone (a relay's webhook): 5.x.x is permanent."""
        return cls(message_id, status, permanent=status.startswith("5"))


def parse_bounce(raw: bytes) -> Bounce:
    """The failure in a bounce message of any kind, found by flufl.bounce (standard DSNs and the
    formats of Exim, Postfix, qmail, Exchange, Yahoo, …), with the original Message-ID when the
    bounce carries it (a returned message, or its headers alone).

    ValueError, saying what is missing, when no failure is found or nothing names whom it is for.
    """
    message = email.message_from_bytes(raw)  # compat32, as flufl.bounce reads it
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector trips over a malformed message: the DSN fields may still say
        temporary = permanent = frozenset()
    status = _dsn_status(message) or ("5.0.0" if permanent else "4.0.0" if temporary else "")
    if not status:
        raise ValueError(
            "geen mislukte bezorging gevonden in dit bericht / no delivery failure found (no DSN Status, "
            "no failed recipient)"
        )
    addresses = frozenset(
        address.decode(errors="replace").strip().lower() for address in (permanent | temporary)
    )
    original = _original_message_id(message)
    if not original and not addresses:
        raise ValueError(
            "geen oorspronkelijke Message-ID of adres in de bounce / no original Message-ID or address"
        )
    gave_up = bool(permanent) if permanent or temporary else status.startswith("5")
    return Bounce(original, status, addresses, gave_up)


def _dsn_status(message: email.message.Message) -> str:
    """The Status of the failed recipient in a message/delivery-status part (its comment left out)."""
    status = ""
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in part.get_payload():
            if not isinstance(block, email.message.Message):
                continue
            found = _STATUS.match(str(block.get("Status", "")))
            if found and (not status or str(block.get("Action", "")).strip().lower() == "failed"):
                status = found.group(1)
    return status


def _original_message_id(message: email.message.Message) -> str:
    """The Message-ID header of the returned message or of its returned headers; never the first
    ``<…@…>`` of some other header."""
    for part in message.walk():
        if part.get_content_type() not in _RETURNED_PARTS:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):  # parsed as a message (message/*)
            headers = payload[0] if payload else None
        else:  # text/rfc822-headers: the headers as text
            data = part.get_payload(decode=True)
            text = data.decode(errors="replace") if isinstance(data, bytes) else str(payload)
            headers = email.message_from_string(text.lstrip())
        if isinstance(headers, email.message.Message):
            found = _MESSAGE_ID.search(str(headers.get("Message-ID", "")))
            if found:
                return found.group(0)
    found = _MESSAGE_ID.search(str(message.get("X-Original-Message-ID", "")))
    return found.group(0) if found else ""
