"""`python -m bench`: run the benchmark suite, print the table, write bench/results.json.

    python -m bench                 the full suite (what `make bench` runs; under 10 minutes)
    python -m bench --quick         small sizes and short rounds, for developing the harness
    python -m bench --only api_read,lifecycle

Sizes can be changed with BENCH_PEOPLE, BENCH_CONTRACTS, BENCH_ROUNDS, BENCH_SECONDS,
BENCH_ENTRIES_PER_KPI, BENCH_LONG_JOURNAL, BENCH_PROBES; where the system runs with the BENCH_*
variables of bench/system.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import asyncpg
import psutil

from bench import population, scenarios
from bench.load import wrk_available
from bench.memory import wait_quiet
from bench.running import running
from bench.system import (
    REPO,
    Config,
    Services,
)

ALL = ("api_read", "journal_append", "score_visible", "lifecycle")


def _sizes(quick: bool) -> dict[str, Any]:
    env = os.environ
    full = {
        "people": 20_000,
        "contracts": 10_000,
        "rounds": 3,
        "seconds": 8.0,
        "entries_per_kpi": 5.0,
        "long_journal": 100_000,
        "probes": 100,
        "budget": 540.0,  # seconds: lifecycle rounds stop early rather than run past it
    }
    small = {
        "people": 2_000,
        "contracts": 1_000,
        "rounds": 2,
        "seconds": 3.0,
        "entries_per_kpi": 4.0,
        "long_journal": 10_000,
        "probes": 20,
        "budget": 300.0,
    }
    sizes = small if quick else full
    return {k: type(v)(env.get(f"BENCH_{k.upper()}", v)) for k, v in sizes.items()}


# The server's settings that move the figures: CI's PostgreSQL here runs with autovacuum off, so
# the dead rows of the outboxes and of score updates stay for the whole run (vacuuming between
# runs of the append load did not change its rate; see BENCHMARKS).
POSTGRESQL_SETTINGS = (
    "autovacuum",
    "fsync",
    "synchronous_commit",
    "shared_buffers",
    "max_connections",
)


async def postgresql_settings(pool: asyncpg.Pool) -> dict[str, str]:
    """The settings of POSTGRESQL_SETTINGS as the server reports them."""
    rows = await pool.fetch(
        "SELECT name, current_setting(name) AS value FROM pg_settings"
        " WHERE name = any($1::text[]) ORDER BY name",
        list(POSTGRESQL_SETTINGS),
    )
    return {row["name"]: row["value"] for row in rows}


def machine(config: Config) -> dict[str, Any]:
    """The machine and the versions the figures were measured with."""

    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    def command(*args: str, ok: tuple[int, ...] = (0,)) -> str | None:
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        text = (out.stdout or out.stderr).strip()
        return text.splitlines()[0] if out.returncode in ok and text else None

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": None,
        "rabbitmq": command("rabbitmqctl", "-q", "version"),
        "nginx": command("nginx", "-v"),
        "wrk": command("wrk", "-v", ok=(0, 1)) if wrk_available() else None,  # -v exits 1
        "packages": {
            p: version(p)
            for p in (
                "litestar",
                "asyncpg",
                "msgspec",
                "faststream",
                "aio-pika",
                "uvicorn",
                "uvloop",
                "httptools",
            )
        },
        "commit": command("git", "-C", str(REPO), "rev-parse", "--short", "HEAD"),
    }


def noise() -> dict[str, Any]:
    """How busy the machine is with other work right now (sampled before anything starts)."""
    busy = psutil.cpu_percent(interval=2.0)
    return {"cpu_busy_pct": busy, "loadavg": [round(x, 2) for x in os.getloadavg()]}


async def run(quick: bool, only: tuple[str, ...], out: Path, hold: bool = False) -> dict[str, Any]:
    config = Config.from_env()
    sizes = _sizes(quick)
    started, t0 = datetime.now(UTC), time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine(config),
        "noise_before": noise(),
        "sizes": sizes,
        "quick": quick,
    }
    timings: dict[str, float] = {}

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - since, 1)
        print(f"  {name}: {timings[name]:.1f}s", flush=True)
        return now

    async with running(config) as sut:
        services, gateway, pool, sampler = sut.services, sut.gateway, sut.pool, sut.sampler
        manager = sut.manager_token
        results["machine"]["postgresql"] = await pool.fetchval("SHOW server_version")
        results["machine"]["postgresql_settings"] = await postgresql_settings(pool)
        mark = lap("start", t0)
        people = await population.load_people(
            pool,
            sut.modules,
            sizes["people"],
            entries_per_kpi=sizes["entries_per_kpi"],
            long_journal=sizes["long_journal"],
        )
        results["data"] = {
            "people": len(people.people) + 2,
            "staff_kpis": people.staff_kpis,
            "journal_entries": people.entries,
            "load_s": round(people.seconds, 1),
            "long_journal": sizes["long_journal"],
        }
        mark = lap("load", mark)
        if hold:
            await _hold(config, services, people, manager)
            return results
        wait_quiet(3)
        sampler.sample()
        bench = scenarios.Bench(
            config=config,
            services=services,
            gateway=gateway,
            pool=pool,
            population=people,
            sampler=sampler,
            manager_token=manager,
            rounds=sizes["rounds"],
            seconds=sizes["seconds"],
            contracts=sizes["contracts"],
            probes=sizes["probes"],
            warmup=1.0 if quick else 2.0,
            deadline=t0 + sizes["budget"],
        )
        phases: list[str] = []
        if "api_read" in only:
            sampler.enter("api_read")
            phases.append("api_read")
            results["api_read"], results["api_read_gateway"] = await scenarios.api_read(bench)
            mark = lap("api_read", mark)
        if "journal_append" in only:
            sampler.enter("journal_append")
            phases.append("journal_append")
            results["journal_append"] = await scenarios.journal_append(bench)
            mark = lap("journal_append", mark)
        if "score_visible" in only:
            sampler.enter("score_visible")
            phases.append("score_visible")
            results["score_visible"] = await scenarios.score_visible(bench)
            mark = lap("score_visible", mark)
        if "lifecycle" in only:
            sampler.enter("lifecycle")
            phases.append("lifecycle")
            results["lifecycle"] = await scenarios.lifecycle(bench)
            mark = lap("lifecycle", mark)
        sampler.enter("after")
        results["memory"] = scenarios.memory(bench, phases)
    results["noise_after"] = noise()
    results["run"] = {
        "started_at": started.isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - t0, 1),
        "phases_s": timings,
        "gateway": gateway.kind,
        "roles": config.roles
        + (f", {config.api_workers} api workers" if config.roles == "split" else ""),
        "http_client": "wrk" if wrk_available() else "aiohttp",
    }
    out.write_text(json.dumps(results, indent=2, default=str) + "\n")  # noqa: ASYNC240 - once
    return results


async def _hold(
    config: Config, services: Services, people: population.Population, token: str
) -> None:
    """Keep the loaded system up for profiling until interrupted."""
    staff = people.targets[0]
    print(
        "\nThe system is up (Ctrl-C stops and drops it). Processes: "
        + ", ".join(f"{p.name} pid {p.pid} :{p.port}" for p in services.processes)
    )
    print(f"export TOKEN={token}")
    print(
        f'curl -H "Authorization: Bearer $TOKEN" '
        f"{config.base_url('assignment')}/api/v1/hr/staff/{staff.staff_id}/kpis"
    )
    paths = config.run_dir / "paths"
    paths.mkdir(parents=True, exist_ok=True)
    (paths / "read.txt").write_text(
        "".join(f"/api/v1/hr/staff/{p}/kpis\n" for p in people.people[:5000])
    )
    (paths / "append.txt").write_text(
        "".join(
            f"/api/v1/hr/staff/{t.staff_id}/kpis/{t.staff_kpi_id}/journal {t.score_type}\n"
            for t in people.targets[:5000]
        )
    )
    print(f"wrk paths in {paths}/read.txt and append.txt (bench/wrk/get.lua, append.lua)")
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.Event().wait()


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def table(results: dict[str, Any]) -> str:
    """The results as a plain-text table."""
    rows: list[tuple[str, str, str, str, str, str]] = []

    def add(
        name: str, figure: str, baseline: str, ratio: Any, target: str, met: dict[str, bool] | None
    ) -> None:
        ok = (
            "-"
            if not met
            else (
                "yes"
                if all(met.values())
                else "NO (" + ", ".join(k for k, v in met.items() if not v) + ")"
            )
        )
        rows.append((name, figure, baseline, _fmt(ratio, 2), target, ok))

    for name in ("api_read", "api_read_gateway"):
        r = results.get(name)
        if r:
            f, b = r["figures"], r["baseline"]
            add(
                name,
                f"{_fmt(f['rate'])} req/s p50 {_fmt(f['p50_ms'])} p99 {_fmt(f['p99_ms'])} ms",
                f"{_fmt(b['rate'])} q/s p99 {_fmt(b['p99_ms'])} ms",
                r["ratio"],
                f">= {r['targets']['ratio_min']}, p99 < 50 ms",
                r["met"],
            )
    r = results.get("lifecycle")
    if r:
        f, b = r["figures"], r["baseline"]
        add(
            "lifecycle",
            f"{_fmt(f['events_per_s'])} ev/s ({_fmt(f['kpi_rows_per_s'])} KPI rows/s); "
            f"committed {_fmt(f['committed_s'])} s, journaled {_fmt(f['journaled_s'])} s",
            f"{_fmt(b['consume_ack_per_s'])} msg/s; COPY {_fmt(b['copy_rows_per_s'])} rows/s",
            r["ratio"],
            ">= 0.3, journaled < 30 s",
            r["met"],
        )
    r = results.get("journal_append")
    if r:
        f, b = r["figures"], r["baseline"]
        add(
            "journal_append",
            f"{_fmt(f['rate'])} req/s p99 {_fmt(f['p99_ms'])} ms; "
            f"{_fmt(f['append_long_journal']['entries_before'])}-entry/10-entry append "
            f"{_fmt(f['long_over_short'], 2)}x",
            f"{_fmt(b['rate'])} tx/s p99 {_fmt(b['p99_ms'])} ms",
            r["ratio"],
            ">= 0.5, long <= 1.2x short",
            r["met"],
        )
    r = results.get("score_visible")
    if r:
        f, b = r["figures"], r["baseline"]
        add(
            "score_visible",
            f"p50 {_fmt(f['p50_ms'])} p99 {_fmt(f['p99_ms'])} ms",
            f"broker hop p50 {_fmt(b['p50_ms'], 2)} ms",
            r["ratio"],
            "p99 < 1000 ms",
            r["met"],
        )
    r = results.get("memory")
    if r:
        peaks = ", ".join(f"{k} {_fmt(v['peak_mb'])}" for k, v in r["figures"].items())
        idles = ", ".join(f"{k} {_fmt(v['idle_mb'])}" for k, v in r["baseline"].items())
        add("memory (MiB)", f"peak {peaks}", f"idle {idles}", r["ratio"], "< 150 MiB", r["met"])
    widths = [
        max(
            len(row[i])
            for row in [("measure", "figure", "baseline", "ratio", "target", "met"), *rows]
        )
        for i in range(6)
    ]
    header = ("measure", "figure", "baseline", "ratio", "target", "met")
    lines = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, short rounds")
    parser.add_argument("--only", default=",".join(ALL), help=f"comma-separated of {ALL}")
    parser.add_argument("--out", default=str(REPO / "bench" / "results.json"))
    parser.add_argument(
        "--hold", action="store_true", help="load the data, then keep the system up (profiling)"
    )
    args = parser.parse_args(argv)
    only = tuple(x for x in args.only.split(",") if x)
    # SIGTERM stops the run as Ctrl-C does: the processes it started are stopped, its database
    # and vhost dropped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        results = _run_loop(run(args.quick, only, Path(args.out), args.hold))
    except KeyboardInterrupt:
        # The event loop's close has already run the clean-up; a traceback would only hide that.
        print("\nbench: stopped; its processes, database and vhost are gone", file=sys.stderr)
        return 0 if args.hold else 130
    if args.hold:
        return 0
    print()
    print(table(results))
    print(
        f"\nmachine: {results['machine']['cores']} cores, {results['machine']['memory_gib']} GiB; "
        f"busy with other work: {results['noise_before']['cpu_busy_pct']}% before, "
        f"{results['noise_after']['cpu_busy_pct']}% after; run took {results['run']['seconds']} s"
    )
    print(f"wrote {args.out}")
    return 0


def _run_loop(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


if __name__ == "__main__":
    sys.exit(main())
