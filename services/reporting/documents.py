"""Report documents: render the report model to HTML and write it atomically."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.reporting.domain import Report, is_safe_id
from services.reporting.model import Figure, RegisterPage, ReportDocument, Table, respondent_label

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,  # a misspelt field fails the batch instead of printing nothing
)
_FIGURE = re.compile(r"[\d\s.,%()n=+\-–—]*")  # digits, signs and "(n=12)": a figure, not words


def text_columns(table: Table) -> set[int]:
    """The columns (by index) whose every filled cell is words, not figures: set flush left."""
    rows = [row for row in table.rows if len(row) > 1]
    columns = range(1, len(table.columns))
    return {i for i in columns if rows and not any(_is_figure(r[i]) for r in rows if i < len(r))}


def _is_figure(cell: str) -> bool:
    return bool(cell.strip()) and _FIGURE.fullmatch(cell) is not None


def table_of_contents(doc: ReportDocument, *, pdf: bool) -> list[tuple[str, str, str]]:
    """(anchor, number, title) of every section and subsection ("## 3.3 Contact met …") in
    reading order; the print edition leaves the appendix out, as it leaves out the appendix."""
    entries = []
    for section in doc.sections:
        if pdf and not section.number[:1].isdigit():
            continue
        entries.append((anchor(section.number), section.number, section.title))
        for block in section.blocks:
            if isinstance(block, str) and block.startswith("## "):
                number, _, title = block[3:].partition(" ")
                entries.append((anchor(number), number, title))
    return entries


def anchor(number: str) -> str:
    """A heading's fragment id: "3.3" → "h-3-3"."""
    return "h-" + re.sub(r"[^0-9A-Za-z]+", "-", number).strip("-")


_templates.globals.update(text_columns=text_columns, table_of_contents=table_of_contents, anchor=anchor)


def report_file(report_dir: Path, study_id: str, provider_id: str) -> Path:
    """``<report_dir>/<study_id>/<provider_id>.html``; refuses ids that could leave the folder."""
    if not (is_safe_id(study_id) and is_safe_id(provider_id)):
        raise ValueError(f"unsafe id for a report path: {study_id!r}/{provider_id!r}")
    return report_dir.resolve() / study_id / f"{provider_id}.html"


def render(report: Report) -> str:
    return _templates.get_template("report.html").render(report=report)


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside ``path``, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_reports(documents: Sequence[tuple[Path, Report]]) -> None:
    """Render and write a batch of reports (blocking: run it in a worker thread)."""
    for path, report in documents:
        write_atomically(path, render(report))


# --- the full report: HTML, PDF, CSV and XLSX --------------------------------------------------

DANGEROUS_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def render_document(doc: ReportDocument, *, pdf: bool = False) -> str:
    """The report as HTML; ``pdf``: the print edition (the appendix of answer counts left to the
    HTML and the exports, which keeps a PDF to the pages a reader turns)."""
    return _templates.get_template("document.html").render(doc=doc, pdf=pdf)


def render_pdf(html: str) -> bytes:
    """HTML → PDF, blocking (charts stay vector graphics); see ``pdf.py`` for the engine."""
    from services.reporting.pdf import render_pdf as print_pdf

    return print_pdf(html)


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula (=, +, -, @, tab, CR) gets a leading quote."""
    return "'" + cell if cell.startswith(DANGEROUS_PREFIXES) else cell


def export_rows(doc: ReportDocument) -> list[list[str]]:
    """Every table and figure of the report as rows: (section, what, category, value, benchmark, n)."""
    rows = [["onderdeel", "tabel of figuur", "categorie", "waarde", "alle deelnemers", "n"]]
    for section in doc.sections:
        for block in section.blocks:
            if isinstance(block, Figure):
                name = f"fig. {block.number} {block.title}"
                if block.suppressed:
                    rows.append([section.title, name, "niet getoond", "", "", ""])
                for r in block.rows:
                    rows.append([section.title, name, r.label, r.own_text, r.benchmark_text, str(block.n)])
            elif isinstance(block, Table):
                for row in block.rows:
                    if len(row) > 1:
                        for column, cell in zip(block.columns[1:], row[1:], strict=False):
                            rows.append([section.title, block.caption, f"{row[0]} – {column}", cell, "", ""])
    return [[neutralise(c) for c in row] for row in rows]


def render_csv(doc: ReportDocument) -> str:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, delimiter=";").writerows(export_rows(doc))  # ; : Dutch Excel reads decimal commas
    return out.getvalue()


def render_xlsx(doc: ReportDocument) -> bytes:
    import io

    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Rapport")
    for row in export_rows(doc):
        sheet.append(row)  # strings only: never a formula, and dangerous starts already quoted
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def write_documents(pages: Sequence[tuple[Path, ReportDocument]]) -> None:
    """Render and write live HTML reports (blocking: run it in a worker thread)."""
    for path, doc in pages:
        write_atomically(path, render_document(doc))


def version_folder(report_dir: Path, study_id: str, provider_id: str) -> Path:
    """``<report_dir>/<study_id>/<provider_id>/``: one ``v<N>`` folder per kept version."""
    if not (is_safe_id(study_id) and is_safe_id(provider_id)):
        raise ValueError(f"unsafe id for a report path: {study_id!r}/{provider_id!r}")
    return report_dir.resolve() / study_id / provider_id


VERSION_FILES = {"html": "rapport.html", "pdf": "rapport.pdf", "csv": "rapport.csv", "xlsx": "rapport.xlsx"}


def write_version(folder: Path, doc: ReportDocument, pdf: bytes) -> None:
    """A kept version: HTML, PDF (printed already), CSV and XLSX side by side (blocking: run it
    in a worker thread)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_atomically(folder / VERSION_FILES["html"], render_document(doc))
    write_atomically(folder / VERSION_FILES["csv"], render_csv(doc))
    _write_bytes(folder / VERSION_FILES["pdf"], pdf)
    _write_bytes(folder / VERSION_FILES["xlsx"], render_xlsx(doc))


def _write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def render_register(page: RegisterPage) -> str:
    return _templates.get_template("register.html").render(page=page, respondent_label=respondent_label)
