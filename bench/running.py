"""The system up with its catalogue and templates: what every suite of the benchmark starts from."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg

from bench import population
from bench.memory import MemorySampler
from bench.system import (
    Config,
    Gateway,
    Services,
    drop_database,
    drop_vhost,
    migrate,
    recreate_database,
    recreate_vhost,
    wait_for,
)


@dataclass
class Running:
    """A started system: its processes, a pool of the harness' own, the catalogue, tokens."""

    config: Config
    services: Services
    gateway: Gateway
    pool: asyncpg.Pool
    sampler: MemorySampler
    modules: list[population.Module]
    admin_token: str
    manager_token: str


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[Running]:
    """Recreate the database and vhost, start the services and the gateway, load the contract
    templates through the catalog; stop and drop everything on the way out."""
    from kpi_kit.auth import issue_token

    print(
        f"bench: database {config.database}, vhost {config.vhost}, "
        f"ports {config.ports} gateway {config.gateway_port}",
        flush=True,
    )
    await recreate_database(config)
    recreate_vhost(config)
    migrate(config)
    services = Services(config)
    gateway = Gateway(config)
    sampler = MemorySampler(lambda: {p.name: p.pid for p in services.processes})
    pool: asyncpg.Pool | None = None
    try:
        services.start()
        gateway.start()
        sampler.start()
        pool = await asyncpg.create_pool(config.database_url, min_size=1, max_size=4)
        assert pool is not None
        admin, _ = issue_token(config.jwt_secret, sub="bench-admin", roles=["hr_admin"])
        manager, _ = issue_token(config.jwt_secret, sub="bench-manager", roles=["manager"])
        await wait_for(
            lambda: pool.fetchval("SELECT count(*) FROM hr.assignment_modules"),
            timeout=60,
            what="the catalogue replica",
        )
        async with pool.acquire() as conn:
            modules = await population.replica_modules(conn)
        await population.load_templates(config, admin, modules)
        await population.wait_for_replica(pool, len(population.ROLE_MIX))
        yield Running(config, services, gateway, pool, sampler, modules, admin, manager)
    finally:
        sampler.stop()
        if pool is not None:
            await pool.close()
        gateway.stop()
        services.stop()
        if os.environ.get("BENCH_KEEP") != "1":
            drop_vhost(config)
            await drop_database(config)
