"""Tracing stays off without an exporter; with one, events carry the writer's trace context."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kpi_kit import tracing
from kpi_kit.service import ServiceDefinition, create_app
from kpi_kit.settings import Settings


def test_tracing_is_off_without_an_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    assert tracing.tracer_provider("probe") is None
    assert tracing.trace_headers() == {}


def test_an_event_written_inside_a_span_carries_its_trace(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")  # nothing listens there: give up fast
    provider = tracing.tracer_provider("probe")
    assert provider is not None
    app = create_app(
        ServiceDefinition(name="probe", migrations=Path(".")), Settings(service="probe")
    )
    assert any(type(p).__name__ == "OpenTelemetryPlugin" for p in app.plugins)
    with provider.get_tracer("test").start_as_current_span("append"):
        headers = tracing.trace_headers()
    assert headers["traceparent"].startswith("00-")
    provider.shutdown()


def test_an_exporter_set_without_the_packages_runs_untraced_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    # As if none of the opentelemetry packages were installed: importing any of them fails.
    for name in [m for m in sys.modules if m.split(".")[0] == "opentelemetry"]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    tracing._installed.cache_clear()
    try:
        assert tracing.tracer_provider("probe") is None
        app = create_app(
            ServiceDefinition(name="probe", migrations=Path(".")), Settings(service="probe")
        )
        assert not any(type(p).__name__ == "OpenTelemetryPlugin" for p in app.plugins)
        assert tracing.trace_headers() == {}
    finally:
        tracing._installed.cache_clear()
    assert "opentelemetry packages are not installed" in caplog.text
