"""Every exchange, routing key and queue name of interfaces §5, spelled as the contract spells it.

Other systems are built against these literals; a constant renamed by mistake would move every
service with it and no other test would notice.
"""

from __future__ import annotations

import pytest

from kpi_contracts import events, names


@pytest.mark.parametrize(
    ("constant", "literal"),
    [
        (names.LIFECYCLE_EXCHANGE, "hr.lifecycle"),
        (names.KPI_EXCHANGE, "hr.kpi"),
        (names.LIFECYCLE_DLQ, "hr.lifecycle.dlq"),
        (names.CONTRACT_CREATED, "contract.created"),
        (names.ROLE_CHANGED, "staff.role_changed"),
        (names.STAFF_EXITED, "staff.exited"),
        (names.MODULE_UPSERTED, "catalog.module_upserted"),
        (names.TEMPLATE_KPIS_REPLACED, "catalog.template_kpis_replaced"),
        (names.KPI_ASSIGNED, "assignment.kpi_assigned"),
        (names.KPI_STATUS_CHANGED, "assignment.kpi_status_changed"),
        (names.KPI_RESTATED, "assignment.kpi_restated"),
        (names.JOURNAL_ENTRY_APPENDED, "journal.entry_appended"),
        (names.SCORE_RECOMPUTED, "journal.score_recomputed"),
        (names.dead_letter_queue(names.ASSIGNMENT_LIFECYCLE_QUEUE), "hr.lifecycle.dlq"),
    ],
)
def test_a_contract_name_is_the_literal_of_interfaces_section_5(
    constant: str, literal: str
) -> None:
    assert constant == literal


@pytest.mark.parametrize(
    ("kind", "exchange", "routing_key"),
    [
        (events.ContractCreated, "hr.lifecycle", "contract.created"),
        (events.RoleChanged, "hr.lifecycle", "staff.role_changed"),
        (events.StaffExited, "hr.lifecycle", "staff.exited"),
        (events.ModuleUpserted, "hr.kpi", "catalog.module_upserted"),
        (events.TemplateKpisReplaced, "hr.kpi", "catalog.template_kpis_replaced"),
        (events.KpisAssigned, "hr.kpi", "assignment.kpi_assigned"),
        (events.KpiStatusChanged, "hr.kpi", "assignment.kpi_status_changed"),
        (events.KpisRestated, "hr.kpi", "assignment.kpi_restated"),
        (events.JournalEntryAppended, "hr.kpi", "journal.entry_appended"),
        (events.ScoreRecomputed, "hr.kpi", "journal.score_recomputed"),
    ],
)
def test_an_event_travels_on_the_exchange_and_key_of_interfaces_section_5(
    kind: type[events.Event], exchange: str, routing_key: str
) -> None:
    assert (names.exchange_of(kind), names.ROUTING_KEYS[kind]) == (exchange, routing_key)
