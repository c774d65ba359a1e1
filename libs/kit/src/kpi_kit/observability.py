"""Correlation ids, structured JSON logs and HTTP metrics, shared by every service.

A request's correlation id (the gateway's X-Request-ID, or X-Correlation-ID, or a new one) is kept
in a context variable; the outbox copies it into the headers of every event the request causes,
and a consumer restores it from those headers, so one id follows a change from the gateway log to
the worker log that applied its event.
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from kpi_kit.metrics import HTTP_LATENCY, HTTP_REQUESTS

CORRELATION_HEADER = "x-correlation-id"
correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_INCOMING = (b"x-correlation-id", b"x-request-id")


def current_correlation_headers() -> dict[str, str]:
    """Headers that carry the current correlation id into published events."""
    value = correlation_id_var.get()
    return {CORRELATION_HEADER: value} if value else {}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, service, correlation id."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "service": self._service,
        }
        if cid := correlation_id_var.get():
            entry["correlation_id"] = cid
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str) -> None:
    """JSON logs on stderr (KPI_LOG_FORMAT=text for people reading a terminal)."""
    handler = logging.StreamHandler()
    if os.environ.get("KPI_LOG_FORMAT", "json") == "text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    else:
        handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(os.environ.get("KPI_LOG_LEVEL", "INFO").upper())
    for noisy in ("uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


class ObservabilityMiddleware:
    """ASGI middleware: correlation id in and out, request count and latency by route."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self._app = app
        self._service = service
        # The metrics' children by label values: `labels()` takes a lock and builds its key on
        # every call, a third of this middleware's own time.
        self._counted: dict[tuple[str, str, str], Any] = {}
        self._timed: dict[tuple[str, str], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        # A new id is 32 random hex digits, as uuid4().hex was, for a third of its cost.
        cid = _incoming_correlation_id(scope) or os.urandom(16).hex()
        token = correlation_id_var.set(cid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-correlation-id", cid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self._app(scope, receive, send_with_id)
        finally:
            route = str(scope.get("path_template") or "unmatched")
            method = str(scope.get("method", ""))
            self._count(route, method, str(status))
            self._time(route, method, time.perf_counter() - started)
            correlation_id_var.reset(token)

    def _count(self, route: str, method: str, status: str) -> None:
        key = (route, method, status)
        if (counter := self._counted.get(key)) is None:
            counter = self._counted[key] = HTTP_REQUESTS.labels(self._service, *key)
        counter.inc()

    def _time(self, route: str, method: str, seconds: float) -> None:
        key = (route, method)
        if (histogram := self._timed.get(key)) is None:
            histogram = self._timed[key] = HTTP_LATENCY.labels(self._service, *key)
        histogram.observe(seconds)


def _incoming_correlation_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name in _INCOMING and value:
            # Only a short, printable id is trusted into logs and headers.
            text = value.decode("latin-1")[:128]
            if text.isprintable():
                return text
    return None
