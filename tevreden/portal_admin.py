"""The portal from the command line: ``tevreden portal-invite`` (a user and their sign-in link)
and ``tevreden up`` (the whole system with the portal, until Ctrl-C)."""

from __future__ import annotations

import asyncio
import signal
import threading
from datetime import timedelta
from pathlib import Path

from rich.console import Console

from services.portal import service, store
from services.portal.domain import new_user
from shared.db import create_pool, migrate, migrations_dir
from shared.settings import Settings
from tevreden.infra import InfraError
from tevreden.stack import LocalStack, local_stack, stack_file


async def _invite(settings: Settings, email: str, role: str, provider_id: str, *, reuse: bool) -> str:
    """The user's sign-in link; with ``reuse`` an existing user at ``email`` gets a new one."""
    new, errors = new_user(email, role, provider_id)
    if new is None:
        raise ValueError("; ".join(errors.values()))
    pool = await create_pool(settings.database_url, 1)
    try:
        async with pool.acquire() as conn:
            await migrate(conn, "portal", migrations_dir("services.portal"))
        async with pool.acquire() as conn, conn.transaction():
            existing = await store.live_user_by_email(conn, new.email)
            if existing is not None and reuse:
                valid = timedelta(hours=settings.portal_invite_link_hours)
                return (await service.issue_link(conn, settings, existing, valid)).url
            return (await service.invite(conn, settings, new, None)).url
    finally:
        await pool.close()


def invite_and_print(settings: Settings, email: str, role: str, provider_id: str) -> int:
    console = Console()
    try:
        url = asyncio.run(_invite(settings, email, role, provider_id, reuse=False))
    except ValueError as exc:
        console.print(f"[red]Niet uitgenodigd:[/] {exc}")
        return 1
    except service.AlreadyExistsError:
        console.print(f"[red]Er is al een gebruiker met het adres {email}.[/]")
        return 1
    console.print(f"Aanmeldlink voor {email} (eenmalig, {settings.portal_invite_link_hours:g} uur geldig):")
    console.print(url, soft_wrap=True, highlight=False)
    return 0


def first_bureau_link(stack: LocalStack, email: str) -> str:
    settings = Settings(
        database_url=stack.env["TEVREDEN_DATABASE_URL"],
        portal_public_url=stack.url("portal"),
    )
    return asyncio.run(_invite(settings, email, "bureau", "", reuse=True))


def keep_running(stack: LocalStack, email: str, console: Console) -> int:
    """Print the portal's address and a bureau sign-in link; wait for Ctrl-C (or a service dying)."""
    link = first_bureau_link(stack, email)
    console.print(f"\n[bold]Portaal:[/] {stack.url('portal')}")
    console.print(f"[bold]Aanmelden als onderzoeksbureau ({email}):[/]")
    console.print(link, soft_wrap=True, highlight=False)
    console.print(
        "Uitnodigingen en andere e-mail staan in het portaal onder Postvak. "
        f"Logs: {stack.workdir}. Stoppen: Ctrl-C."
    )
    return wait_until_stopped(stack, console)


def wait_until_stopped(stack: LocalStack, console: Console) -> int:
    """Wait for Ctrl-C or SIGTERM (0), or for a service to die (1)."""
    stopping = threading.Event()
    # Ctrl-C or a TERM stops everything cleanly (also when started in the background, where
    # SIGINT would otherwise be ignored).
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    while not stopping.wait(1.0):
        for name, process in stack.processes.items():
            if process.exit_code() is not None:
                console.print(f"[red]{name} stopped; see {stack.workdir / (name + '.log')}[/]")
                return 1
    console.print("Stopping…")
    return 0


def run_up(workdir: Path, email: str) -> int:
    console = Console()
    try:
        with console.status("PostgreSQL, de broker, de mailserver, vier diensten en het portaal starten…"):
            # Generous: on a busy machine a consumer group can take minutes to settle.
            stack_cm = local_stack(
                workdir=workdir, healthy_within=300.0, usual_ports=True, announce_to=stack_file()
            )
            stack = stack_cm.__enter__()
    except InfraError as exc:
        console.print(f"[red]Starting failed:[/] {exc}")
        return 2
    try:
        return keep_running(stack, email, console)
    finally:
        stack_cm.__exit__(None, None, None)
