"""Realistic data for the benchmark: contract templates through the catalog's API, then a
population of people with their KPIs and journals written with COPY.

COPY is the honest fastest way to create years of history: the measurements that follow are about
reading it and appending to it, not about how it was made (the lifecycle measurement creates its
people through real ContractCreated events). The rows are what the services themselves would hold
after the same history: staff KPIs in assignment, their scoring copy in the journal, and journal
entries whose score_before/score_after chain to the current scores.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import asyncpg

from bench.system import Config, wait_for
from kpi_kit.db import Connection

# How a care provider's workforce splits over the role groups (support work dominates).
ROLE_MIX: dict[str, float] = {
    "support_worker": 40,
    "senior_support_worker": 10,
    "team_leader": 5,
    "registered_nurse": 8,
    "enrolled_nurse": 5,
    "allied_health": 5,
    "support_coordinator": 5,
    "rostering": 2,
    "administration": 4,
    "finance": 2,
    "human_resources": 2,
    "quality_compliance": 2,
    "management": 4,
    "executive": 1,
    "volunteer": 5,
}
PERIOD_DAYS = {"weekly": 7, "fortnightly": 14, "monthly": 30, "quarterly": 91, "annually": 365}
ENTRY_MIX = (
    ("score_update", 55),
    ("observation", 15),
    ("coaching_session", 10),
    ("effort_recognition", 10),
    ("catch_up_note", 5),
    ("milestone", 5),
)
NOTES = (
    "Talked through the month together; steady progress on the goals we agreed last time.",
    "Great feedback from two families this week about patience and warmth during personal care.",
    "Missed one handover note; we went through the template again and practised a short one.",
    "Covered two extra shifts at short notice. Reliability like this keeps the roster together.",
    "Completed the refresher and shared two practical tips with the team at the huddle.",
    "Reviewed incident follow-ups: all closed on time, with clear notes for the next shift.",
)


@dataclass(frozen=True)
class Module:
    """What the generator needs to know of one KPI module (from the assignment replica)."""

    id: uuid.UUID
    name: str
    role_group: str | None
    is_default_for_role: bool
    score_type: str
    target_score: float
    minimum_score: float
    effort_weight: float
    evaluation_frequency: str


@dataclass(frozen=True)
class TemplateKpi:
    """One KPI of a contract template."""

    module: Module
    is_required: bool
    custom_target: float | None


@dataclass(frozen=True)
class Target:
    """A staff KPI that loads may append to: its person, its id and its scale."""

    staff_id: uuid.UUID
    staff_kpi_id: uuid.UUID
    score_type: str


@dataclass
class Population:
    """What was loaded, for the measurements to pick from."""

    people: list[uuid.UUID] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)  # a sample of active KPIs
    short_journal: Target | None = None  # a KPI with 10 entries
    long_journal: Target | None = None  # a KPI with LONG_JOURNAL entries
    staff_kpis: int = 0
    entries: int = 0
    seconds: float = 0.0
    modules: list[Module] = field(default_factory=list)
    journals: dict[int, Target] = field(default_factory=dict)  # length -> a KPI with it


def template_id_of(role_group: str) -> uuid.UUID:
    """The benchmark's contract template of a role group (stable across runs)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"kpi-bench/template/{role_group}")


# ---------------------------------------------------------------- catalogue and templates


async def replica_modules(conn: Connection) -> list[Module]:
    """The modules of the assignment replica (filled from the catalog's events)."""
    rows = await conn.fetch(
        """SELECT id, name, role_group::text AS role_group, is_default_for_role, score_type,
                  target_score::float8 AS target_score, minimum_score::float8 AS minimum_score,
                  effort_weight::float8 AS effort_weight,
                  evaluation_frequency::text AS evaluation_frequency
           FROM hr.assignment_modules WHERE NOT is_archived ORDER BY display_order, name"""
    )
    return [Module(**dict(r)) for r in rows]


def defaults_of(modules: Sequence[Module], role_group: str) -> list[Module]:
    """The KPIs every person of a role group gets: the universal ones and the group's defaults."""
    return [
        m
        for m in modules
        if m.is_default_for_role and (m.role_group is None or m.role_group == role_group)
    ]


def template_of(modules: Sequence[Module], role_group: str) -> list[TemplateKpi]:
    """A contract template of a role group: its optional modules, one default made required."""
    own = [m for m in modules if m.role_group == role_group]
    optional = [m for m in own if not m.is_default_for_role][:2]
    required = [m for m in own if m.is_default_for_role][:1]
    kpis = [TemplateKpi(m, False, _raised_target(m)) for m in optional]
    kpis += [TemplateKpi(m, True, None) for m in required]
    return kpis


def _raised_target(m: Module) -> float:
    top = 5.0 if m.score_type == "rating" else 100.0
    step = 0.5 if m.score_type == "rating" else 5.0
    return min(top, m.target_score + step)


async def load_templates(config: Config, token: str, modules: Sequence[Module]) -> dict[str, Any]:
    """PUT one template per role group through the catalog API; wait until assignment has them."""
    templates = {}
    async with aiohttp.ClientSession(
        config.base_url("catalog"), headers={"Authorization": f"Bearer {token}"}
    ) as http:
        for role_group in ROLE_MIX:
            kpis = template_of(modules, role_group)
            template_id = template_id_of(role_group)
            body = {
                "kpis": [
                    {
                        "kpi_module_id": str(k.module.id),
                        "weight": 1.0,
                        "is_required": k.is_required,
                        "custom_target": k.custom_target,
                    }
                    for k in kpis
                ]
            }
            async with http.put(f"/api/v1/hr/templates/{template_id}/kpis", json=body) as answer:
                if answer.status != 200:
                    raise RuntimeError(f"PUT template: {answer.status} {await answer.text()}")
            templates[role_group] = kpis
    return templates


async def wait_for_replica(pool: asyncpg.Pool, templates: int) -> None:
    """Wait until the assignment replica holds the catalogue and every template."""

    async def filled() -> bool:
        modules = await pool.fetchval("SELECT count(*) FROM hr.assignment_modules")
        known = await pool.fetchval("SELECT count(*) FROM hr.assignment_templates")
        return bool(modules) and known >= templates

    await wait_for(filled, timeout=60, what="the assignment replica of the catalogue")


# ---------------------------------------------------------------- people, KPIs and journals

STAFF_KPI_COLUMNS = (
    "id",
    "staff_id",
    "contract_id",
    "kpi_module_id",
    "status",
    "source",
    "is_required",
    "custom_target",
    "target_score",
    "minimum_score",
    "effort_weight",
    "current_score",
    "current_effort_score",
    "previous_score",
    "score_trend",
    "trend_percentage",
    "growth_status",
    "last_evaluated_at",
    "next_evaluation_due",
    "assigned_at",
    "score_sequence",
    "created_at",
    "updated_at",
)
JOURNAL_KPI_COLUMNS = (
    "staff_kpi_id",
    "staff_id",
    "kpi_module_id",
    "module_name",
    "contract_id",
    "source",
    "is_required",
    "score_type",
    "target_score",
    "minimum_score",
    "effort_weight",
    "evaluation_frequency",
    "status",
    "assigned_at",
    "status_changed_at",
    "outcome_score",
    "effort_score",
    "current_score",
    "previous_score",
    "score_trend",
    "trend_percentage",
    "growth_status",
    "last_evaluated_at",
    "next_evaluation_due",
    "sequence",
    "updated_at",
)
ENTRY_COLUMNS = (
    "id",
    "staff_kpi_id",
    "staff_id",
    "sequence",
    "entry_type",
    "title",
    "content",
    "score",
    "effort_score",
    "score_before",
    "score_after",
    "effort_recognized",
    "is_visible_to_staff",
    "is_pending_approval",
    "created_by",
    "created_at",
)


class Generator:
    """Makes people with their KPIs and the journal each KPI would have after their tenure."""

    def __init__(
        self,
        modules: Sequence[Module],
        entries_per_kpi: float,
        seed: int = 7,
        kpis_per_person: int | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.modules = list(modules)
        self.entries_per_kpi = entries_per_kpi
        self.now = datetime.now(UTC)
        groups = list(ROLE_MIX)
        self.groups, self.weights = groups, [ROLE_MIX[g] for g in groups]
        self.kpis_of: dict[str, list[TemplateKpi]] = {}
        for group in groups:
            template = template_of(modules, group)
            chosen = {t.module.id for t in template}
            kpis = list(template) + [
                TemplateKpi(m, False, None)
                for m in defaults_of(modules, group)
                if m.id not in chosen
            ]
            # More KPIs per person than a contract gives (for the scaling table): other groups'.
            others = [
                m
                for m in modules
                if m.id not in chosen
                and m.role_group not in (None, group)
                and not m.is_default_for_role
            ]
            others += [
                m for m in modules if m.role_group not in (None, group) and m.is_default_for_role
            ]
            if kpis_per_person is not None:
                kpis += [TemplateKpi(m, False, None) for m in others]
                kpis = kpis[:kpis_per_person]
            self.kpis_of[group] = kpis

    def uuid(self) -> uuid.UUID:
        """A random (version 4) uuid from the seeded generator."""
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def person(
        self, journal_length: int | None = None, only_first_kpi: bool = False
    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], Iterator[tuple[Any, ...]]]:
        """One person's staff KPI rows, journal KPI rows, and (lazily) journal entry rows."""
        rng = self.rng
        group = rng.choices(self.groups, self.weights)[0]
        staff_id, contract_id = self.uuid(), self.uuid()
        tenure = timedelta(days=min(3650, 14 + rng.expovariate(1 / 700)))
        assigned_at = self.now - tenure
        staff_rows, journal_rows, chains = [], [], []
        kpis = self.kpis_of[group][:1] if only_first_kpi else self.kpis_of[group]
        for kpi in kpis:
            m = kpi.module
            length = journal_length or 1 + min(
                int(rng.expovariate(1 / max(0.01, self.entries_per_kpi - 1))), 400
            )
            kpi_id = self.uuid()
            chain = _Chain(self, kpi_id, staff_id, kpi, assigned_at, length)
            s = chain.final
            target = kpi.custom_target if kpi.custom_target is not None else m.target_score
            staff_rows.append(
                (
                    kpi_id,
                    staff_id,
                    contract_id,
                    m.id,
                    "active",
                    "template",
                    kpi.is_required,
                    kpi.custom_target,
                    target,
                    m.minimum_score,
                    m.effort_weight,
                    s["current"],
                    s["effort"],
                    s["previous"],
                    s["trend"],
                    s["trend_pct"],
                    s["growth"],
                    s["last_eval"],
                    s["next_due"],
                    assigned_at,
                    length,
                    assigned_at,
                    self.now,
                )
            )
            journal_rows.append(
                (
                    kpi_id,
                    staff_id,
                    m.id,
                    m.name,
                    contract_id,
                    "template",
                    kpi.is_required,
                    m.score_type,
                    target,
                    m.minimum_score,
                    m.effort_weight,
                    m.evaluation_frequency,
                    "active",
                    assigned_at,
                    assigned_at,
                    s["outcome"],
                    s["effort"],
                    s["current"],
                    s["previous"],
                    s["trend"],
                    s["trend_pct"],
                    s["growth"],
                    s["last_eval"],
                    s["next_due"],
                    length,
                    self.now,
                )
            )
            chains.append(chain)
        return staff_rows, journal_rows, (row for c in chains for row in c.entries)


class _Chain:
    """A KPI's journal: its entries (built lazily) and the scores after the last one."""

    def __init__(
        self,
        gen: Generator,
        kpi_id: uuid.UUID,
        staff_id: uuid.UUID,
        kpi: TemplateKpi,
        assigned_at: datetime,
        length: int,
    ) -> None:
        self.gen, self.kpi_id, self.staff_id, self.kpi = gen, kpi_id, staff_id, kpi
        self.assigned_at, self.length = assigned_at, length
        # The final state is needed before the entries are written: walk the chain once now
        # without building rows (cheap), then again lazily when the entries are copied.
        self.final: dict[str, Any] = {}
        for _ in self._walk(build=False):
            pass

    @property
    def entries(self) -> Iterator[tuple[Any, ...]]:
        """The entry rows, oldest first."""
        return self._walk(build=True)

    def _walk(self, build: bool) -> Iterator[tuple[Any, ...]]:
        rng = random.Random(self.kpi_id.int)  # unique per KPI: entry ids never collide
        m = self.kpi.module
        rating = m.score_type == "rating"
        low, high = (1.0, 5.0) if rating else (35.0, 100.0)
        target = self.kpi.custom_target if self.kpi.custom_target is not None else m.target_score
        w = m.effort_weight
        outcome: float | None = None
        effort: float | None = None
        current: float | None = None
        previous: float | None = None
        last_eval: datetime | None = None
        span = (self.gen.now - self.assigned_at) / max(1, self.length)
        kinds = [k for k, _ in ENTRY_MIX]
        weights = [p for _, p in ENTRY_MIX]
        for sequence in range(1, self.length + 1):
            at = self.assigned_at + span * (sequence - 1)
            before = current
            score = effort_score = None
            if sequence == 1:
                kind, title = "status_change", f"KPI assigned: {m.name}"
            else:
                kind = rng.choices(kinds, weights)[0]
                title = kind.replace("_", " ").capitalize()
                if kind == "effort_recognition" and outcome is None:
                    kind = "observation"
                if kind == "score_update":
                    base = outcome if outcome is not None else (low + high) / 2 + (high - low) / 6
                    score = round(
                        min(high, max(low, base + rng.uniform(-1, 1) * (high - low) / 10)), 1
                    )
                    outcome = score
                elif kind == "effort_recognition":
                    effort_score = round(rng.uniform((low + high) / 2, high), 1)
                    effort = effort_score
                if score is not None or effort_score is not None:
                    assert outcome is not None
                    composite = round(
                        (1 - w) * outcome + w * (effort if effort is not None else outcome), 2
                    )
                    if composite != current:
                        previous, current = current, composite
                    last_eval = at
            if build:
                yield (
                    uuid.UUID(int=rng.getrandbits(128), version=4),
                    self.kpi_id,
                    self.staff_id,
                    sequence,
                    kind,
                    title,
                    NOTES[sequence % len(NOTES)],
                    score,
                    effort_score,
                    before,
                    current,
                    effort_score is not None,
                    True,
                    False,
                    None if sequence == 1 else "bench-manager",
                    at,
                )
        self.final = {
            "outcome": outcome,
            "effort": effort,
            "current": current,
            "previous": previous,
            "trend": _trend(previous, current),
            "trend_pct": round((current - previous) / previous * 100, 2)
            if current is not None and previous
            else None,
            "growth": None
            if current is None
            else (
                "growing"
                if current < m.minimum_score
                else "meeting"
                if current <= target
                else "exceeding"
            ),
            "last_eval": last_eval,
            "next_due": (last_eval or self.assigned_at)
            + timedelta(days=PERIOD_DAYS[m.evaluation_frequency]),
        }


def _trend(previous: float | None, current: float | None) -> str | None:
    if previous is None or current is None:
        return None
    return "up" if current > previous else "down" if current < previous else "steady"


async def _copy(conn: Connection, table: str, columns: Sequence[str], rows: Any) -> None:
    await conn.copy_records_to_table(table, schema_name="hr", columns=list(columns), records=rows)


BULK_TABLES = ("staff_kpis", "journal_kpis", "kpi_journal_entries")


async def _defer_indexes(conn: Connection) -> list[str]:
    """Drop the loaded tables' constraints and indexes; returns the DDL that restores them.

    What pg_restore does: rows first, then each index built once from sorted data, then the
    foreign keys checked in one pass. The schema afterwards is exactly the migrated one.
    """
    tables = [f"hr.{t}" for t in BULK_TABLES]
    constraints = await conn.fetch(
        """SELECT c.conrelid::regclass::text AS tbl, c.conname, c.contype::text AS contype,
                  pg_get_constraintdef(c.oid) AS def
           FROM pg_constraint c
           WHERE c.conrelid = ANY($1::regclass[]) AND c.contype IN ('p', 'u', 'f')
           ORDER BY c.contype = 'f' DESC""",
        tables,
    )
    indexes = await conn.fetch(
        """SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
           FROM pg_index i
           WHERE i.indrelid = ANY($1::regclass[])
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
        tables,
    )
    for c in constraints:  # foreign keys first: they depend on the keys they reference
        await conn.execute(f'ALTER TABLE {c["tbl"]} DROP CONSTRAINT "{c["conname"]}"')
    for i in indexes:
        await conn.execute(f"DROP INDEX {i['name']}")
    restore = [i["def"] for i in indexes]
    keys = [c for c in constraints if c["contype"] != "f"]
    foreign = [c for c in constraints if c["contype"] == "f"]
    restore += [f'ALTER TABLE {c["tbl"]} ADD CONSTRAINT "{c["conname"]}" {c["def"]}' for c in keys]
    restore += [
        f'ALTER TABLE {c["tbl"]} ADD CONSTRAINT "{c["conname"]}" {c["def"]}' for c in foreign
    ]
    return restore


async def load_people(
    pool: asyncpg.Pool,
    modules: Sequence[Module],
    people: int,
    *,
    entries_per_kpi: float,
    long_journal: int,
    seed: int = 7,
    kpis_per_person: int | None = None,
    journals: Sequence[int] = (),
    chunk: int = 1000,
) -> Population:
    """COPY `people` people with their KPIs and journals, plus one KPI with a 10-entry journal,
    one with a `long_journal`-entry one (0: none) and one for each length in `journals`."""
    started = time.perf_counter()
    gen = Generator(modules, entries_per_kpi, seed, kpis_per_person)
    population = Population(modules=list(modules))
    sample_every = max(1, people // 5000)

    async with pool.acquire() as conn:
        restore = await _defer_indexes(conn)

    async def write(staff: list[Any], journal: list[Any], entries: Iterator[Any]) -> int:
        count = 0

        def counted() -> Iterator[Any]:
            nonlocal count
            for row in entries:
                count += 1
                yield row

        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL synchronous_commit = off")
            await _copy(conn, "staff_kpis", STAFF_KPI_COLUMNS, staff)
            await _copy(conn, "journal_kpis", JOURNAL_KPI_COLUMNS, journal)
            await _copy(conn, "kpi_journal_entries", ENTRY_COLUMNS, counted())
        return count

    done = 0
    while done < people:
        staff: list[Any] = []
        journal: list[Any] = []
        entries: list[Iterator[Any]] = []
        for i in range(done, min(people, done + chunk)):
            s, j, e = gen.person()
            staff += s
            journal += j
            entries.append(e)
            population.people.append(s[0][1])
            if i % sample_every == 0:
                population.targets += [Target(r[1], r[0], r[7]) for r in j]
        population.entries += await write(staff, journal, (r for e in entries for r in e))
        population.staff_kpis += len(staff)
        done += chunk

    for length in sorted({10, *([long_journal] if long_journal else []), *journals}):
        s, j, e = gen.person(journal_length=length, only_first_kpi=True)
        population.entries += await write(s, j, e)
        population.staff_kpis += len(s)
        population.journals[length] = Target(j[0][1], j[0][0], j[0][7])
    population.short_journal = population.journals[10]
    population.long_journal = population.journals.get(long_journal)

    async with pool.acquire() as conn:
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for ddl in restore:
            await conn.execute(ddl)
        await conn.execute("ANALYZE hr.staff_kpis")
        await conn.execute("ANALYZE hr.journal_kpis")
        await conn.execute("ANALYZE hr.kpi_journal_entries")
    population.seconds = time.perf_counter() - started
    return population


async def main_smoke(config: Config) -> None:  # pragma: no cover - a developer's probe
    """Load a small population into an existing benchmark database (debugging aid)."""
    pool = await asyncpg.create_pool(config.database_url, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        modules = await replica_modules(conn)
    population = await load_people(pool, modules, 200, entries_per_kpi=5, long_journal=1000)
    print(population.staff_kpis, population.entries, round(population.seconds, 2))
    await pool.close()


if __name__ == "__main__":  # pragma: no cover
    asyncio.run(main_smoke(Config.from_env()))
