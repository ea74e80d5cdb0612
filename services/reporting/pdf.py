"""HTML → PDF for reports: Chromium's print engine, driven by Playwright; weasyprint if no Chromium.

Chosen by measurement (bench/reports.py --engine): a 13-page Blik op Werk report with 26
SVG charts took ~0.3 s in Chromium and 1.3–2.6 s in weasyprint 70 on this machine. weasyprint
lays SVG text out letter by letter (a pango layout per character), so the charts alone cost
it more than a second; Chromium draws the same SVG as vector paths and real text.

One browser serves the whole process; ``pages`` tabs print side by side (Chromium renders
in its own processes, so two tabs use both cores). Nothing is fetched: every request a
report's HTML would make (it makes none) is aborted.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

# Flags for a server without a display or a network to Google: no sandbox (containers), no GPU,
# no phoning home at start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str | None:
    """``TEVREDEN_CHROMIUM`` or Debian's ``chromium`` on the PATH; None: not installed."""
    configured = os.environ.get("TEVREDEN_CHROMIUM")
    if configured:
        return configured
    return shutil.which("chromium") or shutil.which("chromium-browser")


class PdfPrinter(Protocol):
    name: str

    async def pdf(self, html: str) -> bytes: ...


class ChromiumPrinter:
    """Prints HTML with a running Chromium; at most ``pages`` documents at a time."""

    name = "chromium"

    def __init__(self, browser: Any, pages: int) -> None:
        self._browser = browser
        self._free: asyncio.Queue[Any] = asyncio.Queue()
        self._pages = pages
        self._opened = 0

    async def _page(self) -> Any:
        if self._free.empty() and self._opened < self._pages:
            self._opened += 1
            page = await self._browser.new_page(java_script_enabled=False)
            await page.route("**/*", lambda route: route.abort())  # a report fetches nothing
            return page
        return await self._free.get()

    async def pdf(self, html: str) -> bytes:
        page = await self._page()
        try:
            await page.set_content(html, wait_until="load")
            data: bytes = await page.pdf(prefer_css_page_size=True, print_background=True)
            return data
        finally:
            self._free.put_nowait(page)


class WeasyprintPrinter:
    """The fallback where no Chromium is installed: same HTML, slower (see the module docstring)."""

    name = "weasyprint"

    async def pdf(self, html: str) -> bytes:
        return await asyncio.to_thread(weasyprint_pdf, html)


def weasyprint_pdf(html: str) -> bytes:
    import weasyprint  # imported here: loading pango costs ~0.5 s

    data: bytes = weasyprint.HTML(string=html).write_pdf()
    return data


@asynccontextmanager
async def printer(pages: int = 2, engine: str | None = None) -> AsyncIterator[PdfPrinter]:
    """The PDF printer for this process: Chromium when installed (or ``engine="chromium"``,
    which then must be), else weasyprint (``engine="weasyprint"`` forces it)."""
    path = chromium_path() if engine != "weasyprint" else None
    if path is None:
        if engine == "chromium":
            raise RuntimeError("no Chromium found: install Debian's chromium or set TEVREDEN_CHROMIUM")
        yield WeasyprintPrinter()
        return
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield ChromiumPrinter(browser, pages)
        finally:
            await browser.close()


def render_pdf(html: str, engine: str | None = None) -> bytes:
    """One PDF, blocking (tests, scripts): starts a printer for it; a service keeps one running."""

    async def once() -> bytes:
        async with printer(pages=1, engine=engine) as p:
            return await p.pdf(html)

    return asyncio.run(once())
