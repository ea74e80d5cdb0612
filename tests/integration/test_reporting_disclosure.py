"""End to end through the reporting service: studies with small groups (counted by the real
scoring domain) become final reports; their HTML, PDF text, CSV and XLSX and the public
register show no figure on fewer respondents than the scheme's minimum, and none that follows
by subtracting shown figures from a shown total (``tests.disclosure_check`` tries them all).
The wording of seed 000 and seed 002 is checked in the PDF text."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.events import ScoresUpdated
from shared.runtime import ServiceRuntime
from shared.schemes import Scheme, load_scheme
from tests.conftest import MakeSettings
from tests.disclosure_check import Family, all_leaks
from tests.polling import eventually
from tests.provider_keys import registered_key
from tests.report_cells import (
    csv_rows,
    export_families,
    html_families,
    pdf_families,
    register_families,
    register_html_entries,
    xlsx_rows,
)
from tests.reporting_runtime import client, publish, running_reporting
from tests.small_groups import BOW_PLAN, UWV_PLAN, Plan, strong_point, study

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="pdftotext (poppler-utils) not installed"),
]

ADMIN = {"X-API-Key": "test-admin-key"}
NAMES = {"P001": "Pluswerk Reïntegratie", "P002": "Werkfit", "P003": "Aan de slag"}


@pytest.fixture(scope="module")
async def service(
    module_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[ServiceRuntime]:
    settings = module_settings(
        report_dir=tmp_path_factory.mktemp("disclosure-reports"), scheduler_poll_seconds=0.2
    )
    async with running_reporting(settings) as runtime:
        yield runtime


async def final_reports(
    service: ServiceRuntime, scheme_id: str, plan: Plan, strong_points: tuple[str, ...] = ()
) -> str:
    """A study of ``plan`` whose every provider has its final report (version 2); P001 scores
    significantly well on ``strong_points`` (as scoring's test would find)."""
    study_id = f"{scheme_id}-{uuid.uuid4().hex[:8]}"
    payloads = study(scheme_id, study_id, plan)
    aspects = tuple(strong_point(q) for q in strong_points)
    payloads[0] = payloads[0].model_copy(update={"relatively_well": aspects})
    await publish(service, *(ScoresUpdated(payload=p) for p in payloads))

    async def kept() -> bool:
        async with client(service) as http:
            rows = (await http.get(f"/api/studies/{study_id}/summary", headers=ADMIN)).json()
        return len(rows) == len(plan) and all(r["report_version"] for r in rows)

    await eventually(kept)
    async with client(service) as http:
        response = await http.post(
            f"/api/studies/{study_id}/fieldwork-closed",
            json={"study_name": "Studie 2026", "review_days": 2 / 86400, "period_start": "2026-01-01",
                  "period_end": "2026-12-31", "provider_names": NAMES},
            headers=ADMIN,
        )  # fmt: skip
    response.raise_for_status()

    async def final() -> bool:
        async with client(service) as http:
            for provider_id in plan:
                rows = (
                    await http.get(f"/api/reports/{study_id}/{provider_id}/versions", headers=ADMIN)
                ).json()
                if not any(r["status"] == "final" for r in rows):
                    return False
        return True

    await eventually(final)
    return study_id


async def final_files(service: ServiceRuntime, study_id: str, provider_id: str) -> dict[str, bytes]:
    async with client(service) as http:
        rows = (await http.get(f"/api/reports/{study_id}/{provider_id}/versions", headers=ADMIN)).json()
        version = max(r["version"] for r in rows if r["status"] == "final")
        return {
            fmt: (
                await http.get(f"/reports/{study_id}/{provider_id}/v{version}.{fmt}", headers=ADMIN)
            ).content
            for fmt in ("html", "pdf", "csv", "xlsx")
        }


def pdf_text(pdf: bytes, tmp_path: Path, *layout: str) -> str:
    path = tmp_path / f"rapport-{uuid.uuid4().hex[:6]}.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", *layout, str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def report_families(files: dict[str, bytes], scheme: Scheme, tmp_path: Path) -> list[Family]:
    return [
        *html_families(files["html"].decode(), scheme),
        *export_families(csv_rows(files["csv"].decode()), scheme, "csv"),
        *export_families(xlsx_rows(files["xlsx"]), scheme, "xlsx"),
        *pdf_families(pdf_text(files["pdf"], tmp_path, "-layout"), scheme),
    ]


def words(text: str) -> str:
    return " ".join(text.split())


async def test_no_blik_op_werk_report_or_export_reveals_a_small_group(
    service: ServiceRuntime, tmp_path: Path
) -> None:
    scheme = load_scheme("bow")
    study_id = await final_reports(service, "bow", BOW_PLAN)
    for provider_id in BOW_PLAN:
        files = await final_files(service, study_id, provider_id)
        families = report_families(files, scheme, tmp_path)
        assert {where.split()[0] for where, *_ in families} == {"html", "csv", "xlsx", "pdf"}
        assert all_leaks(families) == [], provider_id


async def test_the_blik_op_werk_pdf_reads_as_seed_000_and_names_a_hidden_dienst_without_its_mean(
    service: ServiceRuntime, tmp_path: Path
) -> None:
    study_id = await final_reports(service, "bow", BOW_PLAN, ("aspect_attention", "aspect_intake_speed"))
    pdf = (await final_files(service, study_id, "P001"))["pdf"]
    text = words(pdf_text(pdf, tmp_path)).replace("✓ ", "")  # the list's bullet
    assert (
        "De medewerkers van Pluswerk Reïntegratie scoren relatief goed op het volgende punt: "
        "Aandacht hebben voor wat u belangrijk vindt"
    ) in text
    assert (
        "Pluswerk Reïntegratie scoort relatief goed op het volgende punt: Snelheid van kennismaking" in text
    )
    assert "fig. 3.3 Heeft u Pluswerk Reïntegratie aangeraden bij anderen?" in text
    assert "Had of heeft u een vast contactpersoon bij Pluswerk Reïntegratie?" in text
    assert (
        "Verzuimbegeleiding (wet poortwachter) onder 5,5 (cijfer niet getoond: te weinig respondenten)"
        in text
    )
    assert "5,0 < 5,5" not in text


async def test_the_register_reveals_no_small_group_by_itself_or_by_subtraction(
    service: ServiceRuntime,
) -> None:
    scheme = load_scheme("bow")
    study_id = await final_reports(service, "bow", BOW_PLAN)
    async with client(service) as http:
        entries = (await http.get(f"/register/{study_id}.json")).json()
        page = (await http.get(f"/register/{study_id}")).text
    assert entries, "the register lists the grades that may be published"
    assert all_leaks(register_families(entries, scheme)) == []
    assert all_leaks(register_families(register_html_entries(page), scheme)) == []


async def test_uwv_receives_every_percelen_grade_and_the_register_keeps_its_public_minimum(
    service: ServiceRuntime, tmp_path: Path
) -> None:
    scheme = load_scheme("uwv-reintegratie")
    study_id = await final_reports(service, "uwv-reintegratie", UWV_PLAN)
    files = await final_files(service, study_id, "P001")
    text = words(pdf_text(files["pdf"], tmp_path))
    assert "Praktijkassessment 6,95 < 7,0" in text  # shown as 7,0 it would hide the miss
    assert "Wijze van benaderen: e-mail, brief, telefoon" in text
    assert all_leaks(report_families(files, scheme, tmp_path)) == []
    async with client(service) as http:
        entries = (await http.get(f"/register/{study_id}.json")).json()
    assert entries and all(e["n"] >= 5 for e in entries)
    assert all_leaks(register_families(entries, scheme)) == []


async def test_a_provider_below_the_minimum_does_not_read_its_mean_in_the_summary(
    service: ServiceRuntime,
) -> None:
    study_id = await final_reports(service, "bow", BOW_PLAN)
    own_key = {"X-API-Key": await registered_key(service, "P003")}  # 4 clients: under 5
    async with client(service) as http:
        [own] = (await http.get(f"/api/studies/{study_id}/summary", headers=own_key)).json()
        bureau = (await http.get(f"/api/studies/{study_id}/summary", headers=ADMIN)).json()
    assert (own["provider_id"], own["completed"], own["mean_grade"]) == ("P003", 4, None)
    assert next(r for r in bureau if r["provider_id"] == "P003")["mean_grade"] == 8.0
