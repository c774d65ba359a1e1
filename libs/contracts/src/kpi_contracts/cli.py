"""`kpi-publish`: publish a lifecycle event as the contract system would (for ops and demos)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import Sequence

from kpi_contracts import codec
from kpi_contracts.enums import RoleGroup
from kpi_contracts.events import (
    ContractCreated,
    KpiSelection,
    LifecycleEvent,
    RoleChanged,
    StaffExited,
)
from kpi_contracts.publisher import LifecyclePublisher

ROLE_GROUPS = [group.value for group in RoleGroup]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kpi-publish", description=__doc__)
    parser.add_argument(
        "--amqp-url",
        default=os.environ.get("KPI_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"),
    )
    commands = parser.add_subparsers(dest="command", required=True)

    created = commands.add_parser("contract-created", help="a contract was created")
    created.add_argument("--staff-id", type=uuid.UUID, required=True)
    created.add_argument("--contract-id", type=uuid.UUID, default=None, help="default: new")
    created.add_argument("--template-id", type=uuid.UUID, required=True)
    created.add_argument("--role-group", choices=ROLE_GROUPS, required=True)
    created.add_argument(
        "--exclude",
        type=uuid.UUID,
        action="append",
        default=[],
        help="optional template module to leave out (repeatable)",
    )
    created.add_argument(
        "--add",
        type=uuid.UUID,
        action="append",
        default=[],
        help="extra module to assign manually (repeatable)",
    )

    changed = commands.add_parser("role-changed", help="a person moved role group")
    changed.add_argument("--staff-id", type=uuid.UUID, required=True)
    changed.add_argument("--from-role-group", choices=ROLE_GROUPS, required=True)
    changed.add_argument("--to-role-group", choices=ROLE_GROUPS, required=True)
    changed.add_argument("--contract-id", type=uuid.UUID, default=None)
    changed.add_argument("--template-id", type=uuid.UUID, default=None)

    exited = commands.add_parser("staff-exited", help="a person left")
    exited.add_argument("--staff-id", type=uuid.UUID, required=True)
    exited.add_argument("--contract-id", type=uuid.UUID, default=None)
    exited.add_argument("--reason", default=None)
    return parser


def event_from_args(args: argparse.Namespace) -> LifecycleEvent:
    """Build the event the command line describes."""
    if args.command == "contract-created":
        selection = None
        if args.exclude or args.add:
            selection = KpiSelection(excluded_module_ids=args.exclude, added_module_ids=args.add)
        return ContractCreated(
            staff_id=args.staff_id,
            contract_id=args.contract_id or uuid.uuid4(),
            template_id=args.template_id,
            role_group=RoleGroup(args.role_group),
            kpi_selection=selection,
        )
    if args.command == "role-changed":
        return RoleChanged(
            staff_id=args.staff_id,
            from_role_group=RoleGroup(args.from_role_group),
            to_role_group=RoleGroup(args.to_role_group),
            contract_id=args.contract_id,
            template_id=args.template_id,
        )
    return StaffExited(staff_id=args.staff_id, contract_id=args.contract_id, reason=args.reason)


async def _publish(amqp_url: str, event: LifecycleEvent) -> None:
    async with LifecyclePublisher(amqp_url) as publisher:
        await publisher.publish(event)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `kpi-publish`; prints the published JSON."""
    args = _parser().parse_args(argv)
    event = event_from_args(args)
    asyncio.run(_publish(args.amqp_url, event))
    sys.stdout.write(codec.encode(event).decode() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
