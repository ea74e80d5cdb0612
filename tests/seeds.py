"""The seeds' worked numbers as raw facts: invitations and answers that must reproduce them.

Seed 000 (Blik op Werk, Pluswerk Reïntegratie, dienst 9): 45 clients invited, 2 undeliverable
→ net sample 43; 8 usable questionnaires (18.6%) with grades averaging 8.5; on "Aandacht hebben
voor wat u belangrijk vindt" 3 zeer tevreden, 4 tevreden, 1 zeer ontevreden (38/50/13%);
recommended: 4 ja, 3 would, 1 advised against → promoter score 37.5. One opdrachtgever,
invited and answered with 7.5: 100%, always published. One client started but did not finish
(a partial, not usable).

Seed 001 (UWV jobcoach): werknemer grades 7, 7.5, 5.5, 8, 8 (7.2) and werkgever grades 7.5, 7,
7, 8, 6 (7.1), one form per jobcoach period.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from shared.events import (
    AaporCode,
    AnswerValue,
    ApproachOutcome,
    InvitationApproached,
    InvitationApproachedPayload,
    InvitationIssued,
    InvitationIssuedPayload,
    InvitationOptedOut,
    InvitationOptedOutPayload,
    InvitationUndeliverable,
    InvitationUndeliverablePayload,
    Province,
    RespondentType,
    ResponseSubmitted,
    ResponseSubmittedPayload,
    ResponseWithdrawn,
    ResponseWithdrawnPayload,
)
from shared.questionnaires import is_usable, load_questionnaire, validate_answers

SEED_000_GRADES = (10, 9, 9, 8, 8, 8, 8, 8)
SEED_000_ATTENTION = ("zeer_tevreden",) * 3 + ("tevreden",) * 4 + ("zeer_ontevreden",)
SEED_000_RECOMMENDED = ("ja",) * 4 + ("nee_zou_wel",) * 3 + ("afgeraden",)
SEED_001_WERKNEMER = (7, 7.5, 5.5, 8, 8)
SEED_001_WERKGEVER = (7.5, 7, 7, 8, 6)
ASPECTS = (
    "aspect_expertise",
    "aspect_understanding",
    "aspect_attention",
    "aspect_taken_seriously",
    "aspect_appointments",
    "aspect_location",
    "aspect_reachability",
    "aspect_intake_speed",
    "aspect_response_speed",
    "aspect_plan",
    "aspect_fit",
    "aspect_information",
    "aspect_job_help",
)


def bow_client_answers(
    grade: int, attention: str = "tevreden", recommended: str = "ja", *, aspects: str = "tevreden"
) -> dict[str, AnswerValue]:
    """A complete, usable regular BoW client questionnaire (checked against the questionnaire)."""
    answers: dict[str, AnswerValue] = {
        "grade": grade,
        "recommended": recommended,
        "reason": "verplicht",
        "sanction_threat": "nee",
        "contact_frequency": "twee_drie",
        "contact_ways": ["persoonlijk", "email"],
        "contact_amount": "precies_goed",
        "fixed_contact": "ja",
        **dict.fromkeys(ASPECTS, aspects),
        "aspect_attention": attention,
        "expectations": "zoals_verwacht",
        "complaint": "nee",
        "remarks": "Heel fijn geholpen door Jan.",  # free text: never counted
    }
    return checked("bow-client-regular", answers)


def bow_opdrachtgever_answers(grade: float) -> dict[str, AnswerValue]:
    answers: dict[str, AnswerValue] = {
        "grade": grade,
        "recommended": "ja",
        "services_bought": ["9"],
        "persons_9": 3,
        "rating_expertise": 8.5,
        "complaint": "nee",
    }
    return checked("bow-opdrachtgever", answers)


def jobcoach_answers(respondent_type: RespondentType, grade: float) -> dict[str, AnswerValue]:
    if respondent_type == "werknemer":
        return checked(
            "uwv-jobcoach-werknemer", {"support": "ja", "reachability": "niet_helemaal", "grade": grade}
        )
    items = (
        "contact_employee",
        "contact_colleagues",
        "availability",
        "visits",
        "approach",
        "personal_development",
        "employee_skills",
        "work_environment",
        "career_perspective",
    )
    return checked("uwv-jobcoach-werkgever", {**dict.fromkeys(items, "voldoende"), "grade": grade})


def checked(questionnaire_id: str, answers: dict[str, AnswerValue]) -> dict[str, AnswerValue]:
    questionnaire = load_questionnaire(questionnaire_id)
    validated = validate_answers(questionnaire, answers)
    assert validated.ok, validated.errors
    assert is_usable(questionnaire, validated.answers)
    return validated.answers


@dataclass
class Panel:
    """Builds the events of one study: invitations, bounces, responses and withdrawals."""

    study_id: str
    scheme_id: str | None = "bow"

    def invite(
        self,
        provider_id: str,
        service_code: str = "9",
        respondent_type: RespondentType = "client",
        questionnaire_id: str = "bow-client-regular",
        jobcoach_period: str | None = None,
        province: Province | None = None,
    ) -> InvitationIssued:
        return InvitationIssued(
            payload=InvitationIssuedPayload(
                invitation_id=uuid.uuid4(),
                study_id=self.study_id,
                provider_id=provider_id,
                service_code=service_code,
                respondent_type=respondent_type,
                questionnaire_id=questionnaire_id,
                scheme_id=self.scheme_id,
                token_hash=secrets.token_hex(32),
                jobcoach_period=jobcoach_period,
                province=province,
            )
        )

    @staticmethod
    def bounce(invitation: InvitationIssued) -> InvitationUndeliverable:
        return InvitationUndeliverable(
            payload=InvitationUndeliverablePayload(
                **_ids_of(invitation),
                mode="email",
                reason="SMTP 550",
            )
        )

    @staticmethod
    def approach(
        invitation: InvitationIssued,
        outcome: ApproachOutcome,
        aapor: AaporCode | None = None,
        *,
        mode: Literal["email", "post", "phone"] = "phone",
        attempt: int = 1,
    ) -> InvitationApproached:
        return InvitationApproached(
            payload=InvitationApproachedPayload(
                **_ids_of(invitation),
                mode=mode,
                attempt=attempt,
                outcome=outcome,
                aapor=aapor,
            )
        )

    @staticmethod
    def opt_out(invitation: InvitationIssued) -> InvitationOptedOut:
        return InvitationOptedOut(
            payload=InvitationOptedOutPayload(
                **_ids_of(invitation),
            )
        )

    @staticmethod
    def answer(
        invitation: InvitationIssued, answers: dict[str, AnswerValue], *, usable: bool = True
    ) -> ResponseSubmitted:
        p = invitation.payload
        return ResponseSubmitted(
            payload=ResponseSubmittedPayload(
                response_id=uuid.uuid4(),
                invitation_id=p.invitation_id,
                study_id=p.study_id,
                provider_id=p.provider_id,
                service_code=p.service_code,
                respondent_type=p.respondent_type,
                questionnaire_id=p.questionnaire_id,
                questionnaire_version=1,
                mode="web",
                answers=answers,
                usable=usable,
                submitted_at=datetime.now(UTC),
            )
        )

    @staticmethod
    def withdraw(response: ResponseSubmitted) -> ResponseWithdrawn:
        p = response.payload
        return ResponseWithdrawn(
            payload=ResponseWithdrawnPayload(
                response_id=p.response_id,
                invitation_id=p.invitation_id,
                study_id=p.study_id,
                provider_id=p.provider_id,
            )
        )


def seed_000_events(
    panel: Panel, provider_id: str = "pluswerk"
) -> list[InvitationIssued | InvitationUndeliverable | ResponseSubmitted]:
    """Seed 000's fieldwork for one provider, in a natural order."""
    clients = [panel.invite(provider_id) for _ in range(45)]
    buyer = panel.invite(provider_id, respondent_type="opdrachtgever", questionnaire_id="bow-opdrachtgever")
    answers = [
        panel.answer(invitation, bow_client_answers(grade, attention, recommended))
        for invitation, grade, attention, recommended in zip(
            clients, SEED_000_GRADES, SEED_000_ATTENTION, SEED_000_RECOMMENDED, strict=False
        )
    ]
    started = panel.answer(clients[8], {"grade": 6, "recommended": "ja"}, usable=False)
    return [
        *clients,
        buyer,
        panel.bounce(clients[-1]),
        panel.bounce(clients[-2]),
        *answers,
        started,
        panel.answer(buyer, bow_opdrachtgever_answers(7.5)),
    ]


def seed_001_events(
    panel: Panel, provider_id: str = "jobcoach-noord", *, periods: bool = False
) -> list[InvitationIssued | ResponseSubmitted]:
    """Seed 001: five jobcoach periods, a werknemer and a werkgever form each; with ``periods``
    the werknemer and the werkgever of period i share its key (``seed001period000i``)."""
    events: list[InvitationIssued | ResponseSubmitted] = []
    sides: tuple[tuple[RespondentType, tuple[float, ...]], ...] = (
        ("werknemer", SEED_001_WERKNEMER),
        ("werkgever", SEED_001_WERKGEVER),
    )
    for respondent_type, grades in sides:
        for i, grade in enumerate(grades):
            invitation = panel.invite(
                provider_id,
                "all",
                respondent_type,
                f"uwv-jobcoach-{respondent_type}",
                jobcoach_period=seed_001_period(i) if periods else None,
            )
            events += [invitation, panel.answer(invitation, jobcoach_answers(respondent_type, grade))]
    return events


def seed_001_period(i: int) -> str:
    """The pseudonymous key of seed 001's period i (16 hex digits, as invitations.issued has it)."""
    return f"5eed001000000{i:03x}"


def _ids_of(invitation: InvitationIssued) -> dict[str, Any]:
    """The ids every event about an invitation carries."""
    return invitation.payload.model_dump(
        include={"invitation_id", "study_id", "provider_id", "service_code", "respondent_type"}
    )
