"""What the write path makes of a step's changes: the rows' scoring parameters and the announcements."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from assignment import domain, records
from assignment.records import ModuleFacts, StaffKpiRecord
from kpi_contracts.enums import Frequency, KpiSource, KpiStatus, RoleGroup, ScoreType
from kpi_contracts.events import (
    ContractCreated,
    KpisAssigned,
    KpisRestated,
    KpiStatusChanged,
    StaffExited,
)
from kpi_contracts.schedule import next_due

T0 = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
STAFF = uuid.uuid4()


def a_module(frequency: Frequency = Frequency.MONTHLY, target: float = 80.0) -> ModuleFacts:
    return ModuleFacts(
        catalog=domain.CatalogModule(
            id=uuid.uuid4(),
            role_group=RoleGroup.SUPPORT_WORKER,
            is_universal=False,
            is_default_for_role=True,
        ),
        name="Shift Note Timeliness",
        score_type=ScoreType.PERCENTAGE,
        target_score=target,
        minimum_score=60.0,
        effort_weight=0.2,
        evaluation_frequency=frequency,
    )


MODULE = a_module()
MODULES = {MODULE.catalog.id: MODULE}


def a_holding(**changes: Any) -> domain.Holding:
    held = domain.Holding(
        kpi_module_id=MODULE.catalog.id,
        status=KpiStatus.ACTIVE,
        source=KpiSource.TEMPLATE,
        is_required=False,
        custom_target=None,
        contract_id=uuid.uuid4(),
        assigned_at=T0,
        changed_at=T0,
    )
    return replace(held, **changes)


def a_record(holding: domain.Holding) -> StaffKpiRecord:
    return StaffKpiRecord(
        id=uuid.uuid4(),
        kpi_module_id=holding.kpi_module_id,
        contract_id=holding.contract_id,
        status=holding.status,
        source=holding.source,
        is_required=holding.is_required,
        custom_target=holding.custom_target,
        target_score=MODULE.target_score,
        minimum_score=MODULE.minimum_score,
        effort_weight=MODULE.effort_weight,
        assigned_at=holding.assigned_at,
        next_evaluation_due=next_due(holding.assigned_at, MODULE.evaluation_frequency),
        deactivated_at=None if holding.is_active else holding.changed_at,
        deactivation_reason=holding.reason,
    )


def a_contract_step(at: datetime = T0, *brings: domain.CatalogModule) -> domain.Step:
    """A contract whose template brings these modules (none by default)."""
    event = ContractCreated(
        staff_id=STAFF,
        contract_id=uuid.uuid4(),
        template_id=uuid.uuid4(),
        role_group=RoleGroup.SUPPORT_WORKER,
        occurred_at=at,
    )
    template = [domain.TemplateChoice(m.id) for m in brings]
    return domain.contract_created(event, template, brings)


def an_exit_step(at: datetime) -> domain.Step:
    return domain.staff_exited(StaffExited(staff_id=STAFF, occurred_at=at, reason="resigned"))


def test_a_new_kpi_takes_its_custom_target_and_the_modules_minimum_and_effort_weight():
    changes = domain.Changes(inserted=(a_holding(custom_target=91.0),))

    [row], _ = records._records_after(changes, {}, MODULES)

    assert (row.target_score, row.minimum_score, row.effort_weight) == (91.0, 60.0, 0.2)


def test_without_a_custom_target_a_new_kpi_takes_the_modules_target():
    [row], _ = records._records_after(domain.Changes(inserted=(a_holding(),)), {}, MODULES)

    assert row.target_score == MODULE.target_score


def test_a_new_kpis_first_evaluation_is_due_one_calendar_month_after_assignment():
    [row], _ = records._records_after(domain.Changes(inserted=(a_holding(),)), {}, MODULES)

    assert row.next_evaluation_due == datetime(2026, 2, 28, 9, 0, tzinfo=UTC)


def test_a_kpi_born_inactive_records_when_and_why():
    late = a_holding(status=KpiStatus.INACTIVE, changed_at=T0 + timedelta(days=3), reason="gone")

    [row], _ = records._records_after(domain.Changes(inserted=(late,)), {}, MODULES)

    assert (row.status, row.deactivated_at, row.deactivation_reason) == (
        KpiStatus.INACTIVE,
        T0 + timedelta(days=3),
        "gone",
    )


def test_a_deactivation_keeps_the_row_and_its_scoring_parameters():
    held = a_holding()
    record = a_record(held)
    off = a_holding(status=KpiStatus.INACTIVE, changed_at=T0 + timedelta(days=9), reason="exit")

    _, [row] = records._records_after(
        domain.Changes(deactivated=(off,)), {held.kpi_module_id: record}, MODULES
    )

    assert (row.id, row.revision) == (record.id, record.revision + 1)
    assert (row.status, row.deactivated_at, row.deactivation_reason) == (
        KpiStatus.INACTIVE,
        T0 + timedelta(days=9),
        "exit",
    )
    assert (row.target_score, row.next_evaluation_due) == (
        record.target_score,
        record.next_evaluation_due,
    )


def test_a_reactivation_is_due_one_period_after_it_and_takes_the_new_terms():
    held = a_holding(status=KpiStatus.INACTIVE, changed_at=T0, reason="exit")
    again = T0 + timedelta(days=400)
    back = a_holding(custom_target=70.0, changed_at=again, source=KpiSource.MANUAL)

    _, [row] = records._records_after(
        domain.Changes(reactivated=(back,)), {held.kpi_module_id: a_record(held)}, MODULES
    )

    assert (row.status, row.deactivated_at, row.deactivation_reason) == (
        KpiStatus.ACTIVE,
        None,
        None,
    )
    assert (row.source, row.target_score, row.assigned_at) == (KpiSource.MANUAL, 70.0, T0)
    assert row.next_evaluation_due == next_due(again, MODULE.evaluation_frequency)


def test_a_custom_target_under_the_modules_minimum_gives_way_to_the_modules_target():
    raised = replace(MODULE, minimum_score=75.0, target_score=85.0)
    assert records.target_for(70.0, MODULE) == 70.0
    assert records.target_for(70.0, raised) == 85.0
    assert records.target_for(None, raised) == 85.0
    assert records.target_for(120.0, raised) == 85.0  # off the scale


def test_a_reactivation_does_not_keep_a_target_the_module_left_under_its_minimum():
    held = a_holding(status=KpiStatus.INACTIVE, custom_target=70.0, reason="exit")
    raised = replace(MODULE, minimum_score=75.0, target_score=85.0)
    back = a_holding(custom_target=70.0, changed_at=T0 + timedelta(days=30))

    _, [row] = records._records_after(
        domain.Changes(reactivated=(back,)),
        {held.kpi_module_id: a_record(held)},
        {MODULE.catalog.id: raised},
    )

    assert (row.target_score, row.minimum_score, row.custom_target) == (85.0, 75.0, 70.0)


def test_a_record_on_its_modules_new_terms_keeps_the_rest():
    record = a_record(a_holding(custom_target=90.0))
    changed = replace(MODULE, minimum_score=65.0, effort_weight=0.3, terms_version=7)

    moved = records.on_module_terms(record, changed)

    assert (moved.target_score, moved.minimum_score, moved.effort_weight) == (90.0, 65.0, 0.3)
    assert moved.module_terms_version == 7
    assert (
        replace(
            moved, target_score=80.0, minimum_score=60.0, effort_weight=0.2, module_terms_version=0
        )
        == record
    )


def test_a_step_is_announced_once_with_every_kpi_it_assigned():
    step = a_contract_step()
    other = a_module(Frequency.WEEKLY)
    modules = MODULES | {other.catalog.id: other}
    changes = domain.Changes(inserted=(a_holding(), a_holding(kpi_module_id=other.catalog.id)))
    inserted, _ = records._records_after(changes, {}, modules)
    written = {r.kpi_module_id: r for r in inserted}

    out = records.announcements(step, step.step_id, changes, written, modules)

    assert [type(e) for e in out] == [KpisAssigned]
    [assigned] = out
    assert isinstance(assigned, KpisAssigned)
    assert (assigned.staff_id, assigned.cause, assigned.cause_event_id) == (
        STAFF,
        "contract_created",
        step.step_id,
    )
    assert {p.staff_kpi_id for p in assigned.kpis} == {r.id for r in inserted}
    assert {p.evaluation_frequency for p in assigned.kpis} == {Frequency.MONTHLY, Frequency.WEEKLY}


def test_an_exit_is_announced_once_with_every_deactivation_and_its_reason():
    step = an_exit_step(T0 + timedelta(days=30))
    held = a_holding()
    off = domain.apply({held.kpi_module_id: held}, step)[held.kpi_module_id]
    changes = domain.Changes(deactivated=(off,))
    _, rewritten = records._records_after(changes, {held.kpi_module_id: a_record(held)}, MODULES)

    out = records.announcements(
        step, step.step_id, changes, {r.kpi_module_id: r for r in rewritten}, MODULES
    )

    assert [type(e) for e in out] == [KpiStatusChanged]
    [changed] = out
    assert isinstance(changed, KpiStatusChanged)
    [change] = changed.changes
    assert (change.status, change.reason, change.changed_at) == (
        KpiStatus.INACTIVE,
        "Staff exited: resigned",
        T0 + timedelta(days=30),
    )
    assert change.parameters.module_name == MODULE.name


def test_a_kpi_born_inactive_is_announced_as_assigned_and_as_deactivated():
    step = a_contract_step()
    late = a_holding(status=KpiStatus.INACTIVE, changed_at=T0 + timedelta(days=3), reason="gone")
    changes = domain.Changes(inserted=(late,))
    inserted, _ = records._records_after(changes, {}, MODULES)

    out = records.announcements(
        step, step.step_id, changes, {r.kpi_module_id: r for r in inserted}, MODULES
    )

    assert [type(e) for e in out] == [KpisAssigned, KpiStatusChanged]


def test_nothing_to_announce_when_nothing_changed():
    step = a_contract_step()

    assert records.announcements(step, step.step_id, domain.Changes(), {}, MODULES) == []


def test_a_record_corrected_to_other_terms_is_announced_as_restated_at_a_newer_revision():
    # An earlier contract arrived late: the KPI was held from T0, under its custom target.
    step = a_contract_step()
    held = a_holding(assigned_at=T0 + timedelta(days=2))
    corrected = a_holding(assigned_at=T0, custom_target=75.0, is_required=True)
    record = a_record(held)
    changes = domain.reconcile({held.kpi_module_id: held}, {held.kpi_module_id: corrected})
    _, rewritten = records._records_after(changes, {held.kpi_module_id: record}, MODULES)

    out = records.announcements(
        step, step.step_id, changes, {r.kpi_module_id: r for r in rewritten}, MODULES
    )

    assert [(r.assigned_at, r.target_score, r.revision) for r in rewritten] == [(T0, 75.0, 2)]
    assert [type(e) for e in out] == [KpisRestated]
    [restated] = out
    assert isinstance(restated, KpisRestated)
    [kpi] = restated.kpis
    assert (kpi.staff_kpi_id, kpi.status) == (record.id, KpiStatus.ACTIVE)
    p = kpi.parameters
    assert (p.target_score, p.is_required, p.assigned_at, p.revision) == (75.0, True, T0, 2)


def test_a_record_corrected_only_in_when_it_was_deactivated_is_not_announced():
    # Two exits arrived out of order: the KPI is inactive either way, since the earlier one.
    step = an_exit_step(T0 + timedelta(days=3))
    held = a_holding(status=KpiStatus.INACTIVE, changed_at=T0 + timedelta(days=5), reason="a")
    corrected = replace(held, changed_at=T0 + timedelta(days=3), reason="b")
    changes = domain.reconcile({held.kpi_module_id: held}, {held.kpi_module_id: corrected})
    _, rewritten = records._records_after(changes, {held.kpi_module_id: a_record(held)}, MODULES)

    out = records.announcements(
        step, step.step_id, changes, {r.kpi_module_id: r for r in rewritten}, MODULES
    )

    assert (changes.restated, changes.restated_terms) == ((corrected,), ())
    assert [r.deactivated_at for r in rewritten] == [T0 + timedelta(days=3)]
    assert out == []


def test_after_a_replay_each_untold_change_is_announced_under_the_step_that_made_it():
    # The rehire arrived before the exit it followed: the exit completes the story.
    hire = a_contract_step(T0, MODULE.catalog)
    rehire = a_contract_step(T0 + timedelta(days=40), MODULE.catalog)
    leaving = an_exit_step(T0 + timedelta(days=20))
    held, _ = domain.replay_story([hire, rehire])
    told = domain.told([hire, rehire])
    desired, whole = domain.replay_story([hire, rehire, leaving])
    changes = domain.reconcile(held, desired)
    record = a_record(held[MODULE.catalog.id])

    written = records._written(
        leaving,
        leaving.step_id,
        changes,
        {MODULE.catalog.id: record},
        MODULES,
        domain.untold(told, whole),
    )

    said = [e for e in written.announcements if isinstance(e, KpiStatusChanged)]
    assert len(said) == len(written.announcements) == 2  # and no correction
    assert [(e.cause, e.cause_event_id) for e in said] == [
        ("staff_exited", leaving.step_id),
        ("contract_created", rehire.step_id),
    ]
    told_changes = [c for e in said for c in e.changes]
    assert [(c.status, c.changed_at) for c in told_changes] == [
        (KpiStatus.INACTIVE, T0 + timedelta(days=20)),
        (KpiStatus.ACTIVE, T0 + timedelta(days=40)),
    ]
    # Told with the terms the row now has (the rehire's contract), at its new revision.
    [row] = written.rewritten
    assert {c.parameters.revision for c in told_changes} == {row.revision} == {2}
    assert {c.parameters.contract_id for c in told_changes} == {row.contract_id}
