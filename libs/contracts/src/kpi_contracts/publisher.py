"""The typed publisher a contract system calls to announce lifecycle events (interfaces §5)."""

from __future__ import annotations

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection

from kpi_contracts import codec, names
from kpi_contracts.events import LifecycleEvent


class LifecyclePublisher:
    """Publishes ContractCreated, RoleChanged and StaffExited to `hr.lifecycle`.

    Messages are persistent, JSON, with `message_id = event_id`, published with confirms and
    `mandatory` so that an unroutable event raises instead of vanishing.
    """

    def __init__(self, amqp_url: str) -> None:
        self._amqp_url = amqp_url
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def connect(self) -> None:
        """Open the connection and declare the durable topic exchange."""
        self._connection = await aio_pika.connect_robust(self._amqp_url)
        self._channel = await self._connection.channel(publisher_confirms=True)
        self._exchange = await self._channel.declare_exchange(
            names.LIFECYCLE_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )

    async def close(self) -> None:
        """Close the connection."""
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def __aenter__(self) -> LifecyclePublisher:
        await self.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def publish(self, event: LifecycleEvent) -> None:
        """Publish one event and wait for the broker's confirm."""
        if self._exchange is None:
            raise RuntimeError("LifecyclePublisher.connect() was not called")
        message = aio_pika.Message(
            body=codec.encode(event),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(event.event_id),
            type=type(event).__name__,
            timestamp=event.occurred_at,
        )
        await self._exchange.publish(message, routing_key=names.routing_key(event), mandatory=True)
