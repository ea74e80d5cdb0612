"""Local mode only: the messages the SMTP sink wrote to ``portal_mailbox_dir`` (one ``.eml``
file each), so a person running ``tevreden up`` can open an invitation and answer it."""

from __future__ import annotations

import email.policy
import re
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}\.eml$")
LINK = re.compile(r"https?://[^\s<>\"']+")


@dataclass(frozen=True)
class Mail:
    name: str
    sender: str
    to: str
    subject: str
    date: str
    text: str

    def parts(self) -> list[tuple[str, bool]]:
        """The text in pieces, each (text, is_link), so the page makes the links clickable."""
        pieces: list[tuple[str, bool]] = []
        at = 0
        for match in LINK.finditer(self.text):
            pieces += [(self.text[at : match.start()], False), (match.group(), True)]
            at = match.end()
        return [*pieces, (self.text[at:], False)]


def _read(path: Path) -> Mail:
    message = BytesParser(policy=email.policy.default).parsebytes(path.read_bytes())
    assert isinstance(message, EmailMessage)
    body = message.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    return Mail(
        name=path.name,
        sender=str(message.get("From", "")),
        to=str(message.get("To", "")),
        subject=str(message.get("Subject", "")),
        date=str(message.get("Date", "")),
        text=text if isinstance(text, str) else "",
    )


def newest(folder: Path, limit: int = 100) -> list[Mail]:
    """The newest messages first (file names start with the time they arrived)."""
    if not folder.is_dir():
        return []
    paths = sorted((p for p in folder.iterdir() if NAME.match(p.name)), reverse=True)[:limit]
    return [_read(p) for p in paths]


def one(folder: Path, name: str) -> Mail | None:
    if not NAME.match(name) or not (folder / name).is_file():
        return None
    return _read(folder / name)
