"""The printed report reads like one a bureau signs (seed 000): a title page with the
commissioner, place and date, a table of contents, a disclaimer and a contact section with
the bureau's helpdesk, checked in the PDF's own text."""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from services.reporting.charts import ChartRow, bar_chart
from services.reporting.documents import render_document, render_pdf, table_of_contents
from services.reporting.kinds import build_document
from services.reporting.model import Context, ReportDocument, section_caption
from shared.schemes import load_scheme
from shared.settings import Bureau
from tevreden.sample_reports import study_payloads

BUREAU = Bureau(
    name="Onderzoeksbureau Panteia",
    phone="079 322 29 97",
    phone_hours="maandag tot en met vrijdag van 09.00 tot 17.00 uur",
    email="dienstverleners@panteia.example",
    postal_address="Postbus 7001, 2701 AA Zoetermeer",
    website="https://panteia.example",
    privacy_url="https://panteia.example/privacy",
)
needs_pdftotext = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


@functools.cache
def bow_document() -> ReportDocument:
    payload = study_payloads("bow", providers=5, per_provider=60)[0]
    context = Context(
        "final", 1, "Pluswerk Reïntegratie", "Tevredenheidsonderzoek Blik op Werk 2026",
        period=(date(2026, 1, 1), date(2026, 12, 31)), bureau=BUREAU, issued_on=date(2020, 2, 21),
    )  # fmt: skip
    return build_document(payload, load_scheme("bow"), context)


@functools.cache
def pdf_pages(tmp: Path) -> list[str]:
    pdf = tmp / "rapport.pdf"
    pdf.write_bytes(render_pdf(render_document(bow_document(), pdf=True)))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True)
    return [" ".join(page.split()) for page in text.stdout.split("\f")]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return pdf_pages(tmp_path_factory.mktemp("report"))


@needs_pdftotext
def test_the_title_page_names_commissioner_provider_study_place_and_date_without_a_clock_time(
    pages: list[str],
) -> None:
    title = pages[0]
    assert "In opdracht van Stichting Blik op Werk" in title
    assert "Pluswerk Reïntegratie" in title and "Tevredenheidsonderzoek Blik op Werk 2026" in title
    assert "Zoetermeer, vrijdag 21 februari 2020" in title
    assert re.search(r"\b\d{1,2}:\d{2}\b", title) is None


@needs_pdftotext
def test_the_title_page_carries_the_disclaimer_of_the_bureau(pages: list[str]) -> None:
    assert "De verantwoordelijkheid voor de inhoud berust bij Onderzoeksbureau Panteia" in pages[0]


@needs_pdftotext
def test_the_table_of_contents_lists_every_numbered_section_in_order(pages: list[str]) -> None:
    contents = pages[1]
    assert contents.startswith("Inhoudsopgave")
    expected = [
        "1 Inleiding",
        "2 Onderzoek",
        "3 Onderzoek onder cliënten",
        "4 Opdrachtgevers",
        "5 Contactgegevens",
    ]
    positions = [contents.find(entry) for entry in expected]
    assert -1 not in positions and positions == sorted(positions)
    assert "3.3 Contact met Pluswerk Reïntegratie" in contents


def test_sections_are_numbered_without_gaps_with_the_contact_section_last() -> None:
    numbers = [s.number for s in bow_document().sections if s.number.isdigit()]
    assert numbers == [str(i) for i in range(1, len(numbers) + 1)]
    assert bow_document().sections[len(numbers) - 1].title == "Contactgegevens"


def test_a_provider_response_is_numbered_after_the_last_section_not_after_the_appendix() -> None:
    payload = study_payloads("bow", providers=5, per_provider=60)[0]
    doc = build_document(
        payload, load_scheme("bow"), Context("final", 1, "X", "Y", provider_response="Dank.")
    )
    numbered = [(s.number, s.title) for s in doc.sections if s.number.isdigit()]
    assert numbered[-2:] == [
        ("5", "Reactie van de dienstverlener (hoor en wederhoor)"),
        ("6", "Contactgegevens"),
    ]


@needs_pdftotext
def test_the_contact_section_holds_the_helpdesk_email_phone_and_hours(pages: list[str]) -> None:
    contact = [page for page in pages if "5 Contactgegevens" in page][-1]  # not the contents
    assert "dienstverleners@panteia.example" in contact
    assert "079 322 29 97" in contact
    assert "maandag tot en met vrijdag van 09.00 tot 17.00 uur" in contact


@needs_pdftotext
def test_no_chart_prints_zero_labels(pages: list[str]) -> None:
    assert not any("0% 0%" in page for page in pages)


@needs_pdftotext
def test_table_1_2_lists_no_retired_dienst(pages: list[str]) -> None:
    table = next(page for page in pages if "Tabel 1.2 Diensten" in page)
    assert "dienst 11" in table and "dienst 13" in table and "dienst 12" not in table


def test_table_1_2_sets_its_text_column_flush_left() -> None:
    html = render_document(bow_document(), pdf=True)
    table = html[html.index("Tabel 1.2 Diensten") :]
    assert '<td class="text">Scholing en opleiding</td>' in table[: table.index("</table>")]


def test_the_contents_link_to_their_headings() -> None:
    html = render_document(bow_document(), pdf=True)
    for anchor, number, _ in table_of_contents(bow_document(), pdf=True):
        assert f'href="#{anchor}"' in html and f'id="{anchor}"' in html, number


def test_a_long_chart_label_wraps_over_lines_instead_of_being_cut_short() -> None:
    first = "Welke dienst(en) heeft u bij de organisatie ingekocht voor de begeleiding van uw medewerker"
    labels = [f"{first} {end}" for end in ("naar werk", "in werk")]
    svg = bar_chart([ChartRow(label, 50, "50%", 40, "40%") for label in labels], scale_max=100, own_label="X")
    lines = re.findall(r'<text x="0" [^>]*>([^<]*)</text>', svg)
    assert len(lines) > len(labels)  # wrapped
    assert " ".join(lines) == " ".join(labels)  # every word kept, nothing cut


def test_chart_text_is_at_least_8_points_in_print() -> None:
    svg = bar_chart([ChartRow("Ja", 50, "50%", 40, "40%")], scale_max=100, own_label="Pluswerk")
    size = float(re.search(r'font-size="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]
    assert size * 0.75 >= 8  # CSS px to pt; the chart prints at its own width (640 px of ~657)


def test_a_figure_of_a_section_with_long_instructions_is_titled_by_its_question() -> None:
    intro = (
        "De onderstaande vragen gaan over alle diensten die u bij de organisatie heeft ingekocht. Welk "
        "rapportcijfer geeft u aan onderstaande zaken? Een rapportcijfer is een cijfer van 1 tot 10. Een 1 "
        "betekent: heel slecht. Een 10 betekent: heel goed."
    )
    assert (
        section_caption(intro, "Beoordeling dienstverlening")
        == "Welk rapportcijfer geeft u aan onderstaande zaken?"
    )


def test_the_interim_report_names_the_configured_bureau_in_its_contact_section() -> None:
    from services.reporting.service import live_document

    doc = live_document(study_payloads("bow", providers=5, per_provider=60)[0], 1, BUREAU)
    html = render_document(doc)
    assert "dienstverleners@panteia.example" in html and "079 322 29 97" in html
