"""A person's records rewritten under their lock do not undo a score applied meanwhile: scores
arrive from the journal without that lock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from assignment import domain, queries, records
from kpi_contracts.enums import Cause, KpiSource
from kpi_kit.db import init_connection
from kpi_kit.outbox import Outbox, unit_of_work

pytestmark = pytest.mark.integration

MARCH, APRIL = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
EVALUATED = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.fixture
async def pool(assignment: Any, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, init=init_connection, min_size=1, max_size=3)
    assert pool is not None
    yield pool
    await pool.close()


def a_contract(staff: uuid.UUID, module: uuid.UUID, at: datetime) -> domain.Step:
    return domain.Step(
        uuid.uuid4(),
        staff,
        Cause.CONTRACT_CREATED,
        at,
        contract_id=uuid.uuid4(),
        assigns=(domain.Wanted(module, KpiSource.TEMPLATE),),
    )


async def settle(pool: asyncpg.Pool, step: domain.Step) -> None:
    async with unit_of_work(pool, Outbox("assignment")) as uow:
        await records.lock_person(uow.conn, step.staff_id)
        await records.settle(uow, step, {})


async def test_a_score_applied_while_a_late_contract_restates_the_kpi_keeps_its_due_day(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    staff, module = uuid.uuid4(), await pool.fetchval("SELECT id FROM hr.assignment_modules")
    await settle(pool, a_contract(staff, module, APRIL))
    kpi = await pool.fetchval("SELECT id FROM hr.staff_kpis WHERE staff_id = $1", staff)
    due = EVALUATED + timedelta(days=30)
    write = records._write

    async def scored_meanwhile(conn: Any, *rewrite: Any) -> None:
        # after the late contract's records were read, before they are written
        scored = await pool.fetchval(
            queries.APPLY_SCORE, kpi, 7, 75.0, None, None, None, None, "meeting", EVALUATED, due
        )
        assert scored
        await write(conn, *rewrite)

    monkeypatch.setattr(records, "_write", scored_meanwhile)
    await settle(pool, a_contract(staff, module, MARCH))  # the earlier contract, arriving late

    row = await pool.fetchrow(
        "SELECT assigned_at, last_evaluated_at, next_evaluation_due FROM hr.staff_kpis"
        " WHERE id = $1",
        kpi,
    )
    assert row is not None
    assert row["assigned_at"] == MARCH  # restated to the earlier contract
    assert (row["last_evaluated_at"], row["next_evaluation_due"]) == (EVALUATED, due)
