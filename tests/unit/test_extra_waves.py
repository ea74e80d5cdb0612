"""Extra waves for providers heading below the requirement: who gets what (pure rules)."""

from __future__ import annotations

from services.invitations.mailer import email_outcome
from services.invitations.waves import (
    ExtraAttempt,
    Position,
    Stage,
    Standing,
    advance,
    extra_attempt,
)
from services.scoring.status_page import action_form

EMAIL = Stage("email", 2, 7.0)
POST = Stage("post", 2, 14.0, fallback=True)
CLIENT_PLAN = (EMAIL, POST)
PHONE = Stage("phone", 5, 0.5)


def standing(**changes: object) -> Standing:
    values: dict[str, object] = {
        "status": "done",
        "in_plan": False,
        "email": True,
        "address": True,
        "phone": True,
        "phoned": False,
        "made": {"email": 2},
    }
    return Standing(**(values | changes))  # type: ignore[arg-type]


def test_a_non_respondent_whose_plan_is_over_gets_one_more_email_numbered_on() -> None:
    extra = extra_attempt("reminder", standing(), CLIENT_PLAN, phone_stage=PHONE, reached=True)
    assert isinstance(extra, ExtraAttempt)
    assert extra.mode == "email"
    assert extra.plan[:2] == CLIENT_PLAN
    assert extra.position == Position(2, 2, True, 0.0)  # attempt 3: a new Message-ID, reminder wording


def test_after_the_extra_attempt_the_plan_ends_again() -> None:
    extra = extra_attempt("reminder", standing(), CLIENT_PLAN, phone_stage=PHONE, reached=True)
    assert isinstance(extra, ExtraAttempt)
    after = advance(extra.plan, extra.position, "sent")
    assert after.stage is None and after.end == "done"


def test_someone_whose_email_bounced_gets_a_letter_instead() -> None:
    extra = extra_attempt(
        "reminder",
        standing(email=False, made={"email": 1, "post": 2}),
        CLIENT_PLAN,
        phone_stage=PHONE,
        reached=True,
    )
    assert isinstance(extra, ExtraAttempt)
    assert extra.mode == "post" and extra.position.stage_attempts == 2


def test_an_opdrachtgever_is_reminded_by_email_only() -> None:
    assert (
        extra_attempt("reminder", standing(email=False), (EMAIL,), phone_stage=PHONE, reached=False)
        == "no_mode"
    )


def test_respondents_opted_out_and_undeliverable_people_are_never_approached() -> None:
    for status in ("responded", "opted_out", "undeliverable"):
        for kind in ("reminder", "phone"):
            got = extra_attempt(kind, standing(status=status), CLIENT_PLAN, phone_stage=PHONE, reached=True)  # type: ignore[arg-type]
            assert got == status


def test_people_still_in_their_own_plan_are_left_to_it() -> None:
    got = extra_attempt(
        "reminder", standing(status="sent", in_plan=True), CLIENT_PLAN, phone_stage=PHONE, reached=True
    )
    assert got == "in_plan"


def test_a_phone_wave_calls_those_with_a_usable_number_not_yet_phoned() -> None:
    extra = extra_attempt("phone", standing(), CLIENT_PLAN, phone_stage=PHONE, reached=True)
    assert isinstance(extra, ExtraAttempt)
    assert extra.mode == "phone" and extra.plan[-1] == PHONE and extra.position.stage_attempts == 0
    assert extra_attempt("phone", standing(phoned=True), CLIENT_PLAN, phone_stage=PHONE, reached=True) == (
        "already_phoned"
    )
    assert extra_attempt("phone", standing(phone=False), CLIENT_PLAN, phone_stage=PHONE, reached=True) == (
        "no_mode"
    )


def test_smtp_replies_count_as_sent_deferred_or_bounced() -> None:
    assert [email_outcome(c) for c in (250, 451, 421, 0, 550, 554)] == [
        "sent",
        "deferred",
        "deferred",
        "deferred",
        "bounced",
        "bounced",
    ]


def test_the_ops_page_offers_the_action_only_when_someone_is_flagged() -> None:
    status = {"study_id": "kto-2026", "flagged": []}
    assert "<form" not in action_form(status, "http://invitations:8001")
    form = action_form(status | {"flagged": ["P1", "P2"]}, "http://invitations:8001")
    assert 'action="http://invitations:8001/ops/studies/kto-2026/extra-waves"' in form
    assert 'value="P1,P2"' in form
    keys = {
        action_form(status | {"flagged": ["P1"]}, "x").split('name="wave_key" value="')[1][:40]
        for _ in range(2)
    }
    assert len(keys) == 2  # every page its own key: a resubmitted form repeats, a new page is a new wave
