"""Every event that crosses a service boundary, as frozen msgspec Structs.

Schema evolution: add fields with defaults, never change a field's type or name. `kw_only` is set
on each class because msgspec does not inherit it. Unknown fields are ignored on decode so that a
newer publisher does not break an older consumer; unknown `event_type` values, wrong types and
missing fields are errors.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated

import msgspec

from kpi_contracts.enums import (
    AutomationLevel,
    Frequency,
    GrowthStatus,
    JournalEntryType,
    KpiCategory,
    KpiSource,
    KpiStatus,
    RoleGroup,
    ScoreTrend,
    ScoreType,
)
from kpi_contracts.scales import EFFORT_WEIGHT_RANGE

# A timezone-aware instant: naive datetimes are ambiguous in a system that spans time zones.
Instant = Annotated[datetime, msgspec.Meta(tz=True)]
# Effort counts 15-30%: an event with a weight outside that is dead-lettered, not scored with it.
EffortWeight = Annotated[float, msgspec.Meta(ge=EFFORT_WEIGHT_RANGE[0], le=EFFORT_WEIGHT_RANGE[1])]


# A version 7 UUID (RFC 9562) is, from its most significant bit: 48 bits of Unix time in
# milliseconds, the version (7), 12 random bits, the RFC variant (0b10), 62 random bits.
_V7_VERSION = 0x7 << 76
_V7_VARIANT = 0b10 << 62
_RAND_B = (1 << 62) - 1


def time_ordered_uuid() -> uuid.UUID:
    """A new id: a version 7 UUID, which sorts by the millisecond it was made in.

    Every row the services create is keyed by one, and B-tree indexes are why: a random key
    lands on a random leaf of an index that outgrows shared_buffers, so each insert reads and
    dirties a page of its own, while time-ordered keys all land on the rightmost leaves. A
    lifecycle burst inserts a KPI row and an entry per KPI into indexes led by these ids (the
    KPI's id, the entry's id, the journal's (staff_kpi_id, ...) indexes), and the journal's inbox
    is keyed by assignment's event ids. The 74 random bits keep ids unguessable; the time they
    reveal is the row's creation time, which the row shows anyway. About as cheap as
    `uuid.uuid4()` (~1.5 us); the standard library makes version 7 only from Python 3.14 on.
    """
    random_bits = int.from_bytes(os.urandom(10))  # 80 bits: 12 for rand_a, 62 for rand_b
    return uuid.UUID(
        int=(time.time_ns() // 1_000_000) << 80
        | _V7_VERSION
        | (random_bits >> 68) << 64
        | _V7_VARIANT
        | random_bits & _RAND_B
    )


def minted_at(value: uuid.UUID) -> datetime | None:
    """When a version 7 id was made (to the millisecond); None for an id of another version."""
    if value.version != 7:
        return None
    return datetime.fromtimestamp((value.int >> 80) / 1000, UTC)


def new_event_id() -> uuid.UUID:
    """A fresh event id."""
    return time_ordered_uuid()


def utc_now() -> datetime:
    """The current instant, in UTC."""
    return datetime.now(UTC)


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="event_type"):
    """Base of every event: a unique id (the dedupe key) and when it happened."""

    event_id: uuid.UUID = msgspec.field(default_factory=new_event_id)
    occurred_at: Instant = msgspec.field(default_factory=utc_now)


# ---------------------------------------------------------------- inbound lifecycle events (§5)


class KpiSelection(msgspec.Struct, frozen=True, kw_only=True):
    """The KPI choices a manager made in the contracting wizard."""

    excluded_module_ids: list[uuid.UUID] = []
    added_module_ids: list[uuid.UUID] = []


class ContractCreated(Event, frozen=True, kw_only=True, tag="ContractCreated"):
    """A contract was created for a person from a template: attach its KPIs."""

    staff_id: uuid.UUID
    contract_id: uuid.UUID
    template_id: uuid.UUID
    role_group: RoleGroup
    kpi_selection: KpiSelection | None = None


class RoleChanged(Event, frozen=True, kw_only=True, tag="RoleChanged"):
    """A person moved to another role group: swap the role-specific KPIs."""

    staff_id: uuid.UUID
    from_role_group: RoleGroup
    to_role_group: RoleGroup
    contract_id: uuid.UUID | None = None
    template_id: uuid.UUID | None = None


class StaffExited(Event, frozen=True, kw_only=True, tag="StaffExited"):
    """A person left the organisation: deactivate every active KPI, delete nothing."""

    staff_id: uuid.UUID
    contract_id: uuid.UUID | None = None
    reason: str | None = None


LifecycleEvent = ContractCreated | RoleChanged | StaffExited

# ---------------------------------------------------------------- internal: catalog


class ModuleSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A KPI module as the catalog holds it; `version` grows with every change."""

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
    target_score: float
    minimum_score: float
    effort_weight: EffortWeight
    evaluation_frequency: Frequency
    coaching_tips: list[str]
    is_default_for_role: bool
    is_seed: bool
    display_order: int
    is_archived: bool
    version: int


class ModuleUpserted(Event, frozen=True, kw_only=True, tag="ModuleUpserted"):
    """A KPI module was created or changed (or republished in a snapshot)."""

    module: ModuleSnapshot


class TemplateKpi(msgspec.Struct, frozen=True, kw_only=True):
    """One KPI of a contract template."""

    kpi_module_id: uuid.UUID
    weight: float
    is_required: bool
    custom_target: float | None = None


class TemplateKpisReplaced(Event, frozen=True, kw_only=True, tag="TemplateKpisReplaced"):
    """A template's whole KPI set was replaced; `version` grows with every replace."""

    template_id: uuid.UUID
    version: int
    kpis: list[TemplateKpi]


class CatalogSnapshotRequested(Event, frozen=True, kw_only=True, tag="CatalogSnapshotRequested"):
    """A replica (assignment, say) started empty and asks the catalog to republish everything."""

    requested_by: str


# ---------------------------------------------------------------- internal: assignment


class ScoringParameters(msgspec.Struct, frozen=True, kw_only=True):
    """What the journal needs to score one staff KPI."""

    staff_kpi_id: uuid.UUID
    staff_id: uuid.UUID
    kpi_module_id: uuid.UUID
    module_name: str
    score_type: ScoreType
    target_score: float
    minimum_score: float
    effort_weight: EffortWeight
    evaluation_frequency: Frequency
    assigned_at: Instant
    contract_id: uuid.UUID | None = None
    source: KpiSource = KpiSource.TEMPLATE
    is_required: bool = False
    # How many times assignment has written the staff KPI's record, so that of two sets of
    # parameters the newer wins whatever order they arrive in (0: sent before records counted).
    revision: int = 0


class KpisAssigned(Event, frozen=True, kw_only=True, tag="KpisAssigned"):
    """KPIs were attached to one person by one cause (one event per cause, not per KPI)."""

    staff_id: uuid.UUID
    cause: str  # a Cause; a str so that a newer assignment's cause still decodes
    kpis: list[ScoringParameters]
    cause_event_id: uuid.UUID | None = None
    actor: str | None = None  # who asked (a token's subject) when a person did


class KpiStatusChange(msgspec.Struct, frozen=True, kw_only=True):
    """One staff KPI that was deactivated or reactivated."""

    staff_kpi_id: uuid.UUID
    status: KpiStatus
    reason: str | None
    changed_at: Instant
    parameters: ScoringParameters


class KpiStatusChanged(Event, frozen=True, kw_only=True, tag="KpiStatusChanged"):
    """Staff KPIs of one person changed status for one cause."""

    staff_id: uuid.UUID
    cause: str  # a Cause, as in KpisAssigned
    changes: list[KpiStatusChange]
    cause_event_id: uuid.UUID | None = None
    actor: str | None = None  # who asked (a token's subject) when a person did


class KpisRestated(Event, frozen=True, kw_only=True, tag="KpisRestated"):
    """Staff KPIs of one person held on other terms, their status unchanged: a lifecycle event
    arrived after a later one, and the story it completes says they were assigned at another
    time, under another contract or target; or (cause `module_updated`) the catalogue changed
    their module's terms. Each KPI is told with its status as it stands (a KpiStatusChange that
    changes no status), one event per cause. It occurred when assignment made the change, which
    dates the journal's entry."""

    staff_id: uuid.UUID
    cause: str  # a Cause, as in KpisAssigned
    kpis: list[KpiStatusChange]
    cause_event_id: uuid.UUID | None = None
    actor: str | None = None


# ---------------------------------------------------------------- internal: journal


class JournalEntryAppended(Event, frozen=True, kw_only=True, tag="JournalEntryAppended"):
    """An entry was appended to a person's Living Journal."""

    entry_id: uuid.UUID
    staff_kpi_id: uuid.UUID
    staff_id: uuid.UUID
    entry_type: JournalEntryType
    title: str
    score_before: float | None
    score_after: float | None
    is_pending_approval: bool
    is_visible_to_staff: bool
    created_by: str | None
    related_entry_id: uuid.UUID | None = None


class ScoreRecomputed(Event, frozen=True, kw_only=True, tag="ScoreRecomputed"):
    """A staff KPI's scores after an entry; `sequence` orders them per staff KPI."""

    staff_kpi_id: uuid.UUID
    staff_id: uuid.UUID
    sequence: int
    current_score: float | None
    current_outcome_score: float | None
    current_effort_score: float | None
    previous_score: float | None
    score_trend: ScoreTrend | None
    trend_percentage: float | None
    growth_status: GrowthStatus | None
    last_evaluated_at: Instant | None
    next_evaluation_due: Instant | None


CatalogEvent = ModuleUpserted | TemplateKpisReplaced
CatalogRequest = CatalogSnapshotRequested
AssignmentEvent = KpisAssigned | KpiStatusChanged | KpisRestated
JournalEvent = JournalEntryAppended | ScoreRecomputed
InternalEvent = CatalogEvent | CatalogRequest | AssignmentEvent | JournalEvent
