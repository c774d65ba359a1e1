"""The assignment routes of interfaces §3 with the roles of §2."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import asyncpg
import msgspec
import pytest

from assignment import queries, views
from assignment.schemas import StaffKpi
from kpi_kit.testing.harness import bearer
from kpi_kit.testing.problems import problem_of
from kpi_kit.views import SCORING_KEYS

pytestmark = pytest.mark.integration

FAR_FUTURE = "2100-01-01T00:00:00Z"


@pytest.fixture
async def person(contract_system, people) -> uuid.UUID:
    """A support worker hired from a template with no KPIs of its own."""
    staff = uuid.uuid4()
    event = contract_system.a_contract_created(staff)
    await contract_system.send(event)
    await people.processed(event["event_id"])
    return staff


@pytest.fixture
def as_role(assignment_settings):
    def headers(role: str, staff_id: uuid.UUID | None = None) -> dict[str, str]:
        return bearer(assignment_settings, role, staff_id)

    return headers


def kpis_url(staff: uuid.UUID) -> str:
    return f"/api/v1/hr/staff/{staff}/kpis"


def status_url(staff: uuid.UUID, kpi_id: str) -> str:
    return f"/api/v1/hr/staff/{staff}/kpis/{kpi_id}/status"


# ---------------------------------------------------------------- reading


async def test_without_a_token_every_route_is_401(assignment, person):
    for method, url in [
        ("GET", kpis_url(person)),
        ("POST", kpis_url(person)),
        ("PATCH", status_url(person, str(uuid.uuid4()))),
        ("POST", f"/api/v1/hr/staff/{person}/deactivate-kpis"),
        ("GET", "/api/v1/hr/evaluations/due"),
    ]:
        response = await assignment.request(method, url, json={})
        assert response.status_code == 401, (method, url)
        assert problem_of(response)["status"] == 401


async def test_a_bad_token_is_401(assignment, person):
    response = await assignment.get(kpis_url(person), headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401


async def test_a_manager_and_hr_see_anyones_kpis_with_the_scoring_fields(
    assignment, person, as_role
):
    for role in ("manager", "hr_admin"):
        response = await assignment.get(kpis_url(person), headers=as_role(role))
        assert response.status_code == 200, response.text
        assert response.json()
        for kpi in response.json():
            assert {"target_score", "minimum_score", "effort_weight", "current_score"} <= kpi.keys()


async def test_staff_see_their_own_kpis_without_the_scoring_mechanics(assignment, person, as_role):
    response = await assignment.get(kpis_url(person), headers=as_role("staff", person))

    assert response.status_code == 200
    kpis = response.json()
    assert kpis
    for kpi in kpis:
        assert not SCORING_KEYS & kpi.keys()
        assert {"growth_status", "score_trend", "module", "status"} <= kpi.keys()
        assert not SCORING_KEYS & kpi["module"].keys()


async def test_staff_may_not_see_someone_elses_kpis(assignment, person, as_role):
    response = await assignment.get(kpis_url(person), headers=as_role("staff", uuid.uuid4()))

    assert response.status_code == 403
    assert problem_of(response)["status"] == 403


async def test_a_person_without_kpis_has_an_empty_list(assignment, as_role):
    response = await assignment.get(kpis_url(uuid.uuid4()), headers=as_role("manager"))

    assert (response.status_code, response.json()) == (200, [])


# The view queries as they were before module views were cached: every module column joined in.
JOINED_VIEW = """
SELECT k.id, k.staff_id, k.contract_id, k.kpi_module_id, k.status, k.source, k.is_required,
       k.target_score, k.minimum_score, k.effort_weight, k.current_score,
       k.current_effort_score, k.previous_score, k.score_trend, k.trend_percentage,
       k.growth_status, k.last_evaluated_at, k.next_evaluation_due, k.assigned_at,
       k.deactivated_at, k.deactivation_reason,
       m.name AS m_name, m.slug AS m_slug, m.category::text AS m_category,
       m.role_group::text AS m_role_group, m.is_universal AS m_is_universal,
       m.evaluation_frequency::text AS m_evaluation_frequency, m.score_type AS m_score_type,
       m.objective AS m_objective, m.measurement_method AS m_measurement_method,
       m.data_sources AS m_data_sources, m.automation_status AS m_automation_status,
       m.coaching_tips AS m_coaching_tips, m.display_order AS m_display_order
FROM hr.staff_kpis k JOIN hr.assignment_modules m ON m.id = k.kpi_module_id
WHERE k.staff_id = $1 AND ($2::text = 'all' OR k.status = $2::text)
ORDER BY k.status, m.display_order, m.name, k.assigned_at
"""


async def joined_views(db: asyncpg.Pool, staff: uuid.UUID, status: str) -> bytes:
    """A person's KPIs of a status (or all) as JSON, from one query joining every module column."""
    views = []
    for row in await db.fetch(JOINED_VIEW, staff, status):
        view = {k: v for k, v in row.items() if not k.startswith("m_")}
        module = {k.removeprefix("m_"): v for k, v in row.items() if k.startswith("m_")}
        views.append(view | {"module": module | {"id": row["kpi_module_id"]}})
    return msgspec.json.encode(msgspec.convert(views, list[StaffKpi]))


async def test_a_view_carries_every_column_of_its_row_and_module_under_the_fields_name(
    assignment, person, db
):
    pool = assignment.app.state.runtime.pool
    rows = await pool.fetch(queries.STAFF_KPIS, person, "all")
    staff_views = await views.views_of(pool, views.ModuleViews(), rows)

    assert rows and len(staff_views) == len(rows)
    assert msgspec.json.encode(staff_views) == await joined_views(db, person, "all")
    for row, view in zip(rows, staff_views, strict=True):
        shown = msgspec.to_builtins(view)
        shown.pop("module")
        expected = {k: v for k, v in row.items() if k != "module_version"}
        assert shown == msgspec.to_builtins(expected)


async def test_the_kpis_route_answers_what_one_joined_query_reads(assignment, person, db, as_role):
    for status, params in (("active", {}), ("all", {"status": "all"})):
        for _ in range(2):  # the module views read, then held
            response = await assignment.get(
                kpis_url(person), params=params, headers=as_role("manager")
            )
            assert response.content == await joined_views(db, person, status)


async def test_a_view_shows_its_module_as_upserted_since_it_was_last_read(
    assignment, person, db, as_role, modules
):
    module_id = await modules.create(
        role_group="support_worker", coaching_tips=["Write it before you leave."]
    )
    assigned = await assignment.post(
        kpis_url(person), json={"kpi_module_id": module_id}, headers=as_role("manager")
    )
    assert assigned.status_code == 201, assigned.text
    before = await assignment.get(kpis_url(person), headers=as_role("manager"))
    texts = {
        "objective": "Every shift ends with a signed handover note.",
        "measurement_method": "Share of shifts with a signed note.",
        "coaching_tips": ["Sign it.", "Write it before you leave."],
    }

    await modules.edit(module_id, **texts)
    after = await assignment.get(kpis_url(person), headers=as_role("manager"))

    assert after.content == await joined_views(db, person, "active")
    expected = [
        kpi | {"module": kpi["module"] | texts} if kpi["kpi_module_id"] == module_id else kpi
        for kpi in before.json()
    ]
    assert after.json() == expected != before.json()


async def test_an_unknown_status_filter_is_a_400(assignment, person, as_role):
    response = await assignment.get(
        kpis_url(person), params={"status": "deleted"}, headers=as_role("manager")
    )

    assert response.status_code == 400
    assert problem_of(response)["status"] == 400


async def test_a_malformed_staff_id_is_not_a_500(assignment, as_role):
    response = await assignment.get("/api/v1/hr/staff/not-a-uuid/kpis", headers=as_role("manager"))

    assert response.status_code in (400, 404)


# ---------------------------------------------------------------- manual assignment


async def test_a_manager_assigns_a_kpi_by_hand(assignment, person, as_role, catalogue):
    module = catalogue.optional("support_worker", "percentage")[0]
    contract = uuid.uuid4()

    response = await assignment.post(
        kpis_url(person),
        json={"kpi_module_id": module, "contract_id": str(contract), "custom_target": 88},
        headers=as_role("manager"),
    )

    assert response.status_code == 201, response.text
    kpi = response.json()
    assert (kpi["kpi_module_id"], kpi["source"], kpi["status"]) == (module, "manual", "active")
    assert (kpi["contract_id"], kpi["target_score"]) == (str(contract), 88)
    assert kpi["module"]["id"] == module
    listed = {
        k["id"] for k in (await assignment.get(kpis_url(person), headers=as_role("manager"))).json()
    }
    assert kpi["id"] in listed


async def test_assigning_a_module_that_is_already_active_is_a_409(
    assignment, person, as_role, catalogue
):
    universal = sorted(catalogue.universal())[0]

    response = await assignment.post(
        kpis_url(person), json={"kpi_module_id": universal}, headers=as_role("manager")
    )

    assert response.status_code == 409
    assert problem_of(response)["status"] == 409


async def test_assigning_an_unknown_module_is_a_422(assignment, person, as_role):
    response = await assignment.post(
        kpis_url(person), json={"kpi_module_id": str(uuid.uuid4())}, headers=as_role("manager")
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"][0]["field"] == "kpi_module_id"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (250, "must be on the percentage scale 0-100"),
        (1e10, "must be on the percentage scale 0-100"),  # however far off: the scale's 422
        (1, "must be at least the module's minimum"),
    ],
)
async def test_a_custom_target_off_the_scale_or_under_the_minimum_is_a_422(
    assignment, person, as_role, catalogue, target, message
):
    module = catalogue.optional("support_worker", "percentage")[0]

    response = await assignment.post(
        kpis_url(person),
        json={"kpi_module_id": module, "custom_target": target},
        headers=as_role("manager"),
    )

    assert response.status_code == 422
    [error] = problem_of(response)["errors"]
    assert error["field"] == "custom_target" and error["message"].startswith(message)


@pytest.mark.parametrize(
    "body",
    [{}, {"kpi_module_id": "nope"}, {"kpi_module_id": str(uuid.uuid4()), "colour": "blue"}],
)
async def test_a_malformed_assignment_is_a_400(assignment, person, as_role, body):
    response = await assignment.post(kpis_url(person), json=body, headers=as_role("manager"))

    assert response.status_code == 400
    assert problem_of(response)["status"] == 400


async def test_staff_may_not_assign_kpis(assignment, person, as_role, catalogue):
    module = catalogue.optional("support_worker")[0]

    response = await assignment.post(
        kpis_url(person), json={"kpi_module_id": module}, headers=as_role("staff", person)
    )

    assert response.status_code == 403


async def test_a_manual_assignment_is_announced_for_the_journal(
    assignment, person, as_role, catalogue, announced, people
):
    module = catalogue.optional("support_worker")[0]

    response = await assignment.post(
        kpis_url(person), json={"kpi_module_id": module}, headers=as_role("manager")
    )
    await people.settled()
    await announced.caught_up()

    kpi_id = response.json()["id"]
    found = [
        body
        for body in announced.bodies()
        if body["event_type"] == "KpisAssigned"
        and [k["staff_kpi_id"] for k in body["kpis"]] == [kpi_id]
    ]
    assert len(found) == 1
    assert (found[0]["cause"], found[0]["kpis"][0]["source"]) == ("manual_assignment", "manual")
    assert found[0]["actor"] == "test-manager"  # the journal's created_by


async def test_a_status_change_tells_the_journal_who_asked_and_why(
    assignment, person, as_role, catalogue, announced, people
):
    module = sorted(catalogue.defaults("support_worker") - catalogue.universal())[0]
    kpi = await kpi_of(assignment, person, as_role, module)

    for status, reason in (("inactive", "On extended leave"), ("active", "Back from leave")):
        response = await assignment.patch(
            status_url(person, kpi["id"]),
            json={"status": status, "reason": reason},
            headers=as_role("manager"),
        )
        assert response.status_code == 200, response.text
    await people.settled()
    await announced.caught_up()

    told = [
        (change["status"], change["reason"], body["cause"], body["actor"])
        for body in announced.bodies()
        if body["event_type"] == "KpiStatusChanged"
        for change in body["changes"]
        if change["staff_kpi_id"] == kpi["id"]
    ]
    assert told == [
        ("inactive", "On extended leave", "status_change", "test-manager"),
        ("active", "Back from leave", "status_change", "test-manager"),
    ]


# ---------------------------------------------------------------- status changes


async def kpi_of(assignment, person, as_role, module: str) -> dict[str, Any]:
    response = await assignment.get(
        kpis_url(person), params={"status": "all"}, headers=as_role("manager")
    )
    return next(k for k in response.json() if k["kpi_module_id"] == module)


async def test_a_manager_deactivates_and_reactivates_an_optional_kpi(
    assignment, person, as_role, catalogue
):
    module = sorted(catalogue.defaults("support_worker") - catalogue.universal())[0]
    kpi = await kpi_of(assignment, person, as_role, module)

    off = await assignment.patch(
        status_url(person, kpi["id"]),
        json={"status": "inactive", "reason": "on extended leave"},
        headers=as_role("manager"),
    )
    on = await assignment.patch(
        status_url(person, kpi["id"]), json={"status": "active"}, headers=as_role("manager")
    )

    assert off.status_code == 200, off.text
    assert (off.json()["status"], off.json()["deactivation_reason"]) == (
        "inactive",
        "on extended leave",
    )
    assert off.json()["deactivated_at"] is not None
    assert on.status_code == 200
    assert (on.json()["id"], on.json()["status"], on.json()["deactivated_at"]) == (
        kpi["id"],
        "active",
        None,
    )


async def test_status_inactive_lists_only_the_kpis_they_held_before(
    assignment, person, as_role, catalogue
):
    module = sorted(catalogue.defaults("support_worker") - catalogue.universal())[0]
    kpi = await kpi_of(assignment, person, as_role, module)
    off = await assignment.patch(
        status_url(person, kpi["id"]), json={"status": "inactive"}, headers=as_role("manager")
    )
    assert off.status_code == 200, off.text

    def listed(status: str | None) -> Any:
        params = {"status": status} if status else None
        return assignment.get(kpis_url(person), params=params, headers=as_role("manager"))

    inactive, active, every = [await listed(s) for s in ("inactive", None, "all")]
    assert [k["id"] for k in inactive.json()] == [kpi["id"]]
    assert kpi["id"] not in {k["id"] for k in active.json()}
    assert len(every.json()) == len(active.json()) + 1
    assert (await listed("retired")).status_code == 400


async def test_a_manager_may_not_deactivate_a_required_kpi_but_hr_may(
    assignment, person, as_role, catalogue
):
    required = await kpi_of(assignment, person, as_role, sorted(catalogue.universal())[0])
    assert required["is_required"]

    manager = await assignment.patch(
        status_url(person, required["id"]), json={"status": "inactive"}, headers=as_role("manager")
    )
    hr = await assignment.patch(
        status_url(person, required["id"]), json={"status": "inactive"}, headers=as_role("hr_admin")
    )

    assert manager.status_code == 403
    assert problem_of(manager)["status"] == 403
    assert hr.status_code == 200
    assert hr.json()["status"] == "inactive"


async def test_setting_the_status_a_kpi_already_has_changes_nothing(
    assignment, person, as_role, catalogue
):
    kpi = await kpi_of(assignment, person, as_role, sorted(catalogue.universal())[0])

    response = await assignment.patch(
        status_url(person, kpi["id"]), json={"status": "active"}, headers=as_role("manager")
    )

    assert (response.status_code, response.json()) == (200, kpi)


async def test_staff_may_not_change_a_status(assignment, person, as_role, catalogue):
    kpi = await kpi_of(assignment, person, as_role, sorted(catalogue.universal())[0])

    response = await assignment.patch(
        status_url(person, kpi["id"]),
        json={"status": "inactive"},
        headers=as_role("staff", person),
    )

    assert response.status_code == 403


async def test_changing_the_status_of_an_unknown_kpi_is_a_404(assignment, person, as_role):
    response = await assignment.patch(
        status_url(person, str(uuid.uuid4())),
        json={"status": "inactive"},
        headers=as_role("manager"),
    )

    assert response.status_code == 404
    assert problem_of(response)["status"] == 404


async def test_an_unknown_status_is_a_400(assignment, person, as_role, catalogue):
    kpi = await kpi_of(assignment, person, as_role, sorted(catalogue.universal())[0])

    response = await assignment.patch(
        status_url(person, kpi["id"]), json={"status": "deleted"}, headers=as_role("hr_admin")
    )

    assert response.status_code == 400


# ---------------------------------------------------------------- deactivate-kpis


async def test_only_hr_may_deactivate_all_of_a_persons_kpis(assignment, person, as_role):
    url = f"/api/v1/hr/staff/{person}/deactivate-kpis"
    count = len((await assignment.get(kpis_url(person), headers=as_role("manager"))).json())

    manager = await assignment.post(url, json={}, headers=as_role("manager"))
    staff = await assignment.post(url, json={}, headers=as_role("staff", person))
    hr = await assignment.post(url, json={"reason": "contract ended"}, headers=as_role("hr_admin"))
    again = await assignment.post(url, headers=as_role("hr_admin"))

    assert (manager.status_code, staff.status_code) == (403, 403)
    assert (hr.status_code, hr.json()) == (200, {"deactivated": count})
    assert (again.status_code, again.json()) == (200, {"deactivated": 0})
    everything = (
        await assignment.get(kpis_url(person), params={"status": "all"}, headers=as_role("manager"))
    ).json()
    assert len(everything) == count
    assert {(k["status"], k["deactivation_reason"]) for k in everything} == {
        ("inactive", "contract ended")
    }


# ---------------------------------------------------------------- evaluations due


async def test_evaluations_due_lists_active_kpis_due_before_a_time(assignment, person, as_role):
    due = await assignment.get(
        "/api/v1/hr/evaluations/due",
        params={"before": FAR_FUTURE, "limit": 5000},
        headers=as_role("manager"),
    )
    not_yet = await assignment.get(
        "/api/v1/hr/evaluations/due",
        params={"before": (datetime.now(UTC) + timedelta(days=1)).isoformat()},
        headers=as_role("hr_admin"),
    )

    assert due.status_code == 200
    mine = [k for k in due.json() if k["staff_id"] == str(person)]
    assert mine and all(k["status"] == "active" for k in mine)
    dates = [datetime.fromisoformat(k["next_evaluation_due"]) for k in due.json()]
    assert dates == sorted(dates)
    assert not [k for k in not_yet.json() if k["staff_id"] == str(person)]


async def due_of(assignment, as_role, person: uuid.UUID, before: str) -> set[str]:
    """The ids of a person's KPIs listed as due before a time, read through every page."""
    params: dict[str, Any] = {"before": before, "limit": 5000}
    found: set[str] = set()
    while True:
        response = await assignment.get(
            "/api/v1/hr/evaluations/due", params=params, headers=as_role("manager")
        )
        assert response.status_code == 200, response.text
        found |= {k["id"] for k in response.json() if k["staff_id"] == str(person)}
        if (link := response.headers.get("link")) is None:
            return found
        next_page = re.fullmatch(r'<\?(.+)>; rel="next"', link)
        assert next_page, link
        params = dict(parse_qsl(next_page[1]))


async def test_evaluations_due_leave_out_a_deactivated_kpi(assignment, person, as_role):
    kpis = (await assignment.get(kpis_url(person), headers=as_role("manager"))).json()
    assert len(kpis) >= 2
    dropped, *kept = kpis
    response = await assignment.patch(
        status_url(person, dropped["id"]),
        json={"status": "inactive", "reason": "not part of the role"},
        headers=as_role("hr_admin"),
    )
    assert response.status_code == 200, response.text

    assert await due_of(assignment, as_role, person, FAR_FUTURE) == {k["id"] for k in kept}


async def test_evaluations_due_before_a_time_leave_out_a_kpi_due_at_that_time(
    assignment, person, as_role
):
    kpis = (await assignment.get(kpis_url(person), headers=as_role("manager"))).json()
    assert kpis
    kpi = kpis[0]
    due_at = datetime.fromisoformat(kpi["next_evaluation_due"])

    at_that_time = await due_of(assignment, as_role, person, due_at.isoformat())
    a_moment_later = await due_of(
        assignment, as_role, person, (due_at + timedelta(microseconds=1)).isoformat()
    )

    assert kpi["id"] not in at_that_time
    assert kpi["id"] in a_moment_later


async def test_evaluations_due_past_the_limit_are_named_by_a_next_link(assignment, person, as_role):
    url = "/api/v1/hr/evaluations/due"
    everything = await assignment.get(
        url, params={"before": FAR_FUTURE, "limit": 5000}, headers=as_role("manager")
    )
    assert "link" not in everything.headers
    expected = [k["id"] for k in everything.json()]
    assert len(expected) > 3

    seen: list[str] = []
    response = await assignment.get(
        url, params={"before": FAR_FUTURE, "limit": 3}, headers=as_role("manager")
    )
    while True:
        assert response.status_code == 200, response.text
        seen += [k["id"] for k in response.json()]
        link = response.headers.get("link")
        if link is None:
            break
        query = re.fullmatch(r'<\?(.+)>; rel="next"', link)
        assert query, link
        response = await assignment.get(f"{url}?{query[1]}", headers=as_role("manager"))
    assert seen == expected


@pytest.mark.parametrize(
    "before",
    ["2100-01-01T00:00:00+00:00", "2100-01-01T10:00:00.5+10:00", "2100-01-01 00:00+0000"],
)
async def test_evaluations_due_take_an_offset_whose_plus_was_not_encoded(
    assignment, person, as_role, before
):
    # `?before={when.isoformat()}` written straight into a URL sends the offset's `+` unencoded,
    # and a query string reads `+` as a space.
    response = await assignment.get(
        f"/api/v1/hr/evaluations/due?before={before}&limit=5000", headers=as_role("manager")
    )

    assert response.status_code == 200, response.text
    assert {k["id"] for k in response.json() if k["staff_id"] == str(person)}


async def test_evaluations_due_take_an_empty_cursor_as_the_first_page(assignment, person, as_role):
    first = await assignment.get(
        "/api/v1/hr/evaluations/due",
        params={"before": FAR_FUTURE, "limit": 5000, "cursor": None},
        headers=as_role("manager"),
    )

    assert first.status_code == 200, first.text
    assert {k["id"] for k in first.json() if k["staff_id"] == str(person)}


async def test_evaluations_due_refuses_a_cursor_it_did_not_give(assignment, as_role):
    response = await assignment.get(
        "/api/v1/hr/evaluations/due", params={"cursor": "made-up"}, headers=as_role("manager")
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "cursor"


async def test_staff_may_not_list_evaluations_due(assignment, person, as_role):
    response = await assignment.get("/api/v1/hr/evaluations/due", headers=as_role("staff", person))

    assert response.status_code == 403


# ---------------------------------------------------------------- never deleted


async def test_the_database_refuses_to_delete_a_staff_kpi(person, database_url):
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.exceptions.RestrictViolationError, match="never deleted"):
            await conn.execute("DELETE FROM hr.staff_kpis WHERE staff_id = $1", person)
        with pytest.raises(asyncpg.exceptions.RestrictViolationError):
            await conn.execute("TRUNCATE hr.staff_kpis")
    finally:
        await conn.close()


@pytest.mark.parametrize("before", ["0.33", "1767225600", "yesterday", "2026-13-01T00:00:00Z"])
async def test_evaluations_due_refuses_a_before_that_is_not_an_rfc3339_time(
    assignment, as_role, before
):
    response = await assignment.get(
        "/api/v1/hr/evaluations/due", params={"before": before}, headers=as_role("manager")
    )

    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
