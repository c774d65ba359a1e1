"""The one write path of a person's staff KPIs: record a step, work out what it changes with the
rules of `domain`, write the rows and queue the events that announce the change.

Callers hold the person's lock (`lock_person`) inside a unit of work, so the change, its events
(outbox) and the event that caused it (inbox) commit together, one person at a time.
"""

from __future__ import annotations

import itertools
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypedDict

import msgspec

from assignment import domain, queries
from kpi_contracts import events
from kpi_contracts.enums import Cause, Frequency, KpiSource, KpiStatus, RoleGroup, ScoreType
from kpi_contracts.scales import custom_target_problem
from kpi_contracts.schedule import next_due
from kpi_kit.db import Connection, Record
from kpi_kit.outbox import UnitOfWork

log = logging.getLogger("kpi.assignment")

_encode_step = msgspec.json.Encoder().encode
_decode_step = msgspec.json.Decoder(domain.Step).decode


@dataclass(frozen=True)
class ModuleFacts:
    """What assignment needs to know of one module of its catalogue replica."""

    catalog: domain.CatalogModule
    name: str
    score_type: ScoreType
    target_score: float
    minimum_score: float
    effort_weight: float
    evaluation_frequency: Frequency
    terms_version: int = 0  # the module's version when its terms last changed


def module_facts(row: Record) -> ModuleFacts:
    """The facts of a module from a row carrying queries._MODULE_FACTS."""
    return ModuleFacts(
        catalog=domain.CatalogModule(
            id=row["id"],
            role_group=RoleGroup(row["role_group"]) if row["role_group"] else None,
            is_universal=row["is_universal"],
            is_default_for_role=row["is_default_for_role"],
            display_order=row["display_order"],
            is_archived=row["is_archived"],
        ),
        name=row["name"],
        score_type=ScoreType(row["score_type"]),
        target_score=row["target_score"],
        minimum_score=row["minimum_score"],
        effort_weight=row["effort_weight"],
        evaluation_frequency=Frequency(row["evaluation_frequency"]),
        terms_version=row["terms_version"],
    )


async def modules_by_id(conn: Connection, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, ModuleFacts]:
    """The replica's facts of these modules (unknown ones are left out)."""
    rows = await conn.fetch(queries.MODULES_BY_ID, list(ids))
    return {row["id"]: module_facts(row) for row in rows}


@dataclass(frozen=True)
class StaffKpiRecord:
    """One row of hr.staff_kpis as the write path sees it."""

    id: uuid.UUID
    kpi_module_id: uuid.UUID
    contract_id: uuid.UUID | None
    status: KpiStatus
    source: KpiSource
    is_required: bool
    custom_target: float | None
    target_score: float
    minimum_score: float
    effort_weight: float
    assigned_at: datetime
    next_evaluation_due: datetime | None
    deactivated_at: datetime | None
    deactivation_reason: str | None
    last_evaluated_at: datetime | None = None
    revision: int = 1  # how many times the row was written: orders its news (ScoringParameters)
    module_terms_version: int = 0  # the module's terms version whose terms the row holds

    @property
    def is_active(self) -> bool:
        """Whether the KPI is being evaluated."""
        return self.status == KpiStatus.ACTIVE

    def holding(self) -> domain.Holding:
        """The record as the rules see it."""
        return domain.Holding(
            kpi_module_id=self.kpi_module_id,
            status=self.status,
            source=self.source,
            is_required=self.is_required,
            custom_target=self.custom_target,
            contract_id=self.contract_id,
            assigned_at=self.assigned_at,
            changed_at=self.deactivated_at or self.assigned_at,
            reason=self.deactivation_reason,
        )


def _record_of(row: Record) -> StaffKpiRecord:
    return StaffKpiRecord(
        id=row["id"],
        kpi_module_id=row["kpi_module_id"],
        contract_id=row["contract_id"],
        status=KpiStatus(row["status"]),
        source=KpiSource(row["source"]),
        is_required=row["is_required"],
        custom_target=row["custom_target"],
        target_score=row["target_score"],
        minimum_score=row["minimum_score"],
        effort_weight=row["effort_weight"],
        assigned_at=row["assigned_at"],
        next_evaluation_due=row["next_evaluation_due"],
        deactivated_at=row["deactivated_at"],
        deactivation_reason=row["deactivation_reason"],
        last_evaluated_at=row["last_evaluated_at"],
        revision=row["revision"],
        module_terms_version=row["module_terms_version"],
    )


async def lock_person(conn: Connection, staff_id: uuid.UUID) -> None:
    """Hold the person's lock until the transaction ends: their changes apply one at a time."""
    await conn.execute(queries.LOCK_PERSON, staff_id)


async def person_records(conn: Connection, staff_id: uuid.UUID) -> dict[uuid.UUID, StaffKpiRecord]:
    """The record per module a person holds (the active one, else the latest)."""
    rows = await conn.fetch(queries.PERSON_RECORDS, staff_id)
    return {row["kpi_module_id"]: _record_of(row) for row in rows}


# ---------------------------------------------------------------- settling a step


async def settle(
    uow: UnitOfWork,
    step: domain.Step,
    modules: dict[uuid.UUID, ModuleFacts],
    cause_event_id: uuid.UUID | None = None,
    headers: Mapping[str, str] | None = None,
) -> dict[uuid.UUID, StaffKpiRecord]:
    """Record a step of a person (whose lock is held) and write what it changes.

    A step that comes last in the person's story (`domain.arrives_in_order`) is applied to what
    they hold now; an event delivered out of order makes the person's whole record be replayed
    in story order, and the difference is written: inserts, deactivations, reactivations, never
    a deletion. The journal is then told the changes of the story it was not told
    (`domain.untold`): an exit that came after the rehire it preceded still has its
    deactivations, and the rehire its reactivations.
    `modules` holds the facts already known; missing ones are read. The announcements carry
    `headers` (default: the unit of work's). Returns the person's records per module afterwards.
    """
    conn = uow.conn
    rows = await conn.fetch(
        queries.RECORD_STEP,
        step.staff_id,
        step.step_id,
        step.occurred_at,
        step.cause.value,
        _encode_step(step).decode(),
    )
    story = _story_of(rows[0])
    records = {row["kpi_module_id"]: _record_of(row) for row in rows if row["id"] is not None}
    actual = _holdings(records)
    untold: list[domain.Transition] | None = None
    if domain.arrives_in_order(step, story):
        desired = domain.apply(actual, step, domain.dated(step, story))
    else:
        arrived = [
            _decode_step(row[0]) for row in await conn.fetch(queries.PERSON_STEPS, step.staff_id)
        ]
        said = domain.told([s for s in arrived if s.step_id != step.step_id])
        desired, whole = domain.replay_story(arrived)
        untold = domain.untold(said, whole)
        log.info(
            "replayed %d steps of %s after an out-of-order %s",
            len(arrived),
            step.staff_id,
            step.cause,
        )
    changes = domain.reconcile(actual, desired)
    if not changes and not untold:
        return records
    touched = _touched(changes) | {t.holding.kpi_module_id for t in untold or ()}
    if missing := touched - modules.keys():
        modules.update(await modules_by_id(conn, missing))
    written = _written(step, cause_event_id, changes, records, modules, untold)
    await _write(conn, [], [written])
    await uow.publish(written.announcements, headers)
    return records | written.by_module


def _story_of(row: Record) -> domain.StorySoFar:
    return domain.StorySoFar(newest_event=row["newest_event"], latest=row["latest"])


@dataclass(frozen=True)
class Person:
    """What a person holds, and where their story stands, as read under their lock."""

    story: domain.StorySoFar
    records: dict[uuid.UUID, StaffKpiRecord]


async def people(conn: Connection, staff_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Person]:
    """Each person's records and story so far (read after their locks were taken)."""
    rows = await conn.fetch(queries.PEOPLE_RECORDS, list(staff_ids))
    found: dict[uuid.UUID, Person] = {}
    for row in rows:
        person = found.setdefault(row["person"], Person(_story_of(row), {}))
        if row["id"] is not None:
            person.records[row["kpi_module_id"]] = _record_of(row)
    return found


@dataclass(frozen=True)
class Arrival:
    """A step to settle with others in one batch, with what its announcements carry."""

    step: domain.Step
    cause_event_id: uuid.UUID | None
    headers: Mapping[str, str]


async def settle_in_order(
    uow: UnitOfWork,
    arrivals: Sequence[Arrival],
    held: Mapping[uuid.UUID, Person],
    modules: Mapping[uuid.UUID, ModuleFacts],
) -> None:
    """Record and apply steps that each arrive in order and are each their person's only one
    (`domain.settled_together`), to what `held` says the people hold (their locks are held):
    what `settle` does for each, in two statements for them all.

    `modules` must hold every module the steps touch: the caller read the whole replica.
    """
    batch: list[Written] = []
    announced: list[tuple[events.Event, Mapping[str, str]]] = []
    for arrival in arrivals:
        step = arrival.step
        person = held[step.staff_id]
        records = person.records
        actual = _holdings(records)
        desired = domain.apply(actual, step, domain.dated(step, person.story))
        changes = domain.reconcile(actual, desired)
        if not changes:
            continue
        if missing := _touched(changes) - modules.keys():
            raise LookupError(f"modules missing from the replica: {sorted(map(str, missing))}")
        written = _written(step, arrival.cause_event_id, changes, records, modules)
        batch.append(written)
        announced += [(event, arrival.headers) for event in written.announcements]
    await _write(uow.conn, [a.step for a in arrivals], batch)
    await uow.publish_each(announced)


def _holdings(records: Mapping[uuid.UUID, StaffKpiRecord]) -> dict[uuid.UUID, domain.Holding]:
    return {module_id: record.holding() for module_id, record in records.items()}


def _touched(changes: domain.Changes) -> set[uuid.UUID]:
    return {
        h.kpi_module_id
        for h in (*changes.inserted, *changes.deactivated, *changes.reactivated, *changes.restated)
    }


@dataclass(frozen=True)
class Written:
    """What one step writes for its person: rows to insert and rewrite, events to announce."""

    staff_id: uuid.UUID
    inserted: list[StaffKpiRecord]
    rewritten: list[StaffKpiRecord]
    announcements: list[events.Event]

    @property
    def by_module(self) -> dict[uuid.UUID, StaffKpiRecord]:
        """The rows written, per module."""
        return {r.kpi_module_id: r for r in (*self.inserted, *self.rewritten)}


def _written(
    step: domain.Step,
    cause_event_id: uuid.UUID | None,
    changes: domain.Changes,
    records: Mapping[uuid.UUID, StaffKpiRecord],
    modules: Mapping[uuid.UUID, ModuleFacts],
    untold: Sequence[domain.Transition] | None = None,
) -> Written:
    """What a step's changes write and announce (after a replay: the `untold` changes)."""
    inserted, rewritten = _records_after(changes, records, modules)
    by_module = {r.kpi_module_id: r for r in (*inserted, *rewritten)}
    if untold is None:
        said = announcements(step, cause_event_id, changes, by_module, modules)
    else:
        held = {**records, **by_module}
        said = retold(step, cause_event_id, untold, changes.restated_terms, held, modules)
    return Written(step.staff_id, inserted, rewritten, said)


async def _write(
    conn: Connection, steps: Sequence[domain.Step], written: Sequence[Written]
) -> None:
    """Record steps and write rows, of any number of people, in one statement."""
    inserted = [(w.staff_id, r) for w in written for r in w.inserted]
    rewritten = [(w.staff_id, r) for w in written for r in w.rewritten]
    await conn.execute(
        queries.WRITE_RECORDS,
        [s.step_id for s in steps],
        [s.staff_id for s in steps],
        [s.occurred_at for s in steps],
        [s.cause.value for s in steps],
        [_encode_step(s).decode() for s in steps],
        *_columns(inserted),
        *_columns(rewritten),
    )


class _HeldTerms(TypedDict):
    source: KpiSource
    is_required: bool
    custom_target: float | None
    contract_id: uuid.UUID | None
    target_score: float


def _held_terms(h: domain.Holding, module: ModuleFacts) -> _HeldTerms:
    """What a holding fixes on its row: how and under which contract it is held, and its target
    (the custom one, else the module's)."""
    return {
        "source": h.source,
        "is_required": h.is_required,
        "custom_target": h.custom_target,
        "contract_id": h.contract_id,
        "target_score": target_for(h.custom_target, module),
    }


def target_for(custom_target: float | None, module: ModuleFacts) -> float:
    """A KPI's target (§4): its custom target, else the module's. A custom target the module
    has since left behind (under its new minimum) gives way to the module's, so that meeting
    stays between the minimum and the target."""
    if custom_target is None or custom_target_problem(
        module.score_type, module.minimum_score, custom_target
    ):
        return module.target_score
    return custom_target


def on_module_terms(record: StaffKpiRecord, module: ModuleFacts) -> StaffKpiRecord:
    """A record on its module's terms as they stand: target, minimum and effort weight."""
    return replace(
        record,
        target_score=target_for(record.custom_target, module),
        minimum_score=module.minimum_score,
        effort_weight=module.effort_weight,
        module_terms_version=module.terms_version,
    )


def _records_after(
    changes: domain.Changes,
    records: Mapping[uuid.UUID, StaffKpiRecord],
    modules: Mapping[uuid.UUID, ModuleFacts],
) -> tuple[list[StaffKpiRecord], list[StaffKpiRecord]]:
    """The rows to insert and the rows to rewrite so that the person holds what `changes` says.

    A KPI's scoring parameters are fixed when it is (re)assigned: the custom target (or the
    module's), the module's minimum and effort weight; its first evaluation is due one period of
    the module's frequency later.
    """
    inserted = [_new_record(h, modules[h.kpi_module_id]) for h in changes.inserted]
    rewritten = [
        replace(
            records[h.kpi_module_id],
            revision=records[h.kpi_module_id].revision + 1,
            status=KpiStatus.INACTIVE,
            deactivated_at=h.changed_at,
            deactivation_reason=h.reason,
        )
        for h in changes.deactivated
    ]
    rewritten += [
        _reactivated(records[h.kpi_module_id], h, modules[h.kpi_module_id])
        for h in changes.reactivated
    ]
    rewritten += [
        _restated(records[h.kpi_module_id], h, modules[h.kpi_module_id]) for h in changes.restated
    ]
    return inserted, rewritten


def _new_record(h: domain.Holding, module: ModuleFacts) -> StaffKpiRecord:
    return StaffKpiRecord(
        id=events.time_ordered_uuid(),
        kpi_module_id=h.kpi_module_id,
        status=h.status,
        **_held_terms(h, module),
        minimum_score=module.minimum_score,
        effort_weight=module.effort_weight,
        module_terms_version=module.terms_version,
        assigned_at=h.assigned_at,
        next_evaluation_due=next_due(h.assigned_at, module.evaluation_frequency),
        deactivated_at=None if h.is_active else h.changed_at,
        deactivation_reason=None if h.is_active else h.reason,
    )


def _reactivated(record: StaffKpiRecord, h: domain.Holding, module: ModuleFacts) -> StaffKpiRecord:
    """Active again, on today's scoring parameters, due one period after its reactivation."""
    return replace(
        on_module_terms(record, module),
        revision=record.revision + 1,
        status=KpiStatus.ACTIVE,
        **_held_terms(h, module),
        next_evaluation_due=next_due(h.changed_at, module.evaluation_frequency),
        deactivated_at=None,
        deactivation_reason=None,
    )


def _restated(record: StaffKpiRecord, h: domain.Holding, module: ModuleFacts) -> StaffKpiRecord:
    """Status already right, the rest as the story now says (a step arrived after a later one);
    an evaluated KPI keeps the due date its evaluation set."""
    return replace(
        record,
        revision=record.revision + 1,
        **_held_terms(h, module),
        assigned_at=h.assigned_at,
        next_evaluation_due=record.next_evaluation_due
        if record.last_evaluated_at
        else next_due(h.assigned_at, module.evaluation_frequency),
        deactivated_at=None if h.is_active else h.changed_at,
        deactivation_reason=None if h.is_active else h.reason,
    )


def _columns(rows: Sequence[tuple[uuid.UUID, StaffKpiRecord]]) -> list[list[Any]]:
    """(staff_id, record) pairs as column arrays, in the order of queries._RECORD_TYPES."""
    return [
        [staff_id for staff_id, _ in rows],
        [r.id for _, r in rows],
        [r.kpi_module_id for _, r in rows],
        [r.contract_id for _, r in rows],
        [r.status.value for _, r in rows],
        [r.source.value for _, r in rows],
        [r.is_required for _, r in rows],
        [r.custom_target for _, r in rows],
        [r.target_score for _, r in rows],
        [r.minimum_score for _, r in rows],
        [r.effort_weight for _, r in rows],
        [r.assigned_at for _, r in rows],
        [r.next_evaluation_due for _, r in rows],
        [r.deactivated_at for _, r in rows],
        [r.deactivation_reason for _, r in rows],
        [r.revision for _, r in rows],
        [r.module_terms_version for _, r in rows],
    ]


# ---------------------------------------------------------------- announcing it


def scoring_parameters(
    staff_id: uuid.UUID, record: StaffKpiRecord, module: ModuleFacts
) -> events.ScoringParameters:
    """What the journal needs to score one staff KPI."""
    return events.ScoringParameters(
        staff_kpi_id=record.id,
        staff_id=staff_id,
        kpi_module_id=record.kpi_module_id,
        module_name=module.name,
        score_type=module.score_type,
        target_score=record.target_score,
        minimum_score=record.minimum_score,
        effort_weight=record.effort_weight,
        evaluation_frequency=module.evaluation_frequency,
        assigned_at=record.assigned_at,
        contract_id=record.contract_id,
        source=record.source,
        is_required=record.is_required,
        revision=record.revision,
    )


@dataclass(frozen=True)
class _Teller:
    """Tells the journal about a person's KPIs as their rows now stand."""

    staff_id: uuid.UUID
    held: Mapping[uuid.UUID, StaffKpiRecord]
    modules: Mapping[uuid.UUID, ModuleFacts]

    def parameters(self, h: domain.Holding) -> events.ScoringParameters:
        module_id = h.kpi_module_id
        return scoring_parameters(self.staff_id, self.held[module_id], self.modules[module_id])

    def change(self, h: domain.Holding, reason: str | None) -> events.KpiStatusChange:
        return events.KpiStatusChange(
            staff_kpi_id=self.held[h.kpi_module_id].id,
            status=h.status,
            reason=reason,
            changed_at=h.changed_at,
            parameters=self.parameters(h),
        )


def announcements(
    step: domain.Step,
    cause_event_id: uuid.UUID | None,
    changes: domain.Changes,
    written: Mapping[uuid.UUID, StaffKpiRecord],
    modules: Mapping[uuid.UUID, ModuleFacts],
) -> list[events.Event]:
    """One KpisAssigned, one KpiStatusChanged and one KpisRestated for the step (each only when
    not empty).

    New assignments go in KpisAssigned; deactivations and reactivations, including a new KPI that
    is born inactive because it arrived after the step that deactivated it, go in
    KpiStatusChanged. A record corrected after an out-of-order arrival goes in KpisRestated when
    it is held on other terms (`changes.restated_terms`: an earlier contract's target, say, by
    which the journal scores); one corrected only in when or why it was deactivated is not news.
    """
    tell = _Teller(step.staff_id, written, modules)
    # A deactivated KPI keeps its reason; a reactivated one has none left, so the journal is told
    # why the step reactivated it (a manager's reason, a role change).
    status_changes = [
        *(tell.change(h, h.reason) for h in changes.inserted if not h.is_active),
        *(tell.change(h, h.reason) for h in changes.deactivated),
        *(tell.change(h, step.reason) for h in changes.reactivated),
    ]
    return _announced(
        step,
        cause_event_id,
        [tell.parameters(h) for h in changes.inserted],
        status_changes,
        [tell.change(h, h.reason) for h in changes.restated_terms],
    )


def retold(
    step: domain.Step,
    cause_event_id: uuid.UUID | None,
    untold: Sequence[domain.Transition],
    restated: Sequence[domain.Holding],
    held: Mapping[uuid.UUID, StaffKpiRecord],
    modules: Mapping[uuid.UUID, ModuleFacts],
) -> list[events.Event]:
    """What a step that came out of order announces: each change of the person's story the
    journal was not told (`domain.untold`), under the step that made it (its cause, event and
    actor; dated when it happened in the story), then the other KPIs held on corrected terms.
    Every KPI is told with its terms as its row now stands (`held`), so one whose change is
    told needs no correction of its own."""
    tell = _Teller(step.staff_id, held, modules)
    changed = {t.holding.kpi_module_id for t in untold}
    restated = [h for h in restated if h.kpi_module_id not in changed]
    out: list[events.Event] = []
    for _, group in itertools.groupby(untold, key=lambda t: t.step.step_id):
        turns = list(group)
        made_by = turns[0].step
        out += _announced(
            made_by,
            cause_event_id if made_by.step_id == step.step_id else _event_of(made_by),
            [tell.parameters(t.holding) for t in turns if t.turn is domain.Turn.ASSIGNED],
            [
                tell.change(t.holding, _reason(t))
                for t in turns
                if t.turn is not domain.Turn.ASSIGNED
            ],
        )
    return out + _announced(
        step, cause_event_id, restated=[tell.change(h, h.reason) for h in restated]
    )


def _reason(t: domain.Transition) -> str | None:
    """Why a KPI changed status: a deactivated one keeps its reason; a reactivated one has none
    left, so the journal is told why the step reactivated it (a manager's reason, a role
    change)."""
    return t.holding.reason if t.turn is domain.Turn.DEACTIVATED else t.step.reason


def _event_of(step: domain.Step) -> uuid.UUID | None:
    """The lifecycle event a step was made from (its id is the event's), if it was one."""
    return step.step_id if domain.is_lifecycle_event(step) else None


def _announced(
    step: domain.Step,
    cause_event_id: uuid.UUID | None,
    assigned: Sequence[events.ScoringParameters] = (),
    changed: Sequence[events.KpiStatusChange] = (),
    restated: Sequence[events.KpiStatusChange] = (),
) -> list[events.Event]:
    """A step's announcements, one per kind that is not empty."""
    # What every announcement of the step says alike: whose, why, and who asked.
    about: dict[str, Any] = {
        "staff_id": step.staff_id,
        "cause": step.cause,
        "cause_event_id": cause_event_id,
        "actor": step.actor,
    }
    out: list[events.Event] = []
    if assigned:
        out.append(events.KpisAssigned(kpis=list(assigned), **about))
    if changed:
        out.append(events.KpiStatusChanged(changes=list(changed), **about))
    if restated:
        out.append(events.KpisRestated(kpis=list(restated), **about))
    return out


# ---------------------------------------------------------------- a module's new terms

# How many people's KPIs one transaction brings up to date: each person's lock is held to the
# end of it, and PostgreSQL's lock table is shared by every connection.
PEOPLE_PER_TRANSACTION = 500


@dataclass(frozen=True)
class Behind:
    """The active records of one module held on older terms, read under their people's locks."""

    module: ModuleFacts
    records: list[tuple[uuid.UUID, StaffKpiRecord]]  # (staff_id, record)


async def next_people_behind(uow: UnitOfWork, module_id: uuid.UUID) -> Behind | None:
    """Lock the next people holding the module on older terms, and read those records; None
    when nobody is behind (or the replica does not know the module)."""
    module = (await modules_by_id(uow.conn, [module_id])).get(module_id)
    if module is None:
        return None
    people = [
        row["staff_id"]
        for row in await uow.conn.fetch(
            queries.PEOPLE_BEHIND_MODULE, module_id, module.terms_version, PEOPLE_PER_TRANSACTION
        )
    ]
    if not people:
        return None
    await uow.conn.execute(queries.LOCK_PEOPLE, people)
    rows = await uow.conn.fetch(
        queries.RECORDS_BEHIND_MODULE, module_id, module.terms_version, people
    )
    return Behind(module, [(row["staff_id"], _record_of(row)) for row in rows])


async def bring_up_to_date(
    uow: UnitOfWork, behind: Behind, cause_event_id: uuid.UUID | None
) -> int:
    """Hold each record on its module's terms and tell the journal, one KpisRestated per person
    (its status unchanged: the journal rescores it, and moves its due day to a new frequency).
    Returns how many records moved."""
    moved = [
        (staff_id, replace(on_module_terms(r, behind.module), revision=r.revision + 1))
        for staff_id, r in behind.records
    ]
    records = [r for _, r in moved]
    await uow.conn.execute(
        queries.MOVE_TO_MODULE_TERMS,
        [r.id for r in records],
        [r.target_score for r in records],
        [r.minimum_score for r in records],
        [r.effort_weight for r in records],
        [r.revision for r in records],
        [r.module_terms_version for r in records],
    )
    await uow.publish(
        _module_updated(staff_id, r, behind.module, cause_event_id) for staff_id, r in moved
    )
    return len(moved)


def _module_updated(
    staff_id: uuid.UUID,
    record: StaffKpiRecord,
    module: ModuleFacts,
    cause_event_id: uuid.UUID | None,
) -> events.KpisRestated:
    """A KPI held on its module's new terms, as the journal is told it."""
    change = events.KpiStatusChange(
        staff_kpi_id=record.id,
        status=record.status,
        reason=None,
        changed_at=record.holding().changed_at,
        parameters=scoring_parameters(staff_id, record, module),
    )
    return events.KpisRestated(
        staff_id=staff_id,
        cause=Cause.MODULE_UPDATED,
        cause_event_id=cause_event_id,
        kpis=[change],
    )
