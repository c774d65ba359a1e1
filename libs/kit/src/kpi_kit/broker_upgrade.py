"""Bring a broker that holds an older version's topology up to date (`kpi broker upgrade`).

Older versions declared `hr.kpi` with an alternate exchange and every dead-letter queue as a
quorum queue, so a client declaring them plainly, as §5 names them, was refused. RabbitMQ changes
neither in place: each is deleted and declared again, a DLQ's letters waiting meanwhile in a
holding queue of its own. A letter is published (confirmed) to where it goes before it is taken
from where it was, so an interruption loses none (at worst one is in both), and running the
upgrade again finishes what the last run began.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Sequence
from typing import cast

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection

from kpi_kit.broker import (
    DEAD_LETTERS,
    KPI,
    dead_letter_queue,
    declare_topology,
    declares,
    make_broker,
)
from kpi_kit.dlq import exists
from kpi_kit.service import ServiceDefinition
from kpi_kit.settings import Settings


def holding_queue(dlq: str) -> str:
    """Where a DLQ's letters wait while the DLQ is declared again."""
    return f"{dlq}.upgrading"


async def upgrade_topology(amqp_url: str, services: Sequence[ServiceDefinition]) -> list[str]:
    """Bring the topology these services declare up to date on a broker; what it changed.

    An up-to-date broker is left as it is, and a fresh one empty (services declare their
    topology as they start). Stop the services' workers first: a DLQ being moved takes no letters.
    """
    consumer_queues = sorted({queue for service in services for queue in service.bindings})
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        changes = await _declare_kpi_exchange_again(connection, channel)
        for queue in consumer_queues:
            changes += await _set_dead_letters_aside(connection, channel, queue)
        dlqs = [dead_letter_queue(queue).name for queue in consumer_queues]
        waiting = [dlq for dlq in dlqs if await exists(connection, holding_queue(dlq))]
        if changes or waiting or await _exchange_exists(connection, KPI.name):
            # Deleting hr.kpi took every binding to it: the services' own come back here.
            await declare_topologies(amqp_url, services)
        for dlq in waiting:
            moved = await _move_and_delete(connection, holding_queue(dlq), dlq)
            changes.append(f"{dlq}: {moved} letter(s) back in it")
        return changes
    finally:
        await connection.close()


async def declare_topologies(amqp_url: str, services: Sequence[ServiceDefinition]) -> None:
    """Declare every service's topology, queues and bindings, as its worker does on start."""
    broker = make_broker(Settings(service="broker-upgrade", amqp_url=amqp_url))
    await broker.connect()
    try:
        for service in services:
            await declare_topology(broker, service.bindings, service.announcements)
    finally:
        await broker.stop()


async def _declare_kpi_exchange_again(
    connection: AbstractConnection, channel: AbstractChannel
) -> list[str]:
    async def declare(on: AbstractChannel, passive: bool = False) -> object:
        return await on.declare_exchange(
            KPI.name, KPI.type.value, durable=KPI.durable, arguments=KPI.arguments, passive=passive
        )

    if not await _held_otherwise(connection, declare):
        return []
    await channel.exchange_delete(KPI.name)
    await declare(channel)
    return [f"{KPI.name}: declared again, without arguments"]


async def _set_dead_letters_aside(
    connection: AbstractConnection, channel: AbstractChannel, consumer_queue: str
) -> list[str]:
    """Move the letters of a DLQ declared otherwise than now to its holding queue, and delete it
    (`declare_topology` declares it again)."""
    dlq = dead_letter_queue(consumer_queue)

    async def declare(on: AbstractChannel, passive: bool = False) -> object:
        return await on.declare_queue(
            dlq.name, durable=dlq.durable, arguments=dlq.arguments, passive=passive
        )

    if not await _held_otherwise(connection, declare):
        return []
    old = await channel.declare_queue(dlq.name, passive=True)
    await old.unbind(DEAD_LETTERS.name, routing_key=dlq.name)  # no new letter comes in
    await channel.declare_queue(holding_queue(dlq.name), durable=True)
    moved = await _move_and_delete(connection, dlq.name, holding_queue(dlq.name))
    return [f"{dlq.name}: {moved} letter(s) set aside, the queue deleted to be declared again"]


async def _held_otherwise(
    connection: AbstractConnection, declare: Callable[[AbstractChannel, bool], Awaitable[object]]
) -> bool:
    """Whether the broker holds an exchange or queue, declared otherwise than `declare` does
    (which RabbitMQ refuses with PRECONDITION_FAILED)."""
    return await declares(connection, lambda on: declare(on, True)) and not await declares(
        connection, lambda on: declare(on, False)
    )


async def _move_and_delete(connection: AbstractConnection, source: str, target: str) -> int:
    """Move every message of one queue to another, headers and properties kept, then delete the
    first; how many were moved.

    On a channel of its own: a RabbitMQ 3.10 channel that has used a quorum queue crashes
    (INTERNAL_ERROR) delivering to the classic queue declared again under its name.
    """
    channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
    try:
        queue = await channel.declare_queue(source, passive=True)
        moved = 0
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            await channel.default_exchange.publish(
                _as_it_came(message), routing_key=target, mandatory=True
            )
            await message.ack()
            moved += 1
        # Not `if_empty`: quorum queues refuse it. Nothing routes to the source any more.
        await queue.delete(if_unused=False, if_empty=False)
        return moved
    finally:
        await channel.close()


def _as_it_came(message: aio_pika.abc.AbstractIncomingMessage) -> aio_pika.Message:
    """A message of the same body, headers and properties, but for the count of deliveries a
    quorum queue adds to what it delivers: its own, not the letter's."""
    copied = cast(aio_pika.Message, copy.copy(message))  # Message.__copy__: unlocked, outgoing
    copied.headers = {k: v for k, v in message.headers.items() if k != "x-delivery-count"}
    return copied


async def _exchange_exists(connection: AbstractConnection, name: str) -> bool:
    return await declares(connection, lambda channel: channel.declare_exchange(name, passive=True))
