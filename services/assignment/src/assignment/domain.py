"""Assignment rules as plain functions: what each lifecycle step gives a person, and how a person's
KPIs converge to the same state whatever order the lifecycle events arrive in.

KPIs belong to the person, not the contract: every rule here is about one `staff_id`. A step is
one thing that happened to that person (a contract, a role change, an exit, a manager's action),
already resolved against the catalogue as it stood when the step arrived, so that replaying a
person's steps is deterministic. Nothing is ever deleted: a KPI is deactivated, and may later be
reactivated with its history intact.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from kpi_contracts.enums import Cause, KpiSource, KpiStatus, RoleGroup
from kpi_contracts.events import ContractCreated, KpiSelection, RoleChanged, StaffExited

# ---------------------------------------------------------------- what the rules read


@dataclass(frozen=True)
class CatalogModule:
    """What the rules need to know of a KPI module in the catalogue."""

    id: uuid.UUID
    role_group: RoleGroup | None
    is_universal: bool
    is_default_for_role: bool
    display_order: int = 0
    is_archived: bool = False


@dataclass(frozen=True)
class TemplateChoice:
    """One KPI of a contract template."""

    kpi_module_id: uuid.UUID
    is_required: bool = False
    custom_target: float | None = None


def role_defaults(modules: Iterable[CatalogModule], role_group: RoleGroup) -> list[CatalogModule]:
    """The modules auto-attached for a role group: its own defaults and the universal five."""
    return sorted(
        (
            m
            for m in modules
            if m.is_default_for_role
            and not m.is_archived
            and (m.is_universal or m.role_group == role_group)
        ),
        key=lambda m: m.display_order,
    )


# ---------------------------------------------------------------- what a step gives a person


@dataclass(frozen=True)
class Wanted:
    """One KPI a step gives a person."""

    kpi_module_id: uuid.UUID
    source: KpiSource
    is_required: bool = False
    custom_target: float | None = None


def kpis_for_contract(
    template: Sequence[TemplateChoice],
    defaults: Sequence[CatalogModule],
    selection: KpiSelection | None = None,
) -> tuple[Wanted, ...]:
    """What a contract gives a person.

    Every template KPI (source template, its custom target applied), plus the role group's
    defaults (the universal five among them), minus the optional ones the manager excluded, plus
    the modules the manager added (source manual). A required template KPI cannot be excluded, and
    neither can a universal one: those apply to all staff, so they are assigned as required.
    """
    excluded = set(selection.excluded_module_ids) if selection else set()
    added = selection.added_module_ids if selection else []
    universal = {m.id for m in defaults if m.is_universal}
    wanted: dict[uuid.UUID, Wanted] = {}
    for choice in template:
        required = choice.is_required or choice.kpi_module_id in universal
        if choice.kpi_module_id in excluded and not required:
            continue
        wanted.setdefault(
            choice.kpi_module_id,
            Wanted(choice.kpi_module_id, KpiSource.TEMPLATE, required, choice.custom_target),
        )
    for module in defaults:
        if module.id in excluded and not module.is_universal:
            continue
        wanted.setdefault(module.id, Wanted(module.id, KpiSource.TEMPLATE, module.is_universal))
    for module_id in added:
        wanted.setdefault(module_id, Wanted(module_id, KpiSource.MANUAL))
    return tuple(wanted.values())


@dataclass(frozen=True)
class Step:
    """One thing that happened to a person's KPIs, resolved against the catalogue on arrival.

    A step first deactivates what it `retires` (everything, with `retires_all`) unless it also
    wants it, then reactivates `reactivates`, then assigns `assigns`.
    """

    step_id: uuid.UUID
    staff_id: uuid.UUID
    cause: Cause
    occurred_at: datetime
    contract_id: uuid.UUID | None = None
    assigns: tuple[Wanted, ...] = ()
    retires: frozenset[uuid.UUID] = frozenset()
    retires_all: bool = False
    reactivates: frozenset[uuid.UUID] = frozenset()
    # Why: what the KPIs it retires keep as their deactivation reason, and what the journal is
    # told with every change it makes.
    reason: str | None = None
    actor: str | None = None  # who asked (a token's subject), when a person did


def contract_created(
    event: ContractCreated,
    template: Sequence[TemplateChoice],
    modules: Iterable[CatalogModule],
) -> Step:
    """A new contract (or a renewal): assign what the contract gives the person."""
    return Step(
        step_id=event.event_id,
        staff_id=event.staff_id,
        cause=Cause.CONTRACT_CREATED,
        occurred_at=event.occurred_at,
        contract_id=event.contract_id,
        assigns=kpis_for_contract(
            template, role_defaults(modules, event.role_group), event.kpi_selection
        ),
    )


def role_changed(
    event: RoleChanged,
    template: Sequence[TemplateChoice],
    modules: Iterable[CatalogModule],
) -> Step:
    """A move to another role group: the new group's defaults (and the new template's KPIs, if
    any) are assigned; the KPIs that belonged only to the old group are deactivated. The universal
    five belong to every group, so they stay active and keep their history."""
    modules = list(modules)
    wanted = kpis_for_contract(template, role_defaults(modules, event.to_role_group))
    kept = {w.kpi_module_id for w in wanted}
    retiring = frozenset(
        m.id
        for m in modules
        if event.from_role_group != event.to_role_group
        and m.role_group == event.from_role_group
        and m.id not in kept
    )
    return Step(
        step_id=event.event_id,
        staff_id=event.staff_id,
        cause=Cause.ROLE_CHANGED,
        occurred_at=event.occurred_at,
        contract_id=event.contract_id,
        assigns=wanted,
        retires=retiring,
        reason=(
            f"Role changed from {event.from_role_group.in_words} to {event.to_role_group.in_words}"
        ),
    )


def staff_exited(event: StaffExited) -> Step:
    """An exit: every active KPI is deactivated; nothing is deleted."""
    return Step(
        step_id=event.event_id,
        staff_id=event.staff_id,
        cause=Cause.STAFF_EXITED,
        occurred_at=event.occurred_at,
        contract_id=event.contract_id,
        retires_all=True,
        reason=f"Staff exited: {event.reason}" if event.reason else "Staff exited",
    )


def manual_assignment(
    step_id: uuid.UUID,
    staff_id: uuid.UUID,
    at: datetime,
    kpi_module_id: uuid.UUID,
    contract_id: uuid.UUID | None = None,
    custom_target: float | None = None,
    actor: str | None = None,
) -> Step:
    """A manager assigns one more KPI by hand (source manual)."""
    return Step(
        step_id=step_id,
        staff_id=staff_id,
        cause=Cause.MANUAL_ASSIGNMENT,
        occurred_at=at,
        contract_id=contract_id,
        assigns=(Wanted(kpi_module_id, KpiSource.MANUAL, False, custom_target),),
        actor=actor,
    )


def status_change(
    step_id: uuid.UUID,
    staff_id: uuid.UUID,
    at: datetime,
    kpi_module_id: uuid.UUID,
    status: KpiStatus,
    reason: str | None = None,
    actor: str | None = None,
) -> Step:
    """A manager deactivates or reactivates one KPI of a person."""
    if status == KpiStatus.ACTIVE:
        return Step(
            step_id=step_id,
            staff_id=staff_id,
            cause=Cause.STATUS_CHANGE,
            occurred_at=at,
            reactivates=frozenset({kpi_module_id}),
            reason=reason,
            actor=actor,
        )
    return Step(
        step_id=step_id,
        staff_id=staff_id,
        cause=Cause.STATUS_CHANGE,
        occurred_at=at,
        retires=frozenset({kpi_module_id}),
        reason=reason or "Deactivated by a manager",
        actor=actor,
    )


def all_deactivated(
    step_id: uuid.UUID,
    staff_id: uuid.UUID,
    at: datetime,
    reason: str | None = None,
    actor: str | None = None,
) -> Step:
    """An hr_admin deactivates every active KPI of a person."""
    return Step(
        step_id=step_id,
        staff_id=staff_id,
        cause=Cause.KPIS_DEACTIVATED,
        occurred_at=at,
        retires_all=True,
        reason=reason or "All KPIs deactivated by HR",
        actor=actor,
    )


# ---------------------------------------------------------------- what a person holds


@dataclass(frozen=True)
class Holding:
    """A person's assignment of one KPI module, as the steps so far leave it."""

    kpi_module_id: uuid.UUID
    status: KpiStatus
    source: KpiSource
    is_required: bool
    custom_target: float | None
    contract_id: uuid.UUID | None
    assigned_at: datetime
    changed_at: datetime
    reason: str | None = None

    @property
    def is_active(self) -> bool:
        """Whether the KPI is being evaluated."""
        return self.status == KpiStatus.ACTIVE


Holdings = Mapping[uuid.UUID, Holding]


def apply(holdings: Holdings, step: Step, at: datetime | None = None) -> dict[uuid.UUID, Holding]:
    """A person's holdings after one more step, what it changes dated `at` (default: when it
    occurred; see `dated`).

    A module already active is not assigned twice (a renewal keeps what the person has and adds
    only what is new); a module the person held before is reactivated, with its history.
    """
    at = at or step.occurred_at
    result = dict(holdings)
    kept = {w.kpi_module_id for w in step.assigns}
    retiring = set(result) if step.retires_all else set(step.retires)
    for module_id in retiring - kept:
        held = result.get(module_id)
        if held is not None and held.is_active:
            result[module_id] = replace(
                held, status=KpiStatus.INACTIVE, changed_at=at, reason=step.reason
            )
    for module_id in step.reactivates:
        held = result.get(module_id)
        if held is not None and not held.is_active:
            result[module_id] = replace(held, status=KpiStatus.ACTIVE, changed_at=at, reason=None)
    for want in step.assigns:
        held = result.get(want.kpi_module_id)
        if held is None:
            result[want.kpi_module_id] = Holding(
                kpi_module_id=want.kpi_module_id,
                status=KpiStatus.ACTIVE,
                source=want.source,
                is_required=want.is_required,
                custom_target=want.custom_target,
                contract_id=step.contract_id,
                assigned_at=at,
                changed_at=at,
            )
        elif not held.is_active:
            result[want.kpi_module_id] = replace(
                held,
                status=KpiStatus.ACTIVE,
                source=want.source,
                is_required=want.is_required,
                custom_target=want.custom_target,
                contract_id=step.contract_id,
                changed_at=at,
                reason=None,
            )
    return result


# A person's story has two clocks. Lifecycle events carry when they occurred by the contract
# system's clock, and may arrive late or out of order: among themselves they are placed by that
# time. A manager's action is taken on what the person holds when it is taken: it is placed right
# after the newest lifecycle event that had arrived by then (and after the actions before it),
# whatever its own time, so a late event that occurred earlier still applies to what the action
# left (an exit deactivates a KPI assigned by hand a moment before the exit arrived).
LIFECYCLE_EVENTS = frozenset({Cause.CONTRACT_CREATED, Cause.ROLE_CHANGED, Cause.STAFF_EXITED})

# Of lifecycle events that occurred at the same instant, which comes first: a contract, then a
# role change within it, and an exit last. Then the step id, so the order never depends on arrival.
_SAME_INSTANT_ORDER = {Cause.CONTRACT_CREATED: 0, Cause.ROLE_CHANGED: 1, Cause.STAFF_EXITED: 2}

_Place = tuple[datetime, int, str]
_BEFORE_ANY_EVENT: _Place = (datetime.min.replace(tzinfo=UTC), -1, "")


def is_lifecycle_event(step: Step) -> bool:
    """Whether a step is one of the contract system's events (not a manager's action)."""
    return step.cause in LIFECYCLE_EVENTS


def occurrence_order(step: Step) -> _Place:
    """Where a lifecycle event falls among a person's others: when it occurred, ties broken the
    same every time."""
    return step.occurred_at, _SAME_INSTANT_ORDER[step.cause], str(step.step_id)


def story_order(arrived: Iterable[Step]) -> list[Step]:
    """A person's steps, given in the order they arrived, in the order their story applies them:
    lifecycle events by when they occurred, each manager's action right after the newest event
    that had arrived before it."""
    placed: list[tuple[_Place, int, int, Step]] = []
    newest_event = _BEFORE_ANY_EVENT
    for arrival, step in enumerate(arrived):
        if is_lifecycle_event(step):
            newest_event = max(newest_event, occurrence_order(step))
            placed.append((occurrence_order(step), 0, 0, step))
        else:
            placed.append((newest_event, 1, arrival, step))
    return [step for *_, step in sorted(placed, key=lambda p: p[:3])]


@dataclass(frozen=True)
class StorySoFar:
    """Where a person's story stands before a step: when its newest lifecycle event occurred, and
    the latest time any of its steps is dated (a manager's action by the server's clock)."""

    newest_event: datetime | None = None
    latest: datetime | None = None

    def after(self, step: Step) -> StorySoFar:
        """Where the story stands once the step is recorded (as the service reads it)."""
        newest = self.newest_event
        if is_lifecycle_event(step):
            newest = step.occurred_at if newest is None else max(newest, step.occurred_at)
        latest = step.occurred_at if self.latest is None else max(self.latest, step.occurred_at)
        return StorySoFar(newest_event=newest, latest=latest)


def dated(step: Step, story: StorySoFar) -> datetime:
    """When the changes of a step that comes last in a person's story are dated: when it
    occurred, or the story's latest time if that is later. So a KPI's changes are dated in the
    order they happen, which the journal relies on (it keeps a KPI's newest news), even when a
    late event follows a manager's action dated by the server's clock."""
    if story.latest is None:
        return step.occurred_at
    return max(step.occurred_at, story.latest)


class Turn(StrEnum):
    """What a step did to one KPI, as the journal tells it."""

    ASSIGNED = "assigned"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"


@dataclass(frozen=True)
class Transition:
    """One step's change to one KPI in a person's story; `holding` is the KPI after it."""

    step: Step
    turn: Turn
    holding: Holding


def replay_story(arrived: Iterable[Step]) -> tuple[dict[uuid.UUID, Holding], list[Transition]]:
    """A person's holdings after all their steps (given in the order they arrived), applied in
    story order, each dated as it would have been had the steps arrived in that order; and every
    change each step made on the way, in story order: what delivery in story order would have
    told the journal."""
    holdings: dict[uuid.UUID, Holding] = {}
    story: list[Transition] = []
    latest: datetime | None = None
    for step in story_order(arrived):
        at = dated(step, StorySoFar(latest=latest))
        after = apply(holdings, step, at)
        story += _transitions(step, holdings, after)
        holdings, latest = after, at
    return holdings, story


def _transitions(step: Step, before: Holdings, after: Holdings) -> list[Transition]:
    turns: list[Transition] = []
    for module_id, held in after.items():
        was = before.get(module_id)
        if was is None:
            turns.append(Transition(step, Turn.ASSIGNED, held))
        elif was.status != held.status:
            turn = Turn.REACTIVATED if held.is_active else Turn.DEACTIVATED
            turns.append(Transition(step, turn, held))
    return turns


def told(arrived: Sequence[Step]) -> list[Transition]:
    """What the journal has been told of a person's story, their steps given in the order they
    arrived (as `settle` tells it): a step that came last in the story told its own changes,
    one that came out of order told what the story then owed (`untold`)."""
    said: list[Transition] = []
    state: dict[uuid.UUID, Holding] = {}
    story = StorySoFar()
    for n, step in enumerate(arrived):
        if arrives_in_order(step, story):
            after = apply(state, step, dated(step, story))
            said += _transitions(step, state, after)
            state = after
        else:
            state, whole = replay_story(arrived[: n + 1])
            said += untold(said, whole)
        story = story.after(step)
    return said


def untold(said: Sequence[Transition], story: Sequence[Transition]) -> list[Transition]:
    """The changes of a person's `story` (`replay_story` of every step, with one that came out
    of order) that the journal was not told: `said` is what it was told (`told`).

    Per KPI and kind (assigned, deactivated, reactivated) the story may hold more than was
    said: as many are told now, of the changes not said yet, in story order. The journal is
    append-only, so one the story no longer holds stays told, and one said by another step
    (an exit told before the earlier exit that arrived late) stands for it.
    """
    said_before = {_identity(t) for t in said}
    owed = Counter((t.holding.kpi_module_id, t.turn) for t in story)
    owed.subtract((t.holding.kpi_module_id, t.turn) for t in said)
    out: list[Transition] = []
    for t in story:
        kind = (t.holding.kpi_module_id, t.turn)
        if owed[kind] > 0 and _identity(t) not in said_before:
            owed[kind] -= 1
            out.append(t)
    return out


def _identity(t: Transition) -> tuple[uuid.UUID, uuid.UUID, Turn]:
    """Which step did what to which KPI."""
    return t.step.step_id, t.holding.kpi_module_id, t.turn


def arrives_in_order(step: Step, story: StorySoFar) -> bool:
    """Whether a step comes last in its person's story, so it may be applied to what they hold
    now (the common case): a manager's action always does; a lifecycle event when it occurred
    after every event the person already had.

    One at the same instant as the newest does not: where it falls among them is decided by
    `occurrence_order`, so it is settled by a replay, whatever order the two arrived in.
    """
    if not is_lifecycle_event(step):
        return True
    return story.newest_event is None or step.occurred_at > story.newest_event


def settled_together(steps: Sequence[Step], stories: Mapping[uuid.UUID, StorySoFar]) -> list[bool]:
    """Per step of a batch, whether it may be applied beside the others to what its person holds
    now: it is its person's only step in the batch, and it arrives in order (`stories`: where
    each person's story stood before the batch). Any other step needs what an earlier one of the
    batch wrote, or a replay, so it is settled on its own."""
    per_person = Counter(step.staff_id for step in steps)
    return [
        per_person[step.staff_id] == 1 and arrives_in_order(step, stories[step.staff_id])
        for step in steps
    ]


# ---------------------------------------------------------------- from actual to desired


@dataclass(frozen=True)
class Changes:
    """What must be written so that a person's actual KPIs become the desired ones."""

    inserted: tuple[Holding, ...] = ()
    """Modules the person never held; one arriving out of order may be born inactive."""
    deactivated: tuple[Holding, ...] = ()
    reactivated: tuple[Holding, ...] = ()
    restated: tuple[Holding, ...] = ()
    """Status already right but the record differs: a step arrived after a later one."""
    restated_terms: tuple[Holding, ...] = ()
    """Those of `restated` held on other terms (`same_terms`): news to the journal, which
    scores by them; the rest differ only in when or why they were deactivated."""

    def __bool__(self) -> bool:
        return bool(self.inserted or self.deactivated or self.reactivated or self.restated)


def reconcile(actual: Holdings, desired: Holdings) -> Changes:
    """The changes that turn the actual holdings into the desired ones; never a deletion."""
    inserted: list[Holding] = []
    deactivated: list[Holding] = []
    reactivated: list[Holding] = []
    restated: list[Holding] = []
    restated_terms: list[Holding] = []
    for module_id, want in desired.items():
        have = actual.get(module_id)
        if have is None:
            inserted.append(want)
        elif have.status != want.status:
            (reactivated if want.is_active else deactivated).append(want)
        elif not same_record(have, want):
            restated.append(want)
            if not same_terms(have, want):
                restated_terms.append(want)
    return Changes(
        tuple(inserted),
        tuple(deactivated),
        tuple(reactivated),
        tuple(restated),
        tuple(restated_terms),
    )


def same_terms(a: Holding, b: Holding) -> bool:
    """Whether two holdings of one module are held alike: how, under which contract, with which
    target, since when."""
    return (
        a.source == b.source
        and a.is_required == b.is_required
        and a.custom_target == b.custom_target
        and a.contract_id == b.contract_id
        and a.assigned_at == b.assigned_at
    )


def same_record(a: Holding, b: Holding) -> bool:
    """Whether two holdings of one module and status say the same (when and why included)."""
    if a.is_active:
        return same_terms(a, b)
    return same_terms(a, b) and a.changed_at == b.changed_at and a.reason == b.reason


def may_change_status(is_required: bool, to: KpiStatus, may_deactivate_required: bool) -> bool:
    """Whether a status change is allowed: a required KPI is deactivated only by HR."""
    return to == KpiStatus.ACTIVE or not is_required or may_deactivate_required
