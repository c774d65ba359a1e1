"""Request and response bodies of the journal API (interfaces §3, Journal)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import UnsetType

from kpi_contracts.enums import JournalEntryType
from kpi_contracts.patterns import worded

# PostgreSQL text cannot hold NUL, and a title needs something besides blanks: both are refused
# here, naming the field, rather than by the database.
_NO_NUL = worded(r"^[^\x00]*$", "must not contain a NUL character (\\u0000)")
_SOMETHING = worded(
    r"^[^\x00]*[^\x00\s][^\x00]*$",
    "must contain more than spaces, and no NUL character (\\u0000)",
)
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=_SOMETHING)]
Text = Annotated[str, msgspec.Meta(max_length=20_000, pattern=_NO_NUL)]
Notes = Annotated[str, msgspec.Meta(max_length=5_000, pattern=_NO_NUL)]
# Any number JSON carries (the columns are numeric): the rules hold each to the module's scale
# before anything is stored, so one off the scale, however far, is their 422 naming the scale.
Score = float

DEFAULT_PAGE = 50
MAX_PAGE = 200


class ApprovalStatus(StrEnum):
    """Where an entry created pending approval stands."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


class Decision(StrEnum):
    """A manager's decision on a pending entry."""

    APPROVE = "approve"
    DECLINE = "decline"


class JournalEntryCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A new journal entry; the numbers each belong to one entry type."""

    entry_type: JournalEntryType
    title: Title
    content: Text
    score: Score | None = None
    score_impact: Score | None = None
    effort_score: Score | None = None
    effort_recognized: bool | None = None
    effort_notes: Notes | None = None
    is_visible_to_staff: bool = True
    is_pending_approval: bool = False
    linked_catchup_id: uuid.UUID | None = None
    linked_incident_id: uuid.UUID | None = None


class ApprovalCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A decision on a pending entry, with the manager's notes."""

    decision: Decision
    notes: Notes | None = None


class JournalEntry(msgspec.Struct, kw_only=True):
    """One entry of the Living Journal (scoring numbers are absent for staff-only callers)."""

    id: uuid.UUID
    staff_kpi_id: uuid.UUID
    staff_id: uuid.UUID
    kpi_module_id: uuid.UUID
    module_name: str
    # absent for staff-only callers: gaps in it would count the entries kept from them
    sequence: int | UnsetType = msgspec.UNSET
    entry_type: JournalEntryType
    title: str
    content: str
    effort_recognized: bool
    effort_notes: str | None
    is_visible_to_staff: bool
    is_pending_approval: bool
    approval_status: ApprovalStatus | None
    linked_catchup_id: uuid.UUID | None
    linked_incident_id: uuid.UUID | None
    related_entry_id: uuid.UUID | None
    created_by: str | None
    created_at: datetime
    score: float | UnsetType | None = None
    score_impact: float | UnsetType | None = None
    effort_score: float | UnsetType | None = None
    score_before: float | UnsetType | None = None
    score_after: float | UnsetType | None = None


class JournalPage(msgspec.Struct, kw_only=True):
    """One page of a journal, newest first; pass `next_cursor` back for the next."""

    items: list[JournalEntry]
    next_cursor: str | None
