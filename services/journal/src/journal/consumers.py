"""The journal's consumer: assignment's news about staff KPIs, journaled as status_change."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from journal import news
from kpi_contracts import codec, events, names
from kpi_kit.consuming import Consumer, Delivery
from kpi_kit.service import Runtime

BINDINGS = {
    names.JOURNAL_ASSIGNMENTS_QUEUE: [
        (names.KPI_EXCHANGE, names.KPI_ASSIGNED),
        (names.KPI_EXCHANGE, names.KPI_STATUS_CHANGED),
        (names.KPI_EXCHANGE, names.KPI_RESTATED),
    ]
}


def decode_assignment_event(body: bytes) -> events.AssignmentEvent:
    """A KpisAssigned, KpiStatusChanged or KpisRestated body; the `event_type` tag picks which."""
    event: events.AssignmentEvent = codec.decode(body, events.AssignmentEvent)
    return event


def consumers(runtime: Runtime) -> Sequence[Consumer[Any]]:
    """The journal keeps its copy of staff KPIs from assignment's events."""

    async def on_assignment_event(event: events.AssignmentEvent, _: Delivery) -> bool:
        return await news.record(runtime.pool, runtime.outbox, event)

    async def on_assignment_events(
        items: Sequence[tuple[events.AssignmentEvent, Delivery]],
    ) -> list[bool]:
        return await news.record_batch(runtime.pool, runtime.outbox, items)

    return [
        Consumer(
            service="journal",
            queue=names.JOURNAL_ASSIGNMENTS_QUEUE,
            decode=decode_assignment_event,
            handle=on_assignment_event,
            broker=runtime.broker,
            handle_batch=on_assignment_events,
        )
    ]
