"""Response capture on the real database and broker: the paged web questionnaire, the callcentre
API, paper imports, one final response per invitation whatever the mode, and withdrawal."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from services.responses import app as responses
from services.responses import store
from shared.events import InvitationIssued, InvitationIssuedPayload, Topics, utc_now
from shared.runtime import ServiceRuntime
from shared.tokens import format_short_code, short_code, token_hash
from tests.conftest import MakeSettings
from tests.letter_invitations import issue
from tests.polling import eventually
from tests.seeds import ASPECTS as BOW_ASPECTS

pytestmark = pytest.mark.integration

CALLCENTRE_KEY = "test-callcentre-key"
ADMIN = {"X-API-Key": "test-admin-key"}
CALLCENTRE = {"X-API-Key": CALLCENTRE_KEY}
ASPECTS = dict.fromkeys(BOW_ASPECTS, "tevreden")
REGULAR_ANSWERS: dict[str, Any] = {
    "grade": "8",
    "recommended": "ja",
    "reason": "eigen_initiatief",
    "contact_frequency": "een",
    "contact_ways": ["persoonlijk", "email"],
    "contact_amount": "precies_goed",
    "fixed_contact": "ja",
    **ASPECTS,
    "expectations": "beter",
    "complaint": "nee",
    "gender": "vrouw",
}


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="module")
async def service(module_settings: MakeSettings, audio_dir: Path) -> AsyncIterator[ServiceRuntime]:
    runtime = responses.runtime(
        module_settings(
            callcentre_api_key=CALLCENTRE_KEY,
            audio_dir=audio_dir,
            questionnaire_rate_per_second=1,
            questionnaire_rate_burst=5,
        )
    )
    await runtime.start()
    yield runtime
    await runtime.stop()


async def invite(
    service: ServiceRuntime,
    questionnaire_id: str = "bow-client-regular",
    *,
    days_ago: float = 0,
    phone_allowed: bool | None = None,
) -> tuple[str, uuid.UUID]:
    """An issued invitation as the responses service learns it (stored directly: no consumer wait)."""
    assert service.ctx is not None
    token, invitation_id = secrets.token_urlsafe(32), uuid.uuid4()
    event = InvitationIssued(
        occurred_at=utc_now() - timedelta(days=days_ago),
        payload=InvitationIssuedPayload(
            invitation_id=invitation_id,
            study_id="bow-2026",
            provider_id="P1",
            service_code="3",
            questionnaire_id=questionnaire_id,
            token_hash=token_hash(token),
            phone_allowed=phone_allowed,
        ),
    )
    async with service.ctx.pool.acquire() as conn:
        await store.add_invitations(conn, [event])
    return token, invitation_id


def client(service: ServiceRuntime, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{service.settings.port_for('responses')}", headers=headers, timeout=20
    )


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found is not None
    return found.group(1)


def page_of(html: str) -> str:
    found = re.search(r'name="page" value="(\d+)"', html)
    assert found is not None
    return found.group(1)


def questions_on(html: str) -> list[str]:
    return re.findall(r'class="question[^"]*" id="q-([a-z0-9_]+)"', html)


async def post_whole(http: httpx.AsyncClient, token: str, answers: Mapping[str, Any]) -> httpx.Response:
    """GET the link's page (for its CSRF token), then post every answer in one form."""
    page = await http.get(f"/q/{token}")
    return await http.post(f"/q/{token}", data={"csrf": csrf_of(page.text), **answers})


async def post_page(
    http: httpx.AsyncClient, token: str, answers: Mapping[str, Any], **extra: str
) -> httpx.Response:
    """GET the page the link shows now and post the given answers to its questions."""
    page = await http.get(f"/q/{token}")
    shown = questions_on(page.text)
    data: dict[str, Any] = {k: v for k, v in answers.items() if k.split(".")[0] in shown}
    data |= {"csrf": csrf_of(page.text), "page": page_of(page.text), **extra}
    return await http.post(f"/q/{token}", data=data)


async def answer_everything(
    http: httpx.AsyncClient, token: str, answers: Mapping[str, Any]
) -> httpx.Response:
    """Page after page until the end page (at most one round per page)."""
    for _ in range(20):
        response = await post_page(http, token, answers)
        if response.status_code != 303:
            return response
    raise AssertionError("the questionnaire never ended")


async def fetch(service: ServiceRuntime, sql: str, *args: Any) -> list[Any]:
    assert service.ctx is not None
    async with service.ctx.pool.acquire() as conn:
        return list(await conn.fetch(sql, *args))


async def responses_of(service: ServiceRuntime, invitation_id: uuid.UUID) -> list[Any]:
    return await fetch(service, "SELECT * FROM responses.responses WHERE invitation_id = $1", invitation_id)


async def outbox_events(
    service: ServiceRuntime, topic: str, invitation_id: uuid.UUID
) -> list[dict[str, Any]]:
    rows = await fetch(service, "SELECT body FROM responses.outbox WHERE topic = $1 ORDER BY id", topic)
    events = [json.loads(bytes(r["body"])) for r in rows]
    return [e for e in events if e["payload"]["invitation_id"] == str(invitation_id)]


# --- the web questionnaire, page by page ------------------------------------------------


async def test_the_first_page_shows_the_first_section_and_the_progress(service: ServiceRuntime) -> None:
    token, _ = await invite(service)
    async with client(service) as http:
        page = await http.get(f"/q/{token}")
    assert "Deel 1 van 13" in page.text  # every page that routing may still show
    assert questions_on(page.text) == ["grade", "recommended"]
    assert ">Volgende</button>" in page.text


async def test_a_saved_page_leads_to_the_next_and_is_kept_in_the_database(service: ServiceRuntime) -> None:
    token, invitation_id = await invite(service)
    async with client(service) as http:
        saved = await post_page(http, token, {"grade": "7", "recommended": "ja"})
        following = await http.get(f"/q/{token}")
    assert saved.status_code == 303
    assert "Deel 2 van 13" in following.text
    drafts = await fetch(
        service, "SELECT answers, page FROM responses.drafts WHERE invitation_id = $1", invitation_id
    )
    assert drafts[0]["answers"] == {"grade": 7, "recommended": "ja"}


async def test_the_link_resumes_where_the_respondent_left_off(service: ServiceRuntime) -> None:
    token, _ = await invite(service)
    async with client(service) as http:
        await post_page(http, token, {"grade": "7", "recommended": "ja"})
        await post_page(http, token, {"reason": "eigen_initiatief"})
    async with client(service) as later:  # another visit, as after closing the browser
        page = await later.get(f"/q/{token}")
    assert questions_on(page.text) == ["contact_frequency", "contact_ways", "contact_amount", "fixed_contact"]


async def test_routing_leaves_out_questions_that_do_not_apply(service: ServiceRuntime) -> None:
    token, _ = await invite(service)
    async with client(service) as http:
        await post_page(http, token, {"grade": "7", "recommended": "ja"})
        await post_page(http, token, {"reason": "werkgever"})
        page = await http.get(f"/q/{token}")
    assert "sanction_threat" not in questions_on(page.text)
    assert "Deel 3 van 11" in page.text  # the two sanction pages no longer counted


async def test_routing_shows_the_follow_up_question_an_answer_calls_for(service: ServiceRuntime) -> None:
    token, _ = await invite(service)
    async with client(service) as http:
        await post_page(http, token, {"grade": "7", "recommended": "ja"})
        await post_page(http, token, {"reason": "verplicht"})
        page = await http.get(f"/q/{token}")
    assert questions_on(page.text) == ["sanction_threat"]


async def test_going_back_shows_the_previous_page_with_its_answers(service: ServiceRuntime) -> None:
    token, _ = await invite(service)
    async with client(service) as http:
        await post_page(http, token, {"grade": "6", "recommended": "afgeraden"})
        back = await post_page(http, token, {}, action="back")
        page = await http.get(f"/q/{token}")
    assert back.status_code == 303
    assert questions_on(page.text) == ["grade", "recommended"]
    assert re.search(r'value="afgeraden"\s+checked', page.text)


async def test_errors_are_listed_in_a_summary_that_links_to_each_field(service: ServiceRuntime) -> None:
    token, _ = await invite(service)
    async with client(service) as http:
        response = await post_page(http, token, {})
    assert response.status_code == 422
    assert '<a href="#grade-1">' in response.text
    assert '<a href="#recommended-1">' in response.text
    assert 'id="q-recommended" aria-describedby="e-recommended"' in response.text
    assert "<title>Fout: " in response.text


async def test_every_ticked_box_of_a_multiple_choice_is_kept(service: ServiceRuntime) -> None:
    token, invitation_id = await invite(service)
    async with client(service) as http:
        await post_page(http, token, {"grade": "7", "recommended": "ja"})
        await post_page(http, token, {"reason": "eigen_initiatief"})
        await post_page(http, token, REGULAR_ANSWERS)
    drafts = await fetch(
        service, "SELECT answers FROM responses.drafts WHERE invitation_id = $1", invitation_id
    )
    assert drafts[0]["answers"]["contact_ways"] == ["persoonlijk", "email"]


async def test_a_questionnaire_answered_page_by_page_ends_on_the_thanks_page_and_is_stored_once(
    service: ServiceRuntime,
) -> None:
    token, invitation_id = await invite(service)
    async with client(service) as http:
        end = await answer_everything(http, token, REGULAR_ANSWERS)
        again = await http.get(f"/q/{token}")
    assert "Bedankt voor uw mening" in end.text
    assert "niet beschikbaar" in again.text
    [row] = await responses_of(service, invitation_id)
    assert (row["mode"], row["usable"], row["interviewer_id"]) == ("web", True, None)
    assert row["answers"]["contact_ways"] == ["persoonlijk", "email"]
    assert (
        await fetch(service, "SELECT 1 FROM responses.drafts WHERE invitation_id = $1", invitation_id) == []
    )


async def test_the_whole_questionnaire_may_be_posted_in_one_form(service: ServiceRuntime) -> None:
    token, invitation_id = await invite(service)
    async with client(service) as http:
        end = await post_whole(http, token, REGULAR_ANSWERS)
    assert "Bedankt" in end.text
    assert len(await responses_of(service, invitation_id)) == 1


async def test_typed_answers_are_shown_again_escaped(service: ServiceRuntime) -> None:
    token, _ = await invite(service, "bow-opdrachtgever")
    async with client(service) as http:
        response = await post_page(http, token, {"grade": "<script>alert(1)</script>", "recommended": "ja"})
    assert response.status_code == 422
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text


async def test_a_nul_in_a_free_text_answer_shows_the_page_with_the_error_at_the_field(
    service: ServiceRuntime,
) -> None:
    token, invitation_id = await invite(service)
    async with client(service) as http:
        response = await post_whole(http, token, {**REGULAR_ANSWERS, "remarks": "Fijn\x00contact"})
    assert response.status_code == 422
    assert '<a href="#remarks">' in response.text
    assert '<span id="e-remarks">Uw antwoord bevat een teken dat wij niet kunnen opslaan.' in response.text
    assert await responses_of(service, invitation_id) == []


async def test_a_decimal_grade_is_taken_from_an_opdrachtgever(service: ServiceRuntime) -> None:
    token, invitation_id = await invite(service, "bow-opdrachtgever")
    async with client(service) as http:
        await post_page(http, token, {"grade": "7,5", "recommended": "ja"})
    drafts = await fetch(
        service, "SELECT answers FROM responses.drafts WHERE invitation_id = $1", invitation_id
    )
    assert drafts[0]["answers"]["grade"] == 7.5


async def test_an_expired_link_gets_the_same_neutral_page_as_an_unknown_one(service: ServiceRuntime) -> None:
    token, _ = await invite(service, days_ago=365)
    async with client(service) as http:
        expired = await http.get(f"/q/{token}")
        unknown = await http.get(f"/q/{secrets.token_urlsafe(32)}")
    assert expired.text == unknown.text
    assert "niet beschikbaar" in expired.text


async def test_too_many_requests_from_one_address_get_a_dutch_429(service: ServiceRuntime) -> None:
    token, _ = await invite(service)
    # uvicorn trusts X-Forwarded-For from 127.0.0.1, as from a proxy on the same host.
    async with client(service, **{"X-Forwarded-For": "198.51.100.7"}) as http:
        statuses = [(await http.get(f"/q/{token}")) for _ in range(8)]
    refused = [r for r in statuses if r.status_code == 429]
    assert refused
    assert "Even wachten" in refused[0].text
    assert int(refused[0].headers["Retry-After"]) >= 1


async def test_the_low_threshold_page_reads_each_question_aloud_with_one_small_mp3(
    service: ServiceRuntime, audio_dir: Path
) -> None:
    await eventually(lambda: _manifest_exists(audio_dir, "bow-client-laagdrempelig.v1.read-aloud.json"))
    token, _ = await invite(service, "bow-client-laagdrempelig")
    async with client(service) as http:
        page = await http.get(f"/q/{token}")
        sources = re.findall(
            r'<div class="read-aloud" data-read-aloud>\s*<span[^>]*>[^<]*</span>\s*'
            r'<audio controls preload="none" src="([^"]+)"',
            page.text,
        )
        sound = await http.get(sources[0])
    questions = page.text.count('class="question')
    assert questions == 2  # grade and recommended
    assert len(sources) == 1 + questions  # and the introduction: none per option
    assert sound.status_code == 200
    assert "immutable" in sound.headers["Cache-Control"]
    assert sound.content[:3] == b"ID3" or sound.content[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
    assert len(sound.content) < 100_000  # an MP3 at 32 kbit/s, not a half-megabyte WAV


async def _manifest_exists(folder: Path, name: str) -> bool:
    return (folder / name).exists()


# --- the callcentre ---------------------------------------------------------------------


async def test_an_interview_is_stored_as_a_phone_response_with_its_interviewer(
    service: ServiceRuntime,
) -> None:
    _, invitation_id = await invite(service)
    async with client(service, **CALLCENTRE) as http:
        response = await http.post(
            "/api/interviews",
            json={
                "invitation_id": str(invitation_id),
                "interviewer_id": "int-042",
                "answers": REGULAR_ANSWERS,
            },
        )
    assert response.status_code == 201
    assert response.json()["status"] == "stored"
    assert response.json()["usable"] is True
    [row] = await responses_of(service, invitation_id)
    assert (row["mode"], row["interviewer_id"]) == ("phone", "int-042")


async def test_the_callcentre_cannot_record_an_interview_for_an_invitation_it_may_not_phone(
    service: ServiceRuntime,
) -> None:
    _, invitation_id = await invite(service, phone_allowed=False)  # email only, no phone option
    body = {"invitation_id": str(invitation_id), "interviewer_id": "int-042", "answers": REGULAR_ANSWERS}
    async with client(service, **CALLCENTRE) as http:
        response = await http.post("/api/interviews", json=body)
    assert response.status_code == 403, response.text
    assert response.json()["status"] == "not_to_be_phoned"
    assert await responses_of(service, invitation_id) == []


async def test_an_interview_for_an_invitation_that_may_be_phoned_is_stored(service: ServiceRuntime) -> None:
    _, invitation_id = await invite(service, phone_allowed=True)
    body = {"invitation_id": str(invitation_id), "interviewer_id": "int-042", "answers": REGULAR_ANSWERS}
    async with client(service, **CALLCENTRE) as http:
        response = await http.post("/api/interviews", json=body)
    assert response.status_code == 201, response.text


async def test_the_interviewer_is_never_in_the_event(service: ServiceRuntime) -> None:
    _, invitation_id = await invite(service)
    async with client(service, **CALLCENTRE) as http:
        await http.post(
            "/api/interviews",
            json={
                "invitation_id": str(invitation_id),
                "interviewer_id": "int-777",
                "answers": REGULAR_ANSWERS,
            },
        )
    [event] = await outbox_events(service, Topics.RESPONSES_SUBMITTED, invitation_id)
    assert event["payload"]["mode"] == "phone"
    assert "int-777" not in json.dumps(event)


async def test_an_interview_with_wrong_answers_gets_the_problems_per_question(
    service: ServiceRuntime,
) -> None:
    _, invitation_id = await invite(service)
    answers = {**REGULAR_ANSWERS, "grade": 11}
    del answers["recommended"]
    async with client(service, **CALLCENTRE) as http:
        response = await http.post(
            "/api/interviews",
            json={"invitation_id": str(invitation_id), "interviewer_id": "int-1", "answers": answers},
        )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "type": "invalid_answer",
            "loc": ["body", "answers", "grade"],
            "msg": "Give a grade from 1 to 10.",
            "ctx": {"question": "grade", "problem_nl": "Geef een cijfer van 1 tot en met 10."},
        },
        {
            "type": "invalid_answer",
            "loc": ["body", "answers", "recommended"],
            "msg": "Choose an answer.",
            "ctx": {"question": "recommended", "problem_nl": "Kies een antwoord."},
        },
    ]
    assert await responses_of(service, invitation_id) == []


async def test_a_nul_in_a_free_text_answer_of_an_interview_is_refused_with_its_place(
    service: ServiceRuntime,
) -> None:
    _, invitation_id = await invite(service)
    answers = {**REGULAR_ANSWERS, "remarks": "Goed\x00geholpen"}
    async with client(service, **CALLCENTRE) as http:
        response = await http.post(
            "/api/interviews",
            json={"invitation_id": str(invitation_id), "interviewer_id": "int-1", "answers": answers},
        )
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "answers", "remarks"]]
    assert await responses_of(service, invitation_id) == []


async def test_an_interviewer_id_that_looks_like_an_email_address_is_refused(service: ServiceRuntime) -> None:
    _, invitation_id = await invite(service)
    async with client(service, **CALLCENTRE) as http:
        response = await http.post(
            "/api/interviews",
            json={"invitation_id": str(invitation_id), "interviewer_id": "jan@callcentre.nl", "answers": {}},
        )
    assert response.status_code == 422


async def test_the_callcentre_api_refuses_another_key(service: ServiceRuntime) -> None:
    _, invitation_id = await invite(service)
    async with client(service, **ADMIN) as http:
        response = await http.get(f"/api/interviews/{invitation_id}")
    assert response.status_code == 401


async def test_an_interview_for_an_unknown_invitation_is_not_found(service: ServiceRuntime) -> None:
    async with client(service, **CALLCENTRE) as http:
        response = await http.post(
            "/api/interviews", json={"invitation_id": str(uuid.uuid4()), "interviewer_id": "i", "answers": {}}
        )
    assert response.status_code == 404


async def test_the_callcentre_sees_whether_to_call_and_which_questionnaire_to_ask(
    service: ServiceRuntime,
) -> None:
    _, invitation_id = await invite(service)
    async with client(service, **CALLCENTRE) as http:
        status = (await http.get(f"/api/interviews/{invitation_id}")).json()
        questionnaire = (await http.get(f"/api/questionnaires/{status['questionnaire_id']}")).json()
    assert status["status"] == "open"
    assert status["short_code"] == format_short_code(short_code(invitation_id))
    assert questionnaire["questions"][0]["id"] == "grade"


# --- paper ------------------------------------------------------------------------------


async def test_paper_rows_are_checked_one_by_one_and_the_good_rows_kept(service: ServiceRuntime) -> None:
    _, first = await invite(service)
    _, second = await invite(service)
    _, third = await invite(service)
    csv = (
        "short_code;invitation_id;grade;recommended;aspect_expertise\n"
        f"{format_short_code(short_code(first)).lower()};;8;ja;tevreden\n"
        f";{second};12;ja;tevreden\n"
        f";{third};6;;\n"
        f"ZZZZZ-ZZZZZ;;7;ja;tevreden\n"
    )
    async with client(service, **ADMIN) as http:
        response = await http.post(
            "/api/paper-imports", content=csv.encode(), headers={"Content-Type": "text/csv"}
        )
    report = response.json()
    assert (report["rows_total"], report["rows_stored"], report["rows_rejected"]) == (4, 2, 2)
    assert report["rows_usable"] == 0  # the aspects are not all answered on any form
    assert [(p["row"], p["column"]) for p in report["problems"]] == [(3, "grade"), (5, "short_code")]
    assert report["problems"][0]["problem_en"] == "Give a grade from 1 to 10."
    [row] = await responses_of(service, third)
    assert (row["mode"], row["answers"]) == ("paper", {"grade": 6})
    assert await responses_of(service, second) == []


async def test_a_paper_row_with_a_nul_in_a_free_text_answer_is_refused_and_the_others_kept(
    service: ServiceRuntime,
) -> None:
    _, first = await invite(service)
    _, second = await invite(service)
    csv = f"invitation_id,grade,remarks\n{first},8,Prima\n{second},7,Goed\x00zo\n"
    async with client(service, **ADMIN) as http:
        response = await http.post(
            "/api/paper-imports", content=csv.encode(), headers={"Content-Type": "text/csv"}
        )
    report = response.json()
    assert (report["rows_stored"], report["rows_rejected"]) == (1, 1)
    assert [(p["row"], p["column"]) for p in report["problems"]] == [(3, "remarks")]
    assert report["problems"][0]["problem_en"].startswith("The answer holds a character")
    [row] = await responses_of(service, first)
    assert row["answers"] == {"grade": 8, "remarks": "Prima"}
    assert await responses_of(service, second) == []


async def test_a_paper_file_without_an_invitation_column_is_refused_as_a_whole(
    service: ServiceRuntime,
) -> None:
    async with client(service, **ADMIN) as http:
        response = await http.post(
            "/api/paper-imports", content=b"grade,recommended\n8,ja\n", headers={"Content-Type": "text/csv"}
        )
    assert response.status_code == 422
    assert "short_code" in response.json()["detail"][0]["msg"]


async def test_a_paper_file_can_be_uploaded_as_a_form_field(service: ServiceRuntime) -> None:
    _, invitation_id = await invite(service)
    async with client(service, **ADMIN) as http:
        response = await http.post(
            "/api/paper-imports",
            files={"file": ("forms.csv", f"invitation_id,grade\n{invitation_id},9\n".encode(), "text/csv")},
        )
    assert response.json()["rows_stored"] == 1


async def test_paper_import_needs_the_admin_key(service: ServiceRuntime) -> None:
    async with client(service, **CALLCENTRE) as http:
        response = await http.post("/api/paper-imports", content=b"short_code\n")
    assert response.status_code == 401


async def test_the_short_code_in_the_database_equals_the_printed_one(service: ServiceRuntime) -> None:
    _, invitation_id = await invite(service)
    [row] = await fetch(
        service, "SELECT short_code FROM responses.invitations WHERE invitation_id = $1", invitation_id
    )
    assert row["short_code"] == short_code(invitation_id)


# --- one final response per invitation --------------------------------------------------


async def interview(http: httpx.AsyncClient, invitation_id: uuid.UUID) -> httpx.Response:
    return await http.post(
        "/api/interviews",
        json={"invitation_id": str(invitation_id), "interviewer_id": "int-9", "answers": REGULAR_ANSWERS},
        headers=CALLCENTRE,
    )


async def paper(http: httpx.AsyncClient, invitation_id: uuid.UUID) -> dict[str, Any]:
    response = await http.post(
        "/api/paper-imports",
        content=f"invitation_id,grade,recommended\n{invitation_id},5,nee_zou_wel\n".encode(),
        headers=ADMIN | {"Content-Type": "text/csv"},
    )
    result: dict[str, Any] = response.json()
    return result


async def test_two_final_submissions_on_the_web_at_once_store_one_and_the_other_says_so(
    service: ServiceRuntime,
) -> None:
    token, invitation_id = await invite(service)
    async with client(service) as http:
        page = await http.get(f"/q/{token}")
        data = {"csrf": csrf_of(page.text), **REGULAR_ANSWERS}
        first, second = await asyncio.gather(
            http.post(f"/q/{token}", data=data), http.post(f"/q/{token}", data=data)
        )
    assert len(await responses_of(service, invitation_id)) == 1
    texts = sorted([first.text, second.text], key=lambda t: "al goed ontvangen" in t)
    assert "zijn goed ontvangen" in texts[0]
    assert "waren al goed ontvangen" in texts[1]
    assert len(await outbox_events(service, Topics.RESPONSES_SUBMITTED, invitation_id)) == 1


async def test_a_web_form_sent_after_a_phone_interview_is_a_no_op_that_says_so(
    service: ServiceRuntime,
) -> None:
    token, invitation_id = await invite(service)
    async with client(service) as http:
        page = await http.get(f"/q/{token}")  # the form was open in a browser tab
        assert (await interview(http, invitation_id)).status_code == 201
        late = await http.post(f"/q/{token}", data={"csrf": csrf_of(page.text), **REGULAR_ANSWERS})
    assert "waren al goed ontvangen" in late.text
    [row] = await responses_of(service, invitation_id)
    assert row["mode"] == "phone"


async def test_a_phone_interview_after_a_paper_form_is_a_no_op_that_says_so(service: ServiceRuntime) -> None:
    _, invitation_id = await invite(service)
    async with client(service) as http:
        assert (await paper(http, invitation_id))["rows_stored"] == 1
        late = await interview(http, invitation_id)
    assert late.status_code == 200
    assert (late.json()["status"], late.json()["answered_mode"]) == ("already_answered", "paper")
    [row] = await responses_of(service, invitation_id)
    assert row["mode"] == "paper"


async def test_a_paper_form_after_a_web_response_is_reported_as_answered_already(
    service: ServiceRuntime,
) -> None:
    token, invitation_id = await invite(service)
    async with client(service) as http:
        page = await http.get(f"/q/{token}")
        await http.post(f"/q/{token}", data={"csrf": csrf_of(page.text), **REGULAR_ANSWERS})
        report = await paper(http, invitation_id)
    assert (report["rows_stored"], report["rows_already_answered"]) == (0, 1)
    assert "al beantwoord (web)" in report["problems"][0]["problem_nl"]


async def test_the_same_form_twice_in_one_paper_file_counts_once(service: ServiceRuntime) -> None:
    _, invitation_id = await invite(service)
    csv = f"invitation_id,grade\n{invitation_id},8\n{invitation_id},8\n"
    async with client(service, **ADMIN) as http:
        report = (
            await http.post("/api/paper-imports", content=csv.encode(), headers={"Content-Type": "text/csv"})
        ).json()
    assert (report["rows_stored"], report["rows_already_answered"]) == (1, 1)


async def test_two_interviews_at_once_store_one(service: ServiceRuntime) -> None:
    _, invitation_id = await invite(service)
    async with client(service) as http:
        results = await asyncio.gather(*(interview(http, invitation_id) for _ in range(4)))
    assert sorted(r.status_code for r in results) == [200, 200, 200, 201]
    assert len(await responses_of(service, invitation_id)) == 1


# --- withdrawal -------------------------------------------------------------------------


async def withdrawn_events(service: ServiceRuntime, response_id: str) -> list[dict[str, Any]] | None:
    """The responses.withdrawn events on the topic for this response (None while there are none)."""
    consumer = AIOKafkaConsumer(
        Topics.RESPONSES_WITHDRAWN,
        bootstrap_servers=service.settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=2000)
    finally:
        await consumer.stop()
    found = [
        json.loads(message.value)
        for messages in batches.values()
        for message in messages
        if message.value is not None and response_id.encode() in message.value
    ]
    return found or None


async def test_withdrawal_deletes_the_answers_and_publishes_responses_withdrawn(
    service: ServiceRuntime,
) -> None:
    _, invitation_id = await invite(service)
    async with client(service) as http:
        response_id = (await interview(http, invitation_id)).json()["response_id"]
        withdrawal = await http.delete(f"/api/responses/{invitation_id}", headers=ADMIN)
    assert withdrawal.json() == {
        "invitation_id": str(invitation_id),
        "outcome": "withdrawn",
        "response_id": response_id,
    }
    [row] = await responses_of(service, invitation_id)
    assert row["answers"] is None
    [submitted] = await outbox_events(service, Topics.RESPONSES_SUBMITTED, invitation_id)
    assert submitted["payload"]["answers"] == {}
    [event] = await eventually(lambda: withdrawn_events(service, response_id))
    assert event["type"] == "responses.withdrawn"
    assert event["payload"] == {
        "response_id": response_id,
        "invitation_id": str(invitation_id),
        "study_id": "bow-2026",
        "provider_id": "P1",
    }


async def test_a_second_withdrawal_is_a_no_op(service: ServiceRuntime) -> None:
    _, invitation_id = await invite(service)
    async with client(service) as http:
        await interview(http, invitation_id)
        await http.delete(f"/api/responses/{invitation_id}", headers=ADMIN)
        again = await http.delete(f"/api/responses/{invitation_id}", headers=ADMIN)
    assert again.json()["outcome"] == "already_withdrawn"
    assert len(await outbox_events(service, Topics.RESPONSES_WITHDRAWN, invitation_id)) == 1


async def test_after_a_withdrawal_nothing_can_be_submitted_and_the_link_is_closed(
    service: ServiceRuntime,
) -> None:
    token, invitation_id = await invite(service)
    async with client(service) as http:
        await post_page(http, token, {"grade": "7", "recommended": "ja"})  # a partial save
        withdrawal = await http.delete(f"/api/responses/{invitation_id}", headers=ADMIN)
        late = await interview(http, invitation_id)
        link = await http.get(f"/q/{token}")
    assert withdrawal.json()["outcome"] == "nothing_to_withdraw"
    assert late.status_code == 409
    assert "niet beschikbaar" in link.text
    assert (
        await fetch(service, "SELECT 1 FROM responses.drafts WHERE invitation_id = $1", invitation_id) == []
    )
    assert await outbox_events(service, Topics.RESPONSES_WITHDRAWN, invitation_id) == []


async def test_withdrawing_an_unknown_invitation_is_not_found(service: ServiceRuntime) -> None:
    async with client(service, **ADMIN) as http:
        response = await http.delete(f"/api/responses/{uuid.uuid4()}")
    assert response.status_code == 404


# --- the short address on letters: /code ----------------------------------------------------


async def invite_by_letter(service: ServiceRuntime, provider_name: str = "Werkt & Zo") -> tuple[str, str]:
    issued = await issue(service, provider_name=provider_name)
    return issued.token, issued.code


async def post_code(http: httpx.AsyncClient, typed: str) -> httpx.Response:
    form = await http.get("/code")
    return await http.post("/code", data={"code": typed, "csrf": csrf_of(form.text)})


async def test_a_letter_code_typed_as_one_likes_leads_to_the_questionnaire(service: ServiceRuntime) -> None:
    token, code = await invite_by_letter(service)
    async with client(service) as http:
        sent = await post_code(http, f" {code[:5].lower()} {code[5:]} ")
        page = await http.get(sent.headers["location"])
    assert sent.status_code == 303 and sent.headers["location"] == f"/q/{token}"
    assert questions_on(page.text) == ["grade", "recommended"]


async def test_the_questionnaire_names_the_provider_and_the_bureau(service: ServiceRuntime) -> None:
    token, _ = await invite_by_letter(service, "Pluswerk Reïntegratie")
    async with client(service) as http:
        page = await http.get(f"/q/{token}")
    assert "Heeft u Pluswerk Reïntegratie aangeraden bij anderen?" in page.text
    bureau = service.settings.bureau
    assert bureau.name in page.text and bureau.phone in page.text and bureau.privacy_url in page.text


async def test_an_unknown_code_is_refused_with_a_clear_error_and_kept_in_the_field(
    service: ServiceRuntime,
) -> None:
    async with client(service) as http:
        refused = await post_code(http, "ABCDE-FGH23")
    assert refused.status_code == 422
    assert "Deze code kennen wij niet" in refused.text
    assert 'value="ABCDE-FGH23"' in refused.text and 'aria-invalid="true"' in refused.text


async def test_a_code_with_a_zero_or_one_is_explained_not_looked_up(service: ServiceRuntime) -> None:
    async with client(service) as http:
        refused = await post_code(http, "ABCDE-FGH10")
    assert refused.status_code == 422
    assert "Een 0 of 1 komt er niet in voor" in refused.text


async def test_a_code_posted_from_elsewhere_is_refused(service: ServiceRuntime) -> None:
    _, code = await invite_by_letter(service)
    async with client(service) as http:
        form = await http.get("/code")
        http.cookies.clear()  # a form posted from another site carries no cookie of ours
        refused = await http.post("/code", data={"code": code, "csrf": csrf_of(form.text)})
    assert refused.status_code == 403 and "location" not in refused.headers


async def test_guessing_codes_from_one_address_is_slowed_down(service: ServiceRuntime) -> None:
    async with client(service, **{"X-Forwarded-For": "198.51.100.9"}) as http:
        statuses = [(await post_code(http, "ABCDE-FGH23")).status_code for _ in range(15)]
    assert 429 in statuses
    assert statuses[0] == 422
