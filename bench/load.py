"""Load generators: wrk for HTTP (a C process, so the client does not steal a core from the server),
aiohttp as the fallback where wrk is missing, and one closed-loop driver for the raw baselines.

Every load is bounded in time, targets 127.0.0.1 only, and reports the same `Throughput`.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

WRK_DIR = Path(__file__).resolve().parent / "wrk"


@dataclass(frozen=True)
class Throughput:
    """One round of a closed-loop load: how many operations, how fast, how long each took."""

    ops: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int = 0
    cpu_ms_per_op: float | None = None  # CPU the system under test spent per operation
    # CPU PostgreSQL and RabbitMQ spent per operation (bench.memory.server_cpu_seconds)
    server_cpu_ms_per_op: dict[str, float] | None = None

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.ops / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        """The round as plain values."""
        return {**asdict(self), "rate": round(self.rate, 1)}


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median_round(rounds: Sequence[Throughput]) -> Throughput:
    """The round whose rate is the median (its own latencies come with it)."""
    ordered = sorted(rounds, key=lambda r: r.rate)
    return ordered[len(ordered) // 2]


def median(values: Sequence[float]) -> float:
    """The median, 0 for none."""
    return statistics.median(values) if values else 0.0


def wrk_available() -> bool:
    """Whether the wrk load generator is installed."""
    return shutil.which("wrk") is not None


# ---------------------------------------------------------------- HTTP load


@dataclass(frozen=True)
class HttpLoad:
    """A closed-loop HTTP load: random targets from `lines`, `connections` at once."""

    base_url: str
    script: str  # "get" or "append"
    lines: Sequence[str]
    token: str
    connections: int = 50
    seconds: float = 10.0


def run_http(load: HttpLoad) -> Throughput:
    """Run one round with wrk, or with aiohttp where wrk is not installed."""
    if wrk_available() and os.environ.get("BENCH_HTTP_CLIENT", "wrk") == "wrk":
        return _run_wrk(load)
    return asyncio.run(_run_aiohttp(load))


def _run_wrk(load: HttpLoad) -> Throughput:
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(load.lines) + "\n")
        paths = f.name
    try:
        env = {
            **os.environ,
            "BENCH_PATHS": paths,
            "BENCH_TOKEN": load.token,
            "BENCH_WRK_DIR": str(WRK_DIR),
        }
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{load.connections}",
                f"-d{load.seconds:.0f}s",
                "--timeout",
                "10s",
                "-s",
                str(WRK_DIR / f"{load.script}.lua"),
                load.base_url,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=load.seconds + 60,
            check=True,
        ).stdout
    finally:
        os.unlink(paths)
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    r = json.loads(line.removeprefix("BENCH_JSON "))
    errors = sum(r[k] for k in r if k.startswith("errors_"))
    return Throughput(
        ops=r["requests"] - r["errors_status"],
        seconds=r["duration_us"] / 1e6,
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        errors=errors,
    )


def _request_of(load: HttpLoad) -> Callable[[], tuple[str, str, bytes | None]]:
    if load.script == "get":
        return lambda: ("GET", random.choice(load.lines), None)

    def append() -> tuple[str, str, bytes | None]:
        path, kind = random.choice(load.lines).split()
        score = 1 + random.random() * 4 if kind == "rating" else 40 + random.random() * 60
        body = json.dumps(
            {
                "entry_type": "score_update",
                "title": "Monthly check-in",
                "content": "Talked through the month.",
                "score": round(score, 1),
            }
        )
        return "POST", path, body.encode()

    return append


async def _run_aiohttp(load: HttpLoad) -> Throughput:
    import aiohttp

    make = _request_of(load)
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {load.token}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=load.connections)
    async with aiohttp.ClientSession(load.base_url, connector=connector, headers=headers) as s:
        deadline = time.perf_counter() + load.seconds

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                method, path, body = make()
                t0 = time.perf_counter()
                async with s.request(method, path, data=body) as answer:
                    await answer.read()
                    if answer.status >= 400:
                        errors += 1
                        continue
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(load.connections)))
        elapsed = time.perf_counter() - start
    return Throughput(
        ops=len(latencies),
        seconds=elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=errors,
    )


# ---------------------------------------------------------------- raw baselines


async def closed_loop(
    operation: Callable[[], Awaitable[object]], *, concurrency: int, seconds: float
) -> Throughput:
    """Run `operation` from `concurrency` tasks back to back for `seconds`."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                await operation()
            except Exception:
                errors += 1
                continue
            latencies.append(time.perf_counter() - t0)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Throughput(
        ops=len(latencies),
        seconds=elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=errors,
        cpu_ms_per_op=round(cpu * 1000 / len(latencies), 3) if latencies else None,
    )
