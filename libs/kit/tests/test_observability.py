"""Log lines are JSON and carry the correlation id of the request or event being handled."""

from __future__ import annotations

import json
import logging

from kpi_kit.observability import JsonFormatter, correlation_id_var, current_correlation_headers


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
