"""Event models and topic names: the contract between the four services.

Every event is an envelope (``event_id``, ``type``, ``version``, ``occurred_at``,
``correlation_id``) around a typed payload, sent as JSON with the provider id as
the message key, so one provider's events stay in order on one partition.
Events carry ids only, never names, addresses, emails or phone numbers: erasing
a person must be a database delete, not a topic rewrite.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator


class Topics:
    """Topic names: ``<producer>.<fact-in-past-tense>``; each consumed topic has a ``.dlq``."""

    INVITATIONS_ISSUED = "invitations.issued"
    INVITATIONS_UNDELIVERABLE = "invitations.undeliverable"
    INVITATIONS_DELIVERY_CHECKED = "invitations.delivery_checked"
    INVITATIONS_APPROACHED = "invitations.approached"
    INVITATIONS_OPTED_OUT = "invitations.opted_out"
    INVITATIONS_PROVIDER_REGISTERED = "invitations.provider_registered"
    RESPONSES_SUBMITTED = "responses.submitted"
    RESPONSES_WITHDRAWN = "responses.withdrawn"
    SCORES_UPDATED = "scores.updated"
    REPORTS_PUBLISHED = "reports.published"

    ALL: ClassVar[tuple[str, ...]] = (
        INVITATIONS_ISSUED,
        INVITATIONS_UNDELIVERABLE,
        INVITATIONS_DELIVERY_CHECKED,
        INVITATIONS_APPROACHED,
        INVITATIONS_OPTED_OUT,
        INVITATIONS_PROVIDER_REGISTERED,
        RESPONSES_SUBMITTED,
        RESPONSES_WITHDRAWN,
        SCORES_UPDATED,
        REPORTS_PUBLISHED,
    )

    @staticmethod
    def dlq(topic: str) -> str:
        return f"{topic}.dlq"


# Study, provider and service ids travel in every event and become file names in
# reports: letters, digits and _.- only, at least one not a dot (never "." or ".."),
# at most 64. No look-ahead: pydantic's regex engine has none.
SAFE_ID_PATTERN = r"^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$"
SAFE_ID_MAX_LENGTH = 64
SafeId = Annotated[str, Field(pattern=SAFE_ID_PATTERN, min_length=1, max_length=SAFE_ID_MAX_LENGTH)]


# Who answers: cliënt, opdrachtgever, (jobcoach) werknemer and werkgever, (staff survey) employee.
RespondentType = Literal["client", "opdrachtgever", "werknemer", "werkgever", "employee"]

# The twelve provinces (provincies): where a contact lives, as coarse as it travels.
Province = Literal[
    "Drenthe",
    "Flevoland",
    "Friesland",
    "Gelderland",
    "Groningen",
    "Limburg",
    "Noord-Brabant",
    "Noord-Holland",
    "Overijssel",
    "Utrecht",
    "Zeeland",
    "Zuid-Holland",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(BaseModel):
    """The envelope. Subclasses fix ``type`` and ``version`` and type the payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: ClassVar[str]
    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    version: int = 1
    occurred_at: datetime = Field(default_factory=utc_now)
    correlation_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    payload: Any

    @property
    def key(self) -> str:
        """The message key: the provider id, so a provider's events stay in order."""
        return str(self.payload.provider_id)


# --- invitations ---------------------------------------------------------------


class InvitationIssuedPayload(Payload):
    """A contact in the net sample was given a personal questionnaire link."""

    invitation_id: uuid.UUID
    study_id: SafeId
    provider_id: SafeId
    service_code: SafeId  # dienst (Blik op Werk) or perceel (UWV)
    respondent_type: RespondentType = "client"
    questionnaire_id: SafeId
    # The study's scheme (shared/config/schemes), so consumers know its norms; None: no scheme.
    scheme_id: SafeId | None = None
    # sha256 of the link token; the token itself is never stored or sent.
    token_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    # UWV jobcoach: the jobcoach period (jobcoachperiode) this werknemer or werkgever belongs to,
    # as a pseudonymous key (a keyed hash of the provider's reference, 16 hex digits), shared by
    # the werknemer and the werkgever of one period; None when not delivered.
    jobcoach_period: str | None = Field(default=None, pattern=r"^[0-9a-f]{16}$")
    # The province (provincie) the contact lives in, from the postcode's four digits; None when
    # no (known) postcode was delivered. Never the postcode itself.
    province: Province | None = None
    # Version 2: the provider's display name (an organisation's name, not personal data), piped
    # into the questions that talk about it; None in version-1 events.
    provider_name: str | None = Field(default=None, max_length=200)
    # Version 2: sha256 of the letter's personal code (shared.tokens.letter_code), so the
    # questionnaire's /code page can lead a typed code to its link; None in version-1 events.
    letter_code_hash: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class InvitationIssued(Event):
    topic: ClassVar[str] = Topics.INVITATIONS_ISSUED
    type: Literal["invitations.issued"] = "invitations.issued"
    version: int = 2  # 2: provider_name, letter_code_hash
    payload: InvitationIssuedPayload


class InvitationUndeliverablePayload(Payload):
    """An address proved unusable (bounce, returned letter): out of the net sample."""

    invitation_id: uuid.UUID
    study_id: SafeId
    provider_id: SafeId
    service_code: SafeId
    respondent_type: RespondentType = "client"
    mode: Literal["email", "post", "phone"]
    reason: str


class InvitationUndeliverable(Event):
    topic: ClassVar[str] = Topics.INVITATIONS_UNDELIVERABLE
    type: Literal["invitations.undeliverable"] = "invitations.undeliverable"
    payload: InvitationUndeliverablePayload


class DeliveryCount(Payload):
    """Gross to net for one service × respondent type in one delivery: every row counted once.

    ``service_code`` and ``respondent_type`` are ``unknown`` for rows whose service or
    respondent type was missing or not acceptable.
    """

    service_code: SafeId
    respondent_type: RespondentType | Literal["unknown"]
    gross: int = Field(ge=0)  # rows delivered
    duplicates: int = Field(ge=0)  # delivered before (same client_ref, or same email and service)
    missing_essential_data: int = Field(ge=0)  # no way to reach the person, or a required field empty
    invalid: int = Field(ge=0)  # a value that breaks a rule (BSN, bad email, unknown service, …)
    sampled_out: int = Field(ge=0)  # valid, but not drawn in the sample
    accepted: int = Field(ge=0)  # invited: this delivery's contribution to the net sample

    @model_validator(mode="after")
    def _adds_up(self) -> Self:
        parts = (
            self.duplicates + self.missing_essential_data + self.invalid + self.sampled_out + self.accepted
        )
        if parts != self.gross:
            raise ValueError(f"gross {self.gross} differs from the sum of its parts {parts}")
        return self


class DeliveryCheckedPayload(Payload):
    """A contact delivery (aanlevering) was checked and stored: its gross → net sample accounting.

    Ids and counts only. Undeliverable addresses found later come as ``invitations.undeliverable``.
    """

    study_id: SafeId
    provider_id: SafeId
    delivery_id: uuid.UUID
    rows_total: int = Field(ge=0)
    counts: tuple[DeliveryCount, ...]


class DeliveryChecked(Event):
    topic: ClassVar[str] = Topics.INVITATIONS_DELIVERY_CHECKED
    type: Literal["invitations.delivery_checked"] = "invitations.delivery_checked"
    payload: DeliveryCheckedPayload


# The callcentre's dispositions of one call, and their AAPOR final disposition classes.
CallDisposition = Literal[
    "complete",
    "partial",
    "refusal",
    "no_answer",
    "busy",
    "answering_machine",
    "wrong_number",
    "language_barrier",
    "appointment",
]
AaporCode = Literal["I", "P", "R", "NC", "O", "UH", "UO"]
ApproachOutcome = Literal["sent", "undeliverable", CallDisposition]  # email and post; phone


class InvitationApproachedPayload(Payload):
    """One attempt to reach a person (methodological accounting, seed 002): how and with what
    outcome. Ids, mode and outcome only; ``aapor`` is the call's AAPOR class (I, P, R, NC, O,
    UH, UO) for phone attempts."""

    invitation_id: uuid.UUID
    study_id: SafeId
    provider_id: SafeId
    service_code: SafeId
    respondent_type: RespondentType = "client"
    mode: Literal["email", "post", "phone"]
    attempt: int = Field(ge=1)  # within the mode: 1 the invitation or first call, 2+ reminders
    reminder: bool = False
    outcome: ApproachOutcome
    aapor: AaporCode | None = None


class InvitationApproached(Event):
    topic: ClassVar[str] = Topics.INVITATIONS_APPROACHED
    type: Literal["invitations.approached"] = "invitations.approached"
    payload: InvitationApproachedPayload


class InvitationOptedOutPayload(Payload):
    """A person asked not to be approached again (afmelding): an AAPOR refusal."""

    invitation_id: uuid.UUID
    study_id: SafeId
    provider_id: SafeId
    service_code: SafeId
    respondent_type: RespondentType = "client"


class InvitationOptedOut(Event):
    topic: ClassVar[str] = Topics.INVITATIONS_OPTED_OUT
    type: Literal["invitations.opted_out"] = "invitations.opted_out"
    payload: InvitationOptedOutPayload


# --- responses -----------------------------------------------------------------

AnswerValue = int | float | str | list[str] | None


class ResponseSubmittedPayload(Payload):
    """The one final response to an invitation (whatever the mode)."""

    response_id: uuid.UUID
    invitation_id: uuid.UUID
    study_id: SafeId
    provider_id: SafeId
    service_code: SafeId
    respondent_type: RespondentType = "client"
    questionnaire_id: SafeId
    questionnaire_version: int
    mode: Literal["web", "phone", "paper"]
    answers: dict[str, AnswerValue]
    usable: bool
    submitted_at: datetime


class ResponseSubmitted(Event):
    topic: ClassVar[str] = Topics.RESPONSES_SUBMITTED
    type: Literal["responses.submitted"] = "responses.submitted"
    payload: ResponseSubmittedPayload


class ResponseWithdrawnPayload(Payload):
    """A respondent withdrew (AVG request): the answers of ``response_id`` are deleted.

    Consumers subtract that response from whatever they counted. Ids only, nothing else.
    """

    response_id: uuid.UUID
    invitation_id: uuid.UUID
    study_id: SafeId
    provider_id: SafeId


class ResponseWithdrawn(Event):
    topic: ClassVar[str] = Topics.RESPONSES_WITHDRAWN
    type: Literal["responses.withdrawn"] = "responses.withdrawn"
    payload: ResponseWithdrawnPayload


# --- scoring -------------------------------------------------------------------


class GradeFigures(Payload):
    """Rapportcijfers of one group: exact mean, corrected mean, spread, interval, distribution."""

    n: int = 0
    grade_sum: float = 0.0
    mean: float | None = None  # gemiddeld rapportcijfer, from the exact values (decimals too)
    corrected_mean: float | None = None  # gecorrigeerd gemiddelde: every failing grade as one value
    std_dev: float | None = None  # sample standard deviation (n − 1)
    ci95: tuple[float, float] | None = None  # 95% interval of the mean (t distribution)
    distribution: dict[int, int] = Field(default_factory=dict)  # spreiding: grade 1–10 → count


class FrequencyTable(Payload):
    """One question: how often each answer was given, with its own n (routing makes n differ).

    Matrix statements and allocation items are their own rows (``question.item``); a multiple
    choice counts each chosen option; a ranking counts ``item@place``.
    """

    question_id: str
    question_type: str
    n: int  # respondents who answered it
    counts: dict[str, int]


class SatisfactionShares(Payload):
    """A satisfaction5 question as percentages (zeer tevreden … geen mening), rounded half up."""

    question_id: str
    n: int
    percentages: dict[str, float]


class PromoterFigures(Payload):
    """Promotorscore: % promoters − % detractors by the questionnaire's promoter mapping."""

    promoters: int = 0
    passives: int = 0
    detractors: int = 0
    score: float | None = None


class DispositionFigures(Payload):
    """AAPOR final dispositions and rates (AAPOR Standard Definitions). Complete (I: usable) and
    partial (P: submitted, not usable) come from the questionnaires; refusal, non-contact, other
    and unknown eligibility from the approaches of invitations without one (docs/figures.md)."""

    complete: int = 0
    partial: int = 0
    refusal: int = 0
    non_contact: int = 0
    other: int = 0
    unknown_household: int = 0
    unknown_other: int = 0
    rr1: float | None = None
    rr2: float | None = None
    coop1: float | None = None


class UnitFigures(Payload):
    """Every figure of one group: a service (dienst, perceel) × respondent type, or all services
    of a respondent type when ``service_code`` is None."""

    service_code: SafeId | None = None
    respondent_type: RespondentType
    invited: int = 0  # every invitation issued (UWV: the ended services delivered)
    net_sample: int = 0  # netto steekproef: invited minus undeliverable
    completed: int = 0  # bruikbare vragenlijsten
    partial: int = 0  # submitted but not usable
    response_rate: float | None = None  # respons: completed / net sample
    grade: GradeFigures = GradeFigures()
    promoter: PromoterFigures = PromoterFigures()
    satisfaction: tuple[SatisfactionShares, ...] = ()
    questions: tuple[FrequencyTable, ...] = ()
    dispositions: DispositionFigures = DispositionFigures()
    published: bool | None = None  # publicatie (tabel 1.1); None: not a published figure
    disclosable: bool = True  # enough respondents to show under the scheme's disclosure rule


class NormFigures(Payload):
    """A scheme's norm for the provider: the verdict and its reason (Dutch, for the report)."""

    rule: Literal["per_unit", "per_respondent_type"]
    respondent_types: tuple[RespondentType, ...] = ()
    verdict: Literal["met", "missed", "no_grades", "exemption_possible"]
    reason: str
    used_corrected_mean: bool = False
    failing_units: tuple[str, ...] = ()
    # UWV: units with fewer ended services than the scheme's limit (vrijstelling possible).
    exemption_possible_for: tuple[str, ...] = ()


class AspectComparison(Payload):
    """'Scoort relatief goed op': an aspect clearly above the other providers (Welch test)."""

    respondent_type: RespondentType
    question_id: str
    question_type: str
    n: int
    mean: float
    others_mean: float  # the benchmark without this provider
    difference: float
    p_value: float


class GroupValue(Payload):
    """One group's figure on one question (staff survey); none below the minimum to show."""

    group: str
    n: int
    mean: float | None = None  # scale questions
    share: float | None = None  # categorical: % giving the most frequent answer overall (or the option)


class GroupDifference(Payload):
    """A significant difference between groups on one question (seed 003 names only these)."""

    question_id: str  # "question" or "question.item"
    option: str | None = None
    test: str  # welch_t, welch_anova, anova, chi_square
    p_value: float
    groups: tuple[GroupValue, ...]


class GroupAnalysisFigures(Payload):
    """Staff survey: the groups formed by one background question and their significant differences."""

    by: str
    groups: tuple[str, ...]
    tested: int  # comparisons tested
    significant: tuple[GroupDifference, ...] = ()


class PeriodGrades(Payload):
    """UWV jobcoach: the grades given for one jobcoach period, werknemer and werkgever side by
    side (seed 001: "de cijfers per jobcoachperiode ... van de werknemer als ... van de werkgever").
    ``period`` is an anonymised reference to the period, never a person."""

    period: SafeId
    werknemer: float | None = None
    werkgever: float | None = None


class ProvinceCount(Payload):
    """Blik op Werk summary page: how many of the headline group (the clients) were invited from
    one province ("Cliënten afkomstig uit de volgende provincie(s)")."""

    province: Province
    invited: int = Field(ge=0)


class ScoresUpdatedPayload(Payload):
    """A snapshot of one provider's figures in one study.

    The top-level figures are the headline group's: the clients' total, or every respondent
    when the scheme asks no clients (``headline`` None). Version 2 adds the rest; a version-1
    payload (top level only) still parses.
    """

    study_id: SafeId
    provider_id: SafeId
    net_sample: int  # netto steekproef
    completed: int  # usable questionnaires
    response_rate: float | None  # completed / net_sample, as a fraction
    mean_grade: float | None  # gemiddeld rapportcijfer
    grade_sum: float
    as_of: datetime
    scheme_id: SafeId | None = None
    headline: RespondentType | None = None
    units: tuple[UnitFigures, ...] = ()  # per service × respondent type
    totals: tuple[UnitFigures, ...] = ()  # per respondent type, all services
    benchmark: tuple[UnitFigures, ...] = ()  # all providers in the study: the same groups
    norms: tuple[NormFigures, ...] = ()
    relatively_well: tuple[AspectComparison, ...] = ()
    group_comparisons: tuple[GroupAnalysisFigures, ...] = ()  # staff survey (scheme unit "group")
    periods: tuple[PeriodGrades, ...] = ()  # UWV jobcoach: the grades per jobcoach period
    # The headline group's invitations per province (known postcodes only), most first, then by name.
    provinces: tuple[ProvinceCount, ...] = ()


class ScoresUpdated(Event):
    topic: ClassVar[str] = Topics.SCORES_UPDATED
    type: Literal["scores.updated"] = "scores.updated"
    version: int = 2  # 2: full figures per unit, totals, benchmark, norms (top level unchanged)
    payload: ScoresUpdatedPayload


# --- providers -----------------------------------------------------------------


class ProviderRegisteredPayload(Payload):
    """A provider (dienstverlener) was registered or given a new API key. Only the key's SHA-256
    travels (``shared.tokens.token_hash``), so another service can recognise the provider's own
    key (the reporting API: read its reports, respond to its draft) without ever holding it."""

    provider_id: SafeId
    api_key_hash: str = Field(pattern=r"^[0-9a-f]{64}$")


class ProviderRegistered(Event):
    topic: ClassVar[str] = Topics.INVITATIONS_PROVIDER_REGISTERED
    type: Literal["invitations.provider_registered"] = "invitations.provider_registered"
    payload: ProviderRegisteredPayload


# --- reporting -----------------------------------------------------------------


class ReportPublishedPayload(Payload):
    study_id: SafeId
    provider_id: SafeId
    report_version: int
    kind: Literal["html", "pdf"] = "html"  # pdf: a kept version (HTML, PDF, CSV, XLSX) after fieldwork
    status: Literal["draft", "final"] = "draft"


class ReportPublished(Event):
    topic: ClassVar[str] = Topics.REPORTS_PUBLISHED
    type: Literal["reports.published"] = "reports.published"
    payload: ReportPublishedPayload


AnyEvent = Annotated[
    InvitationIssued
    | InvitationUndeliverable
    | DeliveryChecked
    | InvitationApproached
    | InvitationOptedOut
    | ProviderRegistered
    | ResponseSubmitted
    | ResponseWithdrawn
    | ScoresUpdated
    | ReportPublished,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def parse_event(raw: bytes) -> Event:
    """Decode one message value; raises ``pydantic.ValidationError`` on anything malformed."""
    event: Event = EVENT_ADAPTER.validate_json(raw)
    return event


def encode_event(event: Event) -> bytes:
    return event.model_dump_json().encode()
