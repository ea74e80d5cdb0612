"""Invitations domain: contact deliveries (aanlevering), sampling, tokens, emails and reminders.

Pure: no I/O and no framework. The store and the apps call these functions.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from fractions import Fraction
from typing import Literal

Mode = Literal["email", "post", "phone"]
ProblemKind = Literal["invalid", "missing", "duplicate"]
Outcome = Literal["accepted", "duplicate", "missing_essential_data", "invalid", "sampled_out"]
FileFormat = Literal["csv", "xlsx"]

# The columns a delivery may carry (canonical name → the headers accepted for it, normalised:
# lower case, spaces and hyphens as underscores). Other columns are ignored (and listed).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "client_ref": ("client_ref", "clientref", "client_id", "klantnummer", "klant_ref", "referentie"),
    "name": ("name", "naam"),
    "email": ("email", "e_mail", "emailadres", "e_mailadres"),
    "phone": ("phone", "telefoon", "telefoonnummer", "tel"),
    "street": ("street", "straat"),
    "house_number": ("house_number", "huisnummer"),
    "postcode": ("postcode", "postal_code"),
    "city": ("city", "woonplaats", "plaats"),
    "service": ("service", "dienst", "perceel", "service_code", "dienstcode"),
    "respondent_type": ("respondent_type", "respondenttype", "soort_respondent"),
    "client_group": ("client_group", "klantgroep", "variant"),
    "learning_profile": ("learning_profile", "leerprofiel"),
    "end_date": ("end_date", "einddatum"),
    "organisation": ("organisation", "organization", "organisatie", "organisatienaam"),
    "jobcoach_period": ("jobcoach_period", "jobcoachperiode", "jobcoach_periode", "traject_ref"),
}
_CANONICAL = {alias: column for column, aliases in COLUMN_ALIASES.items() for alias in aliases}
REQUIRED_COLUMNS = ("client_ref", "service")
ADDRESS_COLUMNS = ("street", "house_number", "postcode", "city")
# Column names that announce a citizen service number: the whole delivery is refused.
BSN_COLUMN_NAMES = frozenset(
    {
        "bsn",
        "burgerservicenummer",
        "sofinummer",
        "sofi",
        "sofinr",
        "bsnnummer",
        "bsnnr",
        "citizenservicenumber",
    }
)
# The service code of every contact in a scheme reported per provider (no diensten or percelen).
WHOLE_PROVIDER = "all"
# The bucket of rows whose service or respondent type is missing or not acceptable.
UNKNOWN = "unknown"
# Respondent types on the client side and on the buyer side, in the schemes' words.
_CLIENT_SIDE = frozenset({"client", "cliënt", "klant", "deelnemer", "werknemer", "employee", "medewerker"})
BUYER_TYPES = frozenset({"opdrachtgever", "werkgever"})

_EMAIL = re.compile(
    r"^[^@\s<>,;]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SERVICE_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_CLIENT_REF = re.compile(r"^[A-Za-z0-9_./-]{1,64}$")
_GROUP = re.compile(r"^[a-z0-9_./-]{1,64}$")
# Dutch numbers: 0 + nine digits (06 mobile, 010/020/… landlines), or +31 / 0031 + nine digits.
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_PHONE_NL = re.compile(r"^(?:0|\+31|0031)([1-9][0-9]{8})$")
# Dutch postcode: four digits (no leading zero), two letters; SA, SD and SS are not issued.
_POSTCODE = re.compile(r"^([1-9][0-9]{3})\s?([A-Za-z]{2})$")
_HOUSE_NUMBER = re.compile(r"^[1-9][0-9]{0,4}(?:\s?[-/]?\s?[A-Za-z0-9]{1,6})?$")
_LEARNING_PROFILE = re.compile(r"^(?:lp|leerprofiel)?\s*([1-4])$", re.IGNORECASE)
_DATE_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$")
_DATE_NL = re.compile(r"^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})$")
# Digits, maybe grouped by single spaces, dots or hyphens (111 222 333, 111.222.333).
_DIGIT_GROUP = re.compile(r"\d+(?:[ .-]\d+)*")
_DIGIT_RUN = re.compile(r"\d+")
_MAX_TEXT = 200
# Client groups in Dutch that name a scheme's variant suffix.
_GROUP_ALIASES = {"regulier": "regular", "laagdrempelige": "laagdrempelig", "inburgeraar": "inburgering"}


@dataclass(frozen=True)
class RowProblem:
    """One problem in one row of a delivery, in Dutch and English, for the provider to act on.

    Never carries the value itself: a row may hold a BSN, which must not be echoed.
    """

    row: int  # 1-based line number in the file (CSV) or row number (XLSX), the header being 1
    column: str
    problem_nl: str
    problem_en: str
    kind: ProblemKind = "invalid"  # missing: essential data missing; duplicate: delivered before


@dataclass(frozen=True)
class Contact:
    """A row that passed validation: one person who may be invited."""

    client_ref: str
    name: str
    email: str  # lower case; "" when the person is reached by letter or phone
    service_code: str
    # The scheme's respondent type: client, opdrachtgever, werknemer, werkgever or employee.
    respondent_type: str
    row: int = 0
    phone: str = ""  # E.164 (+31…)
    street: str = ""
    house_number: str = ""
    postcode: str = ""  # "1234 AB"
    city: str = ""
    organisation: str = ""
    client_group: str = ""
    variant: str = ""  # the questionnaire variant key ("client/laagdrempelig", "werknemer", …)
    learning_profile: int | None = None
    end_date: date | None = None
    # UWV jobcoach: the provider's own opaque reference of the jobcoach period (jobcoachperiode)
    # the werknemer and the werkgever share; "" when not delivered. Never sent as it is: see
    # :func:`jobcoach_period_key`.
    jobcoach_period: str = ""

    @property
    def is_buyer(self) -> bool:
        """Opdrachtgever or werkgever: the party that bought the service."""
        return self.respondent_type in BUYER_TYPES

    @property
    def has_full_address(self) -> bool:
        return bool(self.street and self.house_number and self.postcode and self.city)


@dataclass(frozen=True)
class RowOutcome:
    """Why a row was not accepted, with the bucket it is counted in (never its values)."""

    row: int
    service_code: str  # an accepted code, else UNKNOWN
    respondent_type: str  # the scheme's respondent type, or UNKNOWN
    outcome: Outcome


@dataclass
class DeliveryCheck:
    """The outcome of checking a delivery: the rows kept and the problems found."""

    contacts: list[Contact] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    rejected: list[RowOutcome] = field(default_factory=list)
    refused: str | None = None  # set when the whole delivery is refused (e.g. a BSN column)
    rows_total: int = 0
    ignored_columns: list[str] = field(default_factory=list)
    file_format: FileFormat = "csv"

    @property
    def rows_rejected(self) -> int:
        return len(self.rejected)


class DeliveryRefusedError(ValueError):
    """The delivery as a whole cannot be accepted; nothing of it may be stored."""


@dataclass(frozen=True)
class IntakeRules:
    """What the rows of a delivery are checked against: the study, its scheme and the enrolment.

    The defaults describe a study without a scheme: any well-formed service code, clients
    and opdrachtgevers, every mode.
    """

    # Codes this provider may deliver (the enrolment's, all active in the scheme); None: any code.
    services: frozenset[str] | None = None
    # Codes the scheme knows but no longer accepts (BoW dienst 12), for a clearer message.
    retired_services: frozenset[str] = frozenset()
    # False for schemes reported per provider (jobcoach): every contact gets WHOLE_PROVIDER.
    service_required: bool = True
    # The scheme's respondent types; the first is the default.
    respondent_types: tuple[str, ...] = ("client", "opdrachtgever")
    # How each respondent type may be approached; a type not named here: every mode.
    modes: Mapping[str, tuple[Mode, ...]] = field(default_factory=dict)
    # The scheme's questionnaire variant keys; empty: no scheme, variants are not checked.
    variants: frozenset[str] = frozenset()
    # A dienst's own variant (BoW dienst 11 → client/inburgering), ahead of any client group.
    service_variants: Mapping[str, str] = field(default_factory=dict)
    # The enrolment's client groups: group → variant (inburgering → client/inburgering).
    group_variants: Mapping[str, str] = field(default_factory=dict)
    # The measurement period an end date must lie in (first and last day, inclusive).
    period: tuple[date, date] | None = None
    # The provider bought the phone option: a phone number alone is enough to reach a client.
    phone_option: bool = False
    # The scheme pairs werknemer and werkgever per jobcoach period (UWV jobcoach): the optional
    # jobcoach_period column is read; elsewhere it is ignored (and listed).
    jobcoach_periods: bool = False


@dataclass(frozen=True)
class DeliveryTable:
    """A delivery as read from its file: the header and the non-empty rows with their line numbers."""

    header: list[str]
    rows: list[tuple[int, list[str]]]
    file_format: FileFormat = "csv"


# --- studies and enrolments -------------------------------------------------------------


@dataclass(frozen=True)
class Study:
    """A study (onderzoek): a scheme over a measurement period, or a questionnaire without one."""

    study_id: str
    name: str
    scheme_id: str | None = None
    questionnaire_id: str | None = None  # overrides the scheme's questionnaires when set
    year: int | None = None
    period_start: date | None = None
    period_end: date | None = None

    @property
    def period(self) -> tuple[date, date] | None:
        if self.period_start is None or self.period_end is None:
            return None
        return self.period_start, self.period_end


@dataclass(frozen=True)
class Enrolment:
    """A provider in a study: its services and options."""

    study_id: str
    provider_id: str
    services: tuple[str, ...]
    phone_option: bool = False
    phone_interviews: int = 0  # interviews bought with the phone option
    group_variants: Mapping[str, str] = field(default_factory=dict)  # client group → variant
    sample_sizes: Mapping[str, int] = field(default_factory=dict)  # service → requested net sample
    recognition_date: date | None = None  # erkenningsdatum (jobcoach)
    period_start: date | None = None  # the provider's own measurement period, when it has one
    period_end: date | None = None

    @property
    def period(self) -> tuple[date, date] | None:
        if self.period_start is None or self.period_end is None:
            return None
        return self.period_start, self.period_end


@dataclass(frozen=True)
class SchemeFacts:
    """What enrolment and intake need to know of a scheme (None: a study without a scheme)."""

    active_services: frozenset[str]
    retired_services: frozenset[str]
    variants: frozenset[str]
    phone_offered: bool  # some respondent type may be phoned
    needs_recognition_date: bool  # the period runs from the provider's erkenningsdatum


def check_enrolment(enrolment: Enrolment, scheme: SchemeFacts | None) -> list[str]:
    """Problems with an enrolment's services and options (empty: acceptable), in Dutch / English."""
    problems: list[str] = []
    services = enrolment.services
    if len(set(services)) != len(services):
        problems.append("Een dienst staat er dubbel in / a service is listed twice")
    if any(not _SERVICE_CODE.match(code) for code in services):
        problems.append("Ongeldige dienstcode / invalid service code")
    if scheme is not None and scheme.active_services:
        retired = sorted(set(services) & scheme.retired_services)
        unknown = sorted(set(services) - scheme.active_services - scheme.retired_services)
        if retired:
            problems.append(f"Dienst bestaat niet meer / retired service: {', '.join(retired)}")
        if unknown:
            problems.append(
                f"Onbekende dienst in deze regeling / unknown service in this scheme: {', '.join(unknown)}"
            )
        if not services:
            problems.append("Kies ten minste één dienst / enrol in at least one service")
    elif scheme is not None and services:
        problems.append("Deze regeling kent geen diensten / this scheme has no services")
    elif scheme is None and not services:
        problems.append("Kies ten minste één dienst / enrol in at least one service")
    strata = set(services) if services else {WHOLE_PROVIDER}
    extra = sorted(set(enrolment.sample_sizes) - strata)
    if extra:
        problems.append(
            "Steekproefomvang voor een dienst buiten de inschrijving / "
            f"sample size for a service not enrolled: {', '.join(extra)}"
        )
    if any(n < 1 for n in enrolment.sample_sizes.values()):
        problems.append("Een steekproefomvang is ten minste 1 / a sample size is at least 1")
    for group, variant in enrolment.group_variants.items():
        if not _GROUP.match(group):
            problems.append("Ongeldige klantgroep / invalid client group name")
        elif scheme is not None and variant not in scheme.variants:
            problems.append(
                f"Onbekende vragenlijstvariant / unknown questionnaire variant for group {group}; "
                f"known: {', '.join(sorted(scheme.variants))}"
            )
    if enrolment.phone_interviews < 0:
        problems.append("Aantal interviews kan niet negatief zijn / phone interviews cannot be negative")
    if enrolment.phone_interviews and not enrolment.phone_option:
        problems.append(
            "Interviews ingekocht zonder telefonische optie / interviews bought without the phone option"
        )
    if enrolment.phone_option and scheme is not None and not scheme.phone_offered:
        problems.append("Deze regeling kent geen telefonische optie / this scheme has no phone option")
    needs_date = scheme is not None and scheme.needs_recognition_date
    if needs_date and enrolment.recognition_date is None:
        problems.append("Erkenningsdatum ontbreekt / recognition date missing")
    if not needs_date and enrolment.recognition_date is not None:
        problems.append(
            "Een erkenningsdatum hoort alleen bij een regeling met een meetperiode vanaf die datum / "
            "a recognition date only applies to a scheme whose period runs from it"
        )
    period = enrolment.period_start, enrolment.period_end
    if (period[0] is None) != (period[1] is None) or (
        period[0] is not None and period[1] is not None and period[0] > period[1]
    ):
        problems.append("Ongeldige meetperiode / invalid measurement period")
    return problems


def remaining_quotas(sample_sizes: Mapping[str, int], invited: Mapping[str, int]) -> dict[str, int]:
    """What is still needed per service: the requested size less the clients invited before."""
    return {service: max(0, size - invited.get(service, 0)) for service, size in sample_sizes.items()}


# --- reading files ------------------------------------------------------------------


def read_delivery(data: bytes | str, *, filename: str = "") -> DeliveryTable:
    """Read a CSV (UTF-8 or Windows-1252, comma, semicolon or tab) or XLSX delivery.

    The format is recognised by the content (an XLSX file is a ZIP archive), not the name.
    Raises :class:`DeliveryRefusedError` for a file that cannot be read at all.
    """
    if isinstance(data, str):
        return _read_csv(data)
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data)
    if data.startswith(b"\xd0\xcf\x11\xe0") or filename.lower().endswith(".xls"):
        raise DeliveryRefusedError(
            "Aanlevering geweigerd: het oude Excel-formaat (.xls) wordt niet gelezen; sla het bestand op "
            "als .xlsx of .csv. / Delivery refused: the old Excel format (.xls) is not read; save the "
            "file as .xlsx or .csv."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")  # Excel on Windows saves CSV in this code page
    return _read_csv(text)


def _read_csv(text: str) -> DeliveryTable:
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    header: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    try:
        for cells in reader:
            if header is None:
                header = cells
                continue
            stripped = [c.strip() for c in cells]
            if any(stripped):
                rows.append((reader.line_num, stripped))
    except csv.Error as exc:
        raise DeliveryRefusedError(
            f"Aanlevering geweigerd: het CSV-bestand is onleesbaar rond regel {reader.line_num}. / "
            f"Delivery refused: the CSV file cannot be read around line {reader.line_num}."
        ) from exc
    return DeliveryTable(header or [], rows, "csv")


def safe_file_name(name: str) -> str:
    """A delivered file's name as it may be stored: no folders, no control characters, no BSN."""
    name = _CONTROL.sub("", name.replace("\\", "/").rsplit("/", 1)[-1]).strip()[:200]
    return "" if contains_bsn(name) else name


def _sniff_delimiter(text: str) -> str:
    first_line = text.split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=lambda d: (counts[d], d == ","))


def _read_xlsx(data: bytes) -> DeliveryTable:
    """The first worksheet; its first row is the header."""
    import openpyxl  # only needed for XLSX deliveries

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # a damaged or foreign ZIP archive: openpyxl raises many kinds
        raise DeliveryRefusedError(
            "Aanlevering geweigerd: het XLSX-bestand is onleesbaar. / Delivery refused: the XLSX file "
            "cannot be read."
        ) from exc
    try:
        sheet = workbook.worksheets[0]
        header: list[str] | None = None
        rows: list[tuple[int, list[str]]] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_cell_text(v) for v in values]
            if header is None:
                header = cells
            elif any(cells):
                rows.append((number, cells))
    finally:
        workbook.close()
    while header and not header[-1]:
        header.pop()
    return DeliveryTable(header or [], rows, "xlsx")


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # 111222333.0 is the number 111222333 (and might be a BSN)
    return str(value).strip()


# --- BSN ------------------------------------------------------------------------------


def looks_like_bsn(value: str) -> bool:
    """Nine digits passing the 11-check (elfproef) of the burgerservicenummer."""
    digits = value.strip().replace(".", "").replace(" ", "").replace("-", "")
    if len(digits) != 9 or not digits.isdigit():
        return False
    weights = (9, 8, 7, 6, 5, 4, 3, 2, -1)
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=True))
    return total % 11 == 0 and digits != "000000000"


def contains_bsn(value: str) -> bool:
    """Whether a value is or holds a BSN: nine digits passing the 11-check, alone or grouped.

    ``111222333``, ``111 222 333``, ``111.222.333`` and ``jan111222333@example.nl`` all do;
    a phone number (ten digits) does not. One pass over the value: fast enough for every
    cell of every row.
    """
    for group in _DIGIT_GROUP.findall(value):
        if len(group) < 9:
            continue
        digits = group.replace(" ", "").replace(".", "").replace("-", "")
        if len(digits) == 9:
            if looks_like_bsn(digits):
                return True
        elif len(digits) != len(group) and any(
            len(run) == 9 and looks_like_bsn(run) for run in _DIGIT_RUN.findall(group)
        ):
            return True  # nine digits in a row inside a longer group: "1 111222333"
    return False


def _is_bsn_header(name: str) -> bool:
    compact = re.sub(r"[^a-z0-9]", "", name)
    tokens = set(re.split(r"[^a-z0-9]+", name))
    return (
        compact in BSN_COLUMN_NAMES
        or "bsn" in tokens
        or "burgerservicenummer" in compact
        or "sofinummer" in compact
        or compact.startswith("bsn")
        or compact.endswith("bsn")
        or contains_bsn(name)
    )


# --- checking a delivery ------------------------------------------------------------------


@dataclass(frozen=True)
class _Columns:
    """Where each canonical column is in the file, and the headers the check ignores."""

    index: dict[str, int]
    names: list[str]  # the header as delivered (normalised), for the row report
    ignored: list[str]


def _normalise_header(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lstrip("\ufeff").lower())


def map_columns(header: Sequence[str], rules: IntakeRules | None = None) -> _Columns:
    """Match the header to the known columns; refuse the file for a BSN column or missing ones."""
    rules = rules or IntakeRules()
    names = [_normalise_header(h) for h in header]
    bsn = [n for n in names if _is_bsn_header(n)]
    if bsn:
        shown = f"de kolom '{bsn[0]}'" if not contains_bsn(bsn[0]) else "een kolomkop"
        shown_en = f"column '{bsn[0]}'" if not contains_bsn(bsn[0]) else "a column header"
        raise DeliveryRefusedError(
            f"Aanlevering geweigerd: {shown} bevat burgerservicenummers; lever nooit een BSN aan. "
            f"Niets van dit bestand is opgeslagen. / Delivery refused: {shown_en} holds citizen service "
            "numbers (BSN), which must never be delivered. Nothing of this file was stored."
        )
    index: dict[str, int] = {}
    ignored: list[str] = []
    for position, name in enumerate(names):
        column = _CANONICAL.get(name)
        if (
            column is None
            or (column == "service" and not rules.service_required)
            or (column == "jobcoach_period" and not rules.jobcoach_periods)
        ):
            if name:
                ignored.append(name)
            continue
        if column in index:
            raise DeliveryRefusedError(
                f"Aanlevering geweigerd: de kolom '{column}' komt twee keer voor. / Delivery refused: "
                f"column '{column}' appears twice."
            )
        index[column] = position
    required = [c for c in REQUIRED_COLUMNS if c != "service" or rules.service_required]
    missing = [c for c in required if c not in index]
    if missing:
        raise DeliveryRefusedError(
            f"Aanlevering geweigerd: kolom(men) ontbreken: {', '.join(missing)}. / Delivery refused: "
            f"missing column(s): {', '.join(missing)}. Expected at least: {', '.join(required)}, and "
            "email, a postal address (street, house_number, postcode, city) or phone."
        )
    if not ("email" in index or "phone" in index or all(c in index for c in ADDRESS_COLUMNS)):
        raise DeliveryRefusedError(
            "Aanlevering geweigerd: geen contactgegevens: lever een kolom email, een volledig adres "
            "(street, house_number, postcode, city) of phone. / Delivery refused: no contact details: "
            "deliver an email column, a full postal address (street, house_number, postcode, city) or phone."
        )
    return _Columns(index, names, ignored)


def delivery_keys(
    table: DeliveryTable, rules: IntakeRules | None = None
) -> tuple[set[str], set[tuple[str, str]]]:
    """The client references and (email, service) pairs in a delivery, to look up earlier deliveries."""
    columns = map_columns(table.header, rules)
    ref_at, email_at = columns.index["client_ref"], columns.index.get("email")
    service_at = columns.index.get("service")
    refs: set[str] = set()
    pairs: set[tuple[str, str]] = set()
    for _, cells in table.rows:
        refs.add(_cell(cells, ref_at))
        email = normalised_email(_cell(cells, email_at))
        if email:
            pairs.add((email, _cell(cells, service_at) if service_at is not None else WHOLE_PROVIDER))
    refs.discard("")
    return refs, pairs


def _cell(cells: Sequence[str], position: int | None) -> str:
    if position is None or position >= len(cells):
        return ""
    return cells[position]


def check_delivery(
    source: str | DeliveryTable,
    *,
    rules: IntakeRules | None = None,
    known_client_refs: frozenset[str] | set[str] = frozenset(),
    known_email_services: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
) -> DeliveryCheck:
    """Validate a delivery; keep the good rows, report the bad ones by row and column.

    ``known_client_refs`` and ``known_email_services`` are what this provider delivered
    before in this study (monthly deliveries add up; a repeat is a duplicate). Raises
    :class:`DeliveryRefusedError` when the file as a whole is unacceptable.
    """
    rules = rules or IntakeRules()
    table = read_delivery(source) if isinstance(source, str) else source
    columns = map_columns(table.header, rules)
    result = DeliveryCheck(ignored_columns=columns.ignored, file_format=table.file_format)
    checker = _RowChecker(rules, columns, set(known_client_refs), set(known_email_services))
    for line, cells in table.rows:
        result.rows_total += 1
        contact, problems, bucket = checker.check(line, cells)
        if contact is not None:
            result.contacts.append(contact)
            continue
        result.problems.extend(problems)
        kinds = {p.kind for p in problems}
        outcome: Outcome = (
            "invalid"
            if "invalid" in kinds
            else "missing_essential_data"
            if "missing" in kinds
            else "duplicate"
        )
        result.rejected.append(RowOutcome(line, bucket[0], bucket[1], outcome))
    return result


class _RowChecker:
    """The per-row rules, with the duplicates seen so far."""

    def __init__(
        self, rules: IntakeRules, columns: _Columns, refs: set[str], email_services: set[tuple[str, str]]
    ) -> None:
        self.rules = rules
        self.columns = columns
        self.width = len(columns.names)
        self.variants: dict[tuple[str | None, str | None, str], str] = {}
        # Every known column's position; the ones the file lacks point past its last column.
        self.position = {c: columns.index.get(c, self.width) for c in COLUMN_ALIASES}
        self.refs = refs
        self.email_services = email_services
        # (jobcoach period, respondent type) of the rows accepted so far in this file.
        self.period_sides: set[tuple[str, str]] = set()
        self.default_type = rules.respondent_types[0]
        allowed = sorted(rules.services or (), key=lambda c: (len(c), c))
        self.allowed_text = ", ".join(allowed)

    def check(self, line: int, cells: list[str]) -> tuple[Contact | None, list[RowProblem], tuple[str, str]]:
        problems: list[RowProblem] = []

        def problem(column: str, nl: str, en: str, kind: ProblemKind = "invalid") -> None:
            problems.append(RowProblem(line, column, nl, en, kind))

        if contains_bsn("\x1f".join(cells)):  # one scan of the row; the columns only when needed
            for position, value in enumerate(cells):
                if contains_bsn(value):
                    # The value is never echoed back: a BSN must not end up in a report or a log.
                    column = self.columns.names[position] if position < len(self.columns.names) else ""
                    problem(
                        column or f"kolom {position + 1}",
                        "Lijkt op een BSN; rij niet opgeslagen",
                        "Looks like a BSN; row not stored",
                    )

        width = self.width
        row = cells[:width] if len(cells) >= width else cells + [""] * (width - len(cells))
        row.append("")  # where the columns the file lacks point
        at = self.position

        def get(column: str) -> str:
            return row[at[column]]

        ref = get("client_ref")
        if not ref:
            problem("client_ref", "Ontbreekt", "Missing", "missing")
        elif not _CLIENT_REF.match(ref):
            problem("client_ref", "Ongeldige tekens (toegestaan: A-Z a-z 0-9 _ . / -)", "Invalid characters")
        elif ref in self.refs:
            problem("client_ref", "Dubbel: al aangeleverd", "Duplicate: already delivered", "duplicate")

        service = self._service(get("service"), problem)
        respondent_type = self._respondent_type(get("respondent_type"), problem)

        name = get("name")
        for column, value in (("name", name), *((c, get(c)) for c in ("street", "city", "organisation"))):
            if _CONTROL.search(value):
                problem(column, "Bevat stuurtekens", "Contains control characters")
            elif len(value) > _MAX_TEXT:
                problem(column, f"Langer dan {_MAX_TEXT} tekens", f"Longer than {_MAX_TEXT} characters")

        email = normalised_email(get("email"))
        if email and not _EMAIL.match(email):
            problem("email", "Geen geldig e-mailadres", "Not a valid email address")
            email = ""
        phone = _phone(get("phone"))
        if get("phone") and phone is None:
            problem(
                "phone",
                "Geen geldig Nederlands telefoonnummer (06…, 0xx…, +31…)",
                "Not a valid Dutch phone number (06…, 0xx…, +31…)",
            )
        postcode = _postcode(get("postcode"))
        if get("postcode") and postcode is None:
            problem("postcode", "Geen geldige postcode (1234 AB)", "Not a valid Dutch postcode (1234 AB)")
        house_number = get("house_number")
        if house_number and not _HOUSE_NUMBER.match(house_number):
            problem("house_number", "Geen geldig huisnummer", "Not a valid house number")

        learning_profile = self._learning_profile(get("learning_profile"), problem)
        end_date = self._end_date(get("end_date"), problem)
        group = get("client_group").lower()
        key = (respondent_type, service, group)
        variant = self.variants.get(key)
        if variant is None:
            variant = self._variant(respondent_type, service, group, problem)
            if variant:
                self.variants[key] = variant
        if variant.endswith("/inburgering") and learning_profile is None and not get("learning_profile"):
            problem(
                "learning_profile",
                "Leerprofiel (1-4) ontbreekt; verplicht voor inburgeraars",
                "Learning profile (1-4) missing; required for inburgering clients",
                "missing",
            )
        jobcoach_period = self._jobcoach_period(get("jobcoach_period"), respondent_type, problem)
        organisation = get("organisation")
        if respondent_type in BUYER_TYPES and not organisation:
            problem(
                "organisation",
                "Organisatienaam ontbreekt; verplicht voor opdrachtgevers",
                "Organisation name missing; required for opdrachtgevers",
                "missing",
            )

        contact = Contact(
            client_ref=ref,
            name=name,
            email=email,
            service_code=service or "",
            respondent_type=respondent_type or "",
            row=line,
            phone=phone or "",
            street=get("street"),
            house_number=house_number,
            postcode=postcode or "",
            city=get("city"),
            organisation=organisation,
            client_group=group,
            variant=variant,
            learning_profile=learning_profile,
            end_date=end_date,
            jobcoach_period=jobcoach_period,
        )
        contact_columns = {"email", "phone", "street", "house_number", "postcode", "city"}
        if (
            respondent_type is not None
            and not self._reachable(contact, respondent_type)
            and not any(p.column in contact_columns for p in problems)  # already said what is wrong
        ):
            problem(*self._unreachable_message(respondent_type), "missing")
        if email and service and (email, service) in self.email_services:
            problem(
                "email",
                "Dubbel: dit e-mailadres is al aangeleverd voor deze dienst",
                "Duplicate: this email address was already delivered for this service",
                "duplicate",
            )
        bucket = (service or UNKNOWN, respondent_type or UNKNOWN)
        if problems:
            return None, problems, bucket
        self.refs.add(ref)
        if email:
            self.email_services.add((email, contact.service_code))
        if jobcoach_period:
            self.period_sides.add((jobcoach_period, contact.respondent_type))
        return contact, problems, bucket

    def _jobcoach_period(self, value: str, respondent_type: str | None, problem: Callable[..., None]) -> str:
        """The jobcoach period reference: like a client reference, one werknemer and one werkgever
        per period in a file."""
        if not value:
            return ""
        if not _CLIENT_REF.match(value):
            problem(
                "jobcoach_period",
                "Ongeldige tekens (toegestaan: A-Z a-z 0-9 _ . / -, hoogstens 64)",
                "Invalid characters (allowed: A-Z a-z 0-9 _ . / -, at most 64)",
            )
            return ""
        if respondent_type is not None and (value, respondent_type) in self.period_sides:
            problem(
                "jobcoach_period",
                f"Deze jobcoachperiode heeft in dit bestand al een {respondent_type}",
                f"This jobcoach period already has a {respondent_type} in this file",
            )
        return value

    def _service(self, code: str, problem: Callable[..., None]) -> str | None:
        rules = self.rules
        if not rules.service_required:
            return WHOLE_PROVIDER
        if not code:
            problem("service", "Ontbreekt", "Missing", "missing")
            return None
        if rules.services is None:
            if _SERVICE_CODE.match(code):
                return code
        elif code in rules.services:
            return code
        elif code in rules.retired_services:
            problem(
                "service",
                f"Dienst {code} bestaat niet meer en wordt niet onderzocht",
                f"Service {code} is retired and no longer surveyed",
            )
            return None
        problem(
            "service",
            f"Onbekende dienstcode; uw inschrijving kent: {self.allowed_text}",
            f"Unknown service code; your enrolment has: {self.allowed_text}",
        )
        return None

    def _respondent_type(self, value: str, problem: Callable[..., None]) -> str | None:
        """The scheme's respondent type for the row; the other side's words are understood."""
        value = value.lower()
        types = self.rules.respondent_types
        if not value:
            chosen: str | None = self.default_type
        elif value in types:
            chosen = value
        else:
            side_words = (
                _CLIENT_SIDE if value in _CLIENT_SIDE else BUYER_TYPES if value in BUYER_TYPES else None
            )
            chosen = next((t for t in types if side_words and t in side_words), None)
        if chosen is None:
            problem(
                "respondent_type",
                f"Moet een van deze zijn: {', '.join(types)}",
                f"Must be one of: {', '.join(types)}",
            )
            return None
        return chosen

    def _variant(
        self, respondent_type: str | None, service: str | None, group: str, problem: Callable[..., None]
    ) -> str:
        """The questionnaire variant: the dienst's own, else the client group's, else the regular one."""
        if respondent_type is None:
            return ""
        rules = self.rules

        def offered(variant: str) -> bool:
            return variant.split("/", 1)[0] == respondent_type and (
                not rules.variants or variant in rules.variants
            )

        own = rules.service_variants.get(service or "")
        if own is not None and offered(own):
            return own
        if group:
            group = _GROUP_ALIASES.get(group, group)
            mapped = rules.group_variants.get(group)
            candidates = [mapped] if mapped else [f"{respondent_type}/{group}", group]
            if _GROUP.match(group):
                for candidate in candidates:
                    if offered(candidate):
                        return candidate
            problem(
                "client_group",
                "Onbekende klantgroep voor dit soort respondent",
                "Unknown client group for this respondent type",
            )
            return ""
        if not rules.variants:
            return respondent_type
        for candidate in (f"{respondent_type}/regular", respondent_type):
            if candidate in rules.variants:
                return candidate
        problem(
            "respondent_type",
            "Het onderzoek heeft geen vragenlijst voor dit soort respondent",
            "The study has no questionnaire for this respondent type",
        )
        return ""

    def _learning_profile(self, value: str, problem: Callable[..., None]) -> int | None:
        if not value:
            return None
        match = _LEARNING_PROFILE.match(value)
        if match is None:
            problem(
                "learning_profile",
                "Leerprofiel moet 1, 2, 3 of 4 zijn",
                "Learning profile must be 1, 2, 3 or 4",
            )
            return None
        return int(match.group(1))

    def _end_date(self, value: str, problem: Callable[..., None]) -> date | None:
        if not value:
            return None
        parsed = parse_date(value)
        if parsed is None:
            problem(
                "end_date",
                "Geen geldige datum (JJJJ-MM-DD of DD-MM-JJJJ)",
                "Not a valid date (YYYY-MM-DD or DD-MM-YYYY)",
            )
            return None
        period = self.rules.period
        if period is not None and not period[0] <= parsed <= period[1]:
            first, last = (d.strftime("%d-%m-%Y") for d in period)
            problem(
                "end_date",
                f"Einddatum valt buiten de meetperiode ({first} t/m {last})",
                f"End date lies outside the measurement period ({first} to {last})",
            )
        return parsed

    def _reachable(self, contact: Contact, respondent_type: str) -> bool:
        modes = self.rules.modes.get(respondent_type, ("email", "post", "phone"))
        if contact.email and "email" in modes:
            return True
        if contact.has_full_address and "post" in modes:
            return True
        phoned = self.rules.phone_option or (
            contact.variant.endswith("/inburgering") and contact.learning_profile in (1, 2)
        )
        return bool(contact.phone) and "phone" in modes and phoned

    def _unreachable_message(self, respondent_type: str) -> tuple[str, str, str]:
        modes = self.rules.modes.get(respondent_type, ("email", "post", "phone"))
        nl, en = [], []
        if "email" in modes:
            nl.append("een e-mailadres")
            en.append("an email address")
        if "post" in modes:
            nl.append("een volledig adres (straat, huisnummer, postcode, plaats)")
            en.append("a full postal address (street, house number, postcode, city)")
        if "phone" in modes and self.rules.phone_option:
            nl.append("een telefoonnummer")
            en.append("a phone number")
        column = "email" if "email" in modes else "street"
        return (
            column,
            f"Niet te benaderen: lever {' of '.join(nl)}",
            f"Cannot be reached: deliver {' or '.join(en)}",
        )


def _phone(value: str) -> str | None:
    """A Dutch phone number in E.164 (+31…), or None when it is not one."""
    if not value:
        return None
    match = _PHONE_NL.match(_PHONE_SEPARATORS.sub("", value.replace("(0)", "")))
    return f"+31{match.group(1)}" if match else None


def _postcode(value: str) -> str | None:
    """A Dutch postcode as "1234 AB", or None when it is not one."""
    match = _POSTCODE.match(value.strip())
    if match is None:
        return None
    letters = match.group(2).upper()
    return None if letters in ("SA", "SD", "SS") else f"{match.group(1)} {letters}"


def parse_date(value: str) -> date | None:
    """YYYY-MM-DD (as Excel and ISO write it) or DD-MM-YYYY (Dutch, with -, / or .)."""
    iso = _DATE_ISO.match(value)
    nl = None if iso else _DATE_NL.match(value)
    try:
        if iso:
            return date(int(iso.group(1)), int(iso.group(2)), int(iso.group(3)))
        if nl:
            return date(int(nl.group(3)), int(nl.group(2)), int(nl.group(1)))
    except ValueError:
        return None
    return None


# --- sampling --------------------------------------------------------------------------


def sampling_seed(study_id: str, provider_id: str, delivery_id: uuid.UUID) -> bytes:
    """The seed of a delivery's sample: sha256 of study, provider and delivery id.

    With the delivery's stored rows, redrawing with this seed gives the same sample.
    """
    return hashlib.sha256(f"tevreden-sample/v1/{study_id}/{provider_id}/{delivery_id}".encode()).digest()


def draw_sample(
    units: Sequence[tuple[str, str, str]], quotas: Mapping[str, int], seed: bytes
) -> frozenset[str]:
    """Stratified sample: which of ``units`` (key, stratum, group) are kept.

    Each stratum (service) with a quota keeps ``min(quota, size)`` units; a stratum
    without a quota keeps all. Within a stratum the quota is allocated to its groups
    (client groups) in proportion to their size, by largest remainder, so the sample
    keeps the delivery's mix. Within a group the units with the lowest
    ``blake2b(key, key=seed)`` are kept: reproducible from the seed, independent of the
    order of the rows and of Python's random module.
    """
    by_stratum: dict[str, dict[str, list[str]]] = {}
    for key, stratum, group in units:
        by_stratum.setdefault(stratum, {}).setdefault(group, []).append(key)
    kept: set[str] = set()
    for stratum, groups in by_stratum.items():
        size = sum(len(keys) for keys in groups.values())
        quota = quotas.get(stratum)
        if quota is None or quota >= size:
            for keys in groups.values():
                kept.update(keys)
            continue
        for group, take in allocate(quota, {g: len(keys) for g, keys in groups.items()}).items():
            ranked = sorted(groups[group], key=lambda k: hashlib.blake2b(k.encode(), key=seed[:64]).digest())
            kept.update(ranked[:take])
    return frozenset(kept)


def allocate(total: int, sizes: Mapping[str, int]) -> dict[str, int]:
    """Proportional allocation of ``total`` over groups by largest remainder (Hamilton).

    Never more than a group's size; ties go to the larger group, then the group name.
    """
    population = sum(sizes.values())
    total = max(0, min(total, population))
    if population == 0:
        return {g: 0 for g in sizes}
    shares = {g: Fraction(total * n, population) for g, n in sizes.items()}
    taken = {g: int(s) for g, s in shares.items()}
    left = total - sum(taken.values())
    order = sorted(sizes, key=lambda g: (-(shares[g] - taken[g]), -sizes[g], g))
    for group in order:
        if left == 0:
            break
        if taken[group] < sizes[group]:
            taken[group] += 1
            left -= 1
    return taken


def sample_contacts(
    contacts: Sequence[Contact], quotas: Mapping[str, int], seed: bytes
) -> tuple[list[Contact], list[Contact]]:
    """Split accepted contacts into (invited, sampled out) with :func:`draw_sample`.

    Only clients (werknemers, employees) are sampled, stratified by service and within a
    service by questionnaire variant; opdrachtgevers and werkgevers are few and always invited.
    """
    units = [(c.client_ref, c.service_code, c.variant) for c in contacts if not c.is_buyer]
    kept = draw_sample(units, quotas, seed)
    invited = [c for c in contacts if c.is_buyer or c.client_ref in kept]
    sampled_out = [c for c in contacts if not c.is_buyer and c.client_ref not in kept]
    return invited, sampled_out


# --- gross → net sample accounting ----------------------------------------------------------


@dataclass
class ServiceAccount:
    """Gross to net sample for one service and respondent type in one delivery."""

    service_code: str
    respondent_type: str
    gross: int = 0  # rows delivered
    duplicates: int = 0
    missing_essential_data: int = 0
    invalid: int = 0
    sampled_out: int = 0
    accepted: int = 0  # invited: the delivery's contribution to the net sample


def account_delivery(check: DeliveryCheck, sampled_out: Sequence[Contact]) -> list[ServiceAccount]:
    """Count every row of a delivery once, per service × respondent type, by what became of it."""
    accounts: dict[tuple[str, str], ServiceAccount] = {}

    def bucket(service: str, respondent_type: str) -> ServiceAccount:
        key = (service, respondent_type)
        if key not in accounts:
            accounts[key] = ServiceAccount(service, respondent_type)
        return accounts[key]

    out = {c.client_ref for c in sampled_out}
    for contact in check.contacts:
        account = bucket(contact.service_code, contact.respondent_type)
        account.gross += 1
        if contact.client_ref in out:
            account.sampled_out += 1
        else:
            account.accepted += 1
    field_for = {
        "duplicate": "duplicates",
        "missing_essential_data": "missing_essential_data",
        "invalid": "invalid",
    }
    for rejected in check.rejected:
        account = bucket(rejected.service_code, rejected.respondent_type)
        account.gross += 1
        name = field_for[rejected.outcome]
        setattr(account, name, getattr(account, name) + 1)
    return [accounts[k] for k in sorted(accounts)]


# --- tokens ----------------------------------------------------------------------


def jobcoach_period_key(secret: bytes, study_id: str, provider_id: str, reference: str) -> str:
    """The pseudonymous key of a jobcoach period, as it travels in ``invitations.issued``.

    HMAC-SHA256 (keyed with the service's token secret) of study, provider and the provider's
    reference, truncated to 64 bits (16 hex digits): the same for the werknemer and the
    werkgever of one period, different between providers, and not reversible to the reference
    by anyone without the secret (so a reference that did hold a name never leaves this service).
    """
    message = f"tevreden-jobcoach-period/v1/{study_id}/{provider_id}/{reference}".encode()
    return hmac.digest(secret, message, "sha256").hex()[:16]


# --- email -----------------------------------------------------------------------


@dataclass(frozen=True)
class EmailAttempt:
    """One email to send: invitation (attempt 1) or reminder (herinnering, attempt ≥ 2)."""

    invitation_id: uuid.UUID
    attempt: int
    to: str
    name: str
    link: str


def message_id(invitation_id: uuid.UUID, attempt: int, domain: str = "tevreden.example") -> str:
    """Deterministic, so a resend after a crash is recognisable as the same message."""
    return f"<{invitation_id}.{attempt}@{domain}>"


def build_email(attempt: EmailAttempt, sender: str) -> EmailMessage:
    greeting = f"Beste {attempt.name}," if attempt.name else "Beste meneer, mevrouw,"
    if attempt.attempt == 1:
        subject = "Wat vond u van uw begeleiding? Geef uw mening"
        opening = "U heeft begeleiding gehad naar werk. Wij willen graag weten wat u daarvan vond."
    else:
        subject = "Herinnering: wat vond u van uw begeleiding?"
        opening = "Een tijdje geleden vroegen wij uw mening over uw begeleiding. Wilt u nog meedoen?"
    body = (
        f"{greeting}\n\n{opening}\n"
        "Het invullen duurt ongeveer 5 minuten. Uw antwoorden zijn anoniem.\n\n"
        f"Klik op deze link om te beginnen:\n{attempt.link}\n\n"
        "Met vriendelijke groet,\nHet onderzoeksbureau\n"
    )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = attempt.to
    message["Subject"] = subject
    message["Message-ID"] = message_id(attempt.invitation_id, attempt.attempt)
    message["List-Unsubscribe"] = f"<{attempt.link}/afmelden>"
    message.set_content(body)
    return message


# --- reminders -------------------------------------------------------------------

SmtpOutcome = Literal["sent", "retry", "undeliverable"]


def classify_smtp_code(code: int) -> SmtpOutcome:
    """2xx sent; 4xx (and timeouts, code 0) try again later; 5xx the address is unusable."""
    if 200 <= code < 300:
        return "sent"
    if code >= 500:
        return "undeliverable"
    return "retry"


def next_attempt_due_at(
    sent_at: datetime, attempts_made: int, *, max_reminders: int, reminder_after: timedelta
) -> datetime | None:
    """When the next reminder is due (reminder_due_at), or None when the plan is done."""
    if attempts_made > max_reminders:
        return None
    return sent_at + reminder_after


def normalised_email(address: str) -> str:
    """An email address as intake stores it (trimmed, lower case), to look a person up by it."""
    return address.strip().lower()
