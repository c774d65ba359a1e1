"""The journal's HTTP API on the real servers: the rules of §4, roles of §2, errors of §3."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journal import entries, handlers
from kpi_contracts.enums import KpiStatus, ScoreType
from kpi_kit.testing.harness import ServiceClient
from kpi_kit.testing.problems import assert_problem
from kpi_kit.views import SCORING_KEYS

pytestmark = pytest.mark.integration

Client = ServiceClient
Headers = Callable[..., dict[str, str]]
Assign = Callable[..., Awaitable[list[Any]]]
# sequence too: its gaps would count the entries kept from staff
STAFF_HIDDEN = SCORING_KEYS | {"score", "effort_score", "sequence"}


def journal_of(staff_id: Any, kpi_id: Any = None) -> str:
    if kpi_id is None:
        return f"/api/v1/hr/staff/{staff_id}/journal"
    return f"/api/v1/hr/staff/{staff_id}/kpis/{kpi_id}/journal"


def approval_of(entry_id: Any) -> str:
    return f"/api/v1/hr/journal/{entry_id}/approval"


def an_entry(entry_type: str = "observation", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "entry_type": entry_type,
        "title": f"{entry_type.replace('_', ' ').capitalize()} on the morning shift",
        "content": "Greeted each participant by name and checked the handover notes first.",
    }
    body.update(fields)
    return body


class Journal:
    """Appends to one person's KPI as a manager and reads it back."""

    def __init__(self, client: Client, as_role: Headers, kpi: Any) -> None:
        self.client, self.as_role, self.kpi = client, as_role, kpi

    async def add(self, entry_type: str = "observation", **fields: Any) -> dict[str, Any]:
        response = await self.post(entry_type, **fields)
        assert response.status_code == 201, response.text
        entry: dict[str, Any] = response.json()
        return entry

    async def post(self, entry_type: str = "observation", role: str = "manager", **fields: Any):
        headers = self.as_role(role, self.kpi.staff_id if role == "staff" else None)
        return await self.client.post(
            journal_of(self.kpi.staff_id, self.kpi.staff_kpi_id),
            json=an_entry(entry_type, **fields),
            headers=headers,
        )

    async def decide(self, entry_id: Any, decision: str, notes: str | None = None):
        body: dict[str, Any] = {"decision": decision}
        if notes:
            body["notes"] = notes
        return await self.client.post(
            approval_of(entry_id), json=body, headers=self.as_role("manager")
        )

    async def entries(self, role: str = "manager", **params: Any) -> list[dict[str, Any]]:
        headers = self.as_role(role, self.kpi.staff_id if role == "staff" else None)
        response = await self.client.get(
            journal_of(self.kpi.staff_id, self.kpi.staff_kpi_id), params=params, headers=headers
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@pytest.fixture
def journal_for(journal: Client, as_role: Headers, assigned: Assign):
    async def make(**overrides: Any) -> Journal:
        [kpi] = await assigned(**overrides)
        return Journal(journal, as_role, kpi)

    return make


# ---------------------------------------------------------------- §4 through the API


async def test_a_score_update_sets_the_score_and_reports_it_before_and_after(journal_for):
    kpi = await journal_for()
    first = await kpi.add("score_update", score=80)
    assert (first["score_before"], first["score_after"]) == (None, 80.0)
    second = await kpi.add("score_update", score=88)
    assert (second["score_before"], second["score_after"]) == (80.0, 88.0)
    assert second["sequence"] == first["sequence"] + 1


async def test_effort_weighs_in_by_the_effort_weight(journal_for):
    kpi = await journal_for(effort_weight=0.25)
    await kpi.add("score_update", score=80)
    effort = await kpi.add("effort_recognition", effort_score=100, effort_notes="Stayed late")
    assert (effort["score_before"], effort["score_after"]) == (80.0, 85.0)
    assert effort["effort_recognized"] is True and effort["effort_score"] == 100.0


async def test_a_score_adjustment_adds_its_impact_to_the_outcome(journal_for):
    kpi = await journal_for(effort_weight=0.2)
    await kpi.add("score_update", score=80)
    await kpi.add("effort_recognition", effort_score=90)
    adjusted = await kpi.add("score_adjustment", score_impact=-10)
    # outcome 70, effort 90: 0.8 * 70 + 0.2 * 90
    assert (adjusted["score_before"], adjusted["score_after"]) == (82.0, 74.0)
    assert adjusted["score_impact"] == -10.0


async def test_notes_change_no_score(journal_for):
    kpi = await journal_for()
    await kpi.add("score_update", score=77.5)
    for entry_type in ("observation", "coaching_session", "milestone", "peer_feedback"):
        entry = await kpi.add(entry_type)
        assert entry["score_before"] == entry["score_after"] == 77.5


async def test_before_the_first_score_every_number_is_null(journal_for):
    kpi = await journal_for()
    entry = await kpi.add("coaching_session")
    assert entry["score_before"] is None and entry["score_after"] is None


@pytest.mark.parametrize(
    ("score_type", "body", "field"),
    [
        ("percentage", {"entry_type": "score_update", "score": 100.5}, "score"),
        ("percentage", {"entry_type": "score_update", "score": -1}, "score"),
        ("rating", {"entry_type": "score_update", "score": 0}, "score"),
        ("rating", {"entry_type": "score_update", "score": 6}, "score"),
        ("rating", {"entry_type": "effort_recognition", "effort_score": 5.5}, "effort_score"),
        # However far off, a number is judged against the scale (not a decoder's bound).
        ("percentage", {"entry_type": "score_update", "score": 5e6}, "score"),
        ("percentage", {"entry_type": "score_adjustment", "score_impact": -2e6}, "score_impact"),
        ("rating", {"entry_type": "effort_recognition", "effort_score": 1e300}, "effort_score"),
        ("percentage", {"entry_type": "score_update"}, "score"),
        ("percentage", {"entry_type": "observation", "score": 50}, "score"),
        ("percentage", {"entry_type": "status_change"}, "entry_type"),
        ("percentage", {"entry_type": "approval_granted"}, "entry_type"),
    ],
)
async def test_numbers_off_the_scale_or_out_of_place_are_422(journal_for, score_type, body, field):
    scale = {"score_type": score_type}
    if score_type == "rating":
        scale.update(target_score=4.0, minimum_score=3.0)
    kpi = await journal_for(
        score_type=ScoreType(score_type), **{k: v for k, v in scale.items() if k != "score_type"}
    )
    response = await kpi.post(**body)
    assert_problem(response, 422, field)


async def test_an_adjustment_that_would_leave_the_scale_is_422(journal_for):
    kpi = await journal_for(score_type=ScoreType.RATING, target_score=4.0, minimum_score=3.0)
    await kpi.add("score_update", score=4.5)
    assert_problem(await kpi.post("score_adjustment", score_impact=1), 422, "score_impact")
    ok = await kpi.add("score_adjustment", score_impact=0.5)
    assert ok["score_after"] == 5.0


async def test_an_adjustment_before_any_score_is_422(journal_for):
    kpi = await journal_for()
    assert_problem(await kpi.post("score_adjustment", score_impact=5), 422, "score_impact")


async def test_a_refused_entry_leaves_no_trace(journal_for, ledger):
    kpi = await journal_for()
    before = await ledger.count(kpi.kpi.staff_kpi_id)
    assert_problem(await kpi.post("score_update", score=101), 422, "score")
    assert await ledger.count(kpi.kpi.staff_kpi_id) == before


# ---------------------------------------------------------------- approval


async def test_a_pending_entry_changes_nothing_until_approved(journal_for):
    kpi = await journal_for()
    await kpi.add("score_update", score=80)
    pending = await kpi.add("score_update", score=60, is_pending_approval=True)
    assert pending["score_before"] == pending["score_after"] == 80.0
    assert pending["approval_status"] == "pending"
    after_note = await kpi.add("observation")
    assert after_note["score_after"] == 80.0

    response = await kpi.decide(pending["id"], "approve", "Agreed at the catch-up")
    assert response.status_code == 201, response.text
    granted = response.json()
    assert granted["entry_type"] == "approval_granted"
    assert granted["related_entry_id"] == pending["id"]
    assert (granted["score_before"], granted["score_after"]) == (80.0, 60.0)
    assert granted["content"] == "Agreed at the catch-up"
    [shown] = [e for e in await kpi.entries() if e["id"] == pending["id"]]
    assert shown["approval_status"] == "approved" and shown["is_pending_approval"] is True


async def test_an_approved_adjustment_applies_to_the_score_at_approval_time(journal_for):
    kpi = await journal_for()
    await kpi.add("score_update", score=80)
    pending = await kpi.add("score_adjustment", score_impact=5, is_pending_approval=True)
    await kpi.add("score_update", score=60)
    granted = (await kpi.decide(pending["id"], "approve")).json()
    assert (granted["score_before"], granted["score_after"]) == (60.0, 65.0)


async def test_a_declined_entry_never_counts(journal_for):
    kpi = await journal_for()
    await kpi.add("score_update", score=80)
    pending = await kpi.add("score_update", score=95, is_pending_approval=True)
    response = await kpi.decide(pending["id"], "decline", "Let's look at the evidence together")
    assert response.status_code == 201
    declined = response.json()
    assert declined["entry_type"] == "approval_declined"
    assert declined["score_before"] == declined["score_after"] == 80.0
    assert (await kpi.add("observation"))["score_after"] == 80.0


async def test_deciding_twice_is_a_conflict(journal_for):
    kpi = await journal_for()
    pending = await kpi.add("score_update", score=70, is_pending_approval=True)
    assert (await kpi.decide(pending["id"], "approve")).status_code == 201
    assert_problem(await kpi.decide(pending["id"], "approve"), 409)
    assert_problem(await kpi.decide(pending["id"], "decline"), 409)


async def test_concurrent_decisions_on_one_entry_let_exactly_one_through(journal_for):
    kpi = await journal_for()
    pending = await kpi.add("score_update", score=70, is_pending_approval=True)
    responses = await asyncio.gather(*(kpi.decide(pending["id"], "approve") for _ in range(5)))
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409]


async def test_deciding_an_entry_that_was_not_pending_is_a_conflict(journal_for):
    kpi = await journal_for()
    entry = await kpi.add("observation")
    assert_problem(await kpi.decide(entry["id"], "approve"), 409)


async def test_deciding_an_unknown_entry_is_404(journal_for):
    kpi = await journal_for()
    assert_problem(await kpi.decide(uuid.uuid4(), "approve"), 404)


async def test_an_approval_that_would_leave_the_scale_is_422_and_stays_pending(journal_for):
    kpi = await journal_for()
    await kpi.add("score_update", score=90)
    pending = await kpi.add("score_adjustment", score_impact=8, is_pending_approval=True)
    await kpi.add("score_update", score=95)
    assert_problem(await kpi.decide(pending["id"], "approve"), 422, "score_impact")
    assert (await kpi.decide(pending["id"], "decline")).status_code == 201


async def test_a_bad_decision_is_400_naming_the_field(journal_for):
    kpi = await journal_for()
    pending = await kpi.add("observation", is_pending_approval=True)
    response = await kpi.client.post(
        approval_of(pending["id"]), json={"decision": "maybe"}, headers=kpi.as_role("manager")
    )
    assert_problem(response, 400, "decision")


async def test_staff_may_not_decide(journal_for):
    kpi = await journal_for()
    pending = await kpi.add("observation", is_pending_approval=True)
    response = await kpi.client.post(
        approval_of(pending["id"]),
        json={"decision": "approve"},
        headers=kpi.as_role("staff", kpi.kpi.staff_id),
    )
    assert_problem(response, 403)


# ---------------------------------------------------------------- waiting for approval

AWAITING = "/api/v1/hr/journal/pending"


async def awaiting(kpi: Journal, role: str = "manager", **params: Any) -> dict[str, Any]:
    """One page of the entries awaiting a decision, as a manager (or `role`) asks for it."""
    response = await kpi.client.get(AWAITING, params=params, headers=kpi.as_role(role))
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def all_awaiting(kpi: Journal, **params: Any) -> list[dict[str, Any]]:
    """Every entry awaiting a decision, page after page."""
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await awaiting(kpi, **params, **({"cursor": cursor} if cursor else {}))
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def test_entries_awaiting_a_decision_are_listed_the_longest_waiting_first(journal_for):
    kpi = await journal_for()
    held = await kpi.add("score_update", score=70, is_pending_approval=True)
    reflection = await kpi.add("self_reflection", role="staff")
    await kpi.add("observation")
    hidden = await kpi.add("observation", is_pending_approval=True, is_visible_to_staff=False)
    page = await awaiting(kpi, staff_id=str(kpi.kpi.staff_id))
    assert [e["id"] for e in page["items"]] == [held["id"], reflection["id"], hidden["id"]]
    assert page["next_cursor"] is None
    [first, *_] = page["items"]
    # the entries as the other journal routes give them
    assert first == held | {"approval_status": "pending"}
    assert first["module_name"] == "Attendance & Reliability"


async def test_an_entry_leaves_the_list_once_decided(journal_for):
    kpi = await journal_for()
    approved = await kpi.add("score_update", score=70, is_pending_approval=True)
    declined = await kpi.add("self_reflection", role="staff")
    waiting = await kpi.add("score_adjustment", score_impact=5, is_pending_approval=True)
    assert (await kpi.decide(approved["id"], "approve")).status_code == 201
    assert (await kpi.decide(declined["id"], "decline")).status_code == 201
    page = await awaiting(kpi, staff_id=str(kpi.kpi.staff_id))
    assert [e["id"] for e in page["items"]] == [waiting["id"]]


async def test_a_decided_entry_left_on_the_list_by_an_older_version_is_not_listed(journal_for, db):
    # A pod of the version before the list decides without taking the entry off it.
    kpi = await journal_for()
    decided = await kpi.add("score_update", score=70, is_pending_approval=True)
    assert (await kpi.decide(decided["id"], "approve")).status_code == 201
    await db.execute(
        "INSERT INTO hr.journal_pending_entries (entry_id, staff_id, created_at)"
        " SELECT id, staff_id, created_at FROM hr.kpi_journal_entries WHERE id = $1",
        uuid.UUID(decided["id"]),
    )
    for params in ({"staff_id": str(kpi.kpi.staff_id)}, {}):
        assert decided["id"] not in [e["id"] for e in await all_awaiting(kpi, **params)]


async def test_the_list_runs_across_everyone_and_pages_without_gaps_or_repeats(journal_for):
    one, other = await journal_for(), await journal_for()
    mine = []
    for i in range(4):
        for kpi in (one, other):
            entry = await kpi.add("observation", title=f"Held {i}", is_pending_approval=True)
            mine.append(entry["id"])
    seen = await all_awaiting(one, limit=3)
    ids = [e["id"] for e in seen]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if i in set(mine)] == mine
    keys = [(e["created_at"], e["id"]) for e in seen]
    assert keys == sorted(keys)
    theirs = await all_awaiting(one, staff_id=str(other.kpi.staff_id), limit=3)
    assert [e["id"] for e in theirs] == mine[1::2]


async def test_a_pending_entry_of_an_inactive_kpi_still_waits_for_a_decision(
    journal_for, assignment, ledger
):
    kpi = await journal_for()
    reflection = await kpi.add("self_reflection", role="staff")
    await assignment.change_status(kpi.kpi, KpiStatus.INACTIVE, "left the service")
    await ledger.wait_for(kpi.kpi.staff_kpi_id, 3)
    page = await awaiting(kpi, staff_id=str(kpi.kpi.staff_id))
    assert [e["id"] for e in page["items"]] == [reflection["id"]]
    assert (await kpi.decide(reflection["id"], "decline")).status_code == 201
    assert (await awaiting(kpi, staff_id=str(kpi.kpi.staff_id)))["items"] == []


async def test_staff_may_not_list_what_awaits_approval(journal_for):
    kpi = await journal_for()
    await kpi.add("self_reflection", role="staff")
    for params in ({}, {"staff_id": str(kpi.kpi.staff_id)}):
        response = await kpi.client.get(
            AWAITING, params=params, headers=kpi.as_role("staff", kpi.kpi.staff_id)
        )
        assert_problem(response, 403)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"cursor": "bm9wZQ"}, "cursor"),
        ({"staff_id": "someone"}, "staff_id"),
    ],
)
async def test_bad_parameters_of_the_awaiting_list_are_400_naming_them(journal_for, params, field):
    kpi = await journal_for()
    response = await kpi.client.get(AWAITING, params=params, headers=kpi.as_role("manager"))
    assert_problem(response, 400, field)


# ---------------------------------------------------------------- staff


async def test_staff_see_their_visible_entries_without_any_scoring_number(journal_for):
    kpi = await journal_for()
    await kpi.add("score_update", score=80)
    hidden = await kpi.add("coaching_session", is_visible_to_staff=False, title="Private prep")
    await kpi.add("effort_recognition", effort_score=95)

    staff_view = await kpi.entries(role="staff")
    manager_view = await kpi.entries()
    assert hidden["id"] in {e["id"] for e in manager_view}
    assert hidden["id"] not in {e["id"] for e in staff_view}
    assert len(staff_view) == len(manager_view) - 1
    assert all("sequence" in entry for entry in manager_view)
    for entry in staff_view:
        assert not STAFF_HIDDEN & entry.keys(), entry
        assert entry["is_visible_to_staff"] is True


async def test_staff_see_the_same_in_their_whole_journal(journal_for):
    kpi = await journal_for()
    await kpi.add("score_update", score=80)
    await kpi.add("observation", is_visible_to_staff=False)
    response = await kpi.client.get(
        journal_of(kpi.kpi.staff_id), headers=kpi.as_role("staff", kpi.kpi.staff_id)
    )
    assert response.status_code == 200
    items = response.json()["items"]
    assert [e["entry_type"] for e in items] == ["score_update", "status_change"]
    assert all(not STAFF_HIDDEN & e.keys() for e in items)


async def test_staff_reflect_on_their_own_kpi_always_pending(journal_for):
    kpi = await journal_for()
    await kpi.add("score_update", score=80)
    response = await kpi.post(
        "self_reflection", role="staff", is_pending_approval=False, is_visible_to_staff=False
    )
    assert response.status_code == 201, response.text
    reflection = response.json()
    assert reflection["is_pending_approval"] is True
    assert reflection["is_visible_to_staff"] is True
    assert reflection["approval_status"] == "pending"
    assert not STAFF_HIDDEN & reflection.keys()
    granted = (await kpi.decide(reflection["id"], "approve")).json()
    assert granted["score_before"] == granted["score_after"] == 80.0


@pytest.mark.parametrize("entry_type", ["observation", "score_update", "milestone"])
async def test_staff_may_add_nothing_but_reflections(journal_for, entry_type):
    kpi = await journal_for()
    fields = {"score": 99} if entry_type == "score_update" else {}
    assert_problem(await kpi.post(entry_type, role="staff", **fields), 403)


async def test_staff_may_not_read_or_write_someone_elses_journal(journal_for):
    kpi = await journal_for()
    stranger = kpi.as_role("staff", uuid.uuid4())
    path = journal_of(kpi.kpi.staff_id, kpi.kpi.staff_kpi_id)
    assert_problem(await kpi.client.get(path, headers=stranger), 403)
    assert_problem(await kpi.client.get(journal_of(kpi.kpi.staff_id), headers=stranger), 403)
    response = await kpi.client.post(path, json=an_entry("self_reflection"), headers=stranger)
    assert_problem(response, 403)


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token"])
async def test_no_valid_token_is_401(journal_for, authorization):
    kpi = await journal_for()
    headers = {"Authorization": authorization} if authorization else {}
    response = await kpi.client.get(journal_of(kpi.kpi.staff_id), headers=headers)
    assert_problem(response, 401)


# ---------------------------------------------------------------- unknown, inactive, malformed


async def test_a_person_the_journal_has_not_heard_of_has_an_empty_journal(
    journal: Client, as_role: Headers
):
    # As assignment answers [] for their KPIs: a client polling for a new person's first
    # entries gets pages, and a staff member with no KPIs yet an empty journal, not a 404.
    someone = uuid.uuid4()
    for headers in (as_role("manager"), as_role("staff", someone)):
        response = await journal.get(journal_of(someone), headers=headers)
        assert response.status_code == 200, response.text
        assert response.json() == {"items": [], "next_cursor": None}


async def test_a_kpi_assigned_a_moment_ago_takes_entries_as_its_news_arrives(
    journal_for, assignment, ledger
):
    kpi = await journal_for()  # the journal knows this person
    newer = assignment.kpi(kpi.kpi.staff_id)
    newer_journal = Journal(kpi.client, kpi.as_role, newer)

    async def news_a_little_later() -> None:
        await asyncio.sleep(0.3)
        await assignment.assign(newer)

    # Asked before the news of the new KPI has come: the journal waits for it a little.
    later = asyncio.create_task(news_a_little_later())
    read, added = await asyncio.gather(
        kpi.client.get(
            journal_of(newer.staff_id, newer.staff_kpi_id), headers=kpi.as_role("manager")
        ),
        newer_journal.post("observation"),
    )
    await later
    assert (read.status_code, added.status_code) == (200, 201), (read.text, added.text)
    assert [e["entry_type"] for e in await newer_journal.entries()] == [
        "observation",
        "status_change",
    ]


async def test_a_new_persons_kpi_assigned_a_moment_ago_takes_entries_as_its_news_arrives(
    journal: Client, as_role: Headers, assignment
):
    # A new hire's first KPI: the journal has heard of neither the person nor the KPI when a
    # client writes to it straight after assignment's 201.
    first = assignment.kpi()
    first_journal = Journal(journal, as_role, first)

    async def news_a_little_later() -> None:
        await asyncio.sleep(0.3)
        await assignment.assign(first)

    later = asyncio.create_task(news_a_little_later())
    read, added = await asyncio.gather(
        journal.get(journal_of(first.staff_id, first.staff_kpi_id), headers=as_role("manager")),
        first_journal.post("observation"),
    )
    await later
    assert (read.status_code, added.status_code) == (200, 201), (read.text, added.text)


async def test_a_kpi_reactivated_a_moment_ago_takes_entries_as_its_news_arrives(
    journal_for, assignment, ledger
):
    kpi = await journal_for()
    pending_score = await kpi.add("score_update", score=80, is_pending_approval=True)
    await assignment.change_status(kpi.kpi, KpiStatus.INACTIVE)
    await ledger.wait_for(kpi.kpi.staff_kpi_id, 3)

    async def reactivated_a_little_later() -> None:
        await asyncio.sleep(0.3)
        await assignment.change_status(kpi.kpi, KpiStatus.ACTIVE)

    # Written as assignment answers the reactivation, before its news reaches the journal.
    later = asyncio.create_task(reactivated_a_little_later())
    added, approved = await asyncio.gather(
        kpi.post("observation"), kpi.decide(pending_score["id"], "approve")
    )
    await later
    assert (added.status_code, approved.status_code) == (201, 201), (added.text, approved.text)
    assert approved.json()["score_after"] == 80.0


async def test_an_unknown_kpi_is_404(journal_for):
    kpi = await journal_for()
    path = journal_of(kpi.kpi.staff_id, uuid.uuid4())
    assert_problem(await kpi.client.get(path, headers=kpi.as_role("manager")), 404)
    response = await kpi.client.post(path, json=an_entry(), headers=kpi.as_role("manager"))
    assert_problem(response, 404)


async def test_someone_elses_kpi_is_404_under_another_person(journal_for):
    kpi = await journal_for()
    path = journal_of(uuid.uuid4(), kpi.kpi.staff_kpi_id)
    response = await kpi.client.post(path, json=an_entry(), headers=kpi.as_role("manager"))
    assert_problem(response, 404)


async def test_an_inactive_kpi_takes_no_entries_but_its_history_stays_readable(
    journal_for, assignment, ledger
):
    kpi = await journal_for()
    await kpi.add("score_update", score=80)
    await assignment.change_status(kpi.kpi, KpiStatus.INACTIVE, "role change")
    await ledger.wait_for(kpi.kpi.staff_kpi_id, 3)
    assert_problem(await kpi.post("observation"), 409)
    entries = await kpi.entries()
    assert [e["entry_type"] for e in entries] == ["status_change", "score_update", "status_change"]
    assert entries[0]["title"].startswith("KPI deactivated")
    assert entries[0]["score_before"] == entries[0]["score_after"] == 80.0

    await assignment.change_status(kpi.kpi, KpiStatus.ACTIVE)
    await ledger.wait_for(kpi.kpi.staff_kpi_id, 4)
    assert (await kpi.add("observation"))["score_after"] == 80.0


async def test_a_pending_reflection_can_still_be_decided_once_its_kpi_is_inactive(
    journal_for, assignment, ledger
):
    kpi = await journal_for()
    await kpi.add("score_update", score=80)
    reflection = await kpi.add("self_reflection", role="staff")
    acknowledged = await kpi.add("self_reflection", role="staff")
    adjustment = await kpi.add("score_adjustment", score_impact=5, is_pending_approval=True)
    await assignment.change_status(kpi.kpi, KpiStatus.INACTIVE, "left the service")
    await ledger.wait_for(kpi.kpi.staff_kpi_id, 6)

    # Deciding moves no score: taken, so nothing stays pending for ever after an exit.
    declined = await kpi.decide(reflection["id"], "decline", "Talked it through at the exit")
    granted = await kpi.decide(acknowledged["id"], "approve")
    assert (declined.status_code, granted.status_code) == (201, 201), declined.text
    assert granted.json()["score_before"] == granted.json()["score_after"] == 80.0
    # Approving a score change would move an inactive KPI's scores: refused, it stays pending.
    assert_problem(await kpi.decide(adjustment["id"], "approve"), 409)
    assert (await kpi.decide(adjustment["id"], "decline")).status_code == 201
    statuses = {e["id"]: e["approval_status"] for e in await kpi.entries()}
    assert statuses[reflection["id"]] == "declined"
    assert statuses[acknowledged["id"]] == "approved"
    assert statuses[adjustment["id"]] == "declined"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"entry_type": "gossip"}, "entry_type"),
        ({"title": ""}, "title"),
        ({"score": "eighty", "entry_type": "score_update"}, "score"),
        ({"linked_incident_id": "not-a-uuid"}, "linked_incident_id"),
        ({"surprise": True}, "surprise"),
        ({"title": "   "}, "title"),
        ({"content": "a\u0000b"}, "content"),
        ({"effort_notes": "x" * 5001}, "effort_notes"),
    ],
)
async def test_a_malformed_entry_is_400_naming_the_field(journal_for, body, field):
    response = await a_managers_entry(await journal_for(), body)
    assert_problem(response, 400, field)


async def a_managers_entry(kpi: Any, body: dict[str, Any]) -> Any:
    """The answer to a manager's entry on the KPI: a valid one with `body` over it."""
    return await kpi.client.post(
        journal_of(kpi.kpi.staff_id, kpi.kpi.staff_kpi_id),
        json=an_entry() | body,
        headers=kpi.as_role("manager"),
    )


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        (
            {"title": "   "},
            "title",
            "must contain more than spaces, and no NUL character (\\u0000)",
        ),
        ({"content": "a\u0000b"}, "content", "must not contain a NUL character (\\u0000)"),
    ],
)
async def test_a_text_the_rules_refuse_is_said_in_words_not_as_a_regex(
    journal_for, body, field, words
):
    response = await a_managers_entry(await journal_for(), body)
    assert_problem(response, 400, field)
    assert [e["message"] for e in response.json()["errors"] if e["field"] == field] == [words]


async def test_a_missing_field_is_400_naming_it(journal_for):
    kpi = await journal_for()
    body = an_entry()
    del body["content"]
    response = await kpi.client.post(
        journal_of(kpi.kpi.staff_id, kpi.kpi.staff_kpi_id),
        json=body,
        headers=kpi.as_role("manager"),
    )
    assert_problem(response, 400, "content")


async def test_a_body_that_is_not_json_is_400(journal_for):
    kpi = await journal_for()
    response = await kpi.client.post(
        journal_of(kpi.kpi.staff_id, kpi.kpi.staff_kpi_id),
        content=b"{not json",
        headers=kpi.as_role("manager") | {"Content-Type": "application/json"},
    )
    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("params", "field"),
    [({"limit": 0}, "limit"), ({"limit": 201}, "limit"), ({"cursor": "bm9wZQ"}, "cursor")],
)
async def test_bad_paging_is_400_naming_the_parameter(journal_for, params, field):
    kpi = await journal_for()
    for path in (journal_of(kpi.kpi.staff_id), journal_of(kpi.kpi.staff_id, kpi.kpi.staff_kpi_id)):
        response = await kpi.client.get(path, params=params, headers=kpi.as_role("manager"))
        assert_problem(response, 400, field)


# ---------------------------------------------------------------- concurrency and pagination


async def test_concurrent_appends_to_one_kpi_form_an_unbroken_chain(journal_for):
    kpi = await journal_for()
    await kpi.add("score_update", score=50)

    async def one(i: int) -> Any:
        if i % 3 == 0:
            return await kpi.post("score_adjustment", score_impact=1)
        if i % 3 == 1:
            return await kpi.post("effort_recognition", effort_score=50 + i)
        return await kpi.post("observation")

    responses = await asyncio.gather(*(one(i) for i in range(50)))
    assert [r.status_code for r in responses] == [201] * 50

    chain = sorted(await kpi.entries(limit=200), key=lambda e: e["sequence"])
    assert [e["sequence"] for e in chain] == list(range(1, 53))
    for earlier, later in itertools.pairwise(chain):
        assert later["score_before"] == earlier["score_after"], (earlier, later)
    assert chain[-1]["score_after"] is not None


async def test_an_append_that_loses_the_race_is_applied_on_the_row_that_won(
    journal_for, monkeypatch
):
    kpi = await journal_for()
    await kpi.add("score_update", score=50)
    write_one, raced = entries.write_one, False

    async def racing(conn: Any, *args: Any) -> bool:
        nonlocal raced
        if not raced:
            raced = True
            await kpi.add("score_update", score=80)  # another writer moves the row first
        return await write_one(conn, *args)

    monkeypatch.setattr(entries, "write_one", racing)
    entry = await kpi.add("score_adjustment", score_impact=5)
    assert (entry["sequence"], entry["score_before"], entry["score_after"]) == (4, 80.0, 85.0)


async def test_an_append_that_keeps_losing_the_race_takes_the_row_lock(journal_for, monkeypatch):
    kpi = await journal_for()
    write_one, racing = entries.write_one, False

    async def always_raced(conn: Any, *args: Any) -> bool:
        nonlocal racing
        if not racing and not conn.is_in_transaction():  # every unlocked try loses
            racing = True
            try:
                await kpi.add("observation")
            finally:
                racing = False
        return await write_one(conn, *args)

    monkeypatch.setattr(entries, "write_one", always_raced)
    entry = await kpi.add("score_update", score=70)
    assert entry["sequence"] == 2 + handlers.UNLOCKED_TRIES
    chain = sorted(await kpi.entries(), key=lambda e: e["sequence"])
    assert [e["sequence"] for e in chain] == list(range(1, 3 + handlers.UNLOCKED_TRIES))


async def test_five_hundred_entries_page_without_gaps_or_repeats(
    journal: Client, as_role: Headers, assigned: Assign
):
    kpis = await assigned(count=4)
    staff_id = kpis[0].staff_id
    journals = [Journal(journal, as_role, kpi) for kpi in kpis]
    gate = asyncio.Semaphore(8)

    async def add(i: int) -> None:
        async with gate:
            await journals[i % 4].add("observation", title=f"Observation {i}")

    await asyncio.gather(*(add(i) for i in range(496)))

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 37}
        if cursor:
            params["cursor"] = cursor
        response = await journal.get(
            journal_of(staff_id), params=params, headers=as_role("manager")
        )
        assert response.status_code == 200, response.text
        page = response.json()
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    ids = [e["id"] for e in seen]
    assert len(ids) == 500 and len(set(ids)) == 500
    keys = [(e["created_at"], e["id"]) for e in seen]
    assert keys == sorted(keys, reverse=True)


async def test_a_kpis_journal_pages_newest_first(journal_for):
    kpi = await journal_for()
    for i in range(11):
        await kpi.add(title=f"Note {i}")
    sequences: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        response = await kpi.client.get(
            journal_of(kpi.kpi.staff_id, kpi.kpi.staff_kpi_id),
            params=params,
            headers=kpi.as_role("manager"),
        )
        page = response.json()
        sequences += [e["sequence"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sequences == list(range(12, 0, -1))


async def test_a_journal_pages_from_a_cursor_of_none(journal_for):
    # A client looping from `cursor = None` and passing it as is sends `?cursor=` first.
    kpi = await journal_for()
    for i in range(4):
        await kpi.add(title=f"Note {i}")
    sequences: list[int] = []
    cursor = None
    while True:
        response = await kpi.client.get(
            journal_of(kpi.kpi.staff_id, kpi.kpi.staff_kpi_id),
            params={"limit": 2, "cursor": cursor},
            headers=kpi.as_role("manager"),
        )
        assert response.status_code == 200, response.text
        page = response.json()
        sequences += [e["sequence"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sequences == list(range(5, 0, -1))


async def test_the_default_page_is_fifty(journal_for):
    kpi = await journal_for()
    await asyncio.gather(*(kpi.add() for _ in range(55)))
    response = await kpi.client.get(journal_of(kpi.kpi.staff_id), headers=kpi.as_role("manager"))
    page = response.json()
    assert len(page["items"]) == 50 and page["next_cursor"]


async def test_the_stored_scores_are_what_replaying_the_journal_gives(journal_for, journal):
    kpi = await journal_for()
    await kpi.add("score_update", score=72)
    await kpi.add("effort_recognition", effort_score=90)
    pending = await kpi.add("score_adjustment", score_impact=6, is_pending_approval=True)
    await kpi.add("score_adjustment", score_impact=-2.5)
    declined = await kpi.add("score_update", score=20, is_pending_approval=True)
    await kpi.decide(pending["id"], "approve")
    await kpi.decide(declined["id"], "decline")
    await kpi.add("score_update", score=81.25)

    pool = journal.app.state.runtime.pool
    stored, replayed = await handlers.replayed_scores(pool, kpi.kpi.staff_kpi_id)
    assert stored == replayed
    assert stored.current_score == 83.0  # 0.8 * 81.25 + 0.2 * 90


# ---------------------------------------------------------------- never a 500


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = [
    "entry_type",
    "title",
    "content",
    "score",
    "score_impact",
    "effort_score",
    "effort_recognized",
    "effort_notes",
    "is_visible_to_staff",
    "is_pending_approval",
    "linked_catchup_id",
    "linked_incident_id",
]


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    changes=st.dictionaries(st.sampled_from([*FIELDS, "surprise"]), JSON_VALUES, max_size=4),
    entry_type=st.sampled_from(
        ["observation", "score_update", "score_adjustment", "effort_recognition", "self_reflection"]
    ),
)
async def test_no_body_makes_the_append_route_fail_with_a_500(journal_for, changes, entry_type):
    kpi = await journal_for()
    body = an_entry(entry_type) | changes
    path = journal_of(kpi.kpi.staff_id, kpi.kpi.staff_kpi_id)
    for headers in (kpi.as_role("manager"), kpi.as_role("staff", kpi.kpi.staff_id)):
        response = await kpi.client.post(path, json=body, headers=headers)
        assert response.status_code < 500, (body, response.text)
