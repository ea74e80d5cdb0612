"""What the whole system costs when nothing happens, and what an event then waits.

    python bench/idle.py [--seconds 30] [--settle 20] [--waits 10,100,250,500] [--events 100]

1. Starts the whole system as the demo does (``tevreden.stack.local_stack``: a Tansu broker,
   PostgreSQL, the SMTP sink and the four services, each a real ``tevreden run`` process),
   waits until every service answers ``/healthz`` and ``--settle`` seconds more (start-up
   work: migrations, the spoken questions, Chromium), then lets it idle for ``--seconds``.
2. Prints the CPU each part used over that window, as % of one core, from ``/proc``: every
   service with its child processes (HTTP workers, the PDF printer), the broker, PostgreSQL
   (an embedded server's whole process tree; on a shared server, the backends connected to
   this run's database only) and this process (the SMTP sink runs in a thread of it).
3. Latency on a quiet topic: a consumer built like the services' (``shared.consumer``'s
   subscriber options) with ``fetch_max_wait_ms`` from each of ``--waits`` (default: the
   setting) receives ``--events`` records produced one at a time, 50–300 ms apart; prints
   p50/p99/max from produce to the handler.

Other work on the machine shows in the figures (the shared server's background processes are
not counted): read them with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import asyncpg
from faststream.kafka import KafkaBroker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared.broker import ensure_topics, make_broker
from shared.consumer import batch_subscriber_options
from shared.settings import Settings
from tevreden.stack import LocalStack, local_stack

TICKS = os.sysconf("SC_CLK_TCK")


# --- CPU from /proc -------------------------------------------------------------------------


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used) of a live process, else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS


def _all_processes() -> dict[int, tuple[int, float]]:
    found: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None:
            found[int(entry)] = stat
    return found


def _tree(root: int, processes: dict[int, tuple[int, float]]) -> set[int]:
    """``root`` and every process below it."""
    members, grew = {root}, True
    while grew:
        below = {pid for pid, (parent, _) in processes.items() if parent in members} - members
        members |= below
        grew = bool(below)
    return members & processes.keys()


class CpuSample:
    """CPU seconds per part of the system at one moment."""

    def __init__(self, parts: dict[str, set[int]], processes: dict[int, tuple[int, float]]) -> None:
        self.taken = time.monotonic()
        self.per_pid = {part: {pid: processes[pid][1] for pid in pids} for part, pids in parts.items()}

    def percent_since(self, earlier: CpuSample) -> dict[str, float]:
        """% of one core per part between ``earlier`` and this sample (new processes count whole)."""
        seconds = self.taken - earlier.taken
        used: dict[str, float] = {}
        for part, now in self.per_pid.items():
            before = earlier.per_pid.get(part, {})
            used[part] = sum(cpu - before.get(pid, 0.0) for pid, cpu in now.items()) / seconds * 100
        return used


async def _database_backends(url: str) -> set[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return {r["pid"] for r in rows}


async def sample(stack: LocalStack) -> CpuSample:
    processes = _all_processes()
    parts: dict[str, set[int]] = {}
    for service, process in stack.processes.items():
        if process.pid is not None:
            parts[service] = _tree(process.pid, processes)
    if stack.infra.broker.pid is not None:
        parts["broker (tansu)"] = _tree(stack.infra.broker.pid, processes)
    server = stack.infra.postgres.server
    if server is not None and server.pid is not None:
        parts["postgresql (embedded)"] = _tree(server.pid, processes)
    else:
        backends = await _database_backends(stack.infra.postgres.url)
        parts["postgresql (this database's backends)"] = backends & processes.keys()
    parts["this process (SMTP sink)"] = {os.getpid()} & processes.keys()
    return CpuSample(parts, processes)


# --- latency on a quiet topic ----------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def quiet_topic_latency(bootstrap: str, wait_ms: int, events: int) -> dict[str, float]:
    """Produce ``events`` records one by one on a quiet topic; time each to a services-like handler."""
    settings = Settings(kafka_bootstrap_servers=bootstrap, consumer_fetch_max_wait_ms=wait_ms)
    topic = f"bench.idle.wait-{wait_ms}-{random.randrange(1 << 30)}"
    await ensure_topics(bootstrap, [topic], settings.topic_partitions)
    arrived: dict[int, float] = {}
    broker: KafkaBroker = make_broker(settings)

    @broker.subscriber(topic, group_id=f"{topic}.group", **batch_subscriber_options(settings))
    async def handle(bodies: list[Any]) -> None:
        now = time.perf_counter()
        for body in bodies:
            arrived.setdefault(int(body), now)

    await broker.start()
    try:
        await _until_assigned(broker, topic)
        sent: dict[int, float] = {}
        for n in range(events):
            await asyncio.sleep(random.uniform(0.05, 0.3))
            sent[n] = time.perf_counter()
            await broker.publish(n, topic, key=str(n).encode())
        deadline = time.monotonic() + 30
        while len(arrived) < events and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await broker.stop()
    latencies = [arrived[n] - sent[n] for n in sent if n in arrived]
    return {
        "p50": percentile(latencies, 50) * 1000,
        "p99": percentile(latencies, 99) * 1000,
        "max": max(latencies) * 1000,
        "received": len(latencies),
    }


async def _until_assigned(broker: KafkaBroker, topic: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    for subscriber in broker.subscribers:
        consumer: Any = getattr(subscriber, "consumer", None)
        while consumer is not None and not consumer.assignment():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no partitions of {topic} assigned")
            await asyncio.sleep(0.05)


# --- the run ---------------------------------------------------------------------------------


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def print_cpu(used: dict[str, float], seconds: float) -> None:
    print(f"\nCPU over {seconds:.0f} s idle, % of one core ({load_average()}):")
    for part, percent in sorted(used.items(), key=lambda item: -item[1]):
        print(f"  {part:<42}{percent:>7.2f}")
    print(f"  {'total':<42}{sum(used.values()):>7.2f}")


def print_latency(rows: Iterable[tuple[int, dict[str, float]]], events: int) -> None:
    print(f"\nQuiet topic, {events} events 50–300 ms apart, produce → handler ({load_average()}):")
    print(f"  {'fetch_max_wait_ms':>18}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'got':>6}")
    for wait, r in rows:
        print(f"  {wait:>18}{r['p50']:>9.1f}{r['p99']:>9.1f}{r['max']:>9.1f}{r['received']:>6.0f}")


async def measure(stack: LocalStack, args: argparse.Namespace) -> None:
    print(f"settling {args.settle:.0f} s …", flush=True)
    await asyncio.sleep(args.settle)
    print(f"idling {args.seconds:.0f} s …", flush=True)
    first = await sample(stack)
    await asyncio.sleep(args.seconds)
    used = (await sample(stack)).percent_since(first)
    print_cpu(used, args.seconds)
    rows = []
    for wait in args.waits:
        print(f"latency with fetch_max_wait_ms={wait} …", flush=True)
        rows.append(
            (
                wait,
                await quiet_topic_latency(stack.infra.broker.bootstrap_servers, wait, args.events),
            )
        )
    print_latency(rows, args.events)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--settle", type=float, default=20.0)
    parser.add_argument(
        "--waits",
        type=lambda text: [int(w) for w in text.split(",")],
        default=None,
        help="fetch_max_wait_ms values for the latency probe (default: the setting)",
    )
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()
    if args.waits is None:
        args.waits = [Settings().consumer_fetch_max_wait_ms]
    print(f"starting the system ({load_average()}) …", flush=True)
    with local_stack(healthy_within=300) as stack:
        print(f"services: {', '.join(f'{s} pid {p.pid}' for s, p in stack.processes.items())}")
        asyncio.run(measure(stack, args))


if __name__ == "__main__":
    main()
