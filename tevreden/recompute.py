"""``tevreden recompute``: every figure of a study from scratch, compared with the incremental state.

Reads the scoring schema directly (no service needs to run). The responses come from the
stored ones or from a JSON Lines file (format in docs/figures.md); the net sample always from the
stored invitations. Prints OK or every difference; the exit code is 0 when nothing differs,
1 when something does, 2 when there is nothing to compare (no such study, no scoring schema)
or the file cannot be read.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from rich.console import Console

from services.scoring import service
from shared.db import create_pool

MAX_LINES_SHOWN = 200


async def recompute(
    database_url: str, study_id: str, responses_file: Path | None = None
) -> service.Recomputed:
    """Recompute ``study_id`` against the database at ``database_url``."""
    facts = None
    if responses_file is not None:
        with responses_file.open(encoding="utf-8") as lines:
            facts = service.facts_from_lines(study_id, lines)
    pool = await create_pool(database_url, 1)
    try:
        async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            return await service.recompute_study(conn, study_id, facts)
    finally:
        await pool.close()


def run_recompute(database_url: str, study_id: str, responses_file: Path | None, console: Console) -> int:
    """The command: print the outcome, return the exit code."""
    try:
        result = asyncio.run(recompute(database_url, study_id, responses_file))
    except (OSError, service.ResponseLineError) as exc:
        console.print(f"cannot read the responses: {exc}", markup=False, highlight=False)
        return 2
    except asyncpg.UndefinedTableError as exc:
        console.print(f"no scoring tables in this database ({exc}): run `tevreden migrate`", markup=False)
        return 2
    if result.providers == 0:
        console.print(f"nothing is stored for study {study_id!r}", markup=False, highlight=False)
        return 2
    source = f"the responses in {responses_file}" if responses_file else "the stored responses"
    summary = f"{study_id}: {result.providers} provider(s), {result.responses} response(s) from {source}"
    if result.ok:
        console.print(f"OK {summary}: every figure equals the incremental state", highlight=False)
        return 0
    console.print(f"DIFFERENT {summary}: {len(result.differences)} difference(s)", highlight=False)
    for line in result.differences[:MAX_LINES_SHOWN]:
        console.print(f"  {line}", markup=False, highlight=False)
    if len(result.differences) > MAX_LINES_SHOWN:
        console.print(f"  … and {len(result.differences) - MAX_LINES_SHOWN} more", highlight=False)
    return 1
