"""Print-ready letters (PDF, A4, one page per person) and the mail house's manifest CSV.

Each letter carries the bureau's letterhead and return address, the date and reference
(kenmerk: the short code), a short address with a personal code to type in there (or to say on
the phone) and a QR code of the link. The letter window fits a standard DL/C5 window envelope.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import segno

from services.invitations.emails import dutch_date
from shared.settings import Bureau
from shared.tokens import format_short_code


@dataclass(frozen=True)
class Letter:
    letter_id: str
    reminder: bool
    simple: bool  # low-threshold or inburgering: the simplest Dutch
    name: str
    street: str
    house_number: str
    postcode: str
    city: str
    provider: str
    link: str  # the personal link, in the QR code
    short_code: str  # the reference (kenmerk) the mail house and returned mail use
    letter_code: str  # the personal code typed in at the short address or said on the phone
    short_address: str  # where the code is typed in, as printed: tevreden.example/code
    minutes: int
    sent_on: date
    reply_by: date
    bureau: Bureau


_CSS = """
@page { size: A4; margin: 15mm 20mm 15mm 25mm; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 11pt; line-height: 1.45; }
.letter { page-break-after: always; }
.letterhead { text-align: right; font-size: 9pt; color: #333; height: 22mm; }
.letterhead strong { font-size: 13pt; color: #0b5394; }
.window { height: 40mm; margin-top: 3mm; }
.return { font-size: 6.5pt; color: #333; border-bottom: 0.3pt solid #999; width: 95mm;
          margin-bottom: 2mm; white-space: nowrap; }
.meta { font-size: 9.5pt; margin: 6mm 0 5mm; border-collapse: collapse; }
.meta th { text-align: left; font-weight: normal; color: #555; padding-right: 6mm; }
.howto { border: 1pt solid #0b5394; border-radius: 2mm; padding: 3mm 4mm; margin: 4mm 0; }
.howto ol { margin: 0; padding-left: 5mm; }
.address-to-type { font-size: 14pt; font-weight: bold; }
.code { font-size: 18pt; font-weight: bold; letter-spacing: 3px; font-family: 'DejaVu Sans Mono', monospace; }
.qr { float: right; width: 30mm; height: 30mm; margin-left: 6mm; }
.small { font-size: 9pt; color: #333; }
.simple { font-size: 13pt; }
"""


def _paragraphs(letter: Letter) -> list[str]:
    p = html.escape(letter.provider)
    bureau = html.escape(letter.bureau.name)
    if letter.simple:
        return [
            f"U kreeg hulp van {p}. Was die hulp goed? Wij willen dat graag weten.",
            f"Het duurt ongeveer {letter.minutes} minuten. U kunt de vragen ook laten voorlezen.",
        ]
    first = (
        f"Kort geleden vroegen wij uw mening over de begeleiding van {p}. Wij hebben uw antwoorden nog"
        " niet ontvangen. Uw mening telt mee, ook als u minder tevreden was."
        if letter.reminder
        else f"U heeft begeleiding gehad van {p}. {bureau} doet een onafhankelijk onderzoek naar hoe"
        " tevreden cliënten daarover zijn, en wij horen graag wat u ervan vond."
    )
    return [
        first,
        f"Het invullen duurt ongeveer {letter.minutes} minuten. U kunt tussendoor stoppen en later"
        f" verder gaan. Niemand ziet wat u persoonlijk antwoordt: wij rapporteren alleen totalen.",
    ]


def _how_to(letter: Letter) -> str:
    code = format_short_code(letter.letter_code)
    address = html.escape(letter.short_address)
    return (
        '<div class="howto"><ol>'
        f'<li>Ga op internet naar <span class="address-to-type">{address}</span></li>'
        f'<li>Vul uw persoonlijke code in: <span class="code">{code}</span></li>'
        "</ol>Of scan de QR-code met de camera van uw telefoon.</div>"
    )


def _one_letter(letter: Letter) -> str:
    bureau = letter.bureau
    qr = segno.make(letter.link, error="m").svg_data_uri(scale=4, border=0)
    name = html.escape(letter.name) or "De bewoner"
    greeting = f"Beste {html.escape(letter.name)}," if letter.name else "Beste meneer, mevrouw,"
    subject = f"{'Herinnering: u' if letter.reminder else 'U'}w mening over {html.escape(letter.provider)}"
    body = "".join(f"<p>{text}</p>" for text in _paragraphs(letter))
    phone = html.escape(bureau.phone)
    return (
        f'<div class="letter{" simple" if letter.simple else ""}">'
        f'<div class="letterhead"><strong>{html.escape(bureau.name)}</strong><br>'
        f"{html.escape(bureau.postal_address)}<br>{phone} · {html.escape(bureau.email)}"
        f" · {html.escape(bureau.website)}</div>"
        f'<div class="window"><div class="return">Retour: {html.escape(bureau.name)},'
        f" {html.escape(bureau.postal_address)}</div>"
        f"{name}<br>{html.escape(letter.street)} {html.escape(letter.house_number)}"
        f"<br>{html.escape(letter.postcode)} {html.escape(letter.city)}</div>"
        f'<table class="meta"><tr><th>Datum</th><td>{dutch_date(letter.sent_on)}</td></tr>'
        f"<tr><th>Ons kenmerk</th><td>{format_short_code(letter.short_code)}</td></tr>"
        f"<tr><th>Onderwerp</th><td>{subject}</td></tr></table>"
        f'<p>{greeting}</p><img class="qr" src="{qr}" alt="QR-code naar uw vragenlijst">{body}'
        f"{_how_to(letter)}"
        f"<p>Wilt u meedoen vóór {dutch_date(letter.reply_by)}? Liever telefonisch? Bel {phone}"
        f" ({html.escape(bureau.phone_hours)}) en noem uw persoonlijke code.</p>"
        f"<p>Met vriendelijke groet,<br>{html.escape(bureau.name)}</p>"
        f'<p class="small">Hoe wij met uw gegevens omgaan, leest u in onze privacyverklaring:'
        f" {html.escape(bureau.privacy_url)}. Wilt u niet meer benaderd worden? Bel of mail ons"
        f" ({html.escape(bureau.email)}).</p></div>"
    )


def letter_html(letters: Sequence[Letter]) -> str:
    """One HTML document, one letter per page, for WeasyPrint."""
    pages = "".join(_one_letter(letter) for letter in letters)
    return (
        f'<!DOCTYPE html><html lang="nl"><head><meta charset="utf-8"><style>{_CSS}</style></head>'
        f"<body>{pages}</body></html>"
    )


def render_pdf(letters: Sequence[Letter]) -> bytes:
    from weasyprint import HTML  # imported late: it loads Pango

    pdf: bytes = HTML(string=letter_html(letters)).write_pdf()
    return pdf


MANIFEST_COLUMNS = ("page", "letter_id", "short_code", "name", "street", "house_number", "postcode", "city")


def manifest_csv(letters: Sequence[Letter]) -> str:
    """For the mail house: page number → letter and address, so every page is checked once."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for page, letter in enumerate(letters, start=1):
        writer.writerow(
            (
                page,
                letter.letter_id,
                format_short_code(letter.short_code),
                letter.name,
                letter.street,
                letter.house_number,
                letter.postcode,
                letter.city,
            )
        )
    return out.getvalue()
