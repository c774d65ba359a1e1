"""Assignment use cases: apply lifecycle events and managers' actions to a person's KPIs, keep the
catalogue replica and the journal's scores current, and read staff KPIs for the API.

Every change to a person's KPIs goes through `records.settle`, under that person's lock, in one
transaction with the events it causes (outbox) and the event that caused it (inbox).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from assignment import domain, queries, records, views
from assignment.schemas import StaffKpi, StaffKpiCreate
from kpi_contracts import events
from kpi_contracts.enums import KpiStatus, RoleGroup
from kpi_contracts.scales import custom_target_problem
from kpi_kit import cursors
from kpi_kit.consuming import Delivery, Rejected, first_copies
from kpi_kit.db import Connection, Pool, Record
from kpi_kit.errors import Conflict, FieldError, Forbidden, NotFound, Unprocessable
from kpi_kit.outbox import Outbox, UnitOfWork, unit_of_work

log = logging.getLogger("kpi.assignment")

LIFECYCLE_CONSUMER = "assignment.lifecycle"
# How long a lifecycle event waits for the replica to learn of a module it names (the catalog's
# event may still be on its way) before it is dead-lettered as naming an unknown module.
CATALOG_CATCH_UP_DELAYS = (0.1, 0.3, 0.6, 1.0, 2.0, 2.0)


class CatalogBehind(Exception):
    """A lifecycle event names a module the replica does not know (yet)."""


# ---------------------------------------------------------------- lifecycle events


class ReplicaGate:
    """Holds lifecycle events back until the catalogue replica is filled and has settled.

    A worker that starts on an empty replica asks for a snapshot (`app.fill_empty_replica`, which
    asks again while it stays empty); a contract applied while the snapshot is still arriving would
    miss defaults. The gate opens once the replica holds modules and took no write for `quiet`
    seconds, and then stays open: a restart on a filled replica opens it at once.
    """

    def __init__(self, quiet: float = 1.0) -> None:
        self._quiet = quiet
        self._open = False
        self._polling = asyncio.Lock()  # one poller; the other consumers wait on it

    async def wait(self, pool: Pool) -> None:
        """Return once the replica is ready; waits (never fails) while it is empty or filling."""
        if self._open:
            return
        async with self._polling:
            delay = 0.2
            while not self._open:
                if await pool.fetchval(queries.REPLICA_SETTLED, self._quiet):
                    self._open = True
                    return
                if not await pool.fetchval(queries.REPLICA_HAS_MODULES):
                    log.warning("the catalogue replica is empty; waiting for a snapshot")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


def _catalog_terms(event: events.LifecycleEvent) -> tuple[list[RoleGroup], list[uuid.UUID]]:
    """The role groups whose modules an event may touch, and the modules it names."""
    if isinstance(event, events.ContractCreated):
        named = list(event.kpi_selection.added_module_ids) if event.kpi_selection else []
        return [event.role_group], named
    if isinstance(event, events.RoleChanged):
        return [event.from_role_group, event.to_role_group], []
    return [], []


@dataclass
class Catalogue:
    """The replica's modules and template KPIs that lifecycle steps are resolved against."""

    modules: dict[uuid.UUID, records.ModuleFacts]
    templates: dict[uuid.UUID, list[domain.TemplateChoice]]
    """Each template's KPIs in order, including any whose module the replica does not know."""
    catalog: list[domain.CatalogModule] = field(init=False)
    """The modules as the rules see them."""

    def __post_init__(self) -> None:
        self.catalog = [m.catalog for m in self.modules.values()]


def catalogue_of(rows: Sequence[Record]) -> Catalogue:
    """The catalogue in the rows BEGIN_LIFECYCLE_EVENT read."""
    modules = {row["module_id"]: records.module_facts(row) for row in rows if row["known"]}
    return Catalogue(modules, _templates_of(row for row in rows if row["template_id"]))


def _templates_of(rows: Iterable[Record]) -> dict[uuid.UUID, list[domain.TemplateChoice]]:
    templates: dict[uuid.UUID, list[domain.TemplateChoice]] = {}
    for row in sorted(rows, key=lambda row: row["template_position"]):
        templates.setdefault(row["template_id"], []).append(
            domain.TemplateChoice(
                row["module_id"], row["template_required"], row["template_target"]
            )
        )
    return templates


class CatalogueCache:
    """The whole replica as a worker last read it, for its batches of lifecycle events.

    Kept while the replica's stamp (queries.REPLICA_STAMP, read at the start of each batch) is
    unchanged; templates are read as batches name them. What is read after the stamp is at least
    as new as it, so a stamp never vouches for older facts.
    """

    def __init__(self) -> None:
        self._stamp: str | None = None
        self._catalogue = Catalogue({}, {})

    async def read(
        self, conn: Connection, stamp: str, template_ids: Iterable[uuid.UUID]
    ) -> Catalogue:
        """The catalogue at `stamp` or later, holding the templates asked for."""
        catalogue = self._catalogue
        if stamp != self._stamp:
            rows = await conn.fetch(queries.REPLICA_MODULES)
            catalogue = Catalogue({row["id"]: records.module_facts(row) for row in rows}, {})
            self._stamp, self._catalogue = stamp, catalogue
        if missing := set(template_ids) - catalogue.templates.keys():
            rows = await conn.fetch(queries.TEMPLATE_KPIS, list(missing))
            catalogue.templates.update({t: [] for t in missing} | _templates_of(rows))
        return catalogue


def _step_of(event: events.LifecycleEvent, catalogue: Catalogue) -> domain.Step:
    """The step an event is, resolved against the catalogue.

    The catalogue may hold more modules than the event's role groups have (a batch reads them
    all): the rules pick the groups' own, and the catalog keeps universal modules, and only they,
    without a role group.
    """
    if isinstance(event, events.StaffExited):
        return domain.staff_exited(event)
    _, named = _catalog_terms(event)
    template = catalogue.templates.get(event.template_id, []) if event.template_id else []
    wanted = {choice.kpi_module_id for choice in template} | set(named)
    if unknown := wanted - catalogue.modules.keys():
        raise CatalogBehind(f"unknown KPI module(s) {', '.join(sorted(map(str, unknown)))}")
    if isinstance(event, events.ContractCreated):
        return domain.contract_created(event, template, catalogue.catalog)
    return domain.role_changed(event, template, catalogue.catalog)


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
    groups, named = _catalog_terms(event)
    template_id = None if isinstance(event, events.StaffExited) else event.template_id
    async with unit_of_work(pool, outbox, delivery.headers) as uow:
        await uow.conn.execute(queries.SHARE_TERMS)
        rows = await uow.conn.fetch(
            queries.BEGIN_LIFECYCLE_EVENT,
            event.staff_id,
            event.event_id,
            groups,
            named,
            template_id,
            LIFECYCLE_CONSUMER,
        )
        if not rows[0]["first_delivery"]:
            return False
        catalogue = catalogue_of(rows)
        step = _step_of(event, catalogue)
        await records.settle(uow, step, catalogue.modules, event.event_id, delivery.headers)
    return True


async def apply_lifecycle_batch(
    pool: Pool,
    outbox: Outbox,
    gate: ReplicaGate,
    cache: CatalogueCache,
    items: Sequence[tuple[events.LifecycleEvent, Delivery]],
) -> list[bool]:
    """Apply lifecycle events in one transaction; per event, False for a redelivery.

    Each event ends as `apply_lifecycle_event` leaves it. Those that are their person's only one
    in the batch and arrive in order are settled together in a few statements; the others (a
    person's second event, a late arrival to replay) one at a time after them, in batch order.
    An event naming a module the replica does not know raises CatalogBehind: the consumer then
    applies the batch one event at a time, where the catch-up delays and dead letters apply.
    """
    await gate.wait(pool)
    async with unit_of_work(pool, outbox) as uow:
        await uow.conn.execute(queries.SHARE_TERMS)
        first = await uow.conn.fetch(
            queries.BEGIN_LIFECYCLE_BATCH,
            [event.staff_id for event, _ in items],
            [event.event_id for event, _ in items],
            LIFECYCLE_CONSUMER,
        )
        applied = first_copies([event.event_id for event, _ in items], {r[0] for r in first})
        todo = [item for item, fresh in zip(items, applied, strict=True) if fresh]
        if todo:
            templates = [e.template_id for e, _ in todo if not isinstance(e, events.StaffExited)]
            catalogue = await cache.read(uow.conn, first[0]["replica"], filter(None, templates))
            await _settle_batch(uow, catalogue, todo)
    return applied


async def _settle_batch(
    uow: UnitOfWork, catalogue: Catalogue, items: Sequence[tuple[events.LifecycleEvent, Delivery]]
) -> None:
    steps = [_step_of(event, catalogue) for event, _ in items]
    held = await records.people(uow.conn, {step.staff_id for step in steps})
    together = domain.settled_together(steps, {p: person.story for p, person in held.items()})
    await records.settle_in_order(
        uow,
        [
            records.Arrival(step, event.event_id, delivery.headers)
            for step, (event, delivery), now in zip(steps, items, together, strict=True)
            if now
        ],
        held,
        catalogue.modules,
    )
    for step, (event, delivery), now in zip(steps, items, together, strict=True):
        if not now:  # settle adds to the modules it is given: not to the cached ones
            modules = dict(catalogue.modules)
            await records.settle(uow, step, modules, event.event_id, delivery.headers)


# ---------------------------------------------------------------- managers' actions


def _now() -> datetime:
    return datetime.now(UTC)


async def _view(
    conn: Connection, module_views: views.ModuleViews, staff_id: uuid.UUID, kpi_id: uuid.UUID
) -> StaffKpi:
    row = await conn.fetchrow(queries.STAFF_KPI, staff_id, kpi_id)
    if row is None:
        raise NotFound(f"Staff member {staff_id} has no KPI {kpi_id}")
    return (await views.views_of(conn, module_views, [row]))[0]


async def assign_manually(
    pool: Pool,
    outbox: Outbox,
    module_views: views.ModuleViews,
    staff_id: uuid.UUID,
    data: StaffKpiCreate,
    *,
    actor: str,
) -> StaffKpi:
    """Assign one more KPI by hand (source manual); a module already active is a Conflict."""
    async with unit_of_work(pool, outbox) as uow:
        conn = uow.conn
        await records.lock_person(conn, staff_id)
        modules = await records.modules_by_id(conn, [data.kpi_module_id])
        module = modules.get(data.kpi_module_id)
        if module is None:
            raise Unprocessable(
                f"No KPI module {data.kpi_module_id}",
                [FieldError("kpi_module_id", "no KPI module has this id")],
            )
        if data.custom_target is not None and (
            wrong := custom_target_problem(
                module.score_type, module.minimum_score, data.custom_target
            )
        ):
            raise Unprocessable(f"custom_target {wrong}", [FieldError("custom_target", wrong)])
        held = (await records.person_records(conn, staff_id)).get(data.kpi_module_id)
        if held is not None and held.is_active:
            raise Conflict(f"{module.name} is already an active KPI of this staff member")
        step = domain.manual_assignment(
            uuid.uuid4(),
            staff_id,
            _now(),
            data.kpi_module_id,
            data.contract_id,
            data.custom_target,
            actor=actor,
        )
        after = await records.settle(uow, step, modules)
        return await _view(conn, module_views, staff_id, after[data.kpi_module_id].id)


async def change_status(
    pool: Pool,
    outbox: Outbox,
    module_views: views.ModuleViews,
    staff_id: uuid.UUID,
    kpi_id: uuid.UUID,
    status: KpiStatus,
    reason: str | None,
    *,
    may_deactivate_required: bool,
    actor: str,
) -> StaffKpi:
    """Deactivate or reactivate one KPI of a person; setting the status it has changes nothing."""
    async with unit_of_work(pool, outbox) as uow:
        conn = uow.conn
        await records.lock_person(conn, staff_id)
        current = await _view(conn, module_views, staff_id, kpi_id)
        if current.status == status:
            return current
        if not domain.may_change_status(current.is_required, status, may_deactivate_required):
            raise Forbidden("A required KPI can only be deactivated by HR")
        held = (await records.person_records(conn, staff_id))[current.kpi_module_id]
        if held.id != kpi_id:
            raise Conflict("A newer assignment of this module exists for this staff member")
        step = domain.status_change(
            uuid.uuid4(), staff_id, _now(), current.kpi_module_id, status, reason, actor=actor
        )
        await records.settle(uow, step, {})
        return await _view(conn, module_views, staff_id, kpi_id)


async def deactivate_all(
    pool: Pool, outbox: Outbox, staff_id: uuid.UUID, reason: str | None, *, actor: str
) -> int:
    """Deactivate every active KPI of a person; returns how many."""
    async with unit_of_work(pool, outbox) as uow:
        conn = uow.conn
        await records.lock_person(conn, staff_id)
        before = await records.person_records(conn, staff_id)
        active = sum(r.is_active for r in before.values())
        if not active:
            return 0
        step = domain.all_deactivated(uuid.uuid4(), staff_id, _now(), reason, actor=actor)
        after = await records.settle(uow, step, {})
        still_active: int = sum(r.is_active for r in after.values())
        return active - still_active


# ---------------------------------------------------------------- reads


async def staff_kpis(
    pool: Pool, module_views: views.ModuleViews, staff_id: uuid.UUID, status: str
) -> list[StaffKpi]:
    """A person's KPIs of a status (`active` or `inactive`), or `all` of them with their history."""
    rows = await pool.fetch(queries.STAFF_KPIS, staff_id, status)
    return await views.views_of(pool, module_views, rows)


async def evaluations_due(
    pool: Pool, module_views: views.ModuleViews, before: datetime, limit: int, cursor: str | None
) -> tuple[list[StaffKpi], str | None]:
    """A page of the active staff KPIs due before a time, soonest first, and the cursor of the
    next page (None on the last); one more row fetched tells whether another follows."""
    due_from, after_id = cursors.read_cursor(cursor, cursors.LOWEST)
    rows = await pool.fetch(queries.EVALUATIONS_DUE, before, limit + 1, due_from, after_id)
    page = await views.views_of(pool, module_views, rows[:limit])
    if len(rows) <= limit:
        return page, None
    last = rows[limit - 1]
    return page, cursors.cursor_after(last["next_evaluation_due"], last["id"])


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


async def bring_holders_up_to_date(
    pool: Pool,
    outbox: Outbox,
    module_id: uuid.UUID,
    cause_event_id: uuid.UUID | None = None,
    *,
    terms_just_changed: bool = False,
) -> int:
    """Hold every active KPI of a module on the module's terms as the replica has them, a few
    hundred people per transaction, and announce each; returns how many KPIs moved. Right after
    the replica took new terms, first waits for the writers that may have read the old ones."""
    if terms_just_changed:  # records written from older terms are then committed, and found
        await pool.execute(queries.AWAIT_TERMS_READERS)
    moved = 0
    while True:
        async with unit_of_work(pool, outbox) as uow:
            behind = await records.next_people_behind(uow, module_id)
            if behind is None:
                break
            moved += await records.bring_up_to_date(uow, behind, cause_event_id)
    if moved:
        log.info("%d staff KPIs now held on the new terms of module %s", moved, module_id)
    return moved


async def bring_every_module_up_to_date(pool: Pool, outbox: Outbox) -> int:
    """bring_holders_up_to_date for every module some active KPI is behind (a worker's start:
    a stop half way)."""
    ahead = [row["id"] for row in await pool.fetch(queries.MODULES_AHEAD_OF_HOLDERS)]
    return sum([await bring_holders_up_to_date(pool, outbox, module_id) for module_id in ahead])


async def replicate(pool: Pool, outbox: Outbox, event: events.CatalogEvent) -> bool:
    """Apply a catalog event to the replica when it is newer; replays change nothing. A module
    whose terms changed is then held on them by everyone who holds it actively."""
    if isinstance(event, events.ModuleUpserted):
        m = event.module
        new_terms = await pool.fetchval(
            queries.UPSERT_MODULE,
            m.id,
            m.name,
            m.slug,
            m.category.value,
            m.role_group.value if m.role_group else None,
            m.is_universal,
            m.objective,
            m.measurement_method,
            m.data_sources,
            m.automation_status,
            m.score_type.value,
            m.target_score,
            m.minimum_score,
            m.effort_weight,
            m.evaluation_frequency.value,
            m.coaching_tips,
            m.is_default_for_role,
            m.is_seed,
            m.display_order,
            m.is_archived,
            m.version,
        )
        # Also on a redelivery: a worker stopped half way through the holders resumes. Only new
        # terms (None: a version the replica has; False: tips, order, ...) wait for writers.
        await bring_holders_up_to_date(
            pool, outbox, m.id, event.event_id, terms_just_changed=bool(new_terms)
        )
        return new_terms is not None
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


async def apply_scores(
    pool: Pool, items: Sequence[tuple[events.ScoreRecomputed, Delivery]]
) -> list[bool]:
    """`apply_score` for a batch in one statement; per event, whether it was applied.

    Of several recomputes of one staff KPI only the highest sequence is written; the others read
    as not applied, like an older recompute that arrives after a newer one.
    """
    scores = [event for event, _ in items]
    rows = await pool.fetch(
        queries.APPLY_SCORES,
        [e.staff_kpi_id for e in scores],
        [e.sequence for e in scores],
        [e.current_score for e in scores],
        [e.current_effort_score for e in scores],
        [e.previous_score for e in scores],
        [e.score_trend.value if e.score_trend else None for e in scores],
        [e.trend_percentage for e in scores],
        [e.growth_status.value if e.growth_status else None for e in scores],
        [e.last_evaluated_at for e in scores],
        [e.next_evaluation_due for e in scores],
    )
    written = {(row["id"], row["sequence"]) for row in rows}
    applied = []
    for e in scores:
        applied.append((e.staff_kpi_id, e.sequence) in written)
        written.discard((e.staff_kpi_id, e.sequence))  # an equal one after it changed nothing
    return applied
