"""Wave plans (benaderingstraject), call dispositions, calling hours and phone costs.

Pure: no I/O and no framework. A person's plan is fixed when they are invited: the scheme's
stages for their respondent type, minus the modes they cannot be reached in. The scheduler
walks it with :func:`advance`; nothing here ever schedules more attempts than the plan holds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any, Literal
from zoneinfo import ZoneInfo

from shared.events import AaporCode, CallDisposition

Mode = Literal["email", "post", "phone"]
AttemptOutcome = Literal["sent", "undeliverable"]
# Where a person's plan ended: reached at least once ('done'), or no mode reached them.
PlanEnd = Literal["done", "unreachable"]

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DAY_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class Stage:
    """One mode of a person's plan: ``attempts`` (invitation + reminders, or call attempts)
    ``interval`` apart; a fallback stage only for people no earlier stage reached."""

    mode: Mode
    attempts: int
    interval_seconds: float
    fallback: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "attempts": self.attempts,
            "interval_seconds": self.interval_seconds,
            "fallback": self.fallback,
        }

    @staticmethod
    def from_json(value: Mapping[str, Any]) -> Stage:
        return Stage(
            value["mode"], int(value["attempts"]), float(value["interval_seconds"]), value["fallback"]
        )


@dataclass(frozen=True)
class Reach:
    """How a person can be reached: what the delivery holds and what the enrolment allows."""

    email: bool
    address: bool
    phone: bool  # a phone number and the provider bought the phone option
    phone_first: bool = False  # inburgering, learning profile 1 or 2, with a phone number

    @property
    def by_phone(self) -> bool:
        """The callcentre may call (and interview) the person."""
        return self.phone or self.phone_first


def reachable(stage: Stage, reach: Reach) -> bool:
    if stage.mode == "email":
        return reach.email
    if stage.mode == "post":
        return reach.address
    return reach.by_phone


def plan_for(stages: Sequence[Stage], reach: Reach, *, phone_stage: Stage | None = None) -> tuple[Stage, ...]:
    """A person's plan: the stages they can be reached in, in order.

    Inburgering clients with learning profile 1 or 2 are phoned first (seed 000 §2.1), then
    get the regular modes when the callcentre does not reach them or the quota is full.
    ``phone_stage`` is the scheme's phone stage for them when the plan has none of its own.
    """
    plan = [s for s in stages if reachable(s, reach) and not (s.mode == "phone" and not reach.phone)]
    if reach.phone_first:
        phone = next((s for s in stages if s.mode == "phone"), phone_stage)
        if phone is not None:
            rest = [s for s in plan if s.mode != "phone"]
            plan = [Stage("phone", phone.attempts, phone.interval_seconds, False), *rest]
    return tuple(plan)


def scaled(stages: Iterable[tuple[Mode, int, float, bool]], day_seconds: float) -> tuple[Stage, ...]:
    """Stages from (mode, attempts, interval_days, fallback); a plan day lasts ``day_seconds``."""
    return tuple(
        Stage(mode, attempts, days * day_seconds, fallback) for mode, attempts, days, fallback in stages
    )


@dataclass(frozen=True)
class Position:
    """Where a person is in their plan; ``stage`` None: the plan is over (``end`` says how)."""

    stage: int | None
    stage_attempts: int  # attempts made in the current stage
    reached: bool  # some attempt got through (sent, letter not returned, call answered)
    wait_seconds: float | None = None  # until the next attempt; None when the plan is over
    end: PlanEnd | None = None


def start(plan: Sequence[Stage]) -> Position:
    """The first stage, due at once; a person with an empty plan cannot be reached at all."""
    if not plan:
        return Position(None, 0, False, None, "unreachable")
    return Position(0, 0, False, 0.0)


def advance(plan: Sequence[Stage], at: Position, outcome: AttemptOutcome) -> Position:
    """After an attempt in the current stage: the next attempt, the next stage, or the end.

    Sent: another attempt of this stage after its interval, else the next stage after the
    interval. Undeliverable: this mode is done for the person; the next stage starts at once.
    """
    if at.stage is None:
        return at
    stage = plan[at.stage]
    if outcome == "sent":
        made = at.stage_attempts + 1
        if made < stage.attempts:
            return Position(at.stage, made, True, stage.interval_seconds)
        return _next_stage(plan, at.stage, reached=True, wait=stage.interval_seconds)
    return _next_stage(plan, at.stage, reached=at.reached, wait=0.0)


def stage_exhausted(plan: Sequence[Stage], at: Position, *, reached: bool) -> Position:
    """The current stage ended without another attempt (calls exhausted, quota full)."""
    if at.stage is None:
        return at
    return _next_stage(plan, at.stage, reached=at.reached or reached, wait=0.0)


def _next_stage(plan: Sequence[Stage], current: int, *, reached: bool, wait: float) -> Position:
    for index in range(current + 1, len(plan)):
        if plan[index].fallback and reached:
            continue  # a letter only for those email could not reach
        return Position(index, 0, reached, wait)
    return Position(None, 0, reached, None, "done" if reached else "unreachable")


# --- phone -------------------------------------------------------------------------------

# AAPOR final disposition classes: complete I, partial P, refusal R, non-contact NC,
# other O (language barrier), unknown eligibility UH/UO (never reached a person).
AAPOR: dict[CallDisposition, AaporCode] = {
    "complete": "I",
    "partial": "P",
    "refusal": "R",
    "no_answer": "UH",
    "busy": "UH",
    "answering_machine": "NC",
    "wrong_number": "UO",
    "language_barrier": "O",
    "appointment": "NC",
}
# Outcomes that end the person's call task; the others may be tried again.
FINAL: frozenset[CallDisposition] = frozenset(
    {"complete", "partial", "refusal", "wrong_number", "language_barrier"}
)
# Outcomes where a person was spoken to (reached).
CONTACT: frozenset[CallDisposition] = frozenset(
    {"complete", "partial", "refusal", "language_barrier", "appointment"}
)
Daypart = Literal["morning", "afternoon", "evening"]


@dataclass(frozen=True)
class CallingHours:
    """When the callcentre may call (local time): three parts of the day, Monday to Saturday."""

    morning: tuple[time, time] = (time(9), time(12))
    afternoon: tuple[time, time] = (time(12), time(17))
    evening: tuple[time, time] = (time(17), time(21))
    weekdays: frozenset[int] = frozenset(range(6))  # Monday 0 … Saturday 5

    def daypart(self, moment: datetime) -> Daypart | None:
        local = moment.astimezone(AMSTERDAM)
        if local.weekday() not in self.weekdays:
            return None
        now = local.time()
        for name, (begin, end) in (
            ("morning", self.morning),
            ("afternoon", self.afternoon),
            ("evening", self.evening),
        ):
            if begin <= now < end:
                return name  # type: ignore[return-value]
        return None


ALWAYS = CallingHours(
    morning=(time(0), time(8)),
    afternoon=(time(8), time(16)),
    evening=(time(16), time.max),
    weekdays=frozenset(range(7)),
)


def appointment_problem(at: datetime, now: datetime, hours: CallingHours) -> str | None:
    """Why an appointment (terugbelafspraak) cannot be at ``at``, or None: it must be ahead and
    within calling hours, so the person is only called back when calling is allowed."""
    if at.tzinfo is None:
        return "Een afspraak heeft een tijdzone nodig / appointment_at needs a time zone"
    if at <= now:
        return "Een afspraak ligt in de toekomst / the appointment must be in the future"
    if hours.daypart(at) is None:
        return (
            "Een afspraak valt binnen de beltijden (maandag tot en met zaterdag, 9.00 tot 21.00 uur)"
            " / the appointment must be within calling hours"
        )
    return None


def daypart_allowed(tried: Mapping[str, int], part: Daypart, max_attempts: int) -> bool:
    """Spread attempts over the parts of the day: no part gets more than its share
    (⌈max / 3⌉) of the failed attempts, so a person out at work is also called in the evening."""
    share = -(-max_attempts // 3)
    return tried.get(part, 0) < share


@dataclass(frozen=True)
class CallResult:
    """What a call outcome does to the task: its next due time, or its end."""

    task_state: Literal["open", "completed", "closed", "exhausted"]
    retry_after_seconds: float | None
    reached: bool


def after_call(
    disposition: CallDisposition, attempts_made: int, max_attempts: int, interval_seconds: float
) -> CallResult:
    """A call outcome: final ones close the task; the others retry until attempts run out.

    An appointment is not an attempt used up; the caller sets its time.
    """
    if disposition == "complete":
        return CallResult("completed", None, True)
    if disposition in FINAL:
        return CallResult("closed", None, disposition in CONTACT)
    if disposition == "appointment":
        return CallResult("open", None, True)
    if attempts_made >= max_attempts:
        return CallResult("exhausted", None, False)
    return CallResult("open", interval_seconds, False)


def phone_first(respondent_type: str, variant: str, learning_profile: int | None) -> bool:
    """Inburgering clients with learning profile 1 or 2 are phoned (seed 000 §2.1)."""
    return respondent_type == "client" and variant.endswith("/inburgering") and learning_profile in (1, 2)


INBURGERING_PHONE_QUOTA = 25  # "tot een maximum van 25 geslaagde gesprekken" per provider


# --- costs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    description: str
    quantity: int
    unit_price_cents: int
    amount_cents: int
    paid_by: Literal["provider", "scheme"]


def phone_cost_lines(
    *,
    interviews_bought: int,
    unit_price_cents: int,
    subsidy_share: float | None,
    subsidy_first: int | None,
    scheme_name: str,
) -> list[CostLine]:
    """The phone option's cost lines for one provider: the interviews bought, and the part
    the scheme owner pays (Blik op Werk: 50% of the first 20 bought interviews)."""
    if interviews_bought <= 0:
        return []
    lines = [
        CostLine(
            "Telefonische interviews (ingekocht)",
            interviews_bought,
            unit_price_cents,
            interviews_bought * unit_price_cents,
            "provider",
        )
    ]
    if subsidy_share and subsidy_first:
        covered = min(interviews_bought, subsidy_first)
        share = round(unit_price_cents * subsidy_share)
        lines.append(
            CostLine(
                f"Bijdrage {scheme_name}: {subsidy_share:.0%} van de eerste {subsidy_first} gesprekken",
                covered,
                -share,
                -share * covered,
                "scheme",
            )
        )
    return lines


# --- extra waves -------------------------------------------------------------------------

# An extra wave the bureau sends to the non-respondents of providers heading below the
# publication requirement: one more reminder (email, or a letter for those email cannot
# reach), or a round of calls.
ExtraKind = Literal["reminder", "phone"]
SkipReason = Literal["responded", "opted_out", "undeliverable", "in_plan", "no_mode", "already_phoned"]
CLOSED: Mapping[str, SkipReason] = {
    "responded": "responded",
    "opted_out": "opted_out",
    "undeliverable": "undeliverable",
}


@dataclass(frozen=True)
class Standing:
    """What an extra wave needs to know about one person (facts, never their details).

    ``email``/``address``: they have one and it was never proven wrong (bounce, returned
    letter); ``phone``: a number never found wrong, and the provider bought the phone option.
    ``made``: attempts made so far per mode, so the extra one gets the next number (a new
    Message-ID, a new letter) and the reminder wording.
    """

    status: str
    in_plan: bool  # their own plan still has an attempt to come
    email: bool
    address: bool
    phone: bool
    phoned: bool  # the callcentre had them already (a call task exists)
    made: Mapping[str, int]


@dataclass(frozen=True)
class ExtraAttempt:
    """The person's plan with the extra stage appended, and their position on it (due now)."""

    plan: tuple[Stage, ...]
    position: Position

    @property
    def mode(self) -> Mode:
        assert self.position.stage is not None
        return self.plan[self.position.stage].mode


def extra_attempt(
    kind: ExtraKind, who: Standing, plan: Sequence[Stage], *, phone_stage: Stage, reached: bool
) -> ExtraAttempt | SkipReason:
    """One more approach for a non-respondent whose plan is over, or why they get none.

    Respondents, people who opted out and people no mode can reach are never approached.
    People still in their own plan are left to it (their next reminder comes anyway). A
    reminder goes by email when their address works, else by letter; opdrachtgevers and others
    whose plan has no letters get email only. A phone wave calls those the callcentre has not
    had yet, with the scheme's phone stage.
    """
    if who.status in CLOSED:
        return CLOSED[who.status]
    if who.in_plan:
        return "in_plan"
    if kind == "phone":
        if who.phoned:
            return "already_phoned"
        if not who.phone:
            return "no_mode"
        return _appended(plan, phone_stage, 0, reached)
    own_modes = {s.mode for s in plan}
    for mode, usable in (("email", who.email), ("post", who.address)):
        if usable and mode in own_modes:
            made = who.made.get(mode, 0)
            return _appended(plan, Stage(mode, made + 1, 0.0), made, reached)
    return "no_mode"


def _appended(plan: Sequence[Stage], stage: Stage, made: int, reached: bool) -> ExtraAttempt:
    """The extra stage after the plan, its attempts numbered on from those made in its mode;
    after it :func:`advance` ends the plan as usual."""
    return ExtraAttempt((*plan, stage), Position(len(plan), made, reached, 0.0))
