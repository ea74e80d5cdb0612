"""The browser the e2e tests drive (Debian's Chromium, one per test module), and the responses
service with its audio folder for the modules that drive the respondent's pages (a module
that defines its own ``service`` uses that one)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from services.responses import app as responses
from shared.runtime import ServiceRuntime
from tests.browser import CHROMIUM, CHROMIUM_ARGS
from tests.conftest import MakeSettings


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():  # noqa: ASYNC240 - once per module
        pytest.fail("Chromium is not installed: apt-get install chromium (.ci/run does it)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("audio")


@pytest.fixture(scope="module")
async def service(module_settings: MakeSettings, audio_dir: Path) -> AsyncIterator[ServiceRuntime]:
    runtime = responses.runtime(module_settings(audio_dir=audio_dir))
    await runtime.start()
    yield runtime
    await runtime.stop()
