"""The simulator's HTTP app: templates and people to read, lifecycle events to publish."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Annotated, Any, Protocol

import msgspec
from litestar import Litestar, Request, get, post
from litestar.openapi import OpenAPIConfig
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED

from contract_sim.directory import (
    People,
    Person,
    TemplateView,
    load_templates,
    role_group_after_contract,
    template_view,
)
from kpi_contracts import names
from kpi_contracts.enums import Role, RoleGroup
from kpi_contracts.events import (
    ContractCreated,
    KpiSelection,
    LifecycleEvent,
    RoleChanged,
    StaffExited,
)
from kpi_kit.auth import Principal, bearer_token, decode_token
from kpi_kit.errors import EXCEPTION_HANDLERS, FieldError, Unavailable, Unprocessable
from kpi_kit.settings import Settings

log = logging.getLogger("contract_sim")

PREFIX = "/contract-sim"


class Publisher(Protocol):
    """What the simulator needs of kpi_contracts.publisher.LifecyclePublisher."""

    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    async def publish(self, event: LifecycleEvent) -> None: ...


class Announcer:
    """Publishes lifecycle events, connecting on first use and again after a broker failure."""

    def __init__(self, make_publisher: Callable[[], Publisher]) -> None:
        self._make = make_publisher
        self._publisher: Publisher | None = None
        self._lock = asyncio.Lock()

    async def announce(self, event: LifecycleEvent) -> None:
        """Publish one event with confirms, or raise Unavailable."""
        async with self._lock:
            try:
                if self._publisher is None:
                    publisher = self._make()
                    await publisher.connect()
                    self._publisher = publisher
                await self._publisher.publish(event)
            except Exception as exc:  # the broker or the connection: say so, retry next time
                log.warning("publishing %s failed: %r", type(event).__name__, exc)
                await self.close()
                raise Unavailable(
                    "The message broker cannot be reached; try again shortly"
                ) from exc
        log.info(
            "published %s %s for staff %s", names.routing_key(event), event.event_id, event.staff_id
        )

    async def close(self) -> None:
        """Close the connection if open."""
        if self._publisher is not None:
            with contextlib.suppress(Exception):
                await self._publisher.close()
            self._publisher = None


# ---------------------------------------------------------------- request and response bodies


class ContractCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A new contract: for a known person (staff_id) or a new one (name)."""

    template_id: uuid.UUID
    staff_id: uuid.UUID | None = None
    name: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    role_group: RoleGroup | None = None
    contract_id: uuid.UUID | None = None
    kpi_selection: KpiSelection | None = None


class RoleChangeCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A person moves to another role group."""

    staff_id: uuid.UUID
    to_role_group: RoleGroup
    from_role_group: RoleGroup | None = None
    contract_id: uuid.UUID | None = None
    template_id: uuid.UUID | None = None


class ExitCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A person leaves."""

    staff_id: uuid.UUID
    contract_id: uuid.UUID | None = None
    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class Published(msgspec.Struct, frozen=True, kw_only=True):
    """What was published: the event, its routing key and exchange."""

    exchange: str
    routing_key: str
    event_id: uuid.UUID
    staff_id: uuid.UUID
    contract_id: uuid.UUID | None
    event: dict[str, Any]


def _published(event: LifecycleEvent) -> Published:
    return Published(
        exchange=names.LIFECYCLE_EXCHANGE,
        routing_key=names.routing_key(event),
        event_id=event.event_id,
        staff_id=event.staff_id,
        contract_id=event.contract_id,
        event=msgspec.to_builtins(event),
    )


# ---------------------------------------------------------------- routes


def _caller(request: Request[Any, Any, Any]) -> Principal:
    settings: Settings = request.app.state.settings
    return decode_token(settings.jwt_secret, bearer_token(request))


@get(f"{PREFIX}/templates", summary="The contract templates of the (simulated) contract system")
async def list_templates(request: Request[Any, Any, Any]) -> list[TemplateView]:
    """Contract templates, each with its role group."""
    return [template_view(t) for t in request.app.state.templates]


@get(f"{PREFIX}/people", summary="People the (simulated) contract system employs")
async def list_people(request: Request[Any, Any, Any]) -> list[Person]:
    """Names for staff ids: the KPI services know people only by id."""
    people: People = request.app.state.people
    return people.all()


@post(
    f"{PREFIX}/contracts",
    status_code=HTTP_201_CREATED,
    summary="Create a contract: publishes ContractCreated",
)
async def create_contract(
    request: Request[Any, Any, Any], data: JSONBody[ContractCreate]
) -> Published:
    """Create a contract from a template and publish `contract.created` with the KPI selection."""
    _caller(request).require(Role.MANAGER)
    templates = {t.id: t for t in request.app.state.templates}
    template = templates.get(data.template_id)
    errors = []
    if template is None:
        errors.append(FieldError("template_id", "Unknown contract template"))
    if data.staff_id is None and not (data.name or "").strip():
        errors.append(
            FieldError(
                "name", "Give the new person's name, or pick someone who is already employed"
            )
        )
    if errors:
        raise Unprocessable("The contract cannot be created", errors)
    assert template is not None
    people: People = request.app.state.people
    staff_id = data.staff_id or uuid.uuid4()
    role_group = data.role_group or template.role_group
    event = ContractCreated(
        staff_id=staff_id,
        contract_id=data.contract_id or uuid.uuid4(),
        template_id=template.id,
        role_group=role_group,
        kpi_selection=data.kpi_selection,
    )
    await request.app.state.announcer.announce(event)
    people.record(
        staff_id,
        name=(data.name or "").strip() or None,
        role_group=role_group_after_contract(people.get(staff_id), role_group),
        exited=False,
    )
    return _published(event)


@post(
    f"{PREFIX}/role-changes",
    status_code=HTTP_201_CREATED,
    summary="Change a person's role: publishes RoleChanged",
)
async def change_role(
    request: Request[Any, Any, Any], data: JSONBody[RoleChangeCreate]
) -> Published:
    """Publish `staff.role_changed`; the person's current role group is the default `from`."""
    _caller(request).require(Role.MANAGER)
    people: People = request.app.state.people
    person = people.get(data.staff_id)
    from_group = data.from_role_group or (person.role_group if person else None)
    if from_group is None:
        raise Unprocessable(
            "The current role group is not known",
            [FieldError("from_role_group", "Say which role group the person is leaving")],
        )
    if from_group == data.to_role_group:
        raise Unprocessable(
            "Nothing changes",
            [FieldError("to_role_group", "Pick a different role group from the current one")],
        )
    event = RoleChanged(
        staff_id=data.staff_id,
        from_role_group=from_group,
        to_role_group=data.to_role_group,
        contract_id=data.contract_id,
        template_id=data.template_id,
    )
    await request.app.state.announcer.announce(event)
    people.record(data.staff_id, role_group=data.to_role_group)
    return _published(event)


@post(
    f"{PREFIX}/exits",
    status_code=HTTP_201_CREATED,
    summary="A person leaves: publishes StaffExited",
)
async def record_exit(request: Request[Any, Any, Any], data: JSONBody[ExitCreate]) -> Published:
    """Publish `staff.exited`."""
    _caller(request).require(Role.MANAGER)
    event = StaffExited(staff_id=data.staff_id, contract_id=data.contract_id, reason=data.reason)
    await request.app.state.announcer.announce(event)
    request.app.state.people.record(data.staff_id, exited=True)
    return _published(event)


@get(f"{PREFIX}/health/live", summary="Liveness")
async def live() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


def create_app(
    settings: Settings,
    make_publisher: Callable[[], Publisher] | None = None,
    *,
    templates_file: Path | None = None,
    state_file: Path | None = None,
) -> Litestar:
    """Build the simulator app; it connects to the broker on the first publish."""
    settings.check_safe_for_env()
    if make_publisher is None:
        from kpi_contracts.publisher import LifecyclePublisher

        def make_publisher() -> Publisher:
            return LifecyclePublisher(settings.amqp_url)

    announcer = Announcer(make_publisher)

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await announcer.close()

    app = Litestar(
        route_handlers=[
            list_templates,
            list_people,
            create_contract,
            change_role,
            record_exit,
            live,
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(
            title="Contract-system simulator", version="1.0.0", path=f"{PREFIX}/schema"
        ),
        debug=False,
    )
    app.state.settings = settings
    app.state.templates = load_templates(templates_file)
    app.state.people = People(state_file)
    app.state.announcer = announcer
    return app


def settings_from_env() -> Settings:
    """The kit's settings, with the simulator's own port default (8009)."""
    env = dict(os.environ)
    env.setdefault("CONTRACT_SIM_PORT", "8009")
    return Settings.from_env("contract_sim", env)
