"""The services' topology as a whole: every event a service publishes reaches a consumer queue of
another, or is declared an announcement; nothing is left to be parked by design."""

from __future__ import annotations

from assignment.app import definition as assignment
from catalog.app import definition as catalog
from journal.app import definition as journal
from kpi_contracts import names

DEFINITIONS = [catalog(), assignment(), journal()]


def bound_keys(exchange: str) -> set[str]:
    return {
        key
        for definition in DEFINITIONS
        for pairs in definition.bindings.values()
        for bound_to, key in pairs
        if bound_to == exchange
    }


def keys_on(exchange: str) -> set[str]:
    return {key for kind, key in names.ROUTING_KEYS.items() if names.exchange_of(kind) == exchange}


def test_every_internal_event_is_consumed_or_announced():
    announced = {key for definition in DEFINITIONS for key in definition.announcements}
    consumed = bound_keys(names.KPI_EXCHANGE)
    assert keys_on(names.KPI_EXCHANGE) == consumed | announced
    assert not consumed & announced, "an event a service consumes is not an announcement"


def test_every_lifecycle_event_is_consumed():
    assert keys_on(names.LIFECYCLE_EXCHANGE) == bound_keys(names.LIFECYCLE_EXCHANGE)
