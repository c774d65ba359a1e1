"""Opaque page cursors: the key (instant, id) of the last row a page showed.

Lists are ordered by such a key (a journal newest first, evaluations due soonest first), so a
page continues after the key and none is found by OFFSET.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime

from kpi_kit.errors import BadRequest, FieldError

Key = tuple[datetime, uuid.UUID]

# Where a first page starts: before (or after) every key a real row can have.
LOWEST: Key = (datetime.min.replace(tzinfo=UTC), uuid.UUID(int=0))
HIGHEST: Key = (datetime.max.replace(tzinfo=UTC), uuid.UUID(int=(1 << 128) - 1))
_PREFIX = "e1:"


def cursor_after(at: datetime, row_id: uuid.UUID) -> str:
    """The cursor of the page that follows a row."""
    text = f"{_PREFIX}{at.isoformat()}|{row_id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def read_cursor(cursor: str | None, start: Key) -> Key:
    """The key a page continues after; `start` when there is no cursor.

    An empty `?cursor=` is no cursor: it is how a client that passes the first page's cursor as
    None encodes it (httpx, `requests` and URLSearchParams all do), so it asks for the first page.
    """
    if not cursor:
        return start
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not text.startswith(_PREFIX):
            raise ValueError(cursor)
        when, _, row_id = text.removeprefix(_PREFIX).partition("|")
        at, key = datetime.fromisoformat(when), uuid.UUID(row_id)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise _invalid() from exc
    if at.tzinfo is None:
        raise _invalid()
    return at, key


def _invalid() -> BadRequest:
    return BadRequest(
        "The cursor is not one this API gave out",
        [FieldError("cursor", "pass back the cursor a page gave (next_cursor or Link), unchanged")],
    )
