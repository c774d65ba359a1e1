"""At-least-once delivery: redeliveries, racing consumers, shuffled order, dead letters, and the
events the service announces."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from assignment.app import definition as assignment_definition
from kpi_kit.testing.harness import eventually, running

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def the_record(kpis: list[dict[str, Any]]) -> dict[str, tuple[Any, ...]]:
    """What a person's KPIs say, minus ids: comparable between people with the same history."""
    return {
        k["kpi_module_id"]: (
            k["status"],
            k["source"],
            k["is_required"],
            k["target_score"],
            k["contract_id"],
            k["assigned_at"],
            k["deactivated_at"],
            k["deactivation_reason"],
        )
        for k in kpis
    }


def assigned_for(announced, event_id: str) -> list[dict[str, Any]]:
    return [
        body
        for body in announced.bodies()
        if body["event_type"] == "KpisAssigned" and body["cause_event_id"] == event_id
    ]


def status_changes_for(announced, event_id: str) -> list[dict[str, Any]]:
    return [
        body
        for body in announced.bodies()
        if body["event_type"] == "KpiStatusChanged" and body["cause_event_id"] == event_id
    ]


# ---------------------------------------------------------------- events out


async def test_a_contract_is_announced_once_listing_every_kpi_with_its_scoring_parameters(
    contract_system, people, announced
):
    staff = uuid.uuid4()
    event = contract_system.a_contract_created(staff)

    await contract_system.send(event)
    await people.settled(event["event_id"])

    kpis = people.by_module(await people.kpis(staff))
    await announced.caught_up()
    found = assigned_for(announced, event["event_id"])
    assert len(found) == 1
    listed = {p["kpi_module_id"]: p for p in found[0]["kpis"]}
    assert listed.keys() == kpis.keys()
    for module_id, parameters in listed.items():
        kpi = kpis[module_id]
        assert parameters["staff_kpi_id"] == kpi["id"]
        assert parameters["staff_id"] == str(staff)
        assert parameters["module_name"] == kpi["module"]["name"]
        assert parameters["score_type"] == kpi["module"]["score_type"]
        assert parameters["evaluation_frequency"] == kpi["module"]["evaluation_frequency"]
        assert (parameters["target_score"], parameters["minimum_score"]) == (
            kpi["target_score"],
            kpi["minimum_score"],
        )
        assert parameters["effort_weight"] == kpi["effort_weight"]
    assert found[0]["cause"] == "contract_created"


async def test_an_exit_is_announced_once_listing_every_deactivation(
    contract_system, people, announced
):
    staff = uuid.uuid4()
    hired = contract_system.a_contract_created(staff, at=T0)
    await contract_system.send(hired)
    await people.processed(hired["event_id"])
    leaving = contract_system.an_exit(staff, at=T0 + DAY, reason="retired")

    await contract_system.send(leaving)
    await people.settled(leaving["event_id"])

    await announced.caught_up()
    found = status_changes_for(announced, leaving["event_id"])
    assert len(found) == 1
    changes = found[0]["changes"]
    assert {c["staff_kpi_id"] for c in changes} == {
        k["id"] for k in await people.kpis(staff, every=True)
    }
    assert {(c["status"], c["reason"]) for c in changes} == {("inactive", "Staff exited: retired")}
    assert not assigned_for(announced, leaving["event_id"])


# ---------------------------------------------------------------- redelivery


@pytest.mark.parametrize("kind", ["ContractCreated", "RoleChanged", "StaffExited"])
async def test_a_redelivered_event_changes_nothing(kind, contract_system, people, announced):
    staff = uuid.uuid4()
    hired = contract_system.a_contract_created(staff, at=T0)
    events = {
        "ContractCreated": hired,
        "RoleChanged": contract_system.a_role_change(staff, at=T0 + DAY),
        "StaffExited": contract_system.an_exit(staff, at=T0 + DAY),
    }
    if kind != "ContractCreated":
        await contract_system.send(hired)
        await people.processed(hired["event_id"])
    event = events[kind]
    duplicates = people.consumed(kind, "duplicate")

    await contract_system.send(event)
    await people.processed(event["event_id"])
    once = await people.kpis(staff, every=True)
    await contract_system.send(event)
    await people.counted(kind, "duplicate", duplicates + 1)
    await people.settled(event["event_id"])

    assert await people.kpis(staff, every=True) == once
    await announced.caught_up()
    announcements = assigned_for(announced, event["event_id"]) + status_changes_for(
        announced, event["event_id"]
    )
    assert len(announcements) == (2 if kind == "RoleChanged" else 1)


# ---------------------------------------------------------------- racing consumers


async def test_two_consumers_racing_on_the_same_people_leave_the_in_order_state(
    contract_system, people, catalogue, assignment_settings, announced
):
    staff = [uuid.uuid4() for _ in range(12)]
    histories = {
        person: [
            contract_system.a_contract_created(person, at=T0),
            contract_system.a_role_change(person, at=T0 + DAY),
            contract_system.an_exit(person, at=T0 + 2 * DAY),
        ]
        for person in staff
    }
    everything = [e for history in histories.values() for e in history for _ in range(2)]
    random.Random(7).shuffle(everything)

    async with running(assignment_definition(), assignment_settings, role="worker"):
        await asyncio.gather(*(contract_system.send(e) for e in everything))
        await people.settled(*{e["event_id"] for e in everything})

    expected_modules = catalogue.defaults("support_worker") | catalogue.defaults("team_leader")
    retired = catalogue.defaults("support_worker") - catalogue.universal()
    await announced.caught_up()
    for person, history in histories.items():
        kpis = await people.kpis(person, every=True)
        assert len(kpis) == len(expected_modules)  # no module assigned twice
        reasons = {k["kpi_module_id"]: k["deactivation_reason"] for k in kpis}
        assert reasons == {
            m: "Role changed from support worker to team leader" if m in retired else "Staff exited"
            for m in expected_modules
        }
        for event in history:  # no KPI told twice of one cause, however often it came
            # (A cause may be told in two announcements of a kind: on its arrival, and when an
            # event that arrived after it completes its story, e.g. the exit's deactivation of
            # KPIs a late role change brought.)
            assigned = [
                k["staff_kpi_id"]
                for body in assigned_for(announced, event["event_id"])
                for k in body["kpis"]
            ]
            changed = [
                c["staff_kpi_id"]
                for body in status_changes_for(announced, event["event_id"])
                for c in body["changes"]
            ]
            assert len(assigned) == len(set(assigned)) and len(changed) == len(set(changed))


# ---------------------------------------------------------------- shuffled order


async def test_events_in_any_order_converge_to_the_state_of_in_order_delivery(
    contract_system, people, catalogue, templates
):
    first_template = await templates.create(
        [
            {
                "kpi_module_id": catalogue.optional("support_worker")[0],
                "weight": 1,
                "is_required": True,
            }
        ]
    )
    renewal_template = await templates.create(
        [{"kpi_module_id": catalogue.optional("support_worker")[1], "weight": 1}]
    )
    contracts = [uuid.uuid4() for _ in range(3)]

    def working_life(person: uuid.UUID) -> list[dict[str, Any]]:
        return [
            contract_system.a_contract_created(
                person, template_id=first_template, contract_id=contracts[0], at=T0
            ),
            contract_system.a_contract_created(
                person, template_id=renewal_template, contract_id=contracts[1], at=T0 + 100 * DAY
            ),
            contract_system.a_role_change(person, at=T0 + 200 * DAY),
            contract_system.an_exit(person, at=T0 + 300 * DAY),
            contract_system.a_contract_created(
                person,
                role_group="registered_nurse",
                contract_id=contracts[2],
                at=T0 + 400 * DAY,
            ),
        ]

    in_order = uuid.uuid4()
    for event in working_life(in_order):
        await contract_system.send(event)
        await people.processed(event["event_id"])
    expected = the_record(await people.kpis(in_order, every=True))

    shuffled = {uuid.uuid4(): random.Random(seed) for seed in range(4)}
    lives = {person: working_life(person) for person in shuffled}
    lives[next(iter(lives))].reverse()
    for person, rng in list(shuffled.items())[1:]:
        rng.shuffle(lives[person])
    for life in lives.values():
        for event in life:
            await contract_system.send(event)
    await people.processed(*(e["event_id"] for life in lives.values() for e in life))

    assert {m for m, state in expected.items() if state[0] == "active"} == catalogue.defaults(
        "registered_nurse"
    )
    for person in lives:
        assert the_record(await people.kpis(person, every=True)) == expected


# ---------------------------------------------------------------- dead letters


async def test_a_malformed_body_is_dead_lettered_with_the_reason_and_the_next_event_applies(
    contract_system, people, dead_letters
):
    bad = await contract_system.publish("contract.created", b'{"event_type": "ContractCreated",')
    staff = uuid.uuid4()
    good = contract_system.a_contract_created(staff)

    await contract_system.send(good)
    await people.processed(good["event_id"])

    assert await people.kpis(staff)
    letter = await arrival(dead_letters, bad)
    assert letter.headers["x-dlq-reason"].startswith("invalid event:")
    assert letter.headers["x-original-routing-key"] == "contract.created"


async def test_an_unknown_role_group_is_dead_lettered_and_the_next_event_applies(
    contract_system, people, dead_letters
):
    staff = uuid.uuid4()
    unknown = contract_system.a_contract_created(staff, role_group="astronaut")
    good = contract_system.a_contract_created(uuid.uuid4())

    await contract_system.send(unknown)
    await contract_system.send(good)
    await people.processed(good["event_id"])

    letter = await arrival(dead_letters, unknown["event_id"])
    assert "role_group" in letter.headers["x-dlq-reason"]
    assert json.loads(letter.body) == unknown
    assert await people.kpis(staff, every=True) == []


async def test_an_event_naming_an_unknown_module_is_dead_lettered_once_the_replica_had_time(
    contract_system, people, dead_letters
):
    staff = uuid.uuid4()
    event = contract_system.a_contract_created(staff, added=[str(uuid.uuid4())])

    await contract_system.send(event)

    letter = await arrival(dead_letters, event["event_id"], timeout=30)
    assert letter.headers["x-dlq-reason"].startswith("rejected: unknown KPI module")
    assert await people.kpis(staff, every=True) == []


@pytest.mark.parametrize(
    ("routing_key", "event_type"),
    [
        ("contract.created", "StaffExited"),
        ("contract.created", "RoleChanged"),
        ("staff.exited", "ContractCreated"),
        ("staff.role_changed", "StaffExited"),
    ],
)
async def test_a_body_of_another_type_than_its_routing_key_is_dead_lettered_not_applied(
    routing_key, event_type, contract_system, people, dead_letters
):
    staff = uuid.uuid4()
    hired = contract_system.a_contract_created(staff)
    await contract_system.send(hired)
    await people.processed(hired["event_id"])
    before = the_record(await people.kpis(staff, every=True))
    bodies = {
        "StaffExited": {"staff_id": str(staff), "reason": "misrouted"},
        "RoleChanged": {
            "staff_id": str(staff),
            "from_role_group": "support_worker",
            "to_role_group": "finance",
        },
        "ContractCreated": {
            "staff_id": str(staff),
            "contract_id": str(uuid.uuid4()),
            "template_id": str(uuid.uuid4()),
            "role_group": "finance",
        },
    }
    misrouted = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": datetime.now(UTC).isoformat(),
        **bodies[event_type],
    }
    good = contract_system.a_contract_created(uuid.uuid4())

    await contract_system.publish(routing_key, misrouted)
    await contract_system.send(good)
    await people.processed(good["event_id"])

    letter = await arrival(dead_letters, misrouted["event_id"])
    assert letter.headers["x-dlq-reason"].startswith("invalid event:")
    assert routing_key in letter.headers["x-dlq-reason"]
    assert letter.headers["x-original-routing-key"] == routing_key
    assert the_record(await people.kpis(staff, every=True)) == before


async def arrival(collected, message_id: str, timeout: float = 20):
    """The message with that id, once the test queue has received it."""

    async def received():
        return collected.find(message_id)

    return await eventually(received, timeout=timeout)
