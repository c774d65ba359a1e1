"""The AsyncAPI document names every routing key and carries each event's schema."""

from __future__ import annotations

from kpi_contracts import names
from kpi_kit.asyncapi import document


def test_every_routing_key_is_a_channel_with_its_event_schema() -> None:
    doc = document()
    assert set(names.ROUTING_KEYS.values()) <= set(doc["channels"])
    created = doc["components"]["messages"]["contract.created:Message"]
    assert created["payload"] == {"$ref": "#/components/schemas/ContractCreated"}
    schema = doc["components"]["schemas"]["ContractCreated"]
    assert {"event_id", "staff_id", "template_id", "role_group"} <= set(schema["properties"])
