"""The response section's AAPOR table and 95% intervals in every report kind."""

from __future__ import annotations

import functools

import pytest

from services.reporting.kinds import build_document
from services.reporting.model import Context, ReportDocument, Table
from services.reporting.rates import AAPOR_ROWS, interval_table
from shared.events import ScoresUpdatedPayload
from shared.schemes import load_scheme
from tevreden.sample_reports import study_payloads

KINDS = ("bow", "uwv-reintegratie", "uwv-jobcoach", "staff-survey")


@functools.cache
def payload(scheme_id: str) -> ScoresUpdatedPayload:
    per_provider = 200 if scheme_id == "staff-survey" else 60
    return study_payloads(scheme_id, providers=3, per_provider=per_provider)[0]


def document(scheme_id: str, snapshot: ScoresUpdatedPayload | None = None) -> ReportDocument:
    context = Context("final", 1, "Pluswerk Re-integratie", "Studie 2026")
    return build_document(snapshot or payload(scheme_id), load_scheme(scheme_id), context)


def table(doc: ReportDocument, title: str) -> Table:
    [found] = [t for t in doc.tables() if title in t.caption]
    return found


@pytest.mark.parametrize("scheme_id", KINDS)
def test_every_report_lists_all_sixteen_aapor_rates_per_respondent_type_with_e(scheme_id: str) -> None:
    doc = document(scheme_id)
    aapor = table(doc, "Responsmaten (AAPOR)")
    assert [row[0] for row in aapor.rows] == [name for name, _, _ in AAPOR_ROWS]
    assert len(aapor.columns) == 2 + len(payload(scheme_id).totals)
    assert "e = 1,00 (standaard" in aapor.note


def test_the_rates_are_the_snapshots_as_percentages() -> None:
    snapshot = payload("bow")
    clients = next(t for t in snapshot.totals if t.respondent_type == "client")
    aapor = table(document("bow"), "Responsmaten (AAPOR)")
    rr1 = next(row for row in aapor.rows if row[0] == "RR1")
    column = aapor.columns.index("Cliënten")
    assert rr1[column] == f"{clients.dispositions.rr1 * 100:.1f}%".replace(".", ",")  # type: ignore[operator]


def test_a_scheme_set_e_is_stated_as_the_schemes() -> None:
    snapshot = payload("uwv-reintegratie")
    totals = [
        t.model_copy(
            update={"dispositions": t.dispositions.model_copy(update={"e": 0.8, "e_source": "scheme"})}
        )
        for t in snapshot.totals
    ]
    doc = document("uwv-reintegratie", snapshot.model_copy(update={"totals": totals}))
    assert "e = 0,80 (vastgesteld in de regeling)" in table(doc, "Responsmaten (AAPOR)").note


def test_the_interval_table_gives_the_wilson_interval_of_the_response_and_the_t_interval_of_the_grade() -> (
    None
):
    snapshot = payload("bow")
    clients = next(t for t in snapshot.totals if t.respondent_type == "client")
    intervals = table(document("bow"), "95%-interval")
    row = next(r for r in intervals.rows if r[0] == "Cliënten: totaal")
    low, high = clients.response_rate_ci95  # type: ignore[misc]
    assert row[2] == f"{low * 100:.1f}% – {high * 100:.1f}%".replace(".", ",")
    assert row[5].count("–") == 1 and row[5] != "–"


def test_a_unit_too_small_to_show_keeps_its_grade_interval_hidden() -> None:
    snapshot = payload("uwv-reintegratie")
    first = snapshot.units[0].model_copy(update={"disclosable": False})
    other = snapshot.units[0].model_copy(update={"service_code": "naar-werk"})
    hidden = snapshot.model_copy(update={"units": [first, other]})
    intervals = interval_table(hidden, lambda code: f"dienst {code}", lambda _type: 5, "Tabel X")
    row = next(r for r in intervals.rows if r[0].endswith(f"dienst {first.service_code}"))
    assert row[3:] == ("*", "*", "*")
    assert row[2] != "*"  # the response's interval shows nothing the response table does not
