"""The FastStream RabbitMQ broker and the exchanges/queues every service declares alike."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Awaitable, Callable, Iterator, Sequence
from types import FrameType
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import AMQPConnectionError
from faststream.rabbit import Channel, ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue
from faststream.rabbit.schemas.queue import QueueType

from kpi_contracts import names
from kpi_kit.settings import Settings

log = logging.getLogger("kpi.broker")

# Broker-side backstop only: consumers dead-letter a failing message themselves, with a reason,
# long before this; redeliveries after a consumer crash count towards it.
DELIVERY_LIMIT = 20

LIFECYCLE = RabbitExchange(names.LIFECYCLE_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
# Without arguments, as §5's clients declare it: an alternate exchange made their declaration
# PRECONDITION_FAILED. The outbox relay parks what comes back unroutable in `hr.kpi.unrouted`.
KPI = RabbitExchange(names.KPI_EXCHANGE, type=ExchangeType.TOPIC, durable=True)
KPI_UNROUTED = RabbitExchange(names.KPI_UNROUTED, type=ExchangeType.FANOUT, durable=True)
KPI_UNROUTED_QUEUE = RabbitQueue(
    names.KPI_UNROUTED,
    queue_type=QueueType.QUORUM,
    durable=True,
    arguments={"x-max-length": 100_000, "x-message-ttl": 7 * 24 * 3600 * 1000},
)
# Announcements (events for subscribers the system does not have yet) are routed here, so that
# only misrouted events reach the parking lot: one per append would push out whatever was parked
# for a reason within a day. They expire on arrival: the journal keeps every entry they announce,
# and a subscriber binds a queue of its own. Cheaper for the broker than parking them.
KPI_ANNOUNCEMENTS_QUEUE = RabbitQueue(
    names.KPI_ANNOUNCEMENTS_QUEUE,
    queue_type=QueueType.CLASSIC,
    durable=True,
    arguments={"x-message-ttl": 0},
)
DEAD_LETTERS = RabbitExchange(names.DEAD_LETTER_EXCHANGE, type=ExchangeType.DIRECT, durable=True)


# How long one connection attempt may take (TCP and the AMQP handshake, at start and on every
# reconnection): a broker that takes the connection and never answers (hung, or a proxy with
# nothing behind it) held an attempt until TCP gave up, minutes, or for ever. A broker answers
# in milliseconds.
CONNECT_TIMEOUT = 5.0


def make_broker(settings: Settings, **kwargs: Any) -> RabbitBroker:
    """A broker with publisher confirms, raised returns and a bounded prefetch."""
    return RabbitBroker(
        settings.amqp_url,
        default_channel=Channel(
            prefetch_count=settings.prefetch, publisher_confirms=True, on_return_raises=True
        ),
        logger=log,
        log_level=logging.DEBUG,  # one line per message is too much at INFO under load
        graceful_timeout=10.0,
        timeout=CONNECT_TIMEOUT,
        app_id=f"kpi-{settings.service}",
        # Every subscriber takes the message itself (kpi_kit.consuming) and injects nothing:
        # FastDepends' model per message was a twentieth of a consumer's CPU.
        apply_types=False,
        **kwargs,
    )


async def connect_when_it_answers(broker: RabbitBroker, within: float) -> None:
    """Connect, trying again with back-off (0.5 s doubling to 5 s) for `within` seconds; after
    that, or when the process is asked to stop, the last error goes up (start-up fails). A stop
    is heard between tries, each of which lasts CONNECT_TIMEOUT at most. A wrong password is tried
    again too: the broker's operator may still be creating the user."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    delay = 0.5
    with _stop_signals_heard() as stopping, _client_retry_lines_hidden():
        while True:
            try:
                await broker.connect()
                return
            except (AMQPConnectionError, OSError) as exc:  # a TimeoutError is an OSError
                reason = str(exc) or type(exc).__name__
                left = deadline - loop.time()
                if left <= 0:
                    log.error("RabbitMQ did not answer within %ss: %s", within, reason)
                    raise
                if not stopping.is_set():
                    log.warning(
                        "RabbitMQ does not answer (%s): trying again in %.1fs", reason, delay
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), min(delay, left))
                if stopping.is_set():
                    log.warning("asked to stop while waiting for RabbitMQ")
                    raise
                delay = min(delay * 2, 5.0)


# What the AMQP clients log of a failed first connection: an ERROR from aiormq and an INFO from
# aio-pika promising a reconnection that a first connection never makes. Our warning says it all.
_CLIENT_LOGGERS = ("aiormq.connection", "aio_pika.robust_connection")


@contextlib.contextmanager
def _client_retry_lines_hidden() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in _CLIENT_LOGGERS]
    for logger in loggers:
        logger.addFilter(_nothing)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(_nothing)


def _nothing(record: logging.LogRecord) -> bool:
    return False


@contextlib.contextmanager
def _stop_signals_heard() -> Iterator[asyncio.Event]:
    """An event set by SIGTERM or SIGINT, whose handlers (uvicorn's) still run: uvicorn only
    looks at them once start-up is over, and a wait for the broker must not outlast a stop."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    previous: dict[int, Any] = {}

    def heard(signum: int, frame: FrameType | None) -> None:
        loop.call_soon_threadsafe(stopping.set)
        handler = previous[signum]
        if callable(handler):
            handler(signum, frame)
        elif handler == signal.SIG_DFL:  # nobody else listens: stop as the signal would
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    # signal.signal works on the main thread only (a test's thread hears nothing, as before)
    if threading.current_thread() is threading.main_thread():
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            previous[stop_signal] = signal.signal(stop_signal, heard)
    try:
        yield stopping
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def consumer_queue(name: str, routing_key: str = "") -> RabbitQueue:
    """A durable quorum queue that dead-letters to its own DLQ."""
    return RabbitQueue(
        name,
        queue_type=QueueType.QUORUM,
        durable=True,
        routing_key=routing_key,
        arguments={
            "x-dead-letter-exchange": names.DEAD_LETTER_EXCHANGE,
            "x-dead-letter-routing-key": names.dead_letter_queue(name),
            "x-delivery-limit": DELIVERY_LIMIT,
        },
    )


def dead_letter_queue(queue: str) -> RabbitQueue:
    """The durable classic queue holding a consumer queue's dead letters.

    Classic, without arguments: a client declares `hr.lifecycle.dlq` as §5 names it, plainly, and
    a quorum queue refuses that declaration (PRECONDITION_FAILED on `x-queue-type`).
    """
    return RabbitQueue(
        names.dead_letter_queue(queue), durable=True, routing_key=names.dead_letter_queue(queue)
    )


class OutdatedTopology(RuntimeError):
    """The broker holds an exchange or queue declared otherwise, as an older version did."""


async def declare_topology(
    broker: RabbitBroker,
    bindings: dict[str, list[tuple[str, str]]],
    announcements: Sequence[str] = (),
) -> None:
    """Declare the exchanges, each consumer queue with its DLQ and bindings, and the bindings
    that route the announcements a service publishes to where they expire.

    `bindings` maps a queue name to its (exchange, routing key) pairs; `announcements` are
    routing keys on `hr.kpi`. Raises OutdatedTopology where the broker holds an older topology.
    """
    try:
        await _declare_topology(broker, bindings, announcements)
    except aio_pika.exceptions.ChannelPreconditionFailed as refused:
        log.error("the broker holds an older topology, run `kpi broker upgrade`: %s", refused)
        raise OutdatedTopology(f"run `kpi broker upgrade` first: {refused}") from refused


async def _declare_topology(
    broker: RabbitBroker,
    bindings: dict[str, list[tuple[str, str]]],
    announcements: Sequence[str],
) -> None:
    for exchange in (LIFECYCLE, KPI_UNROUTED, KPI, DEAD_LETTERS):
        await broker.declare_exchange(exchange)
    unrouted = await broker.declare_queue(KPI_UNROUTED_QUEUE)
    await unrouted.bind(KPI_UNROUTED.name)
    if announcements:
        announced = await broker.declare_queue(KPI_ANNOUNCEMENTS_QUEUE)
        for key in announcements:
            await announced.bind(KPI.name, routing_key=key)
    for queue_name, pairs in bindings.items():
        dlq = await broker.declare_queue(dead_letter_queue(queue_name))
        await dlq.bind(DEAD_LETTERS.name, routing_key=dlq.name)
        queue = await broker.declare_queue(consumer_queue(queue_name))
        for exchange_name, key in pairs:
            await queue.bind(exchange_name, routing_key=key)


async def declares(
    connection: AbstractConnection, declaration: Callable[[AbstractChannel], Awaitable[object]]
) -> bool:
    """Whether the broker accepts a declaration (a passive one: whether the thing exists).

    On a channel of its own: a refused declaration closes the channel.
    """
    channel = await connection.channel()
    try:
        await declaration(channel)
        return True
    except aio_pika.exceptions.ChannelClosed:
        return False
    finally:
        if not channel.is_closed:
            await channel.close()
