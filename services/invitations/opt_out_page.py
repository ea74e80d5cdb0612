"""The opt-out page (afmelden) in the questionnaire's look: it names the study, says what stops
(emails and reminders, letters, calls) and who to contact."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared.settings import Bureau

_templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

OptOutState = Literal["ask", "done", "invalid"]
_TITLES: dict[OptOutState, str] = {
    "ask": "Afmelden",
    "done": "U bent afgemeld",
    "invalid": "Deze link werkt niet",
}


def opt_out_page(state: OptOutState, bureau: Bureau, *, study: str | None = None, token: str = "") -> str:
    """The page for asking, for the confirmation, or for a link that is not (or no longer) valid."""
    return _templates.get_template("opt_out.html").render(
        state=state, title=_TITLES[state], study=study, token=token, bureau=bureau
    )
