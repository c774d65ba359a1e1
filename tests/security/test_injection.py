"""SQL is parameterised everywhere: an injection attempt in every string field (query, path and
body) changes nothing it should not, and what is stored is the attempt itself, verbatim."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import asyncpg
import pytest

from .conftest import System, bearer

pytestmark = pytest.mark.integration

ATTEMPTS = [
    "'; DROP TABLE hr.kpi_modules; --",
    "' OR '1'='1",
    '" OR ""="',
    "1; DELETE FROM hr.staff_kpis WHERE true; --",
    "'); UPDATE hr.kpi_journal_entries SET title = 'pwned'; --",
    "' UNION SELECT id::text, name FROM hr.kpi_modules --",
    "Robert'); DROP TABLE hr.template_kpis; --",
    "$1 $2 \\' \\\\",
    "' || pg_sleep(5) || '",
]
# Tables whose rows come and go by design (the relay empties outboxes).
TRANSIENT = ("_outbox", "_inbox")


async def snapshot(database_url: str) -> dict[str, tuple[int, str]]:
    """Each table of schema hr: its row count and a digest of its rows."""
    conn = await asyncpg.connect(database_url)
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'hr'")
            if not r["tablename"].endswith(TRANSIENT)
        ]
        found = {}
        for table in sorted(tables):
            row = await conn.fetchrow(
                f"SELECT count(*) AS n, md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                f"AS digest FROM hr.{table} t"
            )
            assert row is not None  # an aggregate always answers one row
            found[table] = (row["n"], row["digest"])
        return found
    finally:
        await conn.close()


async def settled_snapshot(database_url: str) -> dict[str, tuple[int, str]]:
    """A snapshot once the background work (relays, replicas) has stopped changing it."""
    last = await snapshot(database_url)
    for _ in range(40):
        await asyncio.sleep(0.25)
        now = await snapshot(database_url)
        if now == last:
            return now
        last = now
    return last


async def test_injection_in_query_and_path_parameters_reads_nothing_and_changes_nothing(
    system: System,
) -> None:
    before = await settled_snapshot(system.database_url)
    manager = bearer("manager")
    staff_id = uuid.uuid4()
    wrong = []
    for attempt in ATTEMPTS:
        requests: list[tuple[str, str, dict[str, Any]]] = [
            ("catalog", "/api/v1/hr/kpi-modules", {"q": attempt}),
            ("catalog", "/api/v1/hr/kpi-modules", {"role_group": attempt}),
            ("catalog", "/api/v1/hr/kpi-modules", {"category": attempt}),
            ("catalog", f"/api/v1/hr/kpi-modules/{attempt}", {}),
            ("catalog", f"/api/v1/hr/templates/{attempt}/kpis", {}),
            ("assignment", f"/api/v1/hr/staff/{staff_id}/kpis", {"status": attempt}),
            ("assignment", f"/api/v1/hr/staff/{attempt}/kpis", {}),
            ("assignment", "/api/v1/hr/evaluations/due", {"before": attempt}),
            ("journal", f"/api/v1/hr/staff/{staff_id}/journal", {"cursor": attempt}),
            ("journal", f"/api/v1/hr/staff/{staff_id}/journal", {"limit": attempt}),
            ("journal", f"/api/v1/hr/staff/{attempt}/journal", {}),
        ]
        for service, path, params in requests:
            if not system.has(service):
                continue
            response = await system.clients[service].get(path, params=params, headers=manager)
            if response.status_code >= 500:
                wrong.append(f"{service} {path} {params}: {response.status_code}")
            if "q" in params and response.status_code == 200 and response.json():
                wrong.append(f"q={attempt!r} matched {len(response.json())} modules")
    assert not wrong, "\n".join(wrong)
    assert await settled_snapshot(system.database_url) == before


async def test_injection_in_catalog_bodies_is_stored_verbatim(system: System) -> None:
    catalog = system.clients["catalog"]
    admin = bearer("hr_admin")
    before = await settled_snapshot(system.database_url)
    created = []
    for attempt in ATTEMPTS:
        body = {
            "name": f"{attempt} {uuid.uuid4().hex[:6]}",
            "category": "care_quality",
            "role_group": "support_worker",
            "objective": attempt,
            "measurement_method": attempt,
            "data_sources": [attempt],
            "score_type": "percentage",
            "target_score": 90,
            "minimum_score": 70,
            "effort_weight": 0.2,
            "evaluation_frequency": "monthly",
            "coaching_tips": [attempt, attempt[::-1] or "tip"],
        }
        response = await catalog.post("/api/v1/hr/kpi-modules", json=body, headers=admin)
        assert response.status_code == 201, (attempt, response.text)
        stored = (
            await catalog.get(f"/api/v1/hr/kpi-modules/{response.json()['id']}", headers=admin)
        ).json()
        for key in ("name", "objective", "measurement_method", "data_sources", "coaching_tips"):
            assert stored[key] == body[key], key
        renamed = await catalog.patch(
            f"/api/v1/hr/kpi-modules/{stored['id']}",
            json={"name": f"{attempt}!", "objective": attempt[::-1] or "x"},
            headers=admin,
        )
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["name"] == f"{attempt}!"
        created.append(stored["id"])
    after = await settled_snapshot(system.database_url)
    assert after["kpi_modules"][0] == before["kpi_modules"][0] + len(created)
    untouched = {t for t in before if not t.startswith(("kpi_modules", "assignment_"))}
    assert {t: after.get(t) for t in untouched} == {t: before[t] for t in untouched}


async def test_injection_in_assignment_and_journal_bodies_is_stored_verbatim(
    system: System,
) -> None:
    if not (system.has("assignment") and system.has("journal")):
        pytest.skip("assignment or journal is not installed in this checkout")
    from kpi_contracts.enums import RoleGroup

    from .test_rights import hire

    person = await hire(system, RoleGroup.TEAM_LEADER)
    manager, admin = bearer("manager"), bearer("hr_admin")
    assignment, journal = system.clients["assignment"], system.clients["journal"]
    kpi = next(k for k in person.kpis if k["is_required"])
    others_before = await settled_snapshot(system.database_url)
    for attempt in ATTEMPTS:
        entry = await journal.post(
            f"/api/v1/hr/staff/{person.staff_id}/kpis/{kpi['id']}/journal",
            json={
                "entry_type": "observation",
                "title": attempt,
                "content": attempt,
                "effort_notes": attempt,
                "is_pending_approval": True,
            },
            headers=manager,
        )
        assert entry.status_code == 201, (attempt, entry.text)
        stored = entry.json()
        assert (stored["title"], stored["content"], stored["effort_notes"]) == (attempt,) * 3
        decided = await journal.post(
            f"/api/v1/hr/journal/{stored['id']}/approval",
            json={"decision": "decline", "notes": attempt},
            headers=manager,
        )
        assert decided.status_code in (200, 201), decided.text
    page = await journal.get(
        f"/api/v1/hr/staff/{person.staff_id}/journal", params={"limit": 200}, headers=manager
    )
    titles = [e["title"] for e in page.json()["items"]]
    assert all(attempt in titles for attempt in ATTEMPTS)
    assert "pwned" not in titles

    optional = next(k for k in person.kpis if not k["is_required"])
    changed = await assignment.patch(
        f"/api/v1/hr/staff/{person.staff_id}/kpis/{optional['id']}/status",
        json={"status": "inactive", "reason": ATTEMPTS[0]},
        headers=manager,
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["deactivation_reason"] == ATTEMPTS[0]
    emptied = await assignment.post(
        f"/api/v1/hr/staff/{person.staff_id}/deactivate-kpis",
        json={"reason": ATTEMPTS[3]},
        headers=admin,
    )
    assert emptied.status_code == 200, emptied.text
    assert emptied.json()["deactivated"] == len(person.kpis) - 1

    # Nobody else's KPIs or journal changed; this person's KPIs are all still there.
    after = await settled_snapshot(system.database_url)
    conn = await asyncpg.connect(system.database_url)
    try:
        others_now = await conn.fetchval(
            "SELECT count(*) FROM hr.staff_kpis WHERE staff_id <> $1", person.staff_id
        )
        theirs = await conn.fetchval(
            "SELECT count(*) FROM hr.staff_kpis WHERE staff_id = $1", person.staff_id
        )
        pwned = await conn.fetchval(
            "SELECT count(*) FROM hr.kpi_journal_entries WHERE title = 'pwned'"
        )
    finally:
        await conn.close()
    assert theirs == len(person.kpis)
    assert pwned == 0
    assert others_now == others_before["staff_kpis"][0] - len(person.kpis)
    for table in ("kpi_modules", "template_kpis", "assignment_modules"):
        assert after[table][0] >= others_before[table][0], table
