"""``tevreden responses …``: the responses service's admin tasks.

- ``publish-audio``: speak the low-threshold questionnaires (espeak-ng) into the audio folder;
- ``import-paper FILE``: send keyed-in paper forms (CSV) to the service, print the row report;
- ``withdraw INVITATION_ID|EMAIL``: an AVG withdrawal: delete the answers, publish
  ``responses.withdrawn``; by the person's email address, their invitation is looked up first.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from shared.settings import get_settings
from tevreden.admin import error_detail
from tevreden.stack import ServiceAddresses

app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode="markdown",
    help="Responses: spoken questionnaires, paper forms, withdrawals.",
)

UrlOption = Annotated[
    str | None,
    typer.Option(help="The responses service (default: the local stack, else TEVREDEN_SERVICE_URLS)"),
]
KeyOption = Annotated[str | None, typer.Option(help="Admin API key (default: TEVREDEN_ADMIN_API_KEY)")]


def _services(url: str | None, api_key: str | None, invitations_url: str | None = None) -> ServiceAddresses:
    """The options given, else the running local stack, else the settings."""
    from tevreden.stack import locate_services

    named = {k: v for k, v in (("responses", url), ("invitations", invitations_url)) if v}
    return locate_services(named=named, api_key=api_key)


@app.command("publish-audio")
def publish_audio(
    questionnaire: Annotated[
        list[str] | None, typer.Option(help="Only this questionnaire (repeat); default: every one with audio")
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Audio folder (default: TEVREDEN_AUDIO_DIR)")] = None,
    force: Annotated[bool, typer.Option(help="Speak again even when a version was published")] = False,
) -> None:
    """Speak every question and answer option of the low-threshold questionnaires (espeak-ng, voice nl).

    Writes content-named WAV files and one manifest per questionnaire version into the folder the
    responses service serves at /audio/. A version that was published already is skipped.
    """
    from services.responses.audio import SpeechUnavailableError
    from services.responses.audio import publish_audio as publish
    from shared.questionnaires import load_questionnaire

    folder = output or get_settings().audio_dir
    chosen = [load_questionnaire(q) for q in questionnaire] if questionnaire else None
    try:
        published = asyncio.run(publish(folder, chosen, force=force))
    except SpeechUnavailableError as exc:
        typer.echo(f"{exc}: apt-get install espeak-ng", err=True)
        raise typer.Exit(1) from None
    for p in published:
        typer.echo(
            f"{p.questionnaire_id} v{p.version}: {p.texts} texts, {p.files_written} new files in {folder}"
        )
    if not published:
        typer.echo(f"nothing to do: every version is published in {folder}")


@app.command("import-paper")
def import_paper(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV of keyed-in paper forms")],
    url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """Import keyed-in paper forms; print the row report. Exit 0 when every row was stored or had
    been answered already, 1 when rows were rejected, 2 when the file was refused."""
    found = _services(url, api_key)
    response = httpx.post(
        f"{found.urls['responses']}/api/paper-imports",
        content=file.read_bytes(),
        headers={"X-API-Key": found.admin_api_key, "Content-Type": "text/csv"},
        timeout=120,
    )
    if response.status_code != 200:
        typer.echo(f"refused ({response.status_code}): {error_detail(response)}", err=True)
        raise typer.Exit(2)
    report: dict[str, Any] = response.json()
    typer.echo(
        f"{report['rows_total']} rows: {report['rows_stored']} stored ({report['rows_usable']} usable), "
        f"{report['rows_rejected']} rejected, {report['rows_already_answered']} answered already"
    )
    for p in report["problems"]:
        typer.echo(f"  row {p['row']}, {p['column']}: {p['problem_nl']} / {p['problem_en']}")
    raise typer.Exit(1 if report["rows_rejected"] else 0)


class NoSingleInvitationError(LookupError):
    """An email address that matches no invitation, or more than one."""


def one_invitation(address: str, found: list[dict[str, Any]]) -> str:
    """The id of the one invitation sent to ``address``; otherwise an error that says what to do."""
    if not found:
        raise NoSingleInvitationError(f"No invitation was sent to {address}.")
    if len(found) > 1:
        lines = "\n".join(
            f"  {i['invitation_id']}  study {i['study_id']}, provider {i['provider_id']}, {i['status']}"
            for i in found
        )
        raise NoSingleInvitationError(
            f"{len(found)} invitations were sent to {address}; withdraw each by its id:\n{lines}"
        )
    return str(found[0]["invitation_id"])


@app.command()
def withdraw(
    person: Annotated[
        str,
        typer.Argument(
            metavar="INVITATION_ID_OR_EMAIL",
            help="The invitation whose answers are withdrawn, or the email address the person gives.",
        ),
    ],
    url: UrlOption = None,
    invitations_url: Annotated[
        str | None,
        typer.Option(
            help="The invitations service, which looks an email address up "
            "(default: the local stack, else TEVREDEN_SERVICE_URLS)."
        ),
    ] = None,
    api_key: KeyOption = None,
) -> None:
    """AVG request: delete a respondent's answers and close their link.

    By email address, the person's invitation is looked up first (case and spaces do not
    matter); when several invitations went to that address, each is listed and none is withdrawn.
    """
    found = _services(url, api_key, invitations_url)
    headers = {"X-API-Key": found.admin_api_key}
    invitation_id = person
    if "@" in person:
        lookup = httpx.post(
            f"{found.urls['invitations']}/api/invitations/lookup",
            json={"email": person},
            headers=headers,
            timeout=30,
        )
        if lookup.status_code != 200:
            typer.echo(f"lookup refused ({lookup.status_code}): {error_detail(lookup)}", err=True)
            raise typer.Exit(2)
        try:
            invitation_id = one_invitation(person.strip(), lookup.json())
        except NoSingleInvitationError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
    response = httpx.delete(
        f"{found.urls['responses']}/api/responses/{invitation_id}", headers=headers, timeout=30
    )
    if response.status_code != 200:
        typer.echo(f"refused ({response.status_code}): {error_detail(response)}", err=True)
        raise typer.Exit(2)
    body = response.json()
    typer.echo(f"{body['invitation_id']}: {body['outcome']}")
