"""A tiny service on the shared runtime that counts the ``invitations.issued`` events it handles.

``poison_marker``: a study id whose events make the handler fail, to test dead-lettering.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from shared.db import Connection
from shared.events import Event, InvitationIssued, Topics
from shared.runtime import Loop, ServiceContext, ServiceRuntime
from shared.settings import Settings

POISON_STUDY = "poison"


async def record(conn: Connection, events: list[Event]) -> None:
    if any(e.payload.study_id == POISON_STUDY for e in events):
        raise ValueError("this study's events cannot be handled")
    await conn.executemany(
        "INSERT INTO probe.handled (event_id, invitation_id) VALUES ($1, $2)",
        [(e.event_id, e.payload.invitation_id) for e in events],
    )


def wire(ctx: ServiceContext) -> list[Loop]:
    ctx.publishes(InvitationIssued)
    ctx.consume(Topics.INVITATIONS_ISSUED, record)
    return []


def runtime(settings: Settings, group: str = "probe") -> ServiceRuntime:
    return ServiceRuntime(
        "probe",
        settings,
        migrations=Path(__file__).parent / "migrations",
        wire=wire,
        http_app=lambda ctx: FastAPI(),
    )
