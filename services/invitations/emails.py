"""Dutch invitation and reminder emails per questionnaire variant and respondent type.

Pure: no I/O. Each template is prepared once (subject encoded, parts laid out) and filled in
per person cheaply; the result is the message's bytes, ready for SMTP. Text and HTML parts,
a deterministic Message-ID and List-Unsubscribe (one click, RFC 8058).
"""

from __future__ import annotations

import binascii
import email
import email.message
import email.policy
import functools
import html
import re
from dataclasses import dataclass
from datetime import date
from email.header import Header
from email.utils import formatdate
from string import Template
from typing import Literal

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


@dataclass(frozen=True)
class PreparedEmail:
    """A template laid out once: the fixed headers and the two bodies with placeholders."""

    subject_header: str
    text: Template
    html: Template


@functools.cache
def prepared(which: Audience, reminder: bool) -> PreparedEmail:
    wording = _TEXTS[(which, reminder)]
    simple = which == "simple"
    opt_out = _OPT_OUT_SIMPLE if simple else _OPT_OUT_TEXT
    paragraphs = (*wording.paragraphs, _CONTACT_SIMPLE if simple else _CONTACT_TEXT, opt_out)
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
    template = prepared(which, reminder)
    name = fields.name or ("meneer, mevrouw" if which != "simple" else "")
    values = {
        "name": name,
        "provider": fields.provider,
        "link": fields.link,
        "optout": fields.optout,
        "minutes": str(fields.minutes),
        "reply_by": dutch_date(fields.reply_by),
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


# --- late bounces (delivery status notifications, RFC 3464) -----------------------------

_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


@dataclass(frozen=True)
class Bounce:
    """A late bounce: the original Message-ID and its status (5.x.x permanent, 4.x.x delayed)."""

    message_id: str
    status: str

    @property
    def permanent(self) -> bool:
        return self.status.startswith("5")


def parse_dsn(raw: bytes) -> Bounce:
    """The bounce in a DSN: ``Status`` of the failed recipient and the original ``Message-ID``.

    ValueError, saying what is missing, when the message is not a usable DSN.
    """
    message = email.message_from_bytes(raw, policy=email.policy.default)
    status = ""
    original = ""
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in part.get_payload():
                found = block.get("Status") if isinstance(block, email.message.Message) else None
                action = block.get("Action", "") if isinstance(block, email.message.Message) else ""
                if found and (not status or action.lower() == "failed"):
                    status = str(found).strip()
        elif kind in ("message/rfc822", "text/rfc822-headers", "message/rfc822-headers"):
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], email.message.Message):
                original = str(inner[0].get("Message-ID", "")) or original
            elif isinstance(inner, str) and (match := _MESSAGE_ID.search(inner.split("\n\n")[0])):
                original = match.group(0)
    original = original or str(message.get("X-Original-Message-ID", ""))
    if not re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", status):
        raise ValueError("geen Status: x.y.z in de DSN / no Status field in a message/delivery-status part")
    if not _MESSAGE_ID.fullmatch(original.strip()):
        raise ValueError("geen oorspronkelijke Message-ID in de DSN / no original Message-ID")
    return Bounce(original.strip(), status)
