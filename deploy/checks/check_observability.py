"""Check the alert rules and the Grafana dashboard against the metrics the services expose.

promtool checks PromQL syntax and runs the rules' unit tests; this checks what it cannot: every
metric named exists (the kit's kpi_* metrics, RabbitMQ's, `up`), the dashboard shows every metric
the services expose, the alerts the operations guide relies on exist, each alert has a severity,
a summary, a description and a runbook link to a real section of docs/OPERATIONS.md, and the
dashboard's panels have unique ids, use the datasource variable and do not overlap.

    python check_observability.py                   # check
    python check_observability.py --prometheusrule  # print alerts.yml as a PrometheusRule
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "deploy/observability/alerts.yml"
DASHBOARD = ROOT / "deploy/observability/dashboards/kpi-overview.json"
OPERATIONS = ROOT / "docs/OPERATIONS.md"
KIT_METRICS_MODULE = ROOT / "libs/kit/src/kpi_kit/metrics.py"

# What the kit exposes on every service's /metrics (libs/kit/src/kpi_kit/metrics.py),
# and RabbitMQ's own series.
KIT_METRICS = {
    "kpi_http_requests_total",
    "kpi_http_request_duration_seconds",
    "kpi_events_consumed_total",
    "kpi_outbox_backlog",
    "kpi_outbox_oldest_age_seconds",
    "kpi_outbox_published_total",
    "kpi_score_recomputes_total",
    "kpi_dependency_up",
}
HISTOGRAMS = {"kpi_http_request_duration_seconds"}
RABBITMQ_METRICS = {"rabbitmq_queue_messages_ready", "rabbitmq_queue_consumers"}
KNOWN = (
    KIT_METRICS
    | RABBITMQ_METRICS
    | {"up"}
    | {f"{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")}
)
REQUIRED_ALERTS = {
    "KpiDeadLetterQueueNotEmpty",
    "KpiOutboxBacklogGrowing",
    "KpiQueueWithoutConsumers",
    "KpiWorkerDown",
    "KpiHttp5xxRateHigh",
}
SEVERITIES = {"info", "warning", "critical"}
METRIC_TOKEN = re.compile(r"\b((?:kpi|rabbitmq)_[a-z0-9_]+)")


def anchors(markdown: str) -> set[str]:
    """GitHub-style anchors of a Markdown file's headings."""
    found = set()
    for line in markdown.splitlines():
        match = re.match(r"^#{1,6}\s+(.*)$", line)
        if match:
            text = re.sub(r"[^\w\- ]", "", match.group(1).strip().lower())
            found.add(text.replace(" ", "-"))
    return found


def metrics_in(expr: str) -> set[str]:
    """The kpi_* and rabbitmq_* metric names an expression uses."""
    return set(METRIC_TOKEN.findall(expr))


def alert_errors(rules_file: dict[str, Any], sections: set[str]) -> list[str]:
    errors = []
    names = set()
    for group in rules_file.get("groups", []):
        for rule in group.get("rules", []):
            name = rule.get("alert")
            if not name:
                errors.append(f"alerts.yml: group {group.get('name')}: a rule without `alert`")
                continue
            names.add(name)
            unknown = metrics_in(rule["expr"]) - KNOWN
            if unknown:
                errors.append(f"alerts.yml {name}: unknown metrics {sorted(unknown)}")
            severity = (rule.get("labels") or {}).get("severity")
            if severity not in SEVERITIES:
                errors.append(
                    f"alerts.yml {name}: severity {severity!r} not one of {sorted(SEVERITIES)}"
                )
            annotations = rule.get("annotations") or {}
            for key in ("summary", "description", "runbook_url"):
                if not annotations.get(key):
                    errors.append(f"alerts.yml {name}: no {key} annotation")
            runbook = annotations.get("runbook_url", "")
            anchor = runbook.partition("#")[2]
            if not runbook.startswith("docs/OPERATIONS.md#") or anchor not in sections:
                errors.append(
                    f"alerts.yml {name}: runbook_url {runbook!r} is not a section of "
                    "docs/OPERATIONS.md"
                )
    for missing in sorted(REQUIRED_ALERTS - names):
        errors.append(f"alerts.yml: no alert {missing}")
    return errors


def dashboard_errors(dashboard: dict[str, Any]) -> list[str]:
    errors = []
    ids = set()
    used: set[str] = set()
    cells: dict[tuple[int, int], int] = {}
    for panel in dashboard.get("panels", []):
        panel_id = panel.get("id")
        if panel_id in ids:
            errors.append(f"dashboard: panel id {panel_id} used twice")
        ids.add(panel_id)
        grid = panel["gridPos"]
        if grid["x"] + grid["w"] > 24:
            errors.append(f"dashboard: panel {panel['title']!r} is wider than the grid")
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                if (x, y) in cells:
                    errors.append(
                        f"dashboard: panel {panel['title']!r} overlaps panel {cells[(x, y)]}"
                    )
                    break
                cells[(x, y)] = panel_id
            else:
                continue
            break
        if panel["type"] == "row":
            continue
        if (panel.get("datasource") or {}).get("uid") != "${datasource}":
            errors.append(
                f"dashboard: panel {panel['title']!r} does not use the $datasource variable"
            )
        for target in panel.get("targets", []):
            names = metrics_in(target["expr"])
            unknown = names - KNOWN
            if unknown:
                errors.append(
                    f"dashboard: panel {panel['title']!r} uses unknown metrics {sorted(unknown)}"
                )
            used |= names
    base_names = {re.sub(r"_(bucket|sum|count)$", "", name) for name in used}
    for missing in sorted((KIT_METRICS | RABBITMQ_METRICS) - base_names):
        errors.append(f"dashboard: no panel shows {missing}")
    return errors


def kit_drift_errors(module: Path = KIT_METRICS_MODULE) -> list[str]:
    """Differences between the metric names known here and the ones the kit declares."""
    if not module.exists():
        return []
    declared = set(re.findall(r'"(kpi_[a-z0-9_]+)"', module.read_text()))
    errors = [
        f"the kit declares {name}, unknown to check_observability.py"
        for name in sorted(declared - KIT_METRICS)
    ]
    errors += [
        f"check_observability.py knows {name}, which the kit no longer declares"
        for name in sorted(KIT_METRICS - declared)
    ]
    return errors


def prometheus_rule(rules_file: dict[str, Any]) -> dict[str, Any]:
    """alerts.yml as a Prometheus Operator PrometheusRule."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "kpi-alerts", "labels": {"app.kubernetes.io/part-of": "kpi"}},
        "spec": {"groups": rules_file["groups"]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--prometheusrule", action="store_true", help="print alerts.yml as a PrometheusRule"
    )
    args = parser.parse_args(argv)
    rules_file = yaml.safe_load(ALERTS.read_text())
    if args.prometheusrule:
        yaml.safe_dump(prometheus_rule(rules_file), sys.stdout, sort_keys=False, width=120)
        return 0
    sections = anchors(OPERATIONS.read_text()) if OPERATIONS.exists() else set()
    dashboard = json.loads(DASHBOARD.read_text())
    errors = kit_drift_errors() + alert_errors(rules_file, sections) + dashboard_errors(dashboard)
    for error in errors:
        print(f"ERROR {error}")
    rules = sum(len(group["rules"]) for group in rules_file["groups"])
    print(
        f"{'FAILED' if errors else 'ok':6} observability: {rules} alert rules, "
        f"{len(dashboard['panels'])} dashboard panels, {len(errors)} errors"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
