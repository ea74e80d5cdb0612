"""deploy/: the Grafana dashboard, the Prometheus alert rules and scrape config are well formed
and wired into docker-compose.yml. (That the services expose every metric they name is checked
against a running service in tests/integration/test_operations.py.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from shared.settings import DEFAULT_HTTP_PORTS
from tests.ops_config import (
    ALERTS,
    DASHBOARD,
    PROMETHEUS,
    ROOT,
    alert_rules,
    all_service_metric_names,
    dashboard_exprs,
    load_dashboard,
    load_yaml,
    metric_names,
)

DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def balanced(expr: str) -> bool:
    """Brackets of every kind open and close in order (quoted label values left out)."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def test_metric_names_are_read_from_promql_without_functions_labels_or_keywords() -> None:
    expr = 'sum by (group, topic) (max by (group, topic, partition) (tevreden_consumer_lag{job="x"}))'
    assert metric_names(expr) == {"tevreden_consumer_lag"}
    quantile = "histogram_quantile(0.95, sum by (le) (rate(tevreden_scoring_latency_seconds_bucket[5m])))"
    assert metric_names(quantile) == {"tevreden_scoring_latency_seconds_bucket"}
    assert metric_names('up{job="tevreden"} == 0') == {"up"}


def test_the_dashboard_loads_with_unique_panels_each_with_a_query() -> None:
    dashboard = load_dashboard()
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["title"], panel
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["expr"].strip() and balanced(target["expr"]), target


def test_every_panel_reads_from_the_provisioned_prometheus_datasource() -> None:
    datasources = load_yaml(ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml")["datasources"]
    uids = {d["uid"] for d in datasources if d["type"] == "prometheus"}
    for panel in load_dashboard()["panels"]:
        assert panel["datasource"]["uid"] in uids
        assert all(t["datasource"]["uid"] in uids for t in panel["targets"])


def test_the_dashboard_shows_each_operations_figure_the_issue_asks_for() -> None:
    names = {n for expr in dashboard_exprs(load_dashboard()) for n in metric_names(expr)}
    for wanted in (
        "tevreden_events_consumed_total",
        "tevreden_events_published_total",
        "tevreden_events_failed_total",
        "tevreden_events_dead_lettered_total",
        "tevreden_outbox_backlog",
        "tevreden_outbox_oldest_age_seconds",
        "tevreden_consumer_lag",
        "tevreden_scoring_latency_seconds_bucket",
        "tevreden_responses_total",
        "tevreden_emails_total",
    ):
        assert wanted in names, wanted


def test_alert_rules_parse_as_a_prometheus_rule_file() -> None:
    data = load_yaml(ALERTS)
    assert set(data) == {"groups"}
    for group in data["groups"]:
        assert set(group) <= {"name", "interval", "limit", "rules"} and group["name"]
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, rule
            assert isinstance(rule["alert"], str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
            assert isinstance(rule["expr"], str) and balanced(rule["expr"]) and metric_names(rule["expr"])
            if "for" in rule:
                assert DURATION.match(rule["for"]), rule["for"]
            assert rule["labels"]["severity"] in {"warning", "critical"}
            assert rule["annotations"]["summary"]
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names))


def test_there_are_alerts_on_outbox_age_lag_dead_letters_service_down_and_smtp() -> None:
    used = {rule["alert"]: metric_names(rule["expr"]) for rule in alert_rules()}
    reads = set().union(*used.values())
    assert {
        "tevreden_outbox_oldest_age_seconds",
        "tevreden_consumer_lag",
        "tevreden_events_dead_lettered_total",
        "up",
        "tevreden_emails_total",
    } <= reads


def test_prometheus_scrapes_every_service_on_its_port_and_loads_the_alert_rules() -> None:
    config = load_yaml(PROMETHEUS)
    mounted = Path("/etc/prometheus")
    assert [mounted / ALERTS.name] == [Path(f) for f in config["rule_files"]]
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{service}:{port}" for service, port in DEFAULT_HTTP_PORTS.items()}


def test_compose_runs_prometheus_and_grafana_with_the_deploy_files_mounted() -> None:
    services = compose()["services"]
    prometheus_mounts = [v.split(":")[0] for v in services["prometheus"]["volumes"]]
    assert "./deploy/prometheus" in prometheus_mounts
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]
    grafana = {v.split(":")[0]: v.split(":")[1] for v in services["grafana"]["volumes"]}
    assert grafana["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboards = load_yaml(ROOT / "deploy/grafana/provisioning/dashboards/tevreden.yml")["providers"]
    assert grafana["./deploy/grafana/dashboards"] == dashboards[0]["options"]["path"]
    for source in (*prometheus_mounts, *grafana):
        if source.startswith("./"):
            assert (ROOT / source).is_dir(), source
    assert DASHBOARD.parent.name == "dashboards"


def test_every_metric_the_dashboard_and_alerts_read_is_a_tevreden_metric() -> None:
    assert all(name.startswith("tevreden_") for name in all_service_metric_names())
