"""Write each service's OpenAPI document to docs/openapi/ (`make openapi`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kpi_kit.cli import available_services, definition_of
from kpi_kit.service import create_app
from kpi_kit.settings import Settings


def document(service: str) -> dict[str, object]:
    """The OpenAPI document of one service's api role (nothing is started)."""
    app = create_app(definition_of(service), Settings(service=service), "api")
    schema: dict[str, object] = app.openapi_schema.to_schema()
    return schema


def main() -> None:
    """Write docs/openapi/<service>.json for every installed service."""
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/openapi")
    target.mkdir(parents=True, exist_ok=True)
    for service in available_services():
        path = target / f"{service}.json"
        path.write_text(json.dumps(document(service), indent=2, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
