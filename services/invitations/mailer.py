"""Sending email over SMTP with a few pooled connections and bounded concurrency."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from shared.settings import Settings


@dataclass(frozen=True)
class SmtpReply:
    """What the SMTP server said; code 0 means no answer (timeout, connection lost)."""

    code: int
    text: str


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._timeout = settings.smtp_timeout_seconds
        self._concurrency = settings.email_concurrency

    async def send_all(self, messages: Sequence[EmailMessage]) -> list[SmtpReply]:
        """Send every message; one reply per message, in order. Never raises for SMTP errors."""
        replies: list[SmtpReply | None] = [None] * len(messages)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(messages)):
            queue.put_nowait(index)
        workers = min(self._concurrency, len(messages))
        await asyncio.gather(*(self._worker(queue, messages, replies) for _ in range(workers)))
        return [r if r is not None else SmtpReply(0, "not sent") for r in replies]

    async def _worker(
        self,
        queue: asyncio.Queue[int],
        messages: Sequence[EmailMessage],
        replies: list[SmtpReply | None],
    ) -> None:
        client: aiosmtplib.SMTP | None = None
        try:
            while not queue.empty():
                index = queue.get_nowait()
                if client is None or not client.is_connected:
                    client = await self._connect()
                    if client is None:
                        replies[index] = SmtpReply(0, "SMTP server unreachable")
                        continue
                replies[index] = await self._send(client, messages[index])
                if replies[index].code == 0:  # type: ignore[union-attr]
                    client = None  # the connection is in an unknown state: start afresh
        finally:
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except aiosmtplib.SMTPException:
                    client.close()

    async def _connect(self) -> aiosmtplib.SMTP | None:
        client = aiosmtplib.SMTP(hostname=self._host, port=self._port, timeout=self._timeout)
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError):
            return None
        return client

    async def _send(self, client: aiosmtplib.SMTP, message: EmailMessage) -> SmtpReply:
        try:
            _errors, reply = await client.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            return SmtpReply(first.code, first.message)
        except aiosmtplib.SMTPResponseException as exc:
            return SmtpReply(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            return SmtpReply(0, f"{type(exc).__name__}: {exc}")
        return SmtpReply(250, reply)
