"""ContractCreated → KPIs assigned → journal entries → the new score on the assignment API.

All three services run in-process on one database and vhost; the contract system is played by
the typed publisher it would use (`kpi_contracts.publisher.LifecyclePublisher`). Everything is
observed through the HTTP APIs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from assignment.app import definition as assignment_definition
from catalog.app import definition as catalog_definition
from journal import domain
from journal.app import definition as journal_definition
from kpi_contracts.enums import GrowthStatus, RoleGroup
from kpi_contracts.events import ContractCreated, StaffExited
from kpi_contracts.publisher import LifecyclePublisher
from kpi_contracts.schedule import next_due
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient, bearer, eventually, running
from kpi_kit.views import SCORING_KEYS

pytestmark = pytest.mark.integration

ROLE_GROUP = RoleGroup.REGISTERED_NURSE


class System:
    """The three services, and the contract system in front of them."""

    def __init__(
        self,
        catalog: ServiceClient,
        assignment: ServiceClient,
        journal: ServiceClient,
        publisher: LifecyclePublisher,
        settings: Settings,
    ) -> None:
        self.catalog, self.assignment, self.journal = catalog, assignment, journal
        self.publisher = publisher
        self.settings = settings
        self.manager = bearer(settings, "manager")
        self.hr_admin = bearer(settings, "hr_admin")

    def staff(self, staff_id: uuid.UUID) -> dict[str, str]:
        return bearer(self.settings, "staff", staff_id)

    async def defaults(self) -> set[str]:
        """The module ids a new contract in the role group brings (no template KPIs)."""
        response = await self.catalog.get(
            "/api/v1/hr/kpi-modules", params={"role_group": ROLE_GROUP}, headers=self.manager
        )
        return {m["id"] for m in response.json() if m["is_default_for_role"]}

    async def hire(self, at: datetime | None = None) -> uuid.UUID:
        """Announce a contract for a new person, as the contract system does (dated `at`)."""
        staff_id = uuid.uuid4()
        contract = ContractCreated(
            staff_id=staff_id,
            contract_id=uuid.uuid4(),
            template_id=uuid.uuid4(),
            role_group=ROLE_GROUP,
        )
        await self.publisher.publish(
            msgspec.structs.replace(contract, occurred_at=at) if at else contract
        )
        return staff_id

    async def hired_and_journaled(self, at: datetime | None = None) -> tuple[uuid.UUID, list[Any]]:
        """Hire someone and wait until assignment lists their KPIs and the journal tells it."""
        staff_id = await self.hire(at)
        kpis = await eventually(lambda: self.kpis(staff_id))

        async def journaled() -> bool:
            return len(await self.journal_of(staff_id)) == len(kpis)

        await eventually(journaled)
        return staff_id, kpis

    async def kpis(self, staff_id: uuid.UUID, headers: dict[str, str] | None = None) -> Any:
        response = await self.assignment.get(
            f"/api/v1/hr/staff/{staff_id}/kpis",
            params={"status": "all"},
            headers=headers or self.manager,
        )
        assert response.status_code == 200, response.text
        return response.json()

    async def journal_of(self, staff_id: uuid.UUID, headers: dict[str, str] | None = None) -> Any:
        """A person's journal (empty while the journal has not heard of them)."""
        response = await self.journal.get(
            f"/api/v1/hr/staff/{staff_id}/journal",
            params={"limit": 200},
            headers=headers or self.manager,
        )
        assert response.status_code == 200, response.text
        return response.json()["items"]

    async def append(self, kpi: dict[str, Any], **body: Any) -> Any:
        entry = {"title": "Monthly review", "content": "Talked it through together."} | body
        return await self.journal.post(
            f"/api/v1/hr/staff/{kpi['staff_id']}/kpis/{kpi['id']}/journal",
            json=entry,
            headers=self.manager,
        )


@pytest.fixture(scope="module")
async def system(settings_for: Callable[[str], Settings], amqp_url: str) -> AsyncIterator[System]:
    async with (
        running(catalog_definition(), settings_for("catalog")) as catalog,
        running(assignment_definition(), settings_for("assignment")) as assignment,
        running(journal_definition(), settings_for("journal")) as journal,
        LifecyclePublisher(amqp_url) as publisher,
    ):
        system = System(catalog, assignment, journal, publisher, settings_for("journal"))
        # Assignment fills its catalogue replica from the catalog as it starts: a contract is
        # complete once the replica is, so hire probes until one gets every default KPI.
        expected = await system.defaults()

        async def replica_ready() -> bool:
            probe = await system.hire()

            async def assigned() -> list[Any]:
                found: list[Any] = await system.kpis(probe)
                return found

            found = await eventually(assigned)
            return {k["kpi_module_id"] for k in found} == expected

        await eventually(replica_ready, timeout=60, interval=0.2)
        yield system


async def test_a_new_contracts_kpis_are_journaled_and_scored_on_the_assignment_api(
    system: System,
):
    staff_id, kpis = await system.hired_and_journaled()
    assert {k["kpi_module_id"] for k in kpis} == await system.defaults()
    entries = await system.journal_of(staff_id)
    assert {e["title"] for e in entries} == {f"KPI assigned: {k['module']['name']}" for k in kpis}
    assert {e["staff_kpi_id"] for e in entries} == {k["id"] for k in kpis}

    kpi = kpis[0]
    rating = kpi["module"]["score_type"] == "rating"
    outcome, effort = (4.5, 3.0) if rating else (92.0, 70.0)
    first = (await system.append(kpi, entry_type="score_update", score=outcome)).json()
    second = (await system.append(kpi, entry_type="effort_recognition", effort_score=effort)).json()
    composite = domain.composite(outcome, effort, kpi["effort_weight"])
    assert (first["score_before"], first["score_after"]) == (None, outcome)
    assert (second["score_before"], second["score_after"]) == (outcome, composite)

    async def scored() -> dict[str, Any] | None:
        for found in await system.kpis(staff_id):
            if found["id"] == kpi["id"] and found["current_effort_score"] == effort:
                return dict(found)
        return None

    shown = await eventually(scored)
    assert shown["current_score"] == composite
    assert shown["previous_score"] == outcome
    assert shown["score_trend"] == domain.score_trend(outcome, composite)
    assert shown["trend_percentage"] == domain.trend_percentage(outcome, composite)
    assert shown["growth_status"] == domain.growth_status(
        composite, kpi["minimum_score"], kpi["target_score"]
    )
    assert shown["last_evaluated_at"] is not None
    evaluated = datetime.fromisoformat(shown["last_evaluated_at"])
    due = next_due(evaluated, kpi["module"]["evaluation_frequency"])
    assert datetime.fromisoformat(shown["next_evaluation_due"]) == due


async def test_staff_see_their_story_without_the_numbers(system: System):
    staff_id, kpis = await system.hired_and_journaled()
    kpi = kpis[0]
    rating = kpi["module"]["score_type"] == "rating"
    for body in (
        {"entry_type": "score_update", "score": 4.0 if rating else 80.0},
        {"entry_type": "coaching_session", "is_visible_to_staff": False},
    ):
        assert (await system.append(kpi, **body)).status_code == 201

    everything = await system.journal_of(staff_id)
    assert len(everything) == len(kpis) + 2
    own = await system.journal_of(staff_id, system.staff(staff_id))
    assert len(own) == len(everything) - 1
    assert "coaching_session" not in {e["entry_type"] for e in own}
    for entry in own:
        assert not (SCORING_KEYS | {"score", "effort_score"}) & entry.keys()
    shown_to_staff = await system.kpis(staff_id, system.staff(staff_id))
    assert shown_to_staff and len(shown_to_staff) == len(await system.kpis(staff_id))
    for shown in shown_to_staff:
        assert not SCORING_KEYS & shown.keys()
        assert "growth_status" in shown and "score_trend" in shown


async def test_an_exit_closes_the_journal_but_keeps_it(system: System):
    staff_id, kpis = await system.hired_and_journaled()
    await system.publisher.publish(StaffExited(staff_id=staff_id, reason="Moved interstate"))

    async def closed() -> list[Any]:
        entries = await system.journal_of(staff_id)
        deactivated = [e for e in entries if e["title"].startswith("KPI deactivated")]
        return entries if len(deactivated) == len(kpis) else []

    entries = await eventually(closed)
    assert len(entries) == 2 * len(kpis)
    response = await system.append(kpis[0], entry_type="observation")
    assert response.status_code == 409


async def test_an_exit_dated_before_a_managers_assignment_by_the_clocks_deactivates_it_too(
    system: System,
):
    # The contract system's clock is its own: its events may be dated long before the server's
    # time of a manager's action they follow (here a year; a late delivery does the same).
    hired_at = datetime(2026, 1, 13, 9, 0, tzinfo=UTC)
    staff_id, kpis = await system.hired_and_journaled(at=hired_at)
    held = {k["kpi_module_id"] for k in kpis}
    modules = await system.catalog.get("/api/v1/hr/kpi-modules", headers=system.manager)
    extra = next(m["id"] for m in modules.json() if m["id"] not in held)
    response = await system.assignment.post(
        f"/api/v1/hr/staff/{staff_id}/kpis", json={"kpi_module_id": extra}, headers=system.manager
    )
    assert response.status_code == 201, response.text
    by_hand = response.json()
    await system.publisher.publish(
        StaffExited(staff_id=staff_id, occurred_at=hired_at + timedelta(days=1))
    )

    async def all_inactive() -> list[Any]:
        found: list[Any] = await system.kpis(staff_id)
        return found if all(k["status"] == "inactive" for k in found) else []

    after = await eventually(all_inactive)
    assert len(after) == len(kpis) + 1

    async def journaled_closed() -> bool:
        response = await system.journal.get(
            f"/api/v1/hr/staff/{staff_id}/kpis/{by_hand['id']}/journal", headers=system.manager
        )
        return any(e["title"].startswith("KPI deactivated") for e in response.json()["items"])

    await eventually(journaled_closed)
    response = await system.append(by_hand, entry_type="observation")
    assert response.status_code == 409, response.text


async def test_a_score_is_on_the_assignment_api_when_the_journal_answers(system: System):
    # Read your writes: no polling between the journal's 201 and assignment's answer.
    staff_id, kpis = await system.hired_and_journaled()
    kpi = kpis[0]
    rating = kpi["module"]["score_type"] == "rating"
    for score in (3.0, 4.0, 5.0) if rating else (60.0, 75.0, 90.0):
        response = await system.append(kpi, entry_type="score_update", score=score)
        assert response.status_code == 201, response.text
        shown = next(k for k in await system.kpis(staff_id) if k["id"] == kpi["id"])
        assert shown["current_score"] == response.json()["score_after"]


async def test_a_managers_change_is_in_the_journal_when_assignment_answers(system: System):
    staff_id, kpis = await system.hired_and_journaled()
    kpi = kpis[0]
    path = f"/api/v1/hr/staff/{staff_id}/kpis/{kpi['id']}"
    for status, title in (("inactive", "KPI deactivated"), ("active", "KPI reactivated")):
        response = await system.assignment.patch(
            f"{path}/status", json={"status": status}, headers=system.hr_admin
        )
        assert response.status_code == 200, response.text
        journal = await system.journal.get(f"{path}/journal", headers=system.manager)
        assert journal.json()["items"][0]["title"].startswith(title)


async def test_a_contract_published_right_after_its_templates_put_gets_the_templates_kpis(
    system: System,
):
    # Read your writes across the catalogue: the contract system may publish a contract the
    # moment HR saved its template; assignment must not read the set from before the PUT.
    response = await system.catalog.get(
        "/api/v1/hr/kpi-modules", params={"role_group": "finance"}, headers=system.manager
    )
    optional = [m for m in response.json() if not m["is_default_for_role"]]
    assert optional
    for module in optional * 5:
        template_id = uuid.uuid4()
        kpis = [{"kpi_module_id": module["id"], "is_required": True}]
        put = await system.catalog.put(
            f"/api/v1/hr/templates/{template_id}/kpis",
            json={"kpis": kpis},
            headers=system.hr_admin,
        )
        assert put.status_code == 200, put.text
        staff_id = uuid.uuid4()
        await system.publisher.publish(
            ContractCreated(
                staff_id=staff_id,
                contract_id=uuid.uuid4(),
                template_id=template_id,
                role_group=ROLE_GROUP,
            )
        )

        async def assigned(staff_id: uuid.UUID = staff_id) -> Any:
            return await system.kpis(staff_id)

        found = await eventually(assigned)
        assert module["id"] in {k["kpi_module_id"] for k in found}


async def test_an_earlier_contract_arriving_late_sets_the_target_the_growth_status_is_taken_by(
    system: System,
):
    # The contract system announced a person's second contract before their first (delivery is
    # not ordered). The first came from a template that holds a default KPI to its own target:
    # once it arrives, the KPI is held as the first contract says, and the journal scores by it.
    response = await system.catalog.get(
        "/api/v1/hr/kpi-modules", params={"role_group": ROLE_GROUP}, headers=system.manager
    )
    module = next(
        m for m in response.json() if m["is_default_for_role"] and m["score_type"] == "percentage"
    )
    low, high = module["minimum_score"], module["target_score"]
    custom_target = low + (high - low) / 4
    score = low + (high - low) / 2  # over the template's target, within the module's
    assert domain.growth_status(score, low, high) is GrowthStatus.MEETING
    template_id = uuid.uuid4()
    put = await system.catalog.put(
        f"/api/v1/hr/templates/{template_id}/kpis",
        json={"kpis": [{"kpi_module_id": module["id"], "custom_target": custom_target}]},
        headers=system.hr_admin,
    )
    assert put.status_code == 200, put.text
    now = datetime.now(UTC)
    staff_id, _ = await system.hired_and_journaled(at=now)
    first_contract = uuid.uuid4()
    await system.publisher.publish(
        ContractCreated(
            staff_id=staff_id,
            contract_id=first_contract,
            template_id=template_id,
            role_group=ROLE_GROUP,
            occurred_at=now - timedelta(days=30),
        )
    )

    async def corrected() -> Any:
        kpis = await system.kpis(staff_id)
        kpi = next(k for k in kpis if k["kpi_module_id"] == module["id"])
        return kpi if kpi["contract_id"] == str(first_contract) else None

    kpi = await eventually(corrected)
    assert kpi["target_score"] == custom_target

    async def journaled() -> bool:
        response = await system.journal.get(
            f"/api/v1/hr/staff/{staff_id}/kpis/{kpi['id']}/journal", headers=system.manager
        )
        titles = [e["title"] for e in response.json()["items"]]
        return f"KPI record corrected: {module['name']}" in titles

    await eventually(journaled)
    response = await system.append(kpi, entry_type="score_update", score=score)
    assert response.status_code == 201, response.text
    shown = next(k for k in await system.kpis(staff_id) if k["id"] == kpi["id"])
    assert (shown["current_score"], shown["growth_status"]) == (score, "exceeding")


async def test_an_exit_delivered_after_the_rehire_it_preceded_is_still_in_the_journal(
    system: System,
):
    # Delivery is not ordered: the rehire overtook the exit. Each KPI's journal must still tell
    # its whole story, as ordered delivery would have.
    hired_at = datetime.now(UTC) - timedelta(days=60)
    staff_id, kpis = await system.hired_and_journaled(at=hired_at)
    rehire = ContractCreated(
        staff_id=staff_id,
        contract_id=uuid.uuid4(),
        template_id=uuid.uuid4(),
        role_group=ROLE_GROUP,
        occurred_at=hired_at + timedelta(days=40),
    )
    await system.publisher.publish(rehire)
    await system.publisher.publish(
        StaffExited(staff_id=staff_id, reason="Resigned", occurred_at=hired_at + timedelta(days=20))
    )

    async def whole_story() -> list[Any]:
        entries = await system.journal_of(staff_id)
        return entries if len(entries) >= 3 * len(kpis) else []

    entries = await eventually(whole_story)
    for kpi in kpis:
        told = [e["title"].split(":")[0] for e in entries if e["staff_kpi_id"] == kpi["id"]]
        assert told == ["KPI reactivated", "KPI deactivated", "KPI assigned"], told
    assert {k["status"] for k in await system.kpis(staff_id)} == {"active"}


async def test_a_modules_new_target_and_frequency_reach_the_people_who_hold_it(system: System):
    created = await system.catalog.post(
        "/api/v1/hr/kpi-modules",
        json={
            "name": f"Medication round accuracy {uuid.uuid4().hex[:6]}",
            "category": "safety",
            "role_group": ROLE_GROUP,
            "objective": "Every round given as charted.",
            "measurement_method": "Audit of the medication charts.",
            "target_score": 90,
            "minimum_score": 70,
            "effort_weight": 0.2,
            "evaluation_frequency": "monthly",
        },
        headers=system.hr_admin,
    )
    assert created.status_code == 201, created.text
    module = created.json()
    staff_id, unscored_id = uuid.uuid4(), uuid.uuid4()

    async def assigned(person: uuid.UUID) -> dict[str, Any] | None:  # once the replica has it
        response = await system.assignment.post(
            f"/api/v1/hr/staff/{person}/kpis",
            json={"kpi_module_id": module["id"]},
            headers=system.manager,
        )
        return response.json() if response.status_code == 201 else None

    kpi = await eventually(lambda: assigned(staff_id))
    unscored = await eventually(lambda: assigned(unscored_id))
    scored = await system.append(kpi, entry_type="score_update", score=80)
    assert scored.status_code == 201, scored.text

    edited = await system.catalog.patch(
        f"/api/v1/hr/kpi-modules/{module['id']}",
        json={"target_score": 75, "minimum_score": 60, "evaluation_frequency": "weekly"},
        headers=system.hr_admin,
    )
    assert edited.status_code == 200, edited.text

    async def growth(status: str) -> dict[str, Any] | None:
        [now] = await system.kpis(staff_id)
        return dict(now) if now["growth_status"] == status else None

    # 80 was meeting against 90; against 75 it is exceeding (§4), and due a week after it.
    shown = await eventually(lambda: growth("exceeding"))
    assert (shown["target_score"], shown["minimum_score"], shown["current_score"]) == (75, 60, 80)
    evaluated = datetime.fromisoformat(shown["last_evaluated_at"])

    async def due(person: uuid.UUID, when: datetime) -> bool:
        [now] = await system.kpis(person)
        return datetime.fromisoformat(now["next_evaluation_due"]) == when

    await eventually(lambda: due(staff_id, evaluated + timedelta(days=7)))
    # not scored yet: first due a week after it was assigned, not a month
    first_due = datetime.fromisoformat(unscored["assigned_at"]) + timedelta(days=7)
    await eventually(lambda: due(unscored_id, first_due))
    told = [e["title"] for e in await system.journal_of(staff_id, system.staff(staff_id))]
    assert f"KPI updated: {module['name']}" in told
    again = (await system.append(kpi, entry_type="score_update", score=72)).json()
    assert (again["score_before"], again["score_after"]) == (80, 72)
    await eventually(lambda: growth("meeting"))  # scored by the new terms: 60 <= 72 <= 75
