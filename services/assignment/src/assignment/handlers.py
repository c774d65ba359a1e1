"""Assignment use cases: apply lifecycle events and managers' actions to a person's KPIs, keep the
catalogue replica and the journal's scores current, and read staff KPIs for the API.

Every change to a person's KPIs goes through `_settle`, under that person's lock, in one
transaction with the events it causes (outbox) and the event that caused it (inbox).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import msgspec

from assignment import domain, queries
from assignment.schemas import StaffKpi, StaffKpiCreate
from kpi_contracts import events
from kpi_contracts.enums import Frequency, KpiSource, KpiStatus, RoleGroup, ScoreType
from kpi_contracts.schedule import next_due
from kpi_kit.consuming import Delivery, Rejected
from kpi_kit.db import Connection, Pool, Record
from kpi_kit.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from kpi_kit.outbox import Outbox, UnitOfWork, unit_of_work

log = logging.getLogger("kpi.assignment")

LIFECYCLE_CONSUMER = "assignment.lifecycle"
# How long a lifecycle event waits for the replica to learn of a module it names (the catalog's
# event may still be on its way) before it is dead-lettered as naming an unknown module.
CATALOG_CATCH_UP_DELAYS = (0.1, 0.3, 0.6, 1.0, 2.0, 2.0)

_encode_step = msgspec.json.Encoder().encode
_decode_step = msgspec.json.Decoder(domain.Step).decode


# ---------------------------------------------------------------- rows as values


@dataclass(frozen=True)
class ModuleFacts:
    """What assignment needs to know of one module of the replica."""

    catalog: domain.CatalogModule
    name: str
    score_type: ScoreType
    target_score: float
    minimum_score: float
    effort_weight: float
    evaluation_frequency: Frequency


def _facts_of(row: Record) -> ModuleFacts:
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
    )


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
    )


def _columns(records: Sequence[StaffKpiRecord]) -> list[list[Any]]:
    """The records as column arrays, in the order of queries._RECORD_COLUMNS."""
    return [
        [r.id for r in records],
        [r.kpi_module_id for r in records],
        [r.contract_id for r in records],
        [r.status.value for r in records],
        [r.source.value for r in records],
        [r.is_required for r in records],
        [r.custom_target for r in records],
        [r.target_score for r in records],
        [r.minimum_score for r in records],
        [r.effort_weight for r in records],
        [r.assigned_at for r in records],
        [r.next_evaluation_due for r in records],
        [r.deactivated_at for r in records],
        [r.deactivation_reason for r in records],
    ]


# ---------------------------------------------------------------- the one write path


class CatalogBehind(Exception):
    """A step names a module the replica does not know (yet)."""


async def _modules_by_id(
    conn: Connection, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, ModuleFacts]:
    rows = await conn.fetch(queries.MODULES_BY_ID, list(ids))
    return {row["id"]: _facts_of(row) for row in rows}


async def _person_records(
    conn: Connection, staff_id: uuid.UUID
) -> dict[uuid.UUID, StaffKpiRecord]:
    rows = await conn.fetch(queries.PERSON_RECORDS, staff_id)
    return {row["kpi_module_id"]: _record_of(row) for row in rows}


def _scoring_target(holding: domain.Holding, module: ModuleFacts) -> float:
    return module.target_score if holding.custom_target is None else holding.custom_target


def _records_after(
    changes: domain.Changes,
    records: Mapping[uuid.UUID, StaffKpiRecord],
    modules: Mapping[uuid.UUID, ModuleFacts],
) -> tuple[list[StaffKpiRecord], list[StaffKpiRecord]]:
    """The rows to insert and the rows to rewrite so the person holds what `changes` says."""
    inserted = []
    for h in changes.inserted:
        module = modules[h.kpi_module_id]
        inserted.append(
            StaffKpiRecord(
                id=uuid.uuid4(),
                kpi_module_id=h.kpi_module_id,
                contract_id=h.contract_id,
                status=h.status,
                source=h.source,
                is_required=h.is_required,
                custom_target=h.custom_target,
                target_score=_scoring_target(h, module),
                minimum_score=module.minimum_score,
                effort_weight=module.effort_weight,
                assigned_at=h.assigned_at,
                next_evaluation_due=next_due(h.assigned_at, module.evaluation_frequency),
                deactivated_at=None if h.is_active else h.changed_at,
                deactivation_reason=None if h.is_active else h.reason,
            )
        )
    rewritten = []
    for h in changes.deactivated:
        rewritten.append(
            replace(
                records[h.kpi_module_id],
                status=KpiStatus.INACTIVE,
                deactivated_at=h.changed_at,
                deactivation_reason=h.reason,
            )
        )
    for h in changes.reactivated:
        module = modules[h.kpi_module_id]
        rewritten.append(
            replace(
                records[h.kpi_module_id],
                status=KpiStatus.ACTIVE,
                source=h.source,
                is_required=h.is_required,
                custom_target=h.custom_target,
                contract_id=h.contract_id,
                target_score=_scoring_target(h, module),
                minimum_score=module.minimum_score,
                effort_weight=module.effort_weight,
                next_evaluation_due=next_due(h.changed_at, module.evaluation_frequency),
                deactivated_at=None,
                deactivation_reason=None,
            )
        )
    for h in changes.restated:
        record = records[h.kpi_module_id]
        module = modules[h.kpi_module_id]
        rewritten.append(
            replace(
                record,
                source=h.source,
                is_required=h.is_required,
                custom_target=h.custom_target,
                contract_id=h.contract_id,
                assigned_at=h.assigned_at,
                target_score=_scoring_target(h, module),
                next_evaluation_due=record.next_evaluation_due
                if record.last_evaluated_at
                else next_due(h.assigned_at, module.evaluation_frequency),
                deactivated_at=None if h.is_active else h.changed_at,
                deactivation_reason=None if h.is_active else h.reason,
            )
        )
    return inserted, rewritten


def _parameters(
    staff_id: uuid.UUID, record: StaffKpiRecord, module: ModuleFacts
) -> events.ScoringParameters:
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
    )


def _announcements(
    step: domain.Step,
    cause_event_id: uuid.UUID | None,
    changes: domain.Changes,
    written: Mapping[uuid.UUID, StaffKpiRecord],
    modules: Mapping[uuid.UUID, ModuleFacts],
) -> list[events.Event]:
    """One KpisAssigned and one KpiStatusChanged for the step (each only when not empty).

    New assignments (and parameters restated after an out-of-order arrival) go in KpisAssigned;
    deactivations and reactivations, including a new KPI that is born inactive because it
    arrived after the step that deactivated it, go in KpiStatusChanged.
    """
    staff_id = step.staff_id

    def parameters(h: domain.Holding) -> events.ScoringParameters:
        return _parameters(staff_id, written[h.kpi_module_id], modules[h.kpi_module_id])

    assigned = [parameters(h) for h in changes.inserted]
    assigned += [parameters(h) for h in changes.restated if h.is_active]
    status_changes = [
        events.KpiStatusChange(
            staff_kpi_id=written[h.kpi_module_id].id,
            status=h.status,
            reason=h.reason,
            changed_at=h.changed_at,
            parameters=parameters(h),
        )
        for h in (
            *(h for h in changes.inserted if not h.is_active),
            *changes.deactivated,
            *changes.reactivated,
        )
    ]
    out: list[events.Event] = []
    if assigned:
        out.append(
            events.KpisAssigned(
                staff_id=staff_id, cause=step.cause, kpis=assigned, cause_event_id=cause_event_id
            )
        )
    if status_changes:
        out.append(
            events.KpiStatusChanged(
                staff_id=staff_id,
                cause=step.cause,
                changes=status_changes,
                cause_event_id=cause_event_id,
            )
        )
    return out


async def _settle(
    uow: UnitOfWork,
    step: domain.Step,
    modules: dict[uuid.UUID, ModuleFacts],
    records: dict[uuid.UUID, StaffKpiRecord],
    cause_event_id: uuid.UUID | None = None,
) -> dict[uuid.UUID, StaffKpiRecord]:
    """Record a step of a person (whose lock is held) and write what it changes.

    A step no older than the person's newest is applied to what they hold now; an older one
    (delivered out of order) makes the person's whole record be replayed in occurred_at order,
    and the difference is written: inserts, deactivations, reactivations, never a deletion.
    Returns the person's records per module afterwards.
    """
    conn = uow.conn
    newest = await conn.fetchval(
        queries.RECORD_STEP, step.step_id, step.staff_id, step.occurred_at, step.cause.value,
        _encode_step(step).decode(),
    )
    actual = {module_id: record.holding() for module_id, record in records.items()}
    if domain.arrives_in_order(step, newest):
        desired = domain.apply(actual, step)
    else:
        rows = await conn.fetch(queries.PERSON_STEPS, step.staff_id)
        desired = domain.replay(_decode_step(row[0]) for row in rows)
        log.info("replayed %d steps of %s after an out-of-order %s", len(rows), step.staff_id,
                 step.cause)
    changes = domain.reconcile(actual, desired)
    if not changes:
        return records
    touched = {
        h.kpi_module_id
        for h in (*changes.inserted, *changes.deactivated, *changes.reactivated, *changes.restated)
    }
    if missing := touched - modules.keys():
        modules.update(await _modules_by_id(conn, missing))
    inserted, rewritten = _records_after(changes, records, modules)
    if inserted:
        await conn.execute(queries.INSERT_RECORDS, step.staff_id, *_columns(inserted))
    if rewritten:
        await conn.execute(queries.REWRITE_RECORDS, step.staff_id, *_columns(rewritten))
    written = {r.kpi_module_id: r for r in (*inserted, *rewritten)}
    await uow.publish(_announcements(step, cause_event_id, changes, written, modules))
    return records | written


# ---------------------------------------------------------------- lifecycle events


class ReplicaGate:
    """Holds lifecycle events back until the catalogue replica has been filled once."""

    def __init__(self) -> None:
        self._ready = False

    async def wait(self, pool: Pool) -> None:
        """Return once the replica holds modules; waits (never fails) while it is empty."""
        delay = 0.2
        while not self._ready:
            if await pool.fetchval(queries.REPLICA_HAS_MODULES):
                self._ready = True
                return
            log.warning("the catalogue replica is empty; waiting for the catalog's snapshot")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def _resolve(
    conn: Connection, event: events.LifecycleEvent
) -> tuple[domain.Step, dict[uuid.UUID, ModuleFacts]]:
    """The step an event is, resolved against the replica as it stands."""
    if isinstance(event, events.StaffExited):
        return domain.staff_exited(event), {}
    if isinstance(event, events.ContractCreated):
        groups = [event.role_group]
        named = list(event.kpi_selection.added_module_ids) if event.kpi_selection else []
    else:
        groups = [event.from_role_group, event.to_role_group]
        named = []
    template_id = event.template_id
    rows = await conn.fetch(queries.MODULES_FOR_STEP, groups, named, template_id)
    modules = {row["id"]: _facts_of(row) for row in rows}
    template = []
    if template_id is not None:
        template = [
            domain.TemplateChoice(row["kpi_module_id"], row["is_required"], row["custom_target"])
            for row in await conn.fetch(queries.TEMPLATE_CHOICES, template_id)
        ]
    unknown = {c.kpi_module_id for c in template} | set(named)
    if unknown := unknown - modules.keys():
        raise CatalogBehind(f"unknown KPI module(s) {', '.join(sorted(map(str, unknown)))}")
    catalog = [m.catalog for m in modules.values()]
    if isinstance(event, events.ContractCreated):
        return domain.contract_created(event, template, catalog), modules
    return domain.role_changed(event, template, catalog), modules


async def apply_lifecycle_event(
    pool: Pool,
    outbox: Outbox,
    gate: ReplicaGate,
    event: events.LifecycleEvent,
    delivery: Delivery,
    catch_up_delays: Sequence[float] = CATALOG_CATCH_UP_DELAYS,
) -> bool:
    """Apply a ContractCreated, RoleChanged or StaffExited once; False for a redelivery.

    An event naming a module the replica does not know is retried while the replica catches up,
    then rejected (dead-lettered with the reason).
    """
    await gate.wait(pool)
    for delay in (*catch_up_delays, None):
        try:
            return await _apply_once(pool, outbox, event, delivery)
        except CatalogBehind as exc:
            if delay is None:
                raise Rejected(str(exc)) from exc
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def _apply_once(
    pool: Pool, outbox: Outbox, event: events.LifecycleEvent, delivery: Delivery
) -> bool:
    async with unit_of_work(pool, outbox, delivery.headers) as uow:
        await uow.conn.execute(queries.LOCK_PERSON, event.staff_id)
        if not await uow.first_delivery(LIFECYCLE_CONSUMER, event.event_id):
            return False
        step, modules = await _resolve(uow.conn, event)
        records = await _person_records(uow.conn, event.staff_id)
        await _settle(uow, step, modules, records, cause_event_id=event.event_id)
    return True


# ---------------------------------------------------------------- managers' actions


def _now() -> datetime:
    return datetime.now(UTC)


async def _view(conn: Connection, staff_id: uuid.UUID, kpi_id: uuid.UUID) -> StaffKpi:
    row = await conn.fetchrow(queries.STAFF_KPI, staff_id, kpi_id)
    if row is None:
        raise NotFound(f"Staff member {staff_id} has no KPI {kpi_id}")
    return staff_kpi_from(row)


async def assign_manually(
    pool: Pool, outbox: Outbox, staff_id: uuid.UUID, data: StaffKpiCreate
) -> StaffKpi:
    """Assign one more KPI by hand (source manual); a module already active is a Conflict."""
    async with unit_of_work(pool, outbox) as uow:
        conn = uow.conn
        await conn.execute(queries.LOCK_PERSON, staff_id)
        modules = await _modules_by_id(conn, [data.kpi_module_id])
        module = modules.get(data.kpi_module_id)
        if module is None:
            raise Unprocessable(
                f"No KPI module {data.kpi_module_id}",
                [FieldError("kpi_module_id", "no KPI module has this id")],
            )
        if data.custom_target is not None and not domain.on_scale(
            module.score_type, data.custom_target
        ):
            raise Unprocessable(
                f"custom_target is off the {module.score_type} scale",
                [FieldError("custom_target", f"must be on the {module.score_type} scale")],
            )
        records = await _person_records(conn, staff_id)
        held = records.get(data.kpi_module_id)
        if held is not None and held.status == KpiStatus.ACTIVE:
            raise Conflict(f"{module.name} is already an active KPI of this staff member")
        step = domain.manual_assignment(
            uuid.uuid4(), staff_id, _now(), data.kpi_module_id, data.contract_id, data.custom_target
        )
        after = await _settle(uow, step, modules, records)
        return await _view(conn, staff_id, after[data.kpi_module_id].id)


async def change_status(
    pool: Pool,
    outbox: Outbox,
    staff_id: uuid.UUID,
    kpi_id: uuid.UUID,
    status: KpiStatus,
    reason: str | None,
    may_deactivate_required: bool,
) -> StaffKpi:
    """Deactivate or reactivate one KPI of a person; setting the status it has changes nothing."""
    async with unit_of_work(pool, outbox) as uow:
        conn = uow.conn
        await conn.execute(queries.LOCK_PERSON, staff_id)
        current = await _view(conn, staff_id, kpi_id)
        if current.status == status:
            return current
        if not domain.may_change_status(current.is_required, status, may_deactivate_required):
            raise Forbidden("A required KPI can only be deactivated by HR")
        records = await _person_records(conn, staff_id)
        if records[current.kpi_module_id].id != kpi_id:
            raise Conflict("A newer assignment of this module exists for this staff member")
        step = domain.status_change(
            uuid.uuid4(), staff_id, _now(), current.kpi_module_id, status, reason
        )
        await _settle(uow, step, {}, records)
        return await _view(conn, staff_id, kpi_id)


async def deactivate_all(
    pool: Pool, outbox: Outbox, staff_id: uuid.UUID, reason: str | None
) -> int:
    """Deactivate every active KPI of a person; returns how many."""
    async with unit_of_work(pool, outbox) as uow:
        conn = uow.conn
        await conn.execute(queries.LOCK_PERSON, staff_id)
        records = await _person_records(conn, staff_id)
        active = sum(r.status == KpiStatus.ACTIVE for r in records.values())
        if not active:
            return 0
        step = domain.all_deactivated(uuid.uuid4(), staff_id, _now(), reason)
        after = await _settle(uow, step, {}, records)
        return active - sum(r.status == KpiStatus.ACTIVE for r in after.values())


# ---------------------------------------------------------------- reads


def staff_kpi_from(row: Record) -> StaffKpi:
    """A staff KPI view (with its module) from a row of the view queries."""
    values = dict(row)
    module = {key[2:]: values.pop(key) for key in list(values) if key.startswith("m_")}
    module["id"] = values["kpi_module_id"]
    values["module"] = module
    return msgspec.convert(values, StaffKpi)


async def staff_kpis(pool: Pool, staff_id: uuid.UUID, include_inactive: bool) -> list[StaffKpi]:
    """A person's KPIs: active ones, or all of them with their history."""
    rows = await pool.fetch(queries.STAFF_KPIS, staff_id, include_inactive)
    return [staff_kpi_from(row) for row in rows]


async def evaluations_due(pool: Pool, before: datetime, limit: int) -> list[StaffKpi]:
    """Active staff KPIs whose next evaluation is due before a time, soonest first."""
    rows = await pool.fetch(queries.EVALUATIONS_DUE, before, limit)
    return [staff_kpi_from(row) for row in rows]


# ---------------------------------------------------------------- the catalogue replica


async def request_catalog_if_empty(pool: Pool, outbox: Outbox) -> bool:
    """Ask the catalog to republish everything when the replica is empty; True if asked."""
    if await pool.fetchval(queries.REPLICA_HAS_MODULES):
        return False
    await request_catalog(pool, outbox)
    return True


async def request_catalog(pool: Pool, outbox: Outbox) -> None:
    """Ask the catalog to republish every module and template (through the outbox)."""
    async with unit_of_work(pool, outbox) as uow:
        await uow.publish([events.CatalogSnapshotRequested(requested_by="assignment")])
    log.info("asked the catalog for a snapshot")


async def replicate(pool: Pool, event: events.CatalogEvent) -> bool:
    """Apply a catalog event to the replica when it is newer; replays change nothing."""
    if isinstance(event, events.ModuleUpserted):
        m = event.module
        applied = await pool.fetchval(
            queries.UPSERT_MODULE, m.id, m.name, m.slug, m.category.value,
            m.role_group.value if m.role_group else None, m.is_universal, m.objective,
            m.measurement_method, m.data_sources, m.automation_status.value, m.score_type.value,
            m.target_score, m.minimum_score, m.effort_weight, m.evaluation_frequency.value,
            m.coaching_tips, m.is_default_for_role, m.is_seed, m.display_order, m.is_archived,
            m.version,
        )
        return bool(applied)
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval(queries.ADVANCE_TEMPLATE, event.template_id, event.version):
            return False
        await conn.execute(queries.CLEAR_TEMPLATE_KPIS, event.template_id)
        kpis = event.kpis
        await conn.execute(
            queries.INSERT_TEMPLATE_KPIS,
            event.template_id,
            [k.kpi_module_id for k in kpis],
            [k.weight for k in kpis],
            [k.is_required for k in kpis],
            [k.custom_target for k in kpis],
            list(range(len(kpis))),
        )
    return True


# ---------------------------------------------------------------- scores from the journal


async def apply_score(pool: Pool, event: events.ScoreRecomputed) -> bool:
    """Keep a staff KPI's scores current; an older or repeated recompute changes nothing."""
    applied = await pool.fetchval(
        queries.APPLY_SCORE,
        event.staff_kpi_id,
        event.sequence,
        event.current_score,
        event.current_effort_score,
        event.previous_score,
        event.score_trend.value if event.score_trend else None,
        event.trend_percentage,
        event.growth_status.value if event.growth_status else None,
        event.last_evaluated_at,
        event.next_evaluation_due,
    )
    return bool(applied)
