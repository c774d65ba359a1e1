"""Every installed service as a real process on this run's own database and vhost."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))

from live import ServiceProcess, installed_services, migrate, service_env

from kpi_kit.testing.servers import (
    Servers,
    amqp_url_for_vhost,
    create_database,
    drop_database,
    unique_name,
)


@dataclass
class Figures:
    """What the schemathesis run did: cases per service and role, 5xx answers, failures."""

    cases: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0
    failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": sum(self.cases.values()),
            "cases_by_service_and_role": self.cases,
            "server_errors": self.server_errors,
            "failures": self.failures,
        }


FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Figures:
    return FIGURES


@pytest.fixture(scope="session")
async def live_services(servers: Servers) -> AsyncIterator[dict[str, ServiceProcess]]:
    """Each installed service (role all) on a database and vhost of its own."""
    name = unique_name("kpi_schemathesis")
    database_url = await create_database(servers.postgres_url, name)
    servers.make_vhost(name)
    env = service_env(database_url, amqp_url_for_vhost(servers.amqp_url, name))
    log_dir = Path(tempfile.mkdtemp(prefix="kpi-schemathesis-"))
    processes = {s: ServiceProcess(s, "all", env, log_dir) for s in installed_services()}
    try:
        migrate(processes, env)
        for process in processes.values():
            process.start()
        for process in processes.values():
            await process.wait_ready()
        yield processes
    finally:
        for process in processes.values():
            process.stop()
        servers.drop_vhost(name)
        await drop_database(servers.postgres_url, name)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES.cases:
        return
    figures = FIGURES.as_dict()
    terminalreporter.write_sep("-", "schemathesis figures")
    terminalreporter.write_line(
        f"cases: {figures['cases']}  5xx: {figures['server_errors']}  "
        f"non-conforming answers: {figures['failures']}"
    )
    out = os.environ.get("KPI_FIGURES_DIR")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "schemathesis.json").write_text(json.dumps(figures, indent=2) + "\n")


@pytest.fixture(autouse=True)
def _no_proxy() -> Iterator[None]:
    # requests honours *_proxy variables; the services are on loopback.
    old = os.environ.get("NO_PROXY")
    os.environ["NO_PROXY"] = "127.0.0.1,localhost"
    yield
    if old is None:
        os.environ.pop("NO_PROXY", None)
    else:
        os.environ["NO_PROXY"] = old
