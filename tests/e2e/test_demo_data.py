"""`make run`'s demo data (contract_sim.demo) on a whole system of its own, through the gateway."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kpi_kit.testing.servers import Servers, own_database_and_vhost
from tests.browser.stack import BIN, REPO, Stack

sys.path.insert(0, str(Path(__file__).parents[2] / "tools"))

from contract_sim.directory import People  # tools/ is not installed: on the path above

pytestmark = pytest.mark.integration


@pytest.fixture
async def system(servers: Servers) -> AsyncIterator[Stack]:
    async with own_database_and_vhost(servers, "kpi_demo") as (database_url, amqp_url):
        stack = Stack(database_url, amqp_url)
        try:
            await asyncio.to_thread(stack.start)
            yield stack
        finally:
            await asyncio.to_thread(stack.stop)


def demo(stack: Stack) -> str:
    done = subprocess.run(
        [str(BIN / "python"), "-m", "contract_sim.demo", "--api", stack.base_url],
        env=stack.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_the_demo_people_get_kpis_stories_and_approvals_to_give_once(system: Stack):
    await asyncio.to_thread(demo, system)
    async with httpx.AsyncClient(base_url=system.base_url) as client:
        token = (await client.post("/dev/token", json={"role": "manager"})).json()["token"]
        client.headers["Authorization"] = f"Bearer {token}"

        async def get(path: str, **params: Any) -> Any:
            answer = await client.get(path, params=params)
            assert answer.status_code == 200, answer.text
            return answer.json()

        people = People().all()
        kpis: dict[str, list[dict[str, Any]]] = {}
        journals: dict[str, list[dict[str, Any]]] = {}
        for person in people:
            kpis[person.name] = await get(f"/api/v1/hr/staff/{person.staff_id}/kpis", status="all")
            journal = await get(f"/api/v1/hr/staff/{person.staff_id}/journal", limit=200)
            journals[person.name] = journal["items"]

        def statuses(name: str, **where: Any) -> list[str | None]:
            held = [k for k in kpis[name] if k["status"] == "active"]
            return [k["growth_status"] for k in held if k["module"].items() >= where.items()]

        *told, just_started = people
        promoted = told[1]
        assert statuses(just_started.name) and set(statuses(just_started.name)) == {None}
        for person in told:
            # every KPI scored but the promoted person's new management ones
            assert None not in statuses(person.name, role_group=person.role_group), person.name
            assert None not in statuses(person.name, is_universal=True), person.name
        every_status = {s for person in told for s in statuses(person.name)} - {None}
        assert every_status == {"exceeding", "meeting", "growing"}

        # the promotion: team leader KPIs inactive with their story kept, management ones fresh
        by_group = {
            group: [k for k in kpis[promoted.name] if k["module"]["role_group"] == group]
            for group in ("team_leader", "management")
        }
        assert by_group["team_leader"] and by_group["management"]
        assert {k["status"] for k in by_group["team_leader"]} == {"inactive"}
        assert all(k["current_score"] is not None for k in by_group["team_leader"])
        assert {k["growth_status"] for k in by_group["management"]} == {None}

        pending = {
            name: [e["entry_type"] for e in items if e.get("approval_status") == "pending"]
            for name, items in journals.items()
        }
        assert pending[told[0].name] == ["self_reflection"]
        assert pending[told[1].name] == ["score_adjustment"]

        assert (await asyncio.to_thread(demo, system)).strip() == ""  # a second run: nothing
        for person in people:
            again = await get(f"/api/v1/hr/staff/{person.staff_id}/journal", limit=200)
            assert len(again["items"]) == len(journals[person.name]), person.name
