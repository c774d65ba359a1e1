"""Catalog HTTP routes (interfaces §3): decode, check the role, call a handler, shape the view."""

from __future__ import annotations

import uuid
from contextlib import AbstractAsyncContextManager
from typing import Annotated

from litestar import Controller, get, patch, post, put
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from catalog import handlers
from catalog.schemas import (
    KpiModule,
    KpiModuleCreate,
    KpiModuleUpdate,
    TemplateKpi,
    TemplateKpisReplace,
)
from kpi_contracts import names
from kpi_contracts.enums import KpiCategory, Role, RoleGroup
from kpi_kit.auth import Caller, allow
from kpi_kit.service import Runtime, Services
from kpi_kit.views import without_scoring

READERS = (Role.MANAGER, Role.STAFF)


def _replicated(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    """A catalogue change answers once assignment's replica has it (or in 1 s): a contract
    published right after a template's PUT gets the template's KPIs, not the set before it."""
    return runtime.confirmations.awaited(names.MODULE_UPSERTED, names.TEMPLATE_KPIS_REPLACED)


class KpiModuleController(Controller):
    """The KPI module library (the KPI Gallery's data)."""

    path = "/api/v1/hr/kpi-modules"
    tags = ["kpi-modules"]

    @get("/", opt=allow(*READERS))
    async def list_modules(
        self,
        principal: Caller,
        runtime: Services,
        role_group: FromQuery[RoleGroup | None] = None,
        category: FromQuery[KpiCategory | None] = None,
        q: Annotated[
            str | None, QueryParameter(max_length=200, description="The name contains this")
        ] = None,
        text: Annotated[
            str | None,
            QueryParameter(max_length=200, description="The name or the objective contains this"),
        ] = None,
        include_archived: FromQuery[bool] = False,
    ) -> list[KpiModule]:
        """List modules by display order; `role_group` includes the five universal KPIs."""
        found = await handlers.list_modules(
            runtime.pool, role_group, category, include_archived, name=q, text=text
        )
        return [without_scoring(m) for m in found] if principal.is_staff_only else found

    @get("/{module_id:uuid}", opt=allow(*READERS))
    async def get_module(
        self, principal: Caller, runtime: Services, module_id: FromPath[uuid.UUID]
    ) -> KpiModule:
        """One module."""
        module = await handlers.get_module(runtime.pool, module_id)
        return without_scoring(module) if principal.is_staff_only else module

    @post("/", opt=allow(Role.HR_ADMIN))
    async def create_module(self, runtime: Services, data: JSONBody[KpiModuleCreate]) -> KpiModule:
        """Add a module (hr_admin)."""
        async with _replicated(runtime):
            return await handlers.create_module(runtime.pool, runtime.outbox, data)

    @patch("/{module_id:uuid}", opt=allow(Role.HR_ADMIN))
    async def update_module(
        self,
        runtime: Services,
        module_id: FromPath[uuid.UUID],
        data: JSONBody[KpiModuleUpdate],
    ) -> KpiModule:
        """Edit or archive a module (hr_admin); modules are never deleted."""
        async with _replicated(runtime):
            return await handlers.update_module(runtime.pool, runtime.outbox, module_id, data)


class TemplateKpiController(Controller):
    """The KPI sets of contract templates."""

    path = "/api/v1/hr/templates/{template_id:uuid}/kpis"
    tags = ["templates"]

    @get("/", opt=allow(Role.MANAGER))
    async def list_template_kpis(
        self, runtime: Services, template_id: FromPath[uuid.UUID]
    ) -> list[TemplateKpi]:
        """A template's KPIs with their modules (empty for an unknown template)."""
        return await handlers.template_kpis(runtime.pool, template_id)

    @put("/", opt=allow(Role.HR_ADMIN))
    async def replace_template_kpis(
        self,
        principal: Caller,
        runtime: Services,
        template_id: FromPath[uuid.UUID],
        data: JSONBody[TemplateKpisReplace],
    ) -> list[TemplateKpi]:
        """Replace a template's whole KPI set atomically (hr_admin)."""
        async with _replicated(runtime):
            return await handlers.replace_template_kpis(
                runtime.pool, runtime.outbox, template_id, data.kpis, principal.sub
            )
