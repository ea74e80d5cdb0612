"""Operations on running services: /metrics exposes every metric the dashboard and the alert
rules read, consumer lag and outbox age are reported, a counted response is timed, and the
fieldwork status (API, ops page, ``tevreden status``) flags a provider heading below the
publication requirement to the bureau (admin key), shows a provider (its own key, known from
``invitations.provider_registered``) only its own rows, and refuses anyone else.

The scoring and responses services run once for the module; each test uses its own study.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from services.responses import app as responses
from services.scoring import app as scoring
from shared.events import (
    Event,
    InvitationIssued,
    ResponseSubmitted,
    encode_event,
)
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings
from tests.ops_config import INVITATIONS_ONLY, all_service_metric_names, exposed_name
from tests.polling import eventually
from tests.provider_keys import registered_key
from tests.seeds import Panel, bow_client_answers
from tevreden.status import run_extra_wave, run_status

pytestmark = pytest.mark.integration
ADMIN_KEY = "test-admin-key"
ADMIN = {"X-API-Key": ADMIN_KEY}


@pytest.fixture(scope="module")
async def services(module_settings: MakeSettings) -> AsyncIterator[dict[str, ServiceRuntime]]:
    started = {
        "scoring": scoring.runtime(module_settings(metrics_poll_seconds=0.2)),
        "responses": responses.runtime(module_settings(metrics_poll_seconds=0.2)),
    }
    for runtime in started.values():
        await runtime.start()
    yield started
    for runtime in started.values():
        await runtime.stop()


def base_url(service: ServiceRuntime) -> str:
    return f"http://127.0.0.1:{service.settings.port_for(service.name)}"


async def scrape(service: ServiceRuntime) -> str:
    async with httpx.AsyncClient(base_url=base_url(service)) as http:
        response = await http.get("/metrics")
    response.raise_for_status()
    return response.text


def exposed_names(text: str) -> set[str]:
    """Family names on /metrics, with the _total of counters (as PromQL names them)."""
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        if family.type == "counter":
            names.add(f"{family.name}_total")
    return names


def samples(text: str, name: str, **labels: str) -> list[tuple[dict[str, str], float]]:
    return [
        (s.labels, s.value)
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
    ]


async def publish(service: ServiceRuntime, events: Sequence[Event]) -> None:
    assert service.ctx is not None
    broker = service.ctx.broker
    acks = [
        await broker.publish(encode_event(e), e.topic, key=e.key.encode(), no_confirm=True) for e in events
    ]
    await asyncio.gather(*acks)


def invite(panel: Panel, provider_id: str, days_ago: float = 0.0) -> InvitationIssued:
    """An invitation with its own token hash: the module's responses service (and any later
    one in the same consumer group) takes it as a real invitation, never as a duplicate."""
    invitation = panel.invite(provider_id)
    payload = invitation.payload.model_copy(update={"token_hash": secrets.token_hex(32)})
    occurred_at = datetime.now(UTC) - timedelta(days=days_ago)
    return invitation.model_copy(update={"payload": payload, "occurred_at": occurred_at})


def answered_after(invitation: InvitationIssued, days: float) -> ResponseSubmitted:
    response = Panel.answer(invitation, bow_client_answers(8))
    submitted = invitation.occurred_at + timedelta(days=days)
    payload = response.payload.model_copy(update={"submitted_at": submitted})
    return response.model_copy(update={"payload": payload, "occurred_at": submitted})


async def test_every_metric_the_dashboard_and_alerts_read_is_exposed_by_the_running_services(
    services: dict[str, ServiceRuntime],
) -> None:
    exposed = set()
    for service in services.values():
        exposed |= {exposed_name(n) for n in exposed_names(await scrape(service))}
    missing = {exposed_name(n) for n in all_service_metric_names()} - exposed - INVITATIONS_ONLY
    assert not missing


async def test_consumer_lag_is_reported_for_every_partition_of_each_consumed_topic(
    services: dict[str, ServiceRuntime],
) -> None:
    scoring_service = services["scoring"]

    async def lag_reported() -> list[tuple[dict[str, str], float]] | None:
        found = samples(
            await scrape(scoring_service),
            "tevreden_consumer_lag",
            group="scoring",
            topic="responses.submitted",
        )
        return found if len(found) == scoring_service.settings.topic_partitions else None

    found = await eventually(lag_reported)
    assert sorted(labels["partition"] for labels, _ in found) == ["0", "1", "2"]
    assert all(value >= 0 for _, value in found)


async def test_the_outbox_backlog_and_its_oldest_age_are_reported_per_service(
    services: dict[str, ServiceRuntime],
) -> None:
    text = await eventually(lambda: _when_present(services["scoring"], "tevreden_outbox_oldest_age_seconds"))
    assert samples(text, "tevreden_outbox_backlog", service="scoring")
    assert samples(text, "tevreden_outbox_oldest_age_seconds", service="scoring")


async def _when_present(service: ServiceRuntime, name: str) -> str | None:
    text = await scrape(service)
    return text if samples(text, name, service=service.name) else None


async def test_a_counted_response_is_timed_from_submission_to_scoring(
    services: dict[str, ServiceRuntime],
) -> None:
    scoring_service = services["scoring"]
    before = sum(
        v for _, v in samples(await scrape(scoring_service), "tevreden_scoring_latency_seconds_count")
    )
    panel = Panel(f"kto-{uuid.uuid4().hex[:12]}")
    invitation = invite(panel, "pluswerk")
    await publish(scoring_service, [invitation, Panel.answer(invitation, bow_client_answers(8))])

    async def counted() -> float | None:
        text = await scrape(scoring_service)
        now = sum(v for _, v in samples(text, "tevreden_scoring_latency_seconds_count"))
        return now if now > before else None

    assert await eventually(counted) == before + 1


async def fieldwork_study(scoring_service: ServiceRuntime) -> str:
    """A Blik op Werk study with one provider well above the requirement and one far below,
    both late in fieldwork (invited 30 days ago), and a third at the very start."""
    panel = Panel(f"kto-{uuid.uuid4().hex[:12]}")
    events: list[Event] = []
    for provider, answered in (("goed-werk", 15), ("weinig-respons", 1)):
        invitations = [invite(panel, provider, 30) for _ in range(40)]
        events += invitations
        events += [answered_after(i, 3) for i in invitations[:answered]]
    fresh = [invite(panel, "net-begonnen", 0.5) for _ in range(40)]
    events += fresh + [answered_after(i, 0.2) for i in fresh[:3]]
    await publish(scoring_service, events)

    async def scored() -> bool:
        assert scoring_service.ctx is not None
        async with scoring_service.ctx.pool.acquire() as conn:
            n = await conn.fetchval(
                "SELECT count(*) FROM scoring.inbox WHERE event_id = ANY($1::uuid[])",
                [e.event_id for e in events],
            )
        return bool(n == len(events))

    await eventually(scored)
    return panel.study_id


async def test_the_status_flags_the_provider_heading_below_the_requirement(
    services: dict[str, ServiceRuntime],
) -> None:
    study = await fieldwork_study(services["scoring"])
    async with httpx.AsyncClient(base_url=base_url(services["scoring"])) as http:
        response = await http.get(f"/api/studies/{study}/status", headers=ADMIN)
    response.raise_for_status()
    status: dict[str, Any] = response.json()
    by_provider = {p["provider_id"]: p for p in status["providers"]}
    assert status["flagged"] == ["weinig-respons"]
    assert by_provider["goed-werk"]["status"] == "met"
    assert by_provider["weinig-respons"]["status"] == "at_risk"
    assert by_provider["weinig-respons"]["required_usable"] == 10
    assert by_provider["net-begonnen"]["status"] == "on_track"
    assert by_provider["net-begonnen"]["forecast_response"] > by_provider["net-begonnen"]["response_so_far"]


async def test_the_status_without_a_key_or_with_an_unknown_key_is_refused(
    services: dict[str, ServiceRuntime],
) -> None:
    study = await fieldwork_study(services["scoring"])
    async with httpx.AsyncClient(base_url=base_url(services["scoring"])) as http:
        without = await http.get(f"/api/studies/{study}/status")
        unknown = await http.get(f"/api/studies/{study}/status", headers={"X-API-Key": "not-a-key"})
    assert without.status_code == unknown.status_code == 401
    assert "weinig-respons" not in without.text + unknown.text


async def test_a_provider_with_its_own_key_sees_only_its_own_rows_and_no_study_curve(
    services: dict[str, ServiceRuntime],
) -> None:
    study = await fieldwork_study(services["scoring"])
    api_key = await registered_key(services["scoring"], "weinig-respons")
    async with httpx.AsyncClient(base_url=base_url(services["scoring"])) as http:
        response = await http.get(f"/api/studies/{study}/status", headers={"X-API-Key": api_key})
    assert response.status_code == 200
    status = response.json()
    assert [p["provider_id"] for p in status["providers"]] == ["weinig-respons"]
    assert status["providers"][0]["status"] == "at_risk"
    assert status["flagged"] == ["weinig-respons"]
    assert status["curve"] is None  # pooled over every provider: it would reveal the others
    assert status["requirement"]["min_usable"] == 10


async def test_a_provider_without_rows_in_the_study_gets_404_as_for_a_study_that_does_not_exist(
    services: dict[str, ServiceRuntime],
) -> None:
    study = await fieldwork_study(services["scoring"])
    api_key = await registered_key(services["scoring"], f"elders-{uuid.uuid4().hex[:8]}")
    async with httpx.AsyncClient(base_url=base_url(services["scoring"])) as http:
        theirs = await http.get(f"/api/studies/{study}/status", headers={"X-API-Key": api_key})
        missing = await http.get("/api/studies/kto-bestaat-niet/status", headers={"X-API-Key": api_key})
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json() == missing.json()


async def test_the_ops_page_asks_for_the_key_before_it_shows_any_figure(
    services: dict[str, ServiceRuntime],
) -> None:
    study = await fieldwork_study(services["scoring"])
    async with httpx.AsyncClient(base_url=base_url(services["scoring"])) as http:
        asked = await http.get(f"/ops/studies/{study}/status")
        refused = await http.post(f"/ops/studies/{study}/status", data={"api_key": "not-a-key"})
        empty = await http.post(f"/ops/studies/{study}/status", data={})
    assert asked.status_code == 200
    assert '<form id="status-key" method="post">' in asked.text  # posts to this same address
    assert 'type="password" name="api_key"' in asked.text
    assert refused.status_code == empty.status_code == 401
    for page in (asked, refused, empty):
        assert "weinig-respons" not in page.text and "<svg" not in page.text
        assert page.headers["cache-control"] == "private, no-cache"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_the_ops_page_draws_so_far_forecast_and_requirement_per_provider(
    services: dict[str, ServiceRuntime],
) -> None:
    study = await fieldwork_study(services["scoring"])
    async with httpx.AsyncClient(base_url=base_url(services["scoring"])) as http:
        response = await http.post(f"/ops/studies/{study}/status", data={"api_key": ADMIN_KEY})
    assert response.status_code == 200
    page = response.text
    assert "<svg" in page
    assert page.count('class="so-far"') == page.count('class="forecast"') == 3
    assert page.count('class="requirement"') == 3
    assert '<strong id="flagged">weinig-respons</strong>' in page
    assert ADMIN_KEY not in page  # the page never holds the key


async def test_a_provider_on_the_ops_page_sees_its_own_rows_without_action_or_pipeline(
    services: dict[str, ServiceRuntime],
) -> None:
    study = await fieldwork_study(services["scoring"])
    api_key = await registered_key(services["scoring"], "goed-werk")
    async with httpx.AsyncClient(base_url=base_url(services["scoring"])) as http:
        response = await http.post(f"/ops/studies/{study}/status", data={"api_key": api_key})
    assert response.status_code == 200
    page = response.text
    assert page.count('class="so-far"') == 1 and "goed-werk" in page
    assert "weinig-respons" not in page and "net-begonnen" not in page
    assert '<strong id="flagged">none</strong>' in page
    assert 'id="extra-wave"' not in page and 'id="pipeline"' not in page
    assert "median delay" not in page
    assert api_key not in page


async def test_the_ops_page_offers_the_extra_wave_for_the_flagged_and_shows_the_backlogs(
    services: dict[str, ServiceRuntime],
) -> None:
    study = await fieldwork_study(services["scoring"])
    async with httpx.AsyncClient(base_url=base_url(services["scoring"])) as http:
        page = (await http.get(f"/ops/studies/{study}/status", headers=ADMIN)).text
    invitations = services["scoring"].settings.invitations_public_url
    assert f'action="{invitations}/ops/studies/{study}/extra-waves"' in page
    assert 'name="providers" size="60" value="weinig-respons"' in page
    assert 'type="hidden" name="wave_key" value="ops-' in page  # a fresh key: a resubmit is a repeat
    assert 'type="password" name="api_key"' in page  # the operator types it; the page never holds it
    pipeline = page[page.index('<table id="pipeline">') :]
    assert "<td>scoring</td><td>yes</td>" in pipeline
    assert "responses.submitted" in pipeline  # scoring's consumer lag per topic


async def test_tevreden_status_prints_providers_and_backlogs_and_exits_1_when_one_is_flagged(
    services: dict[str, ServiceRuntime],
) -> None:
    study = await fieldwork_study(services["scoring"])
    urls = {name: base_url(service) for name, service in services.items()}
    urls["reporting"] = "http://127.0.0.1:9"  # not running: shown as down
    console = Console(record=True, width=200)
    code = await asyncio.to_thread(
        lambda: run_status(study, urls["scoring"], urls, 42.0, console, api_key=ADMIN_KEY)
    )
    text = console.export_text()
    assert code == 1
    assert "weinig-respons" in text and "HEADING BELOW" in text
    assert "responses.submitted" in text  # scoring's consumer lag per topic
    assert "DOWN" in text


async def test_tevreden_status_with_a_wrong_key_says_so_and_exits_2(
    services: dict[str, ServiceRuntime],
) -> None:
    study = await fieldwork_study(services["scoring"])
    urls = {name: base_url(service) for name, service in services.items()}
    console = Console(record=True, width=200)
    code = await asyncio.to_thread(
        lambda: run_status(study, urls["scoring"], urls, 42.0, console, api_key="not-a-key")
    )
    assert code == 2
    assert "refused the key" in console.export_text()


@pytest.mark.parametrize(
    ("api_key", "says"), [(ADMIN_KEY, "cannot ask the invitations"), ("not-a-key", "refused the key")]
)
async def test_tevreden_extra_wave_for_the_flagged_asks_scoring_with_the_key(
    services: dict[str, ServiceRuntime], api_key: str, says: str
) -> None:
    """With the admin key the flagged provider is found and the wave goes to the invitations
    service (not running here: the command says so); with a wrong key scoring refuses it."""
    study = await fieldwork_study(services["scoring"])
    console = Console(record=True, width=200)
    code = await asyncio.to_thread(
        lambda: run_extra_wave(
            study=study,
            kind="reminder",
            providers="flagged",
            wave_key=None,
            invitations_url="http://127.0.0.1:9",
            scoring_url=base_url(services["scoring"]),
            api_key=api_key,
            console=console,
        )
    )
    assert code == 2
    assert says in console.export_text()


async def test_an_unknown_study_has_an_empty_status_for_the_bureau(
    services: dict[str, ServiceRuntime],
) -> None:
    async with httpx.AsyncClient(base_url=base_url(services["scoring"])) as http:
        response = await http.get("/api/studies/kto-bestaat-niet/status", headers=ADMIN)
    assert response.status_code == 200
    assert response.json()["providers"] == []
