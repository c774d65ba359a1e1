"""`kpi serve` started before RabbitMQ answers: it waits for the broker, for a while, each try
bounded even against a broker that takes the connection and says nothing, and a stop asked
meanwhile is heeded (docs/OPERATIONS.md, "Starting")."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))

from live import ServiceProcess, free_port, migrate, service_env

from kpi_kit.testing.harness import eventually
from kpi_kit.testing.servers import Servers, own_database_and_vhost

pytestmark = pytest.mark.integration


class BrokerLate:
    """A port where RabbitMQ answers only once `arrive()` is called: a TCP relay to the broker."""

    def __init__(self, amqp_url: str) -> None:
        parts = urlsplit(amqp_url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5672)
        self.port = free_port()
        netloc = f"{parts.username}:{parts.password}@127.0.0.1:{self.port}"
        self.url = urlunsplit(parts._replace(netloc=netloc))
        self.server: asyncio.Server | None = None
        self.held: list[asyncio.StreamWriter] = []

    async def arrive(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def hang(self) -> None:
        """Take connections and never say a word, as a hung broker (or a proxy with nothing
        behind it) does."""
        self.server = await asyncio.start_server(self._hold, "127.0.0.1", self.port)

    async def leave(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in self.held:
            writer.close()

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.held.append(writer)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        broker_reader, broker_writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(
            _pipe(reader, broker_writer), _pipe(broker_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


@pytest.fixture
async def before_the_broker(servers: Servers) -> AsyncIterator[tuple[ServiceProcess, BrokerLate]]:
    """A catalog service (API and worker) pointed at a broker that does not answer yet."""
    async with own_database_and_vhost(servers, "kpi_start_up") as (database_url, amqp_url):
        broker = BrokerLate(amqp_url)
        env = service_env(database_url, broker.url)
        served = ServiceProcess("catalog", "all", env, Path(tempfile.mkdtemp()))
        try:
            migrate(["catalog"], env)
            yield served, broker
        finally:
            served.stop()
            await broker.leave()


async def test_a_service_started_before_its_broker_waits_for_it_then_serves(before_the_broker):
    served, broker = before_the_broker
    served.start()
    await eventually(lambda: _logged(served, "RabbitMQ does not answer"))
    assert served.alive()
    await broker.arrive()
    await served.wait_ready()
    assert served.status("/api/v1/hr/kpi-modules") == 401  # serving: it asks for a token


async def test_a_broker_that_never_answers_fails_start_up_for_the_supervisor(before_the_broker):
    served, _ = before_the_broker
    served.env["KPI_BROKER_START_TIMEOUT_SECONDS"] = "1.5"
    served.start()
    assert served.process is not None
    assert await asyncio.to_thread(served.process.wait, 30) == 3  # uvicorn's start-up failure
    log = served.tail(200)
    assert "RabbitMQ did not answer within 1.5s" in log
    # the AMQP clients' own lines (an ERROR each try, a reconnection never made) are kept back
    assert "error when creating transport" not in log and "Reconnecting after" not in log


async def test_a_broker_that_takes_the_connection_but_never_answers_fails_start_up_in_time(
    before_the_broker,
):
    served, broker = before_the_broker
    await broker.hang()
    served.env["KPI_BROKER_START_TIMEOUT_SECONDS"] = "1.5"
    served.start()
    assert served.process is not None
    assert await asyncio.to_thread(served.process.wait, 30) == 3
    log = served.tail(200)
    assert "RabbitMQ did not answer within 1.5s: TimeoutError" in log  # after one 5 s try


async def test_a_stop_asked_while_waiting_for_the_broker_is_heeded_at_once(before_the_broker):
    served, _ = before_the_broker
    served.start()  # waits up to 30 s for the broker by default
    await eventually(lambda: _logged(served, "RabbitMQ does not answer"))
    await _heeds_a_stop(served)


async def test_a_stop_asked_while_a_hung_broker_holds_the_connection_is_heeded_after_that_try(
    before_the_broker,
):
    served, broker = before_the_broker
    await broker.hang()
    served.start()
    await eventually(lambda: _true(broker.held))
    await _heeds_a_stop(served)


async def _heeds_a_stop(served: ServiceProcess) -> None:
    """The process stops on SIGTERM within 15 s: at once between tries, after the try in hand
    (CONNECT_TIMEOUT at most) while one lasts."""
    assert served.process is not None
    served.process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        await asyncio.to_thread(served.process.wait, 15)
    assert not served.alive(), "the stop waited for the broker"
    assert "asked to stop while waiting for RabbitMQ" in served.tail()


async def _logged(served: ServiceProcess, text: str) -> bool:
    return text in await asyncio.to_thread(served.tail, 200)


async def _true(value: object) -> bool:
    return bool(value)
