"""`kpi`: serve a service in a role, migrate, upgrade the broker, sign dev tokens, run commands."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import uuid
from collections.abc import Sequence
from typing import Any

from kpi_contracts.names import KPI_UNROUTED
from kpi_kit.auth import issue_token
from kpi_kit.db import ensure_database
from kpi_kit.migrations import apply_migrations
from kpi_kit.observability import configure_logging
from kpi_kit.service import Runtime, ServiceDefinition, create_app
from kpi_kit.settings import InsecureSettings, Settings

SERVICES = ("catalog", "assignment", "journal")


def definition_of(service: str) -> ServiceDefinition:
    """The ServiceDefinition a service package exports from `<service>.app`."""
    module = importlib.import_module(f"{service}.app")
    found: ServiceDefinition = module.definition()
    return found


def available_services() -> list[str]:
    """The services installed in this environment (an image may carry only some)."""
    found = []
    for service in SERVICES:
        try:
            definition_of(service)
        except ModuleNotFoundError:
            continue
        found.append(service)
    return found


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kpi", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run a service")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--role", choices=("api", "worker", "all"), default="all")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None, help="default: <SERVICE>_PORT")
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="HTTP processes (--role api only; default KPI_WEB_WORKERS for the api role, else 1)",
    )

    migrate = commands.add_parser("migrate", help="create the database and apply migrations")
    migrate.add_argument("service", choices=(*SERVICES, "all"))

    token = commands.add_parser("token", help="print a signed token (dev)")
    token.add_argument("--role", choices=("hr_admin", "manager", "staff"), required=True)
    token.add_argument("--staff-id", type=uuid.UUID, default=None)
    token.add_argument("--sub", default=None)

    dlq = commands.add_parser(
        "dlq", help=f"list, show or replay dead-lettered messages (and those in {KPI_UNROUTED})"
    )
    dlq.add_argument("action", choices=("list", "show", "replay"))
    dlq.add_argument("queue", nargs="?", help=f"a DLQ name or {KPI_UNROUTED} (show, replay)")
    dlq.add_argument(
        "--limit",
        type=int,
        default=None,
        help="how many: show 20, replay every message parked when it starts, unless given",
    )

    broker = commands.add_parser("broker", help="bring the broker's topology up to date")
    broker.add_argument("action", choices=("upgrade",))

    commands.add_parser("services", help="list the services installed here")
    commands.add_parser("check-deps", help="exit 1 naming PostgreSQL/RabbitMQ if unreachable")

    run = commands.add_parser("run", help="run one of a service's commands (e.g. catalog snapshot)")
    run.add_argument("service", choices=SERVICES)
    run.add_argument("name")
    return parser


async def migrate(services: Sequence[str]) -> None:
    """Create each service's database if needed and apply its migrations."""
    for service in services:
        settings = Settings.from_env(service)
        await ensure_database(settings.database_url)
        applied = await apply_migrations(
            settings.database_url, service, definition_of(service).migrations
        )
        print(f"{service}: {len(applied)} migration(s) applied {applied}")


def web_workers(role: str, asked: int | None, configured: str | None) -> int:
    """How many HTTP processes serve: `--workers` as asked, else KPI_WEB_WORKERS for the api role.

    The setting is shared configuration (a ConfigMap, compose's common environment) that worker
    and `all` processes read as well: they ignore it rather than refuse to start.
    """
    if asked is not None:
        return asked
    if role != "api" or not configured:
        return 1
    if not configured.isdigit() or int(configured) < 1:
        raise SystemExit(f"KPI_WEB_WORKERS must be a whole number of processes, not {configured!r}")
    return int(configured)


def serve(service: str, role: str, host: str, port: int | None, workers: int = 1) -> None:
    """Run one service in one role under uvicorn, in `workers` processes (api role only)."""
    import uvicorn

    if workers > 1 and role != "api":
        # A worker role's relay publishes the outbox in order; two relays would interleave.
        raise SystemExit("several worker processes serve only --role api")
    try:  # a refused setting is one line for the operator, not a traceback
        settings = Settings.from_env(service)
        settings.check_safe_for_env()
    except (ValueError, InsecureSettings) as exc:
        raise SystemExit(f"kpi serve {service}: {exc}") from None
    configure_logging(service)
    options: dict[str, Any] = {
        "host": host,
        "port": port or settings.port,
        "loop": "uvloop",
        "http": "httptools",
        "access_log": False,
        "log_level": "info",
        "timeout_graceful_shutdown": 10,
        "log_config": None,
    }
    if workers > 1:
        serve_in_processes(service, role, options, workers)
        return
    app = create_app(definition_of(service), settings, role)  # type: ignore[arg-type]
    settle_heap()
    uvicorn.run(app, **options)


# Objects a service allocates (tracked by the collector) minus those it freed, before the
# youngest generation is collected; Python's default is 700.
GC_YOUNG_THRESHOLD = 10_000


def settle_heap() -> None:
    """Take what start-up built out of the cyclic collector's sight, and collect less often.

    Under 50 concurrent reads the default threshold collected the youngest generation every ~30
    requests; each collection moved the objects of the requests in flight to older generations,
    which so filled up that the whole heap (imports, app, routes: ~85,000 objects) was collected
    about once a second, stalling the event loop 40-60 ms each time (a p99 of its own), and the
    collector took 6 % of the CPU. Frozen, start-up objects are never scanned again; requests
    leave next to no garbage cycles behind (refcounting frees them), so at this threshold a read
    load ran 10 s without a single collection.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def serve_in_processes(service: str, role: str, options: dict[str, Any], workers: int) -> None:
    """Serve in `workers` processes, each accepting on a listening socket of its own.

    uvicorn's `--workers` has its processes accept from one shared socket, and whichever is
    idle at that instant wins: 50 keep-alive connections once landed 41 / 9. With a socket per
    process bound with SO_REUSEPORT the kernel spreads connections by their addresses instead,
    as a Kubernetes Service spreads them over pods (docs/BENCHMARKS.md has the figures). When
    one process exits, the others are stopped and its exit code is ours: the supervisor
    (Kubernetes, compose, the bench) restarts the lot.
    """
    spawn = multiprocessing.get_context("spawn")
    children = [
        spawn.Process(target=_serve_one_of_several, args=(service, role, options), daemon=False)
        for _ in range(workers)
    ]
    for child in children:
        child.start()
    asked_to_stop = False

    def stop(signum: int, frame: object) -> None:
        nonlocal asked_to_stop
        asked_to_stop = True
        _terminate(children)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    by_sentinel = {child.sentinel: child for child in children}
    # A sentinel is ready when the process has closed its files, a moment before it can be
    # reaped: join it for its exit code.
    first_gone = by_sentinel[multiprocessing.connection.wait(list(by_sentinel))[0]]  # type: ignore[index]
    first_gone.join()
    _terminate(children)
    for child in children:
        child.join()
    if not asked_to_stop:  # a process ended on its own: fail, so that the supervisor restarts us
        code = first_gone.exitcode
        raise SystemExit(code if code and code > 0 else 1)


def _terminate(children: Sequence[multiprocessing.process.BaseProcess]) -> None:
    for child in children:
        if child.is_alive():
            child.terminate()  # SIGTERM: uvicorn finishes the requests in flight


def _serve_one_of_several(service: str, role: str, options: dict[str, Any]) -> None:
    """One of `serve_in_processes`' processes: its own socket on the shared port, its own app."""
    import uvicorn

    configure_logging(service)
    listening = reuse_port_socket(options["host"], options["port"])
    app = create_app(definition_of(service), Settings.from_env(service), role)  # type: ignore[arg-type]
    settle_heap()
    config = {k: v for k, v in options.items() if k not in ("host", "port")}
    uvicorn.Server(uvicorn.Config(app, **config)).run(sockets=[listening])


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port) that other processes may bind as well."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    listening = socket.socket(family, kind, proto)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    listening.bind(address)
    listening.listen(2048)  # uvicorn's backlog
    return listening


async def run_command(service: str, name: str) -> str:
    """Start a service's runtime without serving it and run one of its commands."""
    from kpi_kit.service import runtime_started

    definition = definition_of(service)
    command = definition.commands.get(name)
    if command is None:
        raise SystemExit(f"{service} has no command {name!r}; it has {sorted(definition.commands)}")
    settings = Settings.from_env(service)
    from kpi_kit.broker import make_broker
    from kpi_kit.outbox import Outbox

    runtime = Runtime(settings, Outbox(service), make_broker(settings))
    async with runtime_started(definition, runtime, runs_worker=False):
        return await command(runtime)


async def check_deps() -> list[str]:
    """What of PostgreSQL and RabbitMQ does not answer at the configured addresses."""
    import aio_pika
    import asyncpg

    from kpi_kit.db import with_database

    missing = []
    # Each service may have a server of its own (CATALOG_DATABASE_URL, ...): each is checked once.
    servers = {
        with_database(Settings.from_env(service).database_url, "postgres")
        for service in available_services()
    }
    for server in sorted(servers):
        try:
            conn = await asyncpg.connect(server, timeout=3)
            await conn.close()
        except Exception as exc:
            missing.append(f"PostgreSQL at {_safe(server)} ({type(exc).__name__})")
    settings = Settings.from_env("catalog")
    try:
        amqp = await asyncio.wait_for(aio_pika.connect(settings.amqp_url), 5)
        await amqp.close()
    except Exception as exc:
        missing.append(f"RabbitMQ at {_safe(settings.amqp_url)} ({type(exc).__name__})")
    return missing


def _safe(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}"


async def dead_letters(action: str, queue: str | None, limit: int | None = None) -> str:
    """Carry out `kpi dlq ...` and say what was found or done. `limit` None: show 20, replay
    every message parked when the replay starts (one parked again meanwhile is not taken twice)."""
    import aio_pika

    from kpi_kit import dlq

    amqp_url = Settings.from_env("catalog").amqp_url
    if action == "list":
        consumer_queues = [q for s in available_services() for q in definition_of(s).bindings]
        parking = [*dlq.dead_letter_queues(consumer_queues), KPI_UNROUTED]
        found = await dlq.counts(amqp_url, parking)
        return "\n".join(f"{name:32} {'-' if n is None else n}" for name, n in found.items())
    if queue is None:
        raise SystemExit(f"kpi dlq {action} needs a queue name (see kpi dlq list)")
    # A consumer's own queue would have its live messages taken (and, on replay, sent nowhere).
    if not queue.endswith(".dlq") and queue != KPI_UNROUTED:
        raise SystemExit(f"kpi dlq {action}: {queue} is not a dead-letter queue (see kpi dlq list)")
    parked = (await dlq.counts(amqp_url, [queue]))[queue]
    if parked is None:
        raise SystemExit(f"kpi dlq {action}: the broker has no queue {queue} (see kpi dlq list)")
    if action == "show":
        letters = await dlq.show(amqp_url, queue, 20 if limit is None else limit)
        return (
            "\n\n".join(
                f"message_id: {d.message_id}\nreason: {d.reason}\n"
                f"from: {d.original_exchange} / {d.original_routing_key} at {d.dead_lettered_at}\n"
                f"body: {d.body_preview}"
                for d in letters
            )
            or f"{queue} is empty"
        )
    try:
        replayed = await dlq.replay(amqp_url, queue, parked if limit is None else limit)
    except aio_pika.exceptions.AMQPError as exc:  # e.g. a route no queue is bound to yet
        left = (await dlq.counts(amqp_url, [queue]))[queue]
        raise SystemExit(
            f"kpi dlq replay: stopped at a message the broker would not take ({exc!r}); it stays"
            f" parked with the ones after it ({left} in {queue}): see kpi dlq show {queue}"
        ) from exc
    left = (await dlq.counts(amqp_url, [queue]))[queue]
    return f"replayed {replayed} message(s) from {queue}; {left} parked there now"


async def upgrade_broker() -> str:
    """Carry out `kpi broker upgrade` for the services installed here and say what changed."""
    from kpi_kit.broker_upgrade import upgrade_topology

    amqp_url = Settings.from_env("catalog").amqp_url
    services = [definition_of(service) for service in available_services()]
    changes = await upgrade_topology(amqp_url, services)
    return "\n".join(changes) or "the broker's topology is up to date"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `kpi`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = _parser().parse_args(argv)
    if args.command == "serve":
        workers = web_workers(args.role, args.workers, os.environ.get("KPI_WEB_WORKERS"))
        serve(args.service, args.role, args.host, args.port, workers)
    elif args.command == "migrate":
        asyncio.run(migrate(available_services() if args.service == "all" else [args.service]))
    elif args.command == "token":
        settings = Settings.from_env("catalog")
        if settings.env == "prod":  # tokens come from the identity provider there
            raise SystemExit("kpi token signs development tokens: refused when KPI_ENV=prod")
        roles = [args.role]
        sub = args.sub or f"cli-{args.role}"
        token, _ = issue_token(settings.jwt_secret, sub=sub, roles=roles, staff_id=args.staff_id)
        sys.stdout.write(token + "\n")
    elif args.command == "dlq":
        sys.stdout.write(asyncio.run(dead_letters(args.action, args.queue, args.limit)) + "\n")
    elif args.command == "broker":
        sys.stdout.write(asyncio.run(upgrade_broker()) + "\n")
    elif args.command == "services":
        sys.stdout.write(" ".join(available_services()) + "\n")
    elif args.command == "check-deps":
        missing = asyncio.run(check_deps())
        for item in missing:
            sys.stderr.write(f"not reachable: {item}\n")
        return 1 if missing else 0
    elif args.command == "run":
        sys.stdout.write(asyncio.run(run_command(args.service, args.name)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
