"""`kpi-publish` builds the lifecycle event its options describe."""

from __future__ import annotations

import uuid

import pytest

from kpi_contracts import cli
from kpi_contracts.enums import RoleGroup
from kpi_contracts.events import ContractCreated, RoleChanged, StaffExited

STAFF, TEMPLATE, MODULE = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def event_of(*argv: str) -> object:
    return cli.event_from_args(cli._parser().parse_args(list(argv)))


def test_contract_created_with_a_kpi_selection() -> None:
    event = event_of(
        "contract-created",
        "--staff-id",
        str(STAFF),
        "--template-id",
        str(TEMPLATE),
        "--role-group",
        "team_leader",
        "--exclude",
        str(MODULE),
        "--add",
        str(MODULE),
    )

    assert isinstance(event, ContractCreated)
    assert (event.staff_id, event.template_id, event.role_group) == (
        STAFF,
        TEMPLATE,
        RoleGroup.TEAM_LEADER,
    )
    assert event.kpi_selection is not None
    assert event.kpi_selection.excluded_module_ids == [MODULE]
    assert event.kpi_selection.added_module_ids == [MODULE]


def test_contract_created_without_choices_has_no_selection_and_a_new_contract_id() -> None:
    argv = ("contract-created", "--staff-id", str(STAFF), "--template-id", str(TEMPLATE))
    first, second = (event_of(*argv, "--role-group", "volunteer") for _ in range(2))

    assert isinstance(first, ContractCreated) and isinstance(second, ContractCreated)
    assert first.kpi_selection is None
    # Each contract the tool publishes is a new one unless --contract-id names it.
    assert first.contract_id != second.contract_id


def test_contract_created_keeps_the_contract_id_it_is_given() -> None:
    contract = uuid.uuid4()
    event = event_of(
        "contract-created",
        "--staff-id",
        str(STAFF),
        "--template-id",
        str(TEMPLATE),
        "--role-group",
        "volunteer",
        "--contract-id",
        str(contract),
    )

    assert isinstance(event, ContractCreated)
    assert event.contract_id == contract


def test_role_changed() -> None:
    event = event_of(
        "role-changed",
        "--staff-id",
        str(STAFF),
        "--from-role-group",
        "support_worker",
        "--to-role-group",
        "team_leader",
    )

    assert isinstance(event, RoleChanged)
    assert (event.from_role_group, event.to_role_group, event.template_id) == (
        RoleGroup.SUPPORT_WORKER,
        RoleGroup.TEAM_LEADER,
        None,
    )


def test_staff_exited_with_a_reason() -> None:
    event = event_of("staff-exited", "--staff-id", str(STAFF), "--reason", "retired")

    assert isinstance(event, StaffExited)
    assert (event.staff_id, event.reason) == (STAFF, "retired")


def test_an_unknown_role_group_is_refused() -> None:
    with pytest.raises(SystemExit):
        event_of(
            "contract-created",
            "--staff-id",
            str(STAFF),
            "--template-id",
            str(TEMPLATE),
            "--role-group",
            "astronaut",
        )
