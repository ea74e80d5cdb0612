"""Benchmark: reports for 500 providers, reports/s for HTML and for PDF separately.

    .venv/bin/python bench/reports.py [--providers 500] [--workers N] [--engine chromium|weasyprint]
                                      [--pdf-limit N]

The snapshots come from a generated Blik op Werk study counted by the real scoring domain
(every provider with clients and opdrachtgevers, 3 diensten, ~60 contacts). The raw baseline,
measured in the same run, is rendering the thin one-table report (the template alone): the
ratios say what the full report costs on top of it.

PDFs: the print edition of each full report, printed by the engine the reporting service
uses (services/reporting/pdf.py): Chromium with ``--workers`` tabs side by side, or
weasyprint in ``--workers`` processes. ``--engine`` compares the two in the same conditions.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

from services.reporting import pdf
from services.reporting.documents import render, render_document
from services.reporting.domain import Snapshot, build_report
from services.reporting.kinds import build_document
from services.reporting.model import Context
from shared.events import ScoresUpdatedPayload
from shared.schemes import load_scheme
from tevreden.sample_reports import study_payloads


def _print_html(payload: ScoresUpdatedPayload) -> str:
    doc = build_document(payload, load_scheme("bow"), Context("draft", 1, payload.provider_id, "BoW 2026"))
    return render_document(doc, pdf=True)


async def _chromium(payloads: list[ScoresUpdatedPayload], workers: int) -> list[int]:
    """Each report built and printed; ``workers`` PDFs in the printer at a time."""
    async with pdf.printer(pages=workers, engine="chromium") as printer:
        queue = list(reversed(payloads))
        sizes: list[int] = []

        async def tab() -> None:
            while queue:
                sizes.append(len(await printer.pdf(_print_html(queue.pop()))))

        await asyncio.gather(*(tab() for _ in range(workers)))
        return sizes


def _weasyprint_one(payload_json: str) -> int:
    return len(pdf.weasyprint_pdf(_print_html(ScoresUpdatedPayload.model_validate_json(payload_json))))


def _weasyprint(payloads: list[ScoresUpdatedPayload], workers: int) -> list[int]:
    with ProcessPoolExecutor(workers) as pool:
        return list(pool.map(_weasyprint_one, [p.model_dump_json() for p in payloads], chunksize=2))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--engine", choices=("chromium", "weasyprint"), default="chromium")
    parser.add_argument(
        "--pdf-limit", type=int, default=None, help="print only the first N PDFs (the rate is per report)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    payloads = study_payloads("bow", providers=args.providers, per_provider=60)
    print(
        f"snapshots of {len(payloads)} providers generated in {time.perf_counter() - started:.1f} s",
        flush=True,
    )
    scheme = load_scheme("bow")

    t = time.perf_counter()
    for p in payloads:
        render(build_report(Snapshot(p.study_id, p.provider_id, p.net_sample, p.completed, p.response_rate,
                                     p.mean_grade, p.grade_sum, datetime.now(UTC)), 1))  # fmt: skip
    baseline = len(payloads) / (time.perf_counter() - t)

    t = time.perf_counter()
    for p in payloads:
        render_document(build_document(p, scheme, Context("draft", 1, p.provider_id, "BoW 2026")))
    html_rate = len(payloads) / (time.perf_counter() - t)
    print(f"HTML: {html_rate:,.1f} reports/s; baseline {baseline:,.0f} reports/s", flush=True)

    pdf_payloads = payloads[: args.pdf_limit] if args.pdf_limit else payloads
    t = time.perf_counter()
    if args.engine == "chromium":
        sizes = asyncio.run(_chromium(pdf_payloads, args.workers))
    else:
        sizes = _weasyprint(pdf_payloads, args.workers)
    pdf_seconds = time.perf_counter() - t
    pdf_rate = len(pdf_payloads) / pdf_seconds

    print(f"raw baseline (thin one-table HTML): {baseline:,.0f} reports/s")
    print(f"full HTML report (model + charts + template): {html_rate:,.1f} reports/s "
          f"({html_rate / baseline:.3f}× baseline)")  # fmt: skip
    print(f"full PDF report ({args.engine}, {args.workers} at a time, model + HTML + print): "
          f"{pdf_rate:,.2f} reports/s ({pdf_rate / baseline:.5f}× baseline); "
          f"{len(pdf_payloads)} PDFs in {pdf_seconds:.0f} s, "
          f"so {len(payloads)} PDFs take {len(payloads) / pdf_rate / 60:.1f} min; "
          f"mean size {sum(sizes) / len(sizes) / 1024:.0f} KiB")  # fmt: skip


if __name__ == "__main__":
    main()
