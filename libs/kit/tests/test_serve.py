"""`kpi serve`: several HTTP processes only where nothing must happen exactly once."""

from __future__ import annotations

import gc
from typing import Any, cast

import pytest

from kpi_kit import cli
from kpi_kit.service import Runtime
from kpi_kit.settings import Settings


@pytest.mark.parametrize("role", ["worker", "all"])
def test_several_processes_are_refused_for_a_role_that_relays_the_outbox(role: str) -> None:
    with pytest.raises(SystemExit, match="--role api"):
        cli.serve("catalog", role, "127.0.0.1", 0, workers=2)


@pytest.mark.parametrize(
    ("role", "asked", "configured", "processes"),
    [
        ("api", None, "3", 3),  # KPI_WEB_WORKERS
        ("api", None, None, 1),
        ("api", 2, "3", 2),  # --workers wins
        # The setting is shared with the workers' configuration: they take one process, not
        # a refusal to start (a crash loop).
        ("worker", None, "3", 1),
        ("all", None, "3", 1),
        ("worker", 2, None, 2),  # asked for on the command line: refused by serve, as above
    ],
)
def test_kpi_web_workers_sets_the_processes_of_the_api_role_only(
    role: str, asked: int | None, configured: str | None, processes: int
) -> None:
    args = cli._parser().parse_args(
        ["serve", "assignment", "--role", role, *(["--workers", str(asked)] if asked else [])]
    )
    assert cli.web_workers(args.role, args.workers, configured) == processes


def test_serving_freezes_what_start_up_built_and_collects_young_objects_less_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uvicorn

    seen: dict[str, int] = {}

    def run(app: object, **options: object) -> None:
        seen["frozen"], seen["young_threshold"] = gc.get_freeze_count(), gc.get_threshold()[0]

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.setattr(cli, "configure_logging", lambda service: None)
    thresholds = gc.get_threshold()
    try:
        cli.serve("catalog", "api", "127.0.0.1", 0)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
    assert seen["frozen"] > 10_000
    assert seen["young_threshold"] == cli.GC_YOUNG_THRESHOLD > thresholds[0]


def test_a_runtime_holds_one_of_each_kind_of_state_of_its_own() -> None:
    def a_runtime() -> Runtime:
        return Runtime(Settings(service="probe"), cast(Any, None), cast(Any, None))

    one, other = a_runtime(), a_runtime()

    assert one.held(dict) is one.held(dict)
    assert one.held(dict) is not other.held(dict)
    assert isinstance(one.held(list), list)  # its own kind, not the dict held before


@pytest.mark.parametrize("configured", ["two", "0", "-1"])
def test_a_kpi_web_workers_that_is_no_count_is_one_line(configured: str) -> None:
    with pytest.raises(SystemExit, match="KPI_WEB_WORKERS must be a whole number"):
        cli.web_workers("api", None, configured)
