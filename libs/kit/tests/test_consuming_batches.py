"""Batch consumption on a real broker: a burst is applied in batches, each event exactly once; a
failing batch falls back to one message at a time, where the dead-letter rules still apply; the
outbox keeps each event's own headers and the inbox answers for many events in one statement."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from kpi_contracts import codec, events, names
from kpi_kit import dlq
from kpi_kit.consuming import Consumer, Delivery
from kpi_kit.observability import CORRELATION_HEADER
from kpi_kit.outbox import unit_of_work
from kpi_kit.service import Runtime, ServiceDefinition
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient, eventually, running

pytestmark = pytest.mark.integration

QUEUE = "probe.batches"
ROUTING_KEY = "probe.batch"
Request = events.CatalogSnapshotRequested


class BatchProbe:
    """Records every batch and every single application; `poison-*` requests always fail."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.alone: list[str] = []
        self.seen: set[uuid.UUID] = set()

    async def handle(self, request: Request, _: Delivery) -> bool:
        if request.requested_by.startswith("poison"):
            raise ValueError("this request can never be applied")
        self.alone.append(request.requested_by)
        return self._first(request)

    async def handle_batch(self, items: Sequence[tuple[Request, Delivery]]) -> list[bool]:
        await asyncio.sleep(0.05)  # a transaction's worth of time: deliveries gather meanwhile
        scripts = [request.requested_by for request, _ in items]
        self.batches.append(scripts)
        if any(s.startswith("poison") for s in scripts):
            raise ValueError("one event of this batch can never be applied")
        return [self._first(request) for request, _ in items]

    def _first(self, request: Request) -> bool:
        first = request.event_id not in self.seen
        self.seen.add(request.event_id)
        return first

    def applied(self) -> list[str]:
        batched = [s for batch in self.batches for s in batch if not _poisoned(batch)]
        return batched + self.alone


def _poisoned(batch: list[str]) -> bool:
    return any(s.startswith("poison") for s in batch)


@pytest.fixture(scope="module")
def probe() -> BatchProbe:
    return BatchProbe()


@pytest.fixture(scope="module")
async def service(
    probe: BatchProbe, database_url: str, amqp_url: str
) -> AsyncIterator[ServiceClient]:
    def consumers(runtime: Runtime) -> Sequence[Consumer[Any]]:
        return [
            Consumer(
                service="probe",
                queue=QUEUE,
                decode=lambda body: codec.decode(body, Request),
                handle=probe.handle,
                handle_batch=probe.handle_batch,
                max_batch=20,
                broker=runtime.broker,
            )
        ]

    definition = ServiceDefinition(
        name="probe",
        migrations=Path(__file__).parent / "no-migrations",
        consumers=consumers,
        bindings={QUEUE: [(names.KPI_EXCHANGE, ROUTING_KEY)]},
    )
    settings = Settings(service="probe", database_url=database_url, amqp_url=amqp_url)
    async with running(definition, settings) as client:
        yield client


async def publish_all(amqp_url: str, requests: Sequence[Request]) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(names.KPI_EXCHANGE)
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(codec.encode(r), delivery_mode=2), routing_key=ROUTING_KEY
                )
                for r in requests
            )
        )
    finally:
        await connection.close()


async def test_a_burst_is_applied_in_batches_each_event_once(
    service: ServiceClient, probe: BatchProbe, amqp_url: str
) -> None:
    scripts = [f"burst-{i}" for i in range(60)]
    await publish_all(amqp_url, [Request(requested_by=s) for s in scripts])

    async def all_applied() -> bool:
        return set(scripts) <= set(probe.applied())

    await eventually(all_applied)
    applied = [s for s in probe.applied() if s.startswith("burst-")]
    assert sorted(applied) == sorted(scripts)  # each exactly once
    sizes = [len(b) for b in probe.batches if b[0].startswith("burst-")]
    assert max(sizes) > 1 and max(sizes) <= 20
    assert not probe.alone


async def test_a_batch_logs_a_line_per_batch_and_per_event_at_debug_only(
    service: ServiceClient, probe: BatchProbe, amqp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="kpi.consumer")
    scripts = [f"logged-{i}" for i in range(30)]
    await publish_all(amqp_url, [Request(requested_by=s) for s in scripts])

    async def all_applied() -> bool:
        return set(scripts) <= set(probe.applied())

    async def all_logged() -> bool:
        # A batch logs once it has committed, a moment after the probe saw it applied.
        logged = [r for r in caplog.records if r.name == "kpi.consumer"]
        return sum("a batch of" not in r.getMessage() for r in logged) >= len(scripts)

    await eventually(all_applied)
    await eventually(all_logged)
    batches = [b for b in probe.batches if b[0].startswith("logged-")]
    lines = [r for r in caplog.records if r.name == "kpi.consumer"]
    assert all(r.levelno == logging.DEBUG for r in lines)  # metrics count them in production
    messages = [r.getMessage() for r in lines]
    summaries = [m for m in messages if "a batch of" in m]
    per_event = [m for m in messages if "a batch of" not in m]
    assert summaries == [
        f"{QUEUE}: a batch of {len(b)}: {len(b)} applied, 0 duplicate" for b in batches
    ]
    assert per_event == [f"{QUEUE}: applied CatalogSnapshotRequested"] * len(scripts)


async def test_a_failing_batch_is_applied_one_by_one_and_its_poison_dead_lettered(
    service: ServiceClient, probe: BatchProbe, amqp_url: str
) -> None:
    scripts = [f"mixed-{i}" for i in range(10)]
    requests = [Request(requested_by=s) for s in scripts[:5]]
    requests += [Request(requested_by="poison-in-batch")]
    requests += [Request(requested_by=s) for s in scripts[5:]]
    await publish_all(amqp_url, requests)

    async def poison_parked() -> bool:
        found = await dlq.show(amqp_url, names.dead_letter_queue(QUEUE), 100)
        return any(d.reason.startswith("failed 3 times") for d in found)

    async def all_applied() -> bool:
        return set(scripts) <= set(probe.applied())

    await eventually(all_applied)
    await eventually(poison_parked)
    failed = [batch for batch in probe.batches if "poison-in-batch" in batch]
    assert failed
    # the failed batch's other events were applied one by one, not in a batch of their own
    assert {s for batch in failed for s in batch} - {"poison-in-batch"} <= set(probe.alone)
    assert sorted(s for s in probe.applied() if s.startswith("mixed-")) == sorted(scripts)


async def test_the_outbox_keeps_each_events_headers_and_the_inbox_answers_for_many(
    service: ServiceClient,
) -> None:
    runtime: Runtime = service.app.state.runtime
    first, second = Request(requested_by="a"), Request(requested_by="b")
    seen_before = uuid.uuid4()
    async with unit_of_work(runtime.pool, runtime.outbox) as uow:
        await uow.first_deliveries("probe.test", [seen_before])
        fresh = await uow.first_deliveries("probe.test", [seen_before, first.event_id])
        await uow.publish_each(
            [(first, {CORRELATION_HEADER: "cid-a"}), (second, {CORRELATION_HEADER: "cid-b"})]
        )
        rows = await uow.conn.fetch(
            f"SELECT event_id, headers FROM {runtime.outbox.table} WHERE event_id = ANY($1)",
            [first.event_id, second.event_id],
        )
    assert fresh == {first.event_id}
    headers = {r["event_id"]: codec.decode_json(r["headers"]) for r in rows}
    assert headers == {
        first.event_id: {CORRELATION_HEADER: "cid-a"},
        second.event_id: {CORRELATION_HEADER: "cid-b"},
    }
