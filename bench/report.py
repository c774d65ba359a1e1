"""`python -m bench.report RESULTS DOC`: write the last run's table into docs/BENCHMARKS.md.

The table goes between the `<!-- results:begin -->` and `<!-- results:end -->` markers; the rest
of the document (method, changes, scaling) is prose kept by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def _n(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _servers(cpu: dict[str, float] | None, per: str) -> str:
    """What PostgreSQL and RabbitMQ spent, as '; PostgreSQL 0.31, RabbitMQ 0.12 ms CPU/append'."""
    if not cpu:
        return ""
    return (
        f"; PostgreSQL {_n(cpu.get('postgresql'), 2)}, RabbitMQ {_n(cpu.get('rabbitmq'), 2)} "
        f"ms CPU/{per}"
    )


def _services(cpu: dict[str, float] | None) -> str:
    """What assignment and the journal spent per contract, when the run measured it."""
    if not cpu or "assignment" not in cpu:
        return ""
    return (
        f"; assignment {_n(cpu['assignment'], 2)}, journal {_n(cpu.get('journal'), 2)} "
        f"ms CPU/contract"
    )


def _met(met: dict[str, bool] | None) -> str:
    if not met:
        return "-"
    missed = [k for k, v in met.items() if not v]
    return "met" if not missed else "**not met** (" + ", ".join(missed) + ")"


def markdown(r: dict[str, Any]) -> str:
    """The results of one run as a Markdown section."""
    m = r["machine"]
    lines = [
        f"Run of {r['run']['started_at']} (commit `{m.get('commit')}`), "
        f"{r['run']['seconds']:.0f} s in all{' — quick sizes' if r.get('quick') else ''}.",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB; Linux {m['kernel']}; "
        f"Python {m['python']}; PostgreSQL {m['postgresql']}; RabbitMQ {m['rabbitmq']}; "
        f"{m['nginx']}; load generator {r['run']['http_client']} ({m.get('wrk') or '-'}).",
        "PostgreSQL settings: "
        + (", ".join(f"{k} {v}" for k, v in m.get("postgresql_settings", {}).items()) or "-")
        + ".",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items() if v) + ".",
        f"Other work on the machine (CPU busy before the run / after it): "
        f"{r['noise_before']['cpu_busy_pct']}% / {r['noise_after']['cpu_busy_pct']}%, "
        f"load average {r['noise_before']['loadavg'][0]} / {r['noise_after']['loadavg'][0]}.",
        f"Data: {_n(r['data']['people'])} people, {_n(r['data']['staff_kpis'])} staff KPIs, "
        f"{_n(r['data']['journal_entries'])} journal entries (one journal of "
        f"{_n(r['data']['long_journal'])}), loaded in {r['data']['load_s']} s; "
        f"services run as `{r['run']['roles']}`, gateway from {r['run']['gateway']}.",
        "",
        "| measure | figure (median round) | raw baseline (same run) | ratio | target | |",
        "|---|---|---|---|---|---|",
    ]
    for name in ("api_read", "api_read_gateway"):
        x = r.get(name)
        if x:
            f, b = x["figures"], x["baseline"]
            lines.append(
                f"| {name} | {_n(f['rate'])} req/s, p50 {_n(f['p50_ms'])} ms, p99 "
                f"{_n(f['p99_ms'])} ms; {_n(f.get('cpu_ms_per_request'), 2)} ms CPU/request"
                f"{_servers(f.get('server_cpu_ms_per_request'), 'request')} | "
                f"{_n(b['rate'])} queries/s, p99 {_n(b['p99_ms'])} ms; "
                f"{_n(b.get('cpu_ms_per_request'), 2)} ms CPU/query (the harness)"
                f"{_servers(b.get('server_cpu_ms_per_request'), 'query')} | "
                f"{_n(x['ratio'], 2)} | ≥ {x['targets']['ratio_min']}, p99 < 50 ms | "
                f"{_met(x['met'])} |"
            )
    x = r.get("lifecycle")
    if x:
        f, b = x["figures"], x["baseline"]
        lines.append(
            f"| lifecycle ({_n(f['contracts'])} contracts) | {_n(f['events_per_s'])} events/s, "
            f"{_n(f['kpi_rows_per_s'])} KPI rows/s; all KPIs committed in "
            f"{_n(f['committed_s'])} s, "
            f"all journaled in {_n(f['journaled_s'])} s{_services(f.get('cpu_ms_per_contract'))}"
            f"{_servers(f.get('cpu_ms_per_contract'), 'contract')} | consume-and-ack "
            f"{_n(b['consume_ack_per_s'])} msg/s"
            f"{_servers(b.get('server_cpu_ms_per_message'), 'message')}; "
            f"COPY {_n(b['copy_rows_per_s'])} rows/s | "
            f"{_n(x['ratio'], 2)} (KPI rows vs COPY {_n(x.get('kpi_rows_ratio'), 3)}) | "
            f"≥ 0.3, journaled < 30 s | {_met(x['met'])} |"
        )
    x = r.get("journal_append")
    if x:
        f, b = x["figures"], x["baseline"]
        s, lj = f["append_10_entries"], f["append_long_journal"]
        lines.append(
            f"| journal_append | {_n(f['rate'])} req/s, p99 {_n(f['p99_ms'])} ms; one append: "
            f"{_n(s['p50_ms'], 2)} ms on {_n(s['entries_before'])} entries, "
            f"{_n(lj['p50_ms'], 2)} ms "
            f"on {_n(lj['entries_before'])} ({_n(f['long_over_short'], 2)}x); "
            f"{_n(f.get('cpu_ms_per_request'), 2)} ms CPU/append across the services"
            f"{_servers(f.get('server_cpu_ms_per_request'), 'append')} | "
            f"{_n(b['rate'])} insert transactions/s, p99 {_n(b['p99_ms'])} ms"
            f"{_servers(b.get('server_cpu_ms_per_request'), 'transaction')} | "
            f"{_n(x['ratio'], 2)} | ≥ 0.5, long ≤ 1.2x short | {_met(x['met'])} |"
        )
    x = r.get("score_visible")
    if x:
        f, b = x["figures"], x["baseline"]
        lines.append(
            f"| score_visible ({f['probes']} appends) | p50 {_n(f['p50_ms'])} ms, p99 "
            f"{_n(f['p99_ms'])} ms{_from_request(f)} | one broker hop p50 "
            f"{_n(b['p50_ms'], 2)} ms, p99 {_n(b['p99_ms'], 2)} ms | {_n(x['ratio'], 1)} hops | "
            f"p99 < 1 s | {_met(x['met'])} |"
        )
    x = r.get("memory")
    if x:
        peaks = ", ".join(f"{k} {_n(v['peak_mb'])}" for k, v in x["figures"].items())
        idle = ", ".join(f"{k} {_n(v['idle_mb'])}" for k, v in x["baseline"].items())
        lines.append(
            f"| memory (MiB RSS) | peak under load: {peaks} | idle: {idle} | "
            f"{_n(x['ratio'], 2)} | < 150 MiB each | {_met(x['met'])} |"
        )
    return "\n".join(lines)


def write(results: Path, doc: Path) -> None:
    """Replace the results section of the document with the run in `results`."""
    section = markdown(json.loads(results.read_text()))
    text = doc.read_text() if doc.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{section}\n{END}{tail}")


def _from_request(figures: dict[str, Any]) -> str:
    """The time from the append's request to the score shown, where a run measured it."""
    if "from_request_p50_ms" not in figures:
        return ""
    return (
        f" (from the request: p50 {_n(figures['from_request_p50_ms'])} ms, "
        f"p99 {_n(figures['from_request_p99_ms'])} ms)"
    )


if __name__ == "__main__":
    write(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"wrote the results table into {sys.argv[2]}")
