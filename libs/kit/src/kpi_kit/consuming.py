"""One consumer discipline for every service: decode, dedupe, retry, dead-letter with a reason.

Transient faults (database or broker away) are retried in place with backoff for as long as they
last, so a database restart neither loses nor dead-letters anything. Any other failure is retried a
few times, then the message goes to the queue's DLQ with the reason in `x-dlq-reason`. Messages are
acknowledged only after the handler's transaction committed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import msgspec
from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitMessage, RabbitRouter

from kpi_contracts import names
from kpi_kit.broker import DEAD_LETTERS, consumer_queue
from kpi_kit.db import TRANSIENT_DB_ERRORS
from kpi_kit.metrics import EVENTS_CONSUMED
from kpi_kit.observability import CORRELATION_HEADER, correlation_id_var

log = logging.getLogger("kpi.consumer")

T = TypeVar("T")
MAX_ATTEMPTS = 3
# No event of the contract comes near this; a bigger body is hostile or broken, never applied.
MAX_BODY_BYTES = 256 * 1024


class Rejected(Exception):
    """A well-formed event that can never be applied (an unknown module, say): dead-letter it."""


@dataclass(frozen=True)
class Delivery:
    """Context of one inbound message that a handler may need."""

    message_id: str | None
    correlation_id: str
    redelivered: bool

    @property
    def headers(self) -> dict[str, str]:
        """Headers to carry into the events this delivery causes."""
        return {CORRELATION_HEADER: self.correlation_id}


Handler = Callable[[T, Delivery], Awaitable[bool]]
"""Applies an event; returns False when the inbox found it was already applied."""


class Consumer(Generic[T]):
    """Binds a handler to a queue with the shared decode / retry / dead-letter rules."""

    def __init__(
        self,
        *,
        service: str,
        queue: str,
        decode: Callable[[bytes], T],
        handle: Handler[T],
        broker: RabbitBroker,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.queue = queue
        self._decode = decode
        self._handle = handle
        self._broker = broker

    def register(self, router: RabbitRouter) -> None:
        """Add this consumer's subscriber to a router."""

        @router.subscriber(
            consumer_queue(self.queue),
            ack_policy=AckPolicy.NACK_ON_ERROR,
            title=self.queue,
            decoder=_the_message,
        )
        async def on_message(message: Any) -> None:
            await self.process(message)

    async def process(self, message: RabbitMessage) -> None:
        """Decode and apply one message; dead-letter what can never be applied."""
        delivery = _delivery_of(message)
        token = correlation_id_var.set(delivery.correlation_id)
        try:
            await self._process(message, delivery)
        finally:
            correlation_id_var.reset(token)

    async def _process(self, message: RabbitMessage, delivery: Delivery) -> None:
        if len(message.body) > self.max_body_bytes:
            reason = f"invalid event: a body of {len(message.body)} bytes is over the limit"
            await self.dead_letter(message, f"{reason} of {self.max_body_bytes}", "oversized")
            return
        try:
            event = self._decode(message.body)
        except (
            msgspec.DecodeError,
            msgspec.ValidationError,
            UnicodeDecodeError,
            ValueError,
        ) as exc:
            await self.dead_letter(message, f"invalid event: {exc}", "undecodable")
            return
        kind = type(event).__name__
        if delivery.redelivered:
            EVENTS_CONSUMED.labels(self.service, kind, "redelivered").inc()
        attempt, delay = 0, 0.1
        while True:
            try:
                applied = await self._handle(event, delivery)
            except Rejected as exc:
                await self.dead_letter(message, f"rejected: {exc}", kind)
                return
            except TRANSIENT_DB_ERRORS as exc:
                EVENTS_CONSUMED.labels(self.service, kind, "retried").inc()
                log.warning("%s: transient fault, retrying in %.1fs: %r", self.queue, delay, exc)
            except Exception as exc:
                attempt += 1
                EVENTS_CONSUMED.labels(self.service, kind, "retried").inc()
                if attempt >= MAX_ATTEMPTS:
                    log.exception(
                        "%s: giving up on %s after %d attempts", self.queue, kind, attempt
                    )
                    await self.dead_letter(message, f"failed {attempt} times: {exc!r}", kind)
                    return
                log.warning("%s: attempt %d failed: %r", self.queue, attempt, exc)
            else:
                outcome = "applied" if applied else "duplicate"
                EVENTS_CONSUMED.labels(self.service, kind, outcome).inc()
                log.info("%s: %s %s", self.queue, outcome, kind)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def dead_letter(self, message: RabbitMessage, reason: str, kind: str) -> None:
        """Park a message in this queue's DLQ with the reason (confirmed before the ack)."""
        raw = message.raw_message
        headers: dict[str, Any] = dict(raw.headers or {})
        headers.update(
            {
                "x-dlq-reason": reason[:2000],
                "x-dlq-queue": self.queue,
                "x-dlq-at": datetime.now(UTC).isoformat(),
                "x-original-exchange": raw.exchange or "",
                "x-original-routing-key": raw.routing_key or "",
            }
        )
        await self._broker.publish(
            message.body,
            exchange=DEAD_LETTERS,
            routing_key=names.dead_letter_queue(self.queue),
            persist=True,
            headers=headers,
            message_id=raw.message_id,
            content_type=raw.content_type,
        )
        EVENTS_CONSUMED.labels(self.service, kind, "dead_lettered").inc()
        log.error("%s: dead-lettered a message: %s", self.queue, reason[:300])


async def _the_message(message: RabbitMessage) -> RabbitMessage:
    """Hand the handler the message itself, undecoded.

    `process` decodes the body, so a body FastStream cannot parse as JSON (content_type
    application/json) is dead-lettered with its reason instead of being requeued for ever. And a
    `RabbitMessage` context parameter would be resolved in a worker thread for every message
    (a third of the throughput, FIELD-NOTES); as the decoded body it costs nothing.
    """
    return message


def _delivery_of(message: RabbitMessage) -> Delivery:
    raw = message.raw_message
    headers = raw.headers or {}
    correlation = headers.get(CORRELATION_HEADER) or raw.correlation_id or str(uuid.uuid4())
    return Delivery(
        message_id=raw.message_id,
        correlation_id=str(correlation),
        redelivered=bool(raw.redelivered),
    )
