"""The portal's "on behalf of" assertions at the services (shared/onbehalf.py): a provider
assertion carries exactly the authority of that provider's own API key, a bureau assertion that
of the admin key; a tampered, expired or foreign one none at all. On the real services
(invitations, scoring, reporting), database and broker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from services.invitations import app as invitations
from services.reporting import app as reporting
from services.scoring import app as scoring
from shared import onbehalf
from shared.runtime import ServiceRuntime
from tests.conftest import PORTAL_ASSERTION_SECRET, MakeSettings

pytestmark = pytest.mark.integration
ADMIN = {"X-API-Key": "test-admin-key"}


@pytest.fixture(scope="module")
async def services(module_settings: MakeSettings) -> AsyncIterator[dict[str, ServiceRuntime]]:
    started = {
        "invitations": invitations.runtime(module_settings()),
        "scoring": scoring.runtime(module_settings()),
        "reporting": reporting.runtime(module_settings()),
    }
    for runtime in started.values():
        await runtime.start()
    yield started
    for runtime in started.values():
        await runtime.stop()


def on_behalf_of(role: onbehalf.Role, provider_id: str | None = None, **kwargs: int) -> dict[str, str]:
    token = onbehalf.issue(role, str(uuid.uuid4()), provider_id, PORTAL_ASSERTION_SECRET, **kwargs)  # type: ignore[arg-type]
    return {onbehalf.HEADER: token}


@dataclass
class Study:
    """A study with providers A and B enrolled, and provider C registered but not enrolled."""

    services: dict[str, ServiceRuntime]
    study_id: str
    a: str
    b: str
    c: str

    def http(self, service: str) -> httpx.AsyncClient:
        port = self.services[service].settings.port_for(service)
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60)


@pytest.fixture
async def study(services: dict[str, ServiceRuntime]) -> Study:
    tag = uuid.uuid4().hex[:8]
    made = Study(services, f"bow-{tag}", f"A-{tag}", f"B-{tag}", f"C-{tag}")
    async with made.http("invitations") as http:
        body = {"study_id": made.study_id, "name": "BoW 2026", "scheme_id": "bow", "year": 2026}
        (await http.post("/api/studies", json=body, headers=ADMIN)).raise_for_status()
        for provider in (made.a, made.b, made.c):
            created = await http.post(
                "/api/providers", json={"provider_id": provider, "name": provider}, headers=ADMIN
            )
            created.raise_for_status()
        for provider in (made.a, made.b):
            enrolment = {"provider_id": provider, "services": ["3"]}
            enrolled = await http.post(
                f"/api/studies/{made.study_id}/enrolments", json=enrolment, headers=ADMIN
            )
            enrolled.raise_for_status()
    return made


async def test_a_provider_assertion_reads_its_own_enrolment_and_not_another_providers(study: Study) -> None:
    as_a = on_behalf_of("provider", study.a)
    async with study.http("invitations") as http:
        own = await http.get(f"/api/studies/{study.study_id}/enrolments/{study.a}", headers=as_a)
        other = await http.get(f"/api/studies/{study.study_id}/enrolments/{study.b}", headers=as_a)
        listed = await http.get(f"/api/studies/{study.study_id}/enrolments", headers=as_a)
    assert own.status_code == 200
    assert other.status_code == 404
    assert [e["provider_id"] for e in listed.json()] == [study.a]


async def test_a_provider_assertion_sees_no_study_its_provider_is_not_enrolled_in(study: Study) -> None:
    async with study.http("invitations") as http:
        response = await http.get(f"/api/studies/{study.study_id}", headers=on_behalf_of("provider", study.c))
        studies = await http.get("/api/studies", headers=on_behalf_of("provider", study.c))
    assert response.status_code == 404
    assert study.study_id not in [s["study_id"] for s in studies.json()]


async def test_a_provider_assertion_cannot_deliver_for_another_provider(study: Study) -> None:
    async with study.http("invitations") as http:
        response = await http.post(
            f"/api/studies/{study.study_id}/deliveries",
            params={"provider_id": study.b},
            content=b"client_ref,name,email,service\nX1,X,x@example.nl,3\n",
            headers=on_behalf_of("provider", study.a) | {"Content-Type": "text/csv"},
        )
    assert response.status_code == 404


async def test_a_provider_assertion_has_no_admin_authority_and_a_bureau_assertion_has(study: Study) -> None:
    body = {"study_id": f"x-{uuid.uuid4().hex[:8]}", "name": "Nieuw"}
    async with study.http("invitations") as http:
        as_provider = await http.post("/api/studies", json=body, headers=on_behalf_of("provider", study.a))
        as_bureau = await http.post("/api/studies", json=body, headers=on_behalf_of("bureau"))
    assert as_provider.status_code == 403
    assert as_bureau.status_code == 201


async def test_an_interviewer_assertion_reads_no_provider_api(study: Study) -> None:
    async with study.http("invitations") as http:
        response = await http.get("/api/studies", headers=on_behalf_of("interviewer"))
    assert response.status_code == 403


async def test_an_expired_or_tampered_assertion_gets_401(study: Study) -> None:
    expired = on_behalf_of("provider", study.a, now=int(time.time()) - 120)
    tampered = {onbehalf.HEADER: on_behalf_of("provider", study.a)[onbehalf.HEADER][:-4] + "AAAA"}
    async with study.http("invitations") as http:
        for headers in (expired, tampered):
            response = await http.get("/api/studies", headers=headers)
            assert response.status_code == 401


async def test_a_bad_assertion_is_refused_even_next_to_the_admin_key(study: Study) -> None:
    async with study.http("invitations") as http:
        response = await http.get("/api/studies", headers=ADMIN | {onbehalf.HEADER: "v1.x.y"})
    assert response.status_code == 401


async def test_reporting_shows_a_provider_assertion_only_its_own_reports(study: Study) -> None:
    as_a = on_behalf_of("provider", study.a)
    async with study.http("reporting") as http:
        own = await http.get(f"/api/reports/{study.study_id}/{study.a}/versions", headers=as_a)
        other = await http.get(f"/api/reports/{study.study_id}/{study.b}/versions", headers=as_a)
        respond = await http.post(
            f"/api/reports/{study.study_id}/{study.b}/response",
            json={"text": "Wij zijn het oneens."},
            headers=as_a,
        )
        close = await http.post(f"/api/studies/{study.study_id}/fieldwork-closed", json={}, headers=as_a)
    assert (own.status_code, own.json()) == (200, [])
    assert other.status_code == 404
    assert respond.status_code == 404
    assert close.status_code == 403


async def test_scoring_gives_a_provider_assertion_no_study_it_has_no_rows_in_and_no_admin_figures(
    study: Study,
) -> None:
    async with study.http("scoring") as http:
        status = await http.get(
            f"/api/studies/{study.study_id}/status", headers=on_behalf_of("provider", study.a)
        )
        scores = await http.get(
            f"/api/studies/{study.study_id}/scores", headers=on_behalf_of("provider", study.a)
        )
        bureau = await http.get(f"/api/studies/{study.study_id}/scores", headers=on_behalf_of("bureau"))
    assert status.status_code == 404
    assert scores.status_code == 403
    assert (bureau.status_code, bureau.json()) == (200, [])
