"""The reporting service on the real database and broker.

Each test uses its own study id: the broker is shared with other test modules.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from services.reporting import app as reporting
from services.reporting import service as reporting_service
from shared.events import (
    Event,
    ReportPublishedPayload,
    ScoresUpdated,
    ScoresUpdatedPayload,
    encode_event,
    parse_event,
)
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings
from tests.polling import eventually

pytestmark = pytest.mark.integration

T = TypeVar("T")
T0 = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("reports")


@pytest.fixture(scope="module")
async def service(module_settings: MakeSettings, report_dir: Path) -> AsyncIterator[ServiceRuntime]:
    runtime = reporting.runtime(module_settings(report_dir=report_dir))
    await runtime.start()
    yield runtime
    await runtime.stop()


def new_study() -> str:
    return f"kto-{uuid.uuid4().hex[:12]}"


def scores(
    study_id: str, provider_id: str = "pluswerk", *, completed: int = 8, at: datetime = T0
) -> ScoresUpdated:
    """A snapshot from the seed-000 provider: net sample 43, grades averaging 8.5."""
    return ScoresUpdated(
        payload=ScoresUpdatedPayload(
            study_id=study_id,
            provider_id=provider_id,
            net_sample=43,
            completed=completed,
            response_rate=completed / 43,
            mean_grade=8.5 if completed else None,
            grade_sum=8.5 * completed,
            as_of=at,
        )
    )


async def publish(service: ServiceRuntime, events: Sequence[Event]) -> None:
    assert service.ctx is not None
    for event in events:  # one by one with acks: the order on the partition is the point
        await service.ctx.broker.publish(encode_event(event), event.topic, key=event.key.encode())


def client(service: ServiceRuntime) -> httpx.AsyncClient:
    """The bureau's client (admin key)."""
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{service.settings.port_for('reporting')}",
        headers={"X-API-Key": service.settings.admin_api_key.get_secret_value()},
    )


async def summary(service: ServiceRuntime, study_id: str) -> list[dict[str, Any]]:
    async with client(service) as http:
        response = await http.get(f"/api/studies/{study_id}/summary")
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


async def summary_when(
    service: ServiceRuntime, study_id: str, done: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    async def probe() -> list[dict[str, Any]] | None:
        found = await summary(service, study_id)
        return found if done(found) else None

    return await eventually(probe)


async def consumed(service: ServiceRuntime, event: Event) -> bool | None:
    """True once the service committed the batch holding ``event`` (its id is in the inbox)."""
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        seen: bool | None = await conn.fetchval(
            "SELECT true FROM reporting.inbox WHERE event_id = $1", event.event_id
        )
    return seen


async def published(service: ServiceRuntime, study_id: str) -> list[ReportPublishedPayload]:
    """The ``reports.published`` events this service put in its outbox for a study, in order."""
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT body FROM reporting.outbox WHERE topic = 'reports.published' ORDER BY id"
        )
    payloads = [parse_event(bytes(r["body"])).payload for r in rows]
    return [p for p in payloads if isinstance(p, ReportPublishedPayload) and p.study_id == study_id]


async def test_a_snapshot_becomes_a_dutch_html_report_on_disk_and_over_http(
    service: ServiceRuntime, report_dir: Path
) -> None:
    study = new_study()

    await publish(service, [scores(study)])

    await summary_when(service, study, lambda s: bool(s) and s[0]["report_version"] == 1)
    page = (report_dir / study / "pluswerk.html").read_text(encoding="utf-8")
    assert '<html lang="nl">' in page and "Tevredenheidsonderzoek" in page
    assert "<td>43</td>" in page and "<td>18,6%</td>" in page and "<td>8,5</td>" in page
    async with client(service) as http:
        served = await http.get(f"/reports/{study}/pluswerk")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/html")
    assert served.text == page


async def test_the_summary_lists_each_providers_figures_and_report_version(service: ServiceRuntime) -> None:
    study = new_study()

    await publish(service, [scores(study, "werkfit", completed=0), scores(study, "pluswerk")])

    rows = await summary_when(service, study, lambda s: len(s) == 2 and all(r["report_version"] for r in s))
    assert rows == [
        {
            "provider_id": "pluswerk",
            "net_sample": 43,
            "completed": 8,
            "response_rate": 8 / 43,
            "mean_grade": 8.5,
            "report_version": 1,
        },
        {
            "provider_id": "werkfit",
            "net_sample": 43,
            "completed": 0,
            "response_rate": 0.0,
            "mean_grade": None,
            "report_version": 1,
        },
    ]


async def test_each_new_snapshot_rewrites_the_report_and_publishes_its_version(
    service: ServiceRuntime, report_dir: Path
) -> None:
    study = new_study()

    await publish(service, [scores(study, completed=7)])
    await summary_when(service, study, lambda s: bool(s) and s[0]["report_version"] == 1)
    await publish(service, [scores(study, completed=8, at=T0 + timedelta(minutes=5))])

    await summary_when(service, study, lambda s: s[0]["report_version"] == 2)
    assert "<td>8</td>" in (report_dir / study / "pluswerk.html").read_text(encoding="utf-8")
    assert [(p.provider_id, p.report_version) for p in await published(service, study)] == [
        ("pluswerk", 1),
        ("pluswerk", 2),
    ]


async def test_a_snapshot_older_than_the_stored_one_is_ignored(
    service: ServiceRuntime, report_dir: Path
) -> None:
    study = new_study()
    newer, late = scores(study, completed=8, at=T0), scores(study, completed=3, at=T0 - timedelta(seconds=1))

    await publish(service, [newer])
    await summary_when(service, study, lambda s: bool(s) and s[0]["report_version"] == 1)
    await publish(service, [late])
    await eventually(lambda: consumed(service, late))

    [row] = await summary(service, study)
    assert (row["completed"], row["report_version"]) == (8, 1)
    assert "<td>8</td>" in (report_dir / study / "pluswerk.html").read_text(encoding="utf-8")


async def test_a_batch_reports_only_the_newest_snapshot_of_each_provider(
    service: ServiceRuntime, report_dir: Path
) -> None:
    # The handler called directly, as the consumer calls it: one transaction per batch.
    assert service.ctx is not None
    study = new_study()
    batch: list[Event] = [
        scores(study, completed=2, at=T0 + timedelta(seconds=2)),
        scores(study, completed=1, at=T0 + timedelta(seconds=1)),
        scores(study, completed=3, at=T0 + timedelta(seconds=3)),
    ]

    async with service.ctx.pool.acquire() as conn, conn.transaction():
        await reporting_service.publish_reports(conn, batch, report_dir)

    [row] = await summary(service, study)
    assert (row["completed"], row["report_version"]) == (3, 1)
    assert [p.report_version for p in await published(service, study)] == [1]


async def test_a_provider_without_a_report_gets_404(service: ServiceRuntime) -> None:
    async with client(service) as http:
        response = await http.get(f"/reports/{new_study()}/pluswerk")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path", ["/reports/%2e%2e/pluswerk", "/reports/kto/%2e%2e%2fetc", "/reports/kto/a%20b"]
)
async def test_a_report_path_that_could_leave_the_report_folder_is_refused(
    service: ServiceRuntime, path: str
) -> None:
    async with client(service) as http:
        response = await http.get(path)
    assert response.status_code in (404, 422)
    assert "<html" not in response.text
