"""Opaque page cursors: the key of the last entry a page showed, for keyset pagination."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime

from kpi_kit.errors import BadRequest, FieldError

# Where the first page starts: after every key a real entry can have.
PERSON_START = (datetime.max.replace(tzinfo=UTC), uuid.UUID(int=(1 << 128) - 1))
KPI_START = 2**62


def _wrap(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unwrap(cursor: str, kind: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    prefix, _, rest = text.partition(":")
    if prefix != kind or not rest:
        raise _invalid()
    return rest


def _invalid() -> BadRequest:
    return BadRequest(
        "The cursor is not one this list gave out",
        [FieldError("cursor", "pass back a next_cursor of the same list, unchanged")],
    )


def person_cursor(created_at: datetime, entry_id: uuid.UUID) -> str:
    """The cursor after an entry of a person's journal (ordered by time, then id)."""
    return _wrap(f"p:{created_at.isoformat()}|{entry_id}")


def read_person_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID]:
    """The key a person's journal page continues after; the start when there is no cursor."""
    if cursor is None:
        return PERSON_START
    rest = _unwrap(cursor, "p")
    when, _, entry_id = rest.partition("|")
    try:
        created_at = datetime.fromisoformat(when)
        key = uuid.UUID(entry_id)
    except ValueError as exc:
        raise _invalid() from exc
    if created_at.tzinfo is None:
        raise _invalid()
    return created_at, key


def kpi_cursor(sequence: int) -> str:
    """The cursor after an entry of one KPI's journal (ordered by its sequence)."""
    return _wrap(f"k:{sequence}")


def read_kpi_cursor(cursor: str | None) -> int:
    """The sequence a KPI's journal page continues below; the start when there is no cursor."""
    if cursor is None:
        return KPI_START
    rest = _unwrap(cursor, "k")
    if not rest.isdigit() or len(rest) > 18:
        raise _invalid()
    return int(rest)
