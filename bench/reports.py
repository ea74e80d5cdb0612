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
    args = parser.parse_args()
    started = time.perf_counter()
    payloads = study_payloads("bow", providers=args.providers, per_provider=60)
    print(f"snapshots of {len(payloads)} providers generated in {time.perf_counter() - started:.1f} s")
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

    t = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        sizes = list(pool.map(_pdf, [p.model_dump_json() for p in payloads], chunksize=4))
    pdf_seconds = time.perf_counter() - t
    pdf_rate = len(payloads) / pdf_seconds

    print(f"raw baseline (thin one-table HTML): {baseline:,.0f} reports/s")
    print(f"full HTML report (model + charts + template): {html_rate:,.1f} reports/s "
          f"({html_rate / baseline:.3f}× baseline)")  # fmt: skip
    print(f"full PDF report ({args.workers} worker processes): {pdf_rate:,.2f} reports/s "
          f"({pdf_rate / baseline:.5f}× baseline); all {len(payloads)} PDFs in {pdf_seconds:.0f} s; "
          f"mean size {sum(sizes) / len(sizes) / 1024:.0f} KiB")  # fmt: skip


if __name__ == "__main__":
    main()
