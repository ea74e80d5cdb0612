"""A simulated panel: providers, their contacts and how each person will answer.

Realistic and uneven: provider sizes are skewed, response propensity and
satisfaction differ per provider, and some people only answer after a reminder.
"""

from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, field
from datetime import datetime

from shared.events import AnswerValue
from shared.questionnaires import Questionnaire
from tevreden.sample_reports import answers_for

FIRST_NAMES = (
    "Anna",
    "Mohamed",
    "Sanne",
    "Daan",
    "Fatima",
    "Kevin",
    "Eva",
    "Youssef",
    "Lotte",
    "Bram",
    "Noor",
    "Jeroen",
    "Sevda",
    "Thijs",
    "Priya",
    "Kees",
    "Ilse",
    "Emre",
    "Mila",
    "Ruben",
)
LAST_NAMES = (
    "de Vries",
    "Jansen",
    "Bakker",
    "El Amrani",
    "Visser",
    "Smit",
    "Yilmaz",
    "de Jong",
    "Mulder",
    "Bos",
    "Kaya",
    "van Dijk",
    "Hendriks",
    "Peters",
    "Dekker",
    "Meijer",
)
# Places with a postcode area in each (four digits): clients live around their provider's place,
# and the postcode tells the reports which province they come from.
PLACES = {
    "Utrecht": "3511",
    "Zwolle": "8011",
    "Tilburg": "5038",
    "Groningen": "9711",
    "Almere": "1315",
    "Leiden": "2311",
    "Breda": "4811",
    "Arnhem": "6811",
    "Enschede": "7511",
    "Delft": "2611",
    "Haarlem": "2011",
    "Venlo": "5911",
    "Assen": "9401",
    "Gouda": "2801",
    "Emmen": "7811",
    "Heerlen": "6411",
}
# Opdrachtgevers: the organisations that bought a provider's service (gemeente, UWV, employer).
BUYERS = (
    "Gemeente Utrecht",
    "Gemeente Zwolle",
    "Gemeente Tilburg",
    "UWV Werkbedrijf",
    "Gemeente Almere",
    "Bouwbedrijf Jansen BV",
    "Zorggroep Noord",
    "Transport Smit BV",
    "Gemeente Arnhem",
    "Schoonmaak Delta BV",
)
POSTCODE_LETTERS = "BCEFGHJKLMNPRTVWXZ"  # no S or A: SA, SD and SS are never issued
DELIVERY_COLUMNS = (
    *("client_ref", "name", "email", "service", "learning_profile"),
    *("respondent_type", "organisation", "postcode", "city"),
)
KINDS = ("Re-integratie", "Werkt", "Jobcoaching", "Loopbaan", "Perspectief", "Aan de Slag")
# Blik op Werk diensten the panel draws from (codes as in the scheme; 12 is retired).
SERVICE_CODES = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "13")


@dataclass
class Person:
    client_ref: str
    name: str
    email: str
    service_code: str
    answers_at_attempt: int | None  # 1 = after the invitation, 2 = after the reminder, None = never
    grade: int
    recommend: str
    answered: bool = False
    answered_at: datetime | None = None  # when the last page was submitted
    respondent_type: str = "client"  # or "opdrachtgever"
    organisation: str = ""  # the opdrachtgever's organisation
    postcode: str = ""
    city: str = ""

    def answers(self, questionnaire: Questionnaire) -> dict[str, AnswerValue]:
        """Everything this person answers on ``questionnaire``: a complete, routed set drawn as
        the report samples are (tevreden/sample_reports.py), in a mood that goes with their
        grade, and the grade itself (the demo's self-check recomputes means from it)."""
        rng = random.Random(self.client_ref)
        answers = answers_for(questionnaire, rng, mood=(self.grade - 1) / 9)
        if any(q.id == "grade" for q in questionnaire.questions):
            answers["grade"] = self.grade
        if any(q.id == "recommend" for q in questionnaire.questions):
            answers["recommend"] = self.recommend
        return answers


@dataclass
class Provider:
    provider_id: str
    name: str
    place: str = "Utrecht"
    people: list[Person] = field(default_factory=list)  # its clients
    opdrachtgevers: list[Person] = field(default_factory=list)
    bad_rows: int = 0
    api_key: str = ""

    def service_codes(self) -> list[str]:
        """The diensten this provider delivers (its enrolment)."""
        return sorted({p.service_code for p in self.people} | {"3"}, key=lambda c: (len(c), c))

    def delivery_csv(self) -> str:
        """The provider's contact list, including a few rows a careless export gets wrong.

        Inburgeraars (dienst 11) carry their learning profile; 3 means they are emailed.
        Opdrachtgevers come in the same file with their organisation.
        """
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(DELIVERY_COLUMNS)
        for p in [*self.people, *self.opdrachtgevers]:
            profile = "3" if p.service_code == "11" else ""
            row = (p.client_ref, p.name, p.email, p.service_code, profile, p.respondent_type, p.organisation)
            writer.writerow([*row, p.postcode, p.city])
        for i in range(self.bad_rows):
            bad = [f"{self.provider_id}-X{i}", "Onbekend", "geen-email", "3", "", "client"]
            writer.writerow(bad + [""] * (len(DELIVERY_COLUMNS) - len(bad)))
        return out.getvalue()


def generate_panel(
    providers: int, contacts: int, seed: int, with_opdrachtgevers: bool = False
) -> list[Provider]:
    """``contacts`` clients spread over ``providers``; with ``with_opdrachtgevers`` each provider
    also has two to six opdrachtgevers (drawn apart, so the clients are the same either way)."""
    rng = random.Random(seed)
    buyers_rng = random.Random(f"{seed}-opdrachtgevers")
    weights = [rng.lognormvariate(0, 0.7) for _ in range(providers)]
    sizes = [max(15, round(contacts * w / sum(weights))) for w in weights]
    panel = []
    for index, size in enumerate(sizes, start=1):
        provider_id = f"P{index:03d}"
        place = rng.choice(tuple(PLACES))
        name = f"{rng.choice(KINDS)} {place}"
        provider = Provider(provider_id, name, place, bad_rows=rng.choice((0, 0, 1, 2)))
        propensity = rng.uniform(0.12, 0.55)  # share that answers at all
        mean_grade = rng.uniform(5.8, 8.8)
        for n in range(size):
            provider.people.append(_lives_near(_person(rng, provider_id, n, propensity, mean_grade), place))
        if with_opdrachtgevers:
            provider.opdrachtgevers = _opdrachtgevers(buyers_rng, provider)
        panel.append(provider)
    return panel


def _person(rng: random.Random, provider_id: str, n: int, propensity: float, mean_grade: float) -> Person:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    answers_at: int | None = None
    if rng.random() < propensity:
        answers_at = 1 if rng.random() < 0.65 else 2  # a third answer only after the reminder
    grade = min(10, max(1, round(rng.gauss(mean_grade, 1.4))))
    recommend = "ja" if rng.random() < (grade - 3) / 7 else "nee"
    return Person(
        client_ref=f"{provider_id}-{n:05d}",
        name=f"{first} {last}",
        email=f"{provider_id.lower()}.{n:05d}@panel.example",
        service_code=rng.choice(SERVICE_CODES),
        answers_at_attempt=answers_at,
        grade=grade,
        recommend=recommend,
    )


def _lives_near(person: Person, place: str) -> Person:
    """Most clients live in their provider's place, some elsewhere (drawn from their own
    reference, so the rest of the panel does not change with it)."""
    rng = random.Random(person.client_ref)
    person.city = place if rng.random() < 0.8 else rng.choice(tuple(PLACES))
    letters = "".join(rng.choice(POSTCODE_LETTERS) for _ in range(2))
    person.postcode = f"{PLACES[person.city]} {letters}"
    return person


def _opdrachtgevers(rng: random.Random, provider: Provider) -> list[Person]:
    """Organisations answer more often than clients, only by email, and some with a decimal grade."""
    services = sorted({p.service_code for p in provider.people})
    buyers = []
    for n, organisation in enumerate(rng.sample(BUYERS, rng.randint(2, 6))):
        person = _person(rng, provider.provider_id, n, propensity=0.75, mean_grade=7.2)
        person.client_ref = f"{provider.provider_id}-OG{n:02d}"
        person.email = f"{provider.provider_id.lower()}.og{n:02d}@panel.example"
        person.service_code = rng.choice(services)
        person.respondent_type = "opdrachtgever"
        person.organisation = organisation
        buyers.append(person)
    return buyers
