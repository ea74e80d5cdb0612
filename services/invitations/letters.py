"""Print-ready letters (PDF, A4, one page per person) and the mail house's manifest CSV.

Each letter carries the personal link, the short code (typed in at /kort or given on the phone)
and a QR code of the link. The letter window fits a standard DL/C5 window envelope.
"""

from __future__ import annotations

import csv
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass

import segno

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
    link: str
    short_code: str
    period: str = ""  # which jobcoach period the form is about (emails.period_sentence)


_CSS = """
@page { size: A4; margin: 20mm 20mm 20mm 25mm; }
body { font-family: 'DejaVu Sans', Arial, sans-serif; font-size: 11pt; line-height: 1.45; }
.letter { page-break-after: always; }
.address { margin-top: 30mm; height: 35mm; }
.code { font-size: 16pt; font-weight: bold; letter-spacing: 2px; }
.qr { float: right; width: 35mm; height: 35mm; margin-left: 8mm; }
.simple { font-size: 13pt; }
"""


def _paragraphs(letter: Letter) -> list[str]:
    p = html.escape(letter.provider)
    if letter.simple:
        return [
            f"U kreeg hulp van {p}. Was die hulp goed? Wij willen dat graag weten.",
            "Scan de QR-code met uw telefoon. Of typ de link over. Dan ziet u de vragen.",
            "U kunt de vragen ook laten voorlezen. Het duurt 5 minuten.",
        ]
    first = (
        f"Kort geleden vroegen wij uw mening over de begeleiding van {p}. Wij hebben uw antwoorden nog"
        " niet ontvangen."
        if letter.reminder
        else f"U heeft begeleiding gehad van {p}. Wij doen een onafhankelijk onderzoek naar hoe"
        " tevreden cliënten daarover zijn, en horen graag wat u ervan vond."
    )
    about = [html.escape(letter.period)] if letter.period else []
    return [
        first,
        *about,
        "U vult de vragenlijst in op internet: scan de QR-code met uw telefoon of typ de link in uw"
        " browser. Het invullen duurt ongeveer 5 minuten. Niemand ziet wat u persoonlijk antwoordt.",
    ]


def letter_html(letters: Sequence[Letter]) -> str:
    """One HTML document, one letter per page, for WeasyPrint."""
    pages = []
    for letter in letters:
        qr = segno.make(letter.link, error="m").svg_data_uri(scale=4, border=0)
        name = html.escape(letter.name) or "De bewoner"
        greeting = f"Beste {html.escape(letter.name)}," if letter.name else "Beste meneer, mevrouw,"
        body = "".join(f"<p>{text}</p>" for text in _paragraphs(letter))
        pages.append(
            f'<div class="letter{" simple" if letter.simple else ""}">'
            f'<div class="address">{name}<br>{html.escape(letter.street)} {html.escape(letter.house_number)}'
            f"<br>{html.escape(letter.postcode)} {html.escape(letter.city)}</div>"
            f"<p><strong>{'Herinnering: u' if letter.reminder else 'U'}w mening over "
            f"{html.escape(letter.provider)}</strong></p>"
            f'<p>{greeting}</p><img class="qr" src="{qr}" alt="QR-code">{body}'
            f"<p>Link: {html.escape(letter.link)}</p>"
            f'<p>Uw persoonlijke code: <span class="code">{format_short_code(letter.short_code)}</span>'
            "<br>Noem deze code als u ons belt.</p>"
            "<p>Met vriendelijke groet,<br>Het onderzoeksbureau</p></div>"
        )
    return (
        f'<!DOCTYPE html><html lang="nl"><head><meta charset="utf-8"><style>{_CSS}</style></head>'
        f"<body>{''.join(pages)}</body></html>"
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
