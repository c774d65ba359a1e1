"""The assignment service's consumers: lifecycle events, the catalogue, the journal's scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from assignment import handlers
from kpi_contracts import codec, events, names
from kpi_kit.consuming import Consumer, Delivery
from kpi_kit.service import Runtime

BINDINGS: Final[dict[str, list[tuple[str, str]]]] = {
    names.ASSIGNMENT_LIFECYCLE_QUEUE: [
        (names.LIFECYCLE_EXCHANGE, names.CONTRACT_CREATED),
        (names.LIFECYCLE_EXCHANGE, names.ROLE_CHANGED),
        (names.LIFECYCLE_EXCHANGE, names.STAFF_EXITED),
    ],
    names.ASSIGNMENT_CATALOG_QUEUE: [
        (names.KPI_EXCHANGE, names.MODULE_UPSERTED),
        (names.KPI_EXCHANGE, names.TEMPLATE_KPIS_REPLACED),
    ],
    names.ASSIGNMENT_SCORES_QUEUE: [(names.KPI_EXCHANGE, names.SCORE_RECOMPUTED)],
}


def _decode_catalog(body: bytes) -> events.CatalogEvent:
    return codec.decode(body, events.CatalogEvent)


def _decode_score(body: bytes) -> events.ScoreRecomputed:
    return codec.decode(body, events.ScoreRecomputed)


def consumers(runtime: Runtime) -> Sequence[Consumer[Any]]:
    """One consumer per queue, each with the kit's decode / dedupe / dead-letter discipline."""
    gate = handlers.ReplicaGate()
    catalogue = handlers.CatalogueCache()

    async def on_lifecycle(event: events.LifecycleEvent, delivery: Delivery) -> bool:
        return await handlers.apply_lifecycle_event(
            runtime.pool, runtime.outbox, gate, event, delivery
        )

    async def on_lifecycle_batch(
        items: Sequence[tuple[events.LifecycleEvent, Delivery]],
    ) -> list[bool]:
        return await handlers.apply_lifecycle_batch(
            runtime.pool, runtime.outbox, gate, catalogue, items
        )

    async def on_catalog(event: events.CatalogEvent, _: Delivery) -> bool:
        return await handlers.replicate(runtime.pool, runtime.outbox, event)

    async def on_score(event: events.ScoreRecomputed, _: Delivery) -> bool:
        return await handlers.apply_score(runtime.pool, event)

    async def on_scores(items: Sequence[tuple[events.ScoreRecomputed, Delivery]]) -> list[bool]:
        return await handlers.apply_scores(runtime.pool, items)

    def consumer(
        queue: str, decode: Any, handle: Any, handle_batch: Any = None, route_of: Any = None
    ) -> Consumer[Any]:
        return Consumer(
            service="assignment",
            queue=queue,
            decode=decode,
            handle=handle,
            broker=runtime.broker,
            handle_batch=handle_batch,
            route_of=route_of,
        )

    # Lifecycle events and scores come in bursts and are applied in batches (one by one when a
    # batch fails); catalogue events are few.
    return [
        consumer(
            names.ASSIGNMENT_LIFECYCLE_QUEUE,
            codec.decode_lifecycle,
            on_lifecycle,
            on_lifecycle_batch,
            # interfaces §5: each routing key carries one event type; a RoleChanged body on
            # contract.created is dead-lettered, not applied as a role change.
            route_of=names.routing_key,
        ),
        consumer(names.ASSIGNMENT_CATALOG_QUEUE, _decode_catalog, on_catalog),
        consumer(names.ASSIGNMENT_SCORES_QUEUE, _decode_score, on_score, on_scores),
    ]
