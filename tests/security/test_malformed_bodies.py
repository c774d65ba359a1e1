"""No route answers 500 to a malformed body (interfaces §3): whatever the bytes, a body route
answers 400 problem+json to a caller it would serve, and 401 to one without a token."""

from __future__ import annotations

import uuid

import pytest

from .conftest import System, bearer
from .test_tokens import api_routes

pytestmark = pytest.mark.integration

MALFORMED: dict[str, bytes] = {
    "not json": b"kpi please",
    "truncated": b'{"name": "Attendance',
    "invalid utf-8 in a string": b'{"name": "\xff\xfe"}',
    "invalid utf-8 outside strings": b'{"name": 1}\xff',
    "a lone surrogate escape": b'{"name": "\\ud800"}',
    "nested past the interpreter's limit": b"[" * 2_000 + b"]" * 2_000,
    "objects nested past it": b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    "nested 100,000 deep": b"[" * 100_000 + b"]" * 100_000,
}


JSON = {"Content-Type": "application/json"}


def body_routes(system: System) -> list[tuple[str, str, str]]:
    routes = [route for route in api_routes(system) if route[1] in {"POST", "PUT", "PATCH"}]
    assert routes, "the services' schemas list no route that takes a body"
    return routes


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_body_is_a_400_never_a_500(system: System, case: str) -> None:
    wrong = []
    for service, method, path in body_routes(system):
        response = await system.clients[service].request(
            method,
            path,
            content=MALFORMED[case],
            headers={**bearer("hr_admin"), **JSON},
        )
        if response.status_code != 400 or not response.headers["content-type"].startswith(
            "application/problem+json"
        ):
            wrong.append(f"{method} {path} -> {response.status_code} {response.text[:120]}")
        elif [e["field"] for e in response.json().get("errors", [])] != ["body"]:
            wrong.append(f"{method} {path}: errors do not name the body: {response.text[:200]}")
    assert not wrong, "\n".join(wrong)


async def test_a_missing_body_is_a_400_that_says_one_is_required(system: System) -> None:
    response = await system.clients["catalog"].post(
        "/api/v1/hr/kpi-modules", content=b"", headers={**bearer("hr_admin"), **JSON}
    )
    assert response.status_code == 400, response.text
    assert response.json()["errors"] == [{"field": "body", "message": "a JSON body is required"}]


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_body_without_a_token_is_a_401(system: System, case: str) -> None:
    wrong = []
    for service, method, path in body_routes(system):
        response = await system.clients[service].request(
            method, path, content=MALFORMED[case], headers=JSON
        )
        if response.status_code != 401:
            wrong.append(f"{method} {path} -> {response.status_code} {response.text[:120]}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "case", ["not json", "invalid utf-8 in a string", "objects nested past it"]
)
async def test_a_malformed_body_from_a_caller_without_the_right_is_a_403(
    system: System, case: str
) -> None:
    # A staff member has no right on any body route of another person (or of HR): the caller is
    # judged before the body.
    staff = bearer("staff", uuid.uuid4())
    wrong = []
    for service, method, path in body_routes(system):
        response = await system.clients[service].request(
            method, path, content=MALFORMED[case], headers={**staff, **JSON}
        )
        if response.status_code != 403:
            wrong.append(f"{method} {path} -> {response.status_code} {response.text[:120]}")
    assert not wrong, "\n".join(wrong)
