"""Private servers for the fault suite, a fresh system per scenario, and the run's figures."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parents[1] / "support")]

from live import installed_services  # noqa: E402
from private_servers import PrivatePostgres, PrivateRabbit  # noqa: E402
from system import FaultSystem  # noqa: E402

from kpi_kit.testing.servers import unique_name  # noqa: E402

FIGURES: dict[str, dict[str, Any]] = {}
_LOG_DIR: list[Path] = []


def log_dir() -> Path:
    """Where this run's service logs go (made on first use: collecting alone makes nothing)."""
    if not _LOG_DIR:
        named = os.environ.get("KPI_FAULTS_LOG_DIR")
        _LOG_DIR.append(Path(named) if named else Path(tempfile.mkdtemp(prefix="kpi-faults-")))
    return _LOG_DIR[0]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "catalog_last: start the catalog after the other services")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL cluster of the suite's own (the machine's shared one is never touched)."""
    server = PrivatePostgres.create()
    yield server
    server.close()


@pytest.fixture(scope="session")
def private_rabbit() -> Iterator[PrivateRabbit]:
    """A RabbitMQ node of the suite's own (the machine's shared one is never touched)."""
    node = PrivateRabbit.create()
    yield node
    node.close()


@pytest.fixture
async def fault_system(
    private_postgres: PrivatePostgres, private_rabbit: PrivateRabbit, request: pytest.FixtureRequest
) -> AsyncIterator[FaultSystem]:
    """Every service as real processes on a database and vhost of this scenario's own."""
    missing = {"catalog", "assignment", "journal"} - set(installed_services())
    if missing:
        pytest.skip(f"not installed in this checkout: {', '.join(sorted(missing))}")
    logs = log_dir() / request.node.name.replace("/", "_")
    logs.mkdir(parents=True, exist_ok=True)
    system = FaultSystem(unique_name("faults"), private_postgres, private_rabbit, logs)
    try:
        await system.start(catalog_last="catalog_last" in request.keywords)
        yield system
    finally:
        await system.stop()


@pytest.fixture(scope="session")
def figures() -> dict[str, dict[str, Any]]:
    """Figures of each scenario, printed at the end and written to KPI_FIGURES_DIR."""
    return FIGURES


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not FIGURES:
        return
    terminalreporter.write_sep("-", "fault suite figures")
    totals = {
        "events": 0,
        "deliveries": 0,
        "faults": 0,
        "duplicate_deliveries": 0,
        "lost": 0,
        "duplicated": 0,
    }
    for scenario, f in FIGURES.items():
        terminalreporter.write_line(
            f"{scenario:28} people {f['people']:>5}  events {f['events']:>5}  "
            f"deliveries {f['deliveries']:>6}  faults {f['faults']:>2}  lost {f['lost']}  "
            f"duplicated {f['duplicated']}  journal entries {f['journal_entries']:>6}  "
            f"corrections {f['journal_corrections']}  {f['seconds']:.0f}s"
        )
        for key in totals:
            totals[key] += f[key]
    terminalreporter.write_line(
        f"{'total':28} events in flight {totals['events']}, deliveries {totals['deliveries']}, "
        f"faults injected {totals['faults']}, duplicate deliveries "
        f"{totals['duplicate_deliveries']}, lost {totals['lost']}, "
        f"duplicated {totals['duplicated']}"
    )
    terminalreporter.write_line(f"service logs: {log_dir()}")
    out = os.environ.get("KPI_FIGURES_DIR")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        (Path(out) / "faults.json").write_text(
            json.dumps({"scenarios": FIGURES, "totals": totals}, indent=2, default=str) + "\n"
        )
