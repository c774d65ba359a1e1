"""The contract-system simulator publishes the lifecycle events of interfaces §5."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from contract_sim.app import create_app
from kpi_contracts import names
from kpi_contracts.events import ContractCreated, LifecycleEvent, RoleChanged, StaffExited
from kpi_kit.auth import issue_token
from kpi_kit.settings import Settings

SUPPORT_WORKER_TEMPLATE = "4bd422f1-d364-5c23-bb98-bcba5ac7b650"
AROHA = "03ac9449-757e-5631-9301-a06d203179cd"


class RecordingPublisher:
    """Keeps what would have gone to RabbitMQ."""

    def __init__(self, fail: bool = False) -> None:
        self.published: list[LifecycleEvent] = []
        self.connected = False
        self.fail = fail

    async def connect(self) -> None:
        if self.fail:
            raise ConnectionError("broker down")
        self.connected = True

    async def close(self) -> None:
        self.connected = False

    async def publish(self, event: LifecycleEvent) -> None:
        self.published.append(event)


def a_token(settings: Settings, role: str, staff_id: str | None = None) -> dict[str, str]:
    token, _ = issue_token(
        settings.jwt_secret,
        sub=f"test-{role}",
        roles=[role],
        staff_id=uuid.UUID(staff_id) if staff_id else None,
    )
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def settings() -> Settings:
    return Settings.from_env("contract_sim", {})


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def client(
    settings: Settings, publisher: RecordingPublisher, tmp_path: Path
) -> Iterator[TestClient[Litestar]]:
    app = create_app(settings, lambda: publisher, state_file=tmp_path / "people.json")
    with TestClient(app) as test_client:
        yield test_client


def test_lists_the_demo_templates_with_fixed_ids_and_role_groups(
    client: TestClient[Litestar],
) -> None:
    templates = client.get("/contract-sim/templates").json()
    assert {t["id"] for t in templates} >= {SUPPORT_WORKER_TEMPLATE}
    assert all(t["role_group"] and t["name"] for t in templates)
    assert all("kpis" not in t for t in templates)


def test_contract_publishes_contract_created_with_the_kpi_selection(
    client: TestClient[Litestar], settings: Settings, publisher: RecordingPublisher
) -> None:
    excluded, added = str(uuid.uuid4()), str(uuid.uuid4())
    answer = client.post(
        "/contract-sim/contracts",
        json={
            "staff_id": AROHA,
            "template_id": SUPPORT_WORKER_TEMPLATE,
            "kpi_selection": {"excluded_module_ids": [excluded], "added_module_ids": [added]},
        },
        headers=a_token(settings, "manager"),
    )
    assert answer.status_code == 201, answer.text
    [event] = publisher.published
    assert isinstance(event, ContractCreated)
    assert str(event.staff_id) == AROHA
    assert event.role_group == "support_worker"
    assert event.kpi_selection is not None
    assert [str(i) for i in event.kpi_selection.excluded_module_ids] == [excluded]
    assert [str(i) for i in event.kpi_selection.added_module_ids] == [added]
    body = answer.json()
    assert body["routing_key"] == names.CONTRACT_CREATED
    assert body["exchange"] == names.LIFECYCLE_EXCHANGE
    assert body["event_id"] == str(event.event_id)


def test_a_new_person_gets_a_staff_id_and_joins_the_people_list(
    client: TestClient[Litestar], settings: Settings, publisher: RecordingPublisher
) -> None:
    answer = client.post(
        "/contract-sim/contracts",
        json={"name": "Grace Liu", "template_id": SUPPORT_WORKER_TEMPLATE},
        headers=a_token(settings, "manager"),
    )
    staff_id = answer.json()["staff_id"]
    assert str(publisher.published[0].staff_id) == staff_id
    people = client.get("/contract-sim/people").json()
    assert {
        "staff_id": staff_id,
        "name": "Grace Liu",
        "role_group": "support_worker",
        "exited": False,
    } in people


def test_unknown_template_and_missing_person_are_field_errors(
    client: TestClient[Litestar], settings: Settings
) -> None:
    answer = client.post(
        "/contract-sim/contracts",
        json={"template_id": str(uuid.uuid4())},
        headers=a_token(settings, "manager"),
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in answer.json()["errors"]} == {"template_id", "name"}


def test_staff_cannot_create_contracts(
    client: TestClient[Litestar], settings: Settings, publisher: RecordingPublisher
) -> None:
    answer = client.post(
        "/contract-sim/contracts",
        json={"staff_id": AROHA, "template_id": SUPPORT_WORKER_TEMPLATE},
        headers=a_token(settings, "staff", AROHA),
    )
    assert answer.status_code == 403
    assert publisher.published == []


def test_publishing_needs_a_token(client: TestClient[Litestar]) -> None:
    answer = client.post("/contract-sim/exits", json={"staff_id": AROHA})
    assert answer.status_code == 401


def test_role_change_defaults_from_role_group_to_the_persons_current_one(
    client: TestClient[Litestar], settings: Settings, publisher: RecordingPublisher
) -> None:
    answer = client.post(
        "/contract-sim/role-changes",
        json={"staff_id": AROHA, "to_role_group": "team_leader"},
        headers=a_token(settings, "manager"),
    )
    assert answer.status_code == 201, answer.text
    [event] = publisher.published
    assert isinstance(event, RoleChanged)
    assert (event.from_role_group, event.to_role_group) == ("support_worker", "team_leader")
    assert answer.json()["routing_key"] == names.ROLE_CHANGED


TEAM_LEADER_TEMPLATE = "03c3fd3a-7e44-52e4-bf59-f5b1220e0784"


def role_group_of(client: TestClient[Litestar], staff_id: str) -> str:
    people = client.get("/contract-sim/people").json()
    return str(next(p for p in people if p["staff_id"] == staff_id)["role_group"])


def test_a_contract_in_another_role_group_does_not_move_someone_already_with_us(
    client: TestClient[Litestar], settings: Settings, publisher: RecordingPublisher
) -> None:
    manager = a_token(settings, "manager")
    answer = client.post(
        "/contract-sim/contracts",
        json={"staff_id": AROHA, "template_id": TEAM_LEADER_TEMPLATE},
        headers=manager,
    )
    assert answer.status_code == 201, answer.text
    [created] = publisher.published
    assert isinstance(created, ContractCreated)
    assert created.role_group == "team_leader"
    assert role_group_of(client, AROHA) == "support_worker"

    client.post(
        "/contract-sim/role-changes",
        json={"staff_id": AROHA, "to_role_group": "team_leader"},
        headers=manager,
    )
    [_, moved] = publisher.published
    assert isinstance(moved, RoleChanged)
    assert moved.from_role_group == "support_worker"
    assert role_group_of(client, AROHA) == "team_leader"


def test_someone_who_left_is_rehired_in_the_contracts_role_group(
    client: TestClient[Litestar], settings: Settings
) -> None:
    manager = a_token(settings, "manager")
    client.post("/contract-sim/exits", json={"staff_id": AROHA}, headers=manager)
    client.post(
        "/contract-sim/contracts",
        json={"staff_id": AROHA, "template_id": TEAM_LEADER_TEMPLATE},
        headers=manager,
    )
    people = client.get("/contract-sim/people").json()
    aroha = next(p for p in people if p["staff_id"] == AROHA)
    assert (aroha["role_group"], aroha["exited"]) == ("team_leader", False)


def test_exit_publishes_staff_exited(
    client: TestClient[Litestar], settings: Settings, publisher: RecordingPublisher
) -> None:
    answer = client.post(
        "/contract-sim/exits",
        json={"staff_id": AROHA, "reason": "resigned"},
        headers=a_token(settings, "manager"),
    )
    assert answer.status_code == 201
    [event] = publisher.published
    assert isinstance(event, StaffExited)
    assert event.reason == "resigned"
    assert answer.json()["routing_key"] == names.STAFF_EXITED


def test_broker_down_is_a_503_problem_not_a_500(settings: Settings, tmp_path: Path) -> None:
    app = create_app(
        settings, lambda: RecordingPublisher(fail=True), state_file=tmp_path / "p.json"
    )
    with TestClient(app) as client:
        answer = client.post(
            "/contract-sim/exits", json={"staff_id": AROHA}, headers=a_token(settings, "manager")
        )
    assert answer.status_code == 503
    assert answer.json()["title"] == "Service unavailable"


def test_malformed_body_is_a_400_problem(client: TestClient[Litestar], settings: Settings) -> None:
    answer = client.post(
        "/contract-sim/contracts",
        json={"template_id": "not-a-uuid"},
        headers=a_token(settings, "manager"),
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["field"] == "template_id"
