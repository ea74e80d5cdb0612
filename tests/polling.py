"""Waiting for asynchronous effects: poll with a time limit, never sleep a fixed long time."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(probe: Callable[[], Awaitable[T | None]], within: float = 30) -> T:
    """Poll ``probe`` until it returns something other than None or False; TimeoutError after ``within`` s."""
    async with asyncio.timeout(within):
        while True:
            found = await probe()
            if found is not None and found is not False:
                return found
            await asyncio.sleep(0.1)
