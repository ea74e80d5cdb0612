"""Waiting for asynchronous effects: poll until a condition holds, never sleep a fixed long time.

One deadline for every wait: generous enough for a loaded 2-core machine (a wait that is met
returns at once, so a long deadline costs nothing when all is well). Set
``TEVREDEN_TEST_DEADLINE`` (seconds) to change it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

DEADLINE = float(os.environ.get("TEVREDEN_TEST_DEADLINE", "120"))
"""Seconds a test waits for a condition before it fails."""

_POLL = 0.1


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = DEADLINE) -> T:
    """Poll ``probe`` until it returns something other than None or False; TimeoutError after ``within`` s."""
    async with asyncio.timeout(within):
        while True:
            found = await probe()
            if found is not None and found is not False:
                return found
            await asyncio.sleep(_POLL)


def eventually_sync(probe: Callable[[], T | None], within: float = DEADLINE) -> T:
    """Like :func:`eventually`, for code outside an event loop."""
    deadline = time.monotonic() + within
    while True:
        found = probe()
        if found is not None and found is not False:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {within:.0f} s")
        time.sleep(_POLL)
