"""The whole system as real processes on the suite's private servers, and what a test asks of it."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
from live import ServiceProcess, migrate, service_env
from private_servers import PrivatePostgres, PrivateRabbit
from workload import Catalogue, template_sets

from kpi_contracts import codec, names
from kpi_contracts.events import LifecycleEvent
from kpi_kit.auth import issue_token
from kpi_kit.settings import DEV_JWT_SECRET

# (service, role) of each process; the assignment worker runs apart so that it can be killed
# while its API keeps answering.
LAYOUT = (
    ("catalog", "all"),
    ("assignment", "api"),
    ("assignment", "worker"),
    ("journal", "all"),
)
CONSUMER_QUEUES = (
    names.ASSIGNMENT_LIFECYCLE_QUEUE,
    names.ASSIGNMENT_CATALOG_QUEUE,
    names.ASSIGNMENT_SCORES_QUEUE,
    names.JOURNAL_ASSIGNMENTS_QUEUE,
    names.CATALOG_REQUESTS_QUEUE,
)
ALL_QUEUES = (
    *CONSUMER_QUEUES,
    *(names.dead_letter_queue(q) for q in CONSUMER_QUEUES),
    names.KPI_UNROUTED,
)


def headers(role: str, staff_id: uuid.UUID | None = None) -> dict[str, str]:
    """Authorization header of a dev token."""
    token, _ = issue_token(DEV_JWT_SECRET, sub=f"faults-{role}", roles=[role], staff_id=staff_id)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class FaultSystem:
    """Catalog, assignment (api and worker apart) and journal on one database and one vhost."""

    name: str
    pg: PrivatePostgres
    mq: PrivateRabbit
    log_dir: Path
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    database_url: str = ""
    amqp_url: str = ""

    async def start(self, catalog_last: bool = False) -> None:
        """Create the database and vhost, migrate, start every process and wait until ready.

        The catalog starts first (as a deployment would order it) unless `catalog_last`.
        """
        conn = await asyncpg.connect(self.pg.url)
        try:
            await conn.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            await conn.close()
        self.database_url = self.pg.url.rsplit("/", 1)[0] + f"/{self.name}"
        self.amqp_url = self.mq.add_vhost(self.name)
        env = service_env(self.database_url, self.amqp_url, {"KPI_DB_POOL_MAX": "8"})
        await asyncio.to_thread(migrate, ("catalog", "assignment", "journal"), env)
        for service, role in LAYOUT:
            process = ServiceProcess(service, role, env, self.log_dir)
            self.processes[process.name] = process
        # The catalog first: a replica that starts empty asks it for a snapshot, and that request
        # is parked (hr.kpi.unrouted) when no catalog has declared its queue yet.
        catalog = self.processes["catalog-all"]
        if not catalog_last:
            catalog.start()
            await catalog.wait_ready(90)
        for process in self.processes.values():
            if process is not catalog:
                process.start()
        for process in self.processes.values():
            if process is not catalog:
                await process.wait_ready(90)
        if catalog_last:
            catalog.start()
            await catalog.wait_ready(90)

    async def stop(self) -> None:
        """Stop every process (the database and vhost go with the private servers)."""
        await asyncio.gather(*(asyncio.to_thread(p.stop) for p in self.processes.values()))

    def process(self, name: str) -> ServiceProcess:
        """A process by service-role name, e.g. `assignment-worker`."""
        return self.processes[name]

    async def http(
        self, name: str, method: str, path: str, role: str = "hr_admin", **kwargs: Any
    ) -> httpx.Response:
        """One request to a process, with a token of `role`."""
        async with httpx.AsyncClient(base_url=self.process(name).url, timeout=30) as client:
            return await client.request(method, path, headers=headers(role), **kwargs)

    # ------------------------------------------------------------ the catalogue

    async def prepare_catalogue(self, rng: Any, wait_for_replica: bool = True) -> Catalogue:
        """Put one template per role group, and wait until assignment's replica holds it all."""
        response = await self.http(
            "catalog-all", "GET", "/api/v1/hr/kpi-modules", params={"include_archived": "true"}
        )
        response.raise_for_status()
        modules = response.json()
        templates: dict[uuid.UUID, list[dict[str, Any]]] = {}
        template_of_role = {}
        for role, kpis in template_sets(modules, rng).items():
            template_id = uuid.uuid4()
            put = await self.http(
                "catalog-all",
                "PUT",
                f"/api/v1/hr/templates/{template_id}/kpis",
                json={"kpis": kpis},
            )
            put.raise_for_status()
            templates[template_id] = kpis
            template_of_role[role] = template_id
        expected_rows = sum(len(k) for k in templates.values())

        async def replica_complete() -> bool:
            modules_there = int(await self.scalar("SELECT count(*) FROM hr.assignment_modules"))
            kpis_there = int(await self.scalar("SELECT count(*) FROM hr.assignment_template_kpis"))
            return modules_there == len(modules) and kpis_there == expected_rows

        if wait_for_replica:
            await self.until(replica_complete, 90, "assignment's catalogue replica to fill")
        return Catalogue(modules, templates, template_of_role)

    # ------------------------------------------------------------ database reads

    async def scalar(self, sql: str, *args: Any) -> Any:
        """One value from the system's database (a fresh connection: it may have restarted)."""
        conn = await asyncpg.connect(self.database_url, timeout=5)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def rows(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        """Rows from the system's database."""
        conn = await asyncpg.connect(self.database_url, timeout=10)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def applied_lifecycle_events(self) -> int:
        """How many distinct lifecycle events the assignment service has applied."""
        with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
            value = await self.scalar(
                "SELECT count(*) FROM hr.assignment_inbox WHERE consumer = $1",
                names.ASSIGNMENT_LIFECYCLE_QUEUE,
            )
            return int(value)
        return -1

    async def staff_kpis(self) -> list[asyncpg.Record]:
        """Every staff KPI row."""
        return await self.rows(
            "SELECT id, staff_id, kpi_module_id, status, source, is_required, custom_target, "
            "target_score, contract_id, assigned_at FROM hr.staff_kpis"
        )

    async def journal_terms(self) -> list[asyncpg.Record]:
        """The journal's copy of every staff KPI's terms."""
        return await self.rows(
            "SELECT staff_kpi_id, source, is_required, contract_id, assigned_at, target_score "
            "FROM hr.journal_kpis"
        )

    async def status_entries(self) -> list[asyncpg.Record]:
        """Every status_change journal entry."""
        return await self.rows(
            "SELECT staff_kpi_id, title FROM hr.kpi_journal_entries "
            "WHERE entry_type = 'status_change'"
        )

    # ------------------------------------------------------------ the broker

    async def publish(self, events: Sequence[LifecycleEvent], batch: int = 500) -> None:
        """Publish lifecycle events as the contract system does (persistent, confirmed)."""
        connection = await aio_pika.connect(self.amqp_url)
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(names.LIFECYCLE_EXCHANGE)
            for start in range(0, len(events), batch):
                await asyncio.gather(
                    *(
                        exchange.publish(
                            aio_pika.Message(
                                codec.encode(event),
                                content_type="application/json",
                                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                                message_id=str(event.event_id),
                            ),
                            routing_key=names.routing_key(event),
                            mandatory=True,
                        )
                        for event in events[start : start + batch]
                    )
                )
        finally:
            await connection.close()

    async def queues(self) -> dict[str, tuple[int, int]]:
        """Each queue of the system: (ready messages, consumers); absent queues left out.

        Asked over AMQP with passive declares: rabbitmqctl would start an Erlang VM per call and
        take a core away from the system under test.
        """
        found: dict[str, tuple[int, int]] = {}
        connection = await aio_pika.connect(self.amqp_url, timeout=10)
        try:
            for queue in ALL_QUEUES:
                channel = await connection.channel()
                try:
                    declared = await channel.declare_queue(queue, passive=True)
                except aio_pika.exceptions.ChannelClosed:
                    continue
                result = declared.declaration_result
                found[queue] = (result.message_count or 0, result.consumer_count or 0)
                await channel.close()
        finally:
            await connection.close()
        return found

    async def dead_letters(self) -> dict[str, int]:
        """The DLQs that hold anything."""
        return {
            name: messages
            for name, (messages, _) in (await self.queues()).items()
            if name.endswith(".dlq") and messages
        }

    async def queues_without_consumers(self) -> list[str]:
        """Consumer queues that have no consumer right now (aio-pika#231)."""
        found = await self.queues()
        return [q for q in CONSUMER_QUEUES if found.get(q, (0, 0))[1] < 1]

    # ------------------------------------------------------------ waiting

    async def until(self, check: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
        """Poll an async check until it is truthy; fail naming what was awaited."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = await check()
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                last = exc
            if last:
                return last
            await asyncio.sleep(interval)
        logs = "\n".join(f"--- {p.name}\n{p.tail(15)}" for p in self.processes.values())
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what} (last {last!r})\n{logs}"
        )

    async def until_applied(self, count: int, timeout: float = 600) -> None:
        """Wait until the assignment service has applied `count` distinct lifecycle events."""

        async def done() -> bool:
            return await self.applied_lifecycle_events() >= count

        await self.until(done, timeout, f"{count} lifecycle events applied", interval=1.0)

    async def until_settled(self, unique_events: int, timeout: float = 600) -> None:
        """Wait until every event is applied and every queue and outbox is empty, twice in a row."""
        await self.until_applied(unique_events, timeout)
        quiet, last = 0, -1

        async def settled() -> bool:
            # Unacknowledged messages are not counted by a passive declare: the journal's own
            # progress must also stand still across the polls.
            nonlocal quiet, last
            progress = await self.rows(
                "SELECT (SELECT count(*) FROM hr.assignment_outbox) "
                "+ (SELECT count(*) FROM hr.journal_outbox) "
                "+ (SELECT count(*) FROM hr.catalog_outbox) AS outboxes, "
                "(SELECT count(*) FROM hr.journal_inbox) AS journaled"
            )
            outboxes, journaled = progress[0]["outboxes"], progress[0]["journaled"]
            found = await self.queues()
            busy = sum(m for name, (m, _) in found.items() if not name.endswith(".dlq"))
            busy -= found.get(names.KPI_UNROUTED, (0, 0))[0]
            calm = outboxes == 0 and busy == 0 and journaled == last
            quiet, last = (quiet + 1 if calm else 0), journaled
            return quiet >= 3

        await self.until(settled, timeout, "queues and outboxes to drain", interval=1.5)


async def ready_everywhere(system: FaultSystem, names_: Iterable[str] | None = None) -> bool:
    """Whether every process (or those named) answers /health/ready with 200."""
    chosen = [system.process(n) for n in names_] if names_ else list(system.processes.values())
    statuses = await asyncio.gather(*(asyncio.to_thread(p.status, "/health/ready") for p in chosen))
    return all(status == 200 for status in statuses)
