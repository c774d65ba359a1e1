"""The module parts of staff KPI views held in memory by module id and version."""

from __future__ import annotations

import uuid
from typing import Any, cast

from assignment import queries
from assignment.views import ModuleViews
from kpi_kit.db import Pool

A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


def a_module_row(module_id: uuid.UUID, version: int) -> dict[str, Any]:
    return {
        "id": module_id,
        "version": version,
        "name": f"Module {module_id.int} v{version}",
        "slug": f"module-{module_id.int}",
        "category": "operational",
        "role_group": None,
        "is_universal": True,
        "evaluation_frequency": "monthly",
        "score_type": "percentage",
        "objective": f"Objective v{version}",
        "measurement_method": "Counted.",
        "data_sources": [],
        "automation_status": "manual",
        "coaching_tips": ["Ask."],
        "display_order": 1,
    }


class Replica:
    """Answers queries.MODULE_VIEWS from its modules and keeps the ids each read asked for."""

    def __init__(self, **versions: int) -> None:
        self.versions = {uuid.UUID(int=int(k[1:])): v for k, v in versions.items()}
        self.reads: list[set[uuid.UUID]] = []

    async def fetch(self, query: str, ids: list[uuid.UUID]) -> list[dict[str, Any]]:
        assert query == queries.MODULE_VIEWS
        self.reads.append(set(ids))
        return [a_module_row(m, self.versions[m]) for m in ids]

    def as_pool(self) -> Pool:
        """This replica where ModuleViews takes a pool: it only ever calls `fetch`."""
        return cast(Pool, self)


async def test_only_modules_not_held_at_their_version_are_read() -> None:
    replica, views = Replica(m1=1, m2=1, m3=1), ModuleViews()

    first = await views.of(replica.as_pool(), {(A, 1), (B, 1)})
    again = await views.of(replica.as_pool(), {(A, 1), (B, 1), (C, 1)})
    replica.versions[A] = 2
    newer = await views.of(replica.as_pool(), {(A, 2), (B, 1)})

    assert replica.reads == [{A, B}, {C}, {A}]
    assert again[A, 1] is first[A, 1]
    assert (first[A, 1].objective, newer[A, 2].objective) == ("Objective v1", "Objective v2")


async def test_a_module_upserted_since_its_key_was_read_shows_its_newer_version() -> None:
    replica, views = Replica(m1=3), ModuleViews()

    shown = await views.of(replica.as_pool(), {(A, 2)})
    held = await views.of(replica.as_pool(), {(A, 3)})

    assert shown[A, 2].objective == "Objective v3"
    assert held[A, 3] is shown[A, 2] and len(replica.reads) == 1


async def test_the_views_held_are_forgotten_past_the_limit() -> None:
    replica, views = Replica(m1=1, m2=1, m3=1), ModuleViews(limit=2)

    await views.of(replica.as_pool(), {(A, 1), (B, 1)})
    await views.of(replica.as_pool(), {(C, 1)})
    await views.of(replica.as_pool(), {(A, 1), (C, 1)})

    assert replica.reads == [{A, B}, {C}, {A}]
