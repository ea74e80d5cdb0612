"""Report wording against seed 000 (Pluswerk) and seed 002 (UWV): figure titles name the
provider, the summary's two lists, Dutch mode names in UWV's accounting."""

from __future__ import annotations

import functools

from services.reporting.kinds import build_document
from services.reporting.model import Context, ReportDocument
from shared.events import ScoresUpdatedPayload
from shared.schemes import load_scheme
from tests.small_groups import BOW_PLAN, UWV_PLAN, strong_point, study

PLUSWERK = "Pluswerk Reïntegratie"


@functools.cache
def bow() -> ScoresUpdatedPayload:
    return study("bow", "bow-words", BOW_PLAN)[0]


def report(payload: ScoresUpdatedPayload) -> ReportDocument:
    scheme = load_scheme(payload.scheme_id or "")
    return build_document(payload, scheme, Context("final", 1, PLUSWERK, "Studie 2026"))


def test_figure_titles_name_the_provider_as_seed_000_does() -> None:
    titles = {f.number: f.title for f in report(bow()).figures()}
    assert titles["3.3"] == "Heeft u Pluswerk Reïntegratie aangeraden bij anderen?"
    assert titles["3.9"] == "Had of heeft u een vast contactpersoon bij Pluswerk Reïntegratie?"
    assert titles["3.10"].startswith(
        "Hoe tevreden bent u over het persoonlijk contact met de medewerker(s) van Pluswerk Reïntegratie"
    )
    assert titles["4.3"] == "Heeft u Pluswerk Reïntegratie ooit aangeraden bij collega's of andere relaties?"
    assert not any("de organisatie" in t for t in titles.values())


def test_the_summary_keeps_the_staff_and_the_organisation_lists_apart() -> None:
    payload = bow().model_copy(
        update={"relatively_well": (strong_point("aspect_attention"), strong_point("aspect_intake_speed"))}
    )
    summary = report(payload).summary
    assert summary is not None
    assert summary.staff_points_intro == (
        "De medewerkers van Pluswerk Reïntegratie scoren relatief goed op het volgende punt:"
    )
    assert summary.staff_points == ("Aandacht hebben voor wat u belangrijk vindt",)
    assert summary.points_intro == "Pluswerk Reïntegratie scoort relatief goed op het volgende punt:"
    assert summary.points == ("Snelheid van kennismaking",)


def test_the_uwv_accounting_writes_the_modes_in_dutch() -> None:
    doc = report(study("uwv-reintegratie", "uwv-words", UWV_PLAN)[0])
    [accounting] = [t for t in doc.tables() if t.caption.startswith("Tabel 2.1")]
    assert accounting.note.startswith(
        "Wijze van benaderen: e-mail, brief, telefoon; e-mail: 2 herinnering(en)"
    )
    assert "email" not in accounting.note and "phone" not in accounting.note
