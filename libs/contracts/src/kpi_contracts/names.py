"""The one place that names exchanges, routing keys and queues (interfaces §5)."""

from __future__ import annotations

from typing import Final

from kpi_contracts import events

LIFECYCLE_EXCHANGE: Final = "hr.lifecycle"
KPI_EXCHANGE: Final = "hr.kpi"
DEAD_LETTER_EXCHANGE: Final = "hr.dlx"
LIFECYCLE_DLQ: Final = "hr.lifecycle.dlq"

CONTRACT_CREATED: Final = "contract.created"
ROLE_CHANGED: Final = "staff.role_changed"
STAFF_EXITED: Final = "staff.exited"

MODULE_UPSERTED: Final = "catalog.module_upserted"
TEMPLATE_KPIS_REPLACED: Final = "catalog.template_kpis_replaced"
CATALOG_SNAPSHOT_REQUESTED: Final = "catalog.snapshot_requested"
KPI_ASSIGNED: Final = "assignment.kpi_assigned"
KPI_STATUS_CHANGED: Final = "assignment.kpi_status_changed"
KPI_RESTATED: Final = "assignment.kpi_restated"
JOURNAL_ENTRY_APPENDED: Final = "journal.entry_appended"
SCORE_RECOMPUTED: Final = "journal.score_recomputed"

ROUTING_KEYS: Final[dict[type[events.Event], str]] = {
    events.ContractCreated: CONTRACT_CREATED,
    events.RoleChanged: ROLE_CHANGED,
    events.StaffExited: STAFF_EXITED,
    events.ModuleUpserted: MODULE_UPSERTED,
    events.TemplateKpisReplaced: TEMPLATE_KPIS_REPLACED,
    events.CatalogSnapshotRequested: CATALOG_SNAPSHOT_REQUESTED,
    events.KpisAssigned: KPI_ASSIGNED,
    events.KpiStatusChanged: KPI_STATUS_CHANGED,
    events.KpisRestated: KPI_RESTATED,
    events.JournalEntryAppended: JOURNAL_ENTRY_APPENDED,
    events.ScoreRecomputed: SCORE_RECOMPUTED,
}


def routing_key(event: events.Event) -> str:
    """The routing key an event is published with."""
    return ROUTING_KEYS[type(event)]


def exchange(event: events.Event) -> str:
    """The exchange an event is published to."""
    return exchange_of(type(event))


def exchange_of(kind: type[events.Event]) -> str:
    """The exchange events of a type are published to."""
    lifecycle = (events.ContractCreated, events.RoleChanged, events.StaffExited)
    return LIFECYCLE_EXCHANGE if kind in lifecycle else KPI_EXCHANGE


def dead_letter_queue(queue: str) -> str:
    """The dead-letter queue of a consumer queue (the lifecycle queue's is fixed by §5)."""
    return LIFECYCLE_DLQ if queue == ASSIGNMENT_LIFECYCLE_QUEUE else f"{queue}.dlq"


# Consumer queues, one per (service, source); each is a durable quorum queue.
ASSIGNMENT_LIFECYCLE_QUEUE: Final = "assignment.lifecycle"
ASSIGNMENT_CATALOG_QUEUE: Final = "assignment.catalog"
ASSIGNMENT_SCORES_QUEUE: Final = "assignment.scores"
JOURNAL_ASSIGNMENTS_QUEUE: Final = "journal.assignments"
CATALOG_REQUESTS_QUEUE: Final = "catalog.requests"

# Where an `hr.kpi` event nobody has bound a queue for is parked: a fanout exchange the outbox
# relay publishes what `hr.kpi` returns to, and its queue.
KPI_UNROUTED: Final = "hr.kpi.unrouted"
# Where announcements (events published for subscribers the system does not have yet) are
# routed and dropped, so that they do not fill the parking lot meant for misrouted events.
KPI_ANNOUNCEMENTS_QUEUE: Final = "hr.kpi.announcements"
