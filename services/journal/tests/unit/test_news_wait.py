"""Which requests about a KPI the journal has not heard of wait for news of it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from journal import handlers
from kpi_contracts import events


class NoDatabase:
    """A pool that must not be used: the answer is known without asking."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the pool was used ({name}) for an id that cannot be news")


def made_at(when: datetime) -> uuid.UUID:
    """A version 7 id as if made at `when`."""
    fresh = events.time_ordered_uuid().int & ~(((1 << 48) - 1) << 80)
    return uuid.UUID(int=fresh | int(when.timestamp() * 1000) << 80)


def test_a_version_7_id_tells_when_it_was_made() -> None:
    when = datetime(2026, 12, 7, 9, 30, 15, 123_000, tzinfo=UTC)
    assert events.minted_at(made_at(when)) == when
    assert events.minted_at(uuid.uuid4()) is None


async def test_an_id_that_is_not_version_7_is_not_waited_for() -> None:
    assert not await handlers._news_of_a_new_kpi(NoDatabase(), uuid.uuid4())  # type: ignore[arg-type]


async def test_an_id_made_long_ago_is_not_waited_for() -> None:
    long_ago = made_at(datetime.now(UTC) - timedelta(seconds=handlers.NEW_KPI_SECONDS + 5))
    assert not await handlers._news_of_a_new_kpi(NoDatabase(), long_ago)  # type: ignore[arg-type]


async def test_an_id_from_the_future_is_not_waited_for() -> None:
    ahead = made_at(datetime.now(UTC) + timedelta(minutes=5))
    assert not await handlers._news_of_a_new_kpi(NoDatabase(), ahead)  # type: ignore[arg-type]
