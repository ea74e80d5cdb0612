"""Responses domain: pages and routing of the web questionnaire, answer validation per mode,
paper rows, usability, CSRF, link expiry, rate limiting and the spoken questions.

Pure: no I/O, no framework. The questionnaires themselves are data in ``shared.questionnaires``.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import shared.questionnaires as q_module
from shared.events import AnswerValue
from shared.questionnaires import (
    GradeQuestion,
    Likelihood0To10Question,
    LikertMatrixQuestion,
    MultipleChoiceQuestion,
    PercentageAllocationQuestion,
    Question,
    Questionnaire,
    RankingQuestion,
    Section,
    Validated,
    load_questionnaire,
    visible_questions,
)
from shared.questionnaires import is_usable as _is_usable
from shared.questionnaires import validate_answers as _validate_answers

__all__ = [
    "MINIMAL",
    "AnswerValue",
    "Questionnaire",
    "Validated",
    "csrf_token",
    "csrf_valid",
    "is_usable",
    "questionnaire_for",
    "validate_answers",
]

MINIMAL_ID = "minimal-v1"
MINIMAL = load_questionnaire(MINIMAL_ID)

# A link opens the questionnaire for this long after the invitation was issued; after that it
# gets the neutral page, like an unknown or used link. Half a year covers the reminders of
# every scheme and a measurement period's tail; the invitations service decides who is invited.
LINK_VALID_FOR = timedelta(days=180)

Mode = Literal["web", "phone", "paper"]
FormValue = str | list[str]

# The callcentre's own code for an interviewer: letters, digits, _ . - (so never an email address).
INTERVIEWER_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"


def questionnaire_for(questionnaire_id: str) -> Questionnaire:
    """The questionnaire an invitation names; the minimal one for an id that has none (yet)."""
    try:
        return load_questionnaire(questionnaire_id)
    except KeyError:
        return MINIMAL


def validate_answers(questionnaire: Questionnaire, form: Mapping[str, object]) -> Validated:
    """Keep every valid answer, and say per question what is wrong with the rest."""
    return _validate_answers(questionnaire, form)


def is_usable(questionnaire: Questionnaire, answers: Mapping[str, AnswerValue]) -> bool:
    return _is_usable(questionnaire, answers)


def csrf_token(secret: bytes, token_hash: str) -> str:
    """Bound to the invitation: a form posted from anywhere else has no valid token."""
    return hmac.new(secret, f"csrf:{token_hash}".encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: bytes, token_hash: str, candidate: str) -> bool:
    return hmac.compare_digest(csrf_token(secret, token_hash), candidate)


def code_form_csrf(secret: bytes, nonce: str) -> str:
    """The /code form's CSRF field: bound to the random nonce in the visitor's cookie."""
    return hmac.new(secret, f"code-form:{nonce}".encode(), hashlib.sha256).hexdigest()


def code_form_csrf_valid(secret: bytes, nonce: str, candidate: str) -> bool:
    return bool(nonce) and hmac.compare_digest(code_form_csrf(secret, nonce), candidate)


MSG_CODE_FORM = (
    "Een persoonlijke code heeft 10 tekens: letters en de cijfers 2 tot en met 9,"
    " bijvoorbeeld ABCDE-FGH23. Een 0 of 1 komt er niet in voor."
)
MSG_CODE_EXPIRED = "Deze pagina was verlopen. Vul uw code nog een keer in."
MSG_CODE_UNKNOWN = "Deze code kennen wij niet. Kijk of u hem goed heeft overgenomen uit de brief."


def link_open(issued_at: datetime, now: datetime) -> bool:
    return now - issued_at <= LINK_VALID_FOR


# --- the posted form -----------------------------------------------------------------


def form_values(items: Iterable[tuple[str, str]]) -> dict[str, FormValue]:
    """A posted form with every value kept: a field posted more than once becomes a list."""
    values: dict[str, FormValue] = {}
    for key, value in items:
        if key not in values:
            values[key] = value
            continue
        earlier = values[key]
        values[key] = [*earlier, value] if isinstance(earlier, list) else [earlier, value]
    return values


def is_chosen(value: object, option: str) -> bool:
    """Whether ``option`` is ticked in a shown value (one value or a list of them)."""
    if isinstance(value, list):
        return option in value
    return value == option


# --- pages ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One page of the web questionnaire: a section, or part of one.

    A section is split where a question's routing looks at a question on the same page,
    because without JavaScript the page cannot show or hide it while the respondent answers.
    """

    index: int
    part: int  # the section's number, 1-based, for the progress indicator
    section: Section | None
    questions: tuple[Question, ...]

    def visible(self, answers: Mapping[str, AnswerValue]) -> tuple[Question, ...]:
        return tuple(q for q in self.questions if all(c.holds(answers) for c in q.routing))

    def input_keys(self) -> frozenset[str]:
        return frozenset(key for q in self.questions for key in q.input_keys())


@dataclass(frozen=True)
class Paging:
    pages: tuple[Page, ...]
    parts: int  # how many sections (parts) the progress indicator counts

    def first(self, answers: Mapping[str, AnswerValue]) -> int:
        found = self.after(-1, answers)
        return 0 if found is None else found

    def after(self, index: int, answers: Mapping[str, AnswerValue]) -> int | None:
        """The next page after ``index`` with a question to show; None when there is none."""
        return next((p.index for p in self.pages[index + 1 :] if p.visible(answers)), None)

    def before(self, index: int, answers: Mapping[str, AnswerValue]) -> int | None:
        return next((p.index for p in reversed(self.pages[:index]) if p.visible(answers)), None)

    def resume_at(self, saved: int, answers: Mapping[str, AnswerValue]) -> int:
        """The saved page when it still has questions to show, else the next one that has."""
        if 0 <= saved < len(self.pages) and self.pages[saved].visible(answers):
            return saved
        found = self.after(min(saved, len(self.pages)) - 1, answers) if saved > 0 else None
        return self.first(answers) if found is None else found

    def may_follow(self, index: int, answers: Mapping[str, AnswerValue]) -> bool:
        """Whether a later page can still be shown, whatever is answered on page ``index``.

        False on the last page to fill in: its button then says that it sends the answers.
        """
        on_page = {q.id for q in self.pages[index].questions}
        return any(
            all(c.holds(answers) or c.question in on_page for c in q.routing)
            for page in self.pages[index + 1 :]
            for q in page.questions
        )

    def progress(self, index: int, answers: Mapping[str, AnswerValue]) -> tuple[int, int]:
        """ "Deel n van m": page ``index``'s place among the pages this respondent sees, and how
        many pages those are. Pages before it are decided (routing only looks back); a later page
        counts while its routing may still let it show. Each next page has a higher number."""
        undecided = {q.id for page in self.pages[index:] for q in page.questions}

        def may_show(question: Question) -> bool:
            return all(c.holds(answers) or c.question in undecided for c in question.routing)

        earlier = sum(1 for page in self.pages[:index] if page.visible(answers))
        later = sum(1 for page in self.pages[index + 1 :] if any(map(may_show, page.questions)))
        return earlier + 1, earlier + 1 + later

    def page_of(self, question_id: str) -> int:
        return next(p.index for p in self.pages if any(q.id == question_id for q in p.questions))


def paging(questionnaire: Questionnaire) -> Paging:
    """The questionnaire's sections as pages, split where routing needs an earlier answer."""
    groups: list[list[Question]] = []
    for question in questionnaire.questions:
        here = {q.id for q in groups[-1]} if groups else set()
        starts = (
            not groups
            or question.section != groups[-1][0].section
            or any(c.question in here for c in question.routing)
        )
        if starts:
            groups.append([])
        groups[-1].append(question)
    sections = {s.id: s for s in questionnaire.sections}
    pages: list[Page] = []
    for i, group in enumerate(groups):
        section_id = group[0].section
        same_part = i > 0 and section_id is not None and section_id == groups[i - 1][0].section
        part = pages[-1].part if same_part else (pages[-1].part + 1 if pages else 1)
        pages.append(Page(i, part, sections.get(section_id or ""), tuple(group)))
    return Paging(tuple(pages), pages[-1].part if pages else 0)


@dataclass(frozen=True)
class Step:
    """What a posted page leads to."""

    answers: dict[str, AnswerValue]  # every valid answer so far: the partial save
    errors: dict[str, str]  # question id → plain-Dutch message, for the questions on ``page``
    page: int | None  # the page to show (or resume at); None: the whole questionnaire as one page
    final: bool  # complete and valid: submit it
    shown: dict[str, FormValue] = field(default_factory=dict)  # what the fields show again


def take_page(
    questionnaire: Questionnaire,
    saved: Mapping[str, AnswerValue],
    page_index: int | None,
    form: Mapping[str, FormValue],
    *,
    back: bool = False,
) -> Step:
    """Validate a posted page against what was saved before, and say where to go next.

    ``page_index`` None is the whole questionnaire posted at once (one page, as a client
    without the page field sends it). Valid answers are kept even when others are not.
    """
    if page_index is None:
        validated = validate_answers(questionnaire, form)
        shown = display_values(questionnaire, validated.answers) | dict(form)
        return Step(validated.answers, validated.errors, None, validated.ok and not back, shown)
    pages = paging(questionnaire)
    page = pages.pages[page_index]
    keys = page.input_keys()
    given = {k: v for k, v in form.items() if k in keys}
    raw: dict[str, object] = {k: v for k, v in saved.items() if k not in keys}
    raw.update(given)
    validated = validate_answers(questionnaire, raw)
    while True:
        # Saved answers to questions that a changed answer now hides are dropped (and so are
        # the answers that depended on them, in the next round).
        hidden = [
            q
            for q in questionnaire.questions
            if validated.errors.get(q.id) == q_module.MSG_HIDDEN and not set(q.input_keys()) & keys
        ]
        if not hidden:
            break
        for q in hidden:
            for key in q.input_keys():
                raw.pop(key, None)
        validated = validate_answers(questionnaire, raw)
    shown = display_values(questionnaire, validated.answers) | given
    on_page = {q.id for q in page.visible(validated.answers)}
    errors = {qid: message for qid, message in validated.errors.items() if qid in on_page}
    if back:
        previous = pages.before(page_index, validated.answers)
        return Step(validated.answers, {}, page_index if previous is None else previous, False, shown)
    if errors:
        return Step(validated.answers, errors, page_index, False, shown)
    following = pages.after(page_index, validated.answers)
    if following is not None:
        return Step(validated.answers, {}, following, False, shown)
    shown_ids = {q.id for q in visible_questions(questionnaire, validated.answers)}
    missing = {qid: message for qid, message in validated.errors.items() if qid in shown_ids}
    if missing:
        # Only when pages were skipped (two tabs, a hand-made post): back to the first gap.
        first = min(pages.page_of(qid) for qid in missing)
        on_first = {q.id for q in pages.pages[first].questions}
        return Step(
            validated.answers, {k: v for k, v in missing.items() if k in on_first}, first, False, shown
        )
    return Step(validated.answers, {}, page_index, True, shown)


def display_values(questionnaire: Questionnaire, answers: Mapping[str, AnswerValue]) -> dict[str, FormValue]:
    """Saved answers as the form fields show them (7,5 with a comma; a ranking as places)."""
    shown: dict[str, FormValue] = {}
    for question in questionnaire.questions:
        if isinstance(question, RankingQuestion):
            order = answers.get(question.id)
            if isinstance(order, list):
                for place, item in enumerate(order, start=1):
                    shown[f"{question.id}.{item}"] = str(place)
            continue
        for key in question.input_keys():
            value = answers.get(key)
            if value is None:
                continue
            if isinstance(value, list):
                shown[key] = [str(v) for v in value]
            elif isinstance(value, float):
                shown[key] = f"{value:g}".replace(".", ",")
            else:
                shown[key] = str(value)
    return shown


# --- other modes ---------------------------------------------------------------------


def relaxed(questionnaire: Questionnaire) -> Questionnaire:
    """The same questionnaire with nothing required: on paper a blank is simply unanswered."""
    return questionnaire.model_copy(
        update={"questions": tuple(q.model_copy(update={"required": False}) for q in questionnaire.questions)}
    )


# --- paper ---------------------------------------------------------------------------

REF_COLUMNS = ("short_code", "invitation_id")
LIST_SEPARATOR = "|"  # several choices in one cell, or a ranking in order: "a|b|c"


@dataclass(frozen=True)
class Problem:
    """What is wrong with one row of a paper import; ``row`` is the line in the file (header = 1)."""

    row: int
    column: str
    problem_nl: str
    problem_en: str


@dataclass(frozen=True)
class PaperRow:
    row: int
    cells: dict[str, str]  # column → trimmed value, blank cells left out

    def reference(self) -> tuple[str, str] | None:
        """The column and value naming the invitation (invitation_id wins when both are given)."""
        for column in ("invitation_id", "short_code"):
            if self.cells.get(column):
                return column, self.cells[column]
        return None


class PaperFileError(ValueError):
    """The whole file is refused; the message is in Dutch and English."""


def read_paper_csv(data: bytes) -> list[PaperRow]:
    """Rows of a keyed-in paper CSV: UTF-8 (or Windows-1252), comma, semicolon or tab."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        if not any(column in header for column in REF_COLUMNS):
            raise PaperFileError(
                "Bestand geweigerd: een kolom short_code of invitation_id ontbreekt. / "
                "File refused: a short_code or invitation_id column is missing."
            )
        duplicates = sorted({h for h in header if header.count(h) > 1 and h})
        if duplicates:
            raise PaperFileError(
                f"Bestand geweigerd: kolom {', '.join(duplicates)} staat er twee keer in. / "
                f"File refused: column {', '.join(duplicates)} appears twice."
            )
        rows: list[PaperRow] = []
        for values in reader:
            cells = {h: v.strip() for h, v in zip(header, values, strict=False) if h and v.strip()}
            if cells:
                rows.append(PaperRow(reader.line_num, cells))
    except csv.Error as exc:
        raise PaperFileError(
            f"Bestand geweigerd: onleesbaar rond regel {reader.line_num}. / "
            f"File refused: cannot be read around line {reader.line_num}."
        ) from exc
    return rows


def paper_answers(
    questionnaire: Questionnaire, row: PaperRow
) -> tuple[dict[str, AnswerValue], list[Problem]]:
    """A keyed-in form's answers, validated as on the web except that nothing is required."""
    known: dict[str, Question] = {}
    for each in questionnaire.questions:
        for key in each.input_keys():
            known[key] = each
    problems: list[Problem] = []
    raw: dict[str, object] = {}
    for column, value in row.cells.items():
        if column in REF_COLUMNS:
            continue
        owner = known.get(column)
        if owner is None:
            problems.append(
                Problem(
                    row.row,
                    column,
                    f"Deze vragenlijst ({questionnaire.questionnaire_id}) heeft geen vraag '{column}'.",
                    f"This questionnaire ({questionnaire.questionnaire_id}) has no question '{column}'.",
                )
            )
            continue
        listed = isinstance(owner, MultipleChoiceQuestion | RankingQuestion) and column == owner.id
        raw[column] = [v.strip() for v in value.split(LIST_SEPARATOR)] if listed else value
    validated = validate_answers(relaxed(questionnaire), raw)
    for qid, message in validated.errors.items():
        column = qid + q_module.OTHER_SUFFIX if message == q_module.MSG_OTHER_TEXT else qid
        problems.append(Problem(row.row, column, message, in_english(message)))
    return validated.answers, problems


# --- messages in English (paper import and callcentre reports) ---------------------------

_ENGLISH_FIXED = {
    q_module.MSG_CHOOSE: "Choose an answer.",
    q_module.MSG_FILL_IN: "Fill in an answer.",
    q_module.MSG_NOT_AN_OPTION: "This answer cannot be used. Choose one of the options.",
    q_module.MSG_GRADE_RANGE: "Give a grade from 1 to 10.",
    q_module.MSG_GRADE_WHOLE: "Give a whole grade, without decimals.",
    q_module.MSG_GRADE_ONE_DECIMAL: "Give a grade with at most one decimal.",
    q_module.MSG_OTHER_TEXT: "'Other' was chosen: write what is meant.",
    q_module.MSG_NOT_A_NUMBER: "Enter a number.",
    q_module.MSG_WHOLE_NUMBER: "Enter a whole number.",
    q_module.MSG_MATRIX: "Answer every statement with 1 to 5.",
    q_module.MSG_RANK_ALL: "Give every item its own place: 1, 2, 3 and so on.",
    q_module.MSG_PERCENTAGE: "Enter a percentage from 0 to 100 for every item.",
    q_module.MSG_HIDDEN: "This question does not apply after the earlier answers: leave it empty.",
}
_ENGLISH_PATTERNS = (
    (r"Vul een getal in van (\S+) tot en met (\S+)\.", "Enter a number from {0} to {1}."),
    (r"Kies er minstens (\d+)\.", "Choose at least {0}."),
    (r"Kies er hoogstens (\d+)\.", "Choose at most {0}."),
    (
        r"De percentages moeten samen 100 zijn; nu is het samen (\S+)\.",
        "The percentages must add up to 100; now they add up to {0}.",
    ),
    (r"Uw antwoord is te lang: hoogstens (\d+) tekens\.", "The answer is too long: at most {0} characters."),
    (
        r"Kies precies (\d+) onderdelen en zet ze in volgorde: 1, 2, 3 enzovoort\.",
        "Choose exactly {0} items and put them in order: 1, 2, 3 and so on.",
    ),
)


def in_english(message_nl: str) -> str:
    """The English of a validation message (for the bureau's staff and the callcentre's logs)."""
    fixed = _ENGLISH_FIXED.get(message_nl)
    if fixed is not None:
        return fixed
    for pattern, template in _ENGLISH_PATTERNS:
        found = re.fullmatch(pattern, message_nl)
        if found:
            return template.format(*found.groups())
    return message_nl


# --- rate limiting -------------------------------------------------------------------


class RateLimiter:
    """A token bucket per client: ``burst`` requests at once, then ``rate`` per second.

    Buckets that have filled up again are forgotten once there are many, so memory stays small.
    """

    def __init__(self, rate: float, burst: int, *, max_clients: int = 50_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._max_clients = max_clients
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, client: str, now: float) -> bool:
        tokens, last = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        allowed = tokens >= 1
        self._buckets[client] = (tokens - 1 if allowed else tokens, now)
        if len(self._buckets) > self._max_clients:
            self._forget_full(now)
        return allowed

    def retry_after(self, client: str) -> int:
        """Whole seconds until ``client`` has a request again."""
        tokens, _ = self._buckets.get(client, (self.burst, 0.0))
        return max(1, int((1 - tokens) / self.rate + 0.999))

    def _forget_full(self, now: float) -> None:
        self._buckets = {
            client: (tokens, last)
            for client, (tokens, last) in self._buckets.items()
            if tokens + (now - last) * self.rate < self.burst
        }

    def __len__(self) -> int:
        return len(self._buckets)


# --- spoken questions (low-threshold variant) -----------------------------------------

AUDIO_VOICE = "nl"
AUDIO_WORDS_PER_MINUTE = 140  # a little slower than espeak-ng's 175: the simplest Dutch, read calmly


def spoken_text(question: Question) -> str:
    return question.audio_text or question.text


def _sentence(text: str) -> str:
    """A text ending in a full stop (or its own ? or !), so the voice pauses after it."""
    text = text.strip()
    return text if text.endswith((".", "?", "!", ":")) else text + "."


def read_aloud_text(question: Question) -> str:
    """What a question's one "Lees voor" reads: the question, then what one can answer."""
    parts = [spoken_text(question)]
    if isinstance(question, Likelihood0To10Question):
        parts += [f"0 is {question.low_label}", f"10 is {question.high_label}"]
    elif isinstance(question, GradeQuestion):
        if "10" not in question.text:
            parts.append("Kies een cijfer van 1 tot en met 10. 1 is heel slecht, 10 is heel goed")
    elif isinstance(question, LikertMatrixQuestion):
        parts += [item.label for item in question.items]
        parts.append("Kies bij elke zin: " + ", ".join(question.scale_labels))
    elif isinstance(question, RankingQuestion | PercentageAllocationQuestion):
        parts += [item.label for item in question.items]
    else:
        parts += [option.label for option in question.choices()]
    return " ".join(_sentence(part) for part in parts if part.strip())


def spoken_texts(questionnaire: Questionnaire) -> tuple[str, ...]:
    """Everything the low-threshold page reads aloud, each text once: the introductions, and
    per question one text with the question and its options."""
    texts: list[str] = []
    if questionnaire.intro:
        texts.append(questionnaire.intro)
    for section in questionnaire.sections:
        if section.intro:
            texts.append(section.intro)
    texts.extend(read_aloud_text(question) for question in questionnaire.questions)
    return tuple(dict.fromkeys(t for t in texts if t.strip()))


def audio_manifest_name(questionnaire: Questionnaire) -> str:
    """The file that maps each spoken text to its sound file, per questionnaire version."""
    return f"{questionnaire.questionnaire_id}.v{questionnaire.version}.read-aloud.json"


def audio_file_name(sound: bytes) -> str:
    """Named by content: a file never changes, so browsers may keep it for good."""
    return hashlib.sha256(sound).hexdigest()[:32] + ".mp3"


def wav_duration(data: bytes) -> float:
    """The length in seconds of a PCM WAV file; ValueError when it is none."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a WAV file")
    offset, byte_rate, data_size = 12, 0, -1
    while offset + 8 <= len(data):
        chunk, size = data[offset : offset + 4], struct.unpack("<I", data[offset + 4 : offset + 8])[0]
        body = offset + 8
        if chunk == b"fmt " and size >= 16:
            byte_rate = struct.unpack("<I", data[body + 8 : body + 12])[0]
        elif chunk == b"data":
            data_size = min(size, len(data) - body)
            break
        offset = body + size + (size & 1)
    if byte_rate <= 0 or data_size < 0:
        raise ValueError("WAV file without format or data")
    return data_size / byte_rate


def fix_wav_sizes(data: bytes) -> bytes:
    """espeak-ng writing to a pipe leaves its sizes open (0x7ffff000): fill them in.

    Assumes its canonical 44-byte header (RIFF, a 16-byte fmt chunk, then data).
    """
    if len(data) < 44 or data[:4] != b"RIFF" or data[36:40] != b"data":
        raise ValueError("not a canonical WAV file")
    return (
        data[:4]
        + struct.pack("<I", len(data) - 8)
        + data[8:40]
        + struct.pack("<I", len(data) - 44)
        + data[44:]
    )
