"""Where the test servers are: named by environment, else a container, else the local ones.

Each test run gets its own PostgreSQL database and RabbitMQ vhost, created here and dropped at
the end, so tests never touch the data of `make run`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import shutil
import subprocess
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from kpi_kit.db import with_database

log = logging.getLogger(__name__)

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672/"


@dataclass
class Servers:
    """The PostgreSQL and RabbitMQ a test run uses, and how to make a vhost on the latter."""

    postgres_url: str
    amqp_url: str
    make_vhost: Callable[[str], None]
    drop_vhost: Callable[[str], None]
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Stop any container this run started."""
        for cleanup in reversed(self.cleanups):
            cleanup()


def find_servers() -> Servers:
    """Environment first (KPI_TEST_DATABASE_URL, KPI_TEST_AMQP_URL), then Docker, then local."""
    pg = os.environ.get("KPI_TEST_DATABASE_URL")
    amqp = os.environ.get("KPI_TEST_AMQP_URL")
    cleanups: list[Callable[[], None]] = []
    make_vhost, drop_vhost = _vhost_tools(amqp or LOCAL_RABBITMQ)
    if (pg is None or amqp is None) and os.environ.get("KPI_TEST_NO_DOCKER") != "1":
        started = _start_containers(need_pg=pg is None, need_amqp=amqp is None)
        if started is not None:
            pg = pg or started.postgres_url
            if amqp is None:
                amqp, make_vhost, drop_vhost = (
                    started.amqp_url,
                    started.make_vhost,
                    started.drop_vhost,
                )
            cleanups = started.cleanups
    return Servers(pg or LOCAL_POSTGRES, amqp or LOCAL_RABBITMQ, make_vhost, drop_vhost, cleanups)


def _start_containers(*, need_pg: bool, need_amqp: bool) -> Servers | None:
    """Start throwaway containers where a Docker engine answers; None where it does not."""
    try:
        import docker

        docker.from_env().ping()
    except Exception as exc:  # no engine here: the local servers serve instead
        log.info("no Docker engine (%s); using local PostgreSQL and RabbitMQ", type(exc).__name__)
        return None
    cleanups: list[Callable[[], None]] = []
    pg_url, amqp_url = LOCAL_POSTGRES, LOCAL_RABBITMQ
    make_vhost, drop_vhost = _vhost_tools(LOCAL_RABBITMQ)
    if need_pg:
        from testcontainers.postgres import PostgresContainer

        pg = PostgresContainer("postgres:15", driver=None).start()
        cleanups.append(pg.stop)
        pg_url = pg.get_connection_url()
    if need_amqp:
        from testcontainers.rabbitmq import RabbitMqContainer

        rabbit = RabbitMqContainer("rabbitmq:3.13").start()
        cleanups.append(rabbit.stop)
        host, port = rabbit.get_container_host_ip(), rabbit.get_exposed_port(5672)
        amqp_url = f"amqp://guest:guest@{host}:{port}/"

        def run(*args: str) -> None:
            rabbit.exec(["rabbitmqctl", *args])

        make_vhost, drop_vhost = _ctl_vhost_tools(run)
    return Servers(pg_url, amqp_url, make_vhost, drop_vhost, cleanups)


def _vhost_tools(amqp_url: str) -> tuple[Callable[[str], None], Callable[[str], None]]:
    """rabbitmqctl when this machine runs the broker, else the management HTTP API."""
    host = urlsplit(amqp_url).hostname or "127.0.0.1"
    ctl = shutil.which("rabbitmqctl")
    if ctl and host in ("127.0.0.1", "localhost", "::1"):

        def run(*args: str) -> None:
            subprocess.run([ctl, "-q", *args], check=True, capture_output=True, timeout=60)

        return _ctl_vhost_tools(run)
    return _http_vhost_tools(amqp_url)


def _ctl_vhost_tools(
    run: Callable[..., None],
) -> tuple[Callable[[str], None], Callable[[str], None]]:
    def make(vhost: str) -> None:
        run("add_vhost", vhost)
        run("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")

    def drop(vhost: str) -> None:
        run("delete_vhost", vhost)

    return make, drop


def _http_vhost_tools(amqp_url: str) -> tuple[Callable[[str], None], Callable[[str], None]]:
    parts = urlsplit(amqp_url)
    api = os.environ.get("KPI_TEST_RABBITMQ_API", f"http://{parts.hostname}:15672")
    user, password = parts.username or "guest", parts.password or "guest"
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()

    def call(method: str, path: str, body: object | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{api}{path}", data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Basic {auth}")
        request.add_header("Content-Type", "application/json")
        urllib.request.urlopen(request, timeout=30).close()  # noqa: S310

    def make(vhost: str) -> None:
        call("PUT", f"/api/vhosts/{quote(vhost, safe='')}")
        perms = {"configure": ".*", "write": ".*", "read": ".*"}
        call("PUT", f"/api/permissions/{quote(vhost, safe='')}/{quote(user)}", perms)

    def drop(vhost: str) -> None:
        call("DELETE", f"/api/vhosts/{quote(vhost, safe='')}")

    return make, drop


def unique_name(prefix: str = "kpi_test") -> str:
    """A database/vhost name no other run uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def create_database(server_url: str, name: str) -> str:
    """Create an empty database; returns its URL."""
    conn = await asyncpg.connect(with_database(server_url, "postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server_url, name)


async def drop_database(server_url: str, name: str) -> None:
    """Drop a test database, disconnecting whoever still holds it."""
    conn = await asyncpg.connect(with_database(server_url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def amqp_url_for_vhost(amqp_url: str, vhost: str) -> str:
    """The same broker URL on another vhost."""
    parts = urlsplit(amqp_url)
    return urlunsplit(parts._replace(path="/" + quote(vhost, safe="")))


@contextlib.contextmanager
def own_vhost(servers: Servers, name: str | None = None) -> Iterator[str]:
    """A vhost no other test uses (`name`, else a new one), deleted afterwards: its URL."""
    vhost = name or unique_name()
    servers.make_vhost(vhost)
    try:
        yield amqp_url_for_vhost(servers.amqp_url, vhost)
    finally:
        servers.drop_vhost(vhost)


@contextlib.asynccontextmanager
async def own_database_and_vhost(
    servers: Servers, prefix: str = "kpi_test"
) -> AsyncIterator[tuple[str, str]]:
    """A database and a vhost no other test uses, dropped afterwards: their URLs."""
    name = unique_name(prefix)
    database_url = await create_database(servers.postgres_url, name)
    try:
        with own_vhost(servers, name) as amqp_url:
            yield database_url, amqp_url
    finally:
        await drop_database(servers.postgres_url, name)
