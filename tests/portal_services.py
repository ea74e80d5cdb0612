"""Starting services and a portal that calls them, for the portal's browser tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from services.portal import app as portal_app
from shared.runtime import ServiceRuntime
from tests.conftest import MakeSettings


def url_of(runtime: ServiceRuntime) -> str:
    return f"http://127.0.0.1:{runtime.settings.port_for(runtime.name)}"


@asynccontextmanager
async def running(
    module_settings: MakeSettings, services: Mapping[str, Any]
) -> AsyncIterator[dict[str, ServiceRuntime]]:
    """``services`` (name → runtime factory taking settings) started, then the portal pointed
    at them; all stopped afterwards."""
    started: dict[str, ServiceRuntime] = {}
    try:
        for name, make in services.items():
            started[name] = make(module_settings())
            await started[name].start()
        settings = module_settings(portal_signin_requests_per_hour=1000)
        urls = {name: url_of(runtime) for name, runtime in started.items()}
        public = f"http://127.0.0.1:{settings.port_for('portal')}"
        started["portal"] = portal_app.runtime(
            settings.model_copy(update={"service_urls": urls, "portal_public_url": public})
        )
        await started["portal"].start()
        yield started
    finally:
        for runtime in reversed(list(started.values())):
            await runtime.stop()
