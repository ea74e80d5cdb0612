"""The command's help reads as well as the docs: paragraphs reflow to the terminal, and no
choice is broken across lines."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
import pytest
import typer.main
from typer.testing import CliRunner

from tevreden.cli import app


def _commands(
    group: click.Group, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in group.commands.items():
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


COMMANDS = list(_commands(typer.main.get_command(app)))  # type: ignore[arg-type]


def _help(path: tuple[str, ...], columns: int) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(columns)}, terminal_width=columns)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_each_help_paragraph_is_one_paragraph_not_the_docstrings_lines(
    path: tuple[str, ...], command: click.Command
) -> None:
    shown = _help(path, 400)
    for paragraph in (command.help or "").split("\n\n"):
        assert " ".join(paragraph.split()) in shown


_OPEN_CHOICES = re.compile(r"<[\w\[\]-]+(?:\|[\w\[\]-]+)+(?=\s)")


def broken_choices(text: str) -> list[str]:
    """Lists of choices (``<a|b|c>``) that a line ends before closing."""
    return _OPEN_CHOICES.findall(text)


def test_a_choice_list_wrapped_mid_word_is_noticed() -> None:
    old = "│ *    service      <invitations|responses|scor  The service to run            │"
    assert broken_choices(old) == ["<invitations|responses|scor"]
    assert broken_choices("│ *  --mode   <reminder|phone>  reminder or phone │") == []


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[" ".join(p) for p, _ in COMMANDS])
def test_no_choice_is_broken_across_lines_at_80_columns(
    path: tuple[str, ...], command: click.Command
) -> None:
    assert broken_choices(_help(path, 80)) == []
