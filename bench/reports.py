"""Benchmark: reports for 500 providers, reports/s for HTML and for PDF separately.

    .venv/bin/python bench/reports.py [--providers 500] [--workers N]

The snapshots come from a generated Blik op Werk study counted by the real scoring domain
(every provider with clients and opdrachtgevers, 3 diensten, ~60 contacts). The raw baseline,
measured in the same run, is rendering the thin one-table report (the template alone): the
ratios say what the full report costs on top of it. PDFs are rendered in a process pool
(weasyprint is single-threaded Python), so the figure scales with the cores.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime

from services.reporting.documents import render, render_document, render_pdf
from services.reporting.domain import Snapshot, build_report
from services.reporting.kinds import build_document
from services.reporting.model import Context
from shared.events import ScoresUpdatedPayload
from shared.schemes import load_scheme
from tevreden.sample_reports import study_payloads


def _pdf(payload_json: str) -> int:
    payload = ScoresUpdatedPayload.model_validate_json(payload_json)
    doc = build_document(payload, load_scheme("bow"), Context("draft", 1, payload.provider_id, "BoW 2026"))
    return len(render_pdf(render_document(doc, pdf=True)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--providers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--pdf-limit", type=int, default=None, help="render only the first N PDFs (the rate is per report)"
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
    with ProcessPoolExecutor(args.workers) as pool:
        sizes = list(pool.map(_pdf, [p.model_dump_json() for p in pdf_payloads], chunksize=2))
    pdf_seconds = time.perf_counter() - t
    pdf_rate = len(pdf_payloads) / pdf_seconds

    print(f"raw baseline (thin one-table HTML): {baseline:,.0f} reports/s")
    print(f"full HTML report (model + charts + template): {html_rate:,.1f} reports/s "
          f"({html_rate / baseline:.3f}× baseline)")  # fmt: skip
    print(f"full PDF report ({args.workers} worker processes): {pdf_rate:,.2f} reports/s "
          f"({pdf_rate / baseline:.5f}× baseline); {len(pdf_payloads)} PDFs in {pdf_seconds:.0f} s, "
          f"so {len(payloads)} PDFs take {len(payloads) / pdf_rate / 60:.1f} min; "
          f"mean size {sum(sizes) / len(sizes) / 1024:.0f} KiB")  # fmt: skip


if __name__ == "__main__":
    main()
