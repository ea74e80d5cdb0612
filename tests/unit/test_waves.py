"""Wave plans, call dispositions, calling hours and phone costs (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.invitations.waves import (
    AAPOR,
    CallingHours,
    Position,
    Reach,
    Stage,
    advance,
    after_call,
    daypart_allowed,
    phone_cost_lines,
    phone_first,
    plan_for,
    scaled,
    stage_exhausted,
    start,
)
from shared.schemes import load_scheme

DAY = 86400.0
BOW_CLIENT = scaled(
    ((s.mode, s.attempts, s.interval_days, s.fallback) for s in load_scheme("bow").wave_plan("client")), DAY
)
EVERYTHING = Reach(email=True, address=True, phone=True)


def test_bow_clients_get_email_a_letter_for_the_unreached_and_the_callcentre() -> None:
    assert [(s.mode, s.attempts, s.fallback) for s in BOW_CLIENT] == [
        ("email", 2, False),
        ("post", 2, True),
        ("phone", 5, False),
    ]
    assert BOW_CLIENT[0].interval_seconds == 7 * DAY


def test_bow_opdrachtgevers_are_approached_by_email_only() -> None:
    assert [s.mode for s in load_scheme("bow").wave_plan("opdrachtgever")] == ["email"]


def test_a_scheme_without_waves_derives_its_plan_from_modes_and_reminders() -> None:
    plan = load_scheme("uwv-jobcoach").wave_plan("werknemer")
    assert [(s.mode, s.attempts, s.fallback) for s in plan] == [("email", 3, False), ("post", 2, True)]


def test_a_person_without_email_starts_with_the_letter() -> None:
    plan = plan_for(BOW_CLIENT, Reach(email=False, address=True, phone=False))
    assert [s.mode for s in plan] == ["post"]


def test_phone_is_only_in_the_plan_when_the_provider_bought_it() -> None:
    plan = plan_for(BOW_CLIENT, Reach(email=True, address=True, phone=False))
    assert [s.mode for s in plan] == ["email", "post"]


def test_inburgering_clients_with_learning_profile_1_or_2_are_phoned_first() -> None:
    assert phone_first("client", "client/inburgering", 2)
    assert not phone_first("client", "client/inburgering", 3)
    assert not phone_first("client", "client/regular", 1)
    plan = plan_for(BOW_CLIENT, Reach(email=True, address=True, phone=False, phone_first=True))
    assert [s.mode for s in plan] == ["phone", "email", "post"]


def test_an_answered_email_invitation_gets_its_reminder_after_the_interval() -> None:
    at = advance(BOW_CLIENT, start(BOW_CLIENT), "sent")
    assert (at.stage, at.stage_attempts, at.reached, at.wait_seconds) == (0, 1, True, 7 * DAY)


def test_after_the_email_reminder_the_letter_is_skipped_for_people_email_reached() -> None:
    at = advance(BOW_CLIENT, advance(BOW_CLIENT, start(BOW_CLIENT), "sent"), "sent")
    assert BOW_CLIENT[at.stage or 0].mode == "phone"


def test_a_bounce_moves_the_person_to_the_letter_at_once() -> None:
    at = advance(BOW_CLIENT, start(BOW_CLIENT), "undeliverable")
    assert (BOW_CLIENT[at.stage or 0].mode, at.wait_seconds) == ("post", 0.0)


def test_nobody_reached_by_any_mode_ends_unreachable() -> None:
    plan = (Stage("email", 2, DAY),)
    assert advance(plan, start(plan), "undeliverable").end == "unreachable"


def test_an_empty_plan_is_unreachable_from_the_start() -> None:
    assert start(()).end == "unreachable"


@given(st.lists(st.sampled_from(["sent", "undeliverable"]), max_size=40))
def test_a_plan_never_makes_more_attempts_than_it_holds(outcomes: list[str]) -> None:
    at: Position = start(BOW_CLIENT)
    made = 0
    for outcome in outcomes:
        if at.stage is None:
            break
        made += 1
        at = advance(BOW_CLIENT, at, outcome)  # type: ignore[arg-type]
    assert made <= sum(s.attempts for s in BOW_CLIENT)


def test_exhausted_calls_move_on_to_the_next_stage() -> None:
    plan = plan_for(BOW_CLIENT, Reach(email=True, address=True, phone=False, phone_first=True))
    at = stage_exhausted(plan, start(plan), reached=False)
    assert plan[at.stage or 0].mode == "email"


def test_final_dispositions_close_the_task_and_others_are_tried_again() -> None:
    assert after_call("complete", 1, 5, 3600).task_state == "completed"
    assert after_call("refusal", 1, 5, 3600).task_state == "closed"
    assert after_call("no_answer", 1, 5, 3600).retry_after_seconds == 3600
    assert after_call("busy", 5, 5, 3600).task_state == "exhausted"
    assert after_call("appointment", 5, 5, 3600).task_state == "open"


def test_every_disposition_has_an_aapor_class() -> None:
    assert AAPOR["complete"] == "I" and AAPOR["refusal"] == "R" and AAPOR["language_barrier"] == "O"
    assert set(AAPOR.values()) <= {"I", "P", "R", "NC", "O", "UH", "UO"}


def test_calls_are_spread_over_the_parts_of_the_day() -> None:
    assert daypart_allowed({"morning": 1}, "morning", 5)
    assert not daypart_allowed({"morning": 2}, "morning", 5)
    assert daypart_allowed({"morning": 2}, "evening", 5)


def test_calling_hours_are_dutch_local_time_monday_to_saturday() -> None:
    hours = CallingHours()
    assert hours.daypart(datetime(2026, 11, 23, 9, 30, tzinfo=UTC)) == "morning"  # 10:30 in Amsterdam
    assert hours.daypart(datetime(2026, 11, 23, 17, 0, tzinfo=UTC)) == "evening"  # 18:00
    assert hours.daypart(datetime(2026, 11, 23, 21, 0, tzinfo=UTC)) is None  # 22:00
    assert hours.daypart(datetime(2026, 11, 22, 12, 0, tzinfo=UTC)) is None  # Sunday


def test_blik_op_werk_pays_half_of_the_first_20_bought_interviews() -> None:
    lines = phone_cost_lines(
        interviews_bought=30, unit_price_cents=2500, subsidy_share=0.5, subsidy_first=20, scheme_name="BoW"
    )
    assert [(line.quantity, line.amount_cents, line.paid_by) for line in lines] == [
        (30, 75000, "provider"),
        (20, -25000, "scheme"),
    ]
    assert sum(line.amount_cents for line in lines) == 50000


def test_fewer_than_20_bought_interviews_are_all_half_paid() -> None:
    lines = phone_cost_lines(
        interviews_bought=8, unit_price_cents=2500, subsidy_share=0.5, subsidy_first=20, scheme_name="BoW"
    )
    assert sum(line.amount_cents for line in lines) == 10000


def test_a_wave_plan_may_only_use_the_modes_the_scheme_allows() -> None:
    from shared.schemes import SchemeConfigError, parse_scheme

    data = load_scheme("bow").model_dump(mode="json")
    data["waves"] = {"opdrachtgever": [{"mode": "post", "attempts": 1, "interval_days": 7}]}
    with pytest.raises(SchemeConfigError, match="not in invitation_modes"):
        parse_scheme(data, "bow.yaml")


def test_every_packaged_scheme_gives_each_respondent_type_a_plan() -> None:
    from shared.schemes import all_schemes

    for scheme in all_schemes().values():
        for kind in scheme.respondent_types:
            assert scheme.wave_plan(kind), (scheme.scheme_id, kind)
