"""Questionnaires (vragenlijsten) as versioned data, and the pure rules for their answers.

A questionnaire lives in ``shared/config/questionnaires/<questionnaire_id>.yaml`` (the
current version; older versions in ``archive/<questionnaire_id>.v<N>.yaml``, a package with an
``__init__.py`` once the first version is archived, so the files ship). This module
types it, checks it (routing only looks back, usable and promoter questions exist), and
validates a respondent's raw answers into typed ones with a plain-Dutch message per
question. Pure: no I/O beyond reading the packaged files.

Answers are flat, ``question id → value``, so they fit the ``responses.submitted`` event:
matrix statements and allocation items are stored as ``"<question>.<item>"``, the text of
an "anders, namelijk" option as ``"<question>.other"``, rankings and multiple choices as
lists of option values.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.events import AnswerValue, RespondentType

QuestionId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
OptionValue = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)]
PromoterClass = Literal["promoter", "passive", "detractor"]
LanguageLevel = Literal["A1", "A2", "B1", "B2", "C1"]

OTHER_SUFFIX = ".other"  # key of the text that goes with an "anders, namelijk" option

_QUESTIONNAIRE_PACKAGE = "shared.config.questionnaires"

# Plain-Dutch messages, one place, so the web form and the callcentre say the same.
MSG_CHOOSE = "Kies een antwoord."
MSG_FILL_IN = "Vul een antwoord in."
MSG_NOT_AN_OPTION = "Dit antwoord kunnen wij niet gebruiken. Kies een van de opties."
MSG_GRADE_RANGE = "Geef een cijfer van 1 tot en met 10."
MSG_GRADE_WHOLE = "Geef een heel cijfer, zonder komma."
MSG_GRADE_ONE_DECIMAL = "Geef een cijfer met hoogstens één cijfer achter de komma."
MSG_OTHER_TEXT = "U koos 'anders'. Schrijf op wat u bedoelt."
MSG_NOT_A_NUMBER = "Vul een getal in."
MSG_WHOLE_NUMBER = "Vul een heel getal in."
MSG_MATRIX = "Geef bij elke stelling een antwoord van 1 tot en met 5."
MSG_RANK_ALL = "Geef elk onderdeel een eigen plaats: 1, 2, 3 enzovoort."
MSG_PERCENTAGE = "Vul bij elk onderdeel een percentage van 0 tot en met 100 in."
MSG_HIDDEN = "Deze vraag hoort niet bij uw eerdere antwoorden. Laat haar leeg."


def _range_message(low: float, high: float) -> str:
    return f"Vul een getal in van {_nl_number(low)} tot en met {_nl_number(high)}."


def _nl_number(value: float | Decimal) -> str:
    return format(Decimal(str(value)).normalize(), "f").replace(".", ",")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(_Frozen):
    """An answer option; ``other`` marks "anders, namelijk", which needs a text."""

    value: OptionValue
    label: str = Field(min_length=1)
    other: bool = False


class Condition(_Frozen):
    """Routing: shown only when the earlier answer to ``question`` is one of ``any_of``.

    For a multiple-choice question, one chosen option in ``any_of`` is enough.
    """

    question: QuestionId
    any_of: tuple[str | int, ...] = Field(min_length=1)

    def holds(self, answers: Mapping[str, AnswerValue]) -> bool:
        answer = answers.get(self.question)
        chosen = answer if isinstance(answer, list) else [answer]
        return any(value in self.any_of for value in chosen if value is not None)


# --- parsing helpers ------------------------------------------------------------


@dataclass(frozen=True)
class _Parsed:
    """One question's outcome: its answers (empty when unanswered) or a message."""

    answers: dict[str, AnswerValue]
    error: str | None = None


_UNANSWERED = _Parsed({})


def _blank(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, Mapping | list | tuple):
        return all(_blank(v) for v in (value.values() if isinstance(value, Mapping) else value))
    return False


def _as_text(value: object) -> str | None:
    """A scalar answer as text ("8" and 8 alike); None for lists, mappings and booleans."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float):
        return _nl_number(value).replace(",", ".")
    return None


def _as_decimal(value: object) -> Decimal | None:
    """A number typed as 7,5 or 7.5 (or sent as a JSON number); None when it is none."""
    text = _as_text(value)
    if text is None or not re.fullmatch(r"[+-]?\d+([.,]\d+)?", text):
        return None
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern already rules it out
        return None


def _plain_number(number: Decimal) -> int | float:
    """7 stays an int; 7.5 becomes a float (the event's JSON number)."""
    return int(number) if number == number.to_integral_value() else float(number)


def _decimal_places(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _item_inputs(raw: Mapping[str, object], question_id: str, items: Iterable[str]) -> dict[str, object]:
    """Per item the raw input: from a nested mapping ``raw[question]`` or flat ``raw["question.item"]``."""
    nested = raw.get(question_id)
    if isinstance(nested, Mapping):
        return {item: nested.get(item) for item in items}
    return {item: raw.get(f"{question_id}.{item}") for item in items}


# --- question types -------------------------------------------------------------


class _QuestionBase(_Frozen):
    id: QuestionId
    text: str = Field(min_length=1)  # Dutch, as shown (and as reports and interviewers say it)
    # The text the web form shows when the provider's name is known: ``{provider}`` marks where.
    provider_text: str | None = Field(default=None, pattern=r"\{provider\}")
    audio_text: str | None = None  # what is read aloud, when it differs from text
    section: str | None = None
    required: bool = True
    routing: tuple[Condition, ...] = ()

    missing_message: ClassVar[str] = MSG_FILL_IN

    def input_keys(self) -> tuple[str, ...]:
        """The raw keys that belong to this question (to spot answers to hidden questions)."""
        return (self.id,)

    def answer_keys(self) -> tuple[str, ...]:
        """The keys a complete answer fills in."""
        return (self.id,)

    def choices(self) -> tuple[Option, ...]:
        """The options to tick; empty for questions answered by typing."""
        return ()

    def routable_values(self) -> frozenset[str | int] | None:
        """Answer values routing may test; None when routing on this question is not allowed."""
        values = [option.value for option in self.choices()]
        return frozenset(values) if values else None

    def parse(self, raw: Mapping[str, object]) -> _Parsed:
        value = raw.get(self.id)
        if _blank(value):
            return _Parsed({}, self.missing_message if self.required else None)
        return self._parse_value(value, raw)

    def _parse_value(self, value: object, raw: Mapping[str, object]) -> _Parsed:
        raise NotImplementedError

    def is_answered(self, answers: Mapping[str, AnswerValue]) -> bool:
        return all(answers.get(key) is not None for key in self.answer_keys())


class _FixedChoiceQuestion(_QuestionBase):
    """A closed question whose options are fixed by its type."""

    OPTIONS: ClassVar[tuple[tuple[str, str], ...]] = ()
    missing_message: ClassVar[str] = MSG_CHOOSE

    def choices(self) -> tuple[Option, ...]:
        return tuple(Option(value=v, label=label) for v, label in self.OPTIONS)

    def _parse_value(self, value: object, raw: Mapping[str, object]) -> _Parsed:
        text = _as_text(value)
        if text not in {v for v, _ in self.OPTIONS}:
            return _Parsed({}, MSG_NOT_AN_OPTION)
        return _Parsed({self.id: text})


class GradeQuestion(_QuestionBase):
    """Rapportcijfer 1–10; ``decimals``: one digit after the comma allowed (opdrachtgevers)."""

    type: Literal["grade"]
    decimals: bool = False
    missing_message: ClassVar[str] = MSG_CHOOSE

    def choices(self) -> tuple[Option, ...]:
        if self.decimals:
            return ()
        return tuple(Option(value=str(g), label=str(g)) for g in range(1, 11))

    def routable_values(self) -> frozenset[str | int] | None:
        return frozenset(range(1, 11))

    def _parse_value(self, value: object, raw: Mapping[str, object]) -> _Parsed:
        number = _as_decimal(value)
        if number is None or not 1 <= number <= 10:
            return _Parsed({}, MSG_GRADE_RANGE)
        places = _decimal_places(number)
        if places > (1 if self.decimals else 0):
            return _Parsed({}, MSG_GRADE_ONE_DECIMAL if self.decimals else MSG_GRADE_WHOLE)
        return _Parsed({self.id: _plain_number(number)})


class Satisfaction5Question(_FixedChoiceQuestion):
    """Zeer tevreden … zeer ontevreden, plus geen mening (figures 3.10–3.12)."""

    type: Literal["satisfaction5"]
    OPTIONS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("zeer_tevreden", "Zeer tevreden"),
        ("tevreden", "Tevreden"),
        ("ontevreden", "Ontevreden"),
        ("zeer_ontevreden", "Zeer ontevreden"),
        ("geen_mening", "Geen mening"),
    )


class YesPartlyNoQuestion(_FixedChoiceQuestion):
    """Ja / niet helemaal / nee (jobcoach werknemer form)."""

    type: Literal["yes_partly_no"]
    OPTIONS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("nee", "Nee"),
        ("niet_helemaal", "Niet helemaal"),
        ("ja", "Ja"),
    )


class Rating4Question(_FixedChoiceQuestion):
    """Onvoldoende / matig / voldoende / goed (jobcoach werkgever form)."""

    type: Literal["rating4"]
    OPTIONS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("onvoldoende", "Onvoldoende"),
        ("matig", "Matig"),
        ("voldoende", "Voldoende"),
        ("goed", "Goed"),
    )


class Likelihood0To10Question(_QuestionBase):
    """0–10 (how likely to recommend); the promoter mapping defaults to 9–10 / 7–8 / 0–6."""

    type: Literal["likelihood0_10"]
    low_label: str = "Zeer onwaarschijnlijk"
    high_label: str = "Zeer waarschijnlijk"
    missing_message: ClassVar[str] = MSG_CHOOSE

    def choices(self) -> tuple[Option, ...]:
        return tuple(Option(value=str(n), label=str(n)) for n in range(11))

    def routable_values(self) -> frozenset[str | int] | None:
        return frozenset(range(11))

    def _parse_value(self, value: object, raw: Mapping[str, object]) -> _Parsed:
        number = _as_decimal(value)
        if number is None or number != number.to_integral_value() or not 0 <= number <= 10:
            return _Parsed({}, _range_message(0, 10))
        return _Parsed({self.id: int(number)})


class _OptionsQuestion(_QuestionBase):
    options: tuple[Option, ...] = Field(min_length=2)
    missing_message: ClassVar[str] = MSG_CHOOSE

    @model_validator(mode="after")
    def _options_well_formed(self) -> Self:
        values = [o.value for o in self.options]
        if len(values) != len(set(values)):
            raise ValueError(f"question {self.id!r}: option values must be unique")
        if sum(o.other for o in self.options) > 1:
            raise ValueError(f"question {self.id!r}: at most one 'anders, namelijk' option")
        return self

    def choices(self) -> tuple[Option, ...]:
        return self.options

    def input_keys(self) -> tuple[str, ...]:
        return (self.id, self.id + OTHER_SUFFIX)

    def _other_text(self, chosen: Iterable[str], raw: Mapping[str, object]) -> _Parsed:
        """The "anders, namelijk" text, required when that option is chosen."""
        if not any(o.other and o.value in chosen for o in self.options):
            return _UNANSWERED
        text = _as_text(raw.get(self.id + OTHER_SUFFIX))
        if not text:
            return _Parsed({}, MSG_OTHER_TEXT)
        if len(text) > FreeTextQuestion.DEFAULT_MAX_LENGTH:
            return _Parsed({}, _too_long(FreeTextQuestion.DEFAULT_MAX_LENGTH))
        return _Parsed({self.id + OTHER_SUFFIX: text})


class SingleChoiceQuestion(_OptionsQuestion):
    type: Literal["single_choice"]

    def _parse_value(self, value: object, raw: Mapping[str, object]) -> _Parsed:
        text = _as_text(value)
        if text not in {o.value for o in self.options}:
            return _Parsed({}, MSG_NOT_AN_OPTION)
        other = self._other_text([text], raw)
        if other.error:
            return other
        return _Parsed({self.id: text, **other.answers})


class MultipleChoiceQuestion(_OptionsQuestion):
    type: Literal["multiple_choice"]
    min_choices: int = Field(default=1, ge=1)
    max_choices: int | None = Field(default=None, ge=1)

    def _parse_value(self, value: object, raw: Mapping[str, object]) -> _Parsed:
        chosen = self._chosen(value)
        if chosen is None:
            return _Parsed({}, MSG_NOT_AN_OPTION)
        if len(chosen) < self.min_choices:
            return _Parsed({}, f"Kies er minstens {self.min_choices}.")
        if self.max_choices is not None and len(chosen) > self.max_choices:
            return _Parsed({}, f"Kies er hoogstens {self.max_choices}.")
        other = self._other_text(chosen, raw)
        if other.error:
            return other
        return _Parsed({self.id: chosen, **other.answers})

    def _chosen(self, value: object) -> list[str] | None:
        """The chosen values in option order, or None when one is no option."""
        raw_values = value if isinstance(value, list | tuple) else [value]
        texts = {_as_text(v) for v in raw_values if not _blank(v)}
        allowed = [o.value for o in self.options]
        if not texts <= set(allowed):
            return None
        return [v for v in allowed if v in texts]


class NumericQuestion(_QuestionBase):
    type: Literal["numeric"]
    min: float
    max: float
    integer: bool = True
    unit: str | None = None  # shown after the field ("personen", "uur")

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.min > self.max:
            raise ValueError(f"question {self.id!r}: min is above max")
        return self

    def _parse_value(self, value: object, raw: Mapping[str, object]) -> _Parsed:
        number = _as_decimal(value)
        if number is None:
            return _Parsed({}, MSG_NOT_A_NUMBER)
        if self.integer and number != number.to_integral_value():
            return _Parsed({}, MSG_WHOLE_NUMBER)
        if not Decimal(str(self.min)) <= number <= Decimal(str(self.max)):
            return _Parsed({}, _range_message(self.min, self.max))
        return _Parsed({self.id: _plain_number(number)})


class _ItemsQuestion(_QuestionBase):
    items: tuple[Option, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _items_unique(self) -> Self:
        values = [i.value for i in self.items]
        if len(values) != len(set(values)):
            raise ValueError(f"question {self.id!r}: item values must be unique")
        if any(i.other for i in self.items):
            raise ValueError(f"question {self.id!r}: items cannot be 'anders, namelijk'")
        return self

    def item_values(self) -> tuple[str, ...]:
        return tuple(i.value for i in self.items)

    def input_keys(self) -> tuple[str, ...]:
        return (self.id, *(f"{self.id}.{v}" for v in self.item_values()))

    def routable_values(self) -> frozenset[str | int] | None:
        return None

    def parse(self, raw: Mapping[str, object]) -> _Parsed:
        inputs = _item_inputs(raw, self.id, self.item_values())
        if isinstance(raw.get(self.id), list | tuple):
            return self._parse_value(raw[self.id], raw)
        if all(_blank(v) for v in inputs.values()):
            return _Parsed({}, self.missing_message if self.required else None)
        return self._parse_items(inputs)

    def _parse_items(self, inputs: dict[str, object]) -> _Parsed:
        raise NotImplementedError


class RankingQuestion(_ItemsQuestion):
    """Put items in order (rangorde): all of them, or the ``top_k`` most important."""

    type: Literal["ranking"]
    top_k: int | None = Field(default=None, ge=1)
    missing_message: ClassVar[str] = MSG_RANK_ALL

    @model_validator(mode="after")
    def _top_k_fits(self) -> Self:
        if self.top_k is not None and self.top_k > len(self.items):
            raise ValueError(f"question {self.id!r}: top_k exceeds the number of items")
        return self

    def _places(self) -> int:
        return self.top_k or len(self.items)

    def _error(self) -> str:
        if self.top_k is None:
            return MSG_RANK_ALL
        return f"Kies precies {self.top_k} onderdelen en zet ze in volgorde: 1, 2, 3 enzovoort."

    def answer_keys(self) -> tuple[str, ...]:
        return (self.id,)

    def _parse_value(self, value: object, raw: Mapping[str, object]) -> _Parsed:
        """A list of item values, most important first."""
        order = [_as_text(v) for v in value] if isinstance(value, list | tuple) else []
        if len(order) != self._places() or len(set(order)) != len(order):
            return _Parsed({}, self._error())
        if not set(order) <= set(self.item_values()):
            return _Parsed({}, MSG_NOT_AN_OPTION)
        return _Parsed({self.id: [v for v in order if v is not None]})

    def _parse_items(self, inputs: dict[str, object]) -> _Parsed:
        """Per item its place (1 = most important); items without a place are unranked."""
        places: dict[int, str] = {}
        for item, value in inputs.items():
            if _blank(value):
                continue
            place = _as_decimal(value)
            if place is None or place != place.to_integral_value() or not 1 <= place <= self._places():
                return _Parsed({}, self._error())
            if int(place) in places:
                return _Parsed({}, self._error())
            places[int(place)] = item
        if sorted(places) != list(range(1, self._places() + 1)):
            return _Parsed({}, self._error())
        return _Parsed({self.id: [places[p] for p in sorted(places)]})


class PercentageAllocationQuestion(_ItemsQuestion):
    """Divide 100% over the items (tijdsbesteding); a blank item counts as 0."""

    type: Literal["percentage_allocation"]
    TOTAL: ClassVar[Decimal] = Decimal(100)

    def answer_keys(self) -> tuple[str, ...]:
        return tuple(f"{self.id}.{v}" for v in self.item_values())

    def _parse_value(self, value: object, raw: Mapping[str, object]) -> _Parsed:
        return _Parsed({}, MSG_PERCENTAGE)

    def _parse_items(self, inputs: dict[str, object]) -> _Parsed:
        shares: dict[str, AnswerValue] = {}
        total = Decimal(0)
        for item, value in inputs.items():
            share = Decimal(0) if _blank(value) else _as_decimal(value)
            if share is None or not 0 <= share <= self.TOTAL:
                return _Parsed({}, MSG_PERCENTAGE)
            shares[f"{self.id}.{item}"] = _plain_number(share)
            total += share
        if total != self.TOTAL:
            return _Parsed({}, f"De percentages moeten samen 100 zijn; nu is het samen {_nl_number(total)}.")
        return _Parsed(shares)


class LikertMatrixQuestion(_ItemsQuestion):
    """Statements (stellingen) × a 1–5 scale, 1 = helemaal oneens, 5 = helemaal eens."""

    type: Literal["likert_matrix"]
    scale_labels: tuple[str, str, str, str, str] = (
        "Helemaal oneens",
        "Oneens",
        "Niet eens, niet oneens",
        "Eens",
        "Helemaal eens",
    )
    missing_message: ClassVar[str] = MSG_MATRIX

    @property
    def statements(self) -> tuple[Option, ...]:
        return self.items

    def answer_keys(self) -> tuple[str, ...]:
        return tuple(f"{self.id}.{v}" for v in self.item_values())

    def _parse_value(self, value: object, raw: Mapping[str, object]) -> _Parsed:
        return _Parsed({}, MSG_MATRIX)

    def _parse_items(self, inputs: dict[str, object]) -> _Parsed:
        scores: dict[str, AnswerValue] = {}
        for item, value in inputs.items():
            if _blank(value):
                if self.required:
                    return _Parsed({}, MSG_MATRIX)
                continue
            score = _as_decimal(value)
            if score is None or score not in {Decimal(n) for n in range(1, 6)}:
                return _Parsed({}, MSG_MATRIX)
            scores[f"{self.id}.{item}"] = int(score)
        return _Parsed(scores)

    def is_answered(self, answers: Mapping[str, AnswerValue]) -> bool:
        keys = self.answer_keys()
        present = [answers.get(k) is not None for k in keys]
        return all(present) if self.required else any(present)


def _too_long(max_length: int) -> str:
    return f"Uw antwoord is te lang: hoogstens {max_length} tekens."


class FreeTextQuestion(_QuestionBase):
    """Open answer. ``identifying``: may name people, so it never leaves the responses store
    unreviewed and is never shown to a provider verbatim."""

    type: Literal["free_text"]
    max_length: int = Field(default=2000, ge=1, le=10000)
    identifying: bool = True
    DEFAULT_MAX_LENGTH: ClassVar[int] = 500  # the text of an "anders, namelijk" option

    def routable_values(self) -> frozenset[str | int] | None:
        return None

    def _parse_value(self, value: object, raw: Mapping[str, object]) -> _Parsed:
        text = _as_text(value)
        if text is None:
            return _Parsed({}, MSG_FILL_IN)
        if len(text) > self.max_length:
            return _Parsed({}, _too_long(self.max_length))
        return _Parsed({self.id: text})


Question = Annotated[
    GradeQuestion
    | Satisfaction5Question
    | YesPartlyNoQuestion
    | Rating4Question
    | Likelihood0To10Question
    | SingleChoiceQuestion
    | MultipleChoiceQuestion
    | NumericQuestion
    | RankingQuestion
    | PercentageAllocationQuestion
    | LikertMatrixQuestion
    | FreeTextQuestion,
    Field(discriminator="type"),
]


# --- the questionnaire ----------------------------------------------------------


class Section(_Frozen):
    """A group of questions under one heading and stem (e.g. "Hoe tevreden bent u over …")."""

    id: QuestionId
    title: str
    intro: str | None = None


class PromoterMapping(_Frozen):
    """Which answers to the recommendation question make a promoter, passive or detractor.

    Empty ``classes`` on a 0–10 question: 9–10 promoter, 7–8 passive, 0–6 detractor.
    Answers not in the mapping (weet niet) are not counted.
    """

    question: QuestionId
    classes: dict[str, PromoterClass] = Field(default_factory=dict)


def default_likelihood_class(score: int) -> PromoterClass:
    if score >= 9:
        return "promoter"
    return "passive" if score >= 7 else "detractor"


class Questionnaire(_Frozen):
    questionnaire_id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)]
    version: int = Field(ge=1)
    title: str = Field(min_length=1)
    respondent_type: RespondentType
    variant: str = Field(min_length=1)  # regular, laagdrempelig, inburgering, form, …
    language_level: LanguageLevel
    audio_available: bool = False  # laagdrempelig: every question and answer can be listened to
    intro: str | None = None
    provider_intro: str | None = Field(default=None, pattern=r"\{provider\}")  # the intro naming the provider
    sections: tuple[Section, ...] = ()
    questions: tuple[Question, ...] = Field(min_length=1)
    # A questionnaire counts (bruikbare vragenlijst) when these visible questions are answered.
    usable_when_answered: tuple[QuestionId, ...] = Field(min_length=1)
    grade_question: QuestionId | None = None  # the rapportcijfer the scheme's norm is about
    promoter: PromoterMapping | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        by_id = self._unique_ids()
        self._check_routing()
        sections = {s.id for s in self.sections}
        for q in self.questions:
            if q.section is not None and q.section not in sections:
                raise ValueError(f"question {q.id!r} names unknown section {q.section!r}")
        for qid in self.usable_when_answered:
            if qid not in by_id:
                raise ValueError(f"usable_when_answered names unknown question {qid!r}")
        if self.grade_question is not None and not isinstance(by_id.get(self.grade_question), GradeQuestion):
            raise ValueError(f"grade_question {self.grade_question!r} is not a grade question")
        if self.promoter is not None:
            _check_promoter(self.promoter, by_id)
        return self

    def _unique_ids(self) -> dict[str, Question]:
        by_id: dict[str, Question] = {}
        for q in self.questions:
            if q.id in by_id:
                raise ValueError(f"question id {q.id!r} appears twice")
            by_id[q.id] = q
        return by_id

    def _check_routing(self) -> None:
        """Routing may only look back, at a closed question, for values that question can have."""
        earlier: dict[str, Question] = {}
        for q in self.questions:
            for condition in q.routing:
                source = earlier.get(condition.question)
                if source is None:
                    raise ValueError(
                        f"question {q.id!r}: routing refers to {condition.question!r}, no earlier question"
                    )
                allowed = source.routable_values()
                if allowed is None:
                    raise ValueError(
                        f"question {q.id!r}: cannot route on {source.type} question {source.id!r}"
                    )
                unknown = set(condition.any_of) - allowed
                if unknown:
                    raise ValueError(
                        f"question {q.id!r}: {source.id!r} has no answer {sorted(map(str, unknown))}"
                    )
            earlier[q.id] = q

    def question(self, question_id: str) -> Question:
        """The question with this id; KeyError when there is none."""
        for q in self.questions:
            if q.id == question_id:
                return q
        raise KeyError(question_id)

    def question_ids(self) -> tuple[str, ...]:
        return tuple(q.id for q in self.questions)


def _check_promoter(mapping: PromoterMapping, by_id: Mapping[str, Question]) -> None:
    question = by_id.get(mapping.question)
    if question is None:
        raise ValueError(f"promoter mapping names unknown question {mapping.question!r}")
    if isinstance(question, Likelihood0To10Question) and not mapping.classes:
        return
    allowed = question.routable_values()
    if allowed is None or not mapping.classes:
        raise ValueError(
            f"promoter question {question.id!r} needs a closed scale and a mapping of its answers"
        )
    unknown = set(mapping.classes) - {str(v) for v in allowed}
    if unknown:
        raise ValueError(
            f"promoter mapping names answers {sorted(unknown)} that {question.id!r} does not have"
        )


# --- loading --------------------------------------------------------------------


class QuestionnaireConfigError(ValueError):
    """A questionnaire file that does not parse or validate; the message names the file."""


def parse_questionnaire(data: Mapping[str, Any], source: str) -> Questionnaire:
    try:
        return Questionnaire.model_validate(data)
    except ValidationError as exc:
        raise QuestionnaireConfigError(f"{source}: invalid questionnaire\n{exc}") from exc


def load_questionnaire_file(path: Path) -> Questionnaire:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise QuestionnaireConfigError(f"{path}: not valid YAML\n{exc}") from exc
    if not isinstance(data, dict):
        raise QuestionnaireConfigError(f"{path}: expected a mapping")
    return parse_questionnaire(data, str(path))


def questionnaire_dir() -> Path:
    return Path(str(resources.files(_QUESTIONNAIRE_PACKAGE)))


@functools.cache
def load_questionnaire(questionnaire_id: str, version: int | None = None) -> Questionnaire:
    """The current version (or ``version``, also from the archive); KeyError when unknown."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9_.-]*", questionnaire_id):
        raise KeyError(questionnaire_id)
    current_path = questionnaire_dir() / f"{questionnaire_id}.yaml"
    if not current_path.is_file():
        raise KeyError(questionnaire_id)
    current = load_questionnaire_file(current_path)
    if current.questionnaire_id != questionnaire_id:
        raise QuestionnaireConfigError(f"{current_path}: questionnaire_id differs from the file name")
    if version is None or version == current.version:
        return current
    archived = questionnaire_dir() / "archive" / f"{questionnaire_id}.v{version}.yaml"
    if not archived.is_file():
        raise KeyError(f"{questionnaire_id} version {version}")
    return load_questionnaire_file(archived)


def all_questionnaires() -> dict[str, Questionnaire]:
    """Every current questionnaire by id."""
    return {p.stem: load_questionnaire(p.stem) for p in sorted(questionnaire_dir().glob("*.yaml"))}


# --- answers --------------------------------------------------------------------


@dataclass(frozen=True)
class Validated:
    answers: dict[str, AnswerValue]
    errors: dict[str, str]  # question id → message in plain Dutch

    @property
    def ok(self) -> bool:
        return not self.errors


Visibility = Literal["shown", "hidden", "undecided"]


def _visibility(
    question: Question, answers: Mapping[str, AnswerValue], errors: Mapping[str, str]
) -> Visibility:
    # An earlier answer that was refused leaves the question undecided: check what was given,
    # demand nothing, and let the respondent correct the earlier answer first.
    if all(c.holds(answers) for c in question.routing):
        return "shown"
    if any(c.question in errors for c in question.routing):
        return "undecided"
    return "hidden"


def validate_answers(questionnaire: Questionnaire, raw: Mapping[str, object]) -> Validated:
    """Keep every valid answer and say per question what is wrong with the rest.

    Questions hidden by routing are skipped, and an answer to one is refused; keys that
    belong to no question (the CSRF field) are ignored.
    """
    answers: dict[str, AnswerValue] = {}
    errors: dict[str, str] = {}
    for question in questionnaire.questions:
        visibility = _visibility(question, answers, errors)
        given = any(not _blank(raw.get(key)) for key in question.input_keys())
        if visibility == "hidden":
            if given:
                errors[question.id] = MSG_HIDDEN
            continue
        if visibility == "undecided" and not given:
            continue
        parsed = question.parse(raw)
        answers.update(parsed.answers)
        if parsed.error is not None:
            errors[question.id] = parsed.error
    return Validated(answers, errors)


def visible_questions(
    questionnaire: Questionnaire, answers: Mapping[str, AnswerValue]
) -> tuple[Question, ...]:
    """The questions shown after these answers (a question routed on a hidden one is hidden too)."""
    return tuple(q for q in questionnaire.questions if all(c.holds(answers) for c in q.routing))


def is_usable(questionnaire: Questionnaire, answers: Mapping[str, AnswerValue]) -> bool:
    """Bruikbaar: every visible question in ``usable_when_answered`` is answered."""
    shown = {q.id: q for q in visible_questions(questionnaire, answers)}
    return all(shown[qid].is_answered(answers) for qid in questionnaire.usable_when_answered if qid in shown)


def promoter_class(questionnaire: Questionnaire, answers: Mapping[str, AnswerValue]) -> PromoterClass | None:
    """Promoter, passive or detractor by the questionnaire's mapping; None when not counted."""
    mapping = questionnaire.promoter
    if mapping is None:
        return None
    answer = answers.get(mapping.question)
    if answer is None or isinstance(answer, list):
        return None
    if not mapping.classes and isinstance(answer, int) and not isinstance(answer, bool):
        return default_likelihood_class(answer)
    return mapping.classes.get(str(answer))


def promoter_score(classes: Sequence[PromoterClass | None]) -> float | None:
    """% promoters − % detractors over everyone classified; None when nobody was."""
    counted = [c for c in classes if c is not None]
    if not counted:
        return None
    return 100 * (counted.count("promoter") - counted.count("detractor")) / len(counted)


# --- effort and piping ---------------------------------------------------------------------

# What a question costs a respondent, in seconds (the estimate in emails, letters and the first
# page). Measured guesses in the spirit of survey practice (about 4 closed questions a minute):
# a closed question is read and answered in 12 s; each statement of a matrix, item to rank or
# share to allocate 8 s; a free text 45 s; each section's heading and button 5 s. Simple-Dutch
# questionnaires (A1/A2) are read more slowly: half as long again.
SECONDS_PER_QUESTION = 12
SECONDS_PER_ITEM = 8
SECONDS_PER_FREE_TEXT = 45
SECONDS_PER_SECTION = 5
SLOW_READING_FACTOR = 1.5


def estimated_seconds(questionnaire: Questionnaire) -> float:
    """How long answering every question takes (routing may skip some: an upper estimate)."""
    seconds = float(SECONDS_PER_SECTION * max(1, len(questionnaire.sections)))
    for question in questionnaire.questions:
        if isinstance(question, FreeTextQuestion):
            seconds += SECONDS_PER_FREE_TEXT
        elif isinstance(question, _ItemsQuestion):
            seconds += SECONDS_PER_ITEM * len(question.items)
        else:
            seconds += SECONDS_PER_QUESTION
    if questionnaire.language_level in ("A1", "A2"):
        seconds *= SLOW_READING_FACTOR
    return seconds


def estimated_minutes(questionnaire: Questionnaire) -> int:
    """The estimate a respondent is told: whole minutes, rounded up, at least 1."""
    return max(1, -(-int(estimated_seconds(questionnaire)) // 60))


PROVIDER_PLACEHOLDER = "{provider}"


def with_provider(text: str, provider_text: str | None, provider: str | None) -> str:
    """What the web form shows: ``provider_text`` with the provider's name piped in where it says
    ``{provider}`` when both are known, else the plain ``text``."""
    if provider_text is None or not provider:
        return text
    return provider_text.replace(PROVIDER_PLACEHOLDER, provider)
