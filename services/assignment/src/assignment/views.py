"""Staff KPI views as the API shows them: each row of the view queries with its module.

A view query reads a KPI's own columns and its module's id and version; the module's part (its
long texts, the same for every KPI of the module) is held per runtime by `ModuleViews`.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import msgspec

from assignment import queries
from assignment.schemas import StaffKpi, StaffKpiModule
from kpi_kit.db import Connection, Pool, Record

ModuleKey = tuple[uuid.UUID, int]
"""A module's id and version in the replica."""


class ModuleViews:
    """The module parts of staff KPI views by module id and version, as last read from the replica.

    Every KPI of a module repeats its long texts: a view query reads only the module's id and
    version, and the texts come from here. An entry never goes stale, as the replica only ever
    takes a newer version of a module (queries.UPSERT_MODULE). One per runtime (its own pool).
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._limit = limit  # modules number hundreds to a few thousand: cleared past it
        self._views: dict[ModuleKey, StaffKpiModule] = {}

    async def of(
        self, conn: Pool | Connection, keys: Iterable[ModuleKey]
    ) -> dict[ModuleKey, StaffKpiModule]:
        """The module views of `keys`, reading the ones not held in one query.

        A module upserted since its key was read is read at its newer version, which its view
        then shows."""
        held = {key: self._views.get(key) for key in keys}
        if missing := {key for key, view in held.items() if view is None}:
            rows = await conn.fetch(
                queries.MODULE_VIEWS, list({module_id for module_id, _ in missing})
            )
            read = {row["id"]: (row["version"], module_view(row)) for row in rows}
            if len(self._views) + len(read) > self._limit:
                self._views.clear()
            self._views.update({(m, version): view for m, (version, view) in read.items()})
            held.update({key: read[key[0]][1] for key in missing})
        return cast(dict[ModuleKey, StaffKpiModule], held)


def module_view(row: Record) -> StaffKpiModule:
    """The module part of staff KPI views from a row of queries.MODULE_VIEWS."""
    return msgspec.convert(dict(row.items()), StaffKpiModule)


@functools.cache
def _view_fields(columns: tuple[str, ...]) -> tuple[str, ...]:
    """The staff KPI fields a view row starts with; it ends with its module's version."""
    if columns[-1:] != ("module_version",):
        raise ValueError(f"a view query selects its module's version last: {columns}")
    return columns[:-1]


def module_keys(rows: Sequence[Record]) -> set[ModuleKey]:
    """The modules (id and version) the rows of the view queries show."""
    return {(row["kpi_module_id"], row["module_version"]) for row in rows}


def staff_kpis_from(
    rows: Sequence[Record], modules: Mapping[ModuleKey, StaffKpiModule]
) -> list[StaffKpi]:
    """Staff KPI views from rows of the view queries, each with its module from `modules`.

    Dicts zipped from the rows' values and converted in one call: taking each row apart by its
    keys cost about as much CPU as the query's own decoding, and 40 % more than this."""
    if not rows:
        return []
    fields = _view_fields(tuple(rows[0].keys()))
    views = []
    for row in rows:
        view: dict[str, Any] = dict(zip(fields, row, strict=False))
        view["module"] = modules[view["kpi_module_id"], row[-1]]
        views.append(view)
    return msgspec.convert(views, list[StaffKpi])


async def views_of(
    conn: Pool | Connection, module_views: ModuleViews, rows: Sequence[Record]
) -> list[StaffKpi]:
    """Staff KPI views of rows of the view queries, with their modules."""
    return staff_kpis_from(rows, await module_views.of(conn, module_keys(rows)))
