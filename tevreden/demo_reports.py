"""The demo's reports of every kind (issue 7), kept apart from the main demo flow.

1. The Blik op Werk study that the demo ran through the whole pipeline: fieldwork is closed
   over the reporting API, so the reporting service writes each provider's draft (HTML, PDF,
   CSV, XLSX) from the scores the simulated respondents produced.
2. The other schemes (UWV re-integratie, UWV jobcoach, staff survey): a generated study per
   scheme, counted by the real scoring domain, is published as ``scores.updated`` events on the
   broker; the running reporting service takes them like any other snapshot, and fieldwork is
   closed for those studies too. Their answers do not go through the web questionnaire (the main
   demo's respondents answer the minimal questionnaire only).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer

from shared.events import ScoresUpdated, encode_event
from tevreden.panel import KINDS, PLACES
from tevreden.sample_reports import study_payloads
from tevreden.stack import LocalStack

EXTRA_SCHEMES = {"uwv-reintegratie": 6, "uwv-jobcoach": 4, "staff-survey": 3}
# Each demo study's display name, as its reports and the register print it.
STUDY_NAMES = {
    "bow": "Tevredenheidsonderzoek Blik op Werk 2026",
    "uwv-reintegratie": "Klanttevredenheidsonderzoek UWV re-integratie 2026",
    "uwv-jobcoach": "Klanttevredenheidsonderzoek UWV jobcoaching 2026",
    "staff-survey": "Medewerkersonderzoek 2026",
}


def provider_names(provider_ids: list[str], seed: str) -> dict[str, str]:
    """Real-looking organisation names for generated providers ("Perspectief Zwolle"), so the
    demo's reports read as real ones."""
    rng = random.Random(seed)
    towns = list(PLACES)
    rng.shuffle(towns)
    return {
        provider_id: f"{rng.choice(KINDS)} {towns[i % len(towns)]}"
        for i, provider_id in enumerate(provider_ids)
    }


async def produce_reports(
    http: httpx.AsyncClient,
    stack: LocalStack,
    bow_study: str,
    wait_seconds: float = 240,
    bow_provider_names: Mapping[str, str] | None = None,
) -> list[Path]:
    """Close fieldwork for every demo study and wait until every draft is written; returns their PDFs."""
    extra = {scheme: study_payloads(scheme, providers=n, per_provider=200 if scheme == "staff-survey" else 40)
             for scheme, n in EXTRA_SCHEMES.items()}  # fmt: skip
    producer = AIOKafkaProducer(bootstrap_servers=stack.infra.broker.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for payloads in extra.values():
            for payload in payloads:
                event = ScoresUpdated(payload=payload)
                await producer.send_and_wait(event.topic, encode_event(event), key=event.key.encode())
    finally:
        await producer.stop()
    base, admin = stack.url("reporting"), {"X-API-Key": stack.admin_api_key}
    wanted: dict[str, list[str]] = {
        s: [p.provider_id for p in ps] for s, ps in ((p[0].study_id, p) for p in extra.values())
    }
    await _wait(lambda: _all_have_snapshots(http, base, wanted, admin), wait_seconds)
    summary = (await http.get(f"{base}/api/studies/{bow_study}/summary", headers=admin)).json()
    wanted[bow_study] = [row["provider_id"] for row in summary]
    schemes = {bow_study: "bow"} | {ps[0].study_id: scheme for scheme, ps in extra.items()}
    for study_id, providers in wanted.items():
        names = (
            dict(bow_provider_names or {}) if study_id == bow_study else provider_names(providers, study_id)
        )
        closing = {"study_name": STUDY_NAMES[schemes[study_id]], "review_days": 21, "provider_names": names}
        closed = await http.post(
            f"{base}/api/studies/{study_id}/fieldwork-closed", json=closing, headers=admin
        )
        closed.raise_for_status()
    await _wait(lambda: _all_have_versions(http, base, wanted, admin), wait_seconds)
    pdfs = sorted(stack.report_dir.glob("*/*/v*/rapport.pdf"))
    missing = sorted(
        f"{study_id}/{provider_id}"
        for study_id, providers in wanted.items()
        for provider_id in providers
        if not list(stack.report_dir.glob(f"{study_id}/{provider_id}/v*/rapport.pdf"))
    )
    if missing:
        raise RuntimeError(f"no PDF report for {', '.join(missing)}")
    return pdfs


async def _all_have_snapshots(
    http: httpx.AsyncClient, base: str, wanted: dict[str, list[str]], admin: dict[str, str]
) -> bool:
    for study_id, providers in wanted.items():
        rows = (await http.get(f"{base}/api/studies/{study_id}/summary", headers=admin)).json()
        if len(rows) < len(providers):
            return False
    return True


async def _all_have_versions(
    http: httpx.AsyncClient, base: str, wanted: dict[str, list[str]], admin: dict[str, str]
) -> bool:
    for study_id, providers in wanted.items():
        for provider_id in providers:
            response = await http.get(f"{base}/api/reports/{study_id}/{provider_id}/versions", headers=admin)
            response.raise_for_status()
            if not response.json():
                return False
    return True


async def _wait(probe: Callable[[], Awaitable[bool]], wait_seconds: float) -> None:
    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        if await probe():
            return
        await asyncio.sleep(1.0)
    raise TimeoutError("reports were not all written in time")
