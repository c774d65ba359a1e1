"""`python -m bench.scaling`: how cost grows with people, KPIs per person and journal length.

Three small tables, three sizes each, one short round per size (a trend, not a figure to quote):
- people (2,000 / 20,000 / 100,000, loaded one after another into the same database):
  GET /hr/staff/{id}/kpis at 50 concurrent, and the raw query;
- KPIs per person (5 / 11 / 25): the same read, for 1,000 people holding that many;
- journal length (10 / 1,000 / 100,000 entries on one KPI): one append at a time, and the first
  page of that KPI's journal.
Writes bench/scaling.json and the "How cost grows" section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench import population
from bench.load import HttpLoad, Throughput, closed_loop, median, percentile
from bench.running import Running, running
from bench.scenarios import RAW_STAFF_KPIS, Bench, _http_round, _post_entry, _raw_pool, _score_for
from bench.system import REPO, Config

PEOPLE = (2_000, 20_000, 100_000)
KPIS = (5, 11, 25)
JOURNALS = (10, 1_000, 100_000)
SECONDS = 5.0
PROBES = 50
BEGIN, END = "<!-- scaling:begin -->", "<!-- scaling:end -->"


async def _read(sut: Running, people: list[uuid.UUID]) -> dict[str, Any]:
    """One round of the API read and one of the raw query, over these people."""
    b = Bench(
        sut.config,
        sut.services,
        None,
        sut.pool,
        population.Population(),
        sut.sampler,
        sut.manager_token,
    )
    lines = [f"/api/v1/hr/staff/{p}/kpis" for p in people[:5000]]
    load = HttpLoad(sut.config.base_url("assignment"), "get", lines, sut.manager_token, 50, SECONDS)
    async with _raw_pool(b) as pool:

        async def query() -> None:
            async with pool.acquire() as conn:
                await conn.fetch(RAW_STAFF_KPIS, b.rng.choice(people))

        await closed_loop(query, concurrency=50, seconds=1)
        raw = await closed_loop(query, concurrency=50, seconds=SECONDS)
    api: Throughput = await _http_round(b, load, ("assignment",))
    rows = await sut.pool.fetchval(
        "SELECT avg(n) FROM (SELECT count(*) n FROM hr.staff_kpis WHERE staff_id = ANY($1::uuid[]) "
        "GROUP BY staff_id) s",
        people[:500],
    )
    return {
        "kpis_per_person": round(float(rows or 0), 1),
        "api_rate": round(api.rate, 1),
        "api_p50_ms": round(api.p50_ms, 2),
        "api_p99_ms": round(api.p99_ms, 2),
        "api_cpu_ms": api.cpu_ms_per_op,
        "raw_rate": round(raw.rate, 1),
        "raw_p50_ms": round(raw.p50_ms, 2),
        "ratio": round(api.rate / raw.rate, 3) if raw.rate else None,
    }


async def _journal(sut: Running, targets: dict[int, population.Target]) -> list[dict[str, Any]]:
    """One append at a time, and the first page of the journal, on KPIs of each length."""
    b = Bench(
        sut.config,
        sut.services,
        None,
        sut.pool,
        population.Population(),
        sut.sampler,
        sut.manager_token,
    )
    times: dict[int, dict[str, list[float]]] = {n: {"append": [], "page": []} for n in targets}
    journal = sut.config.base_url("journal")
    headers = {"Authorization": f"Bearer {sut.manager_token}"}
    async with aiohttp.ClientSession(
        headers=headers, connector=aiohttp.TCPConnector(limit=1)
    ) as http:
        for i in range(PROBES + 5):
            for n, t in targets.items():
                t0 = time.perf_counter()
                await _post_entry(http, journal, t, _score_for(t, b.rng))
                t1 = time.perf_counter()
                async with http.get(
                    f"{journal}/api/v1/hr/staff/{t.staff_id}/kpis/{t.staff_kpi_id}/journal"
                ) as answer:
                    page = await answer.json()
                    if answer.status != 200 or not page["items"]:
                        raise RuntimeError(f"journal page: {answer.status} {page}")
                t2 = time.perf_counter()
                if i >= 5:
                    times[n]["append"].append((t1 - t0) * 1000)
                    times[n]["page"].append((t2 - t1) * 1000)
    return [
        {
            "entries": n,
            "append_p50_ms": round(median(v["append"]), 2),
            "append_p90_ms": round(percentile(v["append"], 90), 2),
            "page_p50_ms": round(median(v["page"]), 2),
            "page_p90_ms": round(percentile(v["page"], 90), 2),
        }
        for n, v in times.items()
    ]


async def run(out: Path) -> dict[str, Any]:
    config = Config.from_env()
    results: dict[str, Any] = {"people": [], "kpis_per_person": [], "journal_length": []}
    t0 = time.perf_counter()
    async with running(config) as sut:
        loaded: list[uuid.UUID] = []
        seed = 100
        for size in PEOPLE:
            more = await population.load_people(
                sut.pool,
                sut.modules,
                size - len(loaded),
                entries_per_kpi=2,
                long_journal=0,
                seed=seed,
                journals=JOURNALS if size == PEOPLE[0] else (),
            )
            if size == PEOPLE[0]:
                journals = more.journals
            seed += 1
            loaded += more.people
            row = {"people": len(loaded), **await _read(sut, loaded)}
            print(f"  people {row}", flush=True)
            results["people"].append(row)
        for kpis in KPIS:
            more = await population.load_people(
                sut.pool,
                sut.modules,
                1000,
                entries_per_kpi=2,
                long_journal=0,
                seed=seed,
                kpis_per_person=kpis,
            )
            seed += 1
            row = await _read(sut, more.people)
            print(f"  kpis {row}", flush=True)
            results["kpis_per_person"].append(row)
        results["journal_length"] = await _journal(sut, {n: journals[n] for n in JOURNALS})
        print(f"  journals {results['journal_length']}", flush=True)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    out.write_text(json.dumps(results, indent=2) + "\n")  # noqa: ASYNC240 - once
    return results


def markdown(r: dict[str, Any]) -> str:
    """The scaling tables as Markdown."""
    lines = [
        "| people | KPI rows | GET /kpis req/s | p50 ms | p99 ms | CPU ms/req | raw q/s | ratio |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for x in r["people"]:
        lines.append(
            f"| {x['people']:,} | ≈ {x['people'] * x['kpis_per_person']:,.0f} "
            f"| {x['api_rate']:,.0f} "
            f"| {x['api_p50_ms']} | {x['api_p99_ms']} | {x['api_cpu_ms']} | {x['raw_rate']:,.0f} "
            f"| {x['ratio']} |"
        )
    lines += [
        "",
        "| KPIs per person | GET /kpis req/s | p50 ms | p99 ms | CPU ms/req | raw q/s | ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for x in r["kpis_per_person"]:
        lines.append(
            f"| {x['kpis_per_person']} | {x['api_rate']:,.0f} | {x['api_p50_ms']} | "
            f"{x['api_p99_ms']} | {x['api_cpu_ms']} | {x['raw_rate']:,.0f} | {x['ratio']} |"
        )
    lines += [
        "",
        "| journal entries on the KPI | one append p50 / p90 ms | first page p50 / p90 ms |",
        "|---|---|---|",
    ]
    for x in r["journal_length"]:
        lines.append(
            f"| {x['entries']:,} | {x['append_p50_ms']} / {x['append_p90_ms']} | "
            f"{x['page_p50_ms']} / {x['page_p90_ms']} |"
        )
    return "\n".join(lines)


def write_doc(results: Path, doc: Path) -> None:
    """Replace the scaling section of the document."""
    section = markdown(json.loads(results.read_text()))
    text = doc.read_text()
    if BEGIN not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}")


def main() -> int:
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    out = REPO / "bench" / "scaling.json"
    try:
        import uvloop

        uvloop.run(run(out))
    except ImportError:
        asyncio.run(run(out))
    write_doc(out, REPO / "docs" / "BENCHMARKS.md")
    print(markdown(json.loads(out.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
