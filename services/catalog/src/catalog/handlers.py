"""Catalog use cases: read the library, change it, replace a template's KPI set."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import msgspec

from catalog import domain, queries
from catalog.schemas import (
    KpiModule,
    KpiModuleCreate,
    KpiModuleUpdate,
    TemplateKpi,
    TemplateKpiInput,
)
from kpi_contracts import events
from kpi_contracts.enums import KpiCategory, RoleGroup, ScoreType
from kpi_kit.db import Pool
from kpi_kit.errors import Conflict, FieldError, NotFound, Unprocessable
from kpi_kit.outbox import Outbox, unit_of_work


def module_from(row: asyncpg.Record | dict[str, Any]) -> KpiModule:
    """A module view from a row."""
    return msgspec.convert(dict(row), KpiModule)


def snapshot_of(module: KpiModule) -> events.ModuleSnapshot:
    """The event form of a module."""
    return msgspec.convert(msgspec.to_builtins(module), events.ModuleSnapshot, strict=False)


def _raise_problems(problems: Sequence[domain.Problem]) -> None:
    if problems:
        raise Unprocessable(
            problems[0].message if len(problems) == 1 else "The request breaks several rules",
            [FieldError(p.field, p.message) for p in problems],
        )


async def list_modules(
    pool: Pool,
    role_group: RoleGroup | None,
    category: KpiCategory | None,
    include_archived: bool,
    *,
    name: str | None = None,
    text: str | None = None,
) -> list[KpiModule]:
    """The library in display order; a role group's list includes the universal KPIs.

    `name` narrows it to names containing it (the contract's `?q=`), `text` to names or
    objectives containing it (the gallery's search); both taken literally, any case.
    """
    rows = await pool.fetch(
        queries.LIST_MODULES,
        role_group,
        category,
        _containing(name),
        include_archived,
        _containing(text),
    )
    return [module_from(row) for row in rows]


def _containing(fragment: str | None) -> str | None:
    """An ILIKE pattern matching values that contain `fragment` as typed (% and _ included)."""
    if not fragment:
        return None
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def get_module(pool: Pool, module_id: uuid.UUID) -> KpiModule:
    """One module, or NotFound."""
    row = await pool.fetchrow(queries.GET_MODULE, module_id)
    if row is None:
        raise NotFound(f"No KPI module {module_id}")
    return module_from(row)


def _module_columns(module: Mapping[str, Any]) -> tuple[Any, ...]:
    """INSERT_MODULE's parameters, in its order (UPDATE_MODULE takes the same, then the id)."""
    return (
        module["name"],
        module["slug"],
        module["category"],
        module["role_group"],
        module["role_group"] is None,
        module["objective"],
        module["measurement_method"],
        module["data_sources"],
        module["automation_status"],
        module["score_type"],
        module["target_score"],
        module["minimum_score"],
        module["effort_weight"],
        module["evaluation_frequency"],
        module["coaching_tips"],
        module["is_default_for_role"],
        module["is_seed"],
        module["display_order"],
        module["is_archived"],
    )


def _scale(module: Mapping[str, Any] | asyncpg.Record) -> domain.ModuleScale:
    return domain.ModuleScale(ScoreType(module["score_type"]), module["minimum_score"])


def _module_problems(module: Mapping[str, Any]) -> list[domain.Problem]:
    """What is wrong with a module as it would be written: its naming and its scoring."""
    return domain.naming_problems(module["name"], module["slug"]) + domain.module_problems(
        ScoreType(module["score_type"]),
        module["target_score"],
        module["minimum_score"],
        module["effort_weight"],
    )


async def create_module(pool: Pool, outbox: Outbox, data: KpiModuleCreate) -> KpiModule:
    """Add a module to the library and announce it."""
    new = msgspec.structs.asdict(data) | {"slug": data.slug or domain.slugify(data.name)}
    _raise_problems(_module_problems(new))
    async with unit_of_work(pool, outbox) as uow:
        # The unique slug decides, so two creates racing for one slug get a 409, not a 500.
        try:
            row = await uow.conn.fetchrow(queries.INSERT_MODULE, *_module_columns(new))
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"A module with slug {new['slug']!r} exists", [FieldError("slug", "taken")]
            ) from None
        assert row is not None  # INSERT ... RETURNING always returns the row
        module = module_from(row)
        await uow.publish([events.ModuleUpserted(module=snapshot_of(module))])
    return module


async def update_module(
    pool: Pool, outbox: Outbox, module_id: uuid.UUID, patch: KpiModuleUpdate
) -> KpiModule:
    """Change (or archive) a module; never deletes. Announces the new version."""
    async with unit_of_work(pool, outbox) as uow:
        row = await uow.conn.fetchrow(queries.LOCK_MODULE, module_id)
        if row is None:
            raise NotFound(f"No KPI module {module_id}")
        current = dict(row)
        changes = {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
        edited = current | changes
        if edited == current:  # nothing to change: no new version, nothing to announce
            return module_from(row)
        targets = [row[0] for row in await uow.conn.fetch(queries.TEMPLATE_TARGETS, module_id)]
        _raise_problems(
            _module_problems(edited)
            # a refused change of scale strands no template's target: one problem, not two
            + (
                domain.scale_change_problems(_scale(current), _scale(edited))
                or domain.template_targets_problems(_scale(current), _scale(edited), targets)
            )
        )
        updated = await uow.conn.fetchrow(
            queries.UPDATE_MODULE, *_module_columns(edited), module_id
        )
        assert updated is not None  # the row is locked above
        module = module_from(updated)
        await uow.publish([events.ModuleUpserted(module=snapshot_of(module))])
    return module


def template_kpi_from(row: asyncpg.Record) -> TemplateKpi:
    """A template KPI view from a row of TEMPLATE_KPIS."""
    values = dict(row)
    return TemplateKpi(
        id=values.pop("template_kpi_id"),
        template_id=values.pop("template_id"),
        kpi_module_id=values["id"],
        weight=values.pop("weight"),
        is_required=values.pop("is_required"),
        custom_target=values.pop("custom_target"),
        module=module_from(values),
    )


async def template_kpis(pool: Pool, template_id: uuid.UUID) -> list[TemplateKpi]:
    """A template's KPIs with their modules; an unknown template has none."""
    return [template_kpi_from(row) for row in await pool.fetch(queries.TEMPLATE_KPIS, template_id)]


async def replace_template_kpis(
    pool: Pool, outbox: Outbox, template_id: uuid.UUID, kpis: Sequence[TemplateKpiInput], actor: str
) -> list[TemplateKpi]:
    """Replace a template's whole KPI set atomically and announce it."""
    choices = [
        domain.TemplateKpiChoice(k.kpi_module_id, k.weight, k.is_required, k.custom_target)
        for k in kpis
    ]
    async with unit_of_work(pool, outbox) as uow:
        conn = uow.conn
        known = await conn.fetch(queries.MODULE_SCALES, [c.kpi_module_id for c in choices])
        _raise_problems(
            domain.template_problems(choices, {row["id"]: _scale(row) for row in known})
        )
        await conn.execute(queries.LOCK_TEMPLATE, template_id)
        await conn.execute(queries.DELETE_TEMPLATE_KPIS, template_id)
        await conn.executemany(
            queries.INSERT_TEMPLATE_KPI,
            [
                (template_id, c.kpi_module_id, c.weight, c.is_required, c.custom_target, i)
                for i, c in enumerate(choices)
            ],
        )
        version = await conn.fetchval(queries.BUMP_TEMPLATE_VERSION, template_id, actor)
        await uow.publish([_replaced(template_id, version, choices)])
        rows = await conn.fetch(queries.TEMPLATE_KPIS, template_id)
    return [template_kpi_from(row) for row in rows]


def _replaced(
    template_id: uuid.UUID, version: int, choices: Sequence[domain.TemplateKpiChoice]
) -> events.TemplateKpisReplaced:
    """The announcement of a template's new KPI set."""
    return events.TemplateKpisReplaced(
        template_id=template_id,
        version=version,
        kpis=[
            events.TemplateKpi(
                kpi_module_id=c.kpi_module_id,
                weight=c.weight,
                is_required=c.is_required,
                custom_target=c.custom_target,
            )
            for c in choices
        ],
    )


async def publish_snapshot(pool: Pool, outbox: Outbox) -> tuple[int, int]:
    """Republish every module and template so a new replica can build its copy."""
    async with unit_of_work(pool, outbox) as uow:
        modules = [module_from(row) for row in await uow.conn.fetch(queries.ALL_MODULES)]
        templates = await uow.conn.fetch(queries.ALL_TEMPLATES)
        await uow.publish(events.ModuleUpserted(module=snapshot_of(m)) for m in modules)
        await uow.publish(
            _replaced(
                row["template_id"],
                row["version"],
                [
                    domain.TemplateKpiChoice(*choice)
                    for choice in zip(
                        row["module_ids"],
                        row["weights"],
                        row["required"],
                        row["targets"],
                        strict=True,
                    )
                ],
            )
            for row in templates
        )
    return len(modules), len(templates)


async def answer_snapshot_request(
    pool: Pool, outbox: Outbox, request: events.CatalogSnapshotRequested
) -> bool:
    """Republish the catalogue once per request, however often the request is delivered."""
    async with unit_of_work(pool, outbox) as uow:
        if not await uow.first_delivery("catalog.snapshot", request.event_id):
            return False
    await publish_snapshot(pool, outbox)
    return True
