"""Prometheus metrics shared by every service (names used by deploy/observability)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "kpi_http_requests_total", "HTTP requests answered", ["service", "route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "kpi_http_request_duration_seconds",
    "HTTP request latency",
    ["service", "route", "method"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
EVENTS_CONSUMED = Counter(
    "kpi_events_consumed_total",
    "Inbound events by outcome (applied, duplicate, dead_lettered, retried; redelivered is"
    " counted besides the outcome of the same delivery)",
    ["service", "event_type", "outcome"],
)
OUTBOX_BACKLOG = Gauge("kpi_outbox_backlog", "Events waiting in the outbox", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "kpi_outbox_oldest_age_seconds", "Age of the oldest event waiting in the outbox", ["service"]
)
OUTBOX_PUBLISHED = Counter("kpi_outbox_published_total", "Events relayed", ["service"])
# Set at each scrape: a readiness probe's failure takes a pod out of its Service silently, and
# an outage of PostgreSQL or RabbitMQ shows nowhere else while the processes still answer.
DEPENDENCY_UP = Gauge(
    "kpi_dependency_up",
    "Whether the process reached its database or broker at the last scrape (1) or not (0)",
    ["service", "dependency"],
)
SCORE_RECOMPUTES = Counter("kpi_score_recomputes_total", "Score recomputations")
