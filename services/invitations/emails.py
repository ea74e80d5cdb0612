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
from email.header import Header
from email.utils import formatdate
from string import Template
from typing import Literal

from flufl.bounce import all_failures

Audience = Literal["client", "simple", "buyer", "werknemer", "employee"]
BOUNDARY = "=-tevreden-alternative-="


@dataclass(frozen=True)
class EmailText:
    """One email's wording: subject and paragraphs (``$name``, ``$provider`` and ``$link`` filled in)."""

    subject: str
    paragraphs: tuple[str, ...]


_TEXTS: dict[tuple[Audience, bool], EmailText] = {
    ("client", False): EmailText(
        "Wat vond u van uw begeleiding door $provider?",
        (
            "Beste $name,",
            "U heeft begeleiding gehad van $provider. Wij doen een onafhankelijk onderzoek naar"
            " hoe tevreden cliënten daarover zijn, en wij horen graag wat u ervan vond.",
            "Het invullen duurt ongeveer 5 minuten. Wij rapporteren alleen totalen: niemand ziet"
            " wat u persoonlijk heeft geantwoord. $provider heeft uw gegevens alleen voor dit"
            " onderzoek aan ons gegeven.",
            "Begin met de vragenlijst via deze persoonlijke link:",
            "$link",
            "Met vriendelijke groet,\nHet onderzoeksbureau",
        ),
    ),
    ("client", True): EmailText(
        "Herinnering: wat vond u van uw begeleiding door $provider?",
        (
            "Beste $name,",
            "Kort geleden vroegen wij uw mening over de begeleiding van $provider. Wij hebben"
            " uw antwoorden nog niet ontvangen. Uw mening telt mee, ook als u minder tevreden was.",
            "Het invullen duurt ongeveer 5 minuten:",
            "$link",
            "Heeft u de vragenlijst net ingevuld? Dan kunt u deze e-mail vergeten. Dank u wel!",
            "Met vriendelijke groet,\nHet onderzoeksbureau",
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
            "Het duurt 5 minuten.\nWij vertellen niet wat u zegt.",
            "Dank u wel!\nHet onderzoeksbureau",
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
            "Het duurt 5 minuten.",
            "Dank u wel!\nHet onderzoeksbureau",
        ),
    ),
    ("buyer", False): EmailText(
        "Uw oordeel over de dienstverlening van $provider",
        (
            "Geachte heer, mevrouw,",
            "Uw organisatie heeft diensten van $provider ingekocht. In een onafhankelijk"
            " klanttevredenheidsonderzoek vragen wij ook opdrachtgevers naar hun oordeel.",
            "De vragenlijst kost u ongeveer 5 minuten:",
            "$link",
            "Met vriendelijke groet,\nHet onderzoeksbureau",
        ),
    ),
    ("buyer", True): EmailText(
        "Herinnering: uw oordeel over $provider",
        (
            "Geachte heer, mevrouw,",
            "Onlangs vroegen wij uw oordeel over de dienstverlening van $provider. Wij hebben uw"
            " antwoorden nog niet ontvangen en stellen uw bijdrage zeer op prijs.",
            "$link",
            "Met vriendelijke groet,\nHet onderzoeksbureau",
        ),
    ),
    ("werknemer", False): EmailText(
        "Wat vond u van uw jobcoach van $provider?",
        (
            "Beste $name,",
            "U heeft een jobcoach gehad van $provider. Wij vragen u een kort formulier in te"
            " vullen over die begeleiding. Uw antwoorden worden alleen als totaal gerapporteerd.",
            "$link",
            "Met vriendelijke groet,\nHet onderzoeksbureau",
        ),
    ),
    ("werknemer", True): EmailText(
        "Herinnering: uw mening over uw jobcoach",
        (
            "Beste $name,",
            "Wij hebben uw formulier over de jobcoach van $provider nog niet ontvangen.",
            "$link",
            "Met vriendelijke groet,\nHet onderzoeksbureau",
        ),
    ),
    ("employee", False): EmailText(
        "Medewerkersonderzoek: uw mening telt",
        (
            "Beste collega,",
            "Wij vragen alle medewerkers naar hun ervaringen. De vragenlijst is anoniem.",
            "$link",
            "Met vriendelijke groet,\nHet onderzoeksbureau",
        ),
    ),
    ("employee", True): EmailText(
        "Herinnering: medewerkersonderzoek",
        ("Beste collega,", "U kunt de vragenlijst nog invullen:", "$link", "Dank u wel!"),
    ),
}
_OPT_OUT_TEXT = "Wilt u geen e-mail meer over dit onderzoek? Meld u af: $optout"
_OPT_OUT_SIMPLE = "Wilt u geen mail meer? Klik hier: $optout"


def audience(respondent_type: str, variant: str) -> Audience:
    """Which wording a person gets, from their respondent type and questionnaire variant."""
    if respondent_type in ("opdrachtgever", "werkgever"):
        return "buyer"
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
    opt_out = _OPT_OUT_SIMPLE if which == "simple" else _OPT_OUT_TEXT
    paragraphs = (*wording.paragraphs, opt_out)
    text = "\n\n".join(paragraphs) + "\n"
    html_paragraphs = []
    for paragraph in paragraphs:
        if paragraph == "$link":
            html_paragraphs.append('<p><a href="$link" style="font-size:1.2em">Naar de vragenlijst</a></p>')
        else:
            body = html.escape(paragraph, quote=False).replace("\n", "<br>")
            body = body.replace("$optout", '<a href="$optout">afmelden</a>')
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


def render(which: Audience, reminder: bool, fields: EmailFields, *, sender: str, date: str) -> bytes:
    """The full message as bytes (CRLF line ends, quoted-printable UTF-8 parts)."""
    template = prepared(which, reminder)
    name = fields.name or ("meneer, mevrouw" if which != "simple" else "")
    text = template.text.substitute(
        name=name, provider=fields.provider, link=fields.link, optout=fields.optout
    )
    page = template.html.substitute(
        name=html.escape(name),
        provider=html.escape(fields.provider),
        link=html.escape(fields.link),
        optout=html.escape(fields.optout),
    )
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
