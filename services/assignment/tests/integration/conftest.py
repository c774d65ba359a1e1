"""Catalog and assignment running in-process against the real PostgreSQL and RabbitMQ.

The contract system is played by `contract_system`, which publishes raw JSON to `hr.lifecycle`
with aio-pika exactly as interfaces §5 describes; results are read through the HTTP API.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
import asyncpg
import pytest

from assignment.app import definition as assignment_definition
from catalog.app import definition as catalog_definition
from kpi_contracts import names
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient, bearer, consumed, eventually, running

Client = ServiceClient


@pytest.fixture(scope="session")
async def catalog(settings_for: Callable[[str], Settings]) -> AsyncIterator[Client]:
    """The catalog service (library, templates, snapshot answers)."""
    async with running(catalog_definition(), settings_for("catalog")) as client:
        yield client


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test database, for waiting on what the consumers did."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    assert pool is not None
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def assignment(
    catalog: Client, settings_for: Callable[[str], Settings], db: asyncpg.Pool
) -> AsyncIterator[Client]:
    """The assignment service, started on an empty replica that it fills from the catalog."""
    async with running(assignment_definition(), settings_for("assignment")) as client:

        async def replica_complete() -> bool:
            return bool(
                await db.fetchval(
                    "SELECT (SELECT count(*) FROM hr.assignment_modules)"
                    " = (SELECT count(*) FROM hr.kpi_modules)"
                )
            )

        await eventually(replica_complete, timeout=30)
        yield client


@pytest.fixture(scope="session")
def assignment_settings(settings_for: Callable[[str], Settings]) -> Settings:
    return settings_for("assignment")


@pytest.fixture(scope="session")
async def broker_channel(amqp_url: str) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    connection = await aio_pika.connect_robust(amqp_url)
    channel = await connection.channel(publisher_confirms=True)
    yield channel
    await connection.close()


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()


class ContractSystem:
    """Publishes lifecycle events as raw JSON, as the (external) contract system does."""

    def __init__(self, exchange: aio_pika.abc.AbstractExchange) -> None:
        self.exchange = exchange

    async def publish(self, routing_key: str, body: dict[str, Any] | bytes) -> str:
        """Publish one message; returns its message id."""
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        message_id = body["event_id"] if isinstance(body, dict) else str(uuid.uuid4())
        await self.exchange.publish(
            aio_pika.Message(
                raw,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                message_id=message_id,
            ),
            routing_key=routing_key,
            mandatory=True,
        )
        return message_id

    async def send(self, event: dict[str, Any]) -> str:
        """Publish a lifecycle event under the routing key of its type."""
        keys = {
            "ContractCreated": names.CONTRACT_CREATED,
            "RoleChanged": names.ROLE_CHANGED,
            "StaffExited": names.STAFF_EXITED,
        }
        return await self.publish(keys[event["event_type"]], event)

    @staticmethod
    def a_contract_created(
        staff_id: uuid.UUID,
        *,
        role_group: str = "support_worker",
        template_id: uuid.UUID | None = None,
        contract_id: uuid.UUID | None = None,
        at: datetime | None = None,
        excluded: list[str] | None = None,
        added: list[str] | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "event_type": "ContractCreated",
            "occurred_at": iso(at or datetime.now(UTC)),
            "staff_id": str(staff_id),
            "contract_id": str(contract_id or uuid.uuid4()),
            "template_id": str(template_id or uuid.uuid4()),
            "role_group": role_group,
        }
        if excluded is not None or added is not None:
            event["kpi_selection"] = {
                "excluded_module_ids": excluded or [],
                "added_module_ids": added or [],
            }
        return event

    @staticmethod
    def a_role_change(
        staff_id: uuid.UUID,
        *,
        from_group: str = "support_worker",
        to_group: str = "team_leader",
        template_id: uuid.UUID | None = None,
        at: datetime | None = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "event_type": "RoleChanged",
            "occurred_at": iso(at or datetime.now(UTC)),
            "staff_id": str(staff_id),
            "from_role_group": from_group,
            "to_role_group": to_group,
        }
        if template_id is not None:
            event["template_id"] = str(template_id)
        return event

    @staticmethod
    def an_exit(
        staff_id: uuid.UUID, *, at: datetime | None = None, reason: str | None = None
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "event_type": "StaffExited",
            "occurred_at": iso(at or datetime.now(UTC)),
            "staff_id": str(staff_id),
        }
        if reason is not None:
            event["reason"] = reason
        return event


@pytest.fixture(scope="session")
async def contract_system(
    assignment: Client, broker_channel: aio_pika.abc.AbstractChannel
) -> ContractSystem:
    exchange = await broker_channel.declare_exchange(
        names.LIFECYCLE_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    return ContractSystem(exchange)


class Collected:
    """Messages a test queue has received, in arrival order."""

    def __init__(self, exchange: aio_pika.abc.AbstractExchange | None, routing_key: str) -> None:
        self.messages: list[aio_pika.abc.AbstractIncomingMessage] = []
        self._exchange = exchange
        self._routing_key = routing_key

    def bodies(self) -> list[dict[str, Any]]:
        """Every JSON body received (sentinels left out)."""
        return [json.loads(m.body) for m in self.messages if m.type != "sentinel"]

    async def caught_up(self) -> None:
        """Wait until every message confirmed to the queue before now has been received.

        A sentinel published now is queued behind them; once it arrives, so have they.
        """
        assert self._exchange is not None
        marker = str(uuid.uuid4())
        await self._exchange.publish(
            aio_pika.Message(b"{}", message_id=marker, type="sentinel"),
            routing_key=self._routing_key,
        )

        async def arrived() -> bool:
            return any(m.message_id == marker for m in self.messages)

        await eventually(arrived, timeout=20)

    def find(self, message_id: str) -> aio_pika.abc.AbstractIncomingMessage | None:
        """The received message with that id, if any."""
        return next((m for m in self.messages if m.message_id == message_id), None)


async def _consume_into(collected: Collected, queue: aio_pika.abc.AbstractQueue) -> Collected:
    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        collected.messages.append(message)
        await message.ack()

    await queue.consume(on_message)
    return collected


@pytest.fixture(scope="session")
async def dead_letters(
    assignment: Client, broker_channel: aio_pika.abc.AbstractChannel
) -> Collected:
    """Every message that lands in hr.lifecycle.dlq (declared by the service)."""
    queue = await broker_channel.get_queue(names.LIFECYCLE_DLQ)
    return await _consume_into(Collected(None, ""), queue)


@pytest.fixture(scope="session")
async def announced(assignment: Client, broker_channel: aio_pika.abc.AbstractChannel) -> Collected:
    """Every event the assignment service publishes on hr.kpi."""
    queue = await broker_channel.declare_queue(
        f"test.assignment.{uuid.uuid4().hex[:8]}", exclusive=True, auto_delete=True
    )
    await queue.bind(names.KPI_EXCHANGE, routing_key="assignment.#")
    exchange = await broker_channel.get_exchange(names.KPI_EXCHANGE)
    return await _consume_into(Collected(exchange, "assignment.test_sentinel"), queue)


# ---------------------------------------------------------------- reading results


class People:
    """Reads staff KPIs through the HTTP API and waits on what the consumers did."""

    def __init__(self, client: Client, settings: Settings, db: asyncpg.Pool) -> None:
        self.client = client
        self.settings = settings
        self.db = db

    async def kpis(
        self, staff_id: uuid.UUID, *, every: bool = False, role: str = "manager"
    ) -> list[dict[str, Any]]:
        """GET /hr/staff/{id}/kpis as a role; `every` adds ?status=all."""
        staff = staff_id if role == "staff" else None
        response = await self.client.get(
            f"/api/v1/hr/staff/{staff_id}/kpis",
            params={"status": "all"} if every else None,
            headers=bearer(self.settings, role, staff),
        )
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result

    async def processed(self, *event_ids: str) -> None:
        """Wait until the lifecycle consumer has committed each event."""

        async def done() -> bool:
            count = await self.db.fetchval(
                "SELECT count(*) FROM hr.assignment_inbox"
                " WHERE consumer = 'assignment.lifecycle' AND event_id = ANY($1::uuid[])",
                list(event_ids),
            )
            return bool(count == len(set(event_ids)))

        await eventually(done, timeout=20)

    async def settled(self, *event_ids: str) -> None:
        """Wait until the events are processed and the outbox has been relayed."""
        await self.processed(*event_ids)

        async def relayed() -> bool:
            return not await self.db.fetchval("SELECT count(*) FROM hr.assignment_outbox")

        await eventually(relayed, timeout=20)

    @staticmethod
    def consumed(event_type: str, outcome: str) -> float:
        """How many events of a type the assignment consumers handled with an outcome."""
        return consumed("assignment", event_type, outcome)

    async def counted(self, event_type: str, outcome: str, at_least: float) -> None:
        """Wait until the consumers have handled that many events of a type with an outcome."""

        async def reached() -> bool:
            return self.consumed(event_type, outcome) >= at_least

        await eventually(reached, timeout=20)

    @staticmethod
    def by_module(kpis: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Staff KPIs keyed by module id."""
        return {k["kpi_module_id"]: k for k in kpis}

    @staticmethod
    def statuses(kpis: list[dict[str, Any]]) -> dict[str, str]:
        """Each module's status."""
        return {k["kpi_module_id"]: k["status"] for k in kpis}


@pytest.fixture(scope="session")
def people(assignment: Client, assignment_settings: Settings, db: asyncpg.Pool) -> People:
    return People(assignment, assignment_settings, db)


@dataclass(frozen=True)
class Catalogue:
    """The seeded catalogue, by slug, as the catalog API serves it."""

    modules: dict[str, dict[str, Any]]

    @property
    def modules_by_id(self) -> dict[str, dict[str, Any]]:
        return {str(m["id"]): m for m in self.modules.values()}

    def id(self, slug: str) -> str:
        return str(self.modules[slug]["id"])

    def defaults(self, role_group: str) -> set[str]:
        return {
            str(m["id"])
            for m in self.modules.values()
            if m["is_default_for_role"]
            and not m["is_archived"]
            and (m["is_universal"] or m["role_group"] == role_group)
        }

    def universal(self) -> set[str]:
        """The universal five: every role group's defaults (other tests may add universal
        modules that are no one's default)."""
        return {
            str(m["id"])
            for m in self.modules.values()
            if m["is_universal"] and m["is_default_for_role"] and not m["is_archived"]
        }

    def optional(self, role_group: str, score_type: str | None = None) -> list[str]:
        """The role group's modules that are not defaults (a manager adds them by hand)."""
        return [
            str(m["id"])
            for m in self.modules.values()
            if m["role_group"] == role_group
            and not m["is_default_for_role"]
            and score_type in (None, m["score_type"])
        ]


@pytest.fixture(scope="session")
async def catalogue(catalog: Client, assignment_settings: Settings) -> Catalogue:
    response = await catalog.get(
        "/api/v1/hr/kpi-modules", headers=bearer(assignment_settings, "manager")
    )
    assert response.status_code == 200, response.text
    return Catalogue({m["slug"]: m for m in response.json()})


class Templates:
    """Sets template KPIs through the catalog API and waits for the assignment replica."""

    def __init__(self, catalog: Client, settings: Settings, db: asyncpg.Pool) -> None:
        self.catalog = catalog
        self.settings = settings
        self.db = db

    async def create(self, kpis: list[dict[str, Any]]) -> uuid.UUID:
        template_id = uuid.uuid4()
        await self.replace(template_id, kpis)
        return template_id

    async def replace(self, template_id: uuid.UUID, kpis: list[dict[str, Any]]) -> None:
        response = await self.catalog.put(
            f"/api/v1/hr/templates/{template_id}/kpis",
            json={"kpis": kpis},
            headers=bearer(self.settings, "hr_admin"),
        )
        assert response.status_code == 200, response.text
        version = await self.db.fetchval(
            "SELECT version FROM hr.template_versions WHERE template_id = $1", template_id
        )

        async def replicated() -> bool:
            have = await self.db.fetchval(
                "SELECT version FROM hr.assignment_templates WHERE template_id = $1", template_id
            )
            return bool(have == version)

        await eventually(replicated, timeout=20)


@pytest.fixture(scope="session")
def templates(
    catalog: Client, assignment: Client, assignment_settings: Settings, db: asyncpg.Pool
) -> Templates:
    return Templates(catalog, assignment_settings, db)


class Modules:
    """Creates and edits KPI modules through the catalog API and waits for the replica."""

    def __init__(self, catalog: Client, settings: Settings, db: asyncpg.Pool) -> None:
        self.catalog = catalog
        self.settings = settings
        self.db = db

    async def create(self, **fields: Any) -> str:
        """A new operational module of the rostering group, with `fields` over the defaults."""
        body = {
            "name": f"Rostering accuracy {uuid.uuid4().hex[:6]}",
            "category": "operational",
            "role_group": "rostering",
            "objective": "Rosters are right first time.",
            "measurement_method": "Share of shifts that need no change after publishing.",
            "target_score": 90,
            "minimum_score": 75,
            "effort_weight": 0.2,
        }
        response = await self.catalog.post(
            "/api/v1/hr/kpi-modules", json=body | fields, headers=bearer(self.settings, "hr_admin")
        )
        assert response.status_code == 201, response.text
        module_id: str = response.json()["id"]
        await self._replicated(module_id)
        return module_id

    async def edit(self, module_id: str, **fields: Any) -> None:
        response = await self.catalog.patch(
            f"/api/v1/hr/kpi-modules/{module_id}",
            json=fields,
            headers=bearer(self.settings, "hr_admin"),
        )
        assert response.status_code == 200, response.text
        await self._replicated(module_id)

    async def _replicated(self, module_id: str) -> None:
        async def replicated() -> bool:
            return bool(
                await self.db.fetchval(
                    "SELECT r.version = c.version FROM hr.kpi_modules c"
                    " JOIN hr.assignment_modules r USING (id) WHERE id = $1",
                    uuid.UUID(module_id),
                )
            )

        await eventually(replicated, timeout=20)


@pytest.fixture(scope="session")
def modules(
    catalog: Client, assignment: Client, assignment_settings: Settings, db: asyncpg.Pool
) -> Modules:
    return Modules(catalog, assignment_settings, db)
