"""The report model of every kind, built from real scoring snapshots of generated studies."""

from __future__ import annotations

import functools
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from services.reporting.documents import (
    neutralise,
    render_csv,
    render_document,
    render_pdf,
    render_xlsx,
)
from services.reporting.domain import NO_FIGURE, format_decimal
from services.reporting.kinds import build_document
from services.reporting.model import Context, Diagram, ReportDocument, hidden_units, register_entries
from shared.events import GradeFigures, NormFigures, ProvinceCount, ScoresUpdatedPayload, UnitFigures
from shared.schemes import load_scheme
from tevreden.sample_reports import study_payloads

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@functools.cache
def payloads(scheme_id: str) -> tuple[ScoresUpdatedPayload, ...]:
    per_provider = 200 if scheme_id == "staff-survey" else 60
    return tuple(study_payloads(scheme_id, providers=5, per_provider=per_provider))


def document(scheme_id: str, status: str = "final", response: str | None = None) -> ReportDocument:
    context = Context(status, 1, "Pluswerk Re-integratie", "Studie 2026", provider_response=response)  # type: ignore[arg-type]
    return build_document(payloads(scheme_id)[0], load_scheme(scheme_id), context)


def test_the_blik_op_werk_report_has_every_figure_of_seed_000_beside_the_benchmark() -> None:
    doc = document("bow")
    numbers = [f.number for f in doc.figures()]
    assert numbers == [f"3.{i}" for i in range(1, 20)] + [f"4.{i}" for i in range(1, 8)]
    for figure in doc.figures():
        assert figure.benchmark_n > 0
        assert figure.suppressed or all(r.benchmark is not None for r in figure.rows)


def test_the_blik_op_werk_report_has_a_summary_page_and_response_table_1_1() -> None:
    doc = document("bow")
    assert doc.summary is not None and re.fullmatch(r"\d,\d", doc.summary.grade_text)
    [table] = [t for t in doc.tables() if t.caption.startswith("Tabel 1.1")]
    assert table.columns[1:] == ("Netto steekproef", "Ingevuld", "Respons (%)", "Rapportcijfer", "Publicatie")
    assert ("Cliënten",) in table.rows and ("Opdrachtgevers",) in table.rows
    assert any(row[0] == "Totaal opdrachtgevers" and row[-1] == "ja" for row in table.rows)


def test_the_blik_op_werk_report_draws_the_invitation_route_of_fig_1_with_the_providers_counts() -> None:
    doc = document("bow")
    [route] = [b for s in doc.sections for b in s.blocks if isinstance(b, Diagram)]
    clients = next(t for t in payloads("bow")[0].totals if t.respondent_type == "client")
    assert (route.number, route.title) == ("1", "Uitnodigingstraject cliënten en opdrachtgevers")
    assert "Telefonische optie" in route.svg  # the clients' lane: bow offers the telefonische optie
    assert f"{clients.completed} van {clients.net_sample} (" in route.svg
    assert route.svg.count("Respons") == 2  # a lane per respondent type


def test_the_uwv_report_accounts_for_every_perceel_and_concludes_when_response_is_missed() -> None:
    doc = document("uwv-reintegratie")
    [accounting] = [t for t in doc.tables() if "Methodologische verantwoording" in t.caption]
    assert (
        "Benaderd (beëindigde diensten)" in accounting.columns and "Respons-eis gehaald" in accounting.columns
    )
    section = next(s for s in doc.sections if s.title == "Methodologische verantwoording")
    missed = [row for row in accounting.rows if row[-1] == "nee"]
    conclusions = [b for b in section.blocks if isinstance(b, str) and "Conclusie van" in b]
    assert len(conclusions) == len(missed)


def test_a_missed_response_requirement_gets_the_bureaus_conclusion() -> None:
    payload = payloads("uwv-reintegratie")[0]
    unit = payload.units[0].model_copy(update={"net_sample": 100, "completed": 3, "response_rate": 0.03})
    doc = build_document(
        payload.model_copy(update={"units": (unit,)}),
        load_scheme("uwv-reintegratie"),
        Context("draft", 1, "X", "Y"),
    )
    section = next(s for s in doc.sections if s.title == "Methodologische verantwoording")
    assert any(isinstance(b, str) and "respons-eis" in b and "Conclusie van" in b for b in section.blocks)


def test_the_jobcoach_report_shows_werknemer_and_werkgever_side_by_side_with_their_means() -> None:
    doc = document("uwv-jobcoach")
    grades = doc.tables()[0]
    assert grades.columns == ("", "Werknemer", "Werkgever")
    assert grades.rows[-1][0] == "Behaald cijfer" and ":" in grades.rows[-1][1] and ":" in grades.rows[-1][2]
    captions = [t.caption for t in doc.tables()]
    assert any("nee – niet helemaal – ja" in c for c in captions)
    assert any("onvoldoende – matig – voldoende – goed" in c for c in captions)


def test_the_jobcoach_grades_of_one_period_stand_on_one_row() -> None:
    payload = payloads("uwv-jobcoach")[0]
    doc = document("uwv-jobcoach")
    rows = doc.tables()[0].rows[:-1]
    assert len(rows) == len(payload.periods) > 0
    for row, period in zip(rows, payload.periods, strict=True):
        assert row[0].startswith("Jobcoachperiode")
        assert row[1] == (NO_FIGURE if period.werknemer is None else format_decimal(period.werknemer))
        assert row[2] == (NO_FIGURE if period.werkgever is None else format_decimal(period.werkgever))


def test_without_periods_the_jobcoach_table_does_not_pair_unrelated_forms() -> None:
    payload = payloads("uwv-jobcoach")[0].model_copy(update={"periods": ()})
    context = Context("final", 1, "Pluswerk Re-integratie", "Studie 2026")
    table = build_document(payload, load_scheme("uwv-jobcoach"), context).tables()[0]
    assert all(row[0].startswith("Formulier") for row in table.rows[:-1])
    assert "niet aan hun jobcoachperiode gekoppeld" in table.note


def test_the_jobcoach_analysis_comes_from_the_providers_response() -> None:
    doc = document("uwv-jobcoach", response="Analyse: de bereikbaarheid kan beter. Actie: vaste belmomenten.")
    section = next(s for s in doc.sections if s.title.startswith("Analyse"))
    assert "vaste belmomenten" in section.blocks[0]  # type: ignore[operator]


def test_the_staff_survey_report_names_only_significant_group_differences() -> None:
    doc = document("staff-survey")
    section = next(s for s in doc.sections if s.title == "Groepen medewerkers vergeleken")
    tables = [b for b in section.blocks if not isinstance(b, str)]
    for table in tables:
        assert all(float(row[2].replace(",", ".")) < 0.05 for row in table.rows)  # type: ignore[union-attr]
    assert any("Likert" in t.caption or "gerangschikt" in t.caption for t in doc.tables())


def _unit(code: str | None, n: int, disclosable: bool) -> UnitFigures:
    return UnitFigures(
        service_code=code,
        respondent_type="client",
        completed=n,
        grade=GradeFigures(n=n, mean=7.0),
        disclosable=disclosable,
    )


def test_one_hidden_service_hides_the_next_smallest_so_it_cannot_be_derived_from_the_total() -> None:
    units = [_unit("1", 3, False), _unit("2", 9, True), _unit("3", 20, True)]
    assert hidden_units(_unit(None, 32, True), units, 5) == {"1", "2"}


def test_two_hidden_services_that_reach_the_minimum_together_need_no_further_suppression() -> None:
    units = [_unit("1", 3, False), _unit("2", 2, False), _unit("3", 20, True)]
    assert hidden_units(_unit(None, 25, True), units, 5) == {"1", "2"}


def test_two_hidden_services_below_the_minimum_together_hide_the_next_smallest() -> None:
    units = [_unit("1", 1, False), _unit("2", 2, False), _unit("3", 20, True), _unit("4", 9, True)]
    assert hidden_units(_unit(None, 32, True), units, 5) == {"1", "2", "4"}


def test_a_provider_below_the_minimum_shows_no_figures_at_all() -> None:
    payload = payloads("bow")[1]
    totals = tuple(t.model_copy(update={"disclosable": False}) for t in payload.totals)
    doc = build_document(
        payload.model_copy(update={"totals": totals}), load_scheme("bow"), Context("draft", 1, "X", "Y")
    )
    assert all(f.suppressed and not f.rows for f in doc.figures())


def test_the_register_holds_only_published_disclosable_grades() -> None:
    payload = payloads("bow")[0]
    entries = register_entries(payload, load_scheme("bow"), "Pluswerk")
    published = {
        (u.service_code, u.respondent_type) for u in (*payload.units, *payload.totals) if u.published
    }
    assert {(e.service_code, e.respondent_type) for e in entries} <= published
    unpublished = payload.model_copy(
        update={
            "units": tuple(u.model_copy(update={"published": False}) for u in payload.units),
            "totals": tuple(u.model_copy(update={"published": False}) for u in payload.totals),
        }
    )
    assert register_entries(unpublished, load_scheme("bow"), "Pluswerk") == []


@pytest.mark.parametrize("cell", ["=1+1", "+31", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_cells_a_spreadsheet_would_run_are_neutralised(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


def test_exports_hold_the_figures_and_no_formula() -> None:
    doc = document("bow")
    csv_text = render_csv(doc)
    assert "fig. 3.1 Gemiddeld rapportcijfer" in csv_text
    sheet = load_workbook(io.BytesIO(render_xlsx(doc))).active
    assert sheet is not None
    values = [c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, str)]
    assert not [v for v in values if v[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert any(v.startswith("fig. 4.7") for v in values)


def test_no_free_text_answer_reaches_a_report() -> None:
    html = render_document(document("bow"))
    assert "remarks" not in html and "Opmerkingen" not in html


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="pdftoppm (poppler-utils) not installed")
def test_the_pdf_renders_to_pages_with_text_and_charts() -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "bow-report.pdf"
    pdf.write_bytes(render_pdf(render_document(document("bow", status="draft"), pdf=True)))
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for heading in ("Samenvatting", "Tabel 1.1", "fig. 3.1", "fig. 3.19", "fig. 4.7", "Alle deelnemers"):
        assert heading in text
    for old in ARTIFACTS.glob("bow-report-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(ARTIFACTS / "bow-report")], check=True)
    pages = sorted(ARTIFACTS.glob("bow-report-*.png"))
    assert len(pages) >= 8
    from PIL import Image

    with Image.open(pages[2]) as page:  # a page of figures: the bars' provider colour is on it
        colours = page.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert any(_near(rgb, (0x1F, 0x5F, 0x8B)) and count > 50 for count, rgb in colours)


def _near(a: tuple[int, int, int], b: tuple[int, int, int]) -> bool:
    return all(abs(x - y) <= 12 for x, y in zip(a, b, strict=True))


def _with_provinces(payload: ScoresUpdatedPayload) -> ScoresUpdatedPayload:
    counts = (("Zuid-Holland", 30), ("Utrecht", 15), ("Zeeland", 5))
    provinces = tuple(ProvinceCount(province=p, invited=n) for p, n in counts)  # type: ignore[arg-type]
    return payload.model_copy(update={"provinces": provinces})


def test_the_blik_op_werk_summary_names_the_provinces_the_clients_come_from_with_their_shares() -> None:
    context = Context("final", 1, "Pluswerk Re-integratie", "Studie 2026")
    doc = build_document(_with_provinces(payloads("bow")[0]), load_scheme("bow"), context)
    assert doc.summary is not None
    assert [(name, text) for name, _, text in doc.summary.provinces] == [
        ("Zuid-Holland", "30 (60%)"),
        ("Utrecht", "15 (30%)"),
        ("Zeeland", "5 (10%)"),
    ]
    html = render_document(doc)
    assert "Cliënten afkomstig uit de volgende provincie(s): " in html
    assert "Zuid-Holland, Utrecht, Zeeland" in html and "<title>Cliënten per provincie</title>" in html


def test_without_a_known_province_the_summary_shows_no_provinces() -> None:
    doc = document("bow")
    assert doc.summary is not None and doc.summary.provinces == ()
    assert "provincie(s)" not in render_document(doc)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed")
def test_the_provinces_are_on_the_pdf_summary_page() -> None:
    context = Context("final", 1, "Pluswerk Re-integratie", "Studie 2026")
    doc = build_document(_with_provinces(payloads("bow")[0]), load_scheme("bow"), context)
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "bow-provinces.pdf"
    pdf.write_bytes(render_pdf(render_document(doc, pdf=True)))
    text = subprocess.run(
        ["pdftotext", "-f", "1", "-l", "3", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    summary = text[text.index("Samenvatting") :]
    assert "provincie(s)" in summary and "Zuid-Holland" in summary and "30 (60%)" in summary


@pytest.mark.parametrize(
    ("verdict", "reason", "says"),
    [
        ("met", "Norm gehaald.", "Norm gehaald."),
        ("missed", "Norm niet gehaald: totaal 6,1 < 6,5.", "Norm niet gehaald: totaal 6,1 < 6,5."),
        (
            "no_grades",
            "Geen rapportcijfers ontvangen.",
            "Norm: niet te beoordelen. Geen rapportcijfers ontvangen.",
        ),
    ],
)
def test_the_summary_says_the_norms_verdict_once(verdict: str, reason: str, says: str) -> None:
    norm = NormFigures(rule="per_unit", verdict=verdict, reason=reason)  # type: ignore[arg-type]
    payload = payloads("bow")[0]
    totals = tuple(
        t.model_copy(update={"grade": t.grade.model_copy(update={"mean": 6.1})})
        if t.respondent_type == "client"
        else t
        for t in payload.totals
    )
    payload = payload.model_copy(update={"norms": (norm,), "totals": totals})
    doc = build_document(payload, load_scheme("bow"), Context("final", 1, "Pluswerk", "Studie 2026"))
    assert doc.summary is not None and doc.summary.norm_text == says
