"""Page cursors: what a client sends back, and what it sends for the first page."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from kpi_kit import cursors
from kpi_kit.errors import BadRequest


def test_a_cursor_reads_back_as_the_key_it_was_made_from():
    at, row = datetime(2027, 1, 31, 10, 0, tzinfo=UTC), uuid.uuid4()

    assert cursors.read_cursor(cursors.cursor_after(at, row), cursors.HIGHEST) == (at, row)


def test_an_empty_cursor_asks_for_the_first_page():
    # httpx (like requests and URLSearchParams) sends a cursor of None as `?cursor=`: a client
    # that loops over pages from `cursor = None` asks for the first page that way.
    assert str(httpx.QueryParams({"limit": 2, "cursor": None})) == "limit=2&cursor="

    assert cursors.read_cursor("", cursors.HIGHEST) == cursors.HIGHEST
    assert cursors.read_cursor("", cursors.LOWEST) == cursors.LOWEST


@pytest.mark.parametrize("cursor", ["made-up", "bm9wZQ", " "])
def test_a_cursor_this_api_did_not_give_is_refused(cursor):
    with pytest.raises(BadRequest):
        cursors.read_cursor(cursor, cursors.HIGHEST)
