"""Lifecycle news from assignment: each KpisAssigned, KpiStatusChanged or KpisRestated journaled
as one status_change entry per staff KPI, once per event, so that a person's journal tells their
whole story. A batch of events is journaled in one transaction with a few set-based statements."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from journal import domain, entries, queries
from journal.entries import Row
from kpi_contracts import events
from kpi_contracts.enums import Frequency, JournalEntryType, KpiSource, KpiStatus
from kpi_kit.consuming import Delivery, first_copies
from kpi_kit.db import Pool
from kpi_kit.outbox import Outbox, UnitOfWork, unit_of_work

# The inbox name under which assignment events are recorded as applied.
ASSIGNMENTS_CONSUMER = "journal.assignments"


@dataclass(frozen=True)
class _News:
    """One staff KPI's news in an assignment event."""

    parameters: events.ScoringParameters
    status: KpiStatus
    reported_at: datetime
    step: domain.Lifecycle
    reason: str | None
    cause: str
    actor: str | None  # who asked, when a person did: the entry's created_by
    entry_at: datetime | None = None  # when its entry is dated, if not when the news happened

    @property
    def dated(self) -> datetime:
        """When the news' entry is dated."""
        return self.entry_at or self.reported_at


@dataclass(frozen=True)
class _Told:
    """What one assignment event tells: its news, one per staff KPI, and the headers (its own
    delivery's correlation id) that the events it causes carry."""

    event_id: uuid.UUID
    news: Sequence[_News]
    headers: Mapping[str, str]


Announcement = tuple[events.Event, Mapping[str, str]]


class NewsTwiceOver(Exception):
    """Some of one KPI's news in a batch had been journaled already and some had not: the
    entries after the skipped one would stand on a state that never was. Raised to roll the
    batch back, so the kit applies its events one by one."""


def news_of(event: events.AssignmentEvent) -> list[_News]:
    """An assignment event's news, one per staff KPI: should it name a KPI twice, its last word."""
    if isinstance(event, events.KpisAssigned):
        news = [
            _News(
                p,
                KpiStatus.ACTIVE,
                p.assigned_at,
                domain.Lifecycle.ASSIGNED,
                None,
                event.cause,
                event.actor,
            )
            for p in event.kpis
        ]
    elif isinstance(event, events.KpisRestated):
        news = [
            _News(
                c.parameters,
                c.status,
                c.changed_at,
                domain.Lifecycle.RESTATED,
                c.reason,
                event.cause,
                event.actor,
                entry_at=event.occurred_at,
            )
            for c in event.kpis
        ]
    else:
        news = [
            _News(
                c.parameters,
                c.status,
                c.changed_at,
                domain.lifecycle_of(c.status, assigned=False),
                c.reason,
                event.cause,
                event.actor,
            )
            for c in event.changes
        ]
    return list({n.parameters.staff_kpi_id: n for n in news}.values())


async def record(pool: Pool, outbox: Outbox, event: events.AssignmentEvent) -> bool:
    """Journal assigned, deactivated, reactivated or restated KPIs: one status_change entry
    each, once per event."""
    async with unit_of_work(pool, outbox) as uow:
        if not await uow.first_delivery(ASSIGNMENTS_CONSUMER, event.event_id):
            return False
        told = _Told(event.event_id, news_of(event), uow.headers)
        await uow.publish_each(await _journal(uow, [told]))
    return True


async def record_batch(
    pool: Pool, outbox: Outbox, items: Sequence[tuple[events.AssignmentEvent, Delivery]]
) -> list[bool]:
    """Journal a batch of assignment events in one transaction, as if one by one in this order.

    Returns, per event, whether it was news: False when the inbox had it already, or for the
    second copy of an event delivered twice in the batch.
    """
    ids = [event.event_id for event, _ in items]
    async with unit_of_work(pool, outbox) as uow:
        # Sorted, so that two batches holding the same redelivered events wait in one order.
        first = await uow.first_deliveries(ASSIGNMENTS_CONSUMER, sorted(set(ids)))
        applied = first_copies(ids, first)
        told = [
            _Told(event.event_id, news_of(event), delivery.headers)
            for (event, delivery), new in zip(items, applied, strict=True)
            if new
        ]
        await uow.publish_each(await _journal(uow, told))
    return applied


async def _journal(uow: UnitOfWork, told: Sequence[_Told]) -> list[Announcement]:
    """Journal the news of events: one status_change entry per staff KPI and event.

    The KPIs the journal has not heard of are created with their entries in one statement; the
    others are locked and read in one (in id order, as every writer does, so that two batches in
    flight cannot deadlock) and moved on in one more. A KPI with news from several events gets
    them in the order given, each entry on the state the one before left.
    """
    chains = _chains(told)
    if not chains:
        return []
    fresh = {kpi: _chain_writes(_first_row(chain[0][1]), chain) for kpi, chain in chains.items()}
    created = await uow.conn.fetch(queries.CREATE_KPIS_WITH_ENTRIES, *_write_arrays(fresh))
    written = {row["id"] for row in created}
    announced = _announcements(fresh, written)
    rest = sorted(kpi for kpi, writes in fresh.items() if writes[0][1].entry["id"] not in written)
    if not rest:
        return announced
    known = await uow.conn.fetch(queries.LOCK_KPIS, rest)
    moved = {row["staff_kpi_id"]: _chain_writes(row, chains[row["staff_kpi_id"]]) for row in known}
    appended = await uow.conn.fetch(queries.APPEND_ENTRIES, *_write_arrays(moved))
    written = {row["id"] for row in appended}
    if any(len({w.entry["id"] in written for _, w in writes}) > 1 for writes in moved.values()):
        raise NewsTwiceOver("a KPI's news in this batch was partly journaled already")
    return announced + _announcements(moved, written)


_Chain = list[tuple[_Told, _News]]
_ChainWrites = list[tuple[_Told, entries.Write]]


def _chains(told: Sequence[_Told]) -> dict[uuid.UUID, _Chain]:
    """Each staff KPI's news, in the order of the events that tell it."""
    chains: dict[uuid.UUID, _Chain] = {}
    for t in told:
        for news in t.news:
            chains.setdefault(news.parameters.staff_kpi_id, []).append((t, news))
    return chains


def _chain_writes(kpi: Row, chain: _Chain) -> _ChainWrites:
    """The entries of one KPI's news, each written on the row the one before left."""
    writes: _ChainWrites = []
    for t, news in chain:
        write = _status_write(kpi, news, t.event_id)
        writes.append((t, write))
        kpi = write.kpi
    return writes


def _write_arrays(chains: Mapping[uuid.UUID, _ChainWrites]) -> list[Any]:
    """The arguments of a statement writing every entry and each KPI's row after its last."""
    rows = [w.entry for writes in chains.values() for _, w in writes]
    kpis = [writes[-1][1].kpi for writes in chains.values()]
    return entries.column_arrays(queries.ENTRY_COLUMNS, rows) + entries.column_arrays(
        queries.KPI_COLUMNS, kpis
    )


def _announcements(
    chains: Mapping[uuid.UUID, _ChainWrites], written: set[uuid.UUID]
) -> list[Announcement]:
    """The events of the entries written, each with the headers of the event that caused it."""
    done = [(t, w) for writes in chains.values() for t, w in writes if w.entry["id"] in written]
    entries.count_recomputes(w for _, w in done)
    return [(event, t.headers) for t, w in done for event in entries.caused_events(w)]


def _first_row(news: _News) -> dict[str, Any]:
    """The row of a staff KPI the journal hears of for the first time, before any entry."""
    p = news.parameters
    frequency = Frequency(p.evaluation_frequency)
    scores = domain.Scores(next_evaluation_due=domain.first_due(p.assigned_at, frequency))
    return {
        "staff_kpi_id": p.staff_kpi_id,
        **entries.parameter_columns(p),
        "status": news.status,
        "status_changed_at": news.reported_at,
        **entries.score_columns(scores),
        "sequence": 0,
    }


def _status_write(kpi: Row, news: _News, event_id: uuid.UUID) -> entries.Write:
    """The status_change entry for one KPI, and its row with the news applied if it is news.

    The entry is dated when the change happened (a correction, when it was made), so the
    person's story reads in order.
    """
    changes = _news_columns(kpi, news)
    parameters = entries.parameters_of({**kpi, **changes})
    scores = entries.scores_of(kpi)
    frequency = parameters.evaluation_frequency
    if "status" in changes and news.step is domain.Lifecycle.REACTIVATED:
        scores = domain.reactivated(scores, news.reported_at, frequency)
    elif "terms_revision" in changes and news.step is domain.Lifecycle.RESTATED:
        scores = domain.restated(
            scores,
            entries.parameters_of(kpi),
            parameters,
            assigned_before=kpi["assigned_at"],
            assigned_after=news.parameters.assigned_at,
        )
    applied = domain.with_parameters(scores, parameters)
    if applied.scores.next_evaluation_due != kpi["next_evaluation_due"]:
        applied = replace(applied, recomputed=True)  # assignment shows the due day too
    moved = entries.moved_row(kpi, applied, **changes)
    title, content = domain.status_change_text(
        news.step,
        news.parameters.module_name,
        source=KpiSource(news.parameters.source),
        reason=news.reason,
        cause=news.cause,
    )
    entry = entries.new_entry(
        kpi,
        moved["sequence"],
        JournalEntryType.STATUS_CHANGE,
        title,
        content,
        applied,
        news.dated,
        source_event_id=event_id,
        created_by=news.actor,
    )
    return entries.Write(moved, entry, applied)


def _news_columns(kpi: Row, news: _News) -> dict[str, Any]:
    """The columns of a KPI's row that news replaces: its status when the news is newer (by
    when it happened; a correction changes no status), its terms when they are newer."""
    status_is_newer = news.step is not domain.Lifecycle.RESTATED and domain.is_newer(
        news.reported_at, kpi["status_changed_at"]
    )
    changes: dict[str, Any] = {}
    if domain.terms_are_newer(
        news.parameters.revision, kpi["terms_revision"], status_is_newer=status_is_newer
    ):
        changes.update(entries.parameter_columns(news.parameters))
    if status_is_newer:
        changes.update(status=news.status, status_changed_at=news.reported_at)
    return changes
