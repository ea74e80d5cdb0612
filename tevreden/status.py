"""``tevreden status --study S``: fieldwork per provider, and the pipeline's backlogs.

The provider rows come from the scoring service (``GET /api/studies/{study}/status``: response
so far, forecast, requirement, flag); the backlogs from every service's ``/metrics``: outbox
rows waiting and the oldest one's age, consumer lag per group and topic, events dead-lettered
and failed attempts since the service started. A service that does not answer is shown as down.

Exit code 0: nobody flagged; 1: at least one provider heads below the requirement; 2: the
scoring service could not be asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

from services.scoring.status_page import STATUS_TEXT


@dataclass
class ServiceMetrics:
    """What one service's /metrics says about its backlogs (None: it did not answer)."""

    up: bool = True
    outbox_backlog: float = 0.0
    outbox_oldest_age_seconds: float = 0.0
    lag: dict[tuple[str, str], float] = field(default_factory=dict)  # (group, topic) → messages
    dead_lettered: dict[str, float] = field(default_factory=dict)  # consumed topic → events
    failed: dict[str, float] = field(default_factory=dict)


def parse_metrics(text: str, service: str) -> ServiceMetrics:
    """The backlog figures of ``service`` from its Prometheus text exposition."""
    found = ServiceMetrics()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "tevreden_outbox_backlog" and labels.get("service") == service:
                found.outbox_backlog = sample.value
            elif sample.name == "tevreden_outbox_oldest_age_seconds" and labels.get("service") == service:
                found.outbox_oldest_age_seconds = sample.value
            elif sample.name == "tevreden_consumer_lag" and labels.get("group") == service:
                key = (labels["group"], labels["topic"])
                found.lag[key] = found.lag.get(key, 0.0) + sample.value
            elif sample.name == "tevreden_events_dead_lettered_total":
                found.dead_lettered[labels["topic"]] = sample.value
            elif sample.name == "tevreden_events_failed_total":
                found.failed[labels["topic"]] = sample.value
    return found


def fetch_metrics(urls: Mapping[str, str], timeout: float = 5.0) -> dict[str, ServiceMetrics]:
    found: dict[str, ServiceMetrics] = {}
    for service, url in urls.items():
        try:
            response = httpx.get(f"{url.rstrip('/')}/metrics", timeout=timeout)
            response.raise_for_status()
        except httpx.HTTPError:
            found[service] = ServiceMetrics(up=False)
            continue
        found[service] = parse_metrics(response.text, service)
    return found


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def providers_table(status: dict[str, Any]) -> Table:
    table = Table(title=f"Fieldwork {status['study_id']} (scheme {status['scheme_id']})")
    for column in ("provider", "type", "net sample", "usable", "so far", "forecast", "required", "status"):
        table.add_column(column, justify="left" if column in ("provider", "type", "status") else "right")
    for p in status["providers"]:
        required = (
            "–"
            if p["required_usable"] is None
            else f"{p['required_usable']} ({_pct(p['required_response'])})"
        )
        label = STATUS_TEXT.get(p["status"], p["status"])
        table.add_row(
            p["provider_id"],
            p["respondent_type"],
            str(p["net_sample"]),
            str(p["usable"]),
            _pct(p["response_so_far"]),
            f"{p['forecast_usable']:.1f} ({_pct(p['forecast_response'])})",
            required,
            f"[bold red]⚑ {label}[/]" if p["flagged"] else label,
        )
    return table


def backlog_table(metrics: Mapping[str, ServiceMetrics]) -> Table:
    table = Table(title="Pipeline")
    for column in (
        "service",
        "up",
        "outbox",
        "oldest (s)",
        "consumer lag",
        "dead-lettered",
        "failed attempts",
    ):
        table.add_column(column, justify="left" if column in ("service", "consumer lag") else "right")
    for service, m in metrics.items():
        if not m.up:
            table.add_row(service, "[bold red]DOWN[/]", "–", "–", "–", "–", "–")
            continue
        lag = ", ".join(f"{topic}: {value:.0f}" for (_, topic), value in sorted(m.lag.items())) or "–"
        dead = sum(m.dead_lettered.values())
        table.add_row(
            service,
            "yes",
            f"{m.outbox_backlog:.0f}",
            f"{m.outbox_oldest_age_seconds:.1f}",
            lag,
            f"[bold red]{dead:.0f}[/]" if dead else "0",
            f"{sum(m.failed.values()):.0f}",
        )
    return table


def run_status(
    study: str, scoring_url: str, service_urls: Mapping[str, str], horizon_days: float, console: Console
) -> int:
    try:
        response = httpx.get(
            f"{scoring_url.rstrip('/')}/api/studies/{study}/status",
            params={"horizon_days": horizon_days},
            timeout=30.0,
        )
        response.raise_for_status()
    except httpx.HTTPError as exc:
        console.print(f"cannot ask the scoring service at {scoring_url}: {exc}", markup=False)
        return 2
    status = response.json()
    console.print(providers_table(status))
    curve = status["curve"]
    console.print(
        f"Response curve of the study: median delay {curve['median_delay_days']:.1f} days;"
        f" forecast for {status['horizon_days']:.0f} days of fieldwork per invitation.",
        highlight=False,
    )
    console.print(backlog_table(fetch_metrics(service_urls)))
    if status["flagged"]:
        console.print(f"Heading below the requirement: {', '.join(status['flagged'])}", markup=False)
        return 1
    return 0
