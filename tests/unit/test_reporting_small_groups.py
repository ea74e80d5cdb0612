"""Reports of studies with small groups (counted by the real scoring domain): no figure on fewer
respondents than the scheme's minimum, none derivable from a shown total, no benchmark made of
the provider itself, and the norm sentence naming a hidden dienst without its figure."""

from __future__ import annotations

import functools

from services.reporting.documents import export_rows
from services.reporting.domain import NO_FIGURE
from services.reporting.kinds import build_document
from services.reporting.model import Context, Figure, ReportDocument, Table, register_entries
from shared.events import FrequencyTable, ScoresUpdatedPayload
from shared.schemes import load_scheme
from tests.disclosure_check import all_leaks
from tests.report_cells import document_families, register_families
from tests.small_groups import BOW_PLAN, UWV_PLAN, study
from tevreden.sample_reports import study_payloads

PLUSWERK = "Pluswerk Reïntegratie"


@functools.cache
def bow() -> tuple[ScoresUpdatedPayload, ...]:
    return tuple(study("bow", "bow-small", BOW_PLAN))


@functools.cache
def uwv() -> tuple[ScoresUpdatedPayload, ...]:
    return tuple(study("uwv-reintegratie", "uwv-small", UWV_PLAN))


def report(payload: ScoresUpdatedPayload) -> ReportDocument:
    scheme = load_scheme(payload.scheme_id or "")
    return build_document(payload, scheme, Context("final", 1, PLUSWERK, "Studie 2026"))


def texts(doc: ReportDocument) -> list[str]:
    found = [b for s in doc.sections for b in s.blocks if isinstance(b, str)]
    return found + ([doc.summary.norm_text] if doc.summary else [])


def test_the_norm_sentence_names_a_hidden_dienst_without_its_mean() -> None:
    doc = report(bow()[0])
    [sentence] = {t for t in texts(doc) if t.startswith("Norm")}
    assert "Verzuimbegeleiding" in sentence and "5,0" not in sentence
    assert "cijfer niet getoond" in sentence


def test_the_tables_and_figures_of_a_report_reveal_no_small_group() -> None:
    doc = report(bow()[0])
    assert all_leaks(document_families(doc, load_scheme("bow"))) == []


def test_one_hidden_dienst_beside_a_shown_total_takes_the_smallest_shown_one_with_it() -> None:
    [table] = [t for t in report(bow()[0]).tables() if t.caption.startswith("Tabel 1.1")]
    grades = {row[0]: row[4] for row in table.rows if len(row) > 1}
    assert grades["Verzuimbegeleiding (wet poortwachter)"] == "*"  # 1 client
    assert grades["Outplacement"] == "*"  # 2 clients: with the one above still only 3
    assert grades["Diagnose, onderzoek en loopbaanoriëntatie"] == "*"  # 7: hidden so the 3 stay hidden
    assert grades["Toeleiden naar werk vanuit situatie geen werk"] == "8,3"


def test_a_question_answered_by_fewer_than_the_minimum_shows_no_counts_in_the_appendix() -> None:
    doc = report(bow()[0])
    appendix = next(s for s in doc.sections if s.number == "Bijlage")
    for table in appendix.blocks:
        assert isinstance(table, Table)
        n = int(table.caption.rsplit("(n=", 1)[1].rstrip(")"))
        minimum = 1 if table.caption.startswith("Opdrachtgevers") else 5
        assert n == 0 or n >= minimum or table.columns == ("Antwoord",)


def test_the_exports_carry_no_question_answered_by_fewer_than_the_minimum() -> None:
    doc = report(bow()[0])
    small = {f"fig. {f.number} {f.title}" for f in doc.figures() if 0 < f.n < 5 and not _buyers(f)}
    shown = {row[1] for row in export_rows(doc)[1:] if row[2] != "niet getoond"}
    assert not small & shown


def _buyers(figure: Figure) -> bool:
    return figure.number.startswith("4.")


def test_a_benchmark_of_this_provider_alone_is_not_shown() -> None:
    doc = report(bow()[2])  # P003: the only provider in dienst 1
    for figure in doc.figures():
        assert all(r.benchmark is None for r in figure.rows), figure.number


def test_the_register_reveals_no_small_group_and_none_by_subtraction() -> None:
    scheme = load_scheme("bow")
    entries = [e for p in bow() for e in register_entries(p, scheme, p.provider_id)]
    assert all_leaks(register_families(entries, scheme)) == []
    assert ("P001", "6") not in {(e.provider_id, e.service_code) for e in entries}


def test_uwv_receives_every_percelen_grade_however_small() -> None:
    [table] = [t for t in report(uwv()[0]).tables() if t.caption.startswith("Tabel 3.1")]
    grades = {row[0]: row[2] for row in table.rows}
    assert grades == {
        "Modulaire Re-integratiediensten": "8,0",
        "Naar werk": "6,0",
        "Praktijkassessment": "6,95",
        "Werkfit maken": "7,5",
    }


def test_the_uwv_norm_verdict_table_and_accounting_agree() -> None:
    doc = report(uwv()[0])
    [grades] = [t for t in doc.tables() if t.caption.startswith("Tabel 3.1")]
    [accounting] = [t for t in doc.tables() if t.caption.startswith("Tabel 2.1")]
    missed = {row[0] for row in grades.rows if row[3] == "niet gehaald"}
    assert missed == {"Naar werk", "Praktijkassessment"}
    [sentence] = {t for t in texts(doc) if t.startswith("Norm")}
    assert all(name in sentence for name in missed) and "Werkfit" not in sentence
    assert {row[0]: row[4] for row in accounting.rows} == {row[0]: row[1] for row in grades.rows}


def test_the_uwv_register_keeps_the_public_minimum() -> None:
    scheme = load_scheme("uwv-reintegratie")
    entries = [e for p in uwv() for e in register_entries(p, scheme, p.provider_id)]
    assert all(e.n >= 5 for e in entries)
    assert all_leaks(register_families(entries, scheme)) == []


def test_a_mean_that_rounds_to_the_norm_but_misses_it_is_written_exactly() -> None:
    [sentence] = {t for t in texts(report(uwv()[0])) if t.startswith("Norm")}
    assert "Praktijkassessment 6,95 < 7,0" in sentence


def test_a_staff_statement_answered_by_fewer_than_the_minimum_shows_no_mean() -> None:
    payload = study_payloads("staff-survey", providers=2, per_provider=200)[0]
    [total] = payload.totals
    key = next(t.question_id for t in total.questions if t.question_type == "likert_matrix")
    few = FrequencyTable(question_id=key, question_type="likert_matrix", n=2, counts={"5": 2})
    questions = tuple(few if t.question_id == key else t for t in total.questions)
    payload = payload.model_copy(update={"totals": (total.model_copy(update={"questions": questions}),)})
    rows = [r for t in report(payload).tables() if "gerangschikt" in t.caption for r in t.rows]
    [row] = [r for r in rows if r[-1] == "2"]
    assert row[1] == NO_FIGURE


def test_uwv_receives_the_answers_to_every_question_per_perceel() -> None:
    appendix = next(s for s in report(uwv()[0]).sections if s.number == "Bijlage")
    captions = [t.caption for t in appendix.blocks if isinstance(t, Table)]
    for perceel, n in (("Naar werk", 1), ("Werkfit maken", 2), ("Praktijkassessment", 20)):
        assert any(c.startswith(f"Perceel {perceel}: ") and c.endswith(f"(n={n})") for c in captions)
    assert not any(isinstance(t, Table) and t.columns == ("Antwoord",) for t in appendix.blocks)
