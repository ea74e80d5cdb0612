"""The response section's accounting (pure): every AAPOR outcome rate per respondent type, with
the e used, and the 95% intervals of each group's response and mean grade (docs/response-rates.md)."""

from __future__ import annotations

from collections.abc import Callable

from services.reporting.domain import NO_FIGURE, format_decimal, format_percentage
from services.reporting.model import RESPONDENT_LABELS, Table, hidden_units, mean_text
from shared.events import DispositionFigures, ScoresUpdatedPayload, UnitFigures

ServiceName = Callable[[str | None], str]
MinimumN = Callable[[str], int]  # a respondent type's disclosure minimum

# Rate name, its field in DispositionFigures, and what it counts (Dutch, for the reader).
AAPOR_ROWS: tuple[tuple[str, str, str], ...] = (
    ("RR1", "rr1", "volledig / alle gevallen"),
    ("RR2", "rr2", "volledig + onvolledig / alle gevallen"),
    ("RR3", "rr3", "volledig / alle gevallen, onbekende geschiktheid × e"),
    ("RR4", "rr4", "volledig + onvolledig / alle gevallen, onbekende geschiktheid × e"),
    ("RR5", "rr5", "volledig / gevallen met bekende geschiktheid"),
    ("RR6", "rr6", "volledig + onvolledig / gevallen met bekende geschiktheid"),
    ("COOP1", "coop1", "volledig / bereikte personen"),
    ("COOP2", "coop2", "volledig + onvolledig / bereikte personen"),
    ("COOP3", "coop3", "volledig / bereikte personen die konden meedoen"),
    ("COOP4", "coop4", "volledig + onvolledig / bereikte personen die konden meedoen"),
    ("REF1", "ref1", "weigeringen / alle gevallen"),
    ("REF2", "ref2", "weigeringen / alle gevallen, onbekende geschiktheid × e"),
    ("REF3", "ref3", "weigeringen / gevallen met bekende geschiktheid"),
    ("CON1", "con1", "bereikt / alle gevallen"),
    ("CON2", "con2", "bereikt / alle gevallen, onbekende geschiktheid × e"),
    ("CON3", "con3", "bereikt / gevallen met bekende geschiktheid"),
)
E_SOURCES = {
    "default": "standaard: het aandeel geschikten onder de gevallen waarvan de geschiktheid bekend is",
    "scheme": "vastgesteld in de regeling",
}


def e_text(dispositions: DispositionFigures) -> str:
    """The e a report's RR3, RR4, REF2 and CON2 use, and where it comes from."""
    return f"e = {format_decimal(dispositions.e, 2)} ({E_SOURCES[dispositions.e_source]})"


def aapor_table(payload: ScoresUpdatedPayload, caption: str) -> Table:
    """Every AAPOR rate (rows) per respondent type (columns), with e stated in the note."""
    totals = payload.totals
    rows = tuple(
        (name, meaning, *(format_percentage(getattr(t.dispositions, field)) for t in totals))
        for name, field, meaning in AAPOR_ROWS
    )
    e = e_text(totals[0].dispositions) if totals else ""
    return Table(
        caption,
        (
            "Maat",
            "Berekening",
            *(RESPONDENT_LABELS.get(t.respondent_type, t.respondent_type) for t in totals),
        ),
        rows,
        "Responsmaten volgens de AAPOR Standard Definitions. Volledig: bruikbare vragenlijst; onvolledig: "
        "ingestuurd maar niet bruikbaar; bereikt: volledig, onvolledig, weigering of anders; onbekende "
        f"geschiktheid: geen reactie of onbestelbaar. {e}.",
    )


def interval_text(interval: tuple[float, float] | None, percentage: bool) -> str:
    """A 95% interval as the report writes it: "61,2% – 80,4%" or "7,1 – 8,3"."""
    if interval is None:
        return NO_FIGURE
    low, high = interval
    if percentage:
        return f"{format_percentage(low)} – {format_percentage(high)}"
    return f"{format_decimal(low)} – {format_decimal(high)}"


def interval_table(
    payload: ScoresUpdatedPayload, service_name: ServiceName, min_n: MinimumN, caption: str
) -> Table:
    """Per respondent type (and its services) the response and the mean grade, each with its 95%
    interval; a group the report does not show (too small, or derivable from the total: the
    complementary suppression of :func:`hidden_units`) keeps "*" for its grade and interval."""
    rows: list[tuple[str, ...]] = []
    for total in payload.totals:
        label = RESPONDENT_LABELS.get(total.respondent_type, total.respondent_type)
        units = [u for u in payload.units if u.respondent_type == total.respondent_type]
        hidden = hidden_units(total, units, min_n(total.respondent_type))
        if len(units) > 1:
            for unit in units:
                name = service_name(unit.service_code)
                rows.append(_interval_row(f"{label}: {name}", unit, unit.service_code in hidden))
        rows.append(_interval_row(f"{label}: totaal", total, None in hidden or not total.disclosable))
    return Table(
        caption,
        ("", "Respons", "95%-interval respons", "n cijfers", "Rapportcijfer", "95%-interval cijfer"),
        tuple(rows),
        "95%-betrouwbaarheidsintervallen. Respons: Wilson-score-interval van bruikbare vragenlijsten op de "
        "netto steekproef. Rapportcijfer: gemiddelde ± t(0,975; n − 1) × standaardafwijking / √n, vanaf "
        "twee cijfers. * niet getoond: te weinig respondenten.",
    )


def _interval_row(label: str, unit: UnitFigures, hidden: bool) -> tuple[str, ...]:
    return (
        label,
        format_percentage(unit.response_rate),
        interval_text(unit.response_rate_ci95, percentage=True),
        str(unit.grade.n) if not hidden else "*",
        "*" if hidden else mean_text(unit.grade.mean),
        "*" if hidden else interval_text(unit.grade.ci95, percentage=False),
    )


def response_accounting(
    payload: ScoresUpdatedPayload, service_name: ServiceName, min_n: MinimumN, numbers: tuple[str, str]
) -> tuple[Table, Table]:
    """The two tables every report's response section carries (``numbers``: their table numbers;
    ``service_name``: a service code as the report names it; ``min_n``: the disclosure minimum of
    a respondent type)."""
    return (
        aapor_table(payload, f"Tabel {numbers[0]} Responsmaten (AAPOR)"),
        interval_table(
            payload, service_name, min_n, f"Tabel {numbers[1]} Respons en rapportcijfer met 95%-interval"
        ),
    )
