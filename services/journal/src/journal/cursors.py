"""Opaque page cursors: the key (created_at, id) of the last entry a page showed.

Both journals, a person's and a KPI's, are ordered newest first by that key, so one cursor
format serves both and no page is found by OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime

from kpi_kit.errors import BadRequest, FieldError

Key = tuple[datetime, uuid.UUID]

# Where the first page starts: after every key a real entry can have.
START: Key = (datetime.max.replace(tzinfo=UTC), uuid.UUID(int=(1 << 128) - 1))
_PREFIX = "e1:"


def cursor_after(created_at: datetime, entry_id: uuid.UUID) -> str:
    """The cursor of the page that follows an entry."""
    text = f"{_PREFIX}{created_at.isoformat()}|{entry_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def read_cursor(cursor: str | None) -> Key:
    """The key a page continues after; the start when there is no cursor."""
    if cursor is None:
        return START
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_PREFIX):
            raise ValueError(cursor)
        when, _, entry_id = text.removeprefix(_PREFIX).partition("|")
        created_at, key = datetime.fromisoformat(when), uuid.UUID(entry_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise _invalid() from exc
    if created_at.tzinfo is None:
        raise _invalid()
    return created_at, key


def _invalid() -> BadRequest:
    return BadRequest(
        "The cursor is not one this API gave out",
        [FieldError("cursor", "pass back a next_cursor, unchanged")],
    )
