"""Studies, enrolments and contact intake through the provider API, on the real database and broker.

One service for the module (a consumer-group join costs seconds); every test makes its own
study and providers, so the tests never see each other's rows.
"""

from __future__ import annotations

import asyncio
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from aiokafka import AIOKafkaConsumer
from typer.testing import CliRunner, Result

from services.invitations import app as invitations
from shared.events import Topics
from shared.runtime import ServiceRuntime
from shared.tokens import token_hash
from tests.conftest import MakeSettings
from tests.polling import DEADLINE
from tevreden import cli

pytestmark = pytest.mark.integration
ADMIN = {"X-API-Key": "test-admin-key"}
BSN = "111222333"  # passes the 11-check
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture(scope="module")
async def service(module_settings: MakeSettings) -> AsyncIterator[ServiceRuntime]:
    runtime = invitations.runtime(module_settings())
    await runtime.start()
    yield runtime
    await runtime.stop()


@dataclass
class Panel:
    """A study with two providers, A and B, each enrolled with its own key."""

    service: ServiceRuntime
    study_id: str
    a: str
    b: str
    keys: dict[str, str]

    def http(self) -> httpx.AsyncClient:
        port = self.service.settings.port_for("invitations")
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60)

    def key(self, provider: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[provider]}

    async def deliver(self, provider: str, csv: str) -> httpx.Response:
        async with self.http() as http:
            return await http.post(
                f"/api/studies/{self.study_id}/deliveries",
                content=csv.encode(),
                headers=self.key(provider) | {"Content-Type": "text/csv"},
            )

    async def fetchval(self, sql: str, *args: Any) -> Any:
        ctx = self.service.ctx
        assert ctx is not None
        async with ctx.pool.acquire() as conn:
            return await conn.fetchval(sql, *args)


async def make_panel(service: ServiceRuntime, **enrolment: Any) -> Panel:
    tag = uuid.uuid4().hex[:8]
    panel = Panel(service, f"bow-{tag}", f"A-{tag}", f"B-{tag}", {})
    async with panel.http() as http:
        study = {"study_id": panel.study_id, "name": "BoW 2026", "scheme_id": "bow", "year": 2026}
        (await http.post("/api/studies", json=study, headers=ADMIN)).raise_for_status()
        for provider in (panel.a, panel.b):
            created = await http.post(
                "/api/providers", json={"provider_id": provider, "name": f"Werkt {provider}"}, headers=ADMIN
            )
            created.raise_for_status()
            panel.keys[provider] = created.json()["api_key"]
            body = {"provider_id": provider, "services": ["3", "7", "11"]} | enrolment
            enrolled = await http.post(f"/api/studies/{panel.study_id}/enrolments", json=body, headers=ADMIN)
            assert enrolled.status_code == 201, enrolled.text
    return panel


@pytest.fixture
async def panel(service: ServiceRuntime) -> Panel:
    return await make_panel(service)


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


# --- studies and enrolments ---------------------------------------------------------------


async def test_a_study_under_a_scheme_gets_the_schemes_measurement_period(panel: Panel) -> None:
    async with panel.http() as http:
        study = (await http.get(f"/api/studies/{panel.study_id}", headers=ADMIN)).json()
    assert (study["scheme_id"], study["period_start"], study["period_end"]) == (
        "bow",
        "2026-01-01",
        "2026-12-31",
    )


async def test_a_study_under_an_unknown_scheme_is_refused(service: ServiceRuntime, panel: Panel) -> None:
    async with panel.http() as http:
        response = await http.post(
            "/api/studies",
            json={"study_id": "x-1", "name": "X", "scheme_id": "nope", "year": 2026},
            headers=ADMIN,
        )
    assert response.status_code == 422
    assert "unknown scheme" in response.text


async def test_an_enrolment_in_a_retired_service_is_refused(panel: Panel) -> None:
    async with panel.http() as http:
        response = await http.patch(
            f"/api/studies/{panel.study_id}/enrolments/{panel.a}",
            json={"services": ["3", "12"]},
            headers=ADMIN,
        )
    assert response.status_code == 422
    assert "retired" in response.text


async def test_a_jobcoach_enrolment_runs_a_year_from_the_recognition_date(
    service: ServiceRuntime, panel: Panel
) -> None:
    study_id = f"jc-{uuid.uuid4().hex[:8]}"
    async with panel.http() as http:
        study = {"study_id": study_id, "name": "Jobcoach 2026", "scheme_id": "uwv-jobcoach", "year": 2026}
        (await http.post("/api/studies", json=study, headers=ADMIN)).raise_for_status()
        enrolment = await http.post(
            f"/api/studies/{study_id}/enrolments",
            json={"provider_id": panel.a, "recognition_date": "2019-04-15"},
            headers=ADMIN,
        )
    assert enrolment.status_code == 201, enrolment.text
    assert (enrolment.json()["period_start"], enrolment.json()["period_end"]) == ("2026-04-15", "2027-04-14")


async def test_a_jobcoach_period_travels_as_one_pseudonymous_key_for_werknemer_and_werkgever(
    service: ServiceRuntime, panel: Panel
) -> None:
    study_id = f"jc-{uuid.uuid4().hex[:8]}"
    async with panel.http() as http:
        study = {"study_id": study_id, "name": "Jobcoach 2026", "scheme_id": "uwv-jobcoach", "year": 2026}
        (await http.post("/api/studies", json=study, headers=ADMIN)).raise_for_status()
        enrolment = {"provider_id": panel.a, "recognition_date": "2019-04-15"}
        (
            await http.post(f"/api/studies/{study_id}/enrolments", json=enrolment, headers=ADMIN)
        ).raise_for_status()
    panel.study_id = study_id
    csv = (
        "client_ref,email,respondent_type,organisation,jobcoach_period\n"
        "W1,w@x.nl,werknemer,,TRAJECT-0417\nG1,g@x.nl,werkgever,Bakkerij,TRAJECT-0417\n"
        "W2,v@x.nl,werknemer,,\n"
    )

    response = await panel.deliver(panel.a, csv)

    assert response.status_code == 201, response.text
    bodies = await panel.fetchval(
        "SELECT json_agg(convert_from(body, 'UTF8')::json -> 'payload') FROM invitations.outbox"
        " WHERE topic = 'invitations.issued'"
        " AND convert_from(body, 'UTF8')::json -> 'payload' ->> 'study_id' = $1",
        study_id,
    )
    keys = sorted((p["respondent_type"], p["jobcoach_period"] or "") for p in json.loads(bodies))
    assert [(kind, len(key)) for kind, key in keys] == [
        ("werkgever", 16),
        ("werknemer", 0),
        ("werknemer", 16),
    ]
    assert keys[0][1] == keys[2][1]
    assert "TRAJECT" not in bodies


async def test_the_province_of_the_postcode_travels_with_the_invitation_and_the_postcode_does_not(
    panel: Panel,
) -> None:
    csv = "client_ref,email,postcode,service\nZ1,z@x.nl,2712 AB,3\nU1,u@x.nl,3511lx,3\nN1,n@x.nl,,3\n"

    response = await panel.deliver(panel.a, csv)

    assert response.status_code == 201, response.text
    bodies = await panel.fetchval(
        "SELECT json_agg(convert_from(body, 'UTF8')::json -> 'payload') FROM invitations.outbox"
        " WHERE topic = 'invitations.issued'"
        " AND convert_from(body, 'UTF8')::json -> 'payload' ->> 'study_id' = $1"
        " AND convert_from(body, 'UTF8')::json -> 'payload' ->> 'provider_id' = $2",
        panel.study_id,
        panel.a,
    )
    assert sorted(str(p["province"]) for p in json.loads(bodies)) == ["None", "Utrecht", "Zuid-Holland"]
    assert "2712" not in bodies and "3511" not in bodies


async def test_a_provider_reads_its_own_enrolments_and_changes_its_own_options(panel: Panel) -> None:
    async with panel.http() as http:
        mine = (await http.get("/api/enrolments", headers=panel.key(panel.a))).json()
        changed = await http.patch(
            f"/api/studies/{panel.study_id}/enrolments/{panel.a}",
            json={"phone_option": True, "phone_interviews": 20, "sample_sizes": {"3": 40}},
            headers=panel.key(panel.a),
        )
    assert [(e["study_id"], e["provider_id"]) for e in mine] == [(panel.study_id, panel.a)]
    assert changed.status_code == 200, changed.text
    assert (changed.json()["phone_interviews"], changed.json()["sample_sizes"]) == (20, {"3": 40})


async def test_a_provider_cannot_change_its_own_services(panel: Panel) -> None:
    async with panel.http() as http:
        response = await http.patch(
            f"/api/studies/{panel.study_id}/enrolments/{panel.a}",
            json={"services": ["3"]},
            headers=panel.key(panel.a),
        )
    assert response.status_code == 403


# --- isolation: another provider's things do not exist ------------------------------------------


async def test_another_providers_study_enrolment_and_delivery_answer_404(
    service: ServiceRuntime, panel: Panel
) -> None:
    other = await make_panel(service)  # a study panel.a is not enrolled in
    delivered = await other.deliver(other.a, "client_ref,email,service\nA1,a@example.nl,3\n")
    delivery_id = delivered.json()["delivery_id"]
    async with panel.http() as http:
        outsider = panel.key(panel.a)
        responses = [
            await http.get(f"/api/studies/{other.study_id}", headers=outsider),
            await http.get(f"/api/studies/{other.study_id}/enrolments", headers=outsider),
            await http.get(f"/api/studies/{other.study_id}/enrolments/{other.a}", headers=outsider),
            await http.patch(
                f"/api/studies/{other.study_id}/enrolments/{other.a}",
                json={"phone_option": True},
                headers=outsider,
            ),
            await http.get(f"/api/studies/{other.study_id}/deliveries", headers=outsider),
            await http.get(f"/api/studies/{other.study_id}/deliveries/{delivery_id}", headers=outsider),
            await http.get(f"/api/studies/{other.study_id}/progress", headers=outsider),
            await http.post(
                f"/api/studies/{other.study_id}/deliveries",
                content=b"client_ref,email,service\nZ1,z@example.nl,3\n",
                headers=outsider | {"Content-Type": "text/csv"},
            ),
        ]
    assert [r.status_code for r in responses] == [404] * len(responses)


async def test_a_fellow_provider_in_the_same_study_cannot_see_the_others_enrolment_or_delivery(
    panel: Panel,
) -> None:
    delivered = await panel.deliver(panel.a, "client_ref,email,service\nA1,a@example.nl,3\n")
    delivery_id = delivered.json()["delivery_id"]
    async with panel.http() as http:
        b = panel.key(panel.b)
        enrolment = await http.get(f"/api/studies/{panel.study_id}/enrolments/{panel.a}", headers=b)
        delivery = await http.get(f"/api/studies/{panel.study_id}/deliveries/{delivery_id}", headers=b)
        listed = await http.get(f"/api/studies/{panel.study_id}/deliveries", headers=b)
        enrolments = await http.get(f"/api/studies/{panel.study_id}/enrolments", headers=b)
    assert (enrolment.status_code, delivery.status_code) == (404, 404)
    assert listed.json() == []
    assert [e["provider_id"] for e in enrolments.json()] == [panel.b]


async def test_the_admin_key_sees_every_providers_enrolments_and_deliveries(panel: Panel) -> None:
    first = await panel.deliver(panel.a, "client_ref,email,service\nA1,a@example.nl,3\n")
    await panel.deliver(panel.b, "client_ref,email,service\nB1,b@example.nl,7\n")
    async with panel.http() as http:
        enrolments = (await http.get(f"/api/studies/{panel.study_id}/enrolments", headers=ADMIN)).json()
        deliveries = (await http.get(f"/api/studies/{panel.study_id}/deliveries", headers=ADMIN)).json()
        one = await http.get(
            f"/api/studies/{panel.study_id}/deliveries/{first.json()['delivery_id']}", headers=ADMIN
        )
        progress = await http.get(
            f"/api/studies/{panel.study_id}/progress?provider_id={panel.b}", headers=ADMIN
        )
    assert sorted(e["provider_id"] for e in enrolments) == [panel.a, panel.b]
    assert sorted(d["provider_id"] for d in deliveries) == [panel.a, panel.b]
    assert one.json()["provider_id"] == panel.a
    assert progress.json()["invited"] == 1


# --- deliveries -----------------------------------------------------------------------------------


async def test_an_xlsx_file_uploaded_as_a_form_is_accepted(panel: Panel) -> None:
    data = xlsx(
        [
            ["client_ref", "name", "email", "service", "end_date"],
            ["X1", "Anna", "anna@example.nl", 3, "2026-03-01"],
            ["X2", "Bram", "geen-email", 7, "2026-03-01"],
        ]
    )
    async with panel.http() as http:
        response = await http.post(
            f"/api/studies/{panel.study_id}/deliveries",
            files={"file": ("contacten.xlsx", data, XLSX_TYPE)},
            headers=panel.key(panel.a),
        )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["file_format"], body["rows_accepted"], body["rows_rejected"]) == ("xlsx", 1, 1)
    assert [(p["row"], p["column"]) for p in body["problems"]] == [(3, "email")]
    assert (
        await panel.fetchval(
            "SELECT file_name FROM invitations.deliveries WHERE delivery_id = $1",
            uuid.UUID(body["delivery_id"]),
        )
        == "contacten.xlsx"
    )


async def test_a_repeated_monthly_delivery_adds_new_rows_and_reports_the_repeats_as_duplicates(
    panel: Panel,
) -> None:
    january = "client_ref,email,service\nJ1,j1@example.nl,3\nJ2,j2@example.nl,7\n"
    february = "client_ref,email,service\nJ1,j1@example.nl,3\nF1,J2@example.nl,7\nF2,f2@example.nl,3\n"
    await panel.deliver(panel.a, january)
    second = (await panel.deliver(panel.a, february)).json()
    assert (second["rows_accepted"], second["rows_rejected"]) == (1, 2)
    assert {(p["row"], p["column"], p["kind"]) for p in second["problems"]} == {
        (2, "client_ref", "duplicate"),
        (2, "email", "duplicate"),
        (3, "email", "duplicate"),
    }
    stored = await panel.fetchval(
        "SELECT count(*) FROM invitations.contacts WHERE study_id = $1 AND provider_id = $2",
        panel.study_id,
        panel.a,
    )
    assert stored == 3


async def test_a_half_wrong_delivery_keeps_the_right_half(panel: Panel) -> None:
    csv = (
        "client_ref,name,email,phone,postcode,service\n"
        "H1,Anna,anna@example.nl,0612345678,1234 AB,3\n"
        "H2,Bram,bram@example.nl,12345,,3\n"
        "H3,Cor,cor@example.nl,,9999,7\n"
        "H4,Dirk,dirk@example.nl,,,7\n"
        "H5,Eva,,,,3\n"
        "H6,Fleur,fleur@example.nl,,,9\n"
    )
    body = (await panel.deliver(panel.a, csv)).json()
    assert (body["rows_total"], body["rows_accepted"], body["rows_rejected"]) == (6, 2, 4)
    assert [(p["row"], p["column"]) for p in body["problems"]] == [
        (3, "phone"),
        (4, "postcode"),
        (6, "email"),
        (7, "service"),
    ]
    refs = await panel.fetchval(
        "SELECT array_agg(client_ref ORDER BY client_ref) FROM invitations.contacts"
        " WHERE study_id = $1 AND provider_id = $2",
        panel.study_id,
        panel.a,
    )
    assert refs == ["H1", "H4"]


async def test_each_contact_is_invited_with_the_schemes_questionnaire_for_its_variant(panel: Panel) -> None:
    csv = (
        "client_ref,email,service,client_group,learning_profile,respondent_type,organisation\n"
        "V1,v1@example.nl,3,,,,\n"
        "V2,v2@example.nl,3,laagdrempelig,,,\n"
        "V3,v3@example.nl,11,,3,,\n"
        "V4,v4@example.nl,3,,,opdrachtgever,Gemeente Zwolle\n"
    )
    assert (await panel.deliver(panel.a, csv)).json()["rows_accepted"] == 4
    ctx = panel.service.ctx
    assert ctx is not None
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT c.client_ref, i.questionnaire_id FROM invitations.invitations i"
            " JOIN invitations.contacts c USING (contact_id) WHERE i.study_id = $1 ORDER BY 1",
            panel.study_id,
        )
    assert [(r["client_ref"], r["questionnaire_id"]) for r in rows] == [
        ("V1", "bow-client-regular"),
        ("V2", "bow-client-laagdrempelig"),
        ("V3", "bow-client-inburgering"),
        ("V4", "bow-opdrachtgever"),
    ]


async def test_a_contact_with_only_a_postal_address_is_in_the_net_sample_but_not_emailed(
    panel: Panel,
) -> None:
    csv = (
        "client_ref,name,street,house_number,postcode,city,service\nP1,Piet,Dorpsstraat,1,1234 AB,Zwolle,3\n"
    )
    assert (await panel.deliver(panel.a, csv)).json()["rows_accepted"] == 1
    mode = await panel.fetchval(  # the timer that runs is the letter's (issue 4: waves)
        "SELECT mode FROM invitations.invitations WHERE study_id = $1 AND provider_id = $2",
        panel.study_id,
        panel.a,
    )
    assert mode == "post"


async def test_a_delivery_beyond_the_requested_size_is_sampled_and_the_rest_stored_as_sampled_out(
    service: ServiceRuntime,
) -> None:
    panel = await make_panel(service, sample_sizes={"3": 5})
    csv = "client_ref,email,service\n" + "".join(f"S{n},s{n}@example.nl,3\n" for n in range(20))
    body = (await panel.deliver(panel.a, csv)).json()
    assert (body["rows_accepted"], body["rows_sampled_out"]) == (5, 15)
    sampled_out_invited = await panel.fetchval(
        "SELECT count(*) FROM invitations.contacts c JOIN invitations.invitations i USING (contact_id)"
        " WHERE c.study_id = $1 AND c.provider_id = $2 AND c.status = 'sampled_out'",
        panel.study_id,
        panel.a,
    )
    assert sampled_out_invited == 0
    later = (await panel.deliver(panel.a, "client_ref,email,service\nT1,t1@example.nl,3\n")).json()
    assert (later["rows_accepted"], later["rows_sampled_out"]) == (0, 1)  # the sample is full


async def test_the_delivery_checked_event_is_published_with_the_gross_to_net_counts(panel: Panel) -> None:
    csv = (
        "client_ref,email,service,respondent_type,organisation\n"
        "C1,c1@example.nl,3,,\n"
        "C1,c2@example.nl,3,,\n"
        "C3,,3,,\n"
        "C4,nope,7,,\n"
        "O1,o1@example.nl,3,opdrachtgever,Gemeente Zwolle\n"
    )
    delivery_id = (await panel.deliver(panel.a, csv)).json()["delivery_id"]
    event = await _published(panel.service, Topics.INVITATIONS_DELIVERY_CHECKED, delivery_id)
    assert (
        event["payload"]["study_id"],
        event["payload"]["provider_id"],
        event["payload"]["rows_total"],
    ) == (
        panel.study_id,
        panel.a,
        5,
    )
    counts = {
        (c["service_code"], c["respondent_type"]): (
            c["gross"],
            c["duplicates"],
            c["missing_essential_data"],
            c["invalid"],
            c["sampled_out"],
            c["accepted"],
        )
        for c in event["payload"]["counts"]
    }
    assert counts == {
        ("3", "client"): (3, 1, 1, 0, 0, 1),
        ("3", "opdrachtgever"): (1, 0, 0, 0, 0, 1),
        ("7", "client"): (1, 0, 0, 1, 0, 0),
    }


async def _published(
    service: ServiceRuntime,
    topic: str,
    subject: str,
    timeout: float = DEADLINE,
    *,
    field: str = "delivery_id",
) -> dict[str, Any]:
    """The event whose payload has ``field`` = ``subject`` (a delivery by default), from the broker."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=service.settings.kafka_bootstrap_servers,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(timeout):
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                for messages in batches.values():
                    for message in messages:
                        event = json.loads(message.value or b"{}")
                        if event.get("payload", {}).get(field) == subject:
                            return dict(event)
    finally:
        await consumer.stop()


async def test_registering_a_provider_publishes_the_hash_of_its_key_and_never_the_key(panel: Panel) -> None:
    event = await _published(
        panel.service, Topics.INVITATIONS_PROVIDER_REGISTERED, panel.a, field="provider_id"
    )
    key = panel.keys[panel.a]
    assert event["payload"]["api_key_hash"] == token_hash(key)
    assert key not in json.dumps(event)


# --- BSN ------------------------------------------------------------------------------------------------


async def test_a_bsn_column_refuses_the_delivery_and_nothing_of_it_is_stored(panel: Panel) -> None:
    response = await panel.deliver(panel.a, f"client_ref,email,service,BSN\nA1,a@example.nl,3,{BSN}\n")
    assert response.status_code == 422
    assert "BSN" in response.json()["detail"][0]["msg"]
    assert BSN not in response.text
    for table in ("contacts", "deliveries", "invitations"):
        stored = await panel.fetchval(
            f"SELECT count(*) FROM invitations.{table} WHERE study_id = $1 AND provider_id = $2",
            panel.study_id,
            panel.a,
        )
        assert stored == 0, table


async def test_a_bsn_anywhere_in_a_row_is_never_stored_published_or_logged(
    panel: Panel, capfd: pytest.CaptureFixture[str]
) -> None:
    tag = uuid.uuid4().hex[:6]
    data = xlsx(
        [
            ["client_ref", "name", "email", "service", "notes"],
            ["B1", "Bea", f"b1x{tag}@example.nl", 3, int(BSN)],  # a number cell in an unused column
            ["B2", "Bob", f"{BSN}@example.nl", 3, ""],  # inside an email address
            ["B3", "Bas", f"b3x{tag}@example.nl", 3, "111 222 333"],  # grouped
            ["B4", "Bram", f"b4x{tag}@example.nl", 3, "ok"],
        ]
    )
    async with panel.http() as http:
        response = await http.post(
            f"/api/studies/{panel.study_id}/deliveries",
            content=data,
            headers=panel.key(panel.a) | {"Content-Type": XLSX_TYPE},
        )
    assert response.json()["rows_accepted"] == 1
    assert BSN not in response.text
    delivery_id = response.json()["delivery_id"]
    await _published(panel.service, Topics.INVITATIONS_DELIVERY_CHECKED, delivery_id)  # the relay has run
    dump = await panel.fetchval(
        "SELECT concat_ws(' ',"
        " (SELECT string_agg(t::text, ' ') FROM invitations.contacts t WHERE study_id = $1),"
        " (SELECT string_agg(t::text, ' ') FROM invitations.deliveries t WHERE study_id = $1),"
        " (SELECT string_agg(t::text, ' ') FROM invitations.invitations t WHERE study_id = $1))",
        panel.study_id,
    )
    outbox = await panel.fetchval(
        "SELECT string_agg(convert_from(body, 'UTF8'), ' ') FROM invitations.outbox"
    )
    captured = capfd.readouterr()
    assert "delivery_accepted" in captured.out + captured.err  # the service's log is in the capture
    for where, text in (("database", dump), ("outbox", outbox), ("log", captured.out + captured.err)):
        for written in (BSN, "111 222 333"):
            assert written not in (text or ""), where


# --- the CLI ---------------------------------------------------------------------------------------------


async def test_the_deliver_command_prints_the_row_report_and_exits_non_zero_when_the_file_is_refused(
    panel: Panel, tmp_path: Path
) -> None:
    good, refused = tmp_path / "maart.csv", tmp_path / "april.csv"
    good.write_text("client_ref,email,service\nM1,m1@example.nl,3\nM2,geen-email,3\n")
    refused.write_text("client_ref,bsn,email,service\nA1,x,a@example.nl,3\n")
    url = f"http://127.0.0.1:{panel.service.settings.port_for('invitations')}"

    def run(path: Path) -> Result:
        args = ["deliver", "--study", panel.study_id, "--provider", panel.a, "--url", url]
        return CliRunner().invoke(cli.app, [*args, "--api-key", "test-admin-key", str(path)])

    taken = await asyncio.to_thread(run, good)  # the service runs on this event loop
    refusal = await asyncio.to_thread(run, refused)
    assert taken.exit_code == 0, taken.output
    assert "Not a valid email address" in taken.output
    assert refusal.exit_code == 1
    assert "BSN" in refusal.output


async def test_the_enrol_command_enrols_a_provider_with_its_options(panel: Panel) -> None:
    study_id = f"bow-{uuid.uuid4().hex[:8]}"
    async with panel.http() as http:
        study = {"study_id": study_id, "name": "BoW 2026", "scheme_id": "bow", "year": 2026}
        (await http.post("/api/studies", json=study, headers=ADMIN)).raise_for_status()
    url = f"http://127.0.0.1:{panel.service.settings.port_for('invitations')}"
    args = ["enrol", "--study", study_id, "--provider", panel.a, "--service", "3", "--service", "11"]
    args += ["--phone-interviews", "20", "--group", "nt2=client/laagdrempelig", "--sample-size", "3=40"]
    result = await asyncio.to_thread(
        CliRunner().invoke, cli.app, [*args, "--url", url, "--api-key", "test-admin-key"]
    )
    assert result.exit_code == 0, result.output
    async with panel.http() as http:
        enrolment = (await http.get(f"/api/studies/{study_id}/enrolments/{panel.a}", headers=ADMIN)).json()
    assert (enrolment["services"], enrolment["phone_interviews"], enrolment["sample_sizes"]) == (
        ["3", "11"],
        20,
        {"3": 40},
    )
