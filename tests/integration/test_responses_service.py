"""The web questionnaire on the real database and broker."""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from services.responses import app as responses
from shared.events import InvitationIssued, InvitationIssuedPayload, Topics, encode_event
from shared.runtime import ServiceRuntime
from shared.tokens import token_hash
from tests.conftest import MakeSettings
from tests.polling import DEADLINE

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def service(module_settings: MakeSettings) -> AsyncIterator[ServiceRuntime]:
    runtime = responses.runtime(module_settings())
    await runtime.start()
    yield runtime
    await runtime.stop()


async def invite(service: ServiceRuntime) -> tuple[str, uuid.UUID]:
    """Publish an issued invitation and wait until the questionnaire knows its link."""
    ctx = service.ctx
    assert ctx is not None
    token, invitation_id = secrets.token_urlsafe(32), uuid.uuid4()
    event = InvitationIssued(
        payload=InvitationIssuedPayload(
            invitation_id=invitation_id,
            study_id="bow-2026",
            provider_id="P1",
            service_code="3",
            questionnaire_id="minimal-v1",
            token_hash=token_hash(token),
        )
    )
    await ctx.broker.publish(encode_event(event), Topics.INVITATIONS_ISSUED, key=b"P1")
    async with asyncio.timeout(DEADLINE), client(service) as http:
        while "csrf" not in (await http.get(f"/q/{token}")).text:
            await asyncio.sleep(0.1)
    return token, invitation_id


def client(service: ServiceRuntime) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"http://127.0.0.1:{service.settings.port_for('responses')}")


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


async def stored_responses(service: ServiceRuntime, invitation_id: uuid.UUID) -> int:
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        count: int = await conn.fetchval(
            "SELECT count(*) FROM responses.responses WHERE invitation_id = $1", invitation_id
        )
    return count


async def test_an_unknown_link_gets_the_neutral_page(service: ServiceRuntime) -> None:
    async with client(service) as http:
        page = await http.get(f"/q/{secrets.token_urlsafe(32)}")
    assert page.status_code == 200
    assert "niet beschikbaar" in page.text


async def test_a_form_without_its_csrf_token_is_refused(service: ServiceRuntime) -> None:
    token, invitation_id = await invite(service)
    async with client(service) as http:
        response = await http.post(f"/q/{token}", data={"grade": "8", "recommend": "ja"})
    assert response.status_code == 403
    assert await stored_responses(service, invitation_id) == 0


async def test_a_missing_answer_is_shown_next_to_its_question_and_the_rest_is_kept(
    service: ServiceRuntime,
) -> None:
    token, _ = await invite(service)
    async with client(service) as http:
        form = await http.get(f"/q/{token}")
        response = await http.post(f"/q/{token}", data={"csrf": csrf_of(form.text), "grade": "7"})
    assert response.status_code == 422
    assert 'aria-describedby="e-recommend"' in response.text
    assert re.search(r'value="7"\s+checked', response.text)


async def test_a_double_submission_stores_one_response_and_the_link_then_shows_the_neutral_page(
    service: ServiceRuntime,
) -> None:
    token, invitation_id = await invite(service)
    async with client(service) as http:
        form = await http.get(f"/q/{token}")
        data = {"csrf": csrf_of(form.text), "grade": "9", "recommend": "ja"}
        first, second = await asyncio.gather(
            http.post(f"/q/{token}", data=data), http.post(f"/q/{token}", data=data)
        )
        again = await http.get(f"/q/{token}")
    assert "Bedankt" in first.text
    assert second.status_code == 200
    assert await stored_responses(service, invitation_id) == 1
    assert "niet beschikbaar" in again.text


async def test_answers_are_escaped_on_the_page(service: ServiceRuntime) -> None:
    token, _ = await invite(service)
    async with client(service) as http:
        form = await http.get(f"/q/{token}")
        response = await http.post(
            f"/q/{token}", data={"csrf": csrf_of(form.text), "grade": "<script>x</script>"}
        )
    assert "<script>x</script>" not in response.text
