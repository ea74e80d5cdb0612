"""Contact intake throughput against the raw database, measured in the same run.

    python bench/intake.py [--rows 100000] [--repeat 3]

Generates a delivery CSV (Blik op Werk columns, about 1% bad rows), then per round:

* **intake**: the real use case, ``services.invitations.service.accept_delivery``: read,
  validate every row, look up duplicates, sample, store contacts (COPY), invitations
  (unnest) and the events in the outbox, in one transaction;
* **check only**: the pure part of it (``read_delivery`` + ``check_delivery``), no database;
* **raw baseline**: parse the same file with ``csv`` and ``copy_records_to_table`` into a
  scratch table of text columns: the fastest anything can get those rows into PostgreSQL.

Prints rows/s for each (medians over the rounds) and the ratio intake / raw. Uses the
server named by ``TEVREDEN_DATABASE_URL`` (a fresh database on it, dropped at the end),
else a throwaway embedded PostgreSQL. Absolute numbers depend on the machine; the ratio
is the figure to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from services.invitations import service, store
from services.invitations.domain import Enrolment, check_delivery, read_delivery
from shared.db import create_pool, migrate, migrations_dir
from shared.settings import Settings
from tevreden.infra import LocalPostgres

SERVICES = ("1", "2", "3", "5", "7", "9", "10", "11", "13")
FIRST = ("Anna", "Mohamed", "Sanne", "Daan", "Fatima", "Kevin", "Eva", "Youssef", "Lotte", "Bram")
LAST = ("de Vries", "Jansen", "Bakker", "El Amrani", "Visser", "Smit", "Yilmaz", "de Jong")
LETTERS = "ABCEGHJKLMNPRTVXZ"
CITIES = ("Utrecht", "Zwolle", "Tilburg", "Groningen", "Almere", "Leiden", "Breda", "Arnhem")
HEADER = [
    "client_ref",
    "name",
    "email",
    "phone",
    "street",
    "house_number",
    "postcode",
    "city",
    "service",
    "learning_profile",
    "end_date",
]


def generate_csv(rows: int, seed: int = 2026) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    writer.writerow(HEADER)
    for n in range(rows):
        service_code = rng.choice(SERVICES)
        email = f"client.{n:06d}@panel.example"
        if n % 100 == 7:
            email = "geen-email"  # about 1% bad rows
        writer.writerow(
            [
                f"C{n:06d}",
                f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                email,
                f"06{rng.randrange(10**8):08d}",
                "Dorpsstraat",
                str(rng.randrange(1, 300)),
                f"{rng.randrange(1000, 10000)} {rng.choice(LETTERS)}{rng.choice(LETTERS)}",
                rng.choice(CITIES),
                service_code,
                str(rng.randrange(1, 5)) if service_code == "11" else "",
                f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            ]
        )
    return out.getvalue().encode()


async def run(rows: int, repeat: int) -> None:
    data = generate_csv(rows)
    print(f"{rows:,} rows, {len(data) / 1e6:.1f} MB of CSV; {repeat} round(s)")
    database = LocalPostgres.start()
    try:
        settings = Settings(database_url=database.url, token_secret="bench-secret")  # noqa: S106
        pool = await create_pool(database.url, 4)
        try:
            async with pool.acquire() as conn:
                await migrate(conn, "invitations", migrations_dir("services.invitations"))
                await conn.execute("CREATE TABLE scratch (" + ", ".join(f"{c} text" for c in HEADER) + ")")
            await service.create_study(pool, study_id="bench", name="Bench", scheme_id="bow", year=2026)
            intake, check_only, raw = [], [], []
            for round_ in range(repeat):
                provider_id = f"P{round_}"
                async with pool.acquire() as conn:
                    await store.create_provider(conn, provider_id, provider_id, f"key-{round_}")
                await service.enrol(pool, Enrolment("bench", provider_id, SERVICES))

                started = time.perf_counter()
                receipt = await service.accept_delivery(pool, settings, "bench", provider_id, data)
                intake.append(time.perf_counter() - started)

                started = time.perf_counter()
                study = await service.get_study(pool, "bench", None)
                enrolment = await service.get_enrolment(pool, "bench", provider_id)
                check_delivery(read_delivery(data), rules=service.intake_rules(study, enrolment))
                check_only.append(time.perf_counter() - started)

                started = time.perf_counter()
                records = list(csv.reader(io.StringIO(data.decode()), delimiter=";"))[1:]
                async with pool.acquire() as conn, conn.transaction():
                    await conn.copy_records_to_table("scratch", records=records, columns=HEADER)
                raw.append(time.perf_counter() - started)
                async with pool.acquire() as conn:
                    await conn.execute("TRUNCATE scratch")
                print(
                    f"  round {round_ + 1}: intake {intake[-1]:.2f} s ({receipt.rows_accepted:,} invited, "
                    f"{receipt.rows_rejected:,} rejected), check only {check_only[-1]:.2f} s, "
                    f"raw {raw[-1]:.2f} s"
                )
        finally:
            await pool.close()
    finally:
        database.stop()
    medians = {
        name: statistics.median(t) for name, t in (("intake", intake), ("check", check_only), ("raw", raw))
    }
    print()
    print(f"intake (validate + store, real use case)  {rows / medians['intake']:>10,.0f} rows/s")
    print(f"  of which read + check (pure)            {rows / medians['check']:>10,.0f} rows/s")
    print(f"raw baseline (csv + copy_records_to_table) {rows / medians['raw']:>10,.0f} rows/s")
    print(f"ratio intake / raw                         {medians['raw'] / medians['intake']:>10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.rows, args.repeat))


if __name__ == "__main__":
    main()
