"""Every /api/v1 route refuses a request without a valid token: 401 problem+json, nothing done;
and a valid token that grants no role of ours: 403.

The routes are read from each service's own OpenAPI document, so a route added later is
covered without editing this file.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from kpi_kit.auth import ACCESS
from kpi_kit.settings import DEV_JWT_SECRET

from .conftest import System, token, unsigned_token

pytestmark = pytest.mark.integration


def claims(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "sub": "intruder",
        "roles": ["hr_admin"],
        "exp": int((datetime.now(UTC) + timedelta(hours=1)).timestamp()),
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def signed(secret: str = DEV_JWT_SECRET, algorithm: str = "HS256", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm=algorithm)


def tampered() -> str:
    # A real staff token whose payload is swapped for an hr_admin one, signature kept.
    header, _, signature = token("staff", uuid.uuid4()).split(".")
    payload = unsigned_token(claims()).split(".")[1]
    return f"{header}.{payload}.{signature}"


BAD_AUTHORIZATION: dict[str, str | None] = {
    "no header": None,
    "empty bearer": "Bearer ",
    "basic scheme": "Basic aHJfYWRtaW46cGFzc3dvcmQ=",
    "not a jwt": "Bearer not.a.jwt",
    "expired": f"Bearer {token('hr_admin', lifetime=timedelta(seconds=-30))}",
    "alg none": f"Bearer {unsigned_token(claims())}",
    "alg None": f"Bearer {unsigned_token(claims(), alg='None')}",
    "wrongly signed": f"Bearer {signed(secret='another-secret-of-at-least-32-characters')}",
    "HS512 with the right secret": f"Bearer {signed(algorithm='HS512')}",
    "payload tampered": f"Bearer {tampered()}",
    "no exp": f"Bearer {signed(exp=None)}",
    "no sub": f"Bearer {signed(sub=None)}",
    "not yet valid": f"Bearer {signed(nbf=int((datetime.now(UTC) + timedelta(hours=1)).timestamp()))}",
    "roles not a list": f"Bearer {signed(roles='hr_admin')}",
    "staff without staff_id": f"Bearer {signed(roles=['staff'])}",
    "staff_id not a uuid": f"Bearer {signed(roles=['staff'], staff_id='1 OR 1=1')}",
}


def api_routes(system: System) -> list[tuple[str, str, str]]:
    """(service, method, path with every parameter filled) for each /api/v1 operation."""
    found = []
    for service, client in system.clients.items():
        document = client.app.openapi_schema.to_schema()
        for path, operations in document["paths"].items():
            for method in operations:
                if method.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                    continue
                if not path.startswith("/api/v1/"):
                    continue
                filled = re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)
                found.append((service, method.upper(), filled))
    return found


async def routes_answering_otherwise(
    system: System, headers: dict[str, str], status: int
) -> list[str]:
    """Every /api/v1 operation that does not answer `status` as problem+json, with its answer."""
    routes = api_routes(system)
    assert routes
    wrong = []
    for service, method, path in routes:
        response = await system.clients[service].request(method, path, headers=headers, json={})
        ok = response.status_code == status and response.headers["content-type"].startswith(
            "application/problem+json"
        )
        if status == 401:
            ok = ok and response.headers.get("www-authenticate", "").lower().startswith("bearer")
        if not ok:
            wrong.append(f"{method} {path} -> {response.status_code} {response.text[:120]}")
    return wrong


@pytest.mark.parametrize("case", list(BAD_AUTHORIZATION))
async def test_every_route_refuses_a_bad_token(system: System, case: str) -> None:
    authorization = BAD_AUTHORIZATION[case]
    headers = {} if authorization is None else {"Authorization": authorization}
    wrong = await routes_answering_otherwise(system, headers, 401)
    assert not wrong, "\n".join(wrong)


NO_ROLE_OF_OURS: dict[str, str] = {
    "no roles": f"Bearer {signed(roles=[])}",
    "only another system's role": f"Bearer {signed(roles=['superuser'])}",
}


@pytest.mark.parametrize("case", list(NO_ROLE_OF_OURS))
async def test_every_route_answers_a_valid_token_without_a_role_of_ours_with_403(
    system: System, case: str
) -> None:
    # Interfaces §2: "Valid token, no right: 403" - whatever the route, nothing is done.
    wrong = await routes_answering_otherwise(system, {"Authorization": NO_ROLE_OF_OURS[case]}, 403)
    assert not wrong, "\n".join(wrong)


async def test_a_role_of_another_system_beside_one_of_ours_is_ignored(system: System) -> None:
    headers = {"Authorization": f"Bearer {signed(roles=['manager', 'root'])}"}
    response = await system.clients["catalog"].get("/api/v1/hr/kpi-modules", headers=headers)
    assert response.status_code == 200
    # ...and grants nothing: only hr_admin may deactivate a person's KPIs.
    refused = await system.clients["assignment"].post(
        f"/api/v1/hr/staff/{uuid.uuid4()}/deactivate-kpis", headers=headers, json={}
    )
    assert refused.status_code == 403, refused.text


def test_every_api_route_says_who_may_call_it(system: System) -> None:
    # `authorize` checks the caller before the body is read, from the route's `opt=allow(...)`;
    # a route without it would be judged on its body first, or not at all.
    undeclared = [
        f"{method} {route.path}"
        for client in system.clients.values()
        for route in client.app.routes
        for handler in getattr(route, "route_handlers", ())
        for method in handler.http_methods
        if route.path.startswith("/api/v1/")
        and method != "OPTIONS"  # Litestar's own answer to preflights
        and ACCESS not in handler.opt
    ]
    assert not undeclared, undeclared
