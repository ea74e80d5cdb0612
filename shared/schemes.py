"""Schemes (keurmerken, inkoopkaders, erkenningskaders) as versioned configuration.

A scheme says what a figure is reported per (dienst, perceel, provider or group), who
is asked, over which measurement period (meetperiode), which norms apply, when a grade
is published, how small a figure may be shown, how often people are reminded, and which
questionnaire each respondent type gets. The numbers live in
``shared/config/schemes/<scheme_id>.yaml``; this module only types, loads and applies
them. Pure: no I/O beyond reading the packaged files.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.events import RespondentType, SafeId

Mode = Literal["email", "post", "phone"]

_SCHEME_PACKAGE = "shared.config.schemes"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ServiceDefinition(_Frozen):
    """A dienst (Blik op Werk) or perceel (UWV): the unit most figures are split by."""

    code: SafeId
    name: str = Field(min_length=1)
    retired: bool = False  # still readable in old data, no longer accepted in new deliveries
    # A service whose clients get another questionnaire variant (BoW dienst 11: inburgering).
    questionnaire_variant: str | None = None


class MonthDay(_Frozen):
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)


class PeriodRule(_Frozen):
    """How the meetperiode runs and when the report is due."""

    kind: Literal["calendar_year", "from_recognition_date"]
    # Report due this many months after the period ends (jobcoach: 1).
    report_due_months: int | None = Field(default=None, ge=1)
    # Or on a fixed day in the year after the period (UWV re-integratie: 1 March).
    report_due_next_year_on: MonthDay | None = None
    # Jobcoach: no coaching period ended in a measurement year → written notice within a month.
    notice_when_no_period_ended: bool = False
    # Jobcoach: the first measurement period starts no earlier than this (Erkenningskader 2016).
    first_period_from: date | None = None

    @model_validator(mode="after")
    def _one_due_rule(self) -> Self:
        if self.report_due_months is not None and self.report_due_next_year_on is not None:
            raise ValueError("give report_due_months or report_due_next_year_on, not both")
        if self.kind == "calendar_year" and self.first_period_from is not None:
            raise ValueError("first_period_from only applies to kind from_recognition_date")
        return self


class NormSettings(_Frozen):
    """The satisfaction norm (tevredenheidsnorm); every threshold is optional."""

    # Mean grade over all units (BoW: 6.5 for the total).
    total_mean_min: float | None = Field(default=None, ge=1, le=10)
    # Mean grade every unit must reach (BoW: 5.5 per dienst; UWV: 7 per perceel).
    per_unit_mean_min: float | None = Field(default=None, ge=1, le=10)
    # Mean grade per respondent type (jobcoach: werknemer 6.5 and werkgever 6.5).
    per_respondent_type_mean_min: dict[RespondentType, float] = Field(default_factory=dict)
    # Whose grades total_mean_min and per_unit_mean_min apply to.
    applies_to: tuple[RespondentType, ...] = ()
    # A grade below this is an onvoldoende.
    failing_below: float = Field(default=5.5, ge=1, le=10)
    # Corrected mean (gecorrigeerd gemiddelde): when the norm is missed, look again with every
    # failing grade replaced by this one value, so a single 1 cannot sink a small provider.
    use_corrected_mean: bool = False
    corrected_mean_failing_value: float = Field(default=5.0, ge=1, le=10)
    # Fewer ended services than this in a unit → the provider may ask for an exemption (UWV: 5).
    exemption_below_ended_services: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _corrected_value_fails(self) -> Self:
        if self.corrected_mean_failing_value >= self.failing_below:
            raise ValueError("corrected_mean_failing_value must itself be a failing grade")
        return self


class PublicationRule(_Frozen):
    """The response requirement (responseis): a unit's grade is published or counts when met.

    Both thresholds must be met; set one to 0 to rely on the other alone.
    """

    min_usable: int = Field(ge=0)
    min_response_rate: float = Field(ge=0, le=1)  # usable / net sample, a fraction
    always_published_for: tuple[RespondentType, ...] = ()

    def requirement_met(self, usable: int, net_sample: int) -> bool:
        """Both thresholds reached (an empty net sample never meets a response threshold above 0)."""
        rate = usable / net_sample if net_sample else 0.0
        return usable >= self.min_usable and rate >= self.min_response_rate

    def is_published(self, respondent_type: RespondentType, usable: int, net_sample: int) -> bool:
        """Whether a grade goes into the register (tabel 1.1, column 'Publicatie')."""
        if respondent_type in self.always_published_for:
            return True
        return self.requirement_met(usable, net_sample)


class DisclosureRule(_Frozen):
    """Disclosure control: how small a group may be shown or tested."""

    min_n_to_show: int = Field(ge=1)
    # Per respondent type, where another minimum applies (BoW opdrachtgevers are organisations).
    min_n_to_show_for: dict[RespondentType, int] = Field(default_factory=dict)
    min_n_for_significance_test: int = Field(ge=2)
    # The public register's minimum where it is stricter than the report's (UWV re-integratie:
    # the report goes to the provider and UWV, the register is public). None: the report's.
    min_n_in_register: int | None = Field(default=None, ge=1)

    def min_n(self, respondent_type: RespondentType) -> int:
        return self.min_n_to_show_for.get(respondent_type, self.min_n_to_show)

    def min_n_public(self, respondent_type: RespondentType) -> int:
        """The minimum to show a grade in the public register."""
        return self.min_n(respondent_type) if self.min_n_in_register is None else self.min_n_in_register


class ModeReminders(_Frozen):
    """Reminders (herinneringen) for one mode: the first after_days after the invitation."""

    after_days: int = Field(ge=1)
    max_reminders: int = Field(ge=0)


class ReminderPlan(_Frozen):
    email: ModeReminders | None = None
    post: ModeReminders | None = None
    phone: ModeReminders | None = None  # phone: further call attempts

    def for_mode(self, mode: Mode) -> ModeReminders | None:
        plan: ModeReminders | None = getattr(self, mode)
        return plan


class WaveStage(_Frozen):
    """One mode in a wave plan (benaderingstraject): the first attempt, then reminders or calls."""

    mode: Mode
    # Invitation + reminders (email, post), or the maximum number of call attempts (phone).
    attempts: int = Field(ge=1, le=20)
    # Days between attempts, and before the next stage starts after the last attempt.
    interval_days: float = Field(gt=0, le=90)
    # Only for people the earlier stages could not reach (no address, bounced, returned).
    fallback: bool = False


class PhoneSubsidy(_Frozen):
    """A scheme owner paying part of the purchased interviews (Blik op Werk: 50% of the first 20)."""

    share: float = Field(gt=0, le=1)
    first_interviews: int = Field(ge=1)


class Scheme(_Frozen):
    """One scheme's settings (keurmerk, inkoopkader, erkenningskader, staff survey)."""

    scheme_id: SafeId
    version: int = Field(ge=1)
    name: str = Field(min_length=1)
    unit: Literal["service", "perceel", "provider", "group"]
    services: tuple[ServiceDefinition, ...] = ()
    respondent_types: tuple[RespondentType, ...] = Field(min_length=1)
    invitation_modes: dict[RespondentType, tuple[Mode, ...]] = Field(default_factory=dict)
    period: PeriodRule
    norms: NormSettings
    publication: PublicationRule
    disclosure: DisclosureRule
    reminders: ReminderPlan
    # Variant key ("client/regular", "opdrachtgever", …) → questionnaire id.
    questionnaires: dict[str, SafeId] = Field(min_length=1)
    decimal_grades_for: tuple[RespondentType, ...] = ()
    # Staff survey: the background questions whose answers form the groups that are compared.
    group_by: tuple[str, ...] = ()
    # The wave plan per respondent type; a type not named gets one derived from
    # invitation_modes and reminders (see wave_plan).
    waves: dict[RespondentType, tuple[WaveStage, ...]] = Field(default_factory=dict)
    phone_subsidy: PhoneSubsidy | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        codes = [s.code for s in self.services]
        if len(codes) != len(set(codes)):
            raise ValueError("service codes must be unique")
        if self.unit in ("service", "perceel") and not self.services:
            raise ValueError(f"unit {self.unit!r} needs services")
        for key in self.questionnaires:
            if key.split("/", 1)[0] not in self.respondent_types:
                raise ValueError(f"questionnaire key {key!r} must start with one of the respondent types")
        for service in self.services:
            variant = service.questionnaire_variant
            if variant is not None and variant not in self.questionnaires:
                raise ValueError(f"service {service.code!r} names unknown questionnaire variant {variant!r}")
        for kind, stages in self.waves.items():
            allowed = self.invitation_modes.get(kind, ("email", "post", "phone"))
            wrong = {stage.mode for stage in stages} - set(allowed)
            if wrong:
                raise ValueError(f"waves of {kind!r} use modes not in invitation_modes: {sorted(wrong)}")
            if [stage.mode for stage in stages].count("phone") > 1:
                raise ValueError(f"waves of {kind!r}: at most one phone stage")
        for field in ("invitation_modes", "decimal_grades_for", "waves"):
            unknown = set(getattr(self, field)) - set(self.respondent_types)
            if unknown:
                raise ValueError(f"{field} names respondent types the scheme does not ask: {sorted(unknown)}")
        return self

    def service(self, code: str) -> ServiceDefinition:
        """The dienst or perceel with this code; KeyError when the scheme has none."""
        for service in self.services:
            if service.code == code:
                return service
        raise KeyError(f"scheme {self.scheme_id!r} has no service {code!r}")

    def wave_plan(self, respondent_type: str) -> tuple[WaveStage, ...]:
        """The stages a respondent type is approached in, in order.

        Configured under ``waves``, else derived: every mode of ``invitation_modes`` with its
        reminders; a letter after email only for those email could not reach.
        """
        if respondent_type in self.waves:
            return self.waves[respondent_type]
        modes = self.invitation_modes.get(respondent_type, ("email",))  # type: ignore[call-overload]
        stages: list[WaveStage] = []
        for mode in modes:
            reminders = self.reminders.for_mode(mode)
            stages.append(
                WaveStage(
                    mode=mode,
                    attempts=1 + (reminders.max_reminders if reminders else 0),
                    interval_days=reminders.after_days if reminders else 7,
                    fallback=mode == "post" and "email" in stages_modes(stages),
                )
            )
        return tuple(stages)

    def active_service_codes(self) -> frozenset[str]:
        """Codes a new delivery may use (retired diensten excluded)."""
        return frozenset(s.code for s in self.services if not s.retired)

    def questionnaire_id(
        self, respondent_type: RespondentType, *, service_code: str | None = None, low_threshold: bool = False
    ) -> str:
        """The questionnaire a contact gets: the service's own variant, else low-threshold or regular.

        KeyError when the scheme has no questionnaire for that respondent type.
        """
        for key in self._variant_keys(respondent_type, service_code, low_threshold):
            if key in self.questionnaires:
                return self.questionnaires[key]
        raise KeyError(f"scheme {self.scheme_id!r} has no questionnaire for {respondent_type!r}")

    def _variant_keys(
        self, respondent_type: RespondentType, service_code: str | None, low_threshold: bool
    ) -> list[str]:
        keys: list[str] = []
        if service_code is not None and (variant := self.service(service_code).questionnaire_variant):
            keys.append(variant)
        if low_threshold:
            keys.append(f"{respondent_type}/laagdrempelig")
        keys += [f"{respondent_type}/regular", respondent_type]
        return keys


def stages_modes(stages: Iterable[WaveStage]) -> list[str]:
    return [stage.mode for stage in stages]


class SchemeConfigError(ValueError):
    """A scheme file that does not parse or validate; the message names the file and field."""


def parse_scheme(data: Mapping[str, Any], source: str) -> Scheme:
    """Validate one scheme's settings; ``source`` (the file) is named in any error."""
    try:
        return Scheme.model_validate(data)
    except ValidationError as exc:
        raise SchemeConfigError(f"{source}: invalid scheme configuration\n{exc}") from exc


def load_scheme_file(path: Path) -> Scheme:
    """Read and validate a scheme file; its name must be ``<scheme_id>.yaml``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise SchemeConfigError(f"{path}: not valid YAML\n{exc}") from exc
    if not isinstance(data, dict):
        raise SchemeConfigError(f"{path}: expected a mapping of settings")
    scheme = parse_scheme(data, str(path))
    if scheme.scheme_id != path.stem:
        raise SchemeConfigError(f"{path}: scheme_id {scheme.scheme_id!r} differs from the file name")
    return scheme


def _scheme_dir() -> Path:
    return Path(str(resources.files(_SCHEME_PACKAGE)))


@functools.cache
def load_scheme(scheme_id: str) -> Scheme:
    """The packaged scheme ``scheme_id`` (cached); KeyError when there is no such file."""
    path = _scheme_dir() / f"{scheme_id}.yaml"
    if "/" in scheme_id or "\\" in scheme_id or not path.is_file():
        raise KeyError(f"no scheme {scheme_id!r}")
    return load_scheme_file(path)


def find_scheme(scheme_id: str | None) -> Scheme | None:
    """The scheme a study names; None without one (or one this release does not know)."""
    if scheme_id is None:
        return None
    try:
        return load_scheme(scheme_id)
    except KeyError:
        return None


def all_schemes() -> dict[str, Scheme]:
    """Every packaged scheme by id."""
    return {p.stem: load_scheme(p.stem) for p in sorted(_scheme_dir().glob("*.yaml"))}


# --- measurement periods --------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, clamped to the month's end (31 Jan + 1 → 28/29 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _anniversary(recognition_date: date, year: int) -> date:
    # A 29 February recognition falls on 28 February in other years.
    last = calendar.monthrange(year, recognition_date.month)[1]
    return date(year, recognition_date.month, min(recognition_date.day, last))


def measurement_period(
    scheme: Scheme, *, year: int | None = None, recognition_date: date | None = None
) -> tuple[date, date]:
    """The meetperiode as (first day, last day), both inclusive.

    Calendar year: 1 January to 31 December of ``year``. From recognition date (jobcoach):
    one year from the day and month of the erkenningsdatum, starting in ``year`` (without
    ``year``: the first period, which never starts before the scheme's ``first_period_from``).
    """
    rule = scheme.period
    if rule.kind == "calendar_year":
        if year is None:
            raise ValueError(f"scheme {scheme.scheme_id!r} needs the year of the period")
        return date(year, 1, 1), date(year, 12, 31)
    if recognition_date is None:
        raise ValueError(f"scheme {scheme.scheme_id!r} needs the provider's recognition date")
    earliest = max(recognition_date, rule.first_period_from or recognition_date)
    if year is None:
        # The first anniversary on or after the earliest start.
        year = earliest.year + (_anniversary(recognition_date, earliest.year) < earliest)
    start = _anniversary(recognition_date, year)
    if start < earliest:
        raise ValueError(f"no measurement period starts in {year} for recognition date {recognition_date}")
    return start, _anniversary(recognition_date, year + 1) - timedelta(days=1)


def report_due(scheme: Scheme, period_end: date) -> date | None:
    """The last day for handing in the report; None when the scheme sets no deadline."""
    rule = scheme.period
    if rule.report_due_months is not None:
        return add_months(period_end, rule.report_due_months)
    if rule.report_due_next_year_on is not None:
        return date(period_end.year + 1, rule.report_due_next_year_on.month, rule.report_due_next_year_on.day)
    return None


@dataclass(frozen=True)
class NoPeriodNotice:
    """The written notice (schriftelijke melding) that no jobcoach period ended in a meetperiode."""

    period_start: date
    period_end: date
    due: date  # within a month after the measurement period ends
    text_nl: str


def _nl_date(day: date) -> str:
    return day.strftime("%d-%m-%Y")


def jobcoach_no_period_notice(
    scheme: Scheme,
    *,
    recognition_date: date,
    year: int,
    coaching_periods_ended: Iterable[date],
    provider_name: str = "Onze organisatie",
) -> NoPeriodNotice | None:
    """The notice owed for the measurement period that ends in calendar ``year``, if one is owed.

    Seed 001: if in a measurement year not a single jobcoachperiode was completed, satisfaction
    cannot be measured and the provider says so in writing within a month after the period.
    None when the scheme asks no such notice, no measurement period ends in ``year`` yet, or
    a coaching period ended within it.
    """
    if not scheme.period.notice_when_no_period_ended:
        return None
    period = _period_ending_in(scheme, recognition_date, year)
    if period is None:
        return None  # the first measurement period has not ended by this year
    start, end = period
    if any(start <= ended <= end for ended in coaching_periods_ended):
        return None
    due = report_due(scheme, end) or add_months(end, 1)
    return NoPeriodNotice(start, end, due, _notice_text(provider_name, start, end))


def _period_ending_in(scheme: Scheme, recognition_date: date, year: int) -> tuple[date, date] | None:
    # A period starting on 1 January ends in its own year; every other one in the next.
    for start_year in (year - 1, year):
        try:
            start, end = measurement_period(scheme, year=start_year, recognition_date=recognition_date)
        except ValueError:
            continue
        if end.year == year:
            return start, end
    return None


def _notice_text(provider_name: str, start: date, end: date) -> str:
    return (
        "Geachte accounthouder,\n\n"
        f"{provider_name} meldt hierbij dat in de meetperiode van {_nl_date(start)} tot en met "
        f"{_nl_date(end)} geen enkele jobcoachperiode is afgerond. De klanttevredenheid kon "
        "daarom over deze meetperiode niet worden gemeten (Erkenningskader uitvoering "
        "persoonlijke ondersteuning, verplichting 3.5).\n\n"
        "Met vriendelijke groet,\n"
        f"{provider_name}"
    )
