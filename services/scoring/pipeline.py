"""The pipeline's backlogs as every service reports them on ``/metrics``: outbox rows waiting
and the oldest one's age, consumer lag per group and topic, events dead-lettered and failed
attempts since the service started. Read by the ops page and by ``tevreden status``."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass
class ServiceMetrics:
    """What one service's /metrics says about its backlogs (``up`` False: it did not answer)."""

    up: bool = True
    outbox_backlog: float = 0.0
    outbox_oldest_age_seconds: float = 0.0
    lag: dict[tuple[str, str], float] = field(default_factory=dict)  # (group, topic) → messages
    dead_lettered: dict[str, float] = field(default_factory=dict)  # consumed topic → events
    failed: dict[str, float] = field(default_factory=dict)

    @property
    def total_lag(self) -> float:
        return sum(self.lag.values())

    @property
    def total_dead_lettered(self) -> float:
        return sum(self.dead_lettered.values())


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


async def fetch_all(urls: Mapping[str, str], wait_seconds: float = 3.0) -> dict[str, ServiceMetrics]:
    """Every service's backlogs, asked side by side; one that does not answer is down."""

    async def one(client: httpx.AsyncClient, service: str, url: str) -> ServiceMetrics:
        try:
            response = await client.get(f"{url.rstrip('/')}/metrics")
            response.raise_for_status()
        except httpx.HTTPError:
            return ServiceMetrics(up=False)
        return parse_metrics(response.text, service)

    async with httpx.AsyncClient(timeout=wait_seconds) as client:
        found = await asyncio.gather(*(one(client, s, u) for s, u in urls.items()))
    return dict(zip(urls, found, strict=True))


def pipeline_table(metrics: Mapping[str, ServiceMetrics]) -> str:
    """An HTML table: per service whether it answers, outbox backlog and age, lag, dead letters."""
    head = (
        "<tr><th>Service</th><th>Up</th><th>Outbox backlog</th><th>Oldest (s)</th>"
        "<th>Consumer lag</th><th>Dead-lettered</th><th>Failed attempts</th></tr>"
    )
    rows = []
    for service, m in metrics.items():
        if not m.up:
            rows.append(
                f'<tr class="flagged"><td>{escape(service)}</td><td>DOWN</td>' + "<td>–</td>" * 5 + "</tr>"
            )
            continue
        lag = ", ".join(f"{topic}: {value:.0f}" for (_, topic), value in sorted(m.lag.items())) or "–"
        flag = ' class="flagged"' if m.total_dead_lettered else ""
        rows.append(
            f"<tr{flag}><td>{escape(service)}</td><td>yes</td><td>{m.outbox_backlog:.0f}</td>"
            f"<td>{m.outbox_oldest_age_seconds:.1f}</td><td>{escape(lag)}</td>"
            f"<td>{m.total_dead_lettered:.0f}</td><td>{sum(m.failed.values()):.0f}</td></tr>"
        )
    return f'<table id="pipeline"><thead>{head}</thead><tbody>{"".join(rows)}</tbody></table>'
