"""Each service answers what its OpenAPI document says: schemathesis sends generated requests
to every documented operation of the running service (real PostgreSQL and broker) and checks
that none is a server error, that each status code is documented and that each JSON body
matches its documented schema.

The number of examples per operation is bounded (``EXAMPLES``) and the generation is
derandomized: the same cases every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from services.invitations import app as invitations
from services.reporting import app as reporting
from services.responses import app as responses
from services.scoring import app as scoring
from shared.runtime import ServiceRuntime
from shared.settings import Settings
from tests.conftest import MakeSettings

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisDeprecationWarning"),
]

EXAMPLES = 10
KEY = "test-admin-key"  # the admin key, and here the callcentre's too: every operation is open to it
CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]
RUNTIMES: dict[str, Callable[[Settings], ServiceRuntime]] = {
    "invitations": invitations.runtime,
    "responses": responses.runtime,
    "scoring": scoring.runtime,
    "reporting": reporting.runtime,
}


@pytest.fixture(scope="module")
async def services(
    module_settings: MakeSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, ServiceRuntime]]:
    """All four at once: their starts (consumer groups joining) overlap."""
    files = tmp_path_factory.mktemp("files")
    common: dict[str, Any] = {
        "callcentre_api_key": KEY,
        "audio_dir": files / "audio",
        "report_dir": files / "reports",
        "calling_hours_apply": False,
    }
    runtimes = {name: make(module_settings(**common)) for name, make in RUNTIMES.items()}
    await asyncio.gather(*(runtime.start() for runtime in runtimes.values()))
    yield runtimes
    await asyncio.gather(*(runtime.stop() for runtime in runtimes.values()))


def failures_of(document: dict[str, Any], base_url: str) -> list[str]:
    """Run every operation's bounded examples; one line per operation that failed a check."""
    schema = schemathesis.openapi.from_dict(document)
    found: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case: schemathesis.Case) -> None:
            response = case.call(base_url=base_url, headers={"X-API-Key": KEY}, timeout=30)
            case.validate_response(response, checks=CHECKS)

        try:
            conforms()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis groups its failures
            found.append(f"{operation.label}: {exc}")
    return found


@pytest.mark.parametrize("name", list(RUNTIMES))
async def test_every_operation_answers_as_its_openapi_document_says(
    services: dict[str, ServiceRuntime], name: str
) -> None:
    service = services[name]
    base_url = f"http://127.0.0.1:{service.settings.port_for(service.name)}"
    async with httpx.AsyncClient(base_url=base_url) as http:
        document = (await http.get("/openapi.json")).json()
    assert document["paths"]
    found = await asyncio.to_thread(failures_of, document, base_url)
    assert not found, "\n\n".join(found)
