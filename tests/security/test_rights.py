"""The rights matrix of interfaces §2: every route x role x own-or-other person, with the status
each must answer; staff answers never carry a scoring key or a hidden journal entry.

Two people are hired through the real lifecycle path (a ContractCreated on hr.lifecycle): `own`
is the staff member whose token is used, `other` is someone else. Managers and HR act on `other`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import pytest

from kpi_contracts import codec, events, names
from kpi_contracts.enums import RoleGroup
from kpi_kit.views import SCORING_KEYS

from .conftest import System, bearer

pytestmark = pytest.mark.integration

OK = (200, 201)
CELLS = ("hr_admin", "manager", "staff:own", "staff:other")


@dataclass
class Person:
    """Someone hired through a ContractCreated, with the KPIs assignment gave them."""

    staff_id: uuid.UUID
    kpis: list[dict[str, Any]] = field(default_factory=list)

    def optional_kpi(self) -> dict[str, Any]:
        return next(k for k in self.kpis if not k["is_required"])

    def required_kpi(self) -> dict[str, Any]:
        return next(k for k in self.kpis if k["is_required"])


@dataclass
class World:
    """What the matrix acts on."""

    system: System
    own: Person
    other: Person
    modules: list[dict[str, Any]]
    used_modules: set[str] = field(default_factory=set)

    def person(self, cell: str) -> Person:
        return self.own if cell == "staff:own" else self.other

    def unused_module(self, person: Person) -> str:
        held = {k["kpi_module_id"] for k in person.kpis}
        for module in self.modules:
            if module["id"] not in held and module["id"] not in self.used_modules:
                self.used_modules.add(module["id"])
                return str(module["id"])
        raise AssertionError("no module left to assign")


def headers_for(world: World, cell: str) -> dict[str, str]:
    if cell.startswith("staff"):
        return bearer("staff", world.own.staff_id)
    return bearer(cell)


async def hire(system: System, role_group: RoleGroup) -> Person:
    """Publish a ContractCreated and wait until assignment (and journal) have applied it."""
    person = Person(uuid.uuid4())
    event = events.ContractCreated(
        staff_id=person.staff_id,
        contract_id=uuid.uuid4(),
        template_id=uuid.uuid4(),
        role_group=role_group,
    )
    connection = await aio_pika.connect(system.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names.LIFECYCLE_EXCHANGE)
        await exchange.publish(
            aio_pika.Message(
                codec.encode(event),
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=str(event.event_id),
            ),
            routing_key=names.CONTRACT_CREATED,
            mandatory=True,
        )
    finally:
        await connection.close()
    assignment = system.clients["assignment"]
    for _ in range(300):
        response = await assignment.get(
            f"/api/v1/hr/staff/{person.staff_id}/kpis", headers=bearer("manager")
        )
        if response.status_code == 200 and len(response.json()) >= 5:
            person.kpis = response.json()
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the ContractCreated was not applied")
    if system.has("journal"):
        journal = system.clients["journal"]
        for _ in range(300):
            response = await journal.get(
                f"/api/v1/hr/staff/{person.staff_id}/journal", headers=bearer("manager")
            )
            if response.status_code == 200 and len(response.json()["items"]) >= len(person.kpis):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the journal did not record the assignment")
    return person


@pytest.fixture(scope="module")
async def world(system: System) -> World:
    if not system.has("assignment"):
        modules = (
            await system.clients["catalog"].get("/api/v1/hr/kpi-modules", headers=bearer("manager"))
        ).json()
        return World(system, Person(uuid.uuid4()), Person(uuid.uuid4()), modules)
    own = await hire(system, RoleGroup.SUPPORT_WORKER)
    other = await hire(system, RoleGroup.REGISTERED_NURSE)
    modules = (
        await system.clients["catalog"].get("/api/v1/hr/kpi-modules", headers=bearer("manager"))
    ).json()
    return World(system, own, other, modules)


# ---------------------------------------------------------------- the matrix


Prepare = Callable[[World, str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Route:
    """One operation, how to call it for a cell, and what each cell must answer."""

    service: str
    method: str
    template: str
    expect: dict[str, int | tuple[int, ...]]
    prepare: Prepare | None = None
    person_route: bool = False


async def a_new_module(world: World, cell: str) -> dict[str, Any]:
    body = {
        "name": f"Rights probe {uuid.uuid4().hex[:8]}",
        "category": "care_quality",
        "role_group": "support_worker",
        "objective": "Probe the rights matrix.",
        "measurement_method": "Read by a test.",
        "data_sources": ["tests"],
        "score_type": "percentage",
        "target_score": 90,
        "minimum_score": 70,
        "effort_weight": 0.2,
        "evaluation_frequency": "monthly",
        "coaching_tips": ["One.", "Two."],
    }
    return {"json": body}


async def an_existing_module(world: World, cell: str) -> dict[str, Any]:
    created = await world.system.clients["catalog"].post(
        "/api/v1/hr/kpi-modules",
        json=(await a_new_module(world, cell))["json"],
        headers=bearer("hr_admin"),
    )
    assert created.status_code == 201, created.text
    return {"module_id": created.json()["id"], "json": {"name": f"Renamed {uuid.uuid4().hex[:8]}"}}


async def a_template(world: World, cell: str) -> dict[str, Any]:
    kpis = [
        {"kpi_module_id": world.modules[0]["id"], "weight": 1.0, "is_required": True},
    ]
    return {"template_id": uuid.uuid4(), "json": {"kpis": kpis}}


async def a_person(world: World, cell: str) -> dict[str, Any]:
    return {"staff_id": world.person(cell).staff_id}


async def a_manual_assignment(world: World, cell: str) -> dict[str, Any]:
    person = world.person(cell)
    return {"staff_id": person.staff_id, "json": {"kpi_module_id": world.unused_module(person)}}


async def an_optional_kpi_deactivated(world: World, cell: str) -> dict[str, Any]:
    person = world.person(cell)
    kpi = person.optional_kpi()
    return {
        "staff_id": person.staff_id,
        "kpi_id": kpi["id"],
        "json": {"status": "inactive", "reason": "Rights matrix"},
    }


async def a_person_to_deactivate(world: World, cell: str) -> dict[str, Any]:
    # HR's call empties a person who holds nothing, so the others' KPIs stay for later routes.
    staff_id = world.person(cell).staff_id if cell.startswith("staff") else uuid.uuid4()
    return {"staff_id": staff_id, "json": {"reason": "Rights matrix"}}


async def a_kpi(world: World, cell: str) -> dict[str, Any]:
    person = world.person(cell)
    return {"staff_id": person.staff_id, "kpi_id": person.required_kpi()["id"]}


async def an_observation(world: World, cell: str) -> dict[str, Any]:
    found = await a_kpi(world, cell)
    found["json"] = {"entry_type": "observation", "title": "Seen", "content": "On shift."}
    return found


async def a_self_reflection(world: World, cell: str) -> dict[str, Any]:
    found = await a_kpi(world, cell)
    found["json"] = {"entry_type": "self_reflection", "title": "My week", "content": "Went well."}
    return found


async def a_pending_entry(world: World, cell: str) -> dict[str, Any]:
    person = world.person(cell)
    kpi = person.required_kpi()
    created = await world.system.clients["journal"].post(
        f"/api/v1/hr/staff/{person.staff_id}/kpis/{kpi['id']}/journal",
        json={
            "entry_type": "score_update",
            "title": "Pending",
            "content": "Awaits approval.",
            "score": 4,  # on both scales (0-100 and 1-5)
            "is_pending_approval": True,
        },
        headers=bearer("manager"),
    )
    assert created.status_code == 201, created.text
    return {"entry_id": created.json()["id"], "json": {"decision": "approve"}}


def everyone(status: int) -> dict[str, int | tuple[int, ...]]:
    return dict.fromkeys(CELLS, status)


ROUTES = [
    Route("catalog", "GET", "/api/v1/hr/kpi-modules", everyone(200)),
    Route(
        "catalog",
        "GET",
        "/api/v1/hr/kpi-modules/{module_id}",
        everyone(200),
        prepare=an_existing_module,
    ),
    Route(
        "catalog",
        "POST",
        "/api/v1/hr/kpi-modules",
        {"hr_admin": 201, "manager": 403, "staff:own": 403, "staff:other": 403},
        prepare=a_new_module,
    ),
    Route(
        "catalog",
        "PATCH",
        "/api/v1/hr/kpi-modules/{module_id}",
        {"hr_admin": 200, "manager": 403, "staff:own": 403, "staff:other": 403},
        prepare=an_existing_module,
    ),
    Route(
        "catalog",
        "GET",
        "/api/v1/hr/templates/{template_id}/kpis",
        {"hr_admin": 200, "manager": 200, "staff:own": 403, "staff:other": 403},
        prepare=a_template,
    ),
    Route(
        "catalog",
        "PUT",
        "/api/v1/hr/templates/{template_id}/kpis",
        {"hr_admin": 200, "manager": 403, "staff:own": 403, "staff:other": 403},
        prepare=a_template,
    ),
    Route(
        "assignment",
        "GET",
        "/api/v1/hr/staff/{staff_id}/kpis",
        {"hr_admin": 200, "manager": 200, "staff:own": 200, "staff:other": 403},
        prepare=a_person,
        person_route=True,
    ),
    Route(
        "assignment",
        "POST",
        "/api/v1/hr/staff/{staff_id}/kpis",
        {"hr_admin": 201, "manager": 201, "staff:own": 403, "staff:other": 403},
        prepare=a_manual_assignment,
        person_route=True,
    ),
    Route(
        "assignment",
        "PATCH",
        "/api/v1/hr/staff/{staff_id}/kpis/{kpi_id}/status",
        {"hr_admin": 200, "manager": 200, "staff:own": 403, "staff:other": 403},
        prepare=an_optional_kpi_deactivated,
        person_route=True,
    ),
    Route(
        "assignment",
        "GET",
        "/api/v1/hr/evaluations/due",
        {"hr_admin": 200, "manager": 200, "staff:own": 403, "staff:other": 403},
    ),
    Route(
        "journal",
        "GET",
        "/api/v1/hr/staff/{staff_id}/journal",
        {"hr_admin": 200, "manager": 200, "staff:own": 200, "staff:other": 403},
        prepare=a_person,
        person_route=True,
    ),
    Route(
        "journal",
        "GET",
        "/api/v1/hr/staff/{staff_id}/kpis/{kpi_id}/journal",
        {"hr_admin": 200, "manager": 200, "staff:own": 200, "staff:other": 403},
        prepare=a_kpi,
        person_route=True,
    ),
    Route(
        "journal",
        "POST",
        "/api/v1/hr/staff/{staff_id}/kpis/{kpi_id}/journal",
        {"hr_admin": 201, "manager": 201, "staff:own": 403, "staff:other": 403},
        prepare=an_observation,
        person_route=True,
    ),
    Route(
        "journal",
        "POST",
        "/api/v1/hr/journal/{entry_id}/approval",
        {"hr_admin": OK, "manager": OK, "staff:own": 403, "staff:other": 403},
        prepare=a_pending_entry,
    ),
    Route(
        "journal",
        "GET",
        "/api/v1/hr/journal/pending",
        {"hr_admin": 200, "manager": 200, "staff:own": 403, "staff:other": 403},
    ),
    # Last: it deactivates what it finds.
    Route(
        "assignment",
        "POST",
        "/api/v1/hr/staff/{staff_id}/deactivate-kpis",
        {"hr_admin": 200, "manager": 403, "staff:own": 403, "staff:other": 403},
        prepare=a_person_to_deactivate,
        person_route=True,
    ),
]


def route_id(route: Route) -> str:
    return f"{route.method} {route.template}"


@pytest.mark.parametrize("route", ROUTES, ids=route_id)
async def test_every_role_gets_exactly_its_rights(world: World, route: Route) -> None:
    # The journal knows only the KPIs assignment announced: its routes need both.
    for needed in {route.service} | ({"assignment"} if route.service == "journal" else set()):
        if not world.system.has(needed):
            pytest.skip(f"{needed} is not installed in this checkout")
    client = world.system.clients[route.service]
    wrong = []
    for cell, expected in route.expect.items():
        prepared = await route.prepare(world, cell) if route.prepare else {}
        body = prepared.pop("json", None)
        path = route.template.format(**prepared)
        params = {"before": "2100-01-01T00:00:00Z"} if "evaluations" in path else None
        response = await client.request(
            route.method, path, json=body, params=params, headers=headers_for(world, cell)
        )
        allowed = expected if isinstance(expected, tuple) else (expected,)
        if response.status_code not in allowed:
            wrong.append(
                f"{cell}: {response.status_code} (expected {expected}) {response.text[:160]}"
            )
        elif response.status_code >= 400:
            assert response.headers["content-type"].startswith("application/problem+json")
    assert not wrong, f"{route_id(route)}\n" + "\n".join(wrong)


def test_the_matrix_covers_every_route_of_every_installed_service(system: System) -> None:
    covered = {(r.service, r.method, r.template) for r in ROUTES}
    missing = []
    for service, client in system.clients.items():
        document = client.app.openapi_schema.to_schema()
        for path, operations in document["paths"].items():
            for method in operations:
                key = (service, method.upper(), path)
                if path.startswith("/api/v1/hr/") and key not in covered:
                    missing.append(key)
    assert not missing, f"routes without a row in the rights matrix: {missing}"


# ---------------------------------------------------------------- what staff may see


def scoring_keys_in(value: Any, path: str = "$") -> list[str]:
    """Every scoring key anywhere in a JSON document, with where it is."""
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in SCORING_KEYS:
                found.append(f"{path}.{key}")
            found += scoring_keys_in(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            found += scoring_keys_in(inner, f"{path}[{index}]")
    return found


async def test_staff_see_no_scoring_key_in_the_catalogue(system: System) -> None:
    catalog = system.clients["catalog"]
    staff = bearer("staff", uuid.uuid4())
    listed = await catalog.get("/api/v1/hr/kpi-modules", headers=staff)
    assert listed.status_code == 200, listed.text
    assert listed.json() and not scoring_keys_in(listed.json())
    one = await catalog.get(f"/api/v1/hr/kpi-modules/{listed.json()[0]['id']}", headers=staff)
    assert one.status_code == 200, one.text
    assert not scoring_keys_in(one.json())
    manager = await catalog.get("/api/v1/hr/kpi-modules", headers=bearer("manager"))
    assert manager.status_code == 200, manager.text
    assert scoring_keys_in(manager.json()), "managers do see the scoring mechanics"


async def test_staff_see_their_kpis_without_scoring_keys_but_with_growth_words(
    world: World,
) -> None:
    if not world.system.has("assignment"):
        pytest.skip("assignment is not installed in this checkout")
    assignment = world.system.clients["assignment"]
    own = world.own.staff_id
    response = await assignment.get(
        f"/api/v1/hr/staff/{own}/kpis", params={"status": "all"}, headers=bearer("staff", own)
    )
    assert response.status_code == 200
    kpis = response.json()
    assert kpis and not scoring_keys_in(kpis)
    assert all("growth_status" in k and "score_trend" in k for k in kpis)


async def test_staff_never_see_a_hidden_entry_or_a_scoring_key_in_their_journal(
    world: World,
) -> None:
    if not (world.system.has("journal") and world.system.has("assignment")):
        pytest.skip("journal or assignment is not installed in this checkout")
    journal = world.system.clients["journal"]
    own = world.own.staff_id
    kpi = world.own.required_kpi()
    hidden = await journal.post(
        f"/api/v1/hr/staff/{own}/kpis/{kpi['id']}/journal",
        json={
            "entry_type": "score_update",
            "title": "Manager-only note",
            "content": "Not for the staff member's eyes.",
            "score": 3,
            "is_visible_to_staff": False,
        },
        headers=bearer("manager"),
    )
    assert hidden.status_code == 201, hidden.text
    hidden_id = hidden.json()["id"]
    staff = bearer("staff", own)
    pages = [
        await journal.get(f"/api/v1/hr/staff/{own}/journal", headers=staff),
        await journal.get(f"/api/v1/hr/staff/{own}/kpis/{kpi['id']}/journal", headers=staff),
        await journal.get(f"/api/v1/hr/staff/{own}/journal", params={"limit": 200}, headers=staff),
    ]
    for page in pages:
        assert page.status_code == 200, page.text
        items = page.json()["items"]
        assert items, "the staff member's visible entries are there"
        assert hidden_id not in {e["id"] for e in items}
        assert all(e["is_visible_to_staff"] for e in items)
        assert not scoring_keys_in(page.json())
    manager_view = await journal.get(f"/api/v1/hr/staff/{own}/journal", headers=bearer("manager"))
    assert hidden_id in {e["id"] for e in manager_view.json()["items"]}


async def test_staff_may_reflect_on_their_own_kpi_and_it_waits_for_approval(
    world: World,
) -> None:
    if not (world.system.has("journal") and world.system.has("assignment")):
        pytest.skip("journal or assignment is not installed in this checkout")
    journal = world.system.clients["journal"]
    prepared = await a_self_reflection(world, "staff:own")
    path = "/api/v1/hr/staff/{staff_id}/kpis/{kpi_id}/journal".format(
        staff_id=prepared["staff_id"], kpi_id=prepared["kpi_id"]
    )
    response = await journal.post(
        path, json=prepared["json"], headers=bearer("staff", world.own.staff_id)
    )
    assert response.status_code == 201, response.text
    assert response.json()["is_pending_approval"] is True
    assert not scoring_keys_in(response.json())
    other = await a_self_reflection(world, "staff:other")
    other_path = "/api/v1/hr/staff/{staff_id}/kpis/{kpi_id}/journal".format(
        staff_id=other["staff_id"], kpi_id=other["kpi_id"]
    )
    refused = await journal.post(
        other_path, json=other["json"], headers=bearer("staff", world.own.staff_id)
    )
    assert refused.status_code == 403


async def test_a_manager_may_not_deactivate_a_required_kpi_but_hr_may(world: World) -> None:
    if not world.system.has("assignment"):
        pytest.skip("assignment is not installed in this checkout")
    assignment = world.system.clients["assignment"]
    person = world.other
    kpi = person.required_kpi()
    path = f"/api/v1/hr/staff/{person.staff_id}/kpis/{kpi['id']}/status"
    body = {"status": "inactive", "reason": "Rights matrix"}
    refused = await assignment.patch(path, json=body, headers=bearer("manager"))
    assert refused.status_code == 403, refused.text
    allowed = await assignment.patch(path, json=body, headers=bearer("hr_admin"))
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["status"] == "inactive"
