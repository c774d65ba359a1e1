"""The journal on the broker: assignment's events in, journal events out, exactly once."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import msgspec
import pytest

from kpi_contracts import codec, events, names
from kpi_contracts.enums import KpiStatus
from kpi_contracts.schedule import next_due
from kpi_kit.testing.harness import ServiceClient, eventually

pytestmark = pytest.mark.integration

Client = ServiceClient
Headers = Callable[..., dict[str, str]]
Assign = Callable[..., Awaitable[list[events.ScoringParameters]]]


def journal_of(kpi: events.ScoringParameters) -> str:
    return f"/api/v1/hr/staff/{kpi.staff_id}/kpis/{kpi.staff_kpi_id}/journal"


async def entries_of(journal: Client, as_role: Headers, kpi: events.ScoringParameters) -> Any:
    response = await journal.get(journal_of(kpi), headers=as_role("manager"))
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def append(
    journal: Client, as_role: Headers, kpi: events.ScoringParameters, **body: Any
) -> Any:
    entry = {"entry_type": "observation", "title": "Noted", "content": "Seen on shift"} | body
    response = await journal.post(journal_of(kpi), json=entry, headers=as_role("manager"))
    assert response.status_code == 201, response.text
    return response.json()


# ---------------------------------------------------------------- assignment events in


async def test_each_assigned_kpi_gets_one_status_change_entry(
    journal: Client, as_role: Headers, assigned: Assign, db: Any
):
    kpis = await assigned(count=10)
    for kpi in kpis:
        [entry] = await entries_of(journal, as_role, kpi)
        assert entry["entry_type"] == "status_change"
        assert entry["title"] == f"KPI assigned: {kpi.module_name}"
        assert entry["is_visible_to_staff"] is True and entry["created_by"] is None
        assert entry["score_before"] is None and entry["score_after"] is None
    rows = await db.fetch(
        "SELECT status, next_evaluation_due, assigned_at, evaluation_frequency "
        "FROM hr.journal_kpis WHERE staff_kpi_id = ANY($1::uuid[])",
        [k.staff_kpi_id for k in kpis],
    )
    assert len(rows) == 10
    for row in rows:
        assert row["status"] == "active"
        assert row["next_evaluation_due"] == next_due(row["assigned_at"], "monthly")


async def test_a_redelivered_assignment_is_journaled_once(assignment, ledger):
    staff_id = uuid.uuid4()
    kpis = [assignment.kpi(staff_id) for _ in range(3)]
    event = events.KpisAssigned(staff_id=staff_id, cause="contract_created", kpis=kpis)
    duplicates_before = ledger.consumed("KpisAssigned", "duplicate")
    for _ in range(3):
        await assignment.publish(event)

    async def all_three_handled() -> bool:
        return bool(ledger.consumed("KpisAssigned", "duplicate") >= duplicates_before + 2)

    await eventually(all_three_handled)
    for kpi in kpis:
        assert await ledger.count(kpi.staff_kpi_id) == 1


async def test_the_entries_guard_holds_even_without_the_inbox_row(assignment, ledger, db):
    kpi = assignment.kpi()
    event = await assignment.assign(kpi)
    await eventually(lambda: ledger.processed(event.event_id))
    await db.execute(
        "DELETE FROM hr.journal_inbox WHERE consumer = 'journal.assignments' AND event_id = $1",
        event.event_id,
    )
    await assignment.publish(event)
    await eventually(lambda: ledger.processed(event.event_id))
    assert await ledger.count(kpi.staff_kpi_id) == 1


async def test_deactivation_and_reactivation_are_told_in_the_journal(
    journal: Client, as_role: Headers, assigned: Assign, assignment, ledger
):
    [kpi] = await assigned()
    await assignment.change_status(kpi, KpiStatus.INACTIVE, "Moved to team leader", "manager-7")
    await assignment.change_status(kpi, KpiStatus.ACTIVE, "Back on the floor", "manager-8")
    await ledger.wait_for(kpi.staff_kpi_id, 3)
    told = [
        (e["title"], e["content"].partition(" Reason: ")[2] or None, e["created_by"])
        for e in await entries_of(journal, as_role, kpi)
    ]
    assert told == [
        (f"KPI reactivated: {kpi.module_name}", "Back on the floor", "manager-8"),
        (f"KPI deactivated: {kpi.module_name}", "Moved to team leader", "manager-7"),
        (f"KPI assigned: {kpi.module_name}", None, None),  # the contract system's: no person
    ]
    await append(journal, as_role, kpi)


async def test_a_late_older_status_is_journaled_but_does_not_win(
    journal: Client, as_role: Headers, assigned: Assign, assignment, ledger
):
    [kpi] = await assigned()
    now = datetime.now(UTC)
    newer = events.KpiStatusChange(
        staff_kpi_id=kpi.staff_kpi_id,
        status=KpiStatus.ACTIVE,
        reason="reactivated",
        changed_at=now + timedelta(minutes=2),
        parameters=kpi,
    )
    older = events.KpiStatusChange(
        staff_kpi_id=kpi.staff_kpi_id,
        status=KpiStatus.INACTIVE,
        reason="late news",
        changed_at=now + timedelta(minutes=1),
        parameters=kpi,
    )
    for change in (newer, older):
        await assignment.publish(
            events.KpiStatusChanged(staff_id=kpi.staff_id, cause="manual", changes=[change])
        )
    await ledger.wait_for(kpi.staff_kpi_id, 3)
    await append(journal, as_role, kpi)  # still active: no 409


def restatement(kpi: events.ScoringParameters, at: datetime) -> events.KpisRestated:
    """Assignment's correction of one active KPI's terms, made at `at`."""
    change = events.KpiStatusChange(
        staff_kpi_id=kpi.staff_kpi_id,
        status=KpiStatus.ACTIVE,
        reason=None,
        changed_at=kpi.assigned_at,
        parameters=kpi,
    )
    return events.KpisRestated(
        staff_id=kpi.staff_id, cause="contract_created", kpis=[change], occurred_at=at
    )


async def test_corrected_terms_are_journaled_and_scored_by_and_an_older_record_does_not_undo_them(
    journal: Client, as_role: Headers, assignment, ledger, db
):
    # Assignment held the KPI from a later contract first (revision 1, target 90); an earlier
    # contract that arrived late says it was held from a day before, with target 80.
    now = datetime.now(UTC)
    first = assignment.kpi(revision=1, target_score=90.0, assigned_at=now)
    corrected = msgspec.structs.replace(
        first, revision=2, target_score=80.0, is_required=True, assigned_at=now - timedelta(days=1)
    )
    await assignment.assign(first)
    await ledger.wait_for(first.staff_kpi_id, 1)
    await assignment.publish(restatement(corrected, now + timedelta(seconds=1)))
    await ledger.wait_for(first.staff_kpi_id, 2)
    # News of the record as it was before the correction, delivered late, changes no terms.
    await assignment.change_status(first, KpiStatus.ACTIVE, "told again")
    await ledger.wait_for(first.staff_kpi_id, 3)

    row = await db.fetchrow(
        "SELECT target_score, is_required, assigned_at, terms_revision, status "
        "FROM hr.journal_kpis WHERE staff_kpi_id = $1",
        first.staff_kpi_id,
    )
    assert tuple(row) == (80, True, corrected.assigned_at, 2, "active")
    titles = [e["title"] for e in await entries_of(journal, as_role, first)]
    assert f"KPI record corrected: {first.module_name}" in titles
    scored = await append(journal, as_role, first, entry_type="score_update", score=85)
    assert scored["score_after"] == 85
    grown = await db.fetchval(
        "SELECT growth_status FROM hr.journal_kpis WHERE staff_kpi_id = $1", first.staff_kpi_id
    )
    assert grown == "exceeding"  # 85 > 80, the corrected target (not 90)


async def test_racing_news_of_the_same_new_kpis_is_all_journaled_and_the_newest_wins(
    journal: Client, as_role: Headers, assignment, ledger
):
    people = []
    for _ in range(8):
        staff_id = uuid.uuid4()
        kpis = [assignment.kpi(staff_id) for _ in range(6)]
        exited = datetime.now(UTC) + timedelta(seconds=1)
        changes = [
            events.KpiStatusChange(
                staff_kpi_id=k.staff_kpi_id,
                status=KpiStatus.INACTIVE,
                reason="Contract ended",
                changed_at=exited,
                parameters=k,
            )
            for k in reversed(kpis)
        ]
        await assignment.assign(*kpis)
        await assignment.publish(
            events.KpiStatusChanged(staff_id=staff_id, cause="staff_exited", changes=changes)
        )
        people.append(kpis)
    for kpis in people:
        for kpi in kpis:
            await ledger.wait_for(kpi.staff_kpi_id, 2)
            entries = await entries_of(journal, as_role, kpi)
            assert [e["title"].split(":")[0] for e in entries] == [
                "KPI deactivated",
                "KPI assigned",
            ]
            response = await journal.post(
                journal_of(kpi),
                json={"entry_type": "observation", "title": "x", "content": ""},
                headers=as_role("manager"),
            )
            assert response.status_code == 409


async def test_news_of_a_kpi_never_assigned_here_creates_it(
    journal: Client, as_role: Headers, assignment, ledger
):
    kpi = assignment.kpi()
    await assignment.change_status(kpi, KpiStatus.INACTIVE, "Contract ended")
    await ledger.wait_for(kpi.staff_kpi_id, 1)
    [entry] = await entries_of(journal, as_role, kpi)
    assert entry["title"] == f"KPI deactivated: {kpi.module_name}"
    response = await journal.post(
        journal_of(kpi),
        json={"entry_type": "observation", "title": "x", "content": ""},
        headers=as_role("manager"),
    )
    assert response.status_code == 409


async def test_an_undecodable_event_is_dead_lettered_with_its_reason_and_others_go_on(
    assignment, assigned: Assign, broker_channel
):
    await assignment.publish_raw(
        b'{"event_type": "KpisAssigned", "staff_id": 7}', names.KPI_ASSIGNED
    )
    dlq = await broker_channel.get_queue(names.dead_letter_queue(names.JOURNAL_ASSIGNMENTS_QUEUE))

    async def dead_letter() -> aio_pika.abc.AbstractIncomingMessage | None:
        found: aio_pika.abc.AbstractIncomingMessage | None = await dlq.get(no_ack=True, fail=False)
        return found

    message = await eventually(dead_letter)
    assert b'"staff_id": 7' in message.body
    assert "invalid event" in str(message.headers["x-dlq-reason"])
    assert await assigned()  # the next event is journaled as usual


# ---------------------------------------------------------------- journal events out


async def test_every_entry_is_announced_and_every_recompute_carries_the_new_scores(
    journal: Client, as_role: Headers, assigned: Assign, published
):
    [kpi] = await assigned(effort_weight=0.2)
    first = await append(journal, as_role, kpi, entry_type="score_update", score=60)
    await append(journal, as_role, kpi, entry_type="observation")
    last = await append(journal, as_role, kpi, entry_type="score_update", score=95)

    async def announced() -> bool:
        return len(published.appended[kpi.staff_kpi_id]) >= 3 and (
            len(published.recomputed[kpi.staff_kpi_id]) >= 2
        )

    await eventually(announced)
    appended = published.appended[kpi.staff_kpi_id]
    # The status_change entry of the assignment is not echoed: assignment announced it.
    assert [e.entry_type for e in appended] == ["score_update", "observation", "score_update"]
    assert appended[-1].entry_id == uuid.UUID(last["id"])
    assert (appended[-1].score_before, appended[-1].score_after) == (60.0, 95.0)

    recomputed = published.recomputed[kpi.staff_kpi_id]
    assert [r.sequence for r in recomputed] == [first["sequence"], last["sequence"]]
    latest = recomputed[-1]
    assert latest.current_score == 95.0 and latest.previous_score == 60.0
    assert latest.score_trend == "up" and latest.trend_percentage == pytest.approx(35 / 60 * 100)
    assert latest.growth_status == "exceeding"
    assert latest.current_outcome_score == 95.0 and latest.current_effort_score is None
    assert latest.last_evaluated_at is not None
    assert latest.next_evaluation_due == next_due(latest.last_evaluated_at, "monthly")
    assert recomputed[0].growth_status == "growing"


async def test_journal_events_are_persistent_with_the_event_id_as_message_id(
    journal: Client, as_role: Headers, assigned: Assign, published
):
    [kpi] = await assigned()
    await append(journal, as_role, kpi, entry_type="score_update", score=75)

    async def announced() -> list[Any]:
        return [
            m
            for m in published.messages
            if m.routing_key == names.SCORE_RECOMPUTED
            and codec.decode(m.body, events.ScoreRecomputed).staff_kpi_id == kpi.staff_kpi_id
        ]

    [message] = await eventually(announced)
    event: events.ScoreRecomputed = codec.decode(message.body, events.ScoreRecomputed)
    assert message.message_id == str(event.event_id)
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.content_type == "application/json"


async def test_an_append_wakes_the_relay_from_its_commit_not_by_a_notify(
    journal: Client, as_role: Headers, assigned: Assign, published, db
):
    # A NOTIFY inside the append's transaction would serialize every append's commit on
    # PostgreSQL's notify lock; the relay of this process is woken directly instead.
    [kpi] = await assigned()
    channel = journal.app.state.runtime.outbox.channel
    heard: list[str] = []

    def hear(*args: Any) -> None:
        heard.append(args[3])

    await db.add_listener(channel, hear)
    try:
        await append(journal, as_role, kpi, entry_type="score_update", score=75)
        await db.execute("SELECT pg_notify($1, 'after the append')", channel)
        await eventually(lambda: _true(heard))
        assert heard == ["after the append"]  # notifications come in commit order
    finally:
        await db.remove_listener(channel, hear)
    await eventually(lambda: _true(published.recomputed[kpi.staff_kpi_id]))


async def _true(value: Any) -> bool:
    return bool(value)


async def scored_then_weighted_more(
    journal: Client, as_role: Headers, assigned: Assign
) -> tuple[events.ScoringParameters, events.ScoringParameters]:
    """A KPI at effort weight 20 % scored 80 with effort 100 (84), and its parameters at 30 %."""
    [kpi] = await assigned(effort_weight=0.2)
    await append(journal, as_role, kpi, entry_type="score_update", score=80)
    await append(journal, as_role, kpi, entry_type="effort_recognition", effort_score=100)
    fields = {f: getattr(kpi, f) for f in kpi.__struct_fields__}
    return kpi, events.ScoringParameters(**{**fields, "effort_weight": 0.3})


async def test_a_new_effort_weight_rescores_the_kpi_and_says_so(
    journal: Client, as_role: Headers, assigned: Assign, assignment, ledger, published
):
    kpi, heavier = await scored_then_weighted_more(journal, as_role, assigned)
    await assignment.change_status(heavier, KpiStatus.ACTIVE, "Module revised")
    await ledger.wait_for(kpi.staff_kpi_id, 4)
    [latest, *_] = await entries_of(journal, as_role, kpi)
    assert (latest["score_before"], latest["score_after"]) == (84.0, 86.0)

    async def rescored() -> bool:
        found = published.recomputed[kpi.staff_kpi_id]
        return bool(found) and found[-1].current_score == 86.0

    await eventually(rescored)


async def test_a_kpi_reactivated_with_new_parameters_is_due_a_period_after_its_reactivation(
    journal: Client, as_role: Headers, assigned: Assign, assignment, ledger, published
):
    kpi, heavier = await scored_then_weighted_more(journal, as_role, assigned)
    now = datetime.now(UTC)
    back = now + timedelta(days=40)  # months after the last evaluation's due day
    for parameters, status, at in (
        (kpi, KpiStatus.INACTIVE, now),
        (heavier, KpiStatus.ACTIVE, back),
    ):
        change = events.KpiStatusChange(
            staff_kpi_id=kpi.staff_kpi_id,
            status=status,
            reason=None,
            changed_at=at,
            parameters=parameters,
        )
        await assignment.publish(
            events.KpiStatusChanged(staff_id=kpi.staff_id, cause="status_change", changes=[change])
        )
    await ledger.wait_for(kpi.staff_kpi_id, 5)

    async def rescored() -> Any:
        found = published.recomputed[kpi.staff_kpi_id]
        return found[-1] if found and found[-1].current_score == 86.0 else None

    # as assignment counts it on reactivation, so the two services agree
    assert (await eventually(rescored)).next_evaluation_due == next_due(
        back, kpi.evaluation_frequency
    )
