"""A running journal service (real PostgreSQL and RabbitMQ), fed with assignment events."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import pytest

from journal.app import definition
from kpi_contracts import codec, events, names
from kpi_contracts.enums import Cause, Frequency, KpiSource, KpiStatus, ScoreType
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient, bearer, consumed, eventually, running

Client = ServiceClient


@pytest.fixture(scope="session")
def journal_settings(settings_for: Callable[[str], Settings]) -> Settings:
    return settings_for("journal")


@pytest.fixture(scope="session")
async def journal(journal_settings: Settings) -> AsyncIterator[Client]:
    async with running(definition(), journal_settings) as client:
        yield client


@pytest.fixture(scope="session")
def as_role(journal_settings: Settings) -> Callable[..., dict[str, str]]:
    def headers(role: str, staff_id: uuid.UUID | None = None) -> dict[str, str]:
        if role == "staff" and staff_id is None:
            staff_id = uuid.uuid4()
        return bearer(journal_settings, role, staff_id)

    return headers


@pytest.fixture(scope="session")
async def db(journal: Client, database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection as the login role (a superuser here), for what the API cannot do."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


# ---------------------------------------------------------------- the broker, as assignment sees it


class Assignment:
    """Stands in for the assignment service: makes its events and publishes them to hr.kpi
    exactly as its outbox relay does (persistent JSON, message_id = event_id, mandatory)."""

    def __init__(self, exchange: aio_pika.abc.AbstractExchange) -> None:
        self.exchange = exchange

    @staticmethod
    def kpi(staff_id: uuid.UUID | None = None, **overrides: Any) -> events.ScoringParameters:
        """A staff KPI's scoring parameters (percentage, minimum 70, target 90, effort 20%)."""
        values: dict[str, Any] = {
            "staff_kpi_id": events.time_ordered_uuid(),  # as assignment makes them
            "staff_id": staff_id or uuid.uuid4(),
            "kpi_module_id": uuid.uuid4(),
            "module_name": "Attendance & Reliability",
            "score_type": ScoreType.PERCENTAGE,
            "target_score": 90.0,
            "minimum_score": 70.0,
            "effort_weight": 0.2,
            "evaluation_frequency": Frequency.MONTHLY,
            "assigned_at": datetime.now(UTC),
            "contract_id": uuid.uuid4(),
            "source": KpiSource.TEMPLATE,
        }
        values.update(overrides)
        return events.ScoringParameters(**values)

    async def assign(self, *kpis: events.ScoringParameters) -> events.KpisAssigned:
        """Publish one KpisAssigned naming these KPIs (all of one person)."""
        event = events.KpisAssigned(
            staff_id=kpis[0].staff_id, cause="contract_created", kpis=list(kpis)
        )
        await self.publish(event)
        return event

    async def change_status(
        self,
        kpi: events.ScoringParameters,
        status: KpiStatus,
        reason: str | None = None,
        actor: str | None = None,
    ) -> events.KpiStatusChanged:
        """Publish one KpiStatusChanged for one KPI, as a manager's change of its status."""
        change = events.KpiStatusChange(
            staff_kpi_id=kpi.staff_kpi_id,
            status=status,
            reason=reason,
            changed_at=datetime.now(UTC),
            parameters=kpi,
        )
        event = events.KpiStatusChanged(
            staff_id=kpi.staff_id, cause=Cause.STATUS_CHANGE, changes=[change], actor=actor
        )
        await self.publish(event)
        return event

    async def publish(self, event: events.Event) -> None:
        """Publish an event as assignment's relay would."""
        message = aio_pika.Message(
            body=codec.encode(event),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(event.event_id),
        )
        await self.exchange.publish(message, routing_key=names.routing_key(event), mandatory=True)

    async def publish_raw(self, body: bytes, routing_key: str) -> None:
        """Publish any body, decodable or not."""
        message = aio_pika.Message(
            body=body,
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        )
        await self.exchange.publish(message, routing_key=routing_key, mandatory=True)


@pytest.fixture(scope="session")
async def broker_channel(
    journal: Client, amqp_url: str
) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    yield channel
    await connection.close()


@pytest.fixture(scope="session")
async def assignment(broker_channel: aio_pika.abc.AbstractChannel) -> Assignment:
    exchange = await broker_channel.get_exchange(names.KPI_EXCHANGE)  # declared by the service
    return Assignment(exchange)


class Published:
    """Every event the journal published in this run, by staff KPI."""

    def __init__(self) -> None:
        self.appended: dict[uuid.UUID, list[events.JournalEntryAppended]] = defaultdict(list)
        self.recomputed: dict[uuid.UUID, list[events.ScoreRecomputed]] = defaultdict(list)
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []

    def take(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        event: events.JournalEvent = codec.decode(message.body, events.JournalEvent)
        self.messages.append(message)
        if isinstance(event, events.JournalEntryAppended):
            self.appended[event.staff_kpi_id].append(event)
        else:
            self.recomputed[event.staff_kpi_id].append(event)


@pytest.fixture(scope="session")
async def published(broker_channel: aio_pika.abc.AbstractChannel) -> AsyncIterator[Published]:
    seen = Published()
    queue = await broker_channel.declare_queue(exclusive=True)
    for key in (names.JOURNAL_ENTRY_APPENDED, names.SCORE_RECOMPUTED):
        await queue.bind(names.KPI_EXCHANGE, routing_key=key)

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        seen.take(message)

    tag = await queue.consume(on_message, no_ack=True)
    yield seen
    await queue.cancel(tag)


# ---------------------------------------------------------------- what the journal holds


class Ledger:
    """Reads the journal's tables directly, to see what the API does not show."""

    def __init__(self, db: asyncpg.Connection, assignment: Assignment) -> None:
        self.db = db
        self.assignment = assignment

    async def count(self, staff_kpi_id: uuid.UUID, entry_type: str | None = None) -> int:
        """How many entries a KPI's journal holds (of one type, if given)."""
        count: int = await self.db.fetchval(
            "SELECT count(*) FROM hr.kpi_journal_entries "
            "WHERE staff_kpi_id = $1 AND ($2::text IS NULL OR entry_type::text = $2)",
            staff_kpi_id,
            entry_type,
        )
        return count

    async def wait_for(self, staff_kpi_id: uuid.UUID, count: int) -> None:
        """Wait until a KPI's journal holds at least `count` entries."""

        async def enough() -> bool:
            return await self.count(staff_kpi_id) >= count

        await eventually(enough)

    async def processed(self, event_id: uuid.UUID) -> bool:
        """Whether the journal's inbox records an event as applied."""
        found: bool = await self.db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM hr.journal_inbox "
            "WHERE consumer = 'journal.assignments' AND event_id = $1)",
            event_id,
        )
        return found

    @staticmethod
    def consumed(event_type: str, outcome: str) -> float:
        """How many events of a type the journal's consumer counted with an outcome, so far."""
        return consumed("journal", event_type, outcome)


@pytest.fixture(scope="session")
def ledger(db: asyncpg.Connection, assignment: Assignment) -> Ledger:
    return Ledger(db, assignment)


@pytest.fixture(scope="session")
def assigned(assignment: Assignment, ledger: Ledger) -> Callable[..., Any]:
    """Assign KPIs to a new person through the broker; returns them once journaled."""

    async def assign(count: int = 1, **overrides: Any) -> list[events.ScoringParameters]:
        staff_id = overrides.pop("staff_id", None) or uuid.uuid4()
        kpis = [assignment.kpi(staff_id, **overrides) for _ in range(count)]
        await assignment.assign(*kpis)
        for kpi in kpis:
            await ledger.wait_for(kpi.staff_kpi_id, 1)
        return kpis

    return assign
