"""Catalog routes for every role, their bad inputs, and the events they publish."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import aio_pika
import asyncpg
import pytest

from kpi_contracts import codec, events, names
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient
from kpi_kit.testing.problems import assert_problem

pytestmark = pytest.mark.integration

MODULES = "/api/v1/hr/kpi-modules"
Client = ServiceClient
Headers = Callable[..., dict[str, str]]


def templates(template_id: uuid.UUID) -> str:
    return f"/api/v1/hr/templates/{template_id}/kpis"


def a_module(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Community Access Planning {uuid.uuid4().hex[:6]}",
        "category": "care_quality",
        "role_group": "support_worker",
        "objective": "Plans community outings with the participant's goals at the centre.",
        "measurement_method": "Team leader reviews outing plans monthly.",
        "data_sources": ["Shift notes"],
        "score_type": "percentage",
        "target_score": 90,
        "minimum_score": 70,
        "effort_weight": 0.2,
        "evaluation_frequency": "monthly",
        "coaching_tips": ["Ask what the participant enjoyed.", "Plan one new outing together."],
    }
    body.update(overrides)
    return body


async def modules_for(catalog: Client, as_role: Headers, role_group: str) -> list[dict[str, Any]]:
    response = await catalog.get(
        MODULES, params={"role_group": role_group}, headers=as_role("manager")
    )
    assert response.status_code == 200
    result: list[dict[str, Any]] = response.json()
    return result


# ------------------------------------------------------------------ reading


@pytest.mark.parametrize("role", ["hr_admin", "manager", "staff"])
async def test_every_role_may_browse_the_library(
    catalog: Client, as_role: Headers, role: str
) -> None:
    response = await catalog.get(MODULES, headers=as_role(role))
    assert response.status_code == 200
    orders = [m["display_order"] for m in response.json()]
    assert orders == sorted(orders) and len(orders) >= 80


async def test_a_role_groups_list_includes_the_universal_five(
    catalog: Client, as_role: Headers
) -> None:
    nurse = await modules_for(catalog, as_role, "registered_nurse")
    universal = [m for m in nurse if m["is_universal"]]
    own = [m for m in nurse if not m["is_universal"]]
    assert len(universal) == 5
    assert len(own) >= 5 and {m["role_group"] for m in own} == {"registered_nurse"}


async def test_category_and_text_filters_narrow_the_list(catalog: Client, as_role: Headers) -> None:
    response = await catalog.get(MODULES, params={"category": "safety"}, headers=as_role("manager"))
    assert {m["category"] for m in response.json()} == {"safety"}
    response = await catalog.get(MODULES, params={"q": "medication"}, headers=as_role("manager"))
    assert response.json() and all("medication" in m["name"].lower() for m in response.json())
    wider = await catalog.get(MODULES, params={"text": "medication"}, headers=as_role("manager"))
    assert all("medication" in (m["name"] + m["objective"]).lower() for m in wider.json())
    assert {m["id"] for m in response.json()} < {m["id"] for m in wider.json()}


@pytest.mark.parametrize("param", ["q", "text"])
@pytest.mark.parametrize("typed", ["%", "_", "C%e", "\\"])
async def test_a_search_takes_what_is_typed_literally(
    catalog: Client, as_role: Headers, param: str, typed: str
) -> None:
    # LIKE's wildcards are text to a person searching: "%" finds the module with a "%" in its
    # name, and only modules with one (as a wildcard it would find the whole library).
    wild = a_module(name=f"Wild {uuid.uuid4().hex[:6]} 50% C%e_done \\ notes")
    created = await catalog.post(MODULES, json=wild, headers=as_role("hr_admin"))
    assert created.status_code == 201, created.text

    response = await catalog.get(MODULES, params={param: typed}, headers=as_role("manager"))
    assert response.status_code == 200, response.text
    assert created.json()["id"] in {m["id"] for m in response.json()}
    fields = ("name",) if param == "q" else ("name", "objective")
    assert all(any(typed in m[f] for f in fields) for m in response.json()), [
        m["name"] for m in response.json()
    ]


async def test_staff_never_see_scoring_mechanics(catalog: Client, as_role: Headers) -> None:
    response = await catalog.get(MODULES, headers=as_role("staff"))
    assert response.status_code == 200, response.text
    assert response.json()
    for module in response.json():
        assert not {"target_score", "minimum_score", "effort_weight"} & set(module)
    manager_view = (await catalog.get(MODULES, headers=as_role("manager"))).json()[0]
    assert {"target_score", "minimum_score", "effort_weight"} <= set(manager_view)


async def test_one_module_by_id(catalog: Client, as_role: Headers) -> None:
    first = (await modules_for(catalog, as_role, "volunteer"))[0]
    response = await catalog.get(f"{MODULES}/{first['id']}", headers=as_role("staff"))
    assert response.status_code == 200 and response.json()["slug"] == first["slug"]
    assert "effort_weight" not in response.json()


async def test_an_unknown_module_is_404(catalog: Client, as_role: Headers) -> None:
    assert_problem(await catalog.get(f"{MODULES}/{uuid.uuid4()}", headers=as_role("manager")), 404)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"role_group": "nurse"}, "role_group"), ({"category": "morale"}, "category")],
)
async def test_an_unknown_enum_value_is_a_400_naming_the_field(
    catalog: Client, as_role: Headers, params: dict[str, str], field: str
) -> None:
    assert_problem(
        await catalog.get(MODULES, params=params, headers=as_role("manager")), 400, field
    )


async def test_a_malformed_uuid_is_a_clear_client_error(catalog: Client, as_role: Headers) -> None:
    response = await catalog.get(f"{MODULES}/not-a-uuid", headers=as_role("manager"))
    assert response.status_code in (400, 404)
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize(
    "authorization", [None, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer "]
)
async def test_no_valid_token_is_a_401(catalog: Client, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    assert_problem(await catalog.get(MODULES, headers=headers), 401)


# ------------------------------------------------------------------ changing modules


async def test_hr_admin_adds_a_module(catalog: Client, as_role: Headers) -> None:
    body = a_module()
    response = await catalog.post(MODULES, json=body, headers=as_role("hr_admin"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["slug"].startswith("community-access-planning")
    assert created["is_seed"] is False and created["version"] == 1
    listed = await modules_for(catalog, as_role, "support_worker")
    assert created["id"] in [m["id"] for m in listed]


@pytest.mark.parametrize("role", ["manager", "staff"])
async def test_only_hr_admin_changes_the_library(
    catalog: Client, as_role: Headers, role: str
) -> None:
    assert_problem(await catalog.post(MODULES, json=a_module(), headers=as_role(role)), 403)
    first = (await modules_for(catalog, as_role, "finance"))[0]
    patch = {"name": "Renamed"}
    assert_problem(
        await catalog.patch(f"{MODULES}/{first['id']}", json=patch, headers=as_role(role)), 403
    )


@pytest.mark.parametrize(
    ("change", "status", "field"),
    [
        ({"effort_weight": 0.5}, 422, "effort_weight"),
        ({"minimum_score": 95}, 422, "minimum_score"),
        ({"score_type": "rating", "target_score": 4, "minimum_score": 0}, 422, "minimum_score"),
        ({"category": "morale"}, 400, "category"),
        ({"target_score": "ninety"}, 400, "target_score"),
        ({"slug": "Not A Slug"}, 400, "slug"),
        ({"name": "   "}, 422, "name"),
        ({"name": "Обслуживание клиентов"}, 422, "slug"),
        ({"automation_status": ""}, 400, "automation_status"),
        ({"automation_status": " manual"}, 400, "automation_status"),
        ({"automation_status": "semi\nautomated"}, 400, "automation_status"),
        ({"automation_status": "x" * 51}, 400, "automation_status"),
    ],
)
async def test_a_bad_module_is_refused_naming_the_field(
    catalog: Client, as_role: Headers, change: dict[str, Any], status: int, field: str
) -> None:
    response = await catalog.post(MODULES, json=a_module(**change), headers=as_role("hr_admin"))
    assert_problem(response, status, field)


async def test_a_taken_slug_is_a_conflict(catalog: Client, as_role: Headers) -> None:
    body = a_module(slug="code-of-conduct-culture")
    assert_problem(await catalog.post(MODULES, json=body, headers=as_role("hr_admin")), 409, "slug")


async def test_two_creates_racing_for_one_slug_get_one_module_and_a_conflict(
    catalog: Client, as_role: Headers
) -> None:
    body = a_module(slug=f"racing-{uuid.uuid4().hex[:8]}")
    first, second = await asyncio.gather(
        *(catalog.post(MODULES, json=body, headers=as_role("hr_admin")) for _ in range(2))
    )
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    loser = second if second.status_code == 409 else first
    assert_problem(loser, 409, "slug")


async def test_a_name_from_another_script_is_kept_with_the_slug_given(
    catalog: Client, as_role: Headers
) -> None:
    body = a_module(name="Обслуживание клиентов", slug=f"client-service-{uuid.uuid4().hex[:6]}")
    created = await catalog.post(MODULES, json=body, headers=as_role("hr_admin"))
    assert created.status_code == 201 and created.json()["name"] == "Обслуживание клиентов"
    renamed = await catalog.patch(
        f"{MODULES}/{created.json()['id']}", json={"name": " "}, headers=as_role("hr_admin")
    )
    assert_problem(renamed, 422, "name")


async def assert_hidden_but_kept(catalog: Client, as_role: Headers, module_id: str) -> None:
    """The module is out of the gallery, yet still read by id and listed with the archive."""
    gallery = await modules_for(catalog, as_role, "support_worker")
    assert module_id not in [m["id"] for m in gallery]
    kept = await catalog.get(f"{MODULES}/{module_id}", headers=as_role("manager"))
    assert kept.status_code == 200 and kept.json()["is_archived"] is True
    everything = await catalog.get(
        MODULES, params={"include_archived": "true"}, headers=as_role("manager")
    )
    assert module_id in [m["id"] for m in everything.json()]


async def test_archiving_hides_a_module_but_never_deletes_it(
    catalog: Client, as_role: Headers
) -> None:
    admin = as_role("hr_admin")
    created = (await catalog.post(MODULES, json=a_module(), headers=admin)).json()
    response = await catalog.patch(
        f"{MODULES}/{created['id']}", json={"is_archived": True}, headers=admin
    )
    assert response.status_code == 200 and response.json()["version"] == 2
    await assert_hidden_but_kept(catalog, as_role, created["id"])


async def test_a_module_archived_on_create_is_hidden_like_one_archived_later(
    catalog: Client, as_role: Headers
) -> None:
    body = a_module(is_archived=True)
    created = await catalog.post(MODULES, json=body, headers=as_role("hr_admin"))
    assert created.status_code == 201, created.text
    assert created.json()["is_archived"] is True
    await assert_hidden_but_kept(catalog, as_role, created.json()["id"])


async def test_a_module_created_as_seed_data_comes_back_as_seed_data(
    catalog: Client, as_role: Headers
) -> None:
    body = a_module(is_seed=True, is_archived=False)
    created = await catalog.post(MODULES, json=body, headers=as_role("hr_admin"))
    assert created.status_code == 201, created.text
    read = await catalog.get(f"{MODULES}/{created.json()['id']}", headers=as_role("manager"))
    assert (read.json()["is_seed"], read.json()["is_archived"]) == (True, False)


async def a_new_module_edited(catalog: Client, as_role: Headers, **change: Any) -> dict[str, Any]:
    """A new module after one edit by hr_admin, which must have been accepted."""
    admin = as_role("hr_admin")
    created = (await catalog.post(MODULES, json=a_module(), headers=admin)).json()
    response = await catalog.patch(f"{MODULES}/{created['id']}", json=change, headers=admin)
    assert response.status_code == 200, response.text
    edited: dict[str, Any] = response.json()
    return edited


async def test_an_edit_changes_only_what_it_names(catalog: Client, as_role: Headers) -> None:
    admin = as_role("hr_admin")
    created = (await catalog.post(MODULES, json=a_module(), headers=admin)).json()
    response = await catalog.patch(
        f"{MODULES}/{created['id']}",
        json={"objective": "Outings the participant chose."},
        headers=admin,
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    changed_at, created_at = edited.pop("updated_at"), created.pop("updated_at")
    assert datetime.fromisoformat(changed_at) > datetime.fromisoformat(created_at)
    assert edited == created | {"objective": "Outings the participant chose.", "version": 2}


async def test_a_slug_is_stable(catalog: Client, as_role: Headers) -> None:
    admin = as_role("hr_admin")
    created = (await catalog.post(MODULES, json=a_module(), headers=admin)).json()
    url = f"{MODULES}/{created['id']}"
    assert_problem(await catalog.patch(url, json={"slug": "renamed"}, headers=admin), 400, "slug")
    renamed = await catalog.patch(url, json={"name": "Outings Planned Together"}, headers=admin)
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["slug"] == created["slug"]


async def test_a_module_without_a_role_group_is_universal(
    catalog: Client, as_role: Headers
) -> None:
    edited = await a_new_module_edited(catalog, as_role, role_group=None)
    assert (edited["role_group"], edited["is_universal"]) == (None, True)
    again = await a_new_module_edited(catalog, as_role, role_group="volunteer")
    assert (again["role_group"], again["is_universal"]) == ("volunteer", False)


async def test_an_edit_may_mark_a_module_as_seed_data(catalog: Client, as_role: Headers) -> None:
    assert (await a_new_module_edited(catalog, as_role, is_seed=True))["is_seed"] is True


@pytest.mark.parametrize(
    "level", ["none", "partial", "fully_automated", "semi_automated", "Partly, from rosters"]
)
async def test_a_module_keeps_an_automation_level_of_its_own(
    catalog: Client, as_role: Headers, level: str
) -> None:
    admin = as_role("hr_admin")
    created = await catalog.post(MODULES, json=a_module(automation_status=level), headers=admin)
    assert created.status_code == 201, created.text
    read = await catalog.get(f"{MODULES}/{created.json()['id']}", headers=as_role("staff"))
    assert read.json()["automation_status"] == level


async def test_an_edit_may_change_the_automation_level_to_one_of_its_own(
    catalog: Client, as_role: Headers
) -> None:
    edited = await a_new_module_edited(catalog, as_role, automation_status="partial")
    assert edited["automation_status"] == "partial"


async def test_an_unknown_field_is_still_a_400_naming_it(catalog: Client, as_role: Headers) -> None:
    admin = as_role("hr_admin")
    created = await catalog.post(MODULES, json=a_module(is_retired=True), headers=admin)
    assert_problem(created, 400, "is_retired")
    first = (await modules_for(catalog, as_role, "finance"))[0]
    edited = await catalog.patch(f"{MODULES}/{first['id']}", json={"colour": "red"}, headers=admin)
    assert_problem(edited, 400, "colour")


async def test_an_edit_keeps_the_rules(catalog: Client, as_role: Headers) -> None:
    admin = as_role("hr_admin")
    created = (await catalog.post(MODULES, json=a_module(), headers=admin)).json()
    response = await catalog.patch(
        f"{MODULES}/{created['id']}", json={"effort_weight": 0.05}, headers=admin
    )
    assert_problem(response, 422, "effort_weight")
    response = await catalog.patch(f"{MODULES}/{uuid.uuid4()}", json={"name": "x"}, headers=admin)
    assert_problem(response, 404)


async def test_an_edit_may_not_leave_a_templates_target_under_the_minimum(
    catalog: Client, as_role: Headers
) -> None:
    admin = as_role("hr_admin")
    module = (await catalog.post(MODULES, json=a_module(), headers=admin)).json()
    kpis = [{"kpi_module_id": module["id"], "weight": 1, "is_required": False, "custom_target": 75}]
    placed = await catalog.put(templates(uuid.uuid4()), json={"kpis": kpis}, headers=admin)
    assert placed.status_code == 200, placed.text

    url = f"{MODULES}/{module['id']}"
    raised = await catalog.patch(url, json={"minimum_score": 80, "target_score": 95}, headers=admin)
    rated = await catalog.patch(
        url,
        json={"score_type": "rating", "minimum_score": 3, "target_score": 4},
        headers=admin,
    )
    assert_problem(raised, 422, "minimum_score")
    assert_problem(rated, 422, "score_type")
    fine = await catalog.patch(url, json={"minimum_score": 75}, headers=admin)
    assert fine.status_code == 200 and fine.json()["minimum_score"] == 75


async def test_an_edit_that_changes_nothing_makes_no_new_version(
    catalog: Client, as_role: Headers
) -> None:
    admin = as_role("hr_admin")
    body = a_module()
    module = (await catalog.post(MODULES, json=body, headers=admin)).json()
    url = f"{MODULES}/{module['id']}"
    as_the_editor_sends = {k: v for k, v in body.items() if k != "slug"}  # every field again
    for patch in ({}, as_the_editor_sends):
        same = await catalog.patch(url, json=patch, headers=admin)
        assert same.status_code == 200, same.text
        assert same.json()["version"] == module["version"]
    changed = await catalog.patch(url, json={"target_score": 91}, headers=admin)
    assert changed.json()["version"] == module["version"] + 1


async def test_a_modules_scale_stays_as_it_was_created(catalog: Client, as_role: Headers) -> None:
    admin = as_role("hr_admin")
    module = (await catalog.post(MODULES, json=a_module(), headers=admin)).json()
    url = f"{MODULES}/{module['id']}"
    rated = {"score_type": "rating", "minimum_score": 3, "target_score": 4}
    assert_problem(await catalog.patch(url, json=rated, headers=admin), 422, "score_type")
    same = await catalog.patch(url, json={"score_type": "percentage"}, headers=admin)
    assert same.status_code == 200, same.text
    unchanged = (await catalog.get(url, headers=admin)).json()
    assert (unchanged["score_type"], unchanged["target_score"]) == ("percentage", 90)


async def test_a_target_set_before_the_rule_blocks_only_a_change_of_scale_or_minimum(
    catalog: Client, as_role: Headers, catalog_settings: Settings
) -> None:
    admin = as_role("hr_admin")
    module = (await catalog.post(MODULES, json=a_module(), headers=admin)).json()
    conn = await asyncpg.connect(catalog_settings.database_url)
    try:  # a template target under the minimum, as one set before the rule would be
        await conn.execute(
            "INSERT INTO hr.template_kpis (template_id, kpi_module_id, weight, is_required,"
            " custom_target, position) VALUES ($1, $2, 1, false, 60, 0)",
            uuid.uuid4(),
            uuid.UUID(module["id"]),
        )
    finally:
        await conn.close()
    url = f"{MODULES}/{module['id']}"

    renamed = await catalog.patch(url, json={"coaching_tips": ["Ask first."]}, headers=admin)
    raised = await catalog.patch(url, json={"minimum_score": 72}, headers=admin)

    assert renamed.status_code == 200, renamed.text
    assert_problem(raised, 422, "minimum_score")


# ------------------------------------------------------------------ templates


async def a_template_set(catalog: Client, as_role: Headers) -> list[dict[str, Any]]:
    modules = await modules_for(catalog, as_role, "team_leader")
    percentage = [m for m in modules if m["score_type"] == "percentage"]
    return [
        {
            "kpi_module_id": percentage[0]["id"],
            "weight": 2,
            "is_required": True,
            "custom_target": 95,
        },
        {
            "kpi_module_id": modules[5]["id"],
            "weight": 1,
            "is_required": False,
            "custom_target": None,
        },
    ]


async def test_an_unknown_template_has_no_kpis(catalog: Client, as_role: Headers) -> None:
    response = await catalog.get(templates(uuid.uuid4()), headers=as_role("manager"))
    assert response.status_code == 200 and response.json() == []


async def test_hr_admin_replaces_a_templates_kpis_as_a_whole(
    catalog: Client, as_role: Headers
) -> None:
    template = uuid.uuid4()
    kpis = await a_template_set(catalog, as_role)
    response = await catalog.put(
        templates(template), json={"kpis": kpis}, headers=as_role("hr_admin")
    )
    assert response.status_code == 200, response.text
    stored = (await catalog.get(templates(template), headers=as_role("manager"))).json()
    assert [k["kpi_module_id"] for k in stored] == [k["kpi_module_id"] for k in kpis]
    assert stored[0]["is_required"] is True and stored[0]["custom_target"] == 95
    assert stored[0]["module"]["id"] == kpis[0]["kpi_module_id"]
    assert set(stored[0]) >= {
        "id",
        "template_id",
        "kpi_module_id",
        "weight",
        "is_required",
        "custom_target",
        "module",
    }

    response = await catalog.put(
        templates(template), json={"kpis": kpis[1:]}, headers=as_role("hr_admin")
    )
    assert [k["kpi_module_id"] for k in response.json()] == [kpis[1]["kpi_module_id"]]


@pytest.mark.parametrize("role", ["manager", "staff"])
async def test_only_hr_admin_replaces_template_kpis(
    catalog: Client, as_role: Headers, role: str
) -> None:
    response = await catalog.put(templates(uuid.uuid4()), json={"kpis": []}, headers=as_role(role))
    assert_problem(response, 403)


async def test_staff_do_not_read_templates(catalog: Client, as_role: Headers) -> None:
    assert_problem(await catalog.get(templates(uuid.uuid4()), headers=as_role("staff")), 403)


@pytest.mark.parametrize(
    ("mutate", "status", "field"),
    [
        (lambda k: k[0].update(kpi_module_id=str(uuid.uuid4())), 422, "kpis[0].kpi_module_id"),
        (lambda k: k[0].update(weight=0), 422, "kpis[0].weight"),
        (lambda k: k[0].update(weight=-2), 422, "kpis[0].weight"),
        (lambda k: k[0].update(custom_target=140), 422, "kpis[0].custom_target"),
        (lambda k: k[0].update(custom_target=5e12), 422, "kpis[0].custom_target"),
        (lambda k: k[0].update(weight=5e12), 400, "kpis[0].weight"),  # no scale: a bound
        (lambda k: k.append(dict(k[0])), 422, "kpis[2].kpi_module_id"),
        (lambda k: k[0].update(kpi_module_id="nope"), 400, "kpis[0].kpi_module_id"),
    ],
)
async def test_a_bad_template_set_changes_nothing(
    catalog: Client,
    as_role: Headers,
    mutate: Callable[[list[dict[str, Any]]], None],
    status: int,
    field: str,
) -> None:
    template = uuid.uuid4()
    good = await a_template_set(catalog, as_role)
    await catalog.put(templates(template), json={"kpis": good}, headers=as_role("hr_admin"))
    bad = [dict(k) for k in good]
    mutate(bad)
    response = await catalog.put(
        templates(template), json={"kpis": bad}, headers=as_role("hr_admin")
    )
    assert_problem(response, status, field)
    stored = (await catalog.get(templates(template), headers=as_role("manager"))).json()
    assert [k["kpi_module_id"] for k in stored] == [k["kpi_module_id"] for k in good]


# ------------------------------------------------------------------ events


@pytest.fixture
async def replaced_events(
    catalog: Client, catalog_settings: Settings
) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    connection = await aio_pika.connect(catalog_settings.amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(names.KPI_EXCHANGE, routing_key=names.TEMPLATE_KPIS_REPLACED)
    yield queue
    await connection.close()


async def next_event(
    queue: aio_pika.abc.AbstractQueue,
) -> tuple[events.TemplateKpisReplaced, aio_pika.abc.AbstractIncomingMessage]:
    for _ in range(200):
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            return codec.decode(message.body, events.TemplateKpisReplaced), message
        await asyncio.sleep(0.05)
    raise AssertionError("no TemplateKpisReplaced event arrived")


async def test_a_template_replace_publishes_exactly_one_event(
    catalog: Client, as_role: Headers, replaced_events: aio_pika.abc.AbstractQueue
) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    kpis = await a_template_set(catalog, as_role)
    await catalog.put(templates(first), json={"kpis": kpis}, headers=as_role("hr_admin"))
    await catalog.put(templates(second), json={"kpis": kpis[:1]}, headers=as_role("hr_admin"))

    event, message = await next_event(replaced_events)
    assert event.template_id == first and event.version == 1
    assert [k.kpi_module_id for k in event.kpis] == [uuid.UUID(k["kpi_module_id"]) for k in kpis]
    assert message.message_id == str(event.event_id)
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    # The relay keeps order, so a duplicate of the first event would arrive before the second.
    event, _ = await next_event(replaced_events)
    assert event.template_id == second


async def test_a_requests_correlation_id_travels_into_its_events(
    catalog: Client, as_role: Headers, replaced_events: aio_pika.abc.AbstractQueue
) -> None:
    template = uuid.uuid4()
    headers = as_role("hr_admin") | {"X-Request-ID": "req-7f3a"}
    response = await catalog.put(templates(template), json={"kpis": []}, headers=headers)
    assert response.headers["x-correlation-id"] == "req-7f3a"
    event, message = await next_event(replaced_events)
    while event.template_id != template:
        event, message = await next_event(replaced_events)
    assert message.headers["x-correlation-id"] == "req-7f3a"
    assert message.correlation_id == "req-7f3a"


async def test_metrics_count_requests_by_route_template(catalog: Client, as_role: Headers) -> None:
    await catalog.get(f"{MODULES}/{uuid.uuid4()}", headers=as_role("manager"))
    metrics = (await catalog.get("/metrics")).text
    assert 'route="/api/v1/hr/kpi-modules/{module_id}"' in metrics
    assert 'kpi_http_requests_total{method="GET"' in metrics
