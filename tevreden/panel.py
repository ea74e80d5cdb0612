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
PLACES = (
    "Utrecht",
    "Zwolle",
    "Tilburg",
    "Groningen",
    "Almere",
    "Leiden",
    "Breda",
    "Arnhem",
    "Enschede",
    "Delft",
    "Haarlem",
    "Venlo",
    "Assen",
    "Gouda",
    "Emmen",
    "Heerlen",
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
    people: list[Person] = field(default_factory=list)
    bad_rows: int = 0
    api_key: str = ""

    def service_codes(self) -> list[str]:
        """The diensten this provider delivers (its enrolment)."""
        return sorted({p.service_code for p in self.people} | {"3"}, key=lambda c: (len(c), c))

    def delivery_csv(self) -> str:
        """The provider's contact list, including a few rows a careless export gets wrong.

        Inburgeraars (dienst 11) carry their learning profile; 3 means they are emailed.
        """
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["client_ref", "name", "email", "service", "learning_profile"])
        for p in self.people:
            writer.writerow(
                [p.client_ref, p.name, p.email, p.service_code, "3" if p.service_code == "11" else ""]
            )
        for i in range(self.bad_rows):
            writer.writerow([f"{self.provider_id}-X{i}", "Onbekend", "geen-email", "3", ""])
        return out.getvalue()


def generate_panel(providers: int, contacts: int, seed: int) -> list[Provider]:
    rng = random.Random(seed)
    weights = [rng.lognormvariate(0, 0.7) for _ in range(providers)]
    sizes = [max(15, round(contacts * w / sum(weights))) for w in weights]
    panel = []
    for index, size in enumerate(sizes, start=1):
        provider_id = f"P{index:03d}"
        name = f"{rng.choice(KINDS)} {rng.choice(PLACES)}"
        provider = Provider(provider_id, name, bad_rows=rng.choice((0, 0, 1, 2)))
        propensity = rng.uniform(0.12, 0.55)  # share that answers at all
        mean_grade = rng.uniform(5.8, 8.8)
        for n in range(size):
            provider.people.append(_person(rng, provider_id, n, propensity, mean_grade))
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
