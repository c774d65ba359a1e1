"""Every installed service as a real process on this run's own database and vhost."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))

from live import ServiceProcess, free_port, installed_services, migrate, service_env

from kpi_kit.testing.servers import Servers, own_database_and_vhost


@dataclass
class Figures:
    """What the schemathesis run did: cases per service and role, 5xx answers, failures."""

    cases: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0
    failures: int = 0
    via: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "cases": sum(self.cases.values()),
            "cases_by_service_and_role": self.cases,
            "server_errors": self.server_errors,
            "failures": self.failures,
            "via": self.via,
        }


FIGURES = Figures()
GATEWAY = Path(__file__).parents[2] / "deploy" / "gateway" / "gateway.sh"


@dataclass
class Live:
    """The running services, and the address requests go to (the gateway when there is one)."""

    processes: dict[str, ServiceProcess]
    gateway: str | None

    def base_url(self, service: str) -> str:
        return self.gateway or self.processes[service].url


def start_gateway(
    processes: dict[str, ServiceProcess], run_dir: Path
) -> tuple[str, dict[str, str]] | None:
    """Start the gateway (nginx) in front of the services, when this checkout has one."""
    if not GATEWAY.exists() or not (shutil.which("nginx") or Path("/usr/sbin/nginx").exists()):
        return None
    port = free_port()
    env = {
        **os.environ,
        "KPI_GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "KPI_GATEWAY_RUN_DIR": str(run_dir),
        "KPI_GATEWAY_PID": str(run_dir / "nginx.pid"),
        "KPI_GATEWAY_ACCESS_LOG": str(run_dir / "access.log"),
        "KPI_GATEWAY_ERROR_LOG": str(run_dir / "error.log"),
        "KPI_GATEWAY_TEMP": str(run_dir / "temp"),
    }
    for service, process in processes.items():
        env[f"{service.upper()}_UPSTREAM"] = f"127.0.0.1:{process.port}"
    subprocess.run(["bash", str(GATEWAY), "start"], env=env, check=True, capture_output=True)
    return f"http://127.0.0.1:{port}", env


@pytest.fixture(scope="session")
def figures() -> Figures:
    return FIGURES


@pytest.fixture(scope="session")
async def live_services(servers: Servers) -> AsyncIterator[Live]:
    """Each installed service (role all) on a database and vhost of its own, behind the gateway
    when this checkout has one (else requests go to each service directly)."""
    async with own_database_and_vhost(servers, "kpi_schemathesis") as (database_url, amqp_url):
        env = service_env(database_url, amqp_url)
        log_dir = Path(tempfile.mkdtemp(prefix="kpi-schemathesis-"))
        # nginx's workers (not root) reach the gateway's temp folder through this one.
        os.chmod(log_dir, 0o755)
        processes = {s: ServiceProcess(s, "all", env, log_dir) for s in installed_services()}
        gateway: tuple[str, dict[str, str]] | None = None
        try:
            migrate(processes, env)
            for process in processes.values():
                process.start()
            for process in processes.values():
                await process.wait_ready()
            gateway = start_gateway(processes, log_dir / "gateway")
            FIGURES.via = "gateway" if gateway else "direct"
            yield Live(processes, gateway[0] if gateway else None)
        finally:
            if gateway is not None:
                stop = ["bash", str(GATEWAY), "stop"]
                await asyncio.to_thread(subprocess.run, stop, env=gateway[1], capture_output=True)
            for process in processes.values():
                process.stop()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES.cases:
        return
    figures = FIGURES.as_dict()
    terminalreporter.write_sep("-", "schemathesis figures")
    terminalreporter.write_line(
        f"cases: {figures['cases']}  5xx: {figures['server_errors']}  "
        f"non-conforming answers: {figures['failures']}  (requests sent {figures['via']})"
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
