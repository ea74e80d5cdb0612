"""Portal service wiring: the people's front door (BFF). It owns only its users, sessions and
audit log, consumes no topic and publishes none; everything else goes through the services'
HTTP APIs, as the signed-in person (shared/onbehalf.py)."""

from __future__ import annotations

from services.portal.http import create_http_app
from shared.db import migrations_dir
from shared.runtime import Loop, ServiceContext, ServiceRuntime
from shared.settings import Settings

NAME = "portal"


def wire(ctx: ServiceContext) -> list[Loop]:
    return []


def runtime(settings: Settings) -> ServiceRuntime:
    return ServiceRuntime(
        NAME, settings, migrations=migrations_dir("services.portal"), wire=wire, http_app=create_http_app
    )
