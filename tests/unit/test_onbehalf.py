"""The portal's "on behalf of" assertion (shared/onbehalf.py): signed, short-lived, one role,
and verified by the services in place of an API key."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import SecretStr

from shared import onbehalf
from shared.onbehalf import Assertion, InvalidAssertionError, issue, key_or_role, sign, verify

SECRET = "s3cret-for-tests"
NOW = 1_800_000_000.0


def provider_assertion(provider_id: str = "werkfit", ttl: int = 60) -> str:
    return issue("provider", "user-1", provider_id, SECRET, now=NOW, ttl_seconds=ttl)


def test_a_signed_assertion_verifies_to_its_role_provider_and_user() -> None:
    assert verify(provider_assertion(), SECRET, now=NOW) == Assertion(
        "provider", "user-1", "werkfit", 1_800_000_060
    )


def test_an_assertion_whose_claims_were_changed_is_refused() -> None:
    version, body, signature = provider_assertion("werkfit").split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["p"] = "concurrent"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(InvalidAssertionError, match="bad signature"):
        verify(f"{version}.{forged}.{signature}", SECRET, now=NOW)


def test_an_assertion_signed_with_another_secret_is_refused() -> None:
    with pytest.raises(InvalidAssertionError, match="bad signature"):
        verify(provider_assertion(), "another-secret", now=NOW)


def test_an_expired_assertion_is_refused() -> None:
    with pytest.raises(InvalidAssertionError, match="expired"):
        verify(provider_assertion(ttl=60), SECRET, now=NOW + 61)


def test_an_assertion_valid_for_longer_than_five_minutes_is_refused() -> None:
    with pytest.raises(InvalidAssertionError, match="too long"):
        verify(provider_assertion(ttl=3600), SECRET, now=NOW)


def test_a_provider_assertion_without_a_provider_is_refused() -> None:
    token = sign(Assertion("provider", "user-1", None, int(NOW) + 60), SECRET)
    with pytest.raises(InvalidAssertionError, match="exactly one provider"):
        verify(token, SECRET, now=NOW)


def test_a_bureau_assertion_naming_a_provider_is_refused() -> None:
    token = sign(Assertion("bureau", "user-1", "werkfit", int(NOW) + 60), SECRET)
    with pytest.raises(InvalidAssertionError, match="exactly one provider"):
        verify(token, SECRET, now=NOW)


def test_an_unknown_role_is_refused() -> None:
    token = sign(Assertion("root", "user-1", None, int(NOW) + 60), SECRET)  # type: ignore[arg-type]
    with pytest.raises(InvalidAssertionError, match="malformed claims"):
        verify(token, SECRET, now=NOW)


def test_without_a_secret_no_assertion_is_accepted() -> None:
    with pytest.raises(InvalidAssertionError, match="not accepted"):
        verify(provider_assertion(), "", now=NOW)


@pytest.mark.parametrize("garbage", ["", "v1", "v2.a.b", "v1.!!!.???", "v1.e30.AAAA"])
def test_garbage_is_refused(garbage: str) -> None:
    with pytest.raises(InvalidAssertionError):
        verify(garbage, SECRET, now=NOW)


def test_bureau_or_provider_gives_the_bureau_none_and_a_provider_its_id() -> None:
    assert onbehalf.bureau_or_provider(Assertion("bureau", "u", None, 0)) is None
    assert onbehalf.bureau_or_provider(Assertion("provider", "u", "werkfit", 0)) == "werkfit"


# --- in a service's key check -------------------------------------------------------------


def callcentre_app() -> FastAPI:
    app = FastAPI()
    check = key_or_role("callcentre-key", SecretStr(SECRET), "interviewer")

    @app.get("/calls", dependencies=[Depends(check)])
    async def calls() -> dict[str, str]:
        return {"ok": "yes"}

    return app


async def get_calls(headers: dict[str, str]) -> int:
    transport = httpx.ASGITransport(app=callcentre_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return (await http.get("/calls", headers=headers)).status_code


async def test_the_callcentre_key_still_works() -> None:
    assert await get_calls({"X-API-Key": "callcentre-key"}) == 200


async def test_an_interviewer_assertion_stands_in_for_the_callcentre_key() -> None:
    assertion = issue("interviewer", "user-7", None, SECRET)
    assert await get_calls({onbehalf.HEADER: assertion}) == 200


async def test_a_provider_assertion_is_not_an_interviewer_and_gets_403() -> None:
    assertion = issue("provider", "user-1", "werkfit", SECRET)
    assert await get_calls({onbehalf.HEADER: assertion}) == 403


async def test_a_bad_assertion_gets_401_even_beside_a_good_key() -> None:
    headers = {"X-API-Key": "callcentre-key", onbehalf.HEADER: "v1.forged.assertion"}
    assert await get_calls(headers) == 401
