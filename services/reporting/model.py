"""The report model: every report kind built from one score snapshot (pure: no I/O, no framework).

A report is a title page, an optional summary page, and numbered sections holding text,
tables and figures. A figure is the provider's value per category beside the benchmark's
(all providers in the study), each with its n. Everything is display-ready Dutch text
(decimal commas), so the templates only lay it out. Charts are drawn from the figures.

Disclosure control (``disclosure.py``, docs/disclosure.md): a unit (dienst, perceel, group) the
scoring service marks as not disclosable, or a question answered by fewer than the scheme's
minimum, shows no figures; beside a shown total, further units are hidden until the hidden ones
cannot be told apart by subtraction (complementary suppression); a benchmark is shown only when
the other providers in it reach the minimum. Free-text answers are never counted by scoring and
never shown here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from services.reporting.charts import ChartRow, bar_chart, grade_badge, share_bar, share_bars
from services.reporting.disclosure import Cell, benchmark_shown, hidden_cells, is_small
from services.reporting.domain import (
    NO_FIGURE,
    format_count,
    format_decimal,
    format_grade,
)
from shared.events import FrequencyTable, ScoresUpdatedPayload, UnitFigures
from shared.questionnaires import Question, Questionnaire, load_questionnaire
from shared.schemes import Scheme
from shared.settings import Bureau, Settings

ReportKind = Literal["bow", "uwv-reintegratie", "uwv-jobcoach", "staff-survey", "basic"]
Status = Literal["live", "draft", "final"]

STATUS_TEXT: Mapping[str, str] = {
    "live": "Tussenstand",
    "draft": "Conceptrapport",
    "final": "Definitief rapport",
}
RESPONDENT_LABELS: Mapping[str, str] = {
    "client": "Cliënten",
    "opdrachtgever": "Opdrachtgevers",
    "werknemer": "Werknemers",
    "werkgever": "Werkgevers",
    "employee": "Medewerkers",
}
SUPPRESSED = "Niet getoond: te weinig respondenten om dit cijfer te tonen zonder dat herkenbaar wordt wie wat antwoordde."  # noqa: E501
BUREAU = "Onderzoeksbureau Tevreden"
DEFAULT_OWN_LABEL = "Uw organisatie"
# Who commissions a scheme's study ("In opdracht van" on the title page); a study without a
# known owner is commissioned by the provider itself.
COMMISSIONERS: Mapping[str, str] = {
    "bow": "Stichting Blik op Werk",
    "uwv-reintegratie": "UWV",
    "uwv-jobcoach": "UWV",
}


def default_bureau() -> Bureau:
    """The bureau of the settings' defaults (a script or test that passes none); reads no
    environment."""
    return Settings.model_construct().bureau


def bureau_place(bureau: Bureau) -> str:
    """The bureau's town, from its postal address ("Postbus 1234, 3500 AB Utrecht" → "Utrecht"):
    the place beside the date on the title page."""
    found = re.search(r"\d{4}\s?[A-Z]{2}\s+(.+)$", bureau.postal_address.strip())
    return found.group(1) if found else ""


@dataclass(frozen=True)
class Context:
    """What the report needs besides the figures (no personal data: ids, names of organisations)."""

    status: Status
    version: int
    provider_name: str
    study_name: str
    period: tuple[date, date] | None = None
    provider_response: str | None = None  # hoor en wederhoor, kept with the report
    review_until: date | None = None  # end of the three weeks for the provider's response
    bureau: Bureau = field(default_factory=default_bureau)  # the contact section, the disclaimer
    issued_on: date | None = None  # the title page's date; None: the snapshot's day


@dataclass(frozen=True)
class FigureRow:
    label: str
    own: float | None
    own_text: str
    benchmark: float | None
    benchmark_text: str


@dataclass(frozen=True)
class Figure:
    """A numbered figure: the provider beside the benchmark, each with its n."""

    number: str
    title: str
    n: int
    benchmark_n: int
    rows: tuple[FigureRow, ...]
    scale_max: float
    unit: str  # "%", "gemiddeld cijfer", "aantal"
    suppressed: bool = False
    note: str = ""
    own_label: str = DEFAULT_OWN_LABEL

    @property
    def svg(self) -> str:
        if self.suppressed or not self.rows:
            return ""
        rows = [ChartRow(r.label, r.own, r.own_text, r.benchmark, r.benchmark_text) for r in self.rows]
        return bar_chart(
            rows,
            scale_max=self.scale_max,
            own_label=f"{self.own_label} (n={self.n})",
            benchmark_label=f"Alle deelnemers (n={format_count(self.benchmark_n)})",
            title=f"fig. {self.number} {self.title}",
        )


@dataclass(frozen=True)
class Diagram:
    """A numbered figure that is a drawing, not a comparison (fig. 1: the invitation route)."""

    number: str
    title: str
    svg: str
    source: str = ""


@dataclass(frozen=True)
class Table:
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # first cell is the row label; a row of one cell is a heading
    note: str = ""


@dataclass(frozen=True)
class Section:
    number: str
    title: str
    blocks: tuple[str | Table | Figure | Diagram, ...] = ()  # a str is a paragraph

    def figures(self) -> tuple[Figure, ...]:
        return tuple(b for b in self.blocks if isinstance(b, Figure))


@dataclass(frozen=True)
class SummaryPage:
    headline: str  # e.g. "Gemiddeld tevredenheidscijfer van cliënten."
    grade_text: str
    points: tuple[str, ...]  # "scoort relatief goed op"
    points_intro: str
    satisfaction: tuple[tuple[str, float, str], ...]
    norm_text: str
    # "De medewerkers van … scoren relatief goed op": the aspects of the personal contact.
    staff_points: tuple[str, ...] = ()
    staff_points_intro: str = ""
    # "Cliënten afkomstig uit de volgende provincie(s)": (province, % of the invited, text), most
    # first; empty when no province is known.
    provinces: tuple[tuple[str, float, str], ...] = ()

    @property
    def badge_svg(self) -> str:
        return grade_badge(self.grade_text, self.headline)

    @property
    def satisfaction_svg(self) -> str:
        return share_bar(self.satisfaction) if self.satisfaction else ""

    @property
    def province_names(self) -> str:
        return ", ".join(name for name, _, _ in self.provinces)

    @property
    def provinces_svg(self) -> str:
        return share_bars(self.provinces, "Cliënten per provincie") if self.provinces else ""


@dataclass(frozen=True)
class ReportDocument:
    kind: ReportKind
    title: str
    study_id: str
    provider_id: str
    provider_name: str
    study_name: str
    period_text: str
    status: Status
    status_text: str
    version: int
    as_of: str
    as_of_iso: str
    summary: SummaryPage | None
    sections: tuple[Section, ...]
    provider_response: str | None
    review_text: str
    signature: str = f"Ondertekend namens {BUREAU}, lid van de VBO."
    footnote: str = "Aan de resultaten in dit onderzoek kunnen geen rechten worden ontleend."
    tables_for_export: tuple[Table, ...] = field(default_factory=tuple)
    bureau: Bureau = field(default_factory=default_bureau)
    commissioner: str = ""  # "In opdracht van …"
    place_and_date: str = ""  # "Utrecht, vrijdag 21 februari 2020": no clock time

    def figures(self) -> tuple[Figure, ...]:
        return tuple(f for s in self.sections for f in s.figures())

    def tables(self) -> tuple[Table, ...]:
        return tuple(b for s in self.sections for b in s.blocks if isinstance(b, Table))


# --- helpers ---------------------------------------------------------------------------------


def report_kind(scheme: Scheme | None) -> ReportKind:
    if scheme is None:
        return "basic"
    kinds: Mapping[str, ReportKind] = {
        "bow": "bow",
        "uwv-reintegratie": "uwv-reintegratie",
        "uwv-jobcoach": "uwv-jobcoach",
        "staff-survey": "staff-survey",
    }
    return kinds.get(scheme.scheme_id, "basic")


def questionnaires_for(scheme: Scheme) -> dict[str, Questionnaire]:
    """Each respondent type's main questionnaire (regular variant), from the packaged data."""
    found: dict[str, Questionnaire] = {}
    for respondent_type in scheme.respondent_types:
        try:
            found[respondent_type] = load_questionnaire(scheme.questionnaire_id(respondent_type))
        except KeyError:
            continue
    return found


def nl_date(day: date) -> str:
    months = (
        "januari",
        "februari",
        "maart",
        "april",
        "mei",
        "juni",
        "juli",
        "augustus",
        "september",
        "oktober",
        "november",
        "december",
    )
    return f"{day.day} {months[day.month - 1]} {day.year}"


def nl_weekday_date(day: date) -> str:
    """The title page's date, as in seed 000: "vrijdag 21 februari 2020"."""
    days = ("maandag", "dinsdag", "woensdag", "donderdag", "vrijdag", "zaterdag", "zondag")
    return f"{days[day.weekday()]} {nl_date(day)}"


def pct(count: float, n: int) -> float | None:
    return 100 * count / n if n else None


def pct_text(value: float | None) -> str:
    return NO_FIGURE if value is None else format_decimal(value, 0) + "%"


def mean_text(value: float | None) -> str:
    return format_grade(value)


def _find(units: Sequence[UnitFigures], respondent_type: str, service_code: str | None) -> UnitFigures | None:
    for unit in units:
        if unit.respondent_type == respondent_type and unit.service_code == service_code:
            return unit
    return None


def _table(unit: UnitFigures | None, key: str) -> FrequencyTable | None:
    if unit is None:
        return None
    for table in unit.questions:
        if table.question_id == key:
            return table
    return None


def disclosure_min(scheme: Scheme | None, respondent_type: str) -> int:
    """The scheme's minimum number of respondents to show a figure of this respondent type."""
    return 1 if scheme is None else scheme.disclosure.min_n(respondent_type)  # type: ignore[arg-type]


def hidden_units(total: UnitFigures | None, units: Sequence[UnitFigures], min_n: int) -> set[str | None]:
    """Service codes whose grade is not shown (``None``: the total's), by the complementary
    suppression rule of :func:`hidden_cells`: not disclosable or too few, and whatever else
    would let a hidden one be derived from the total."""
    total_cell = Cell(
        None, 0 if total is None else total.grade.n, total is not None and not total.disclosable
    )
    parts = [Cell(u.service_code, u.grade.n, not u.disclosable) for u in units]
    return {key for key in hidden_cells(total_cell, parts, min_n) if key is None or isinstance(key, str)}


CAPTION_CHARS = 120  # a figure's title stays a line or two


def section_caption(intro: str | None, title: str) -> str:
    """A section's figure title: its intro when short (the question, "Hoe tevreden bent u over …?"),
    else the question within a long intro ("Welk rapportcijfer geeft u aan onderstaande zaken?"),
    else the section's title: never a paragraph of instructions."""
    if not intro:
        return title
    if len(intro) <= CAPTION_CHARS:
        return intro
    questions = [s.strip() + "?" for s in intro.split("?")[:-1]]
    sentence = questions[0].split(". ")[-1] if questions else ""
    return sentence if 0 < len(sentence) <= CAPTION_CHARS else title


def _labels(question: Question) -> dict[str, str]:
    return {o.value: o.label.rstrip(":").replace(", namelijk", "") for o in question.choices()}


# --- the figure builders ---------------------------------------------------------------------


class FigureBuilder:
    """Figures of one respondent type: the provider's total beside the benchmark's total."""

    def __init__(
        self,
        payload: ScoresUpdatedPayload,
        respondent_type: str,
        questionnaire: Questionnaire | None,
        scheme: Scheme | None,
        own_label: str,
    ) -> None:
        self.payload = payload
        self.type = respondent_type
        self.questionnaire = questionnaire
        self.scheme = scheme
        self.own = _find(payload.totals, respondent_type, None)
        self.own_label = own_label
        self.bench = self._comparable(_find(payload.benchmark, respondent_type, None), self.own)

    def _comparable(self, bench: UnitFigures | None, own: UnitFigures | None) -> UnitFigures | None:
        """The benchmark unit, or None when the others in it are too few to show (a benchmark of
        this provider alone would print its own figures, hidden or not, as everyone's)."""
        own_n = 0 if own is None else own.completed
        return bench if bench is not None and benchmark_shown(bench.completed, own_n, self.min_n) else None

    def _bench_table(self, question_id: str) -> FrequencyTable | None:
        own, bench = _table(self.own, question_id), _table(self.bench, question_id)
        own_n = 0 if own is None else own.n
        return bench if bench is not None and benchmark_shown(bench.n, own_n, self.min_n) else None

    @property
    def min_n(self) -> int:
        """The scheme's minimum to show a figure of this respondent type (disclosure control)."""
        return disclosure_min(self.scheme, self.type)

    @property
    def shown(self) -> bool:
        return self.own is not None and self.own.disclosable and self.own.completed > 0

    def _suppressed(self, number: str, title: str) -> Figure:
        n = 0 if self.own is None else self.own.completed
        bn = 0 if self.bench is None else self.bench.completed
        return Figure(
            number, title, n, bn, (), 1, "", suppressed=True, note=SUPPRESSED, own_label=self.own_label
        )

    def grade_means(self, number: str, title: str = "Gemiddeld rapportcijfer") -> Figure:
        """Fig. 3.1 / 4.1: the mean grade in total and per service (dienst, perceel)."""
        if not self.shown or self.own is None:
            return self._suppressed(number, title)
        rows = [self._grade_row("Totaal", self.own, self.bench)]
        units = [u for u in self.payload.units if u.respondent_type == self.type]
        hidden = hidden_units(self.own, units, self.min_n) if len(units) > 1 else set()
        if None in hidden:
            return self._suppressed(number, title)
        if len(units) > 1:
            for unit in units:
                bench = self._comparable(_find(self.payload.benchmark, self.type, unit.service_code), unit)
                label = self._service_name(unit.service_code)
                if unit.service_code in hidden:
                    rows.append(
                        FigureRow(f"{label} (te weinig respondenten)", None, NO_FIGURE, *self._bench(bench))
                    )
                else:
                    rows.append(self._grade_row(label, unit, bench))
        bn = 0 if self.bench is None else self.bench.grade.n
        note = ""
        if self.own.grade.corrected_mean is not None and self.own.grade.corrected_mean != self.own.grade.mean:
            note = f"Gecorrigeerd gemiddelde (onvoldoendes gelijk geteld): {mean_text(self.own.grade.corrected_mean)}."  # noqa: E501
        return Figure(
            number,
            title,
            self.own.grade.n,
            bn,
            tuple(rows),
            10,
            "gemiddeld cijfer",
            note=note,
            own_label=self.own_label,
        )

    def _bench(self, bench: UnitFigures | None) -> tuple[float | None, str]:
        value = None if bench is None else bench.grade.mean
        return value, mean_text(value)

    def _grade_row(self, label: str, unit: UnitFigures, bench: UnitFigures | None) -> FigureRow:
        return FigureRow(
            f"{label} (n={unit.grade.n})", unit.grade.mean, mean_text(unit.grade.mean), *self._bench(bench)
        )

    def _service_name(self, code: str | None) -> str:
        if code is None or self.scheme is None:
            return "Totaal"
        try:
            return self.scheme.service(code).name
        except KeyError:
            return code

    def grade_distribution(self, number: str, title: str = "Spreiding rapportcijfers") -> Figure:
        """Fig. 3.2 / 4.2: the share of respondents per grade 1–10."""
        if not self.shown or self.own is None:
            return self._suppressed(number, title)
        own, bench = self.own.grade, (None if self.bench is None else self.bench.grade)
        rows = []
        for grade in range(10, 0, -1):
            o = pct(own.distribution.get(grade, 0), own.n)
            b = None if bench is None else pct(bench.distribution.get(grade, 0), bench.n)
            rows.append(FigureRow(f"Cijfer {grade}", o, pct_text(o), b, pct_text(b)))
        return Figure(
            number,
            title,
            own.n,
            0 if bench is None else bench.n,
            tuple(rows),
            100,
            "%",
            own_label=self.own_label,
        )

    def question(self, number: str, question_id: str, title: str | None = None) -> Figure | None:
        """A closed question: the share of respondents per answer (a multiple choice: per option)."""
        question = self._question(question_id)
        if question is None:
            return None
        title = title or self.named(question.text)
        if not self.shown:
            return self._suppressed(number, title)
        own, bench = _table(self.own, question_id), self._bench_table(question_id)
        n, bn = (0 if own is None else own.n), (0 if bench is None else bench.n)
        rows = []
        for value, label in _labels(question).items():
            o = None if own is None else pct(own.counts.get(value, 0), n)
            b = None if bench is None else pct(bench.counts.get(value, 0), bn)
            rows.append(FigureRow(label, o, pct_text(o), b, pct_text(b)))
        if 0 < n < self.min_n:
            return Figure(
                number, title, n, bn, (), 1, "", suppressed=True, note=SUPPRESSED, own_label=self.own_label
            )
        note = "" if n else "Deze vraag is door geen van uw respondenten beantwoord (routing)."
        return Figure(number, title, n, bn, tuple(rows), 100, "%", note=note, own_label=self.own_label)

    def section(self, number: str, section_id: str, title: str | None = None) -> Figure | None:
        """The questions of one section together: satisfaction aspects as % (zeer) tevreden,
        grades as means, numbers as sums."""
        questions = [q for q in self._questions() if q.section == section_id]
        if not questions or self.questionnaire is None:
            return None
        section = next((s for s in self.questionnaire.sections if s.id == section_id), None)
        title = title or self.named(section_caption(section.intro, section.title) if section else section_id)
        if not self.shown:
            return self._suppressed(number, title)
        kind = questions[0].type
        rows: list[FigureRow] = []
        ns, bns = [0], [0]
        scale: float
        for q in questions:
            own, bench = _table(self.own, q.id), self._bench_table(q.id)
            b = _row_value(kind, bench)
            if own is not None and is_small(own.n, self.min_n):
                rows.append(
                    FigureRow(f"{q.text} (te weinig respondenten)", None, NO_FIGURE, b, _row_text(kind, b))
                )
            else:
                o = _row_value(kind, own)
                rows.append(FigureRow(q.text, o, _row_text(kind, o), b, _row_text(kind, b)))
            ns.append(0 if own is None else own.n)
            bns.append(0 if bench is None else bench.n)
        if kind == "satisfaction5":
            scale, unit, note = 100, "%", "Percentage (zeer) tevreden van wie een mening gaf."
        elif kind == "grade":
            scale, unit, note = 10, "gemiddeld cijfer", "Gemiddeld rapportcijfer per onderdeel."
        else:
            values = [r.own or 0 for r in rows] + [r.benchmark or 0 for r in rows]
            scale, unit, note = max([*values, 1]), "aantal", "Opgeteld over alle respondenten."
        return Figure(
            number, title, max(ns), max(bns), tuple(rows), scale, unit, note=note, own_label=self.own_label
        )

    def named(self, text: str) -> str:
        """A question as the report's figure title: the questionnaire asks about "de organisatie",
        the report names the provider (seed 000: "Heeft u Pluswerk Reïntegratie aangeraden bij
        anderen?")."""
        if self.own_label == DEFAULT_OWN_LABEL:
            return text
        name = self.own_label
        text = text.replace("de medewerker(s) op", f"de medewerker(s) van {name} op")
        return text.replace("de organisatie", name).replace("De organisatie", name)

    def _questions(self) -> tuple[Question, ...]:
        return () if self.questionnaire is None else self.questionnaire.questions

    def _question(self, question_id: str) -> Question | None:
        return next((q for q in self._questions() if q.id == question_id), None)

    def all_questions(self, chapter: str) -> list[Figure]:
        """Every closed question in questionnaire order (grade first, sections grouped)."""
        figures: list[Figure] = []
        seen_sections: set[str] = set()
        counter = 0

        def number() -> str:
            nonlocal counter
            counter += 1
            return f"{chapter}.{counter}"

        if self.questionnaire is None:
            return figures
        for q in self.questionnaire.questions:
            if q.id == self.questionnaire.grade_question:
                figures.append(self.grade_means(number()))
                figures.append(self.grade_distribution(number()))
            elif q.type in (
                "satisfaction5",
                "rating4",
                "yes_partly_no",
                "single_choice",
                "multiple_choice",
                "likelihood0_10",
            ):
                if q.type == "satisfaction5" and q.section:
                    if q.section not in seen_sections:
                        seen_sections.add(q.section)
                        fig = self.section(number(), q.section)
                        if fig is not None:
                            figures.append(fig)
                    continue
                fig = self.question(number(), q.id) if q.choices() else None
                if fig is not None:
                    figures.append(fig)
        return figures


def _satisfied(table: FrequencyTable | None) -> float | None:
    if table is None:
        return None
    opinion = sum(v for k, v in table.counts.items() if k != "geen_mening")
    return pct(table.counts.get("zeer_tevreden", 0) + table.counts.get("tevreden", 0), opinion)


def _numbers(table: FrequencyTable | None) -> list[tuple[float, int]]:
    if table is None:
        return []
    found = []
    for answer, count in table.counts.items():
        try:
            found.append((float(answer), count))
        except ValueError:
            continue
    return found


def _mean_of(table: FrequencyTable | None) -> float | None:
    values = _numbers(table)
    n = sum(c for _, c in values)
    return sum(v * c for v, c in values) / n if n else None


def _sum_of(table: FrequencyTable | None) -> float | None:
    values = _numbers(table)
    return sum(v * c for v, c in values) if values else None


def _row_value(kind: str, table: FrequencyTable | None) -> float | None:
    """A section row's figure: % (zeer) tevreden, a mean grade, or a sum."""
    if kind == "satisfaction5":
        return _satisfied(table)
    return _mean_of(table) if kind == "grade" else _sum_of(table)


def _row_text(kind: str, value: float | None) -> str:
    return (
        pct_text(value)
        if kind == "satisfaction5"
        else mean_text(value)
        if kind == "grade"
        else _count_text(value)
    )


def _count_text(value: float | None) -> str:
    return NO_FIGURE if value is None else format_count(round(value))


def frequency_tables(
    payload: ScoresUpdatedPayload,
    respondent_type: str,
    questionnaire: Questionnaire | None,
    caption: str,
    min_n: int = 1,
) -> list[Table]:
    """Per question how often each answer was given, with n; a question answered by fewer than
    ``min_n`` (routing makes n differ per question) shows no counts, nor does a hidden group."""
    return unit_frequency_tables(_find(payload.totals, respondent_type, None), questionnaire, caption, min_n)


def unit_frequency_tables(
    own: UnitFigures | None,
    questionnaire: Questionnaire | None,
    caption: str,
    min_n: int,
    hidden: bool = False,
) -> list[Table]:
    """The frequency tables of one group (a total, or a perceel); ``hidden``: by complementary
    suppression."""
    if questionnaire is None or own is None:
        return []
    if hidden or not own.disclosable:
        return [Table(caption, ("Vraag",), ((SUPPRESSED,),))]
    tables = []
    for q in questionnaire.questions:
        labels = _labels(q)
        if not labels:
            continue
        table = _table(own, q.id)
        counts = {} if table is None else table.counts
        n = 0 if table is None else table.n
        if is_small(n, min_n):
            tables.append(Table(f"{caption}: {q.text} (n={n})", ("Antwoord",), ((SUPPRESSED,),)))
            continue
        rows = tuple(
            (label, format_count(counts.get(value, 0)), pct_text(pct(counts.get(value, 0), n)))
            for value, label in labels.items()
        )
        tables.append(Table(f"{caption}: {q.text} (n={n})", ("Antwoord", "Aantal", "Percentage"), rows))
    return tables


# --- the public register --------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterEntry:
    """One published grade: a provider's service (or total) for one respondent type."""

    provider_id: str
    provider_name: str
    service_code: str | None
    service_name: str
    respondent_type: str
    n: int
    mean_grade: float
    mean_grade_text: str


@dataclass(frozen=True)
class RegisterProvider:
    """One provider's published grades in the register, with the final report they come from."""

    provider_name: str
    report_url: str  # the final version's PDF ("" while none is written)
    final_on: str  # the final report's date, "21 februari 2020"
    entries: tuple[RegisterEntry, ...]


@dataclass(frozen=True)
class RegisterPage:
    """The public register of one study: its name and period, the providers with their grades."""

    study_id: str
    study_name: str
    period_text: str
    providers: tuple[RegisterProvider, ...]


def respondent_label(respondent_type: str) -> str:
    """The respondent type in Dutch ("client" → "Cliënten")."""
    return RESPONDENT_LABELS.get(respondent_type, respondent_type)


def period_text(period: tuple[date, date] | None) -> str:
    """The period in words, "meetperiode: 1 januari 2019 tot en met 31 december 2019"; "" without one."""
    if period is None:
        return ""
    start, end = period
    return f"meetperiode: {nl_date(start)} tot en met {nl_date(end)}"


def register_entries(
    payload: ScoresUpdatedPayload, scheme: Scheme | None, provider_name: str
) -> list[RegisterEntry]:
    """The grades of a final report that may be published: the scheme's response requirement
    met (``published``), enough respondents for the public register, a grade at all, and none
    that would let a hidden service's grade be derived from the provider's total (the rule of
    :func:`hidden_cells`). A single service is not listed beside its total: it says the same."""
    entries = []
    for total in payload.totals:
        units = [u for u in payload.units if u.respondent_type == total.respondent_type]
        min_n = 1 if scheme is None else scheme.disclosure.min_n_public(total.respondent_type)
        hidden = hidden_cells(
            Cell(None, total.grade.n, not _publishable(total, min_n)),
            [Cell(u.service_code, u.grade.n, not _publishable(u, min_n)) for u in units],
            min_n,
        )
        listed = [total] if len(units) == 1 else [*units, total]
        for unit in listed:
            mean = unit.grade.mean
            if unit.service_code not in hidden and _publishable(unit, min_n) and mean is not None:
                entries.append(_register_entry(payload, scheme, provider_name, unit, mean))
    return entries


def _publishable(unit: UnitFigures, min_n: int) -> bool:
    return unit.published is True and unit.disclosable and unit.grade.n >= min_n


def _register_entry(
    payload: ScoresUpdatedPayload, scheme: Scheme | None, provider_name: str, unit: UnitFigures, mean: float
) -> RegisterEntry:
    name = "Totaal"
    if unit.service_code is not None and scheme is not None:
        try:
            name = scheme.service(unit.service_code).name
        except KeyError:
            name = unit.service_code
    return RegisterEntry(
        payload.provider_id,
        provider_name,
        unit.service_code,
        name,
        unit.respondent_type,
        unit.grade.n,
        mean,
        mean_text(mean),
    )
