"""Assertions about problem+json answers, shared by every service's tests."""

from __future__ import annotations

from typing import Any

import httpx


def problem_of(response: httpx.Response) -> dict[str, Any]:
    """The RFC 9457 body of an error answer (asserting its media type and members)."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys(), body
    assert body["status"] == response.status_code
    return body


def assert_problem(response: httpx.Response, status: int, field: str | None = None) -> None:
    """The answer is a problem+json with this status (naming `field` when given)."""
    assert response.status_code == status, response.text
    body = problem_of(response)
    assert body["title"]
    assert body["detail"]
    if field is not None:
        assert field in [e["field"] for e in body.get("errors", [])], body
