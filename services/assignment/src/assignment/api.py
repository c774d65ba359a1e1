"""Assignment HTTP routes (interfaces §3): decode, check the role, call a handler, shape a view."""

from __future__ import annotations

import re
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from litestar import Controller, Response, get, patch, post
from litestar.datastructures import ResponseHeader
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED

from assignment import handlers, views
from assignment.schemas import (
    KpisDeactivated,
    KpisDeactivation,
    StaffKpi,
    StaffKpiCreate,
    StaffKpiStatusUpdate,
)
from kpi_contracts import names
from kpi_contracts.enums import Role
from kpi_kit.auth import Caller, Principal, allow
from kpi_kit.errors import BadRequest, FieldError
from kpi_kit.service import Runtime, Services
from kpi_kit.views import without_scoring


def _module_views(runtime: Runtime) -> views.ModuleViews:
    return runtime.held(views.ModuleViews)


def _journaled(runtime: Runtime) -> AbstractAsyncContextManager[None]:
    """A manager's change answers once the journal has its status_change entry (or in 1 s)."""
    return runtime.confirmations.awaited(names.KPI_ASSIGNED, names.KPI_STATUS_CHANGED)


def _shown(principal: Principal, kpis: list[StaffKpi]) -> list[StaffKpi]:
    return [without_scoring(k) for k in kpis] if principal.is_staff_only else kpis


class StaffKpiController(Controller):
    """A person's KPIs: the Staff Detail page's KPI tab and the contracting wizard's KPI step."""

    path = "/api/v1/hr/staff/{staff_id:uuid}"
    tags = ["staff-kpis"]

    @get("/kpis", opt=allow(Role.MANAGER, Role.STAFF, own_person=True))
    async def list_staff_kpis(
        self,
        principal: Caller,
        runtime: Services,
        staff_id: FromPath[uuid.UUID],
        status: Annotated[
            str,
            QueryParameter(
                name="status",
                pattern="^(all|active|inactive)$",
                description="active (the default), all, or inactive: the ones they held before",
            ),
        ] = "active",
    ) -> list[StaffKpi]:
        """A person's active KPIs, each with its module; `?status=all` includes inactive ones."""
        kpis = await handlers.staff_kpis(runtime.pool, _module_views(runtime), staff_id, status)
        return _shown(principal, kpis)

    @post("/kpis", status_code=HTTP_201_CREATED, opt=allow(Role.MANAGER))
    async def assign_kpi(
        self,
        principal: Caller,
        runtime: Services,
        staff_id: FromPath[uuid.UUID],
        data: JSONBody[StaffKpiCreate],
    ) -> StaffKpi:
        """Assign a KPI by hand (source manual); one already active for the person is a 409."""
        async with _journaled(runtime):
            return await handlers.assign_manually(
                runtime.pool,
                runtime.outbox,
                _module_views(runtime),
                staff_id,
                data,
                actor=principal.sub,
            )

    @patch("/kpis/{kpi_id:uuid}/status", opt=allow(Role.MANAGER))
    async def change_status(
        self,
        principal: Caller,
        runtime: Services,
        staff_id: FromPath[uuid.UUID],
        kpi_id: FromPath[uuid.UUID],
        data: JSONBody[StaffKpiStatusUpdate],
    ) -> StaffKpi:
        """Deactivate or reactivate one KPI; only HR may deactivate a required one."""
        async with _journaled(runtime):
            return await handlers.change_status(
                runtime.pool,
                runtime.outbox,
                _module_views(runtime),
                staff_id,
                kpi_id,
                data.status,
                data.reason,
                may_deactivate_required=Role.HR_ADMIN in principal.roles,
                actor=principal.sub,
            )

    @post("/deactivate-kpis", status_code=HTTP_200_OK, opt=allow(Role.HR_ADMIN))
    async def deactivate_kpis(
        self,
        principal: Caller,
        runtime: Services,
        staff_id: FromPath[uuid.UUID],
        data: JSONBody[KpisDeactivation | None] = None,
    ) -> KpisDeactivated:
        """Deactivate every active KPI of a person (hr_admin); nothing is deleted."""
        reason = data.reason if data else None
        async with _journaled(runtime):
            count = await handlers.deactivate_all(
                runtime.pool, runtime.outbox, staff_id, reason, actor=principal.sub
            )
        return KpisDeactivated(deactivated=count)


class EvaluationController(Controller):
    """What is due for evaluation across all staff."""

    path = "/api/v1/hr/evaluations"
    tags = ["evaluations"]

    @get(
        "/due",
        response_headers=[
            ResponseHeader(
                name="Link",
                description='`<?before=…&limit=…&cursor=…>; rel="next"` when more are due',
                documentation_only=True,
            )
        ],
        opt=allow(Role.MANAGER),
    )
    async def evaluations_due(
        self,
        runtime: Services,
        before: Annotated[
            str | None, QueryParameter(format="date-time", pattern=RFC3339, max_length=64)
        ] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=5000)] = 500,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> Response[list[StaffKpi]]:
        """Active staff KPIs due for evaluation before a time (default now), soonest first.

        The answer stays a plain list; when more are due than `limit`, a `Link` header names
        the next page (RFC 8288), so no KPI drops silently off a long list.
        """
        when = _instant(before) if before else datetime.now(UTC)
        page, next_cursor = await handlers.evaluations_due(
            runtime.pool, _module_views(runtime), when, limit, cursor
        )
        if next_cursor is None:
            return Response(page)
        query = urlencode({"before": when.isoformat(), "limit": limit, "cursor": next_cursor})
        return Response(page, headers={"Link": f'<?{query}>; rel="next"'})


# An RFC 3339 time (interfaces §3). Declared as a string and parsed here: as a `datetime`
# parameter, a bare number was taken for a Unix timestamp, which the document does not allow.
# The offset's sign may arrive as a space: a `+` written into a URL unencoded
# (`?before=2027-01-01T00:00:00+00:00`, as `datetime.isoformat()` gives it) reads as one.
RFC3339 = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+ -]\d{2}:?\d{2})?$"
_OFFSET_AFTER_SPACE = re.compile(r"(.*\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})")


def _instant(value: str) -> datetime:
    try:
        spaced = _OFFSET_AFTER_SPACE.fullmatch(value)
        if spaced:
            value = f"{spaced[1]}+{spaced[2]}"
        when = datetime.fromisoformat(value.upper())
    except ValueError as exc:
        raise BadRequest(
            "before is not an RFC 3339 time", [FieldError("before", str(exc))]
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)
