"""Inspect and replay dead-lettered messages (`kpi dlq list|show|replay`), and the internal
events parked in `hr.kpi.unrouted` because no queue was bound for them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage

from kpi_contracts import names
from kpi_kit.broker import declares

DLQ_HEADERS = (
    "x-dlq-reason",
    "x-dlq-queue",
    "x-dlq-at",
    "x-original-exchange",
    "x-original-routing-key",
)
# What a replay takes off a letter: why and where it was parked (the route it came in by stays).
REPARKED = (*DLQ_HEADERS[:3], "x-unrouted-reason")


@dataclass(frozen=True)
class DeadLetter:
    """One parked message, as an operator sees it."""

    message_id: str | None
    reason: str
    original_exchange: str
    original_routing_key: str
    dead_lettered_at: str
    body_preview: str
    source_queue: str = ""  # the consumer queue it was taken from, when known


def dead_letter_queues(consumer_queues: Iterable[str]) -> list[str]:
    """The DLQ of every consumer queue."""
    return sorted({names.dead_letter_queue(queue) for queue in consumer_queues})


async def counts(amqp_url: str, queues: Iterable[str]) -> dict[str, int | None]:
    """How many messages each DLQ holds (None where the queue does not exist yet)."""
    connection = await aio_pika.connect(amqp_url)
    result: dict[str, int | None] = {}
    try:
        for queue in queues:
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(queue, passive=True)
                result[queue] = declared.declaration_result.message_count
            except aio_pika.exceptions.ChannelClosed:
                result[queue] = None
    finally:
        await connection.close()
    return result


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    """What an operator needs to know about a dead letter."""
    headers: dict[str, Any] = dict(message.headers or {})
    death = (headers.get("x-death") or [{}])[0]
    return DeadLetter(
        message_id=message.message_id,
        reason=str(
            headers.get("x-dlq-reason")
            or headers.get("x-unrouted-reason")
            or f"broker: {death.get('reason', 'unknown')}"
        ),
        original_exchange=str(headers.get("x-original-exchange") or death.get("exchange", "")),
        # A message parked unrouted was published to the parking exchange under its own key.
        original_routing_key=str(
            headers.get("x-original-routing-key")
            or (death.get("routing-keys") or [message.routing_key or ""])[0]
        ),
        dead_lettered_at=str(headers.get("x-dlq-at", "")),
        body_preview=message.body[:300].decode("utf-8", errors="replace"),
        source_queue=str(headers.get("x-dlq-queue") or death.get("queue", "")),
    )


async def exists(connection: AbstractConnection, queue: str) -> bool:
    """Whether the broker holds a queue of that name."""
    return await declares(connection, lambda channel: channel.declare_queue(queue, passive=True))


async def _take(channel: AbstractChannel, queue: str, limit: int) -> list[AbstractIncomingMessage]:
    declared = await channel.declare_queue(queue, passive=True)
    taken: list[AbstractIncomingMessage] = []
    while len(taken) < limit:
        message = await declared.get(no_ack=False, fail=False)
        if message is None:
            break
        taken.append(message)
    return taken


async def show(amqp_url: str, queue: str, limit: int = 20) -> list[DeadLetter]:
    """Read up to `limit` dead letters without removing them."""
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        taken = await _take(channel, queue, limit)
        described = [describe(message) for message in taken]
        for message in taken:
            await message.nack(requeue=True)
        return described
    finally:
        await connection.close()


# How many letters a replay holds unacknowledged at once: a whole queue held at once could
# outlast the broker's delivery acknowledgement timeout.
REPLAY_CHUNK = 500


async def replay(amqp_url: str, queue: str, limit: int = 1_000) -> int:
    """Republish up to `limit` dead letters to the queue they came from (confirmed), removing
    each once the broker has it, a chunk at a time.

    Straight to that queue (the default exchange routes by queue name), not through the original
    exchange, which would hand a copy to every other queue bound to the same key as well.
    """
    connection = await aio_pika.connect(amqp_url)
    replayed = 0
    try:
        # A message nothing takes comes back and raises: the letter stays parked, not lost.
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        existing: dict[str, bool] = {}  # per source queue: a DLQ's letters mostly share one
        while replayed < limit and (
            chunk := await _take(channel, queue, min(REPLAY_CHUNK, limit - replayed))
        ):
            replayed += await _republish(connection, channel, chunk, existing)
    finally:
        await connection.close()
    return replayed


async def _republish(
    connection: AbstractConnection,
    channel: AbstractChannel,
    letters: list[AbstractIncomingMessage],
    existing: dict[str, bool],
) -> int:
    replayed = 0
    for message in letters:
        letter = describe(message)
        # Its way in stays on it, so that a second parking still names the original route.
        headers = {k: v for k, v in (message.headers or {}).items() if k not in REPARKED}
        headers["x-replayed-at"] = datetime.now(UTC).isoformat()
        source = letter.source_queue
        if source and source not in existing:
            existing[source] = await exists(connection, source)
        if source and existing[source]:
            exchange, routing_key = channel.default_exchange, letter.source_queue
        else:  # parked by hand, by an older version, or its queue is gone: its way in
            exchange = await channel.get_exchange(letter.original_exchange, ensure=False)
            routing_key = letter.original_routing_key
        await exchange.publish(
            aio_pika.Message(
                message.body,
                headers=headers,
                content_type=message.content_type,
                message_id=message.message_id,
                correlation_id=message.correlation_id,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=routing_key,
            mandatory=True,
        )
        await message.ack()
        replayed += 1
    return replayed
