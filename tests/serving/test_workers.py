"""`kpi serve --workers N`: N processes, each accepting on a listening socket of its own."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))

from live import ServiceProcess, migrate, service_env

from kpi_kit.testing.harness import eventually
from kpi_kit.testing.servers import Servers, own_database_and_vhost

pytestmark = pytest.mark.integration


@pytest.fixture
async def two_processes(servers: Servers) -> AsyncIterator[ServiceProcess]:
    async with own_database_and_vhost(servers, "kpi_workers") as (database_url, amqp_url):
        env = service_env(database_url, amqp_url)
        served = ServiceProcess("catalog", "api", env, Path(tempfile.mkdtemp()), workers=2)
        try:
            migrate(["catalog"], env)
            served.start()
            await served.wait_ready()
            await eventually(
                lambda: asyncio.to_thread(lambda: len(_listening_inodes(served.port)) == 2)
            )
            yield served
        finally:
            served.stop()


async def test_each_process_listens_on_a_socket_of_its_own_and_takes_connections(
    two_processes: ServiceProcess,
) -> None:
    port = two_processes.port
    children = _children(two_processes)
    assert len(children) == 2
    listening = _listening_inodes(port)
    own = [_sockets_of(child) & listening for child in children]
    assert len(listening) == 2  # uvicorn's --workers shares one
    assert [len(sockets) for sockets in own] == [1, 1] and own[0] != own[1]

    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(24)]
    try:
        await eventually(lambda: asyncio.to_thread(lambda: sum(_held(children, port)) == 24))
        held = _held(children, port)
    finally:
        for client in clients:
            client.close()
    assert sum(held) == 24
    assert min(held) >= 1  # spread by the kernel: all 24 on one socket is a 1-in-8-million hash


async def test_when_one_process_dies_the_other_is_stopped_and_the_command_fails(
    two_processes: ServiceProcess,
) -> None:
    assert two_processes.process is not None
    first, second = _children(two_processes)
    os.kill(first, signal.SIGKILL)
    code = await asyncio.to_thread(two_processes.process.wait, 20)
    assert code == 1
    assert not _exists(second)


async def test_a_stopped_command_stops_every_process_and_exits_cleanly(
    two_processes: ServiceProcess,
) -> None:
    assert two_processes.process is not None
    children = _children(two_processes)
    two_processes.process.terminate()
    assert await asyncio.to_thread(two_processes.process.wait, 20) == 0
    assert not any(_exists(child) for child in children)


# ---------------------------------------------------------------- what /proc says


def _children(served: ServiceProcess) -> list[int]:
    """The serving processes (multiprocessing's resource tracker is a child too)."""
    assert served.process is not None
    pid = served.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return sorted(
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    )


def _exists(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _sockets_of(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = fd.readlink().name
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _tcp_inodes(port: int, state: str) -> set[str]:
    """Inodes of the IPv4 TCP sockets with local port `port` in `state` (0A listen, 01 open)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            found.add(fields[9])
    return found


def _held(children: list[int], port: int) -> list[int]:
    """How many of the connections to `port` each process holds."""
    open_ = _established_inodes(port)
    return [len(_sockets_of(child) & open_) for child in children]


def _listening_inodes(port: int) -> set[str]:
    return _tcp_inodes(port, "0A")


def _established_inodes(port: int) -> set[str]:
    return _tcp_inodes(port, "01")
