"""``tevreden responses …``: the responses service's admin tasks.

- ``publish-audio``: speak the low-threshold questionnaires (espeak-ng) into the audio folder;
- ``import-paper FILE``: send keyed-in paper forms (CSV) to the service, print the row report;
- ``withdraw INVITATION_ID``: an AVG withdrawal: delete the answers, publish ``responses.withdrawn``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from shared.settings import get_settings
from tevreden.admin import error_detail

app = typer.Typer(no_args_is_help=True, help="Responses: spoken questionnaires, paper forms, withdrawals.")

UrlOption = Annotated[
    str | None, typer.Option(help="The responses service (default: http://127.0.0.1:<its port>)")
]
KeyOption = Annotated[str | None, typer.Option(help="Admin API key (default: TEVREDEN_ADMIN_API_KEY)")]


def _base(url: str | None) -> str:
    return url or f"http://127.0.0.1:{get_settings().port_for('responses')}"


def _headers(api_key: str | None) -> dict[str, str]:
    return {"X-API-Key": api_key or get_settings().admin_api_key.get_secret_value()}


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
    response = httpx.post(
        f"{_base(url)}/api/paper-imports",
        content=file.read_bytes(),
        headers=_headers(api_key) | {"Content-Type": "text/csv"},
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


@app.command()
def withdraw(
    invitation_id: Annotated[str, typer.Argument(help="The invitation whose answers are withdrawn")],
    url: UrlOption = None,
    api_key: KeyOption = None,
) -> None:
    """AVG request: delete a respondent's answers and close their link."""
    response = httpx.delete(
        f"{_base(url)}/api/responses/{invitation_id}", headers=_headers(api_key), timeout=30
    )
    if response.status_code != 200:
        typer.echo(f"refused ({response.status_code}): {error_detail(response)}", err=True)
        raise typer.Exit(2)
    body = response.json()
    typer.echo(f"{body['invitation_id']}: {body['outcome']}")
