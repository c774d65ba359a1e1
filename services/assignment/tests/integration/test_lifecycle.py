"""Each lifecycle rule of interfaces §5: raw JSON published to hr.lifecycle, checked over HTTP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kpi_contracts.schedule import next_due

pytestmark = pytest.mark.integration

T0 = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


async def hire(contract_system, people, staff, **fields) -> Any:
    event = contract_system.a_contract_created(staff, **fields)
    await contract_system.send(event)
    await people.processed(event["event_id"])
    return event


async def test_a_contract_assigns_the_role_groups_defaults_with_the_universal_five(
    contract_system, people, catalogue
):
    staff = uuid.uuid4()

    await hire(contract_system, people, staff, role_group="registered_nurse")

    kpis = await people.kpis(staff)
    modules = {k["kpi_module_id"] for k in kpis}
    assert modules == catalogue.defaults("registered_nurse")
    assert catalogue.universal() <= modules
    assert {(k["status"], k["source"]) for k in kpis} == {("active", "template")}


async def test_a_contract_assigns_the_templates_kpis_with_their_custom_target(
    contract_system, people, catalogue, templates
):
    optional = catalogue.optional("support_worker", "percentage")[0]
    template = await templates.create(
        [{"kpi_module_id": optional, "weight": 2, "is_required": True, "custom_target": 77.5}]
    )
    staff = uuid.uuid4()

    await hire(contract_system, people, staff, template_id=template)

    kpi = people.by_module(await people.kpis(staff))[optional]
    assert (kpi["source"], kpi["is_required"], kpi["target_score"]) == ("template", True, 77.5)


async def test_each_kpi_carries_its_module_and_scoring_parameters(
    contract_system, people, catalogue
):
    staff = uuid.uuid4()
    event = await hire(contract_system, people, staff, role_group="team_leader", at=T0)

    kpi = people.by_module(await people.kpis(staff))[catalogue.id("attendance-reliability")]

    module = catalogue.modules["attendance-reliability"]
    assert kpi["staff_id"] == str(staff)
    assert kpi["contract_id"] == event["contract_id"]
    assert {
        key: kpi["module"][key]
        for key in (
            "id",
            "name",
            "slug",
            "category",
            "role_group",
            "evaluation_frequency",
            "score_type",
        )
    } == {
        key: module[key]
        for key in (
            "id",
            "name",
            "slug",
            "category",
            "role_group",
            "evaluation_frequency",
            "score_type",
        )
    }
    assert (kpi["target_score"], kpi["minimum_score"], kpi["effort_weight"]) == (
        module["target_score"],
        module["minimum_score"],
        module["effort_weight"],
    )
    assert kpi["current_score"] is None and kpi["growth_status"] is None


async def test_the_first_evaluation_is_due_one_period_after_assignment(
    contract_system, people, catalogue
):
    staff = uuid.uuid4()
    await hire(contract_system, people, staff, at=T0)

    kpis = await people.kpis(staff)
    assert kpis
    for kpi in kpis:
        frequency = kpi["module"]["evaluation_frequency"]
        assert datetime.fromisoformat(kpi["assigned_at"]) == T0
        assert datetime.fromisoformat(kpi["next_evaluation_due"]) == next_due(T0, frequency)


async def test_a_contract_whose_time_has_no_offset_is_applied_at_that_time_in_utc(
    contract_system, people, catalogue
):
    # The contract's times are UTC: a publisher that leaves the offset out is read so, not
    # dead-lettered (as `?before=` on the HTTP side is read).
    staff = uuid.uuid4()
    event = contract_system.a_contract_created(staff, role_group="rostering")
    event["occurred_at"] = "2026-01-13T09:00:00"

    await contract_system.send(event)
    await people.processed(event["event_id"])

    kpis = await people.kpis(staff)
    assert {k["kpi_module_id"] for k in kpis} == catalogue.defaults("rostering")
    assert {datetime.fromisoformat(k["assigned_at"]) for k in kpis} == {T0}


async def test_kpi_selection_excludes_optional_kpis_keeps_required_ones_and_adds_manual_ones(
    contract_system, people, catalogue, templates
):
    optional, required = catalogue.optional("support_worker")[:2]
    extra = catalogue.optional("team_leader")[0]
    template = await templates.create(
        [
            {"kpi_module_id": optional, "weight": 1, "is_required": False},
            {"kpi_module_id": required, "weight": 1, "is_required": True},
        ]
    )
    a_default = sorted(catalogue.defaults("support_worker") - catalogue.universal())[0]
    universal = sorted(catalogue.universal())[0]
    staff = uuid.uuid4()

    await hire(
        contract_system,
        people,
        staff,
        template_id=template,
        excluded=[optional, required, a_default, universal],
        added=[extra],
    )

    kpis = people.by_module(await people.kpis(staff))
    assert optional not in kpis and a_default not in kpis
    assert kpis[required]["is_required"] and kpis[universal]["is_required"]
    assert kpis[extra]["source"] == "manual"


async def test_a_renewal_keeps_existing_kpis_and_adds_only_the_new_ones(
    contract_system, people, catalogue, templates
):
    staff = uuid.uuid4()
    await hire(contract_system, people, staff, at=T0)
    before = people.by_module(await people.kpis(staff))
    extra = catalogue.optional("support_worker")[0]
    template = await templates.create([{"kpi_module_id": extra, "weight": 1}])

    renewal = await hire(
        contract_system, people, staff, template_id=template, at=T0 + timedelta(days=365)
    )

    after = people.by_module(await people.kpis(staff, every=True))
    assert {m: after[m] for m in before} == before
    assert after.keys() - before.keys() == {extra}
    assert after[extra]["contract_id"] == renewal["contract_id"]


async def test_a_role_change_swaps_the_role_specific_kpis_and_keeps_the_universal_five(
    contract_system, people, catalogue
):
    staff = uuid.uuid4()
    await hire(contract_system, people, staff, at=T0)
    before = people.by_module(await people.kpis(staff))
    change = contract_system.a_role_change(staff, at=T0 + timedelta(days=30))

    await contract_system.send(change)
    await people.processed(change["event_id"])

    active = people.by_module(await people.kpis(staff))
    assert active.keys() == catalogue.defaults("team_leader")
    for module in catalogue.universal():
        assert active[module] == before[module]  # same record, history intact
    retired = catalogue.defaults("support_worker") - catalogue.universal()
    everything = people.by_module(await people.kpis(staff, every=True))
    for module in retired:
        assert everything[module]["status"] == "inactive"
        assert everything[module]["id"] == before[module]["id"]
        assert everything[module]["deactivation_reason"] == (
            "Role changed from support worker to team leader"
        )
        assert datetime.fromisoformat(everything[module]["deactivated_at"]) == (
            T0 + timedelta(days=30)
        )


async def test_a_role_change_with_a_template_assigns_its_kpis(
    contract_system, people, catalogue, templates
):
    staff = uuid.uuid4()
    await hire(contract_system, people, staff, at=T0)
    extra = catalogue.optional("team_leader")[0]
    target = 4.5 if catalogue.modules_by_id[extra]["score_type"] == "rating" else 66
    template = await templates.create(
        [{"kpi_module_id": extra, "weight": 1, "custom_target": target}]
    )
    change = contract_system.a_role_change(staff, template_id=template, at=T0 + timedelta(days=1))

    await contract_system.send(change)
    await people.processed(change["event_id"])

    kpi = people.by_module(await people.kpis(staff))[extra]
    assert (kpi["status"], kpi["target_score"]) == ("active", target)


async def test_an_exit_leaves_every_kpi_inactive_and_still_listed(contract_system, people):
    staff = uuid.uuid4()
    await hire(contract_system, people, staff, at=T0)
    before = await people.kpis(staff)
    leaving = contract_system.an_exit(staff, at=T0 + timedelta(days=90), reason="resigned")

    await contract_system.send(leaving)
    await people.processed(leaving["event_id"])

    assert await people.kpis(staff) == []
    after = people.by_module(await people.kpis(staff, every=True))
    assert after.keys() == {k["kpi_module_id"] for k in before}
    for kpi in after.values():
        assert kpi["status"] == "inactive"
        assert kpi["deactivation_reason"] == "Staff exited: resigned"
        assert datetime.fromisoformat(kpi["deactivated_at"]) == T0 + timedelta(days=90)


async def test_a_rehire_reactivates_the_same_kpis_with_their_history(contract_system, people):
    staff = uuid.uuid4()
    await hire(contract_system, people, staff, at=T0)
    before = people.by_module(await people.kpis(staff))
    leaving = contract_system.an_exit(staff, at=T0 + timedelta(days=90))
    await contract_system.send(leaving)
    await people.processed(leaving["event_id"])

    rehire = await hire(contract_system, people, staff, at=T0 + timedelta(days=400))

    after = people.by_module(await people.kpis(staff))
    assert {m: k["id"] for m, k in after.items()} == {m: k["id"] for m, k in before.items()}
    assert {k["contract_id"] for k in after.values()} == {rehire["contract_id"]}
    assert {k["deactivated_at"] for k in after.values()} == {None}
