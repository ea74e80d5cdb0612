"""Report documents: render the report model to HTML and write it atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from services.reporting.domain import Report, is_safe_id

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,  # a misspelt field fails the batch instead of printing nothing
)


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
