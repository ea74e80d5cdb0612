"""The portal's rules without I/O: roles and permissions, inviting, signed values, CSRF tokens
and the sign-in rate limit (services/portal/domain.py)."""

from __future__ import annotations

import uuid

import pytest

from services.portal.domain import (
    Permission,
    Role,
    User,
    csrf_ok,
    csrf_token,
    new_user,
    requester_key,
    signed,
    token_hash,
    unsigned,
    within_limit,
)

SECRET = "portal-secret"


def user(role: Role, provider_id: str | None = None) -> User:
    return User(uuid.uuid4(), "iemand@example.nl", role, provider_id)


def test_the_bureau_manages_users_and_runs_studies_but_does_not_call() -> None:
    bureau = user(Role.BUREAU)
    assert bureau.may(Permission.MANAGE_USERS) and bureau.may(Permission.RUN_STUDIES)
    assert not bureau.may(Permission.CALL)


def test_a_provider_user_may_only_see_its_own_provider() -> None:
    provider = user(Role.PROVIDER, "werkfit")
    assert [p for p in Permission if provider.may(p)] == [Permission.OWN_PROVIDER]


def test_an_interviewer_may_only_call() -> None:
    assert [p for p in Permission if user(Role.INTERVIEWER).may(p)] == [Permission.CALL]


def test_a_provider_user_needs_a_provider_code() -> None:
    new, errors = new_user("a@werkfit.nl", "provider", "")
    assert new is None and set(errors) == {"provider_id"}


def test_a_bureau_user_has_no_provider_even_when_one_was_typed() -> None:
    new, errors = new_user(" a@bureau.nl ", "bureau", "werkfit")
    assert errors == {} and new is not None
    assert (new.email, new.role, new.provider_id) == ("a@bureau.nl", Role.BUREAU, None)


@pytest.mark.parametrize("email", ["", "geen-adres", "a@b", "a b@c.nl", "<a@b.nl>"])
def test_an_invalid_email_address_is_named_as_the_error(email: str) -> None:
    _, errors = new_user(email, "bureau", "")
    assert "email" in errors


def test_an_unknown_role_is_named_as_the_error() -> None:
    assert new_user("a@b.nl", "admin", "")[1] == {"role": "Kies een rol."}


def test_a_signed_value_comes_back_only_with_its_own_signature_and_purpose() -> None:
    cookie = signed(SECRET, "session", "token123")
    assert unsigned(SECRET, "session", cookie) == "token123"
    assert unsigned(SECRET, "flash", cookie) is None
    assert unsigned("other-secret", "session", cookie) is None
    assert unsigned(SECRET, "session", "token124" + cookie[len("token123") :]) is None


def test_a_csrf_token_is_valid_only_with_the_browser_key_it_was_made_for() -> None:
    token = csrf_token(SECRET, "browser-a")
    assert csrf_ok(SECRET, "browser-a", token)
    assert not csrf_ok(SECRET, "browser-b", token)
    assert not csrf_ok(SECRET, None, token)
    assert not csrf_ok(SECRET, "browser-a", None)


def test_tokens_are_kept_as_their_sha256() -> None:
    assert token_hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_the_same_address_in_another_case_is_the_same_requester() -> None:
    assert requester_key("email", "A@B.nl ") == requester_key("email", "a@b.nl")
    assert requester_key("email", "a@b.nl") != requester_key("address", "a@b.nl")


def test_the_rate_limit_allows_exactly_the_configured_requests_per_hour() -> None:
    assert within_limit(4, 5) and not within_limit(5, 5)
