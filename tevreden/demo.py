"""``tevreden demo``: a realistic panel through the whole pipeline, checked at the end.

Starts the local infrastructure and the four services, delivers every provider's
contact list over the provider API, lets simulated respondents read their email
from the SMTP server and answer on the real questionnaire pages (some only after
the reminder), waits until the scores settle, and prints a summary per provider
that it checks against what the simulated respondents answered.
"""

from __future__ import annotations

import asyncio
import csv
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.questionnaires import load_questionnaire
from tevreden.callcentre_sim import CALLCENTRE_KEY, CallcentreSim
from tevreden.callcentre_sim import PROVIDER_ID as CALLCENTRE_PROVIDER
from tevreden.demo_reports import produce_reports
from tevreden.panel import Person, Provider, generate_panel
from tevreden.stack import LocalStack, local_stack

STUDY_ID = "bow-2026"
LINK = re.compile(r"(http://\S+/q/[A-Za-z0-9_-]+)")
# The neutral page for a link the responses service does not (yet) know.
UNAVAILABLE = "Deze vragenlijst is niet beschikbaar"
LINK_OPENS_WITHIN_SECONDS = 60.0
FIELD = re.compile(r'<(?:input|textarea|select)[^>]*\bname="([^"]+)"')
# The scheme gives each person their questionnaire (shared/config/schemes/bow.yaml): clients the
# regular one (fig. 3.1–3.19 of the report), inburgeraars (dienst 11) theirs, opdrachtgevers
# theirs (fig. 4.1–4.7).
QUESTIONNAIRES = {
    "client": load_questionnaire("bow-client-regular"),
    "inburgering": load_questionnaire("bow-client-inburgering"),
    "opdrachtgever": load_questionnaire("bow-opdrachtgever"),
}


@dataclass(frozen=True)
class DemoConfig:
    output: Path = Path("demo-output")
    providers: int = 24
    contacts: int = 2400
    seed: int = 2026
    reminder_after_seconds: float = 6.0
    timeout_seconds: float = 1800.0  # a limit, not the run time (pages take long on a loaded machine)
    keep: bool = False  # leave everything running afterwards, with the portal, until Ctrl-C
    # Where to say where the services listen while they run (tevreden status reads it).
    stack_file: Path | None = None


@dataclass
class ProviderFigures:
    provider_id: str
    net_sample: int
    completed: int
    response_rate: float | None
    mean_grade: float | None


def all_providers(figures: list[ProviderFigures]) -> ProviderFigures:
    """The study as a whole: every provider's clients together (the mean of all their grades,
    not of the providers' means)."""
    net = sum(f.net_sample for f in figures)
    completed = sum(f.completed for f in figures)
    graded = [f for f in figures if f.mean_grade is not None and f.completed]
    weight = sum(f.completed for f in graded)
    mean = (
        sum(f.mean_grade * f.completed for f in graded if f.mean_grade is not None) / weight
        if weight
        else None
    )
    return ProviderFigures("All", net, completed, completed / net if net else None, mean)


@dataclass
class DemoResult:
    figures: list[ProviderFigures]
    expected: list[ProviderFigures]
    mismatches: list[str]
    reminded_after_answering: int
    emails: int
    report_dir: Path
    problems_reported: int = 0
    seconds: float = 0.0
    opdrachtgevers_answered: int = 0

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.reminded_after_answering == 0


@dataclass
class _Simulation:
    people_by_email: dict[str, Person]
    handled_messages: set[str] = field(default_factory=set)
    reminders_to_answered: int = 0
    answered: int = 0
    readers: set[str] = field(default_factory=set)  # who has read at least one email
    # How long after a submission a reminder may still be on its way: the invitations service
    # learns of the answer through the broker, so one reminder interval of lag is fair.
    grace: timedelta = timedelta(seconds=6)


def run_demo_cli(config: DemoConfig) -> int:
    console = Console()
    console.print(f"[bold]Tevreden demo[/]: {config.providers} providers, ~{config.contacts} contacts")
    result = run_demo(config, console=console)
    return 0 if result.ok else 1


def run_demo(config: DemoConfig, console: Console | None = None) -> DemoResult:
    """The demo; with ``config.keep`` everything keeps running afterwards, with the portal, until
    Ctrl-C (or SIGTERM)."""
    console = console or Console(quiet=True)
    config.output.mkdir(parents=True, exist_ok=True)
    panel = generate_panel(config.providers, config.contacts, config.seed, with_opdrachtgevers=True)
    started = time.monotonic()
    with console.status("Starting PostgreSQL, the broker, the SMTP server and four services…"):
        stack_cm = local_stack(
            report_dir=config.output / "reports",
            workdir=config.output / "logs",
            announce_to=config.stack_file,
            settings={
                "TEVREDEN_REMINDER_AFTER_SECONDS": str(config.reminder_after_seconds),
                # The scheme's wave plan in demo time: the 7-day email reminder takes as long as
                # the reminder above; letters and calls follow at the same pace, at any hour.
                "TEVREDEN_WAVE_DAY_SECONDS": str(config.reminder_after_seconds / 7),
                "TEVREDEN_CALLING_HOURS_APPLY": "false",
                "TEVREDEN_CALLCENTRE_API_KEY": CALLCENTRE_KEY,
                "TEVREDEN_EMAIL_RATE_PER_SECOND": "0",
                "TEVREDEN_LETTER_DIR": str((config.output / "letters").resolve()),
            },
        )
        stack = stack_cm.__enter__()
    try:
        result = asyncio.run(_drive(stack, panel, config, console))
        result.seconds = time.monotonic() - started
        _write_summary_csv(config.output / "summary.csv", result.figures)
        _print_summary(console, result)
        if config.keep:
            from tevreden.portal_admin import keep_running

            keep_running(stack, "bureau@tevreden.example", console)
    finally:
        stack_cm.__exit__(None, None, None)
    return result


async def _drive(
    stack: LocalStack, panel: list[Provider], config: DemoConfig, console: Console
) -> DemoResult:
    sim = _Simulation(
        {p.email: p for provider in panel for p in [*provider.people, *provider.opdrachtgevers]},
        grace=timedelta(seconds=config.reminder_after_seconds),
    )
    planned = sum(1 for person in sim.people_by_email.values() if person.answers_at_attempt)
    reminders_expected = sum(1 for person in sim.people_by_email.values() if person.answers_at_attempt != 1)
    # Idle connections are dropped before the server's keep-alive (5 s) can close them
    # under a request in flight, as a browser does.
    limits = httpx.Limits(max_connections=32, keepalive_expiry=1.0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as http:
        with _progress(console) as progress:
            deliver = progress.add_task("Contact lists delivered", total=len(panel))
            problems = await _deliver_all(http, stack, panel, lambda: progress.advance(deliver))
            callcentre = CallcentreSim(
                f"{STUDY_ID}-telefonie",
                stack.url("invitations"),
                stack.url("responses"),
                stack.url("reporting"),
                stack.admin_api_key,
            )
            await callcentre.enrol_and_deliver(http)
            calls = progress.add_task(
                "Letters and calls (mail house, callcentre)", total=callcentre.expected_calls
            )
            readers = progress.add_task("People who read their email", total=len(sim.people_by_email))
            answers = progress.add_task("Answered on the web (all respondents)", total=planned)
            settle = progress.add_task("Scores settled (providers)", total=len(panel))
            deadline = time.monotonic() + config.timeout_seconds
            expected = _expected_figures(panel)
            figures: list[ProviderFigures] = []
            while time.monotonic() < deadline:
                await _answer_new_mail(http, stack, sim)
                await callcentre.step(http)
                progress.update(calls, completed=callcentre.calls_made)
                progress.update(readers, completed=len(sim.readers))
                progress.update(answers, completed=sim.answered)
                figures = await _fetch_figures(http, stack)
                settled = _settled(figures, expected)
                progress.update(settle, completed=settled)
                if (
                    callcentre.settled
                    and settled == len(panel)
                    and len(sim.handled_messages) >= len(sim.people_by_email) + reminders_expected
                    and await _opdrachtgevers_scored(http, stack, panel)
                ):
                    break
                await asyncio.sleep(0.3)
            # Issue 7: close fieldwork and write the reports of every kind (tevreden/demo_reports.py).
            writing = progress.add_task("Reports written (draft, every kind)", total=None)
            pdfs = await produce_reports(
                http, stack, STUDY_ID, bow_provider_names={p.provider_id: p.name for p in panel}
            )
            progress.update(writing, total=len(pdfs), completed=len(pdfs))
            console.print(
                f"Study {callcentre.study_id}, {CALLCENTRE_PROVIDER} (email, letters, phone): net sample "
                f"{callcentre.net_sample}, completed {callcentre.completed}. "
                f"Mail house and callcentre: {callcentre.letters_seen} letters printed, "
                f"{callcentre.returned} returned, {callcentre.calls_made} calls, "
                f"{callcentre.interviews} phone interviews "
                f"(letters in {config.output / 'letters'})"
            )
    return DemoResult(
        figures=figures,
        expected=expected,
        mismatches=_compare(figures, expected),
        reminded_after_answering=sim.reminders_to_answered,
        emails=len(sim.handled_messages),
        report_dir=stack.report_dir,
        problems_reported=problems,
        opdrachtgevers_answered=sum(
            1 for p in sim.people_by_email.values() if p.answered and p.respondent_type == "opdrachtgever"
        ),
    )


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


async def register_and_deliver(
    http: httpx.AsyncClient, base: str, admin: dict[str, str], study_id: str, provider: Provider
) -> list[dict[str, Any]]:
    """Register the provider and enrol it (admin), then it delivers its CSV with its own key;
    the problems of the row report."""
    created = await http.post(
        f"{base}/api/providers",
        json={"provider_id": provider.provider_id, "name": provider.name},
        headers=admin,
    )
    created.raise_for_status()
    provider.api_key = created.json()["api_key"]
    enrolment = {"provider_id": provider.provider_id, "services": provider.service_codes()}
    (
        await http.post(f"{base}/api/studies/{study_id}/enrolments", json=enrolment, headers=admin)
    ).raise_for_status()
    receipt = await http.post(
        f"{base}/api/studies/{study_id}/deliveries",
        content=provider.delivery_csv().encode(),
        headers={"X-API-Key": provider.api_key, "Content-Type": "text/csv"},
    )
    receipt.raise_for_status()
    problems: list[dict[str, Any]] = receipt.json()["problems"]
    return problems


async def _deliver_all(
    http: httpx.AsyncClient, stack: LocalStack, panel: list[Provider], advance: Callable[[], None]
) -> int:
    """Register the study, the providers and their enrolments (admin), then each provider
    delivers its CSV.

    The study runs under the Blik op Werk scheme: its diensten, period and rules check the
    deliveries, and it gives each person the questionnaire of their respondent type and dienst.
    """
    base = stack.url("invitations")
    admin = {"X-API-Key": stack.admin_api_key}
    study = {
        "study_id": STUDY_ID,
        "name": "Blik op Werk 2026",
        "scheme_id": "bow",
        "year": 2026,
    }
    (await http.post(f"{base}/api/studies", json=study, headers=admin)).raise_for_status()
    problems = 0
    for provider in panel:
        problems += len(await register_and_deliver(http, base, admin, STUDY_ID, provider))
        advance()
    return problems


async def _answer_new_mail(http: httpx.AsyncClient, stack: LocalStack, sim: _Simulation) -> None:
    """Each simulated person reads new mail and answers when they mean to."""
    new = [
        m
        for m in stack.infra.smtp.messages
        if m.message["Message-ID"] not in sim.handled_messages and m.message["To"] in sim.people_by_email
    ]
    semaphore = asyncio.Semaphore(16)

    async def handle(mail: Any) -> None:
        async with semaphore:
            await _read_one(http, sim, mail)

    await asyncio.gather(*(handle(m) for m in new))


async def _read_one(http: httpx.AsyncClient, sim: _Simulation, mail: Any) -> None:
    message = mail.message
    person = sim.people_by_email[str(message["To"])]
    attempt = int(str(message["Message-ID"]).split(".")[1].split("@")[0])
    # A reminder counts against the service only when it was sent after the questionnaire was
    # submitted (and the grace for the broker's lag): one sent while the person was still filling
    # in the pages is fair.
    if person.answered_at is not None and attempt > 1 and mail.received_at > person.answered_at + sim.grace:
        sim.reminders_to_answered += 1
    if person.answers_at_attempt == attempt and not person.answered:
        body = message.get_body(("plain",)).get_content()
        await _answer(http, LINK.search(body).group(1), person)  # type: ignore[union-attr]
        person.answered = True
        person.answered_at = datetime.now(UTC)
        sim.answered += 1
    sim.handled_messages.add(message["Message-ID"])
    sim.readers.add(person.email)


async def _answer(http: httpx.AsyncClient, link: str, person: Person) -> None:
    """Fill in the real questionnaire page by page, as a person with a browser would: each page
    posts the answers to the questions on it (routing decides which pages come)."""
    questionnaire = QUESTIONNAIRES[_variant(person)]
    answers = person.answers(questionnaire)
    page = await _open_link(http, link)
    for _ in range(len(questionnaire.questions) + 2):  # a page holds at least one question
        if page.status_code == 422:
            errors = re.findall(r'<span id="e-([^"]+)">([^<]*)</span>', page.text)
            raise AssertionError(f"the questionnaire refused {person.client_ref}'s answers: {errors}")
        page.raise_for_status()
        if "Bedankt" in page.text:
            return
        page = await _submit_page(http, link, page.text, answers)
    raise AssertionError(f"the questionnaire at {link} did not end")


async def _open_link(http: httpx.AsyncClient, link: str) -> httpx.Response:
    """The questionnaire behind a new link, as a person who tries again a moment later would.

    The email and the responses service's knowledge of its link travel separately (the
    mailer and the ``invitations.issued`` consumer), so on a loaded machine the email can
    arrive before the link opens: the neutral "niet beschikbaar" page then shows.
    """
    deadline = time.monotonic() + LINK_OPENS_WITHIN_SECONDS
    while True:
        page = await http.get(link)
        if UNAVAILABLE not in page.text or time.monotonic() > deadline:
            return page
        await asyncio.sleep(0.5)


async def _submit_page(
    http: httpx.AsyncClient, link: str, html: str, answers: dict[str, Any]
) -> httpx.Response:
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert csrf is not None, "questionnaire page without a CSRF token"
    form: dict[str, str | list[str]] = {"csrf": csrf.group(1), "action": "next"}
    number = re.search(r'name="page" value="([^"]*)"', html)
    if number:
        form["page"] = number.group(1)
    for name in dict.fromkeys(FIELD.findall(html)):  # each question once, in page order
        value = answers.get(name)
        if value is not None and name not in form:
            form[name] = [_typed(v) for v in value] if isinstance(value, list) else _typed(value)
    done = await http.post(link, data=form)
    if done.status_code == 303:
        return await http.get(link)
    return done


def _variant(person: Person) -> str:
    if person.respondent_type == "client" and person.service_code == "11":
        return "inburgering"
    return person.respondent_type


def _typed(value: object) -> str:
    """A value as a person types it: a decimal grade with a comma (7,5), as the form expects."""
    return str(value).replace(".", ",") if isinstance(value, float) else str(value)


async def _fetch_figures(http: httpx.AsyncClient, stack: LocalStack) -> list[ProviderFigures]:
    response = await http.get(
        f"{stack.url('reporting')}/api/studies/{STUDY_ID}/summary", headers={"X-API-Key": stack.admin_api_key}
    )
    if response.status_code != 200:
        return []
    return [
        ProviderFigures(
            provider_id=row["provider_id"],
            net_sample=row["net_sample"],
            completed=row["completed"],
            response_rate=row["response_rate"],
            mean_grade=row["mean_grade"],
        )
        for row in response.json()
    ]


async def _opdrachtgevers_scored(http: httpx.AsyncClient, stack: LocalStack, panel: list[Provider]) -> bool:
    """True when scoring counts every opdrachtgever who answered (chapter 4 of the reports);
    the summary's headline figures are the clients'."""
    response = await http.get(
        f"{stack.url('scoring')}/api/studies/{STUDY_ID}/scores", headers={"X-API-Key": stack.admin_api_key}
    )
    if response.status_code != 200:
        return False
    counted = {
        s["provider_id"]: sum(t["completed"] for t in s["totals"] if t["respondent_type"] == "opdrachtgever")
        for s in response.json()
    }
    return all(
        counted.get(p.provider_id, 0) == sum(1 for b in p.opdrachtgevers if b.answers_at_attempt)
        for p in panel
    )


def _expected_figures(panel: list[Provider]) -> list[ProviderFigures]:
    """What the simulated clients will have answered (the headline figures), computed independently."""
    expected = []
    for provider in panel:
        grades = [p.grade for p in provider.people if p.answers_at_attempt]
        net = len(provider.people)
        expected.append(
            ProviderFigures(
                provider.provider_id,
                net,
                len(grades),
                len(grades) / net if net else None,
                sum(grades) / len(grades) if grades else None,
            )
        )
    return expected


def _settled(figures: list[ProviderFigures], expected: list[ProviderFigures]) -> int:
    by_id = {f.provider_id: f for f in figures}
    return sum(
        1
        for e in expected
        if e.provider_id in by_id
        and (by_id[e.provider_id].net_sample, by_id[e.provider_id].completed) == (e.net_sample, e.completed)
    )


def _compare(figures: list[ProviderFigures], expected: list[ProviderFigures]) -> list[str]:
    by_id = {f.provider_id: f for f in figures}
    mismatches = []
    for e in expected:
        got = by_id.get(e.provider_id)
        if got is None:
            mismatches.append(f"{e.provider_id}: no figures")
            continue
        for name in ("net_sample", "completed", "response_rate", "mean_grade"):
            want, have = getattr(e, name), getattr(got, name)
            if not _same(want, have):
                mismatches.append(f"{e.provider_id}: {name} is {have}, simulated respondents give {want}")
    return mismatches


def _same(a: float | int | None, b: float | int | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(a - b) < 1e-9


def _write_summary_csv(path: Path, figures: list[ProviderFigures]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["provider_id", "net_sample", "completed", "response_rate", "mean_grade"])
        for row in figures:
            writer.writerow(
                [row.provider_id, row.net_sample, row.completed, row.response_rate, row.mean_grade]
            )


def _print_summary(console: Console, result: DemoResult) -> None:
    table = Table(title=f"Study {STUDY_ID}: clients' figures per provider (reports in {result.report_dir})")
    for column in ("Provider", "Net sample", "Completed", "Response %", "Mean grade"):
        table.add_column(column, justify="right" if column != "Provider" else "left")
    ordered = sorted(result.figures, key=lambda f: f.provider_id)
    for index, f in enumerate([*ordered, all_providers(result.figures)]):
        if index == len(ordered):
            table.add_section()
        table.add_row(
            f.provider_id,
            str(f.net_sample),
            str(f.completed),
            f"{f.response_rate * 100:.1f}" if f.response_rate is not None else "–",
            f"{f.mean_grade:.2f}" if f.mean_grade is not None else "–",
        )
    console.print(table)
    console.print(
        "Net sample: clients invited, less those no mode could reach. Completed: clients who "
        "answered, the reports' headline figures. Response %: completed of the net sample. All: "
        "every provider's clients together (the mean of all their grades). "
        f"{result.opdrachtgevers_answered} opdrachtgevers answered too (chapter 4 of the reports): "
        "'Answered on the web' above counts them, this table does not.",
        style="dim",
    )
    console.print(
        f"{result.emails} emails read, {result.problems_reported} bad rows reported back to providers, "
        f"{result.seconds:.0f} s in all."
    )
    if result.ok:
        console.print(
            "[bold green]✓ Every figure matches what the simulated respondents answered, "
            "and nobody who answered was reminded.[/]"
        )
    else:
        for line in result.mismatches[:20]:
            console.print(f"[red]✗ {line}[/]")
        if result.reminded_after_answering:
            console.print(
                f"[red]✗ {result.reminded_after_answering} reminders went to people who had answered[/]"
            )
