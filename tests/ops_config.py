"""Reading the operations configuration in deploy/: the dashboard, the alert rules, the
Prometheus scrape config, and the metric names their PromQL uses."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
DASHBOARD = DEPLOY / "grafana" / "dashboards" / "tevreden.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"

# Metrics only the invitations service has: tests/integration/test_extra_waves.py checks them on a
# running invitations service, tests/integration/test_operations.py the rest on the others.
INVITATIONS_ONLY = {"tevreden_wave_progress"}
# Prometheus' own series, not the services'.
PROMETHEUS_SERIES = {"up"}
# Suffixes Prometheus adds to a histogram's (or summary's) samples.
_SAMPLE_SUFFIXES = ("_bucket", "_sum", "_count")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"')
_LABEL_BLOCKS = re.compile(r"\{[^}]*\}")
_BY_CLAUSES = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_RANGES = re.compile(r"\[[^\]]*\]")


def load_dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return data


def load_yaml(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression selects (functions, keywords, labels left out)."""
    text = _STRINGS.sub('""', expr)
    text = _LABEL_BLOCKS.sub("", text)
    text = _BY_CLAUSES.sub("", text)
    text = _RANGES.sub("", text)
    names = set()
    for match in _IDENTIFIER.finditer(text):
        end = match.end()
        rest = text[end:].lstrip()
        if rest.startswith("("):
            continue  # a function or aggregation
        word = match.group()
        if word in {"by", "without", "and", "or", "unless", "on", "ignoring", "bool", "offset", "e"}:
            continue
        names.add(word)
    return names


def exposed_name(series: str) -> str:
    """The name a series' family has on /metrics (a histogram's _bucket is the histogram)."""
    for suffix in _SAMPLE_SUFFIXES:
        if series.endswith(suffix):
            return series[: -len(suffix)]
    return series


def all_service_metric_names() -> set[str]:
    """Every series the dashboard and the alert rules read from the services."""
    exprs = dashboard_exprs(load_dashboard()) + [rule["expr"] for rule in alert_rules()]
    return {name for expr in exprs for name in metric_names(expr)} - PROMETHEUS_SERIES
