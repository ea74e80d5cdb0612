"""Report documents: the rendered HTML and its atomic write."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.reporting.documents import render, report_file, write_atomically
from services.reporting.domain import Snapshot, build_report

SNAPSHOT = Snapshot(
    study_id="kto-2025",
    provider_id="pluswerk",
    net_sample=43,
    completed=8,
    response_rate=8 / 43,
    mean_grade=8.5,
    grade_sum=68.0,
    as_of=datetime(2025, 11, 23, 9, 42, tzinfo=UTC),
)


def test_the_report_is_a_dutch_page_with_an_accessible_table() -> None:
    html = render(build_report(SNAPSHOT, version=1))

    assert '<html lang="nl">' in html
    assert "<caption>Tabel 1.1 Respons en gemiddeld rapportcijfer</caption>" in html
    assert '<th scope="col">Netto steekproef</th>' in html
    assert '<th scope="row">Totaal</th>' in html
    assert "<td>18,6%</td>" in html and "<td>8,5</td>" in html


def test_text_in_the_report_is_escaped() -> None:
    report = dataclasses.replace(build_report(SNAPSHOT, version=1), provider_id="<script>x</script>")

    html = render(report)

    assert "<script>x" not in html
    assert "&lt;script&gt;x" in html


def test_a_report_lives_at_study_and_provider_under_the_report_folder(tmp_path: Path) -> None:
    assert report_file(tmp_path, "kto-2025", "pluswerk") == tmp_path.resolve() / "kto-2025" / "pluswerk.html"


@pytest.mark.parametrize(("study_id", "provider_id"), [("..", "x"), ("kto", "../../x"), ("a/b", "x")])
def test_a_report_path_outside_the_report_folder_is_refused(
    tmp_path: Path, study_id: str, provider_id: str
) -> None:
    with pytest.raises(ValueError, match="unsafe id"):
        report_file(tmp_path, study_id, provider_id)


def test_writing_replaces_the_whole_file_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "kto-2025" / "pluswerk.html"

    write_atomically(path, "eerste versie")
    write_atomically(path, "tweede versie")

    assert path.read_text(encoding="utf-8") == "tweede versie"
    assert [p.name for p in path.parent.iterdir()] == ["pluswerk.html"]
