"""Read the cells a report shows (n and mean of a total and its diensten/percelen) back from the
report model, its HTML, its CSV/XLSX export, its PDF text and the register, as families for
``tests.disclosure_check``.

Sources per respondent type: the response table (tabel 1.1: "Ingevuld" and "Rapportcijfer"),
UWV's tabel 3.1 (n and rapportcijfer per perceel), and the figure of mean grades (fig. 3.1 / 4.1:
"label (n=12)" and the provider's value). A dienst shown in any source counts as shown.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from typing import Any

from openpyxl import load_workbook

from services.reporting.model import RESPONDENT_LABELS, ReportDocument
from shared.schemes import Scheme
from tests.disclosure_check import Family, ShownCell, dutch_number

GRADE_FIGURE = "Gemiddeld rapportcijfer"
TYPES_BY_LABEL = {label: t for t, label in RESPONDENT_LABELS.items()}
LABEL_SUFFIX = re.compile(r"\s*\((n=\d+|te weinig respondenten)\)$")


@dataclass
class Grid:
    """A table as shown: caption, column names, rows (a row of one cell is a heading)."""

    caption: str
    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)


@dataclass
class GradeFigure:
    """A figure of mean grades: its number and (label, value) per row."""

    number: str
    rows: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Collected:
    """Per respondent type: the total and the parts, name → (n, mean or None)."""

    totals: dict[str, tuple[int, float | None]] = field(default_factory=dict)
    parts: dict[str, dict[str, tuple[int, float | None]]] = field(default_factory=dict)

    def add(self, respondent_type: str, name: str, n: int | None, mean: float | None) -> None:
        is_total = name.startswith("Totaal")
        store = self.totals if is_total else self.parts.setdefault(respondent_type, {})
        key = respondent_type if is_total else name
        old_n, old_mean = store.get(key, (0, None))
        store[key] = (n if n is not None else old_n, mean if mean is not None else old_mean)

    def families(self, scheme: Scheme, where: str) -> list[Family]:
        found: list[Family] = []
        for respondent_type in {*self.totals, *self.parts}:
            n, mean = self.totals.get(respondent_type, (0, None))
            parts = [
                ShownCell(name, pn, pm) for name, (pn, pm) in self.parts.get(respondent_type, {}).items()
            ]
            minimum = scheme.disclosure.min_n(respondent_type)  # type: ignore[arg-type]
            found.append((f"{where} {respondent_type}", ShownCell("Totaal", n, mean), parts, minimum))
        return found


def families(
    grids: Iterable[Grid], figures: Iterable[GradeFigure], scheme: Scheme, where: str
) -> list[Family]:
    collected = Collected()
    headline = "client" if "client" in scheme.respondent_types else scheme.respondent_types[0]
    for grid in grids:
        if "Ingevuld" in grid.columns and "Rapportcijfer" in grid.columns:
            _response_table(grid, collected, headline)
        elif grid.caption.startswith("Tabel 3.1") and "Rapportcijfer" in grid.columns:
            n_at, mean_at = grid.columns.index("n"), grid.columns.index("Rapportcijfer")
            for row in grid.rows:
                collected.add(headline, row[0], _count(row[n_at]), dutch_number(row[mean_at]))
    for figure in figures:
        respondent_type = (
            "opdrachtgever" if figure.number.startswith("4.") and scheme.scheme_id == "bow" else headline
        )
        for label, value in figure.rows:
            match = re.search(r"\(n=(\d+)\)$", label)
            name = LABEL_SUFFIX.sub("", label)
            collected.add(respondent_type, name, int(match.group(1)) if match else None, dutch_number(value))
    return collected.families(scheme, where)


def _response_table(grid: Grid, collected: Collected, headline: str) -> None:
    n_at, mean_at = grid.columns.index("Ingevuld"), grid.columns.index("Rapportcijfer")
    respondent_type = headline
    for row in grid.rows:
        if len(row) == 1:
            respondent_type = TYPES_BY_LABEL.get(row[0], headline)
            continue
        collected.add(respondent_type, row[0], _count(row[n_at]), dutch_number(row[mean_at]))


def _count(text: str) -> int:
    return int(text.replace(".", "")) if text.replace(".", "").isdigit() else 0


# --- sources ---------------------------------------------------------------------------------


def document_families(doc: ReportDocument, scheme: Scheme) -> list[Family]:
    grids = [Grid(t.caption, t.columns, list(t.rows)) for t in doc.tables()]
    figures = [
        GradeFigure(f.number, [(r.label, r.own_text) for r in f.rows])
        for f in doc.figures()
        if f.title == GRADE_FIGURE and not f.suppressed
    ]
    return families(grids, figures, scheme, "model")


def export_families(rows: Sequence[Sequence[str]], scheme: Scheme, where: str) -> list[Family]:
    """The CSV/XLSX export: (section, table or figure, category, value, benchmark, n) per cell."""
    grids: dict[str, Grid] = {}
    figures: dict[str, GradeFigure] = {}
    for _, what, category, value, _, _ in rows[1:]:
        if what.startswith("fig. ") and what.endswith(GRADE_FIGURE):
            figures.setdefault(what, GradeFigure(what.split()[1])).rows.append((category, value))
        elif not what.startswith("fig. "):
            label, _, column = category.rpartition(" – ")
            grid = grids.setdefault(what, Grid(what, ("",)))
            if column not in grid.columns:
                grid.columns = (*grid.columns, column)
            _put(grid, label, column, value)
    for grid in grids.values():
        _headings(grid)
    return families(grids.values(), figures.values(), scheme, where)


def _put(grid: Grid, label: str, column: str, value: str) -> None:
    at = grid.columns.index(column)
    if grid.rows and grid.rows[-1][0] == label and len(grid.rows[-1]) == at:
        grid.rows[-1] = (*grid.rows[-1], value)
    else:
        grid.rows.append((label, value))


def _headings(grid: Grid) -> None:
    """The export has no heading rows: a response table's opdrachtgevers follow "Totaal"."""
    if "Ingevuld" not in grid.columns:
        return
    rows: list[tuple[str, ...]] = []
    for row in grid.rows:
        if row[0].startswith("Totaal ") and row[0] != "Totaal":
            label = row[0].removeprefix("Totaal ").capitalize()
            rows.append((label,))
        rows.append(row)
    grid.rows = rows


def csv_rows(text: str) -> list[list[str]]:
    return [[c.removeprefix("'") for c in row] for row in csv.reader(io.StringIO(text), delimiter=";")]


def xlsx_rows(data: bytes) -> list[list[str]]:
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return [[str(c or "").removeprefix("'") for c in row] for row in sheet.iter_rows(values_only=True)]


class _HtmlCells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.grids: list[Grid] = []
        self.figures: list[GradeFigure] = []
        self._text: list[str] | None = None
        self._row: list[str] | None = None
        self._figure_texts: list[str] | None = None
        self._caption = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.grids.append(Grid("", ()))
        elif tag in ("caption", "th", "td", "figcaption") or (
            tag == "text" and self._figure_texts is not None
        ):
            self._text = []
        elif tag == "tr" and self.grids:
            self._row = []

    def handle_endtag(self, tag: str) -> None:
        text = "".join(self._text or []).strip()
        if tag == "caption" and self.grids:
            self.grids[-1].caption = text
        elif tag in ("th", "td") and self._row is not None:
            self._row.append(text)
        elif tag == "tr" and self._row is not None and self.grids:
            grid = self.grids[-1]
            if not grid.columns:
                grid.columns = tuple(self._row)
            else:
                grid.rows.append(tuple(self._row))
            self._row = None
        elif tag == "figcaption":
            self._figure_texts = [] if GRADE_FIGURE in text else None
            self._caption = text
        elif tag == "text" and self._figure_texts is not None:
            self._figure_texts.append(text)
        elif tag == "svg" and self._figure_texts is not None:
            number = self._caption.split()[1]
            self.figures.append(GradeFigure(number, _chart_rows(self._figure_texts[2:])))  # after the legend
            self._figure_texts = None
        if tag in ("caption", "th", "td", "figcaption", "text"):
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)


def _chart_rows(texts: Sequence[str]) -> list[tuple[str, str]]:
    """A bar chart's texts after its title and legend: label line(s), own value, benchmark value."""
    rows, label, values = [], [], []
    for text in texts:
        if dutch_number(text) is not None or text == "–":
            values.append(text)
            if len(values) == 2:
                rows.append((" ".join(label), values[0]))
                label, values = [], []
        else:
            label.append(text)
    return rows


def html_families(html: str, scheme: Scheme) -> list[Family]:
    parser = _HtmlCells()
    parser.feed(html)
    return families(parser.grids, parser.figures, scheme, "html")


TABLE_LINE = re.compile(
    r"^(?P<label>.*?)\s+(\d[\d.]*)\s+(\d[\d.]*)\s+([\d,]+|–)\s+([\d,]+|\*|–)\s+(ja|nee|–)$"
)


def pdf_families(text: str, scheme: Scheme) -> list[Family]:
    """The PDF's text (``pdftotext -layout``): the response table's lines, found by their five
    cells at the end (a long dienst name may wrap, so its label may be part of the name)."""
    grid = Grid(
        "Tabel 1.1", ("", "Netto steekproef", "Ingevuld", "Respons (%)", "Rapportcijfer", "Publicatie")
    )
    start = text.find("Tabel 1.1")
    for line in text[start:].splitlines()[:60]:
        stripped = line.strip()
        if stripped in ("Cliënten", "Opdrachtgevers"):
            grid.rows.append((stripped,))
        elif match := TABLE_LINE.match(stripped):
            label = match.group("label").strip() or f"regel {len(grid.rows)}"
            grid.rows.append((label, *match.groups()[1:]))
    return families([grid], [], scheme, "pdf")


def register_families(entries: Iterable[Any], scheme: Scheme) -> list[Family]:
    """The register's rows per provider and respondent type: the total and its services."""
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for entry in entries:
        row = entry if isinstance(entry, Mapping) else asdict(entry)
        grouped.setdefault((row["provider_id"], row["respondent_type"]), []).append(row)
    found: list[Family] = []
    for (provider_id, respondent_type), rows in grouped.items():
        total = next((r for r in rows if r["service_code"] is None), None)
        total_cell = ShownCell("Totaal", total["n"] if total else 0, total["mean_grade"] if total else None)
        parts = [ShownCell(r["service_name"], r["n"], r["mean_grade"]) for r in rows if r["service_code"]]
        minimum = scheme.disclosure.min_n_public(respondent_type)
        found.append((f"register {provider_id} {respondent_type}", total_cell, parts, minimum))
    return found


def register_html_entries(html: str) -> list[dict[str, Any]]:
    """The register page's rows as the JSON's fields: the provider by name from its group's
    heading row, the respondent type back from its Dutch label."""
    parser = _HtmlCells()
    parser.feed(html)
    types = {label: key for key, label in RESPONDENT_LABELS.items()}
    entries = []
    provider = ""
    for row in (r for g in parser.grids for r in g.rows):
        if len(row) == 1:
            provider = row[0].split(" · ")[0]
            continue
        if len(row) != 4:
            continue
        service, respondents, n, grade = row
        entries.append(
            {
                "provider_id": provider,
                "service_code": None if service == "Totaal" else service,
                "service_name": service,
                "respondent_type": types[respondents],
                "n": int(n),
                "mean_grade": dutch_number(grade),
            }
        )
    return entries
