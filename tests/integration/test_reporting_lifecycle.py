"""The report lifecycle on the real database and broker: draft when fieldwork closes, hoor en
wederhoor with the provider's own API key, final, late scores regenerating (debounced), every
version kept, ``reports.published`` events, and the public register.

The snapshots are full ones (figures per unit, benchmark, norms) from a generated Blik op Werk
study counted by the real scoring domain. Each test uses its own study id.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.events import (
    ReportPublishedPayload,
    ScoresUpdated,
    ScoresUpdatedPayload,
    parse_event,
)
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings
from tests.polling import eventually
from tests.provider_keys import registered_key
from tests.reporting_runtime import client, publish, running_reporting
from tevreden.sample_reports import study_payloads

pytestmark = pytest.mark.integration

ADMIN = {"X-API-Key": "test-admin-key"}
THREE_WEEKS = 21.0
DEBOUNCE_SECONDS = 1.5
SAMPLE = study_payloads("bow", providers=3, per_provider=60)  # P001, P002, P003


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lifecycle-reports")


@pytest.fixture(scope="module")
async def service(module_settings: MakeSettings, report_dir: Path) -> AsyncIterator[ServiceRuntime]:
    settings = module_settings(
        report_dir=report_dir, report_debounce_seconds=DEBOUNCE_SECONDS, scheduler_poll_seconds=0.2
    )
    async with running_reporting(settings) as runtime:
        yield runtime


def snapshot(
    study_id: str, index: int = 0, *, later: timedelta = timedelta(0), **changes: Any
) -> ScoresUpdated:
    """Provider P00<index+1>'s snapshot, moved to ``study_id`` (``later``: a newer as_of)."""
    payload = SAMPLE[index]
    data = {**payload.model_dump(), "study_id": study_id, "as_of": payload.as_of + later, **changes}
    return ScoresUpdated(payload=ScoresUpdatedPayload.model_validate(data))


async def registered_provider(service: ServiceRuntime, provider_id: str) -> dict[str, str]:
    """The header with a provider's own API key, made known to reporting as invitations announces it."""
    return {"X-API-Key": await registered_key(service, provider_id)}


async def study_with_snapshots(service: ServiceRuntime, *indexes: int) -> str:
    """A study whose snapshots (full payloads) the service has kept."""
    study_id = f"bow-{uuid.uuid4().hex[:10]}"
    await publish(service, *(snapshot(study_id, i) for i in indexes))

    async def kept() -> bool:
        async with client(service) as http:
            rows = (await http.get(f"/api/studies/{study_id}/summary", headers=ADMIN)).json()
        return len(rows) == len(indexes) and all(r["report_version"] for r in rows)

    await eventually(kept)
    return study_id


async def close_fieldwork(service: ServiceRuntime, study_id: str, review_days: float = THREE_WEEKS) -> None:
    async with client(service) as http:
        response = await http.post(
            f"/api/studies/{study_id}/fieldwork-closed",
            json={"study_name": "Blik op Werk 2026", "review_days": review_days,
                  "period_start": "2025-01-01", "period_end": "2025-12-31",
                  "provider_names": {"P001": "Pluswerk Re-integratie", "P002": "Werkfit"}},
            headers=ADMIN,
        )  # fmt: skip
    response.raise_for_status()


async def versions(
    service: ServiceRuntime, study_id: str, provider_id: str = "P001", count: int = 1
) -> list[dict[str, Any]]:
    """The kept versions once there are at least ``count``."""

    async def probe() -> list[dict[str, Any]] | None:
        async with client(service) as http:
            rows: list[dict[str, Any]] = (
                await http.get(f"/api/reports/{study_id}/{provider_id}/versions", headers=ADMIN)
            ).json()
        return rows if len(rows) >= count else None

    return await eventually(probe)


async def download(
    service: ServiceRuntime, study_id: str, version: int, fmt: str, **kw: Any
) -> httpx.Response:
    async with client(service) as http:
        return await http.get(f"/reports/{study_id}/P001/v{version}.{fmt}", **kw)


async def published(service: ServiceRuntime, study_id: str) -> list[ReportPublishedPayload]:
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT body FROM reporting.outbox WHERE topic = 'reports.published' ORDER BY id"
        )
    payloads = [parse_event(bytes(r["body"])).payload for r in rows]
    return [p for p in payloads if isinstance(p, ReportPublishedPayload) and p.study_id == study_id]


async def test_closing_fieldwork_writes_a_draft_pdf_with_the_response_window(service: ServiceRuntime) -> None:
    study = await study_with_snapshots(service, 0)

    await close_fieldwork(service, study)

    [draft] = await versions(service, study)
    assert (draft["version"], draft["status"], draft["has_response"]) == (1, "draft", False)
    pdf = await download(service, study, 1, "pdf", headers=ADMIN)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    html = (await download(service, study, 1, "html", headers=ADMIN)).text
    assert "Conceptrapport" in html and "hoor en wederhoor" in html and "Pluswerk Re-integratie" in html


async def test_a_provider_responds_to_its_draft_with_its_own_key_and_the_response_is_kept(
    service: ServiceRuntime,
) -> None:
    study = await study_with_snapshots(service, 0)
    own_key = await registered_provider(service, "P001")
    await close_fieldwork(service, study)
    await versions(service, study)

    async with client(service) as http:
        response = await http.post(
            f"/api/reports/{study}/P001/response", json={"text": "Wij herkennen ons in de uitkomsten."},
            headers=own_key,
        )  # fmt: skip

    assert response.status_code == 200
    rows = await versions(service, study, count=2)
    assert (rows[1]["status"], rows[1]["has_response"]) == ("draft", True)
    html = (await download(service, study, 2, "html", headers=own_key)).text
    assert "Reactie van de dienstverlener" in html and "Wij herkennen ons in de uitkomsten." in html


async def test_the_bureau_publishes_a_draft_once_the_provider_has_responded(service: ServiceRuntime) -> None:
    study = await study_with_snapshots(service, 0)
    own_key = await registered_provider(service, "P001")
    await close_fieldwork(service, study)
    await versions(service, study)

    async with client(service) as http:
        too_early = await http.post(f"/api/reports/{study}/P001/final", headers=ADMIN)
        by_provider = await http.post(f"/api/reports/{study}/P001/final", headers=own_key)
        await http.post(f"/api/reports/{study}/P001/response", json={"text": "Akkoord."}, headers=own_key)
    await versions(service, study, count=2)  # the draft again, with the response
    async with client(service) as http:
        published = await http.post(f"/api/reports/{study}/P001/final", headers=ADMIN)
    rows = await versions(service, study, count=3)
    async with client(service) as http:
        again = await http.post(f"/api/reports/{study}/P001/final", headers=ADMIN)

    assert too_early.status_code == 409 and "nog reageren" in too_early.json()["detail"]
    assert by_provider.status_code in (401, 403)
    assert (published.status_code, published.json()["status"]) == (200, "publishing")
    assert rows[-1]["status"] == "final"
    assert (again.status_code, again.json()["status"]) == (200, "final")


async def test_a_provider_cannot_see_or_answer_another_providers_report(service: ServiceRuntime) -> None:
    study = await study_with_snapshots(service, 0, 1)
    other_key = await registered_provider(service, "P002")
    await close_fieldwork(service, study)
    await versions(service, study)

    async with client(service) as http:
        answered = await http.post(
            f"/api/reports/{study}/P001/response", json={"text": "x"}, headers=other_key
        )
        listed = await http.get(f"/api/reports/{study}/P001/versions", headers=other_key)
    fetched = await download(service, study, 1, "pdf", headers=other_key)

    assert (answered.status_code, listed.status_code, fetched.status_code) == (404, 404, 404)


async def test_a_report_version_needs_a_known_key(service: ServiceRuntime) -> None:
    study = await study_with_snapshots(service, 0)
    await close_fieldwork(service, study)
    await versions(service, study)

    anonymous = await download(service, study, 1, "pdf")
    unknown = await download(service, study, 1, "pdf", headers={"X-API-Key": "not-a-key"})

    assert (anonymous.status_code, unknown.status_code) == (401, 401)


async def test_the_live_report_and_the_summary_show_a_provider_only_its_own_figures(
    service: ServiceRuntime,
) -> None:
    study = await study_with_snapshots(service, 0, 1)
    own_key = await registered_provider(service, "P002")
    await close_fieldwork(service, study)
    await versions(service, study)

    async with client(service) as http:
        anonymous = await http.get(f"/reports/{study}/P002")
        others = await http.get(f"/reports/{study}/P001", headers=own_key)
        own = await http.get(f"/reports/{study}/P002", headers=own_key)
        summary = await http.get(f"/api/studies/{study}/summary", headers=own_key)

    assert (anonymous.status_code, others.status_code, own.status_code) == (401, 404, 200)
    assert [row["provider_id"] for row in summary.json()] == ["P002"]


async def test_after_the_response_window_the_report_becomes_final_and_no_response_is_taken(
    service: ServiceRuntime,
) -> None:
    study = await study_with_snapshots(service, 0)
    own_key = await registered_provider(service, "P001")
    await close_fieldwork(service, study, review_days=2 / 86400)  # a window of two seconds

    rows = await versions(service, study, count=2)
    async with client(service) as http:
        late = await http.post(
            f"/api/reports/{study}/P001/response", json={"text": "te laat"}, headers=own_key
        )

    assert [r["status"] for r in rows] == ["draft", "final"]
    assert late.status_code == 409
    assert "Definitief rapport" in (await download(service, study, 2, "html", headers=ADMIN)).text


async def test_late_scores_regenerate_the_report_once_after_the_debounce_and_keep_every_version(
    service: ServiceRuntime,
) -> None:
    study = await study_with_snapshots(service, 0)
    await close_fieldwork(service, study)
    await versions(service, study)

    await publish(
        service,
        snapshot(study, later=timedelta(minutes=1)),
        snapshot(study, later=timedelta(minutes=2)),
        snapshot(study, later=timedelta(minutes=3)),
    )

    rows = await versions(service, study, count=2)
    assert [r["version"] for r in rows] == [1, 2]  # one regeneration for the burst
    assert rows[1]["snapshot_as_of"].startswith(str((SAMPLE[0].as_of + timedelta(minutes=3)).date()))
    for version in (1, 2):
        assert (await download(service, study, version, "pdf", headers=ADMIN)).content.startswith(b"%PDF")


async def test_every_kept_version_is_announced_as_reports_published(service: ServiceRuntime) -> None:
    study = await study_with_snapshots(service, 0)
    await close_fieldwork(service, study, review_days=2 / 86400)

    await versions(service, study, count=2)

    kept = [(p.report_version, p.status, p.kind) for p in await published(service, study) if p.kind == "pdf"]
    assert kept == [(1, "draft", "pdf"), (2, "final", "pdf")]


async def test_the_register_shows_only_eligible_grades_of_final_reports(service: ServiceRuntime) -> None:
    study_id = f"bow-{uuid.uuid4().hex[:10]}"
    eligible = snapshot(study_id, 0)
    missed = snapshot(  # the response requirement missed: nothing of it may be published
        study_id, 1,
        units=[u.model_copy(update={"published": False}) for u in SAMPLE[1].units],
        totals=[t.model_copy(update={"published": False}) for t in SAMPLE[1].totals],
    )  # fmt: skip
    await publish(service, eligible, missed)
    await eventually(lambda: _summary_count(service, study_id, 2))
    await close_fieldwork(service, study_id, review_days=2 / 86400)
    await versions(service, study_id, "P001", count=2)
    await versions(service, study_id, "P002", count=2)

    async with client(service) as http:
        entries = (await http.get(f"/register/{study_id}.json")).json()
        page = (await http.get(f"/register/{study_id}")).text

    assert entries and {e["provider_id"] for e in entries} == {"P001"}
    assert all(e["n"] >= 1 and e["mean_grade_text"] for e in entries)
    assert "Pluswerk Re-integratie" in page and "Werkfit" not in page


async def test_the_register_names_the_study_and_links_each_grade_to_its_final_report(
    service: ServiceRuntime,
) -> None:
    study_id = f"bow-{uuid.uuid4().hex[:10]}"
    await publish(service, snapshot(study_id, 0))
    await eventually(lambda: _summary_count(service, study_id, 1))
    await close_fieldwork(service, study_id, review_days=2 / 86400)
    final = (await versions(service, study_id, "P001", count=2))[-1]

    async with client(service) as http:
        entries = (await http.get(f"/register/{study_id}.json")).json()
        page = (await http.get(f"/register/{study_id}")).text

    text = " ".join(re.sub(r"<[^>]+>", " ", page.split("<body>")[1]).split())  # what a reader sees
    assert "Blik op Werk 2026 · meetperiode: 1 januari 2025 tot en met 31 december 2025" in text
    assert study_id not in text
    assert "Cliënten" in text and " client " not in text
    assert text.count("Pluswerk Re-integratie") == 1  # one heading over the provider's rows
    link = f'href="/reports/{study_id}/P001/v{final["version"]}.pdf"'
    assert page.count(link) == len(entries) > 0


async def _summary_count(service: ServiceRuntime, study_id: str, count: int) -> bool:
    async with client(service) as http:
        rows = (await http.get(f"/api/studies/{study_id}/summary", headers=ADMIN)).json()
    return len(rows) == count and all(r["report_version"] for r in rows)
