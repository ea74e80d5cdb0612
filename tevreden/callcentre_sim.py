"""The demo's post and phone side: a provider with the phone option, a mail house and a callcentre.

One extra provider delivers people the email wave cannot finish on its own: some with an email
address who never answer (after the reminder the callcentre phones them), some with only a
postal address and a phone number (two letters, then calls), a letter that comes back
(returned-mail import), and inburgering clients with learning profile 2 (phoned first). The
simulated mail house reads each wave's manifest; the simulated callcentre works through the
real callcentre API (``POST /api/calls/next``, ``POST /api/calls/{task}/outcome``) and enters
completed interviews at the responses service (``POST /api/interviews``).
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

PROVIDER_ID = "P900"
PROVIDER_NAME = "Perspectief Callcentre-demo"
CALLCENTRE_KEY = "demo-callcentre-key"
AGENTS = ("agent-01", "agent-02")


async def _request(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A request, tried again on a dropped connection (a busy machine resets some); every call
    here is safe to repeat (a recorded outcome answers 409, a stored interview 200)."""
    for attempt in range(4):
        try:
            return await http.request(method, url, **kwargs)
        except httpx.TransportError:
            if attempt == 3:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


@dataclass
class _Person:
    ref: str
    name: str
    email: str = ""
    phone: str = ""
    address: tuple[str, str, str, str] = ("", "", "", "")
    service: str = "3"
    learning_profile: str = ""
    # What happens on the phone, call by call (the last one repeats).
    calls: tuple[str, ...] = ("complete",)
    grade: int = 7


def _people() -> list[_Person]:
    street = ("Kerkstraat", "12", "8011 AB", "Zwolle")
    people = [
        _Person("E1", "Sevda Kaya", email="sevda.kaya@callcentre-demo.example", phone="0612300001"),
        _Person(
            "E2",
            "Kees Bakker",
            email="kees.bakker@callcentre-demo.example",
            phone="0612300002",
            calls=("no_answer", "complete"),
            grade=8,
        ),
        _Person(
            "E3",
            "Ilse de Jong",
            email="ilse.dejong@callcentre-demo.example",
            phone="0612300003",
            calls=("refusal",),
        ),
        _Person(
            "L1",
            "Daan Visser",
            phone="0612300004",
            address=street,
            calls=("appointment", "complete"),
            grade=9,
        ),
        _Person(
            "L2",
            "Noor Smit",
            phone="0612300005",
            address=("Laan", "3", "8012 CD", "Zwolle"),
            calls=("busy", "answering_machine", "complete"),
            grade=6,
        ),
        _Person("R1", "Retour Onbekend", address=("Dorpsweg", "99", "8013 EF", "Zwolle")),
        _Person("I1", "Youssef El Amrani", phone="0612300007", service="11", learning_profile="2", grade=8),
        _Person(
            "I2",
            "Priya Hendriks",
            phone="0612300008",
            service="11",
            learning_profile="1",
            calls=("language_barrier",),
        ),
    ]
    return people


@dataclass
class CallcentreSim:
    study_id: str
    invitations_url: str
    responses_url: str
    reporting_url: str
    admin_key: str
    people: list[_Person] = field(default_factory=_people)
    calls_made: int = 0
    interviews: int = 0
    letters_seen: int = 0
    returned: int = 0
    finished: bool = False
    net_sample: int = 0
    completed: int = 0
    _call_counts: dict[str, int] = field(default_factory=dict)
    _waves_read: set[int] = field(default_factory=set)

    @property
    def expected_calls(self) -> int:
        """Calls the scripts above make (E1..I2), for the progress bar."""
        return sum(len(p.calls) for p in self.people if p.phone)

    def delivery_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "client_ref",
                "name",
                "email",
                "phone",
                "street",
                "house_number",
                "postcode",
                "city",
                "service",
                "learning_profile",
            ]
        )
        for p in self.people:
            writer.writerow([p.ref, p.name, p.email, p.phone, *p.address, p.service, p.learning_profile])
        return out.getvalue()

    async def enrol_and_deliver(self, http: httpx.AsyncClient) -> None:
        admin = {"X-API-Key": self.admin_key}
        study = {
            "study_id": self.study_id,
            "name": "Blik op Werk 2026, telefonische optie",
            "scheme_id": "bow",
            "year": 2026,
            "questionnaire_id": "minimal-v1",
        }
        created_study = await _request(
            http, "POST", f"{self.invitations_url}/api/studies", json=study, headers=admin
        )
        created_study.raise_for_status()
        created = await _request(
            http,
            "POST",
            f"{self.invitations_url}/api/providers",
            json={"provider_id": PROVIDER_ID, "name": PROVIDER_NAME},
            headers=admin,
        )
        created.raise_for_status()
        enrolment = {
            "provider_id": PROVIDER_ID,
            "services": ["3", "11"],
            "phone_option": True,
            "phone_interviews": 10,
        }
        (
            await _request(
                http,
                "POST",
                f"{self.invitations_url}/api/studies/{self.study_id}/enrolments",
                json=enrolment,
                headers=admin,
            )
        ).raise_for_status()
        receipt = await _request(
            http,
            "POST",
            f"{self.invitations_url}/api/studies/{self.study_id}/deliveries",
            content=self.delivery_csv().encode(),
            headers={"X-API-Key": created.json()["api_key"], "Content-Type": "text/csv"},
        )
        receipt.raise_for_status()

    @property
    def settled(self) -> bool:
        """Every plan over, and every phone interview counted in the scores."""
        return self.finished and self.completed == self.interviews

    async def step(self, http: httpx.AsyncClient) -> None:
        """One round: the mail house reads new waves, each agent takes and makes its calls."""
        if not self.finished:
            await self._mail_house(http)
            for agent in AGENTS:
                await self._calls(http, agent)
        progress = await _request(
            http,
            "GET",
            f"{self.invitations_url}/api/studies/{self.study_id}/progress",
            params={"provider_id": PROVIDER_ID},
            headers={"X-API-Key": self.admin_key},
        )
        if progress.status_code == 200:
            open_ = sum(progress.json()["by_status"].get(s, 0) for s in ("pending", "sent"))
            self.finished = open_ == 0
        summary = await _request(
            http,
            "GET",
            f"{self.reporting_url}/api/studies/{self.study_id}/summary",
            headers={"X-API-Key": self.admin_key},
        )
        if summary.status_code == 200:
            for row in summary.json():
                if row["provider_id"] == PROVIDER_ID:
                    self.net_sample, self.completed = row["net_sample"], row["completed"]

    async def _mail_house(self, http: httpx.AsyncClient) -> None:
        admin = {"X-API-Key": self.admin_key}
        waves = (
            await _request(http, "GET", f"{self.invitations_url}/api/letter-waves", headers=admin)
        ).json()
        for wave in waves:
            if wave["wave_id"] in self._waves_read:
                continue
            self._waves_read.add(wave["wave_id"])
            manifest = await _request(
                http,
                "GET",
                f"{self.invitations_url}/api/letter-waves/{wave['wave_id']}/manifest.csv",
                headers=admin,
            )
            rows = list(csv.DictReader(io.StringIO(manifest.text)))
            self.letters_seen += len(rows)
            back = [r["short_code"] for r in rows if r["name"].startswith("Retour")]
            if back:  # the post office returns it: address unknown
                body = "short_code,reason\n" + "".join(f"{code},adres onbekend\n" for code in back)
                result = await _request(
                    http,
                    "POST",
                    f"{self.invitations_url}/api/returned-mail",
                    content=body.encode(),
                    headers=admin | {"Content-Type": "text/csv"},
                )
                self.returned += result.json().get("returned", 0)

    async def _calls(self, http: httpx.AsyncClient, agent: str) -> None:
        key = {"X-API-Key": CALLCENTRE_KEY}
        response = await _request(
            http,
            "POST",
            f"{self.invitations_url}/api/calls/next",
            json={"agent_id": agent, "limit": 5},
            headers=key,
        )
        response.raise_for_status()
        by_name = {p.name: p for p in self.people}
        for task in response.json()["tasks"]:
            person = by_name.get(task["name"])
            if person is None:
                continue
            made = self._call_counts.get(person.ref, 0)
            disposition = person.calls[min(made, len(person.calls) - 1)]
            self._call_counts[person.ref] = made + 1
            self.calls_made += 1
            extra: dict[str, Any] = {}
            if disposition == "appointment":
                extra["appointment_at"] = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
            if disposition == "complete":
                await self._interview(http, task["invitation_id"], agent, person)
            outcome = await _request(
                http,
                "POST",
                f"{self.invitations_url}/api/calls/{task['task_id']}/outcome",
                json={"agent_id": agent, "disposition": disposition} | extra,
                headers=key,
            )
            if outcome.status_code != 409:  # 409: answered or opted out meanwhile
                outcome.raise_for_status()

    async def _interview(
        self, http: httpx.AsyncClient, invitation_id: str, agent: str, person: _Person
    ) -> None:
        answers = {"grade": person.grade, "recommend": "ja" if person.grade >= 7 else "nee"}
        stored = await _request(
            http,
            "POST",
            f"{self.responses_url}/api/interviews",
            json={"invitation_id": invitation_id, "interviewer_id": agent, "answers": answers},
            headers={"X-API-Key": CALLCENTRE_KEY},
        )
        if stored.status_code in (200, 201):
            self.interviews += 1
