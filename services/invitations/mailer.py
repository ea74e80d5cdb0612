"""Sending email over SMTP: a pool of kept-open connections, bounded concurrency, a rate limit.

The connections live across rounds (one per concurrent sender); a connection in an unknown
state (a timeout, a dropped line) is closed and replaced. A token bucket keeps the whole
mailer under ``email_rate_per_second``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parseaddr

import aiosmtplib

from shared.metrics import EMAILS
from shared.settings import Settings


@dataclass(frozen=True)
class SmtpReply:
    """What the SMTP server said; code 0 means no answer (timeout, connection lost).

    ``local``: the message never reached the server because it cannot be sent at all (the
    address or the message is malformed); the code is then 554 (permanent) and the text says
    why without the address.
    """

    code: int
    text: str
    local: bool = False


def not_sendable(exc: BaseException) -> SmtpReply:
    """A message that fails before the server could answer it, for a reason of its own: a
    permanent failure of that message only. The exception's text is left out (it may quote
    the address)."""
    return SmtpReply(554, f"not sendable: {type(exc).__name__}", local=True)


@dataclass(frozen=True)
class Outgoing:
    """One message ready to go: the envelope recipient and the message's bytes."""

    to: str
    data: bytes


def email_outcome(code: int) -> str:
    """The ``tevreden_emails_total`` outcome of an SMTP reply: 2xx sent; 5xx bounced; 4xx or
    no answer (code 0) deferred, to be tried again."""
    if 200 <= code < 300:
        return "sent"
    return "bounced" if code >= 500 else "deferred"


class RateLimiter:
    """A token bucket: ``rate`` sends per second on average, bursts up to one second's worth."""

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._capacity = max(rate, 1.0)
        self._tokens = self._capacity
        self._updated = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        if self._rate <= 0:
            return
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self._rate)


class Mailer:
    """``email_concurrency`` connections at most, shared by every round in flight: a round
    takes a connection per message and gives it back, kept open, for the next one."""

    def __init__(self, settings: Settings) -> None:
        self._host = settings.smtp_host
        self._port = settings.smtp_port
        self._timeout = settings.smtp_timeout_seconds
        self._concurrency = settings.email_concurrency
        self.sender = parseaddr(settings.smtp_sender)[1]
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.email_concurrency)
        self._limiter = RateLimiter(settings.email_rate_per_second)

    async def send_all(self, messages: Sequence[Outgoing]) -> list[SmtpReply]:
        """Send every message; one reply per message, in order. Never raises for SMTP errors."""
        replies: list[SmtpReply | None] = [None] * len(messages)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(messages)):
            queue.put_nowait(index)
        workers = min(self._concurrency, len(messages))
        await asyncio.gather(*(self._worker(queue, messages, replies) for _ in range(workers)))
        done = [r if r is not None else SmtpReply(0, "not sent") for r in replies]
        for reply in done:
            EMAILS.labels(outcome=email_outcome(reply.code)).inc()
        return done

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()

    async def _worker(
        self, queue: asyncio.Queue[int], messages: Sequence[Outgoing], replies: list[SmtpReply | None]
    ) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            async with self._slots:  # one connection per slot, across every round in flight
                client = self._idle.pop() if self._idle else None
                if client is None or not client.is_connected:
                    client = await self._connect()
                    if client is None:
                        replies[index] = SmtpReply(0, "SMTP server unreachable")
                        continue
                await self._limiter.take()
                try:
                    reply = await self._send(client, messages[index])
                except Exception as exc:  # one bad message must not end the round
                    client.close()
                    replies[index] = not_sendable(exc)
                    continue
                replies[index] = reply
                if reply.code != 0 and client.is_connected:
                    self._idle.append(client)  # kept open for the next message or round
                # code 0: the connection is in an unknown state; it was closed, a new one follows

    async def _connect(self) -> aiosmtplib.SMTP | None:
        client = aiosmtplib.SMTP(hostname=self._host, port=self._port, timeout=self._timeout)
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            return None
        return client

    async def _send(self, client: aiosmtplib.SMTP, message: Outgoing) -> SmtpReply:
        try:
            _errors, reply = await client.sendmail(self.sender, [message.to], message.data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            await self._reset(client)
            return SmtpReply(first.code, first.message)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == 421 or not client.is_connected:  # the server closes the line
                client.close()
                return SmtpReply(exc.code if exc.code != 421 else 421, exc.message)
            await self._reset(client)
            return SmtpReply(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            client.close()
            return SmtpReply(0, f"{type(exc).__name__}: {exc}")
        return SmtpReply(250, reply)

    @staticmethod
    async def _reset(client: aiosmtplib.SMTP) -> None:
        try:
            await client.rset()
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()
