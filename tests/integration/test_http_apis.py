"""What every service's HTTP API does with hostile or broken input, on the running services: input
PostgreSQL cannot store is a 422 that says where, bodies are limited by the bytes received (chunked
too), and every error has the one documented shape."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.invitations import app as invitations
from services.reporting import app as reporting
from services.responses import app as responses
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings

pytestmark = pytest.mark.integration

ADMIN = {"X-API-Key": "test-admin-key"}
LIMIT = 100_000  # the routes' limits in this module: small, so a test sends little more
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
async def services(
    module_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, ServiceRuntime]]:
    limits = {"max_delivery_bytes": LIMIT, "max_import_bytes": LIMIT, "max_body_bytes": LIMIT}
    started = {
        "invitations": invitations.runtime(module_settings(**limits)),
        "responses": responses.runtime(module_settings(audio_dir=tmp_path_factory.mktemp("audio"), **limits)),
        "reporting": reporting.runtime(module_settings(report_dir=tmp_path_factory.mktemp("reports"))),
    }
    for runtime in started.values():
        await runtime.start()
    yield started
    for runtime in started.values():
        await runtime.stop()


def client(services: dict[str, ServiceRuntime], name: str) -> httpx.AsyncClient:
    port = services[name].settings.port_for(name)
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=ADMIN, timeout=30)


async def chunked(first: bytes, total: int, line: bytes = b"x" * 99 + b"\n") -> AsyncIterator[bytes]:
    """``first``, then lines up to ``total`` bytes, with no Content-Length (Transfer-Encoding: chunked)."""
    yield first
    sent = len(first)
    while sent < total:
        yield line
        sent += len(line)


def the_only_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    return dict(error)


# --- input PostgreSQL cannot store ---------------------------------------------------


async def test_a_nul_in_a_json_field_is_refused_with_the_field_named(
    services: dict[str, ServiceRuntime],
) -> None:
    async with client(services, "invitations") as http:
        response = await http.post("/api/providers", json={"provider_id": "nul-1", "name": "Werkt\x00Zwolle"})
        listed = await http.get("/api/studies/any/enrolments/nul-1")
    error = the_only_error(response)
    assert (error["loc"], error["type"]) == (["body", "name"], "unstorable_character")
    assert listed.status_code == 404


async def test_a_lone_surrogate_in_a_json_body_is_refused(services: dict[str, ServiceRuntime]) -> None:
    body = b'{"study_id": "surrogate-1", "name": "Studie \\ud800"}'
    async with client(services, "invitations") as http:
        response = await http.post("/api/studies", content=body, headers=JSON)
        found = await http.get("/api/studies/surrogate-1")
    assert the_only_error(response)["loc"] == ["body", "name"]
    assert found.status_code == 404


async def test_a_lone_surrogate_in_a_json_key_is_refused(services: dict[str, ServiceRuntime]) -> None:
    body = b'{"study_name": "x", "provider_names": {"P\\udfff": "Werkt"}}'
    async with client(services, "reporting") as http:
        response = await http.post("/api/studies/s-1/fieldwork-closed", content=body, headers=JSON)
    assert the_only_error(response)["loc"] == ["body", "provider_names", "P\\udfff"]


async def test_a_nul_in_a_providers_response_to_its_report_is_refused(
    services: dict[str, ServiceRuntime],
) -> None:
    async with client(services, "reporting") as http:
        response = await http.post("/api/reports/s-1/P1/response", json={"text": "Wij \x00 reageren"})
    assert the_only_error(response)["loc"] == ["body", "text"]


async def test_a_nul_in_a_query_parameter_is_refused(services: dict[str, ServiceRuntime]) -> None:
    async with client(services, "invitations") as http:
        response = await http.get("/api/studies/s-1/deliveries", params={"provider_id": "P\x00"})
    assert the_only_error(response)["loc"] == ["query", "provider_id"]


async def test_a_nul_in_a_path_parameter_is_refused(services: dict[str, ServiceRuntime]) -> None:
    async with client(services, "invitations") as http:
        response = await http.get("/api/studies/s%00x")
    assert the_only_error(response)["loc"] == ["path", "study_id"]


# --- size limits on the bytes received -----------------------------------------------


async def test_a_chunked_delivery_over_the_limit_is_refused(services: dict[str, ServiceRuntime]) -> None:
    header = b"client_ref,email,service\n"
    body = chunked(header, LIMIT + 20_000, b"A1,a@example.nl,3" + b" " * 82 + b"\n")
    async with client(services, "invitations") as http:
        response = await http.post(
            "/api/studies/s-1/deliveries?provider_id=P1", content=body, headers={"Content-Type": "text/csv"}
        )
    assert response.status_code == 413
    assert str(LIMIT) in response.json()["detail"]


async def test_a_chunked_paper_import_over_the_limit_is_refused(services: dict[str, ServiceRuntime]) -> None:
    body = chunked(b"short_code,remarks\n", LIMIT + 20_000)
    async with client(services, "responses") as http:
        response = await http.post("/api/paper-imports", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 413


async def test_a_chunked_form_to_a_questionnaire_link_over_the_limit_is_refused_without_a_key(
    services: dict[str, ServiceRuntime],
) -> None:
    body = chunked(b"csrf=x&remarks=", LIMIT + 20_000, b"y" * 100)
    async with client(services, "responses") as http:
        response = await http.post(
            "/q/no-such-token",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", "X-API-Key": ""},
        )
    assert response.status_code == 413


async def test_a_declared_length_over_the_limit_is_refused_before_it_is_read(
    services: dict[str, ServiceRuntime],
) -> None:
    async with client(services, "responses") as http:
        response = await http.post(
            "/api/paper-imports",
            content=b"short_code\n" + b"x" * (LIMIT + 1),
            headers={"Content-Type": "text/csv"},
        )
    assert response.status_code == 413


async def test_a_body_under_the_limit_is_read(services: dict[str, ServiceRuntime]) -> None:
    body = chunked(b"short_code,remarks\n", LIMIT - 20_000, b"QQQQQ-QQQQQ," + b"y" * 87 + b"\n")
    async with client(services, "responses") as http:
        response = await http.post("/api/paper-imports", content=body, headers={"Content-Type": "text/csv"})
    assert response.status_code == 200
    assert response.json()["rows_stored"] == 0


# --- one error shape, documented -----------------------------------------------------


async def test_a_file_refused_as_a_whole_answers_the_standard_validation_list(
    services: dict[str, ServiceRuntime],
) -> None:
    async with client(services, "responses") as http:
        response = await http.post(
            "/api/paper-imports", content=b"grade\n8\n", headers={"Content-Type": "text/csv"}
        )
    error = the_only_error(response)
    assert error["loc"] == ["body"]
    assert "short_code" in error["msg"]


async def test_a_domain_error_answers_the_standard_validation_list(
    services: dict[str, ServiceRuntime],
) -> None:
    study = {"study_id": "period-1", "name": "x", "period_start": "2026-06-01", "period_end": "2026-01-01"}
    async with client(services, "invitations") as http:
        response = await http.post("/api/studies", json=study)
    assert "period" in the_only_error(response)["msg"]


async def test_review_days_false_is_refused(services: dict[str, ServiceRuntime]) -> None:
    async with client(services, "reporting") as http:
        response = await http.post("/api/studies/s-2/fieldwork-closed", json={"review_days": False})
    assert the_only_error(response)["loc"] == ["body", "review_days"]


async def test_the_openapi_document_lists_the_errors_an_operation_answers(
    services: dict[str, ServiceRuntime],
) -> None:
    async with client(services, "invitations") as http:
        document = (await http.get("/openapi.json")).json()
    answers = document["paths"]["/api/studies/{study_id}/deliveries"]["post"]["responses"]
    assert {"201", "401", "404", "413", "422"} <= set(answers)
    assert answers["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
