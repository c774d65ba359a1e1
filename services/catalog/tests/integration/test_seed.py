"""The seed catalogue: the universal five for all 15 role groups plus each group's own KPIs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import asyncpg
import pytest

from catalog.app import definition
from kpi_contracts.enums import AutomationStatus, Frequency, KpiCategory, RoleGroup, ScoreType
from kpi_kit.settings import Settings
from kpi_kit.testing.harness import ServiceClient

pytestmark = pytest.mark.integration

UNIVERSAL = {
    "Code of Conduct & Culture": "culture",
    "Attendance & Reliability": "operational",
    "WHS & Safety Compliance": "safety",
    "Communication Responsiveness": "communication",
    "Documentation Quality": "compliance",
}
DEFICIT_WORDS = ("below", "failing", "poor", "underperform")


@pytest.fixture
async def seed(catalog: ServiceClient, catalog_settings: Settings) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(catalog_settings.database_url)
    try:
        # The seed file's rows (its ids are md5 of the slug), not modules an administrator
        # created through the API as seed data.
        return await conn.fetch(
            "SELECT * FROM hr.kpi_modules WHERE is_seed AND id = md5('kpi-module:' || slug)::uuid"
        )
    finally:
        await conn.close()


def test_the_five_universal_kpis_apply_to_everyone(seed: list[asyncpg.Record]) -> None:
    universal = {m["name"]: m for m in seed if m["is_universal"]}
    assert {name: str(m["category"]) for name, m in universal.items()} == UNIVERSAL
    assert all(m["is_default_for_role"] and m["role_group"] is None for m in universal.values())


def test_every_role_group_has_about_five_defaults_of_its_own(seed: list[asyncpg.Record]) -> None:
    defaults = Counter(
        str(m["role_group"]) for m in seed if m["is_default_for_role"] and not m["is_universal"]
    )
    assert set(defaults) == {group.value for group in RoleGroup}
    assert all(4 <= count <= 7 for count in defaults.values()), defaults
    assert len(seed) >= 80


def test_every_module_is_complete_and_in_range(seed: list[asyncpg.Record]) -> None:
    for m in seed:
        assert 0.15 <= float(m["effort_weight"]) <= 0.30, m["slug"]
        assert m["minimum_score"] <= m["target_score"], m["slug"]
        assert len(m["coaching_tips"]) >= 2, m["slug"]
        assert m["data_sources"] and m["objective"] and m["measurement_method"], m["slug"]


def test_every_enum_value_is_used(seed: list[asyncpg.Record]) -> None:
    assert {str(m["category"]) for m in seed} == {c.value for c in KpiCategory}
    assert {str(m["evaluation_frequency"]) for m in seed} == {f.value for f in Frequency}
    assert {m["score_type"] for m in seed} == {s.value for s in ScoreType}
    assert {m["automation_status"] for m in seed} == {a.value for a in AutomationStatus}


def test_the_seed_speaks_growth_language(seed: list[asyncpg.Record]) -> None:
    for m in seed:
        text = " ".join(
            [m["name"], m["objective"], m["measurement_method"], *m["coaching_tips"]]
        ).lower()
        assert not any(word in text for word in DEFICIT_WORDS), m["slug"]


async def test_loading_the_seed_twice_changes_nothing(
    seed: list[asyncpg.Record], catalog_settings: Settings
) -> None:
    sql = (Path(definition().migrations) / "20260113_kpi_seed_update.sql").read_text()
    conn = await asyncpg.connect(catalog_settings.database_url)
    try:
        before = await conn.fetchval(
            "SELECT md5(string_agg(m::text, '' ORDER BY slug)) FROM hr.kpi_modules m WHERE is_seed"
        )
        await conn.execute(sql)
        after = await conn.fetchval(
            "SELECT md5(string_agg(m::text, '' ORDER BY slug)) FROM hr.kpi_modules m WHERE is_seed"
        )
    finally:
        await conn.close()
    assert before == after
