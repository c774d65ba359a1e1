"""A worker's background task that fails says so in the log, when it fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi_kit.service import Runtime, ServiceDefinition
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import eventually, running

pytestmark = pytest.mark.integration


async def test_a_failing_worker_task_is_logged_with_its_error(
    database_url: str, amqp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def fill_the_replica(runtime: Runtime) -> None:
        raise RuntimeError("the catalog sent nothing")

    definition = ServiceDefinition(
        name="taskprobe",
        migrations=Path(__file__).parent / "no-migrations",
        worker_tasks=[fill_the_replica],
    )
    settings = Settings(service="taskprobe", database_url=database_url, amqp_url=amqp_url)

    async def logged() -> bool:
        return any(
            "fill_the_replica" in r.getMessage() and r.exc_info is not None
            for r in caplog.records
            if r.name == "kpi.service"
        )

    with caplog.at_level("ERROR", logger="kpi.service"):
        async with running(definition, settings, "worker"):
            await eventually(logged, timeout=10)
