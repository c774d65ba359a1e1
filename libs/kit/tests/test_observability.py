"""Log lines are JSON and carry the correlation id of the request or event being handled."""

from __future__ import annotations

import json
import logging
from typing import Any

from litestar.types import (
    ASGIApp,
    HTTPRequestEvent,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Message,
    Receive,
    Scope,
    Send,
)
from prometheus_client import REGISTRY

from kpi_kit.observability import (
    JsonFormatter,
    ObservabilityMiddleware,
    correlation_id_var,
    current_correlation_headers,
)


def a_record(message: str) -> logging.LogRecord:
    return logging.LogRecord("kpi.consumer", logging.INFO, __file__, 1, message, None, None)


def test_a_log_line_carries_the_current_correlation_id() -> None:
    token = correlation_id_var.set("req-42")
    try:
        line = json.loads(JsonFormatter("assignment").format(a_record("applied ContractCreated")))
        assert current_correlation_headers() == {"x-correlation-id": "req-42"}
    finally:
        correlation_id_var.reset(token)
    assert line["correlation_id"] == "req-42"
    assert line["service"] == "assignment"
    assert line["msg"] == "applied ContractCreated"


def test_without_a_correlation_id_the_key_is_absent() -> None:
    line = json.loads(JsonFormatter("catalog").format(a_record("started")))
    assert "correlation_id" not in line
    assert current_correlation_headers() == {}


async def _answer(scope: Scope, receive: Receive, send: Send) -> None:
    scope["path_template"] = "/things/{thing_id}"  # as Litestar's router sets it
    status = 404 if scope["path"].endswith("missing") else 200
    start: HTTPResponseStartEvent = {"type": "http.response.start", "status": status, "headers": []}
    body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": b"{}", "more_body": False}
    await send(start)
    await send(body)


async def _call(app: ASGIApp, path: str, headers: list[tuple[bytes, bytes]]) -> list[Any]:
    """The messages the app sent, as dicts (a response start's `headers` among them)."""
    sent: list[Any] = []

    async def receive() -> HTTPRequestEvent:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": path, "headers": headers}
    await app(scope, receive, send)  # type: ignore[arg-type]
    return sent


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "probe", **labels}) or 0.0


async def test_every_request_is_counted_and_timed_under_its_route_and_status() -> None:
    app = ObservabilityMiddleware(_answer, service="probe")
    route = {"route": "/things/{thing_id}", "method": "GET"}
    ok, missing = (
        _sample("kpi_http_requests_total", **route, status="200"),
        _sample("kpi_http_requests_total", **route, status="404"),
    )
    timed = _sample("kpi_http_request_duration_seconds_count", **route)

    for path in ("/things/1", "/things/2", "/things/missing"):
        await _call(app, path, [])

    assert _sample("kpi_http_requests_total", **route, status="200") == ok + 2
    assert _sample("kpi_http_requests_total", **route, status="404") == missing + 1
    assert _sample("kpi_http_request_duration_seconds_count", **route) == timed + 3


async def test_a_response_carries_the_incoming_request_id_or_a_new_one() -> None:
    app = ObservabilityMiddleware(_answer, service="probe")

    given = await _call(app, "/things/1", [(b"x-request-id", b"req-9")])
    new = [await _call(app, "/things/1", []) for _ in range(2)]

    assert (b"x-correlation-id", b"req-9") in given[0]["headers"]
    ids = [dict(sent[0]["headers"])[b"x-correlation-id"].decode() for sent in new]
    assert ids[0] != ids[1]
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
