"""Wiring of the journal service."""

from __future__ import annotations

from pathlib import Path

from journal.api import ApprovalController, StaffJournalController
from journal.consumers import BINDINGS, consumers
from kpi_contracts import names
from kpi_kit.service import ServiceDefinition

# The role the service's connections assume: it may read and append journal entries, never
# change or remove one (see the migration and services/journal/README.md).
DB_ROLE = "kpi_journal_app"


def definition() -> ServiceDefinition:
    """The journal service: the Living Journal over HTTP, fed by assignment's events."""
    return ServiceDefinition(
        name="journal",
        migrations=Path(__file__).parent / "migrations",
        route_handlers=[StaffJournalController, ApprovalController],
        consumers=consumers,
        bindings=BINDINGS,
        # No service of ours consumes its entries yet (a notifications service would).
        announcements=[names.JOURNAL_ENTRY_APPENDED],
        db_role=DB_ROLE,
        awaits_word=True,
    )
