"""Write the AsyncAPI document of every service's events (`make asyncapi`).

FastStream generates the document from the services' real subscribers and from a publisher per
event; msgspec supplies the payload schemas, which FastStream cannot derive from msgspec Structs.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import msgspec
from faststream.rabbit import RabbitBroker, RabbitRouter
from faststream.specification import AsyncAPI

from kpi_contracts import events, names
from kpi_kit.broker import KPI, LIFECYCLE
from kpi_kit.cli import available_services, definition_of
from kpi_kit.outbox import Outbox
from kpi_kit.service import Runtime
from kpi_kit.settings import Settings

EVENT_BY_KEY = {key: kind for kind, key in names.ROUTING_KEYS.items()}


def build_broker() -> tuple[RabbitBroker, dict[str, list[type[events.Event]]]]:
    """A broker holding every service's subscribers and one publisher per event type."""
    broker = RabbitBroker()
    accepted: dict[str, list[type[events.Event]]] = {}
    for service in available_services():
        definition = definition_of(service)
        runtime = Runtime(Settings(service=service), Outbox(service), broker)
        router = RabbitRouter()
        for consumer in definition.consumers(runtime):
            consumer.register(router)
        broker.include_router(router)
        for queue, pairs in definition.bindings.items():
            accepted[queue] = [EVENT_BY_KEY[key] for _, key in pairs if key in EVENT_BY_KEY]
    for kind, key in names.ROUTING_KEYS.items():
        exchange = LIFECYCLE if names.exchange_of(kind) == names.LIFECYCLE_EXCHANGE else KPI
        broker.publisher(key, exchange, title=key, description=(kind.__doc__ or "").strip())
    return broker, accepted


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document as a dict, with msgspec payload schemas filled in."""
    broker, accepted = build_broker()
    spec = AsyncAPI(
        broker,
        title="KPI system events",
        version="1.0.0",
        description="Lifecycle events in (hr.lifecycle) and internal events (hr.kpi).",
    ).to_specification()
    doc: dict[str, Any] = json.loads(spec.to_json())
    kinds = list(names.ROUTING_KEYS)
    (_, components) = msgspec.json.schema_components(
        kinds, ref_template="#/components/schemas/{name}"
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schemas.update(components)
    for name, message in doc["components"].get("messages", {}).items():
        channel = name.split(":", 1)[0]
        if channel in EVENT_BY_KEY:
            message["payload"] = {"$ref": f"#/components/schemas/{EVENT_BY_KEY[channel].__name__}"}
        elif channel in accepted:
            refs = [{"$ref": f"#/components/schemas/{k.__name__}"} for k in accepted[channel]]
            message["payload"] = {"oneOf": refs} if len(refs) > 1 else refs[0]
    for unused in [k for k in schemas if k.endswith(":Payload") or k == "EmptyPayload"]:
        del schemas[unused]
    return doc


def main() -> None:
    """Print the document."""
    sys.stdout.write(json.dumps(document(), indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
