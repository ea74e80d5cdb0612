"""Email wave throughput against the fastest raw SMTP send loop, measured in the same run.

    python bench/emails.py [--emails 20000] [--concurrency 8]

Delivers a study's contacts (not timed), then:

* **raw baseline**: the same messages (the very bytes the wave sends), pre-rendered, sent by
  a bare SMTP loop on asyncio streams (no client library) over ``--concurrency`` kept-open
  connections, each taking the next message as soon as it is done: the fastest those emails
  can go to this SMTP server from one Python process;
* **wave**: the real scheduler, ``services.invitations.service.send_due_emails`` in rounds until
  nothing is due: claim (``FOR UPDATE SKIP LOCKED``), render per person, send through the pooled
  mailer, record outcomes, advance each plan and write the accounting events, per round one
  transaction.

The SMTP server is ``tevreden.infra.SmtpSink`` (aiosmtpd) in its own process, so it does not
share a core's interpreter with the sender. Prints emails/s for both and the ratio wave / raw.
Uses the server named by ``TEVREDEN_DATABASE_URL`` (a fresh database, dropped at the end),
else a throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.invitations import service, store
from services.invitations.domain import Enrolment
from services.invitations.emails import smtp_date
from services.invitations.mailer import Mailer
from shared.db import create_pool, migrate, migrations_dir
from shared.settings import Settings
from tevreden.infra import LocalPostgres, free_port

SINK = """
import sys, time
from tevreden.infra import SmtpSink
sink = SmtpSink.start(int(sys.argv[1]))
print("ready", flush=True)
while True:
    time.sleep(0.5)
    sink.clear()  # keep memory flat: the bench counts the server's 250 replies
"""


def contacts_csv(emails: int) -> bytes:
    rows = ["client_ref,name,email,service"]
    rows += [f"C{n:06d},Naam {n},client.{n:06d}@panel.example,3" for n in range(emails)]
    return ("\n".join(rows) + "\n").encode()


def wire_form(data: bytes) -> bytes:
    """A message as it goes after DATA: CRLF line ends, leading dots doubled, the final dot line."""
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"


async def _reply(reader: asyncio.StreamReader, expect: bytes) -> None:
    while True:  # a multi-line reply ends with "<code> "
        line = await reader.readline()
        if line[3:4] != b"-":
            break
    if not line.startswith(expect):
        raise RuntimeError(f"SMTP server said {line!r}, expected {expect.decode()}")


async def raw_loop(settings: Settings, messages: list[tuple[str, bytes]], concurrency: int) -> int:
    """The fastest a plain loop sends these messages: bare SMTP on asyncio streams (no client
    library), ``concurrency`` kept-open connections each taking the next message as soon as it
    is done (a shared queue, no fixed shares). The server does not offer PIPELINING, so each
    command waits for its reply, as the protocol requires."""
    sender = b"onderzoek@tevreden.example"
    prepared = [(f"RCPT TO:<{to}>\r\n".encode(), wire_form(data)) for to, data in messages]
    queue = iter(prepared)
    sent = 0

    async def connection() -> None:
        nonlocal sent
        reader, writer = await asyncio.open_connection(settings.smtp_host, settings.smtp_port)
        await _reply(reader, b"220")
        writer.write(b"EHLO bench.example\r\n")
        await _reply(reader, b"250")
        for rcpt, body in queue:
            writer.write(b"MAIL FROM:<" + sender + b">\r\n")
            await _reply(reader, b"250")
            writer.write(rcpt)
            await _reply(reader, b"250")
            writer.write(b"DATA\r\n")
            await _reply(reader, b"354")
            writer.write(body)
            await _reply(reader, b"250")
            sent += 1
        writer.write(b"QUIT\r\n")
        await _reply(reader, b"221")
        writer.close()

    await asyncio.gather(*(connection() for _ in range(concurrency)))
    return sent


def start_sink(port: int) -> subprocess.Popen[str]:
    sink = subprocess.Popen(
        [sys.executable, "-c", SINK, str(port)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert sink.stdout is not None
    sink.stdout.readline()
    return sink


async def run(emails: int, concurrency: int, sink: subprocess.Popen[str], port: int) -> None:
    database = LocalPostgres.start()
    try:
        settings = Settings(
            database_url=database.url,
            token_secret="bench-secret",  # noqa: S106
            smtp_port=port,
            email_concurrency=concurrency,
            email_rate_per_second=0,
            email_batch_size=500,
        )
        pool = await create_pool(database.url, 4)
        try:
            async with pool.acquire() as conn:
                await migrate(conn, "invitations", migrations_dir("services.invitations"))
                await store.create_provider(conn, "P1", "Werkt Zwolle", "key")
            await service.create_study(pool, study_id="bench", name="Bench", questionnaire_id="minimal-v1")
            await service.enrol(pool, Enrolment("bench", "P1", ("3",)))
            started = time.perf_counter()
            await service.accept_delivery(pool, settings, "bench", "P1", contacts_csv(emails))
            print(f"{emails:,} contacts delivered in {time.perf_counter() - started:.1f} s (not timed below)")

            async with pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT i.invitation_id, i.stage_attempts, i.respondent_type, c.email, c.name, c.variant,"
                    " p.name AS provider_name FROM invitations.invitations i"
                    " JOIN invitations.contacts c USING (contact_id) JOIN invitations.providers p"
                    " ON p.provider_id = i.provider_id"
                )
            date = smtp_date()
            messages = [(r["email"], service.email_bytes(settings, r, date)[1]) for r in rows]
            print(f"messages of {sum(len(m) for _, m in messages) / len(messages):,.0f} bytes on average")

            started = time.perf_counter()
            sent_raw = await raw_loop(settings, messages, concurrency)
            raw_seconds = time.perf_counter() - started
            print(f"raw SMTP loop: {sent_raw:,} in {raw_seconds:.1f} s")

            mailer = Mailer(settings)
            started = time.perf_counter()
            attempted = 0

            async def rounds() -> None:  # as the service runs them: rounds in flight side by side
                nonlocal attempted
                while done := await service.send_due_emails(pool, settings, mailer):
                    attempted += done

            await asyncio.gather(*(rounds() for _ in range(settings.email_rounds_in_flight)))
            wave_seconds = time.perf_counter() - started
            await mailer.close()
            async with pool.acquire() as conn:
                sent = await conn.fetchval(
                    "SELECT count(*) FROM invitations.approaches WHERE outcome = 'sent'"
                )
            print(f"wave (send_due_emails): {sent:,} sent of {attempted:,} attempted in {wave_seconds:.1f} s")
        finally:
            await pool.close()
    finally:
        database.stop()
        sink.terminate()
        sink.wait()
    raw_rate, wave_rate = sent_raw / raw_seconds, sent / wave_seconds
    print()
    print(f"raw baseline (pre-rendered, {concurrency} connections) {raw_rate:>10,.0f} emails/s")
    print(f"wave (claim + render + send + record)          {wave_rate:>10,.0f} emails/s")
    print(f"ratio wave / raw                               {wave_rate / raw_rate:>10.2f}")
    print("load average " + " ".join(f"{x:.2f}" for x in os.getloadavg()))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--emails", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    asyncio.run(run(args.emails, args.concurrency, start_sink(port), port))


if __name__ == "__main__":
    main()
