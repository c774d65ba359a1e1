"""The fault suite's workload: people, their lifecycle events, and what in-order delivery gives.

The expectation is computed with the assignment service's own pure rules (`assignment.domain`),
fed the events in the order they occurred, once each: the state that any delivery — repeated,
shuffled, interrupted — must converge to. The journal's expectation is the story that in-order
delivery tells: for each KPI, its lifecycle changes (assigned, deactivated, reactivated) in order,
and its copy of each KPI's terms the same as assignment's. A late event that corrects a KPI's
terms adds a "record corrected" entry, which only out-of-order delivery tells: counted, not judged.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kpi_contracts import events
from kpi_contracts.enums import KpiStatus, RoleGroup

ROLE_GROUPS = list(RoleGroup)


@dataclass(frozen=True)
class Catalogue:
    """The catalogue as the catalog serves it, and the templates the suite made."""

    modules: list[dict[str, Any]]
    templates: dict[uuid.UUID, list[dict[str, Any]]]
    template_of_role: dict[RoleGroup, uuid.UUID]

    def role_modules(self, role: RoleGroup) -> list[dict[str, Any]]:
        """The role-specific modules of a role group, by display order."""
        return [m for m in self.modules if m["role_group"] == role.value and not m["is_universal"]]


def template_sets(
    modules: Sequence[dict[str, Any]], rng: random.Random
) -> dict[RoleGroup, list[dict[str, Any]]]:
    """One template per role group: a required KPI with a custom target, an optional one, and a
    universal one with a custom target (universal KPIs are required whatever the template says)."""
    universal = [m for m in modules if m["is_universal"]]
    sets: dict[RoleGroup, list[dict[str, Any]]] = {}
    for role in ROLE_GROUPS:
        own = [m for m in modules if m["role_group"] == role.value and not m["is_universal"]]
        picked = rng.sample(own, min(2, len(own)))
        kpis = []
        for index, module in enumerate(picked):
            kpis.append(
                {
                    "kpi_module_id": module["id"],
                    "weight": 0.3,
                    "is_required": index == 0,
                    "custom_target": _a_target(module) if index == 0 else None,
                }
            )
        chosen = rng.choice(universal)
        kpis.append(
            {
                "kpi_module_id": chosen["id"],
                "weight": 0.2,
                "is_required": False,
                "custom_target": _a_target(chosen),
            }
        )
        sets[role] = kpis
    return sets


def _a_target(module: dict[str, Any]) -> float:
    low = float(module["minimum_score"])
    high = 5.0 if module["score_type"] == "rating" else 100.0
    return round(min(high, max(low, float(module["target_score"]) - 1)), 2)


@dataclass
class Person:
    """One person of the workload and the lifecycle events that happen to them, in order."""

    staff_id: uuid.UUID
    events: list[events.LifecycleEvent] = field(default_factory=list)


def people(count: int, catalogue: Catalogue, rng: random.Random) -> list[Person]:
    """`count` people, each with a ContractCreated; a share also change role and/or exit.

    About 10% get a contract from a template the catalog does not know (an empty template), 20%
    exclude or add KPIs in the wizard, 25% change role (half with the new role's template), 12%
    exit (some after a role change; 40% of them are rehired a day later, in any role), 5% get
    a renewal contract.
    """
    start = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    found = []
    for index in range(count):
        person = Person(uuid.uuid4())
        at = start + timedelta(seconds=index)
        role = rng.choice(ROLE_GROUPS)
        selection = None
        if rng.random() < 0.2:
            optional = [m for m in catalogue.role_modules(role) if m["is_default_for_role"]]
            other_role = rng.choice([r for r in ROLE_GROUPS if r != role])
            added = catalogue.role_modules(other_role)[:1]
            selection = events.KpiSelection(
                excluded_module_ids=[uuid.UUID(m["id"]) for m in optional[:1]],
                added_module_ids=[uuid.UUID(m["id"]) for m in added],
            )
        template_id = catalogue.template_of_role[role] if rng.random() < 0.9 else uuid.uuid4()
        contract = uuid.uuid4()
        person.events.append(
            events.ContractCreated(
                staff_id=person.staff_id,
                contract_id=contract,
                template_id=template_id,
                role_group=role,
                kpi_selection=selection,
                occurred_at=at,
            )
        )
        if rng.random() < 0.05:
            person.events.append(
                events.ContractCreated(
                    staff_id=person.staff_id,
                    contract_id=uuid.uuid4(),
                    template_id=template_id,
                    role_group=role,
                    occurred_at=at + timedelta(minutes=30),
                )
            )
        if rng.random() < 0.25:
            to_role = rng.choice([r for r in ROLE_GROUPS if r != role])
            person.events.append(
                events.RoleChanged(
                    staff_id=person.staff_id,
                    from_role_group=role,
                    to_role_group=to_role,
                    contract_id=contract,
                    template_id=catalogue.template_of_role[to_role] if rng.random() < 0.5 else None,
                    occurred_at=at + timedelta(hours=1),
                )
            )
        if rng.random() < 0.12:
            person.events.append(
                events.StaffExited(
                    staff_id=person.staff_id,
                    contract_id=contract,
                    reason="Resigned",
                    occurred_at=at + timedelta(hours=2),
                )
            )
            if rng.random() < 0.4:
                person.events.append(a_rehire(person, rng.choice(ROLE_GROUPS), catalogue, at))
        found.append(person)
    return found


def a_rehire(
    person: Person, role: RoleGroup, catalogue: Catalogue, hired_at: datetime
) -> events.ContractCreated:
    """A new contract a day after the first, after the exit: KPIs held before come back."""
    return events.ContractCreated(
        staff_id=person.staff_id,
        contract_id=uuid.uuid4(),
        template_id=catalogue.template_of_role[role],
        role_group=role,
        occurred_at=hired_at + timedelta(days=1),
    )


# ---------------------------------------------------------------- the expectation


@dataclass(frozen=True)
class Expected:
    """What one person must hold, and the story their journal must tell, per module."""

    holdings: dict[uuid.UUID, Any]
    story: dict[uuid.UUID, list[str]]


def expected_for(person: Person, catalogue: Catalogue) -> Expected:
    """Apply the person's events in the order they occurred, once each, with the service's rules."""
    from assignment import domain

    catalog = [
        domain.CatalogModule(
            id=uuid.UUID(m["id"]),
            role_group=RoleGroup(m["role_group"]) if m["role_group"] else None,
            is_universal=m["is_universal"],
            is_default_for_role=m["is_default_for_role"],
            display_order=m["display_order"],
            is_archived=m["is_archived"],
        )
        for m in catalogue.modules
    ]

    def template(template_id: uuid.UUID | None) -> list[Any]:
        if template_id is None:
            return []
        return [
            domain.TemplateChoice(
                uuid.UUID(k["kpi_module_id"]), k["is_required"], k["custom_target"]
            )
            for k in catalogue.templates.get(template_id, [])
        ]

    holdings: dict[uuid.UUID, Any] = {}
    story: dict[uuid.UUID, list[str]] = {}
    for event in sorted(person.events, key=lambda e: e.occurred_at):
        if isinstance(event, events.ContractCreated):
            step = domain.contract_created(event, template(event.template_id), catalog)
        elif isinstance(event, events.RoleChanged):
            step = domain.role_changed(event, template(event.template_id), catalog)
        else:
            step = domain.staff_exited(event)
        after = domain.apply(holdings, step)
        for module_id, held in after.items():
            before = holdings.get(module_id)
            if before is None:
                story.setdefault(module_id, []).append("assigned")
                if not held.is_active:  # never happens in order; kept for completeness
                    story[module_id].append("deactivated")
            elif before.status != held.status:
                change = "reactivated" if held.status == KpiStatus.ACTIVE else "deactivated"
                story[module_id].append(change)
        holdings = after
    return Expected(holdings, story)


# ---------------------------------------------------------------- comparing


@dataclass
class Verdict:
    """What a comparison of the system's state with the expectation found."""

    people: int = 0
    kpis_expected: int = 0
    lost: int = 0
    duplicated: int = 0
    wrong: int = 0
    journal_entries_expected: int = 0
    journal_lost: int = 0
    journal_duplicated: int = 0
    journal_stale: int = 0  # KPIs whose journal copy holds other terms than assignment's
    journal_corrections: int = 0
    examples: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if len(self.examples) < 15:
            self.examples.append(text)

    @property
    def clean(self) -> bool:
        return not (
            self.lost
            or self.duplicated
            or self.wrong
            or self.journal_lost
            or self.journal_duplicated
            or self.journal_stale
        )


def compare(
    expectations: Mapping[uuid.UUID, Expected],
    rows: Iterable[Mapping[str, Any]],
    journal: Iterable[Mapping[str, Any]],
    journal_terms: Iterable[Mapping[str, Any]] = (),
) -> Verdict:
    """Compare staff_kpis rows and status_change journal entries with the expectation.

    A KPI expected but missing (or with another status) is lost; a second row of one module for
    one person, or a module nobody expected, is duplicated; fields that differ are wrong. The
    journal of each KPI must hold each expected lifecycle change exactly once, and its copy of
    the KPI's terms (`journal_terms`, hr.journal_kpis rows) must be the row's.
    """
    verdict = Verdict(people=len(expectations))
    actual: dict[uuid.UUID, dict[uuid.UUID, list[Mapping[str, Any]]]] = {}
    kpi_of: dict[uuid.UUID, tuple[uuid.UUID, uuid.UUID]] = {}
    row_of: dict[uuid.UUID, Mapping[str, Any]] = {}
    for row in rows:
        actual.setdefault(row["staff_id"], {}).setdefault(row["kpi_module_id"], []).append(row)
        kpi_of[row["id"]] = (row["staff_id"], row["kpi_module_id"])
        row_of[row["id"]] = row
    for copy in journal_terms:
        row_held = row_of.get(copy["staff_kpi_id"])
        if row_held is not None and (stale := _stale_terms(row_held, copy)):
            verdict.journal_stale += 1
            verdict.note(f"journal copy of {copy['staff_kpi_id']} differs: {stale}")
    told: dict[tuple[uuid.UUID, uuid.UUID], Counter[str]] = {}
    for entry in journal:
        owner = kpi_of.get(entry["staff_kpi_id"])
        if owner is None:
            verdict.journal_duplicated += 1
            verdict.note(f"journal entry for unknown staff KPI {entry['staff_kpi_id']}")
            continue
        change = entry["title"].split(":")[0].removeprefix("KPI ").strip()
        if change == "record corrected":
            verdict.journal_corrections += 1
            continue
        told.setdefault(owner, Counter())[change] += 1

    for staff_id, expected in expectations.items():
        held = actual.pop(staff_id, {})
        verdict.kpis_expected += len(expected.holdings)
        for module_id, want in expected.holdings.items():
            found = held.pop(module_id, [])
            if not found:
                verdict.lost += 1
                verdict.note(f"{staff_id}: lost {module_id}")
                continue
            if len(found) > 1:
                verdict.duplicated += len(found) - 1
                verdict.note(f"{staff_id}: {len(found)} rows of {module_id}")
            row = found[0]
            if row["status"] != want.status.value:
                verdict.lost += 1
                verdict.note(f"{staff_id}: {module_id} is {row['status']}, expected {want.status}")
            elif not _same(row, want):
                verdict.wrong += 1
                verdict.note(f"{staff_id}: {module_id} differs: {_diff(row, want)}")
        for module_id, unexpected in held.items():
            verdict.duplicated += len(unexpected)
            verdict.note(f"{staff_id}: unexpected {module_id}")
        for module_id, changes in expected.story.items():
            want_told = Counter(changes)
            verdict.journal_entries_expected += sum(want_told.values())
            got = told.pop((staff_id, module_id), Counter())
            missing = want_told - got
            extra = got - want_told
            verdict.journal_lost += sum(missing.values())
            verdict.journal_duplicated += sum(extra.values())
            if missing or extra:
                verdict.note(
                    f"{staff_id}: journal of {module_id} tells {dict(got)}, expected {changes}"
                )
    for staff_id, held in actual.items():
        verdict.duplicated += sum(len(v) for v in held.values())
        verdict.note(f"unexpected person {staff_id}")
    for (staff_id, module_id), got in told.items():
        verdict.journal_duplicated += sum(got.values())
        verdict.note(f"{staff_id}: journal entries of unexpected {module_id}: {dict(got)}")
    return verdict


_TERMS = ("source", "is_required", "contract_id", "assigned_at", "target_score")


def _stale_terms(row: Mapping[str, Any], copy: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The terms in which the journal's copy of a staff KPI differs from the row."""
    pairs = {name: (row[name], copy[name]) for name in _TERMS}
    return {k: v for k, v in pairs.items() if v[0] != v[1]}


def _same(row: Mapping[str, Any], want: Any) -> bool:
    return not _diff(row, want)


def _diff(row: Mapping[str, Any], want: Any) -> dict[str, tuple[Any, Any]]:
    pairs = {
        "source": (row["source"], want.source.value),
        "is_required": (row["is_required"], want.is_required),
        "custom_target": (
            None if row["custom_target"] is None else float(row["custom_target"]),
            want.custom_target,
        ),
        "contract_id": (row["contract_id"], want.contract_id),
        "assigned_at": (row["assigned_at"], want.assigned_at),
    }
    return {k: v for k, v in pairs.items() if v[0] != v[1]}
