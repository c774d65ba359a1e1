"""What the simulated contract system knows: its contract templates and the people it employs."""

from __future__ import annotations

import json
import threading
import uuid
from importlib import resources
from pathlib import Path

import msgspec

from kpi_contracts.enums import RoleGroup


class TemplateKpiChoice(msgspec.Struct, frozen=True, kw_only=True):
    """One KPI a template asks for, named by the catalogue slug (loaded by load_templates)."""

    slug: str
    required: bool = False
    weight: float = 1.0
    custom_target: float | None = None


class ContractTemplate(msgspec.Struct, frozen=True, kw_only=True):
    """A contract template of the contract system."""

    id: uuid.UUID
    name: str
    role_group: RoleGroup
    employment_type: str
    description: str
    kpis: list[TemplateKpiChoice] = []


class TemplateView(msgspec.Struct, frozen=True, kw_only=True):
    """A template as the pages see it (the KPI choices live in the catalogue once loaded)."""

    id: uuid.UUID
    name: str
    role_group: RoleGroup
    employment_type: str
    description: str


class Person(msgspec.Struct, kw_only=True):
    """A person the contract system employs (the KPI services know only the staff_id)."""

    staff_id: uuid.UUID
    name: str
    role_group: RoleGroup | None = None
    exited: bool = False


def load_templates(path: Path | None = None) -> list[ContractTemplate]:
    """The templates from a JSON file (default: the demo templates shipped with the simulator)."""
    raw = (
        path.read_bytes()
        if path
        else resources.files("contract_sim").joinpath("data/templates.json").read_bytes()
    )
    return msgspec.json.decode(raw, type=list[ContractTemplate])


def template_view(template: ContractTemplate) -> TemplateView:
    """A template without its catalogue slugs."""
    return TemplateView(
        id=template.id,
        name=template.name,
        role_group=template.role_group,
        employment_type=template.employment_type,
        description=template.description,
    )


def role_group_after_contract(person: Person | None, contract_role_group: RoleGroup) -> RoleGroup:
    """A person's role group once a contract is made: someone still with us keeps theirs (a
    contract in another group adds its KPIs but does not move them; a role change does), while a
    new person, or one who had left and holds no role's KPIs, joins in the contract's group."""
    if person is None or person.exited or person.role_group is None:
        return contract_role_group
    return person.role_group


class People:
    """The demo people plus everyone hired through the simulator, kept in a JSON file if given."""

    def __init__(self, state_file: Path | None = None) -> None:
        self._lock = threading.Lock()
        self._state_file = state_file
        raw = resources.files("contract_sim").joinpath("data/people.json").read_bytes()
        self._people = {p.staff_id: p for p in msgspec.json.decode(raw, type=list[Person])}
        if state_file and state_file.exists():
            try:
                saved = msgspec.json.decode(state_file.read_bytes(), type=list[Person])
            except (msgspec.DecodeError, OSError):
                saved = []
            self._people.update({p.staff_id: p for p in saved})

    def all(self) -> list[Person]:
        """Everyone, by name."""
        return sorted(self._people.values(), key=lambda p: p.name.lower())

    def get(self, staff_id: uuid.UUID) -> Person | None:
        """One person, or None."""
        return self._people.get(staff_id)

    def record(
        self,
        staff_id: uuid.UUID,
        *,
        name: str | None = None,
        role_group: RoleGroup | None = None,
        exited: bool | None = None,
    ) -> Person:
        """Add or update a person and save the file."""
        with self._lock:
            person = self._people.get(staff_id)
            if person is None:
                person = Person(staff_id=staff_id, name=name or f"Staff member {str(staff_id)[:8]}")
                self._people[staff_id] = person
            if name:
                person.name = name
            if role_group is not None:
                person.role_group = role_group
            if exited is not None:
                person.exited = exited
            self._save()
            return person

    def _save(self) -> None:
        if not self._state_file:
            return
        self._state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_bytes(
            json.dumps(msgspec.to_builtins(list(self._people.values())), indent=1).encode()
        )
        tmp.replace(self._state_file)
