"""The enumerations of interfaces §6, shared by every service and event, and the automation
level, which is text with known values."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import msgspec

from kpi_contracts.patterns import worded


class KpiCategory(StrEnum):
    """What area of work a KPI measures."""

    CULTURE = "culture"
    PRODUCTIVITY = "productivity"
    COMMUNICATION = "communication"
    SAFETY = "safety"
    CARE_QUALITY = "care_quality"
    FINANCIAL = "financial"
    LEADERSHIP = "leadership"
    COMPLIANCE = "compliance"
    OPERATIONAL = "operational"


class RoleGroup(StrEnum):
    """The 15 role groups a KPI module can be a default for."""

    SUPPORT_WORKER = "support_worker"
    SENIOR_SUPPORT_WORKER = "senior_support_worker"
    TEAM_LEADER = "team_leader"
    REGISTERED_NURSE = "registered_nurse"
    ENROLLED_NURSE = "enrolled_nurse"
    ALLIED_HEALTH = "allied_health"
    SUPPORT_COORDINATOR = "support_coordinator"
    ROSTERING = "rostering"
    ADMINISTRATION = "administration"
    FINANCE = "finance"
    HUMAN_RESOURCES = "human_resources"
    QUALITY_COMPLIANCE = "quality_compliance"
    MANAGEMENT = "management"
    EXECUTIVE = "executive"
    VOLUNTEER = "volunteer"

    @property
    def in_words(self) -> str:
        """The group as a sentence names it: "support worker", "quality & compliance"."""
        return (
            "quality & compliance"
            if self is RoleGroup.QUALITY_COMPLIANCE
            else self.replace("_", " ")
        )


class Frequency(StrEnum):
    """How often a KPI is evaluated."""

    WEEKLY = "weekly"
    FORTNIGHTLY = "fortnightly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    ANNUALLY = "annually"


class ScoreType(StrEnum):
    """The scale a KPI is scored on: percentage 0-100 or rating 1-5."""

    PERCENTAGE = "percentage"
    RATING = "rating"


class AutomationStatus(StrEnum):
    """The known automation levels, which the seed uses; a module may carry another level."""

    MANUAL = "manual"
    ASSISTED = "assisted"
    AUTOMATED = "automated"


_CONTROL = r"\x00-\x1f\x7f-\x9f"
# kpi-system.txt types automation_status as text ("Level of automated scoring support"), so a
# level this code does not know is kept and shown as written, not refused: short, non-empty, no
# space at either end, no control character. `$(?!\n)` as Python's `$` also matches before a final
# newline. Catalog's CHECK kpi_modules_automation_level is the same rule.
AutomationLevel = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=50,
        pattern=worded(
            rf"^[^\s{_CONTROL}](?:[^{_CONTROL}]*[^\s{_CONTROL}])?$(?!\n)",
            "must have no space at either end and no control characters",
        ),
        description="Level of automated scoring support: manual, assisted, automated or another",
        examples=[level.value for level in AutomationStatus],
    ),
]


class KpiStatus(StrEnum):
    """Whether a staff KPI assignment is live."""

    ACTIVE = "active"
    INACTIVE = "inactive"


class Cause(StrEnum):
    """Why a person's KPIs changed: the `cause` of assignment's events."""

    CONTRACT_CREATED = "contract_created"
    ROLE_CHANGED = "role_changed"
    STAFF_EXITED = "staff_exited"
    MANUAL_ASSIGNMENT = "manual_assignment"
    STATUS_CHANGE = "status_change"
    KPIS_DEACTIVATED = "kpis_deactivated"
    MODULE_UPDATED = "module_updated"  # the catalogue changed a module people hold


class KpiSource(StrEnum):
    """How a staff KPI came to be assigned."""

    TEMPLATE = "template"
    MANUAL = "manual"


class GrowthStatus(StrEnum):
    """Growth language for where a composite score stands: never 'below' or 'failing'."""

    EXCEEDING = "exceeding"
    MEETING = "meeting"
    GROWING = "growing"


class ScoreTrend(StrEnum):
    """Direction of the latest score movement."""

    UP = "up"
    DOWN = "down"
    STEADY = "steady"


class JournalEntryType(StrEnum):
    """The 16 kinds of Living Journal entry."""

    OBSERVATION = "observation"
    COACHING_SESSION = "coaching_session"
    CATCH_UP_NOTE = "catch_up_note"
    INCIDENT_LINK = "incident_link"
    SCORE_UPDATE = "score_update"
    SCORE_ADJUSTMENT = "score_adjustment"
    EFFORT_RECOGNITION = "effort_recognition"
    SELF_REFLECTION = "self_reflection"
    PEER_FEEDBACK = "peer_feedback"
    GOAL_SETTING = "goal_setting"
    MILESTONE = "milestone"
    TRAINING_COMPLETED = "training_completed"
    STATUS_CHANGE = "status_change"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVAL_GRANTED = "approval_granted"
    APPROVAL_DECLINED = "approval_declined"


class Role(StrEnum):
    """Roles carried in a bearer token's `roles` claim."""

    HR_ADMIN = "hr_admin"
    MANAGER = "manager"
    STAFF = "staff"
