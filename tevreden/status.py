"""``tevreden status --study S``: fieldwork per provider, and the pipeline's backlogs.

The provider rows come from the scoring service (``GET /api/studies/{study}/status`` with the
admin key: response so far, forecast, requirement, flag); the backlogs from every service's
``/metrics``: outbox rows waiting and the oldest one's age, consumer lag per group and topic,
events dead-lettered and failed attempts since the service started. A service that does not
answer is shown as down.

Exit code 0: nobody flagged; 1: at least one provider heads below the requirement; 2: the
scoring service could not be asked or refused the key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from services.scoring.pipeline import ServiceMetrics, parse_metrics
from services.scoring.status_page import STATUS_TEXT

__all__ = ["ServiceMetrics", "fetch_metrics", "parse_metrics", "run_extra_wave", "run_status"]


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


class KeyRefused(httpx.HTTPError):
    """The scoring service answered 401: the key is wrong or missing."""


def fetch_status(scoring_url: str, study: str, api_key: str, horizon_days: float = 42.0) -> dict[str, Any]:
    """The scoring service's fieldwork status of ``study``, asked with ``api_key``."""
    response = httpx.get(
        f"{scoring_url.rstrip('/')}/api/studies/{study}/status",
        params={"horizon_days": horizon_days},
        headers={"X-API-Key": api_key},
        timeout=60.0,
    )
    if response.status_code == 401:
        raise KeyRefused(
            "the scoring service refused the key (401): pass --api-key or set TEVREDEN_ADMIN_API_KEY"
        )
    response.raise_for_status()
    status: dict[str, Any] = response.json()
    return status


def run_status(
    study: str,
    scoring_url: str,
    service_urls: Mapping[str, str],
    horizon_days: float,
    console: Console,
    *,
    api_key: str,
) -> int:
    try:
        status = fetch_status(scoring_url, study, api_key, horizon_days)
    except KeyRefused as exc:
        console.print(str(exc), markup=False)
        return 2
    except httpx.HTTPError as exc:
        console.print(f"cannot ask the scoring service at {scoring_url}: {exc}", markup=False)
        return 2
    console.print(providers_table(status))
    curve = status["curve"]
    console.print(
        (
            ""
            if curve is None
            else f"Response curve of the study: median delay {curve['median_delay_days']:.1f} days; "
        )
        + f"forecast for {status['horizon_days']:.0f} days of fieldwork per invitation.",
        highlight=False,
    )
    console.print(backlog_table(fetch_metrics(service_urls)))
    if status["flagged"]:
        console.print(f"Heading below the requirement: {', '.join(status['flagged'])}", markup=False)
        return 1
    return 0


def default_wave_key(study: str, kind: str, providers: list[str], day: str) -> str:
    """The same command on the same day is the same wave (a repeat approaches nobody twice)."""
    digest = hashlib.sha256(",".join(sorted(providers)).encode()).hexdigest()[:16]
    return f"cli-{study}-{kind}-{day}-{digest}"[:100]


def flagged_providers(scoring_url: str, study: str, api_key: str) -> list[str]:
    return list(fetch_status(scoring_url, study, api_key)["flagged"])


def run_extra_wave(
    *,
    study: str,
    kind: str,
    providers: str,
    wave_key: str | None,
    invitations_url: str,
    scoring_url: str,
    api_key: str,
    console: Console,
) -> int:
    """``tevreden extra-wave``: the providers named, or those the scoring status flags, get an
    extra reminder or phone round. Exit 0: done (or done before: nobody approached twice);
    1: no provider to do it for; 2: a service said no or did not answer."""
    try:
        chosen = (
            flagged_providers(scoring_url, study, api_key)
            if providers == "flagged"
            else [p.strip() for p in providers.split(",") if p.strip()]
        )
    except KeyRefused as exc:
        console.print(str(exc), markup=False)
        return 2
    except httpx.HTTPError as exc:
        console.print(f"cannot ask the scoring service at {scoring_url}: {exc}", markup=False)
        return 2
    if not chosen:
        console.print("No provider to send an extra wave for (nobody flagged).")
        return 1
    key = wave_key or default_wave_key(study, kind, chosen, datetime.now(UTC).strftime("%Y%m%d"))
    try:
        response = httpx.post(
            f"{invitations_url.rstrip('/')}/api/studies/{study}/extra-waves",
            json={"kind": kind, "providers": chosen, "wave_key": key},
            headers={"X-API-Key": api_key},
            timeout=600.0,
        )
    except httpx.HTTPError as exc:
        console.print(f"cannot ask the invitations service at {invitations_url}: {exc}", markup=False)
        return 2
    if response.status_code not in (200, 201):
        console.print(
            f"the invitations service answered {response.status_code}: {response.text}", markup=False
        )
        return 2
    result = response.json()
    table = Table(
        title=f"Extra {kind} wave {key}"
        + (" (done before: nobody approached again)" if result["repeated"] else "")
    )
    table.add_column("provider")
    table.add_column("approached", justify="right")
    table.add_column("skipped")
    for provider, counts in result["per_provider"].items():
        approached = sum(v for k, v in counts.items() if not k.startswith("skipped_"))
        skipped = ", ".join(
            f"{k.removeprefix('skipped_')}: {v}"
            for k, v in sorted(counts.items())
            if k.startswith("skipped_")
        )
        table.add_row(provider, str(approached), skipped or "–")
    console.print(table)
    console.print(f"{result['approached']} people approached in all.", highlight=False)
    return 0
