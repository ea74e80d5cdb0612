"""The report kinds (pure): Blik op Werk (seed 000), UWV re-integratie (seed 002), UWV jobcoach
(seed 001), staff survey (seed 003), and a basic report for a study without a scheme."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial

from services.reporting.charts import FlowStep, flow_diagram
from services.reporting.disclosure import is_small
from services.reporting.domain import (
    NO_FIGURE,
    format_against_norm,
    format_count,
    format_decimal,
    format_moment,
    format_percentage,
)
from services.reporting.model import (
    BUREAU,
    COMMISSIONERS,
    RESPONDENT_LABELS,
    STATUS_TEXT,
    SUPPRESSED,
    Context,
    Diagram,
    Figure,
    FigureBuilder,
    ReportDocument,
    Section,
    SummaryPage,
    Table,
    _find,
    _mean_of,
    _table,
    bureau_place,
    disclosure_min,
    frequency_tables,
    hidden_units,
    mean_text,
    nl_date,
    nl_weekday_date,
    pct,
    pct_text,
    period_text,
    questionnaires_for,
    report_kind,
    unit_frequency_tables,
)
from services.reporting.rates import response_accounting
from shared.events import FrequencyTable, GroupValue, NormFigures, ScoresUpdatedPayload, UnitFigures
from shared.questionnaires import (
    LikertMatrixQuestion,
    PercentageAllocationQuestion,
    Questionnaire,
    Satisfaction5Question,
)
from shared.schemes import Scheme
from shared.settings import Bureau

Block = str | Table | Figure | Diagram


def build_document(payload: ScoresUpdatedPayload, scheme: Scheme | None, context: Context) -> ReportDocument:
    """The report of one provider's snapshot, in the kind its scheme asks for."""
    kind = report_kind(scheme)
    builders: Mapping[str, Callable[[ScoresUpdatedPayload, Scheme, Context], ReportDocument]] = {
        "bow": bow_report,
        "uwv-reintegratie": uwv_reintegratie_report,
        "uwv-jobcoach": jobcoach_report,
        "staff-survey": staff_survey_report,
    }
    if scheme is None or kind not in builders:
        return basic_report(payload, context)
    return builders[kind](payload, scheme, context)


def _document(
    payload: ScoresUpdatedPayload,
    context: Context,
    kind: str,
    title: str,
    sections: list[Section],
    summary: SummaryPage | None = None,
) -> ReportDocument:
    period = period_text(context.period)
    review = ""
    if context.status == "draft" and context.review_until is not None:
        review = (
            "Dit is een conceptrapport. U kunt tot en met "
            f"{nl_date(context.review_until)} reageren (hoor en wederhoor); uw reactie wordt bij het rapport bewaard."  # noqa: E501
        )
    numbered = [s for s in sections if s.number.isdigit()]
    appendix = [s for s in sections if not s.number.isdigit()]
    if context.provider_response:
        numbered.append(
            Section(
                str(len(numbered) + 1),
                "Reactie van de dienstverlener (hoor en wederhoor)",
                (context.provider_response,),
            )
        )
    numbered.append(contact_section(str(len(numbered) + 1), context.bureau))
    sections = [*numbered, *appendix]  # numbered without gaps; the appendix last (not in the PDF)
    return ReportDocument(
        kind=kind,  # type: ignore[arg-type]
        title=title,
        study_id=payload.study_id,
        provider_id=payload.provider_id,
        provider_name=context.provider_name,
        study_name=context.study_name,
        period_text=period,
        status=context.status,
        status_text=STATUS_TEXT[context.status],
        version=context.version,
        as_of=format_moment(payload.as_of),
        as_of_iso=payload.as_of.isoformat(),
        summary=summary,
        sections=tuple(sections),
        provider_response=context.provider_response,
        review_text=review,
        signature=f"Ondertekend namens {context.bureau.name}, lid van de VBO.",
        bureau=context.bureau,
        commissioner=COMMISSIONERS.get(kind, context.provider_name),
        place_and_date=_place_and_date(context, payload),
    )


def _place_and_date(context: Context, payload: ScoresUpdatedPayload) -> str:
    """The bureau's town and the day, no clock time: "Utrecht, vrijdag 21 februari 2020"."""
    day = nl_weekday_date(context.issued_on or payload.as_of.date())
    place = bureau_place(context.bureau)
    return f"{place}, {day}" if place else day


def contact_section(number: str, bureau: Bureau) -> Section:
    """How a reader reaches the bureau's helpdesk: "Contactgegevens" (seed 000, chapter 5)."""
    return Section(
        number,
        "Contactgegevens",
        (
            f"{bureau.name} heeft veel zorg besteed aan het beschermen van de anonimiteit van de "
            "respondenten. Het is niet toegestaan om op basis van dit rapport respondenten te benaderen "
            "over hun antwoorden.",
            f"Voor vragen over dit onderzoek kunt u mailen of bellen met de helpdesk van {bureau.name}. In "
            "de eerste drie weken na publicatie van het conceptrapport kunt u reageren (hoor en wederhoor).",
            Table(
                f"Helpdesk {bureau.name}",
                ("Contact", "Gegevens"),
                (
                    ("E-mail", bureau.email),
                    ("Telefoon", f"{bureau.phone} ({bureau.phone_hours})"),
                    ("Postadres", bureau.postal_address),
                    ("Website", bureau.website),
                    ("Privacyverklaring", bureau.privacy_url),
                ),
            ),
        ),
    )


# --- response table (tabel 1.1) -------------------------------------------------------------


def response_table(payload: ScoresUpdatedPayload, scheme: Scheme | None, caption: str) -> Table:
    """Per respondent type and service: net sample, completed, response %, grade, published."""
    rows: list[tuple[str, ...]] = []
    for total in payload.totals:
        label = RESPONDENT_LABELS.get(total.respondent_type, total.respondent_type)
        units = [u for u in payload.units if u.respondent_type == total.respondent_type]
        rows.append((label,))
        hidden = hidden_units(total, units, disclosure_min(scheme, total.respondent_type))
        if len(units) > 1 or total.respondent_type == "client":
            for unit in units:
                rows.append(
                    _response_row(_service_name(scheme, unit.service_code), unit, unit.service_code in hidden)
                )
        name = "Totaal" if total.respondent_type == "client" else f"Totaal {label.lower()}"
        rows.append(_response_row(name, total, not total.disclosable or None in hidden))
    if not payload.totals:  # a version-1 snapshot: the top-level figures only
        rows.append(
            (
                "Totaal",
                format_count(payload.net_sample),
                format_count(payload.completed),
                format_percentage(payload.response_rate),
                mean_text(payload.mean_grade),
                NO_FIGURE,
            )
        )
    return Table(
        caption,
        ("", "Netto steekproef", "Ingevuld", "Respons (%)", "Rapportcijfer", "Publicatie"),
        tuple(rows),
        "Respons = bruikbare vragenlijsten gedeeld door de netto steekproef. * niet getoond: te weinig respondenten.",  # noqa: E501
    )


def _response_row(label: str, unit: UnitFigures, hidden: bool) -> tuple[str, ...]:
    grade = "*" if hidden else mean_text(unit.grade.mean)
    published = NO_FIGURE if unit.published is None else ("ja" if unit.published else "nee")
    return (
        label,
        format_count(unit.net_sample),
        format_count(unit.completed),
        format_percentage(unit.response_rate).rstrip("%"),
        grade,
        published,
    )


def _service_name(scheme: Scheme | None, code: str | None) -> str:
    if code is None or scheme is None:
        return "Totaal"
    try:
        return scheme.service(code).name
    except KeyError:
        return code


def _question_text(questionnaire: Questionnaire | None, question_id: str) -> str:
    if questionnaire is None:
        return question_id
    return next((q.text for q in questionnaire.questions if q.id == question_id), question_id)


# --- Blik op Werk (seed 000) ------------------------------------------------------------------

BOW_CLIENT_CHAPTER: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "3.1",
        "Oordeel van cliënten over {name}",
        (("3.1", "grade_means", ""), ("3.2", "grade_distribution", ""), ("3.3", "question", "recommended")),
    ),
    (
        "3.2",
        "Aanleiding traject",
        (
            ("3.4", "question", "reason"),
            ("3.5", "question", "sanction_threat"),
            ("3.6", "question", "sanction_imposed"),
        ),
    ),
    (
        "3.3",
        "Contact met {name}",
        (
            ("3.7", "question", "contact_frequency"),
            ("3.8", "question", "contact_amount"),
            ("3.9", "question", "fixed_contact"),
        ),
    ),
    (
        "3.4",
        "Tevredenheid over {name}",
        (
            ("3.10", "section", "tevredenheid_contact"),
            ("3.11", "section", "tevredenheid_kantoor"),
            ("3.12", "section", "tevredenheid_begeleiding"),
        ),
    ),
    ("3.5", "Resultaat traject", (("3.13", "question", "expectations"),)),
    (
        "3.6",
        "Klachtafhandeling",
        (
            ("3.14", "question", "complaint"),
            ("3.15", "question", "complaint_filed"),
            ("3.16", "question", "complaint_resolved"),
        ),
    ),
    (
        "3.7",
        "Achtergrond van de cliënten",
        (("3.17", "question", "gender"), ("3.18", "question", "education"), ("3.19", "question", "benefit")),
    ),
)
BOW_OPDRACHTGEVER_CHAPTER: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    (
        "4.1",
        "Totaaloordeel",
        (("4.1", "grade_means", ""), ("4.2", "grade_distribution", ""), ("4.3", "question", "recommended")),
    ),
    ("4.2", "Begeleiden cliënten", (("4.4", "section", "clienten"),)),
    ("4.3", "Beoordeling dienstverlening", (("4.5", "section", "beoordeling"),)),
    (
        "4.4",
        "Klachtafhandeling",
        (("4.6", "question", "complaint"), ("4.7", "question", "complaint_resolved")),
    ),
)


def _chapter_sections(
    builder: FigureBuilder, layout: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...], name: str
) -> list[Section]:
    sections = []
    for number, title, figures in layout:
        blocks: list[Block] = []
        for fig_number, how, ref in figures:
            figure: Figure | None
            if how == "grade_means":
                figure = builder.grade_means(fig_number)
            elif how == "grade_distribution":
                figure = builder.grade_distribution(fig_number)
            elif how == "section":
                figure = builder.section(fig_number, ref)
            else:
                figure = builder.question(fig_number, ref)
            if figure is not None:
                blocks.append(figure)
        sections.append(Section(number, title.format(name=name), tuple(blocks)))
    return sections


def bow_report(payload: ScoresUpdatedPayload, scheme: Scheme, context: Context) -> ReportDocument:
    name = context.provider_name
    questionnaires = questionnaires_for(scheme)
    clients = FigureBuilder(payload, "client", questionnaires.get("client"), scheme, name)
    buyers = FigureBuilder(payload, "opdrachtgever", questionnaires.get("opdrachtgever"), scheme, name)
    client_total = _find(payload.totals, "client", None)
    buyer_total = _find(payload.totals, "opdrachtgever", None)
    promoter = client_total.promoter.score if client_total and client_total.disclosable else None
    sections = [
        Section(
            "1",
            "Inleiding",
            (
                "Stichting Blik op Werk kent het Blik op Werk Keurmerk toe aan organisaties die met hun "
                "dienstverlening bewijzen kwaliteit te leveren. Een van de eisen is een tevredenheidsonderzoek onder "  # noqa: E501
                "cliënten en opdrachtgevers; dit rapport beschrijft de uitkomsten daarvan.",
                "Het klanttevredenheidsonderzoek is één van de normen van het keurmerk. Heeft u de norm "
                "klanttevredenheid gehaald, dan biedt dit nog geen garantie dat u het keurmerk gehaald heeft.",  # noqa: E501
            ),
        ),
        Section(
            "2",
            "Onderzoek",
            (
                f"Cliënten van {name} die in de meetperiode een traject hebben afgerond, zijn per e-mail en/of brief "  # noqa: E501
                "uitgenodigd en hebben een herinnering ontvangen; opdrachtgevers uitsluitend per e-mail. Cliënten met "  # noqa: E501
                "de telefonische optie zijn gebeld door het callcenter.",
                "Leeswijzer: de resultaten van uw organisatie staan steeds naast het gemiddelde van alle deelnemers "  # noqa: E501
                "aan het onderzoek (de benchmark). Bij elk figuur staat hoeveel respondenten de vraag beantwoordden "  # noqa: E501
                "(n); door routing verschilt n per vraag.",
                Table(
                    "Tabel 1.2 Diensten",
                    ("Dienst", "Benaming"),
                    tuple((f"dienst {s.code}", s.name) for s in scheme.services if not s.retired),
                ),
                invitation_route(scheme, client_total, buyer_total),
                _response_intro(client_total, buyer_total),
                response_table(payload, scheme, "Tabel 1.1 Resultaten voor het keurmerk"),
                "In de kolom 'Publicatie' staat of de responseis voor publicatie op de website van Blik op Werk is "  # noqa: E501
                "gehaald. Bij de opdrachtgevers staat 'ja', omdat dit cijfer altijd gepubliceerd wordt.",
                _norm_text(payload, scheme),
                *response_accounting(
                    payload, partial(_service_name, scheme), partial(disclosure_min, scheme), ("1.3", "1.4")
                ),
            ),
        ),
    ]
    chapter3 = _chapter_sections(clients, BOW_CLIENT_CHAPTER, name)
    if promoter is not None:
        first = chapter3[0]
        chapter3[0] = replace(
            first,
            blocks=(
                *first.blocks[:2],
                f"{name} heeft een actuele promotorscore van {format_decimal(promoter)}.",
                *first.blocks[2:],
            ),
        )
    sections.append(Section("3", "Onderzoek onder cliënten", tuple(_flatten(chapter3))))
    sections.append(
        Section(
            "4", "Opdrachtgevers", tuple(_flatten(_chapter_sections(buyers, BOW_OPDRACHTGEVER_CHAPTER, name)))
        )
    )
    appendix = frequency_tables(
        payload, "client", questionnaires.get("client"), "Cliënten", clients.min_n
    ) + frequency_tables(
        payload, "opdrachtgever", questionnaires.get("opdrachtgever"), "Opdrachtgevers", buyers.min_n
    )
    sections.append(Section("Bijlage", "Antwoorden per vraag", tuple(appendix)))
    summary = _bow_summary(payload, scheme, name, client_total, questionnaires.get("client"))
    return _document(payload, context, "bow", f"Tevredenheidsonderzoek {name}", sections, summary)


def _flatten(sections: list[Section]) -> list[Block]:
    blocks: list[Block] = []
    for s in sections:
        blocks.append(f"## {s.number} {s.title}")
        blocks.extend(s.blocks)
    return blocks


MODE_TEXT = {"email": "e-mail", "post": "brief", "phone": "telefoon"}  # the modes as the reports write them


def invitation_route(scheme: Scheme, clients: UnitFigures | None, buyers: UnitFigures | None) -> Diagram:
    """Fig. 1 Uitnodigingstraject: per respondent type the route of seed 000 (invitation by the
    scheme's modes, reminder, the telefonische optie where the scheme has it, response) with
    this provider's real counts."""
    lanes = []
    for respondent_type, unit in (("client", clients), ("opdrachtgever", buyers)):
        modes = [m for m in scheme.invitation_modes.get(respondent_type, ()) if m != "phone"]  # type: ignore[call-overload]
        written = "/".join(MODE_TEXT[m] for m in modes) or "e-mail"
        invited = 0 if unit is None else unit.invited
        net = 0 if unit is None else unit.net_sample
        completed = 0 if unit is None else unit.completed
        steps = [
            FlowStep("Uitnodiging", f"{format_count(invited)} per {written}"),
            FlowStep("Herinnering", "bij geen reactie"),
        ]
        if "phone" in scheme.invitation_modes.get(respondent_type, ()):  # type: ignore[call-overload]
            steps.append(FlowStep("Telefonische optie", "callcenter belt"))
        steps.append(
            FlowStep(
                "Respons",
                f"{format_count(completed)} van {format_count(net)} ({pct_text(pct(completed, net))})",
            )
        )
        lanes.append((RESPONDENT_LABELS.get(respondent_type, respondent_type), steps))
    return Diagram(
        "1",
        "Uitnodigingstraject cliënten en opdrachtgevers",
        flow_diagram(lanes, "fig. 1 Uitnodigingstraject cliënten en opdrachtgevers"),
        "Respons: bruikbare vragenlijsten van de netto steekproef (benaderd min onbestelbaar). "
        f"Bron: {BUREAU}.",
    )


def _response_intro(clients: UnitFigures | None, buyers: UnitFigures | None) -> str:
    c_net = 0 if clients is None else clients.net_sample
    b_net = 0 if buyers is None else buyers.net_sample
    return (
        f"Voor uw organisatie zijn in totaal {format_count(c_net)} cliënten benaderd en {format_count(b_net)} "  # noqa: E501
        f"opdrachtgever(s). Het aantal bruikbare vragenlijsten is "
        f"{format_percentage(None if clients is None else clients.response_rate)} voor cliënten en "
        f"{format_percentage(None if buyers is None else buyers.response_rate)} voor opdrachtgever(s)."
    )


def _norm_text(payload: ScoresUpdatedPayload, scheme: Scheme) -> str:
    """The norm's verdict in words, built here from the figures the report shows: a dienst or
    perceel whose grade the report hides is named without its figure, and a mean that rounds to
    the norm but misses it is written exactly ("6,96 < 7,0")."""
    return " ".join(_norm_sentence(payload, scheme, norm) for norm in payload.norms)


def _norm_sentence(payload: ScoresUpdatedPayload, scheme: Scheme, norm: NormFigures) -> str:
    if norm.verdict == "no_grades":
        return "Norm: niet te beoordelen. Geen rapportcijfers ontvangen."
    if norm.rule == "per_respondent_type":
        misses = _type_misses(payload, scheme)
    else:
        misses = _unit_misses(payload, scheme, norm, corrected=norm.used_corrected_mean)
    listed = "; ".join(misses)
    if norm.verdict == "met" and norm.used_corrected_mean:
        plain = "; ".join(_unit_misses(payload, scheme, norm, corrected=False))
        return (
            "Norm gehaald met het gecorrigeerde gemiddelde (onvoldoendes geteld als "
            f"{format_decimal(scheme.norms.corrected_mean_failing_value)})."
            + (f" Met het gewone gemiddelde: {plain}." if plain else "")
        )
    if norm.verdict == "met":
        return "Norm gehaald."
    if norm.verdict == "exemption_possible":
        return "Norm: niet gehaald; vrijstelling kan worden aangevraagd" + (f": {listed}." if listed else ".")
    return "Norm niet gehaald" + (f": {listed}." if listed else ".")


def _unit_misses(
    payload: ScoresUpdatedPayload, scheme: Scheme, norm: NormFigures, *, corrected: bool
) -> list[str]:
    """Where the per-unit norm (and the total's) is missed: "totaal 6,3 < 6,5", a perceel by name
    with its figure, a hidden one without ("te weinig respondenten om te tonen")."""
    settings = scheme.norms
    types = norm.respondent_types or scheme.respondent_types

    def value(unit: UnitFigures) -> float | None:
        return unit.grade.corrected_mean if corrected else unit.grade.mean

    misses: list[str] = []
    for respondent_type in types:
        total = _find(payload.totals, respondent_type, None)
        units = [u for u in payload.units if u.respondent_type == respondent_type]
        hidden = hidden_units(total, units, disclosure_min(scheme, respondent_type))
        if total is not None and settings.total_mean_min is not None:
            misses += _miss("totaal", value(total), settings.total_mean_min, None in hidden)
        if settings.per_unit_mean_min is not None:
            for unit in units:
                name = _service_name(scheme, unit.service_code)
                misses += _miss(name, value(unit), settings.per_unit_mean_min, unit.service_code in hidden)
    return misses


def _type_misses(payload: ScoresUpdatedPayload, scheme: Scheme) -> list[str]:
    misses: list[str] = []
    for respondent_type, minimum in sorted(scheme.norms.per_respondent_type_mean_min.items()):
        total = _find(payload.totals, respondent_type, None)
        label = RESPONDENT_LABELS.get(respondent_type, respondent_type).lower()
        if total is None or total.grade.mean is None:
            misses.append(f"{label}: geen cijfers")
        else:
            misses += _miss(label, total.grade.mean, minimum, not total.disclosable)
    return misses


def _miss(label: str, value: float | None, minimum: float, hidden: bool) -> list[str]:
    if value is None or value >= minimum:
        return []
    if hidden:
        return [f"{label} onder {format_decimal(minimum)} (cijfer niet getoond: te weinig respondenten)"]
    return [f"{label} {format_against_norm(value, minimum)} < {format_decimal(minimum)}"]


def _bow_summary(
    payload: ScoresUpdatedPayload,
    scheme: Scheme,
    name: str,
    clients: UnitFigures | None,
    questionnaire: Questionnaire | None,
) -> SummaryPage:
    shown = clients is not None and clients.disclosable
    grade = mean_text(clients.grade.mean) if shown and clients else NO_FIGURE
    aspects = [a.question_id for a in payload.relatively_well if a.respondent_type == "client"]
    staff = tuple(_question_text(questionnaire, q) for q in aspects if _about_staff(questionnaire, q))
    points = tuple(_question_text(questionnaire, q) for q in aspects if not _about_staff(questionnaire, q))
    pooled: dict[str, int] = {}
    if shown and clients is not None:
        for table in clients.questions:
            if table.question_type == "satisfaction5":
                for k, v in table.counts.items():
                    pooled[k] = pooled.get(k, 0) + v
    total = sum(pooled.values())
    shares = (
        tuple(
            (label, p, pct_text(p))
            for value, label in Satisfaction5Question.OPTIONS
            if (p := pct(pooled.get(value, 0), total) or 0.0) is not None
        )
        if total
        else ()
    )
    return SummaryPage(
        headline="Gemiddeld tevredenheidscijfer van cliënten.",
        grade_text=grade,
        points=points,
        points_intro=f"{name} scoort relatief goed op {_the_points(points)}:"
        if points
        else ""
        if staff
        else "Er zijn geen punten waarop uw organisatie significant beter scoort dan de benchmark.",
        staff_points=staff,
        staff_points_intro=f"De medewerkers van {name} scoren relatief goed op {_the_points(staff)}:"
        if staff
        else "",
        satisfaction=shares,
        norm_text=_norm_text(payload, scheme),
        provinces=_province_shares(payload),
    )


# Seed 000's summary has two lists: what the provider's staff do well (the aspects of the personal
# contact with the medewerker(s), fig. 3.10) and what the organisation does well (the rest).
STAFF_SECTION = "tevredenheid_contact"


def _about_staff(questionnaire: Questionnaire | None, question_id: str) -> bool:
    questions = () if questionnaire is None else questionnaire.questions
    return any(q.id == question_id and q.section == STAFF_SECTION for q in questions)


def _the_points(points: tuple[str, ...]) -> str:
    return "het volgende punt" if len(points) == 1 else "de volgende punten"


def _province_shares(payload: ScoresUpdatedPayload) -> tuple[tuple[str, float, str], ...]:
    """Where the invited clients come from: per province its share of those with a known
    province, as the snapshot orders them (most first)."""
    known = sum(p.invited for p in payload.provinces)
    return tuple(
        (p.province, share, f"{format_count(p.invited)} ({pct_text(share)})")
        for p in payload.provinces
        if (share := pct(p.invited, known)) is not None
    )


# --- UWV re-integratie (seed 002) -------------------------------------------------------------


def uwv_reintegratie_report(
    payload: ScoresUpdatedPayload, scheme: Scheme, context: Context
) -> ReportDocument:
    name = context.provider_name
    questionnaire = questionnaires_for(scheme).get("client")
    units = [u for u in payload.units if u.respondent_type == "client"]
    norm_min = scheme.norms.per_unit_mean_min
    rule = scheme.publication
    modes = ", ".join(MODE_TEXT[m] for m in scheme.invitation_modes.get("client", ()))
    reminders = "; ".join(
        f"{MODE_TEXT[mode]}: {plan.max_reminders} herinnering(en) na {plan.after_days} dagen"
        for mode in scheme.invitation_modes.get("client", ())
        if (plan := scheme.reminders.for_mode(mode)) is not None
    )
    accounting_rows = []
    conclusions: list[str] = []
    grade_rows = []
    hidden = hidden_units(_find(payload.totals, "client", None), units, disclosure_min(scheme, "client"))
    for unit in units:
        perceel = _service_name(scheme, unit.service_code)
        met = rule.requirement_met(unit.completed, unit.net_sample)
        undeliverable = unit.invited - unit.net_sample
        accounting_rows.append(
            (
                perceel,
                format_count(unit.invited),
                format_count(undeliverable),
                format_count(unit.net_sample),
                format_count(unit.completed),
                format_count(unit.partial),
                format_percentage(unit.response_rate),
                format_percentage(unit.dispositions.rr1),
                "ja" if met else "nee",
            )
        )
        grade, verdict = _grade_against_norm(unit.grade.mean, norm_min, unit.service_code in hidden)
        exempt = (
            "ja"
            if scheme.norms.exemption_below_ended_services is not None
            and unit.invited < scheme.norms.exemption_below_ended_services
            else "nee"
        )
        grade_rows.append((perceel, format_count(unit.grade.n), grade, verdict, exempt))
        if not met:
            conclusions.append(
                f"Perceel {perceel}: de respons-eis ({format_percentage(rule.min_response_rate)} en minimaal "
                f"{rule.min_usable} bruikbare vragenlijst(en)) is niet gehaald: {format_count(unit.completed)} van "  # noqa: E501
                f"{format_count(unit.net_sample)} ({format_percentage(unit.response_rate)}). Alle "
                f"{format_count(unit.invited)} klanten van wie de dienstverlening in de meetperiode is beëindigd, "  # noqa: E501
                f"zijn benaderd via {modes} ({reminders}); {format_count(undeliverable)} adres(sen) bleken onbestelbaar. "  # noqa: E501
                f"Conclusie van {BUREAU}: de voorgeschreven inspanningen om de respons-eis te halen zijn volledig "  # noqa: E501
                "geleverd; de lage respons ligt niet aan de wijze van benaderen. Het gemiddelde cijfer is daarom "  # noqa: E501
                "met terughoudendheid te lezen."
            )
    accounting = Table(
        "Tabel 2.1 Methodologische verantwoording per perceel",
        (
            "Perceel",
            "Benaderd (beëindigde diensten)",
            "Onbestelbaar",
            "Netto steekproef",
            "Deelgenomen",
            "Onvolledig",
            "Respons",
            "AAPOR RR1",
            "Respons-eis gehaald",
        ),
        tuple(accounting_rows),
        f"Wijze van benaderen: {modes}; {reminders}. Het aantal benaderde klanten is gelijk aan het aantal "
        "aangeleverde beëindigde re-integratiediensten per perceel.",
    )
    grades = Table(
        "Tabel 3.1 Gemiddeld rapportcijfer per perceel",
        (
            "Perceel",
            "n",
            "Rapportcijfer",
            f"Norm ≥ {format_decimal(norm_min or 0)}",
            "Vrijstelling mogelijk (< 5)",
        ),
        tuple(grade_rows),
        "* niet getoond: te weinig respondenten.",
    )
    rates = response_accounting(
        payload, partial(_service_name, scheme), partial(disclosure_min, scheme), ("2.2", "2.3")
    )
    builder = FigureBuilder(payload, "client", questionnaire, scheme, name)
    sections = [
        Section(
            "1",
            "Inleiding",
            (
                f"{name} heeft een Raamovereenkomst Inkoopkader Re-integratiediensten met UWV. Dit rapport geeft de "  # noqa: E501
                "uitkomsten van het klanttevredenheidsonderzoek over de beëindigde dienstverlening, per perceel. "  # noqa: E501
                f"Het onderzoek is uitgevoerd door {BUREAU}, lid van de VBO.",
            ),
        ),
        Section(
            "2",
            "Methodologische verantwoording",
            (accounting, *rates, *conclusions)
            if conclusions
            else (accounting, *rates, "De minimale respons-eis is voor elk perceel gehaald."),
        ),
        Section("3", "Resultaten", (grades, _norm_text(payload, scheme), *builder.all_questions("3"))),
        Section(
            "Bijlage",
            "Antwoorden per vraag",
            tuple(_per_perceel_answers(payload, scheme, questionnaire, builder.min_n)),
        ),
    ]
    return _document(
        payload, context, "uwv-reintegratie", f"Klanttevredenheidsonderzoek UWV – {name}", sections
    )


def _per_perceel_answers(
    payload: ScoresUpdatedPayload, scheme: Scheme, questionnaire: Questionnaire | None, min_n: int
) -> list[Table]:
    """Seed 002: "de resultaten op alle verplichte vragen", for all clients and per perceel."""
    tables = frequency_tables(payload, "client", questionnaire, "Klanten", min_n)
    units = [u for u in payload.units if u.respondent_type == "client"]
    if len(units) < 2:
        return tables  # one perceel: its answers are the total's
    hidden = hidden_units(_find(payload.totals, "client", None), units, min_n)
    for unit in units:
        caption = f"Perceel {_service_name(scheme, unit.service_code)}"
        tables += unit_frequency_tables(unit, questionnaire, caption, min_n, unit.service_code in hidden)
    return tables


def _grade_against_norm(mean: float | None, norm_min: float | None, hidden: bool) -> tuple[str, str]:
    """A perceel's grade cell and its verdict: "*" when hidden; the exact figure when rounding
    would hide a miss; the verdict on the exact mean."""
    if hidden:
        return "*", NO_FIGURE
    if mean is None or norm_min is None:
        return mean_text(mean), NO_FIGURE
    if mean >= norm_min:
        return mean_text(mean), "gehaald"
    return format_against_norm(mean, norm_min), "niet gehaald"


# --- UWV jobcoach (seed 001) ------------------------------------------------------------------


def _grades_listed(unit: UnitFigures | None) -> list[str]:
    """The grade of every completed form (exact values, decimals kept), highest first."""
    table = _table(unit, "grade") if unit is not None else None
    values: list[float] = []
    if unit is not None and table is None:
        # The grade question is not in the frequency tables: fall back on the distribution.
        for grade, count in unit.grade.distribution.items():
            values += [float(grade)] * count
    elif table is not None:
        for answer, count in table.counts.items():
            values += [float(answer)] * count
    return [format_decimal(v) for v in sorted(values, reverse=True)]


def _grades_per_period(
    payload: ScoresUpdatedPayload, employee: UnitFigures | None, employer: UnitFigures | None
) -> tuple[list[tuple[str, str, str]], str]:
    """The rows of seed 001's grade table and the note under it. With the snapshot's periods,
    each row is one jobcoach period with the werknemer's and the werkgever's grade for it;
    without them the two columns are separate lists and the table says so."""
    if payload.periods:
        rows = [
            (
                f"Jobcoachperiode {i}",
                NO_FIGURE if p.werknemer is None else format_decimal(p.werknemer),
                NO_FIGURE if p.werkgever is None else format_decimal(p.werkgever),
            )
            for i, p in enumerate(payload.periods, start=1)
        ]
        note = (
            "Elke rij is één jobcoachperiode (geanonimiseerd): het cijfer van de werknemer en dat van de "
            f"werkgever voor dezelfde periode; {NO_FIGURE}: dat formulier is niet ingevuld."
        )
        return rows, note
    left, right = _grades_listed(employee), _grades_listed(employer)
    rows = [
        (
            f"Formulier {i + 1}",
            left[i] if i < len(left) else NO_FIGURE,
            right[i] if i < len(right) else NO_FIGURE,
        )
        for i in range(max(len(left), len(right)))
    ]
    note = (
        "De formulieren zijn in deze stand nog niet aan hun jobcoachperiode gekoppeld: elke kolom staat "
        "los, van hoog naar laag."
    )
    return rows, note


def jobcoach_report(payload: ScoresUpdatedPayload, scheme: Scheme, context: Context) -> ReportDocument:
    name = context.provider_name
    questionnaires = questionnaires_for(scheme)
    employee = _find(payload.totals, "werknemer", None)
    employer = _find(payload.totals, "werkgever", None)
    rows, note = _grades_per_period(payload, employee, employer)

    def achieved(unit: UnitFigures | None) -> str:
        if unit is None or unit.grade.mean is None:
            return NO_FIGURE
        return f"{format_decimal(unit.grade.grade_sum)} : {unit.grade.n} = {format_decimal(unit.grade.mean)}"

    rows.append(("Behaald cijfer", achieved(employee), achieved(employer)))
    grade_table = Table(
        "Tabel 1 Cijfer klanttevredenheid per jobcoachperiode",
        ("", "Werknemer", "Werkgever"),
        tuple(rows),
        f"{note} Norm: minimaal 6,5 voor werknemers en minimaal 6,5 voor werkgevers.",
    )
    question_tables = []
    for respondent_type, label in (("werknemer", "Werknemer"), ("werkgever", "Werkgever")):
        q = questionnaires.get(respondent_type)
        unit = _find(payload.totals, respondent_type, None)
        if q is None:
            continue
        options: list[tuple[str, str]] = []
        body = []
        for question in q.questions:
            choices = [(o.value, o.label) for o in question.choices()] if question.type != "grade" else []
            if not choices:
                continue
            options = choices
            table = _table(unit, question.id)
            counts = {} if table is None else table.counts
            body.append((question.text, *(format_count(counts.get(v, 0)) for v, _ in choices)))
        scale = " – ".join(lbl.lower() for _, lbl in options)
        question_tables.append(
            Table(
                f"{label} (schaal: {scale})",
                ("Vraag", *(lbl.lower() for _, lbl in options)),
                tuple(body),
                "Hoe vaak elk antwoord in het meetjaar is gegeven.",
            )
        )
    analysis = context.provider_response or (
        "Analyse van de resultaten, conclusies en acties: in te vullen door de jobcoachorganisatie tijdens de "  # noqa: E501
        "reactietermijn (hoor en wederhoor); de tekst wordt in de definitieve rapportage opgenomen."
    )
    sections = [
        Section(
            "1",
            "Cijfers per jobcoachperiode",
            (
                grade_table,
                _norm_text(payload, scheme),
                *response_accounting(
                    payload, partial(_service_name, scheme), partial(disclosure_min, scheme), ("2", "3")
                ),
            ),
        ),
        Section("2", "Score per vraag", tuple(question_tables)),
        Section("3", "Analyse, conclusies en acties", (analysis,)),
    ]
    ctx = replace(context, provider_response=None)  # shown in section 3, not twice
    return _document(
        payload, ctx, "uwv-jobcoach", f"Rapportage klanttevredenheid jobcoaching – {name}", sections
    )


# --- staff survey (seed 003) ------------------------------------------------------------------


def staff_survey_report(payload: ScoresUpdatedPayload, scheme: Scheme, context: Context) -> ReportDocument:
    name = context.provider_name
    questionnaire = questionnaires_for(scheme).get("employee")
    total = _find(payload.totals, "employee", None)
    builder = FigureBuilder(payload, "employee", questionnaire, scheme, name)
    blocks: list[Block] = []
    if total is None or not total.disclosable:
        blocks.append(SUPPRESSED)
    elif questionnaire is not None:
        grade_rows = []
        for q in questionnaire.questions:
            if q.type == "grade":
                table = _table(total, q.id)
                grade_rows.append(
                    (q.text, _mean_cell(table, builder.min_n), format_count(0 if table is None else table.n))
                )
        blocks.append(
            Table("Tabel 4.1 Tevredenheid (rapportcijfers)", ("Vraag", "Gemiddeld", "n"), tuple(grade_rows))
        )
        for q in questionnaire.questions:
            if isinstance(q, LikertMatrixQuestion):
                rows: list[tuple[str, ...]] = []
                for key, statement in zip(q.answer_keys(), q.statements, strict=False):
                    table = _table(total, key)
                    m = _mean_value(table, builder.min_n)
                    rows.append(
                        (
                            statement.label,
                            NO_FIGURE if m is None else format_decimal(m, 2),
                            _reading(m),
                            format_count(0 if table is None else table.n),
                        )
                    )
                rows.sort(key=lambda r: r[1], reverse=True)
                blocks.append(
                    Table(
                        f"{q.text} (1–5, gerangschikt)",
                        ("Stelling", "Gemiddelde", "Lezing", "n"),
                        tuple(rows),
                        "≥ 3,8 uitgesproken positief; > 3 aarzelend positief.",
                    )
                )
            elif isinstance(q, PercentageAllocationQuestion):
                rows = []
                for key, item in zip(q.answer_keys(), q.item_values(), strict=False):
                    m = _mean_value(_table(total, key), builder.min_n)
                    rows.append(
                        (item.replace("_", " "), NO_FIGURE if m is None else format_decimal(m, 0) + "%")
                    )
                blocks.append(Table(f"{q.text} (gemiddeld percentage)", ("Onderdeel", "Tijd"), tuple(rows)))
            elif q.type == "ranking":
                places: dict[str, list[int]] = {}
                table = _table(total, q.id)
                for key, count in ({} if table is None else table.counts).items():
                    item, _, place = key.partition("@")
                    if place.isdigit():
                        places.setdefault(item, []).extend([int(place)] * count)
                ranked = sorted(places.items(), key=lambda kv: sum(kv[1]) / len(kv[1]))
                blocks.append(
                    Table(
                        f"{q.text} (rangorde)",
                        ("Plaats", "Onderdeel", "Gemiddelde plaats"),
                        tuple(
                            (str(i + 1), item.replace("_", " "), format_decimal(sum(p) / len(p)))
                            for i, (item, p) in enumerate(ranked)
                        ),
                    )
                )
    group_blocks: list[Block] = []
    for analysis in payload.group_comparisons:
        rows = [
            (
                _item_text(questionnaire, c.question_id, c.option),
                _TESTS.get(c.test, c.test),
                format_decimal(c.p_value, 3),
                "; ".join(_group_value(g) for g in c.groups),
            )
            for c in analysis.significant
        ]
        label = _question_text(questionnaire, analysis.by)
        if rows:
            group_blocks.append(
                Table(
                    f"Significante verschillen naar: {label} ({analysis.tested} vergelijkingen getoetst)",
                    ("Vraag", "Toets", "p", "Groepen"),
                    tuple(rows),
                )
            )
        else:
            group_blocks.append(
                f"Naar {label}: geen significante verschillen (of groepen te klein om te toetsen)."
            )
    sections = [
        Section(
            "1",
            "Inleiding",
            (
                f"Dit rapport presenteert de resultaten van het onderzoek onder medewerkers van {name}. "
                f"In totaal vulden {format_count(0 if total is None else total.completed)} medewerkers de vragenlijst in "  # noqa: E501
                f"(respons {format_percentage(None if total is None else total.response_rate)}).",
                *response_accounting(
                    payload, partial(_service_name, scheme), partial(disclosure_min, scheme), ("1.1", "1.2")
                ),
            ),
        ),
        Section(
            "2",
            "De respondenten",
            tuple(f for f in builder.all_questions("2")[:0])
            + tuple(
                fig
                for fig in (
                    builder.question("2.1", "organisation"),
                    builder.question("2.2", "age_group"),
                    builder.question("2.3", "education"),
                )
                if fig is not None
            ),
        ),
        Section("3", "Resultaten", tuple(blocks)),
        Section(
            "4",
            "Groepen medewerkers vergeleken",
            tuple(group_blocks)
            or (
                "Alleen significante verschillen (p < 0,05) worden genoemd; groepen kleiner dan "
                f"{scheme.disclosure.min_n_for_significance_test} worden niet getoetst.",
            ),
        ),
    ]
    return _document(payload, context, "staff-survey", f"Medewerkersonderzoek {name}", sections)


_TESTS = {
    "welch_t": "Welch t-toets",
    "welch_anova": "Welch ANOVA",
    "anova": "ANOVA",
    "chi_square": "chi-kwadraat",
}


def _group_value(g: GroupValue) -> str:
    if g.mean is None and g.share is None:
        return f"{g.group}: te klein (n={g.n})"
    value = format_decimal(g.mean, 2) if g.mean is not None else pct_text(g.share)
    return f"{g.group}: {value} (n={g.n})"


def _item_text(questionnaire: Questionnaire | None, key: str, option: str | None) -> str:
    question_id, _, item = key.partition(".")
    text = _question_text(questionnaire, question_id)
    if item:
        text += f" – {item.replace('_', ' ')}"
    if option:
        text += f" – {option.replace('_', ' ')}"
    return text


def _mean_value(table: FrequencyTable | None, min_n: int) -> float | None:
    """A question's mean, or None when fewer than ``min_n`` answered it (disclosure control)."""
    return None if table is None or is_small(table.n, min_n) else _mean_of(table)


def _mean_cell(table: FrequencyTable | None, min_n: int) -> str:
    return mean_text(_mean_value(table, min_n))


def _reading(mean: float | None) -> str:
    if mean is None:
        return NO_FIGURE
    if mean >= 3.8:
        return "uitgesproken positief"
    return "aarzelend positief" if mean > 3 else "niet positief"


# --- basic (no scheme) ------------------------------------------------------------------------


def basic_report(payload: ScoresUpdatedPayload, context: Context) -> ReportDocument:
    table = response_table(payload, None, "Tabel 1.1 Respons en gemiddeld rapportcijfer")
    rates = response_accounting(
        payload, partial(_service_name, None), partial(disclosure_min, None), ("1.2", "1.3")
    )
    return _document(
        payload, context, "basic", "Tevredenheidsonderzoek", [Section("1", "Respons", (table, *rates))]
    )
