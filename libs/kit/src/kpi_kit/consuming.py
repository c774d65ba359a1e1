"""One consumer discipline for every service: decode, dedupe, retry, dead-letter with a reason.

Transient faults (database or broker away) are retried in place with backoff for as long as they
last, so a database restart neither loses nor dead-letters anything. Any other failure is retried a
few times, then the message goes to the queue's DLQ with the reason in `x-dlq-reason`. Messages are
acknowledged only after the handler's transaction committed.

A consumer given a batch handler applies the messages that arrive while a batch is being applied
as the next batch, in one transaction: under a burst (10,000 contracts in a wave) a service pays
its round trips and commit once per batch instead of once per event, and a lone message still
goes at once. A batch that fails for any reason is applied again one message at a time by the
per-event handler, so the retry and dead-letter rules above stay per message.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import msgspec
from faststream.middlewares import AckPolicy
from faststream.rabbit import RabbitBroker, RabbitMessage, RabbitRouter

from kpi_contracts import names
from kpi_kit.broker import DEAD_LETTERS, consumer_queue
from kpi_kit.confirmations import CONFIRM_TO, send_word
from kpi_kit.db import is_transient
from kpi_kit.metrics import EVENTS_CONSUMED
from kpi_kit.observability import CORRELATION_HEADER, correlation_id_var

log = logging.getLogger("kpi.consumer")

T = TypeVar("T")
MAX_ATTEMPTS = 3
# No event of the contract comes near this; a bigger body is hostile or broken, never applied.
MAX_BODY_BYTES = 256 * 1024
# Events per batch, and batches applied at once per consumer: two keep the database busy while
# the process works out the next batch. Their locks are taken in one statement in a fixed order.
MAX_BATCH = 100
BATCHES_IN_FLIGHT = 2


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

BatchHandler = Callable[[Sequence[tuple[T, Delivery]]], Awaitable[Sequence[bool]]]
"""Applies events in one transaction; returns, per event in order, whether it was applied.

Raising anything makes every event of the batch be applied one by one by the `Handler`."""


def first_copies(event_ids: Sequence[uuid.UUID], first_deliveries: set[uuid.UUID]) -> list[bool]:
    """Per event of a batch, whether to apply it: new to the inbox (`first_deliveries`, as
    `UnitOfWork.first_deliveries` answers), and its first copy in the batch (a message may be
    delivered twice at once)."""
    left = set(first_deliveries)
    fresh = []
    for event_id in event_ids:
        fresh.append(event_id in left)
        left.discard(event_id)
    return fresh


class _Batcher(Generic[T]):
    """Gathers the events submitted while batches are being applied into the next batch."""

    def __init__(self, queue: str, apply: BatchHandler[T], max_batch: int) -> None:
        self._queue = queue
        self._apply = apply
        self._max_batch = max_batch
        self._waiting: list[tuple[T, Delivery, asyncio.Future[bool | None]]] = []
        self._draining = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, event: T, delivery: Delivery) -> bool | None:
        """Whether the event's batch applied it (False: a redelivery); None: apply it alone."""
        done: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((event, delivery, done))
        if self._draining < BATCHES_IN_FLIGHT:
            self._draining += 1
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await done

    async def _drain(self) -> None:
        # Starts on the next turn of the loop, so deliveries already in hand join the first batch.
        correlation_id_var.set(None)  # a batch has many; each event's own travels in its headers
        try:
            while self._waiting:
                batch = self._waiting[: self._max_batch]
                del self._waiting[: self._max_batch]
                await self._settle(batch)
        finally:
            self._draining -= 1

    async def _settle(self, batch: list[tuple[T, Delivery, asyncio.Future[bool | None]]]) -> None:
        outcome: Sequence[bool | None]
        try:
            outcome = await self._apply([(event, delivery) for event, delivery, _ in batch])
            if len(outcome) != len(batch):
                raise RuntimeError(f"{len(outcome)} outcomes for a batch of {len(batch)}")
        except Exception as exc:
            log.warning(
                "%s: a batch of %d failed, applying them one by one: %r",
                self._queue,
                len(batch),
                exc,
            )
            outcome = [None] * len(batch)
        else:
            # At DEBUG like the per-event lines: kpi_events_consumed_total counts every outcome,
            # and under steady load a batch is one or two events, so an INFO line per batch was
            # a JSON line per event (6 % of assignment's samples under the append load).
            fresh = sum(1 for a in outcome if a)
            log.debug(
                "%s: a batch of %d: %d applied, %d duplicate",
                self._queue,
                len(batch),
                fresh,
                len(batch) - fresh,
            )
        for (_, _, done), applied in zip(batch, outcome, strict=True):
            if not done.done():  # its delivery may have been cancelled (shutdown)
                done.set_result(applied)


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
        handle_batch: BatchHandler[T] | None = None,
        max_batch: int = MAX_BATCH,
        route_of: Callable[[T], str] | None = None,
    ) -> None:
        self.service = service
        self.max_body_bytes = max_body_bytes
        self.queue = queue
        self._decode = decode
        # The routing key each decoded event must have come by (interfaces §5 gives every key its
        # body): a body of another type on a key is as invalid as one that does not decode.
        self._route_of = route_of
        self._handle = handle
        self._broker = broker
        self._batcher = _Batcher(queue, handle_batch, max_batch) if handle_batch else None

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
        misrouted = self._misrouted(message, event)
        if misrouted:
            await self.dead_letter(message, f"invalid event: {misrouted}", kind)
            return
        if delivery.redelivered:
            EVENTS_CONSUMED.labels(self.service, kind, "redelivered").inc()
        if self._batcher is not None:
            applied = await self._batcher.submit(event, delivery)
            if applied is not None:
                self._settled(kind, applied, logging.DEBUG)  # the batch's line is at INFO
                await _confirm(message)
                return
        if await self._apply_alone(message, event, delivery, kind):
            await _confirm(message)

    def _misrouted(self, message: RabbitMessage, event: T) -> str | None:
        """Why an event did not come by the routing key of its type (None when it did, or when
        its way in is unknown: moved straight to the queue with no original route on it)."""
        if self._route_of is None:
            return None
        arrived = arrived_by(message.raw_message)
        expected = self._route_of(event)
        if arrived is None or arrived == expected:
            return None
        return f"a {type(event).__name__} came by routing key {arrived!r}, not {expected!r}"

    async def _apply_alone(
        self, message: RabbitMessage, event: T, delivery: Delivery, kind: str
    ) -> bool:
        """Apply an event with retries; False when it was dead-lettered instead."""
        attempt, delay = 0, 0.1
        while True:
            try:
                applied = await self._handle(event, delivery)
            except Rejected as exc:
                await self.dead_letter(message, f"rejected: {exc}", kind)
                return False
            except Exception as exc:
                EVENTS_CONSUMED.labels(self.service, kind, "retried").inc()
                if is_transient(exc):
                    log.warning(
                        "%s: transient fault, retrying in %.1fs: %r", self.queue, delay, exc
                    )
                else:
                    attempt += 1
                    if attempt >= MAX_ATTEMPTS:
                        log.exception(
                            "%s: giving up on %s after %d attempts", self.queue, kind, attempt
                        )
                        await self.dead_letter(message, f"failed {attempt} times: {exc!r}", kind)
                        return False
                    log.warning("%s: attempt %d failed: %r", self.queue, attempt, exc)
            else:
                self._settled(kind, applied)
                return True
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _settled(self, kind: str, applied: bool, level: int = logging.INFO) -> None:
        outcome = "applied" if applied else "duplicate"
        EVENTS_CONSUMED.labels(self.service, kind, outcome).inc()
        log.log(level, "%s: %s %s", self.queue, outcome, kind)

    async def dead_letter(self, message: RabbitMessage, reason: str, kind: str) -> None:
        """Park a message in this queue's DLQ with the reason (confirmed before the ack)."""
        raw = message.raw_message
        headers: dict[str, Any] = dict(raw.headers or {})
        headers.update(
            {
                "x-dlq-reason": reason[:2000],
                "x-dlq-queue": self.queue,
                "x-dlq-at": datetime.now(UTC).isoformat(),
            }
        )
        # A replayed letter came straight to this queue (default exchange): keep the route it
        # first came in by, which the replay left on it.
        if raw.exchange or "x-original-exchange" not in headers:
            headers["x-original-exchange"] = raw.exchange or ""
            headers["x-original-routing-key"] = raw.routing_key or ""
        await self._broker.publish(
            message.body,
            exchange=DEAD_LETTERS,
            routing_key=names.dead_letter_queue(self.queue),
            persist=True,
            headers=headers,
            message_id=raw.message_id,
            # Kept, or FastStream makes one up: a replayed letter would log under another id.
            correlation_id=raw.correlation_id,
            content_type=raw.content_type,
        )
        EVENTS_CONSUMED.labels(self.service, kind, "dead_lettered").inc()
        log.error("%s: dead-lettered a message: %s", self.queue, reason[:300])


async def _confirm(message: RabbitMessage) -> None:
    """Send word that an event is applied, when the request that caused it waits for it."""
    headers = message.raw_message.headers
    if headers and CONFIRM_TO in headers:
        await send_word(message.raw_message.channel, headers)


async def _the_message(message: RabbitMessage) -> RabbitMessage:
    """Hand the handler the message itself, undecoded.

    `process` decodes the body, so a body FastStream cannot parse as JSON (content_type
    application/json) is dead-lettered with its reason instead of being requeued for ever. And a
    `RabbitMessage` context parameter would be resolved in a worker thread for every message
    (a third of the throughput, FIELD-NOTES); as the decoded body it costs nothing.
    """
    return message


def arrived_by(raw: Any) -> str | None:
    """The routing key a message was published with: its own, or, for a dead letter replayed
    straight to its queue (the default exchange), the original one the letter keeps."""
    if raw.exchange:
        return str(raw.routing_key or "")
    original = (raw.headers or {}).get("x-original-routing-key")
    return str(original) if original else None


def _delivery_of(message: RabbitMessage) -> Delivery:
    raw = message.raw_message
    headers = raw.headers or {}
    correlation = headers.get(CORRELATION_HEADER) or raw.correlation_id or str(uuid.uuid4())
    return Delivery(
        message_id=raw.message_id,
        correlation_id=str(correlation),
        redelivered=bool(raw.redelivered),
    )
