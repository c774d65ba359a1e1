"""The lifecycle rules of kpi-system.txt and interfaces §5, as pure functions."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from assignment import domain
from assignment.domain import CatalogModule, Holding, TemplateChoice
from kpi_contracts.enums import KpiSource, KpiStatus, RoleGroup
from kpi_contracts.events import ContractCreated, KpiSelection, RoleChanged, StaffExited

T0 = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
STAFF = uuid.UUID("00000000-0000-0000-0000-0000000000aa")


def a_module(
    role_group: RoleGroup | None = RoleGroup.SUPPORT_WORKER,
    *,
    default: bool = True,
    archived: bool = False,
    order: int = 100,
) -> CatalogModule:
    return CatalogModule(
        id=uuid.uuid4(),
        role_group=role_group,
        is_universal=role_group is None,
        is_default_for_role=default,
        display_order=order,
        is_archived=archived,
    )


UNIVERSAL = [a_module(None, order=i) for i in range(5)]
SUPPORT = [a_module(RoleGroup.SUPPORT_WORKER, order=10 + i) for i in range(3)]
SUPPORT_OPTIONAL = a_module(RoleGroup.SUPPORT_WORKER, default=False, order=20)
LEADER = [a_module(RoleGroup.TEAM_LEADER, order=30 + i) for i in range(3)]
NURSE = [a_module(RoleGroup.REGISTERED_NURSE, order=40 + i) for i in range(2)]
CATALOG = [*UNIVERSAL, *SUPPORT, SUPPORT_OPTIONAL, *LEADER, *NURSE]


def ids(modules: list[CatalogModule]) -> set[uuid.UUID]:
    return {m.id for m in modules}


def a_contract_created(
    role_group: RoleGroup = RoleGroup.SUPPORT_WORKER,
    *,
    at: datetime = T0,
    excluded: list[uuid.UUID] | None = None,
    added: list[uuid.UUID] | None = None,
) -> ContractCreated:
    selection = None
    if excluded or added:
        selection = KpiSelection(excluded_module_ids=excluded or [], added_module_ids=added or [])
    return ContractCreated(
        staff_id=STAFF,
        contract_id=uuid.uuid4(),
        template_id=uuid.uuid4(),
        role_group=role_group,
        kpi_selection=selection,
        occurred_at=at,
    )


def a_role_change(
    from_group: RoleGroup = RoleGroup.SUPPORT_WORKER,
    to_group: RoleGroup = RoleGroup.TEAM_LEADER,
    *,
    at: datetime = T0 + timedelta(days=30),
) -> RoleChanged:
    return RoleChanged(
        staff_id=STAFF, from_role_group=from_group, to_role_group=to_group, occurred_at=at
    )


def an_exit(at: datetime = T0 + timedelta(days=60), reason: str | None = None) -> StaffExited:
    return StaffExited(staff_id=STAFF, occurred_at=at, reason=reason)


def contract_step(event: ContractCreated, template: list[TemplateChoice] | None = None):
    return domain.contract_created(event, template or [], CATALOG)


def role_change_step(event: RoleChanged, template: list[TemplateChoice] | None = None):
    return domain.role_changed(event, template or [], CATALOG)


def active(holdings: domain.Holdings) -> set[uuid.UUID]:
    return {m for m, h in holdings.items() if h.is_active}


def inactive(holdings: domain.Holdings) -> set[uuid.UUID]:
    return {m for m, h in holdings.items() if not h.is_active}


def hired() -> dict[uuid.UUID, Holding]:
    return domain.apply({}, contract_step(a_contract_created()))


# ---------------------------------------------------------------- contract created


def test_contract_assigns_the_role_groups_defaults_including_the_five_universal_kpis():
    holdings = hired()

    assert active(holdings) == ids(UNIVERSAL) | ids(SUPPORT)


def test_contract_does_not_assign_optional_modules_or_other_role_groups_defaults():
    holdings = hired()

    assert SUPPORT_OPTIONAL.id not in holdings
    assert not ids(LEADER) & holdings.keys()


def test_contract_assigns_template_kpis_with_their_custom_target():
    template = [TemplateChoice(SUPPORT_OPTIONAL.id, is_required=True, custom_target=85.0)]

    holdings = domain.apply({}, contract_step(a_contract_created(), template))

    kpi = holdings[SUPPORT_OPTIONAL.id]
    assert (kpi.source, kpi.is_required, kpi.custom_target) == (KpiSource.TEMPLATE, True, 85.0)


def test_template_and_default_kpis_are_assigned_with_source_template():
    holdings = hired()

    assert {h.source for h in holdings.values()} == {KpiSource.TEMPLATE}


def test_a_module_both_in_the_template_and_the_defaults_is_assigned_once_with_the_template_terms():
    template = [TemplateChoice(SUPPORT[0].id, is_required=True, custom_target=70.0)]
    defaults = domain.role_defaults(CATALOG, RoleGroup.SUPPORT_WORKER)

    wanted = domain.kpis_for_contract(template, defaults)

    assert [w.kpi_module_id for w in wanted].count(SUPPORT[0].id) == 1
    assert wanted[0] == domain.Wanted(SUPPORT[0].id, KpiSource.TEMPLATE, True, 70.0)


def test_an_optional_template_kpi_can_be_excluded():
    template = [TemplateChoice(SUPPORT_OPTIONAL.id, is_required=False)]
    event = a_contract_created(excluded=[SUPPORT_OPTIONAL.id])

    holdings = domain.apply({}, contract_step(event, template))

    assert SUPPORT_OPTIONAL.id not in holdings


def test_a_required_template_kpi_cannot_be_excluded():
    template = [TemplateChoice(SUPPORT_OPTIONAL.id, is_required=True)]
    event = a_contract_created(excluded=[SUPPORT_OPTIONAL.id])

    holdings = domain.apply({}, contract_step(event, template))

    assert holdings[SUPPORT_OPTIONAL.id].is_active


def test_an_optional_role_default_can_be_excluded():
    holdings = domain.apply({}, contract_step(a_contract_created(excluded=[SUPPORT[1].id])))

    assert SUPPORT[1].id not in holdings


def test_the_universal_kpis_cannot_be_excluded_and_are_required():
    event = a_contract_created(excluded=[m.id for m in UNIVERSAL])

    holdings = domain.apply({}, contract_step(event))

    assert ids(UNIVERSAL) <= active(holdings)
    assert all(holdings[m.id].is_required for m in UNIVERSAL)


def test_a_universal_kpi_in_a_template_stays_required_with_its_custom_target_when_excluded():
    universal = UNIVERSAL[0]
    template = [TemplateChoice(universal.id, is_required=False, custom_target=85.0)]
    event = a_contract_created(excluded=[universal.id])

    holdings = domain.apply({}, contract_step(event, template))

    kpi = holdings[universal.id]
    assert (kpi.status, kpi.is_required, kpi.custom_target) == (KpiStatus.ACTIVE, True, 85.0)


def test_added_modules_are_assigned_as_manual():
    event = a_contract_created(added=[LEADER[0].id])

    holdings = domain.apply({}, contract_step(event))

    assert holdings[LEADER[0].id].source == KpiSource.MANUAL
    assert holdings[LEADER[0].id].is_active


def test_archived_defaults_are_not_assigned():
    archived = a_module(RoleGroup.SUPPORT_WORKER, archived=True)

    assert archived not in domain.role_defaults([*CATALOG, archived], RoleGroup.SUPPORT_WORKER)


def test_role_defaults_come_in_display_order():
    defaults = domain.role_defaults(list(reversed(CATALOG)), RoleGroup.SUPPORT_WORKER)

    assert [m.display_order for m in defaults] == sorted(m.display_order for m in defaults)


def test_assignments_remember_their_contract_and_when_they_were_assigned():
    event = a_contract_created()

    holdings = domain.apply({}, contract_step(event))

    assert {(h.contract_id, h.assigned_at) for h in holdings.values()} == {
        (event.contract_id, event.occurred_at)
    }


# ---------------------------------------------------------------- renewal


def test_a_module_already_active_is_not_assigned_twice():
    first = hired()

    again = domain.apply(first, contract_step(a_contract_created(at=T0 + timedelta(days=1))))

    assert again == first


def test_renewal_keeps_existing_kpis_and_adds_only_the_new_ones():
    first = hired()
    template = [TemplateChoice(SUPPORT_OPTIONAL.id, custom_target=90.0)]
    renewal = a_contract_created(at=T0 + timedelta(days=365))

    renewed = domain.apply(first, contract_step(renewal, template))

    assert {m: renewed[m] for m in first} == first
    assert renewed.keys() - first.keys() == {SUPPORT_OPTIONAL.id}
    assert renewed[SUPPORT_OPTIONAL.id].contract_id == renewal.contract_id


# ---------------------------------------------------------------- role change


def test_role_change_assigns_the_new_role_groups_defaults():
    holdings = domain.apply(hired(), role_change_step(a_role_change()))

    assert ids(LEADER) <= active(holdings)


def test_role_change_deactivates_the_kpis_that_belonged_only_to_the_old_role_group():
    holdings = domain.apply(hired(), role_change_step(a_role_change()))

    assert inactive(holdings) == ids(SUPPORT)


def test_role_change_keeps_the_universal_kpis_active_with_their_history():
    before = hired()

    after = domain.apply(before, role_change_step(a_role_change()))

    assert all(after[m.id] == before[m.id] for m in UNIVERSAL)


def test_role_change_deletes_nothing():
    before = hired()

    after = domain.apply(before, role_change_step(a_role_change()))

    assert before.keys() <= after.keys()


def test_role_change_with_a_template_assigns_the_templates_kpis():
    template = [TemplateChoice(NURSE[0].id, custom_target=60.0)]

    holdings = domain.apply(hired(), role_change_step(a_role_change(), template))

    assert holdings[NURSE[0].id].is_active
    assert holdings[NURSE[0].id].custom_target == 60.0


def test_role_change_keeps_an_old_role_kpi_the_new_template_asks_for():
    template = [TemplateChoice(SUPPORT[0].id, is_required=True)]

    holdings = domain.apply(hired(), role_change_step(a_role_change(), template))

    assert holdings[SUPPORT[0].id].is_active


def test_role_change_deactivates_a_manually_added_kpi_of_the_old_role_group():
    start = domain.apply({}, contract_step(a_contract_created(added=[SUPPORT_OPTIONAL.id])))

    holdings = domain.apply(start, role_change_step(a_role_change()))

    assert not holdings[SUPPORT_OPTIONAL.id].is_active


def test_role_change_keeps_a_manually_added_kpi_of_another_role_group():
    start = domain.apply({}, contract_step(a_contract_created(added=[NURSE[0].id])))

    holdings = domain.apply(start, role_change_step(a_role_change()))

    assert holdings[NURSE[0].id].is_active


def test_a_role_change_within_the_same_role_group_deactivates_nothing():
    start = domain.apply({}, contract_step(a_contract_created(added=[SUPPORT_OPTIONAL.id])))
    same = a_role_change(RoleGroup.SUPPORT_WORKER, RoleGroup.SUPPORT_WORKER)

    holdings = domain.apply(start, role_change_step(same))

    assert holdings == start


def test_role_change_records_why_it_deactivated():
    change = a_role_change()

    holdings = domain.apply(hired(), role_change_step(change))

    kpi = holdings[SUPPORT[0].id]
    assert kpi.changed_at == change.occurred_at
    assert kpi.reason == "Role changed from support worker to team leader"


def test_a_role_change_back_reactivates_the_old_kpis_with_their_history():
    moved = domain.apply(hired(), role_change_step(a_role_change()))
    back = a_role_change(
        RoleGroup.TEAM_LEADER, RoleGroup.SUPPORT_WORKER, at=T0 + timedelta(days=90)
    )

    holdings = domain.apply(moved, role_change_step(back))

    assert ids(SUPPORT) <= active(holdings)
    assert holdings[SUPPORT[0].id].assigned_at == T0
    assert inactive(holdings) == ids(LEADER)


# ---------------------------------------------------------------- exit


def test_exit_deactivates_every_active_kpi_and_deletes_nothing():
    before = domain.apply(hired(), role_change_step(a_role_change()))

    after = domain.apply(before, domain.staff_exited(an_exit()))

    assert after.keys() == before.keys()
    assert not active(after)


def test_exit_records_when_and_why():
    leaving = an_exit(reason="resigned")

    holdings = domain.apply(hired(), domain.staff_exited(leaving))

    assert {(h.changed_at, h.reason) for h in holdings.values()} == {
        (leaving.occurred_at, "Staff exited: resigned")
    }


def test_a_rehire_after_exit_reactivates_kpis_with_their_history():
    left = domain.apply(hired(), domain.staff_exited(an_exit()))
    rehire = a_contract_created(at=T0 + timedelta(days=400))

    holdings = domain.apply(left, contract_step(rehire))

    assert active(holdings) == ids(UNIVERSAL) | ids(SUPPORT)
    assert {h.assigned_at for h in holdings.values()} == {T0}
    assert {h.contract_id for h in holdings.values()} == {rehire.contract_id}


# ---------------------------------------------------------------- managers' actions


def test_a_manager_may_not_deactivate_a_required_kpi_but_hr_may():
    assert not domain.may_change_status(True, KpiStatus.INACTIVE, may_deactivate_required=False)
    assert domain.may_change_status(True, KpiStatus.INACTIVE, may_deactivate_required=True)
    assert domain.may_change_status(False, KpiStatus.INACTIVE, may_deactivate_required=False)
    assert domain.may_change_status(True, KpiStatus.ACTIVE, may_deactivate_required=False)


def test_a_manual_status_change_deactivates_then_reactivates_one_kpi():
    at = T0 + timedelta(days=5)
    off = domain.status_change(uuid.uuid4(), STAFF, at, SUPPORT[0].id, KpiStatus.INACTIVE, "paused")
    on = domain.status_change(uuid.uuid4(), STAFF, at, SUPPORT[0].id, KpiStatus.ACTIVE)

    paused = domain.apply(hired(), off)
    resumed = domain.apply(paused, on)

    assert inactive(paused) == {SUPPORT[0].id}
    assert paused[SUPPORT[0].id].reason == "paused"
    assert not inactive(resumed)


def test_a_manual_assignment_of_a_module_held_before_reactivates_it_as_manual():
    left = domain.apply(hired(), domain.staff_exited(an_exit()))
    step = domain.manual_assignment(
        uuid.uuid4(), STAFF, T0 + timedelta(days=70), SUPPORT[0].id, custom_target=75.0
    )

    holdings = domain.apply(left, step)

    kpi = holdings[SUPPORT[0].id]
    assert (kpi.status, kpi.source, kpi.custom_target) == (KpiStatus.ACTIVE, KpiSource.MANUAL, 75.0)


# ---------------------------------------------------------------- out-of-order arrival


def test_an_exit_that_arrives_after_a_managers_assignment_deactivates_it():
    # The contract system dates its events by its own clock (here, long before the server's):
    # the exit occurred before the manager's assignment by the clocks, but arrived after it.
    hire = contract_step(a_contract_created(at=T0))
    server_now = T0 + timedelta(days=300)
    by_hand = domain.manual_assignment(uuid.uuid4(), STAFF, server_now, NURSE[0].id)
    leaving = domain.staff_exited(an_exit(at=T0 + timedelta(days=1)))

    holdings = deliver([hire, by_hand, leaving])

    assert not active(holdings)
    assert holdings[NURSE[0].id].changed_at == server_now  # never before it was assigned
    assert holdings[SUPPORT[0].id].reason == "Staff exited"
    assert holdings == domain.replay_story([hire, by_hand, leaving])[0]


def test_a_renewal_that_arrives_after_a_managers_deactivation_reactivates_the_kpi():
    hire = contract_step(a_contract_created(at=T0))
    paused = domain.status_change(
        uuid.uuid4(), STAFF, T0 + timedelta(days=300), SUPPORT[0].id, KpiStatus.INACTIVE
    )
    renewal = contract_step(a_contract_created(at=T0 + timedelta(days=1)))

    holdings = deliver([hire, paused, renewal])

    assert SUPPORT[0].id in active(holdings)


def test_a_contract_older_than_the_exit_leaves_no_active_kpis():
    contract, leaving = contract_step(a_contract_created()), domain.staff_exited(an_exit())

    holdings = domain.replay_story([leaving, contract])[0]

    assert holdings.keys() == ids(UNIVERSAL) | ids(SUPPORT)
    assert not active(holdings)


def test_a_contract_and_an_exit_at_the_same_instant_leave_no_active_kpis_in_either_arrival():
    contract = contract_step(a_contract_created(at=T0))
    leaving = domain.staff_exited(an_exit(at=T0))

    for arrival in ([contract, leaving], [leaving, contract]):
        holdings = deliver(arrival)

        assert holdings.keys() == ids(UNIVERSAL) | ids(SUPPORT)
        assert not active(holdings)


def after_events_at(at: datetime | None, latest: datetime | None = None) -> domain.StorySoFar:
    return domain.StorySoFar(newest_event=at, latest=latest or at)


def test_an_event_is_in_order_unless_an_earlier_arrival_occurred_later():
    step = contract_step(a_contract_created(at=T0))

    assert domain.arrives_in_order(step, domain.StorySoFar())
    assert domain.arrives_in_order(step, after_events_at(T0 - timedelta(seconds=1)))
    assert not domain.arrives_in_order(step, after_events_at(T0))  # a tie: replayed
    assert not domain.arrives_in_order(step, after_events_at(T0 + timedelta(seconds=1)))


def test_an_event_is_in_order_after_a_managers_action_dated_later_by_the_servers_clock():
    step = domain.staff_exited(an_exit(at=T0 + timedelta(days=1)))
    story = after_events_at(T0, latest=T0 + timedelta(days=300))

    assert domain.arrives_in_order(step, story)
    assert domain.dated(step, story) == T0 + timedelta(days=300)


def test_a_managers_action_always_comes_last_in_the_story():
    step = domain.manual_assignment(uuid.uuid4(), STAFF, T0, SUPPORT_OPTIONAL.id)

    assert domain.arrives_in_order(step, after_events_at(T0 + timedelta(days=1)))


def test_a_managers_action_is_placed_after_the_events_that_arrived_before_it():
    hire = contract_step(a_contract_created(at=T0))
    later = contract_step(a_contract_created(at=T0 + timedelta(days=5)))
    earlier = domain.staff_exited(an_exit(at=T0 - timedelta(days=5)))
    by_hand = domain.manual_assignment(uuid.uuid4(), STAFF, T0 + timedelta(days=400), NURSE[0].id)

    placed = domain.story_order([hire, by_hand, later, earlier])

    assert placed == [earlier, hire, by_hand, later]


def test_a_batch_settles_together_only_each_persons_lone_step_that_arrives_in_order():
    alone, twice, late, first_ever = (uuid.uuid4() for _ in range(4))

    def step_of(staff: uuid.UUID, at: datetime) -> domain.Step:
        return domain.staff_exited(StaffExited(staff_id=staff, occurred_at=at))

    steps = [
        step_of(alone, T0 + timedelta(days=2)),
        step_of(twice, T0 + timedelta(days=2)),
        step_of(late, T0),
        step_of(twice, T0 + timedelta(days=3)),
        step_of(first_ever, T0),
    ]
    stories = {
        alone: after_events_at(T0),
        twice: after_events_at(T0),
        late: after_events_at(T0 + timedelta(days=1)),
        first_ever: domain.StorySoFar(),
    }

    assert domain.settled_together(steps, stories) == [True, False, False, False, True]


def test_reconcile_never_deletes_what_the_replay_does_not_know():
    holdings = hired()

    assert not domain.reconcile(holdings, {})


def test_reconcile_sorts_the_differences():
    actual = hired()
    desired = domain.apply(actual, role_change_step(a_role_change()))

    changes = domain.reconcile(actual, desired)

    assert {h.kpi_module_id for h in changes.inserted} == ids(LEADER)
    assert {h.kpi_module_id for h in changes.deactivated} == ids(SUPPORT)
    assert not changes.reactivated
    assert not changes.restated


def stored(holding: Holding) -> Holding:
    """A holding as hr.staff_kpis keeps it: an active row does not record when it last changed."""
    return replace(holding, changed_at=holding.assigned_at) if holding.is_active else holding


def deliver(steps: list[domain.Step]) -> dict[uuid.UUID, Holding]:
    """What the service holds after the steps arrive in this order (the handler's logic)."""
    state: dict[uuid.UUID, Holding] = {}
    seen: list[domain.Step] = []
    story = domain.StorySoFar()
    for step in steps:
        seen.append(step)
        if domain.arrives_in_order(step, story):
            desired = domain.apply(state, step, domain.dated(step, story))
        else:
            desired, _ = domain.replay_story(seen)
        story = story.after(step)
        changes = domain.reconcile(state, desired)
        for h in (*changes.inserted, *changes.deactivated, *changes.reactivated, *changes.restated):
            state[h.kpi_module_id] = stored(h)
    return state


def a_working_life() -> list[domain.Step]:
    """Hire, renewal with a new template KPI, role change, exit, rehire: in the order they occur."""
    day = timedelta(days=1)
    return [
        contract_step(a_contract_created(at=T0, excluded=[SUPPORT[2].id])),
        contract_step(
            a_contract_created(at=T0 + 100 * day),
            [TemplateChoice(SUPPORT_OPTIONAL.id, custom_target=80.0)],
        ),
        role_change_step(a_role_change(at=T0 + 200 * day)),
        domain.staff_exited(an_exit(at=T0 + 300 * day)),
        contract_step(a_contract_created(RoleGroup.REGISTERED_NURSE, at=T0 + 400 * day)),
    ]


def test_every_arrival_order_of_a_working_life_converges_to_the_in_order_state():
    life = a_working_life()
    in_order = deliver(life)

    for arrival in itertools.permutations(life):
        assert deliver(list(arrival)) == in_order, arrival


def test_a_rehired_nurse_holds_the_universal_and_nursing_kpis_only():
    final = deliver(a_working_life())

    assert active(final) == ids(UNIVERSAL) | ids(NURSE)


def some_step(draw: st.DrawFn, at: datetime) -> Any:
    kind = draw(st.sampled_from(["contract", "role", "exit", "manual", "status"]))
    groups = [RoleGroup.SUPPORT_WORKER, RoleGroup.TEAM_LEADER, RoleGroup.REGISTERED_NURSE]
    module = draw(st.sampled_from(CATALOG))
    if kind == "contract":
        target = draw(st.sampled_from([None, 50.0]))
        template = [TemplateChoice(module.id, draw(st.booleans()), target)]
        return contract_step(a_contract_created(draw(st.sampled_from(groups)), at=at), template)
    if kind == "role":
        old, new = draw(st.sampled_from(groups)), draw(st.sampled_from(groups))
        return role_change_step(a_role_change(old, new, at=at))
    if kind == "exit":
        return domain.staff_exited(an_exit(at=at))
    if kind == "manual":
        return domain.manual_assignment(uuid.uuid4(), STAFF, at, module.id)
    status = draw(st.sampled_from(list(KpiStatus)))
    return domain.status_change(uuid.uuid4(), STAFF, at, module.id, status)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[domain.Step], list[domain.Step]]:
    """Steps in the order they arrive, and another order they could have arrived in: the same
    managers' actions at the same places, the events between two of them (which the manager could
    not have seen yet, or had all seen) in any order."""
    count = draw(st.integers(1, 7))
    # days drawn from a few, so that steps at the same instant are common
    offsets = draw(st.lists(st.integers(0, 6), min_size=count, max_size=count))
    steps = [some_step(draw, T0 + timedelta(days=d)) for d in offsets]
    other: list[domain.Step] = []
    events: list[domain.Step] = []
    for step in [*steps, None]:
        if step is not None and domain.is_lifecycle_event(step):
            events.append(step)
            continue
        other += draw(st.permutations(events))
        events = []
        if step is not None:
            other.append(step)
    return steps, other


@settings(max_examples=300, deadline=None)
@given(histories())
def test_any_arrival_order_converges_to_the_state_of_delivery_in_story_order(history):
    steps, arrival = history
    in_story_order = deliver(domain.story_order(steps))

    assert deliver(arrival) == in_story_order
    assert deliver(steps) == in_story_order


@settings(max_examples=300, deadline=None)
@given(histories())
def test_a_replay_dates_every_kpis_changes_in_the_order_they_happen(history):
    steps, _ = history
    states = [domain.replay_story(domain.story_order(steps)[:n])[0] for n in range(len(steps) + 1)]

    for before, after in itertools.pairwise(states):
        for module_id, held in after.items():
            if module_id in before:
                assert held.changed_at >= before[module_id].changed_at


# ---------------------------------------------------------------- what the journal is told


def tell(steps: list[domain.Step]) -> Counter[tuple[uuid.UUID, domain.Turn]]:
    """What the journal is told when the steps arrive in this order: per KPI, how many
    assignments, deactivations and reactivations."""
    return Counter((t.holding.kpi_module_id, t.turn) for t in domain.told(steps))


def story_of(steps: list[domain.Step]) -> Counter[tuple[uuid.UUID, domain.Turn]]:
    """What delivery in story order tells the journal."""
    _, story = domain.replay_story(steps)
    return Counter((t.holding.kpi_module_id, t.turn) for t in story)


def test_an_exit_that_arrives_after_the_rehire_it_preceded_is_still_told():
    day = timedelta(days=1)
    hire = contract_step(a_contract_created(at=T0))
    leaving = domain.staff_exited(an_exit(at=T0 + 20 * day, reason="resigned"))
    rehire = contract_step(a_contract_created(at=T0 + 40 * day))
    told = domain.told([hire, rehire])

    _, whole = domain.replay_story([hire, rehire, leaving])
    untold = domain.untold(told, whole)

    held = {t.holding.kpi_module_id for t in told}
    assert [(t.step, t.turn) for t in untold] == [
        *((leaving, domain.Turn.DEACTIVATED) for _ in held),
        *((rehire, domain.Turn.REACTIVATED) for _ in held),
    ]
    assert {t.holding.kpi_module_id for t in untold} == held
    assert tell([hire, rehire, leaving]) == story_of([hire, leaving, rehire])


def test_a_role_change_before_its_contract_tells_each_kpi_assigned_once():
    contract = contract_step(a_contract_created(at=T0))
    change = role_change_step(a_role_change(at=T0 + timedelta(days=30)))

    assert tell([change, contract]) == story_of([contract, change])


def test_every_arrival_order_of_a_working_life_tells_the_journal_its_whole_story():
    life = a_working_life()
    story = story_of(life)

    for arrival in itertools.permutations(life):
        assert not story - tell(list(arrival)), arrival


@settings(max_examples=300, deadline=None)
@given(histories())
def test_any_arrival_order_tells_the_journal_every_change_of_the_story(history):
    steps, arrival = history
    story = story_of(domain.story_order(steps))

    assert not story - tell(arrival)
    assert tell(domain.story_order(steps)) == story


def test_an_exit_told_for_an_earlier_one_that_came_late_is_not_told_again():
    # Hire, exit, rehire, exit again, arriving: hire, second exit, first exit, rehire. The
    # second exit's deactivation stands for the first's until the rehire shows both happened.
    day = timedelta(days=1)
    hire = contract_step(a_contract_created(at=T0))
    first_exit = domain.staff_exited(an_exit(at=T0 + 10 * day))
    rehire = contract_step(a_contract_created(at=T0 + 20 * day))
    second_exit = domain.staff_exited(an_exit(at=T0 + 30 * day))
    in_order = [hire, first_exit, rehire, second_exit]

    told = domain.told([hire, second_exit, first_exit, rehire])

    def who_did_what(transitions: list[domain.Transition]) -> Counter[Any]:
        return Counter((t.step.step_id, t.holding.kpi_module_id, t.turn) for t in transitions)

    assert who_did_what(told) == who_did_what(domain.replay_story(in_order)[1])
