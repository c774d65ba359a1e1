"""The shape of a service and the one app factory that wires it (pool, broker, relay, routes)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import aio_pika
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitRouter
from litestar import Litestar, Router
from litestar.di import NamedDependency, Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.types import ControllerRouterHandler

from kpi_contracts import names
from kpi_kit import health, tracing
from kpi_kit.auth import authorize, dev_token, principal_dependency
from kpi_kit.broker import connect_when_it_answers, declare_topology, make_broker
from kpi_kit.confirmations import Confirmations
from kpi_kit.consuming import Consumer
from kpi_kit.db import Pool, create_pool
from kpi_kit.errors import EXCEPTION_HANDLERS, PROBLEM_RESPONSES
from kpi_kit.http_methods import answer_head_as_get
from kpi_kit.metrics import OUTBOX_PUBLISHED
from kpi_kit.observability import CORRELATION_HEADER, ObservabilityMiddleware
from kpi_kit.outbox import Outbox, OutboxMessage, OutboxRelay, Publish, prune_inbox
from kpi_kit.settings import Settings

log = logging.getLogger("kpi.service")

ServiceRole = Literal["api", "worker", "all"]
T = TypeVar("T")
# How long a stopping worker gives its relay to publish the outbox: with the consumers' graceful
# timeout (10 s) and the pod's preStop (5 s), within Kubernetes' 30 s grace period.
RELAY_DRAIN_SECONDS = 10.0
INBOX_PRUNE_EVERY_SECONDS = 3600.0


class Runtime:
    """What a running service holds: its settings, pool, broker and outbox names."""

    def __init__(self, settings: Settings, outbox: Outbox, broker: RabbitBroker) -> None:
        self.settings = settings
        self.outbox = outbox
        self.broker = broker
        # Started only in a process that serves a definition's API that `awaits_word`.
        self.confirmations = Confirmations(settings.service, settings.confirm_timeout)
        self._pool: Pool | None = None
        self.relay: OutboxRelay | None = None
        self.consumer_queues: list[str] = []
        self._held: dict[type, object] = {}

    def held(self, kind: type[T]) -> T:
        """The runtime's one `kind()`, made on first use: a service's in-process state (such as a
        cache of what its database holds), kept per runtime as each has its own database."""
        if kind not in self._held:
            self._held[kind] = kind()
        return cast(T, self._held[kind])

    @property
    def pool(self) -> Pool:
        """The database pool (open between start-up and shutdown)."""
        if self._pool is None:
            raise RuntimeError("the service has not started")
        return self._pool


Services = NamedDependency[Runtime]
"""Annotation of a route's `runtime` parameter: the running service's pool, outbox, settings."""


@dataclass(frozen=True)
class ServiceDefinition:
    """Everything that makes one service different from the others."""

    name: str
    migrations: Path
    route_handlers: Sequence[ControllerRouterHandler] = ()
    consumers: Callable[[Runtime], Sequence[Consumer[Any]]] = lambda _: ()
    bindings: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    # Routing keys of the events it publishes for subscribers the system does not have yet.
    announcements: Sequence[str] = ()
    on_worker_start: Callable[[Runtime], Awaitable[None]] | None = None
    # Coroutines a worker runs beside its consumers until it stops (cancelled then).
    worker_tasks: Sequence[Callable[[Runtime], Awaitable[None]]] = ()
    serves_dev_token: bool = False
    # Whether its API waits for word that the events its requests cause were applied by the
    # service that shows their change (`kpi_kit.confirmations`): read your writes.
    awaits_word: bool = False
    commands: dict[str, Callable[[Runtime], Awaitable[str]]] = field(default_factory=dict)
    # The database role the service's connections assume by default (Settings.db_role wins).
    db_role: str | None = None


def create_app(
    definition: ServiceDefinition, settings: Settings, role: ServiceRole = "all"
) -> Litestar:
    """Build the service's Litestar app; nothing connects until its lifespan starts."""
    settings.check_safe_for_env()
    provider = tracing.tracer_provider(definition.name)
    broker = make_broker(settings, middlewares=tracing.broker_middlewares(provider))
    runtime = Runtime(settings, Outbox(definition.name), broker)
    serves_api = role in ("api", "all")
    runs_worker = role in ("worker", "all")
    if runs_worker:
        router = RabbitRouter()
        for consumer in definition.consumers(runtime):
            consumer.register(router)
            runtime.consumer_queues.append(consumer.queue)
        runtime.broker.include_router(router)

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with runtime_started(definition, runtime, runs_worker, serves_api):
            yield

    handlers: list[ControllerRouterHandler] = [health.router(runtime)]
    if serves_api:
        api = list(definition.route_handlers)
        if definition.serves_dev_token and settings.env == "dev":
            api.append(dev_token)
        handlers.append(Router(path="/", route_handlers=api))
    app = Litestar(
        route_handlers=handlers,
        dependencies={
            "principal": principal_dependency,
            "runtime": Provide(lambda: runtime, use_cache=True, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        before_request=authorize,
        middleware=[DefineMiddleware(ObservabilityMiddleware, service=definition.name)],
        lifespan=[lifespan],
        plugins=tracing.http_plugins(provider),
        openapi_config=OpenAPIConfig(
            title=f"KPI {definition.name} service",
            version="1.0.0",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        debug=False,
        logging_config=None,  # kpi_kit.observability configures logging (JSON, correlation id)
    )
    app.state.settings = settings
    app.state.runtime = runtime
    answer_head_as_get(app)
    _document_problems(app)
    return app


def _document_problems(app: Litestar) -> None:
    """State in the OpenAPI document the problem+json answers every API route may give.

    A route's own `responses` win; the schema is built lazily, so this runs before it is.
    """
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.include_in_schema:
                handler.responses = {**PROBLEM_RESPONSES, **(handler.responses or {})}


@contextlib.asynccontextmanager
async def runtime_started(
    definition: ServiceDefinition, runtime: Runtime, runs_worker: bool, serves_api: bool = False
) -> AsyncIterator[None]:
    """Open the pool and broker (for workers the consumers and outbox relay, for an API that
    awaits word its reply queue) until exit."""
    role = runtime.settings.db_role
    runtime._pool = await create_pool(
        runtime.settings, definition.db_role if role is None else role
    )
    relay_task: asyncio.Task[None] | None = None
    background: list[asyncio.Task[None]] = []
    try:
        await connect_when_it_answers(runtime.broker, runtime.settings.broker_start_timeout)
        await declare_topology(
            runtime.broker,
            definition.bindings if runs_worker else {},
            definition.announcements if runs_worker else (),
        )
        if runs_worker:
            if definition.on_worker_start is not None:
                await definition.on_worker_start(runtime)
            await runtime.broker.start()
            runtime.relay = OutboxRelay(
                runtime.pool,
                runtime.settings.database_url,
                runtime.outbox,
                _publisher(runtime),
                runtime.settings.outbox_batch,
            )
            relay_task = asyncio.create_task(runtime.relay.run(), name="outbox-relay")
            tasks = [*definition.worker_tasks, keep_the_inbox_pruned]
            background = [asyncio.create_task(_coro(task, runtime)) for task in tasks]
        relay = runtime.relay
        runtime.outbox.doorbell.attach(runtime.pool, relay.wake if relay is not None else None)
        if serves_api and definition.awaits_word and runtime.settings.confirm_timeout > 0:
            await runtime.confirmations.start(runtime.settings.amqp_url)
        yield
    finally:
        await runtime.confirmations.stop()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        if relay_task is not None:
            # Consumers first: what the messages in hand commit is in the outbox for the relay's
            # last turn, where it used to wait for the next worker to start.
            await _stop_consuming(runtime.broker)
            await _drain(runtime, relay_task)
        await runtime.outbox.doorbell.detach()
        await runtime.broker.stop()
        await runtime.pool.close()
        runtime._pool = None


async def _stop_consuming(broker: RabbitBroker) -> None:
    """Stop taking messages; each subscriber waits for those in hand (the broker's graceful
    timeout). Stopping the broker later stops them again, which does nothing."""
    stopped = await asyncio.gather(
        *(subscriber.stop() for subscriber in broker.subscribers), return_exceptions=True
    )
    for error in stopped:
        if isinstance(error, Exception):
            log.warning("a consumer did not stop cleanly: %r", error)


async def _drain(runtime: Runtime, relay_task: asyncio.Task[None]) -> None:
    """Let the relay publish what the outbox holds, for a while; cut it off after that."""
    assert runtime.relay is not None
    runtime.relay.stop()
    done, _ = await asyncio.wait({relay_task}, timeout=RELAY_DRAIN_SECONDS)
    if not done:
        log.warning("outbox relay still draining after %ss: the rest waits", RELAY_DRAIN_SECONDS)
        relay_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await relay_task


async def keep_the_inbox_pruned(runtime: Runtime) -> None:
    """Forget applied events past the retention, at start and then hourly (a worker task)."""
    days = runtime.settings.inbox_retention_days
    if days == 0:
        return
    while True:
        try:
            pruned = await prune_inbox(runtime.pool, runtime.outbox, timedelta(days=days))
        except Exception as exc:  # the database away: the next round prunes what this one left
            log.warning("pruning the inbox failed: %r", exc)
        else:
            if pruned:
                log.info("pruned %d inbox rows older than %d days", pruned, days)
        await asyncio.sleep(INBOX_PRUNE_EVERY_SECONDS)


async def _coro(task: Callable[[Runtime], Awaitable[None]], runtime: Runtime) -> None:
    try:
        await task(runtime)
    except Exception:
        # Nobody awaits a worker task until shutdown: say it stopped, with why, when it does.
        log.exception("worker task %s stopped", getattr(task, "__qualname__", task))


def _publisher(runtime: Runtime) -> Publish:
    """Publish an outbox row on the broker's channel (confirms on, returns raise) through the
    aio-pika exchange itself: FastStream's publish stack per event (its command, middlewares,
    exchange hashing) cost as much CPU as the publish. The rows carry their trace context.

    An internal event that comes back unroutable is parked in `hr.kpi.unrouted` instead, and
    counts as published: it must not hold up the outbox. Any other return raises, and the row
    stays in the outbox until something routes it.
    """
    broker, service = runtime.broker, runtime.settings.service
    exchanges: dict[str, RabbitExchange] = {}

    async def exchange_named(name: str) -> aio_pika.abc.AbstractExchange:
        target = exchanges.get(name)
        if target is None:  # declared by the topology; looked up, never declared here
            target = exchanges[name] = RabbitExchange(name, declare=False)
        return await broker.declare_exchange(target)  # cached by FastStream's declarer

    async def publish(message: OutboxMessage) -> object:
        outgoing = aio_pika.Message(
            message.body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(message.event_id),
            content_type="application/json",
            headers=message.headers or None,
            correlation_id=message.headers.get(CORRELATION_HEADER),
            timestamp=datetime.now(UTC),
            app_id=broker.config.app_id,
        )
        exchange = await exchange_named(message.exchange)
        try:
            result = await exchange.publish(
                outgoing, routing_key=message.routing_key, mandatory=True
            )
        except aio_pika.exceptions.PublishError as returned:  # a Basic.Return: no queue bound
            if message.exchange != names.KPI_EXCHANGE:
                raise
            unrouted = await exchange_named(names.KPI_UNROUTED)
            result = await unrouted.publish(
                _parked(outgoing, returned, message.exchange),
                routing_key=message.routing_key,
                mandatory=True,
            )
        OUTBOX_PUBLISHED.labels(service).inc()
        return result

    return publish


def _parked(
    message: aio_pika.Message, returned: aio_pika.exceptions.PublishError, exchange: str
) -> aio_pika.Message:
    """A message that came back unroutable, as it is parked: the same, saying why and whence."""
    parked = copy.copy(message)
    parked.headers = {
        **message.headers,
        "x-unrouted-reason": str(returned.args[0]),  # the broker's reply text: NO_ROUTE
        "x-original-exchange": exchange,
    }
    return parked
