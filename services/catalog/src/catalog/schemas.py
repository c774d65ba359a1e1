"""Request and response bodies of the catalog API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import UNSET, UnsetType

from kpi_contracts.enums import (
    AutomationLevel,
    AutomationStatus,
    Frequency,
    KpiCategory,
    RoleGroup,
    ScoreType,
)
from kpi_contracts.patterns import worded

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=10_000)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Slug = Annotated[
    str,
    msgspec.Meta(
        pattern=worded(
            r"^[a-z0-9]+(-[a-z0-9]+)*$",
            "must be lowercase letters and digits, in words joined by single hyphens"
            " (e.g. team-leadership-2)",
        ),
        max_length=120,
    ),
]
ShortList = Annotated[
    list[Annotated[str, msgspec.Meta(max_length=2000)]], msgspec.Meta(max_length=50)
]
# Any number JSON carries: the rules hold scores to their scale and the effort weight to its
# range (422, naming them). A template's relative weight has no scale, so it has a bound.
Score = float
Weight = Annotated[float, msgspec.Meta(ge=-1e9, le=1e9)]


class KpiModule(msgspec.Struct, kw_only=True):
    """A KPI module of the library (scoring fields are absent for staff-only callers)."""

    id: uuid.UUID
    name: str
    slug: str
    category: KpiCategory
    role_group: RoleGroup | None
    is_universal: bool
    objective: str
    measurement_method: str
    data_sources: list[str]
    automation_status: AutomationLevel
    score_type: ScoreType
    evaluation_frequency: Frequency
    coaching_tips: list[str]
    is_default_for_role: bool
    is_seed: bool
    display_order: int
    is_archived: bool
    version: int
    created_at: datetime
    updated_at: datetime
    target_score: float | UnsetType = UNSET
    minimum_score: float | UnsetType = UNSET
    effort_weight: float | UnsetType = UNSET


class KpiModuleCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new module for the library (hr_admin)."""

    name: Name
    category: KpiCategory
    objective: Text
    measurement_method: Text
    target_score: Score
    minimum_score: Score
    effort_weight: Score
    role_group: RoleGroup | None = None
    slug: Slug | None = None
    data_sources: ShortList = []
    automation_status: AutomationLevel = AutomationStatus.MANUAL
    score_type: ScoreType = ScoreType.PERCENTAGE
    evaluation_frequency: Frequency = Frequency.MONTHLY
    coaching_tips: ShortList = []
    is_default_for_role: bool = False
    # "System-provided seed data": a label of provenance that nothing else depends on.
    is_seed: bool = False
    display_order: int = 10_000
    # A module may be prepared hidden from the gallery and un-archived later.
    is_archived: bool = False


class KpiModuleUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Changes to a module; absent fields stay as they are. `is_archived` hides it."""

    name: Name | UnsetType = UNSET
    category: KpiCategory | UnsetType = UNSET
    role_group: RoleGroup | UnsetType | None = UNSET
    objective: Text | UnsetType = UNSET
    measurement_method: Text | UnsetType = UNSET
    data_sources: ShortList | UnsetType = UNSET
    automation_status: AutomationLevel | UnsetType = UNSET
    score_type: ScoreType | UnsetType = UNSET
    target_score: Score | UnsetType = UNSET
    minimum_score: Score | UnsetType = UNSET
    effort_weight: Score | UnsetType = UNSET
    evaluation_frequency: Frequency | UnsetType = UNSET
    coaching_tips: ShortList | UnsetType = UNSET
    is_default_for_role: bool | UnsetType = UNSET
    # Settable on create, so correctable here; it labels provenance and grants nothing.
    is_seed: bool | UnsetType = UNSET
    display_order: int | UnsetType = UNSET
    is_archived: bool | UnsetType = UNSET


class TemplateKpi(msgspec.Struct, kw_only=True):
    """One KPI of a contract template, with its module."""

    id: uuid.UUID
    template_id: uuid.UUID
    kpi_module_id: uuid.UUID
    weight: float
    is_required: bool
    custom_target: float | None
    module: KpiModule


class TemplateKpiInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """One KPI of a template's new set."""

    kpi_module_id: uuid.UUID
    weight: Weight = 1.0
    is_required: bool = False
    custom_target: Score | None = None


class TemplateKpisReplace(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The whole new KPI set of a template."""

    kpis: Annotated[list[TemplateKpiInput], msgspec.Meta(max_length=200)]
