"""What the service learns from other services' events: the catalogue and the journal's scores."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import pytest

from assignment.app import definition as assignment_definition
from assignment.handlers import ReplicaGate
from catalog.app import definition as catalog_definition
from kpi_contracts import names
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import bearer, eventually, running
from kpi_kit.testing.servers import Servers, own_database_and_vhost

pytestmark = pytest.mark.integration


async def test_starting_empty_the_service_copies_the_whole_catalogue(servers: Servers) -> None:
    # A database and vhost of this test's own: the session's assignment service started long ago.
    async with own_database_and_vhost(servers) as (database_url, amqp_url):

        def settings(service: str) -> Settings:
            return Settings(service=service, database_url=database_url, amqp_url=amqp_url)

        async with (
            running(catalog_definition(), settings("catalog")),
            running(assignment_definition(), settings("assignment")) as assignment,
        ):
            pool = assignment.app.state.runtime.pool

            async def versions(table: str) -> dict[uuid.UUID, int]:
                return {
                    r["id"]: r["version"]
                    for r in await pool.fetch(f"SELECT id, version FROM {table}")
                }

            async def copied() -> bool:
                catalogue = await versions("hr.kpi_modules")
                return bool(catalogue) and await versions("hr.assignment_modules") == catalogue

            await eventually(copied, timeout=60)


async def test_a_template_replace_reaches_the_replica_by_version(templates, catalogue, db):
    first, second = catalogue.optional("support_worker")[:2]
    template = await templates.create([{"kpi_module_id": first, "weight": 1}])

    await templates.replace(template, [{"kpi_module_id": second, "weight": 3, "is_required": True}])

    rows = await db.fetch(
        "SELECT kpi_module_id, weight, is_required FROM hr.assignment_template_kpis"
        " WHERE template_id = $1",
        template,
    )
    assert [(str(r["kpi_module_id"]), r["weight"], r["is_required"]) for r in rows] == [
        (second, 3, True)
    ]


SNAPSHOT_FIELDS = (
    "id",
    "name",
    "slug",
    "category",
    "role_group",
    "is_universal",
    "objective",
    "measurement_method",
    "data_sources",
    "automation_status",
    "score_type",
    "target_score",
    "minimum_score",
    "effort_weight",
    "evaluation_frequency",
    "coaching_tips",
    "is_default_for_role",
    "is_seed",
    "display_order",
    "is_archived",
    "version",
)


def a_module_upserted(module: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A ModuleUpserted body for a module as the catalog API shows it, with `changes`."""
    snapshot = {key: module[key] for key in SNAPSHOT_FIELDS} | changes
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "ModuleUpserted",
        "occurred_at": datetime.now(UTC).isoformat(),
        "module": snapshot,
    }


async def catalog_says(broker_channel: aio_pika.abc.AbstractChannel, body: dict[str, Any]) -> None:
    exchange = await broker_channel.get_exchange(names.KPI_EXCHANGE)
    await exchange.publish(
        aio_pika.Message(json.dumps(body).encode(), content_type="application/json"),
        routing_key=names.MODULE_UPSERTED,
    )


async def test_an_older_catalog_event_does_not_overwrite_a_newer_one(
    broker_channel, catalogue, db, people
):
    module = dict(catalogue.modules["attendance-reliability"])
    current = await db.fetchval(
        "SELECT version FROM hr.assignment_modules WHERE id = $1", uuid.UUID(module["id"])
    )
    stale = a_module_upserted(
        module, name="A stale name", version=current - 1 if current > 1 else 0
    )
    before = people.consumed("ModuleUpserted", "duplicate")

    await catalog_says(broker_channel, stale)
    await people.counted("ModuleUpserted", "duplicate", before + 1)

    assert (
        await db.fetchval(
            "SELECT name FROM hr.assignment_modules WHERE id = $1", uuid.UUID(module["id"])
        )
        == module["name"]
    )


async def test_a_module_with_an_automation_level_of_its_own_reaches_staff_kpis(
    assignment, assignment_settings, broker_channel, catalogue, db, people
):
    # kpi-system.txt types automation_status as text: a level beyond manual / assisted /
    # automated is replicated and shown, not dead-lettered.
    optional = catalogue.modules_by_id[catalogue.optional("rostering")[0]]
    module_id = uuid.uuid4()
    upserted = a_module_upserted(
        optional,
        id=str(module_id),
        slug=f"rostering-levels-{module_id.hex[:8]}",
        automation_status="semi_automated",
        version=1,
    )

    await catalog_says(broker_channel, upserted)

    async def replicated() -> bool:
        return bool(
            await db.fetchval("SELECT 1 FROM hr.assignment_modules WHERE id = $1", module_id)
        )

    await eventually(replicated, timeout=20)
    staff = uuid.uuid4()
    assigned = await assignment.post(
        f"/api/v1/hr/staff/{staff}/kpis",
        json={"kpi_module_id": str(module_id)},
        headers=bearer(assignment_settings, "hr_admin"),
    )
    assert assigned.status_code == 201, assigned.text
    assert [k["module"]["automation_status"] for k in await people.kpis(staff)] == [
        "semi_automated"
    ]


async def test_a_module_edited_in_the_catalog_shows_in_staff_kpis(
    assignment, assignment_settings, modules, people
):
    hr = bearer(assignment_settings, "hr_admin")
    module_id = await modules.create()
    staff = uuid.uuid4()
    assigned = await assignment.post(
        f"/api/v1/hr/staff/{staff}/kpis", json={"kpi_module_id": module_id}, headers=hr
    )
    assert assigned.status_code == 201, assigned.text

    await modules.edit(module_id, name="Roster accuracy")

    assert [k["module"]["name"] for k in await people.kpis(staff)] == ["Roster accuracy"]


# ---------------------------------------------------------------- scores from the journal


def a_score_recomputed(kpi: dict[str, Any], sequence: int, score: float) -> dict[str, Any]:
    evaluated = datetime(2026, 3, 1, tzinfo=UTC)
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "ScoreRecomputed",
        "occurred_at": evaluated.isoformat(),
        "staff_kpi_id": kpi["id"],
        "staff_id": kpi["staff_id"],
        "sequence": sequence,
        "current_score": score,
        "current_outcome_score": score,
        "current_effort_score": score,
        "previous_score": 3.0,
        "score_trend": "up",
        "trend_percentage": round((score - 3.0) / 3.0 * 100, 4),
        "growth_status": "exceeding",
        "last_evaluated_at": evaluated.isoformat(),
        "next_evaluation_due": (evaluated + timedelta(days=90)).isoformat(),
    }


async def test_the_journals_scores_are_kept_current_and_an_older_recompute_is_ignored(
    broker_channel, contract_system, people
):
    staff = uuid.uuid4()
    hired = contract_system.a_contract_created(staff)
    await contract_system.send(hired)
    await people.processed(hired["event_id"])
    kpi = (await people.kpis(staff))[0]
    exchange = await broker_channel.get_exchange(names.KPI_EXCHANGE)

    async def journal_says(body: dict[str, Any]) -> None:
        await exchange.publish(
            aio_pika.Message(json.dumps(body).encode(), content_type="application/json"),
            routing_key=names.SCORE_RECOMPUTED,
        )

    newer, older = a_score_recomputed(kpi, 2, 4.5), a_score_recomputed(kpi, 1, 3.5)
    stale_before = people.consumed("ScoreRecomputed", "duplicate")
    await journal_says(newer)

    async def scored():
        now = people.by_module(await people.kpis(staff))[kpi["kpi_module_id"]]
        return now if now["current_score"] == 4.5 else None

    current = await eventually(scored)
    await journal_says(older)
    await people.counted("ScoreRecomputed", "duplicate", stale_before + 1)

    after = people.by_module(await people.kpis(staff))[kpi["kpi_module_id"]]
    assert after == current
    assert (after["growth_status"], after["score_trend"], after["previous_score"]) == (
        "exceeding",
        "up",
        3.0,
    )
    assert datetime.fromisoformat(after["next_evaluation_due"]) == datetime(
        2026, 3, 1, tzinfo=UTC
    ) + timedelta(days=90)
    shown_to_staff = (await people.kpis(staff, role="staff"))[0]
    assert "current_score" not in shown_to_staff


async def test_lifecycle_events_wait_until_the_replica_has_settled(assignment, db):
    just_written = ReplicaGate(quiet=3600)
    settled = ReplicaGate(quiet=0)
    await db.execute(
        "UPDATE hr.assignment_modules SET replicated_at = now()"
        " WHERE id = (SELECT id FROM hr.assignment_modules LIMIT 1)"
    )

    await settled.wait(db)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(just_written.wait(db), timeout=1)


async def test_a_modules_new_terms_reach_the_people_who_hold_it(
    assignment, assignment_settings, modules, people, announced
):
    hr = bearer(assignment_settings, "hr_admin")
    module_id = await modules.create(evaluation_frequency="monthly")

    async def holder(**body: Any) -> dict[str, Any]:
        staff = uuid.uuid4()
        response = await assignment.post(
            f"/api/v1/hr/staff/{staff}/kpis", json={"kpi_module_id": module_id, **body}, headers=hr
        )
        assert response.status_code == 201, response.text
        kpi: dict[str, Any] = response.json()
        return kpi

    plain, own_target, paused = await holder(), await holder(custom_target=80), await holder()
    paused_url = f"/api/v1/hr/staff/{paused['staff_id']}/kpis/{paused['id']}/status"
    response = await assignment.patch(paused_url, json={"status": "inactive"}, headers=hr)
    assert response.status_code == 200, response.text

    # The custom target 80 falls under the new minimum: the module's target stands in for it.
    await modules.edit(
        module_id,
        target_score=85,
        minimum_score=82,
        effort_weight=0.25,
        evaluation_frequency="weekly",
    )

    async def terms(kpi: dict[str, Any]) -> tuple[float, float, float]:
        [now] = [k for k in await people.kpis(kpi["staff_id"], every=True) if k["id"] == kpi["id"]]
        return now["target_score"], now["minimum_score"], now["effort_weight"]

    async def moved() -> bool:
        return await terms(plain) == await terms(own_target) == (85, 82, 0.25)

    await eventually(moved)
    assert await terms(paused) == (90, 75, 0.2)  # inactive: it takes the terms when reactivated

    holders = {kpi["staff_id"] for kpi in (plain, own_target, paused)}

    async def told() -> list[dict[str, Any]]:
        await announced.caught_up()
        return [
            body
            for body in announced.bodies()
            if body["event_type"] == "KpisRestated"
            and body["cause"] == "module_updated"
            and body["staff_id"] in holders
        ]

    async def told_of(edits: int) -> bool:  # the relay publishes after the rows are written
        return len(await told()) >= 2 * edits

    await eventually(lambda: told_of(1))
    restated = await told()
    assert sorted(body["staff_id"] for body in restated) == sorted(
        [plain["staff_id"], own_target["staff_id"]]
    )
    for body in restated:
        [kpi] = body["kpis"]
        assert kpi["status"] == "active"
        assert kpi["parameters"]["evaluation_frequency"] == "weekly"
        assert (kpi["parameters"]["target_score"], kpi["parameters"]["revision"]) == (85, 2)

    # Tips, order and the like are no terms: nobody is told of them (of the next edit, yes).
    await modules.edit(module_id, coaching_tips=["Walk through the roster together."])
    await modules.edit(module_id, target_score=86)

    async def moved_again() -> bool:
        return await terms(plain) == (86, 82, 0.25)

    await eventually(moved_again)

    await eventually(lambda: told_of(2))
    terms_told = sorted(
        (b["kpis"][0]["parameters"]["revision"], b["kpis"][0]["parameters"]["target_score"])
        for b in await told()
    )
    assert terms_told == [(2, 85), (2, 85), (3, 86), (3, 86)]

    response = await assignment.patch(paused_url, json={"status": "active"}, headers=hr)
    assert response.status_code == 200, response.text
    assert await terms(paused) == (86, 82, 0.25)
