"""Check the resolved docker-compose model (`docker compose config --format json`) for what
`docker compose config -q` cannot see: the workers scale, every long-running service has a
health check, and start order follows health and the one-shot migration.

    docker compose config --format json | python check_compose.py -
"""

from __future__ import annotations

import json
import sys
from typing import Any

SERVICES = ("catalog", "assignment", "journal")
WORKERS = tuple(f"{s}-worker" for s in SERVICES)
APIS = tuple(f"{s}-api" for s in SERVICES)
ONE_SHOT = {"migrate", "frontend-deps", "demo-data"}


def _condition(service: dict[str, Any], dependency: str) -> str | None:
    return (service.get("depends_on") or {}).get(dependency, {}).get("condition")


def compose_errors(model: dict[str, Any]) -> list[str]:
    """Everything wrong with the resolved compose model, as messages."""
    services = model.get("services", {})
    errors = []
    for name in ("postgres", "rabbitmq", "migrate", "gateway", "contract-sim", *APIS, *WORKERS):
        if name not in services:
            errors.append(f"service {name} is missing")
    for name, service in services.items():
        healthcheck = service.get("healthcheck") or {}
        if name not in ONE_SHOT and (not healthcheck.get("test") or healthcheck.get("disable")):
            errors.append(f"{name}: no healthcheck")
    for name in WORKERS:
        service = services.get(name, {})
        if service.get("container_name"):
            errors.append(f"{name}: container_name stops `--scale {name}=3`")
        if any(port.get("published") for port in service.get("ports", []) or []):
            errors.append(f"{name}: a published host port stops `--scale {name}=3`")
    for name in (*APIS, *WORKERS):
        service = services.get(name, {})
        if _condition(service, "migrate") != "service_completed_successfully":
            errors.append(f"{name}: must wait for migrate (service_completed_successfully)")
        for dependency in ("postgres", "rabbitmq"):
            if _condition(service, dependency) != "service_healthy":
                errors.append(f"{name}: must wait for {dependency} (service_healthy)")
        role = name.rsplit("-", 1)[1]
        command = service.get("command") or []
        if command[:2] != [name.rsplit("-", 1)[0], role]:
            errors.append(f"{name}: command {command} should be [service, role]")
    migrate = services.get("migrate", {})
    if migrate.get("command") != ["migrate", "all"]:
        errors.append("migrate: command should be [migrate, all]")
    if _condition(migrate, "postgres") != "service_healthy":
        errors.append("migrate: must wait for postgres (service_healthy)")
    if migrate.get("restart") not in (None, "no"):
        errors.append("migrate: a one-shot service must not restart")
    # nginx resolves its upstreams at start: every one of them must be up before the gateway.
    for upstream in (*APIS, "contract-sim"):
        if _condition(services.get("gateway", {}), upstream) != "service_healthy":
            errors.append(f"gateway: must wait for {upstream} (service_healthy)")
    for name in ("postgres", "rabbitmq"):
        volumes = [
            v for v in services.get(name, {}).get("volumes", []) or [] if v.get("type") == "volume"
        ]
        if not volumes:
            errors.append(f"{name}: data must live on a named volume")
    return errors


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] == "-":
        model = json.load(sys.stdin)
    else:
        with open(sys.argv[1]) as source:
            model = json.load(source)
    errors = compose_errors(model)
    for error in errors:
        print(f"ERROR docker-compose.yml: {error}")
    print(f"{'FAILED' if errors else 'ok':6} docker-compose.yml: {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
