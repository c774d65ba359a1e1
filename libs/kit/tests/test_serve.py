"""`kpi serve`: several HTTP processes only where nothing must happen exactly once."""

from __future__ import annotations

import pytest

from kpi_kit import cli


@pytest.mark.parametrize("role", ["worker", "all"])
def test_several_processes_are_refused_for_a_role_that_relays_the_outbox(role: str) -> None:
    with pytest.raises(SystemExit, match="--role api"):
        cli.serve("catalog", role, "127.0.0.1", 0, workers=2)


def test_the_workers_option_reads_its_default_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KPI_WEB_WORKERS", "3")
    args = cli._parser().parse_args(["serve", "assignment", "--role", "api"])
    assert args.workers == 3
