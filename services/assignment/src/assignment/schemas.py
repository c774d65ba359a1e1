"""Request and response bodies of the assignment API (interfaces §3)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from kpi_contracts.enums import (
    AutomationLevel,
    Frequency,
    GrowthStatus,
    KpiCategory,
    KpiSource,
    KpiStatus,
    RoleGroup,
    ScoreTrend,
    ScoreType,
)

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
# Any number JSON carries: the rules hold a target to the module's scale (422, naming it).
Score = float


class StaffKpiModule(msgspec.Struct, kw_only=True):
    """The module a staff KPI measures, from the catalogue replica."""

    id: uuid.UUID
    name: str
    slug: str
    category: KpiCategory
    role_group: RoleGroup | None
    is_universal: bool
    evaluation_frequency: Frequency
    score_type: ScoreType
    objective: str
    measurement_method: str
    data_sources: list[str]
    automation_status: AutomationLevel
    coaching_tips: list[str]
    display_order: int


class StaffKpi(msgspec.Struct, kw_only=True):
    """One KPI of a person. The scoring fields are absent (not null) for staff-only callers."""

    id: uuid.UUID
    staff_id: uuid.UUID
    contract_id: uuid.UUID | None
    kpi_module_id: uuid.UUID
    module: StaffKpiModule
    status: KpiStatus
    source: KpiSource
    is_required: bool
    target_score: float | UnsetType | None = UNSET
    minimum_score: float | UnsetType | None = UNSET
    effort_weight: float | UnsetType | None = UNSET
    current_score: float | UnsetType | None = UNSET
    current_effort_score: float | UnsetType | None = UNSET
    previous_score: float | UnsetType | None = UNSET
    score_trend: ScoreTrend | None
    trend_percentage: float | UnsetType | None = UNSET
    growth_status: GrowthStatus | None
    last_evaluated_at: datetime | None
    next_evaluation_due: datetime | None
    assigned_at: datetime
    deactivated_at: datetime | None
    deactivation_reason: str | None


class StaffKpiCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A manual assignment of one module to a person."""

    kpi_module_id: uuid.UUID
    contract_id: uuid.UUID | None = None
    custom_target: Score | None = None


class StaffKpiStatusUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Deactivate or reactivate one staff KPI."""

    status: KpiStatus
    reason: Reason | None = None


class KpisDeactivation(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Why every active KPI of a person is being deactivated."""

    reason: Reason | None = None


class KpisDeactivated(msgspec.Struct, kw_only=True):
    """How many KPIs were deactivated."""

    deactivated: int
