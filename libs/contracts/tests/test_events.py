"""Lifecycle events decode strictly; every event has a routing key and an exchange."""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from kpi_contracts import codec, events, names
from kpi_contracts.enums import RoleGroup
from kpi_contracts.events import ContractCreated, Event, KpiSelection, RoleChanged, StaffExited


def a_contract_created_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "event_id": str(uuid.uuid4()),
        "event_type": "ContractCreated",
        "occurred_at": "2026-01-13T09:00:00Z",
        "staff_id": str(uuid.uuid4()),
        "contract_id": str(uuid.uuid4()),
        "template_id": str(uuid.uuid4()),
        "role_group": "support_worker",
    }
    body.update(overrides)
    return body


def test_contract_created_decodes_with_its_kpi_selection() -> None:
    added = uuid.uuid4()
    body = a_contract_created_body(
        kpi_selection={"excluded_module_ids": [], "added_module_ids": [str(added)]}
    )
    event = codec.decode_lifecycle(msgspec.json.encode(body))
    assert isinstance(event, ContractCreated)
    assert event.role_group is RoleGroup.SUPPORT_WORKER
    assert event.kpi_selection == KpiSelection(added_module_ids=[added])


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"event_type": "ContractUpdated"}, "Invalid value 'ContractUpdated'"),
        ({"role_group": "nurse"}, "Invalid enum value 'nurse'"),
        ({"staff_id": 42}, "Expected `uuid`, got `int`"),
        ({"occurred_at": "13/01/2026 09:00"}, "Invalid RFC3339 encoded datetime"),
        ({"occurred_at": 1768294800}, "Expected `datetime`, got `int`"),
        ({"staff_id": "not-a-uuid"}, "Invalid UUID"),
    ],
)
def test_lifecycle_decoding_rejects_bad_bodies(change: dict[str, object], reason: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=reason):
        codec.decode_lifecycle(msgspec.json.encode(a_contract_created_body(**change)))


def test_an_occurred_at_without_an_offset_is_read_as_utc() -> None:
    # The contract's times are UTC; the HTTP routes read a naive time so, and so do the events.
    body = a_contract_created_body(occurred_at="2026-01-13T09:00:00.250")
    event = codec.decode_lifecycle(msgspec.json.encode(body))
    assert event.occurred_at == datetime(2026, 1, 13, 9, 0, 0, 250_000, tzinfo=UTC)
    assert event.event_id == uuid.UUID(str(body["event_id"]))


def test_an_exit_whose_reason_holds_a_nul_character_decodes_without_it() -> None:
    # PostgreSQL text cannot hold NUL: kept, the exit could never be applied.
    body = {
        "event_id": str(uuid.uuid4()),
        "event_type": "StaffExited",
        "occurred_at": "2026-01-13T09:00:00Z",
        "staff_id": str(uuid.uuid4()),
        "reason": "resigned\u0000 (moved)",
    }
    event = codec.decode_lifecycle(msgspec.json.encode(body))
    assert isinstance(event, StaffExited)
    assert event.reason == "resigned (moved)"


def test_an_occurred_at_with_an_offset_keeps_its_instant() -> None:
    body = a_contract_created_body(occurred_at="2026-01-13T20:00:00+11:00")
    event = codec.decode_lifecycle(msgspec.json.encode(body))
    assert event.occurred_at == datetime(2026, 1, 13, 9, 0, tzinfo=UTC)


def test_a_missing_field_is_an_error() -> None:
    body = a_contract_created_body()
    del body["contract_id"]
    with pytest.raises(msgspec.ValidationError, match="missing required field `contract_id`"):
        codec.decode_lifecycle(msgspec.json.encode(body))


@pytest.mark.parametrize("field", ["event_id", "occurred_at"])
def test_an_inbound_event_brings_its_own_id_and_time(field: str) -> None:
    # Made up on arrival, a redelivery would be a new event at a new time, applied twice.
    body = a_contract_created_body()
    del body[field]
    with pytest.raises(msgspec.ValidationError, match=f"missing required field `{field}`"):
        codec.decode_lifecycle(msgspec.json.encode(body))


def test_unknown_fields_are_ignored_so_publishers_can_add_fields() -> None:
    event = codec.decode_lifecycle(msgspec.json.encode(a_contract_created_body(new_field=1)))
    assert isinstance(event, ContractCreated)


def test_events_round_trip_through_json() -> None:
    exited = StaffExited(staff_id=uuid.uuid4(), reason="resigned")
    assert codec.decode_lifecycle(codec.encode(exited)) == exited
    changed = RoleChanged(
        staff_id=uuid.uuid4(),
        from_role_group=RoleGroup.SUPPORT_WORKER,
        to_role_group=RoleGroup.TEAM_LEADER,
    )
    assert codec.decode_lifecycle(codec.encode(changed)) == changed


def test_lifecycle_routing_keys_are_the_contracts() -> None:
    staff = uuid.uuid4()
    assert names.routing_key(StaffExited(staff_id=staff)) == "staff.exited"
    assert names.exchange(StaffExited(staff_id=staff)) == "hr.lifecycle"
    changed = RoleChanged(
        staff_id=staff, from_role_group=RoleGroup.FINANCE, to_role_group=RoleGroup.EXECUTIVE
    )
    assert names.routing_key(changed) == "staff.role_changed"


def test_every_event_type_has_a_routing_key() -> None:
    def subclasses(kind: type) -> set[type]:
        found: set[type] = set(kind.__subclasses__())
        return found | {s for k in found for s in subclasses(k)}

    assert subclasses(Event) <= set(names.ROUTING_KEYS)


def test_a_new_id_is_a_version_7_uuid_of_the_millisecond_and_the_random_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    at_ns = 1_764_900_000_123_456_789  # 2025-12-05 02:00:00.123456789 UTC
    monkeypatch.setattr(time, "time_ns", lambda: at_ns)
    for seed in (b"\x00" * 10, b"\xff" * 10, bytes(range(10)), bytes(range(200, 210))):
        monkeypatch.setattr(os, "urandom", lambda n, seed=seed: seed[:n])
        made = events.time_ordered_uuid()
        assert made.version == 7
        assert made.variant == uuid.RFC_4122
        assert made.int >> 80 == at_ns // 1_000_000
        random_bits = int.from_bytes(seed)
        assert (made.int >> 64) & 0xFFF == random_bits >> 68  # rand_a: the first 12 bits
        assert made.int & ((1 << 62) - 1) == random_bits & ((1 << 62) - 1)  # rand_b: the last 62


def test_new_ids_sort_in_the_order_they_were_made_across_milliseconds() -> None:
    made = []
    for _ in range(3):
        made.append(events.time_ordered_uuid())
        time.sleep(0.002)
    # PostgreSQL compares uuids byte by byte, as Python compares their bytes.
    assert [u.bytes for u in made] == sorted(u.bytes for u in made)
    assert len(set(made)) == 3


@pytest.mark.parametrize(
    ("weight", "decodes"), [(0.15, True), (0.3, True), (0.1, False), (0.9, False)]
)
def test_an_effort_weight_outside_15_to_30_percent_does_not_decode(
    weight: float, decodes: bool
) -> None:
    parameters = {
        "staff_kpi_id": str(uuid.uuid4()),
        "staff_id": str(uuid.uuid4()),
        "kpi_module_id": str(uuid.uuid4()),
        "module_name": "Attendance & Reliability",
        "score_type": "percentage",
        "target_score": 90,
        "minimum_score": 70,
        "effort_weight": weight,
        "evaluation_frequency": "monthly",
        "assigned_at": "2026-01-13T09:00:00Z",
    }
    body = msgspec.json.encode(
        {
            "event_type": "KpisAssigned",
            "staff_id": parameters["staff_id"],
            "cause": "manual_assignment",
            "kpis": [parameters],
        }
    )
    if decodes:
        assert codec.decode(body, events.KpisAssigned).kpis[0].effort_weight == weight
    else:
        with pytest.raises(msgspec.ValidationError, match="effort_weight"):
            codec.decode(body, events.KpisAssigned)


def a_module_upserted_body(automation_status: str) -> bytes:
    module = {
        "id": str(uuid.uuid4()),
        "name": "Roster accuracy",
        "slug": "roster-accuracy",
        "category": "operational",
        "role_group": "rostering",
        "is_universal": False,
        "objective": "Rosters are right first time.",
        "measurement_method": "Share of shifts that need no change after publishing.",
        "data_sources": [],
        "automation_status": automation_status,
        "score_type": "percentage",
        "target_score": 90,
        "minimum_score": 75,
        "effort_weight": 0.2,
        "evaluation_frequency": "monthly",
        "coaching_tips": [],
        "is_default_for_role": False,
        "is_seed": False,
        "display_order": 1,
        "is_archived": False,
        "version": 1,
    }
    return msgspec.json.encode({"event_type": "ModuleUpserted", "module": module})


@pytest.mark.parametrize("level", ["manual", "none", "fully_automated", "Partly, from rosters"])
def test_a_module_carries_any_automation_level_as_written(level: str) -> None:
    event: events.ModuleUpserted = codec.decode(
        a_module_upserted_body(level), events.ModuleUpserted
    )
    assert event.module.automation_status == level


@pytest.mark.parametrize("level", ["", " manual", "manual\n", "semi\tautomated", "x" * 51])
def test_an_automation_level_that_is_blank_padded_controlled_or_long_does_not_decode(
    level: str,
) -> None:
    with pytest.raises(msgspec.ValidationError, match="automation_status"):
        codec.decode(a_module_upserted_body(level), events.ModuleUpserted)
