"""OpenTelemetry tracing across HTTP and RabbitMQ, on only when an OTLP exporter is configured.

Set OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) and install the kit's
`otel` extra (the image has it); otherwise nothing is imported and nothing is traced. Set without
the packages, the service logs an error and runs untraced: tracing is not worth a crash loop.
The outbox stores the W3C trace context of the transaction that wrote an event, so a consumer's
span joins the request's trace.
"""

from __future__ import annotations

import functools
import importlib
import logging
import os
from typing import Any

log = logging.getLogger("kpi.tracing")


def enabled() -> bool:
    """Whether an OTLP exporter is configured and the packages to export with are installed."""
    return _configured() and _installed()


def _configured() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    )


# What tracing imports: the SDK, the OTLP exporter and the ASGI instrumentation Litestar's plugin
# uses (each from its own package of the `otel` extra).
_PACKAGES = (
    "opentelemetry.sdk.trace",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.instrumentation.asgi",
)


@functools.cache
def _installed() -> bool:
    try:
        for module in _PACKAGES:
            importlib.import_module(module)
    except ImportError as exc:
        log.error(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set, but the opentelemetry packages are not installed"
            " (%s; pip install 'kpi-kit[otel]'): running without tracing",
            exc,
        )
        return False
    return True


def tracer_provider(service: str) -> Any | None:
    """A tracer provider exporting over OTLP/HTTP, or None when tracing is off."""
    if not enabled():
        return None
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": f"kpi-{service}"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    return provider


def http_plugins(provider: Any | None) -> list[Any]:
    """Litestar's OpenTelemetry plugin when tracing is on."""
    if provider is None:
        return []
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    return [OpenTelemetryPlugin(OpenTelemetryConfig(tracer_provider=provider))]


def broker_middlewares(provider: Any | None) -> list[Any]:
    """FastStream's RabbitMQ tracing middleware when tracing is on."""
    if provider is None:
        return []
    from faststream.rabbit.opentelemetry import RabbitTelemetryMiddleware

    return [RabbitTelemetryMiddleware(tracer_provider=provider)]


def trace_headers() -> dict[str, str]:
    """The current W3C trace context, for an event written now and published later."""
    if not enabled():
        return {}
    from opentelemetry.propagate import inject

    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier
