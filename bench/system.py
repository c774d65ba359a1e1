"""The system under test: its own database, vhost, service processes and gateway.

Everything here is isolated from `make run` and the tests: the database `kpi_bench` and the vhost
`kpi_bench` are dropped and recreated on every run, and the services listen on ports 29001-29003
(gateway 29080). Only processes started here are ever stopped, by their own pid.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

REPO = Path(__file__).resolve().parent.parent
SERVICES = ("catalog", "assignment", "journal")
WORKER_PORT_OFFSET = 100


@dataclass(frozen=True)
class Config:
    """Where the benchmark runs and with what; every field has an environment override."""

    pg_server: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    amqp_server: str = "amqp://guest:guest@127.0.0.1:5672/"
    database: str = "kpi_bench"
    vhost: str = "kpi_bench"
    ports: dict[str, int] = field(
        default_factory=lambda: {"catalog": 29001, "assignment": 29002, "journal": 29003}
    )
    gateway_port: int = 29080
    kpi_bin: str = str(REPO / ".venv" / "bin" / "kpi")
    run_dir: Path = REPO / "bench" / "tmp"
    # "all": one process per service; "split": an api and a worker process per service.
    roles: str = "all"
    api_workers: int = 1  # uvicorn processes of each api process (with roles "split")
    pool_max: int = 10
    jwt_secret: str = "dev-only-secret-change-me"
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> Config:
        """The defaults, overridden by BENCH_* variables."""
        env = os.environ
        base = cls()
        return cls(
            pg_server=env.get("BENCH_PG_URL", base.pg_server),
            amqp_server=env.get("BENCH_AMQP_URL", base.amqp_server),
            database=env.get("BENCH_DATABASE", base.database),
            vhost=env.get("BENCH_VHOST", base.vhost),
            ports={s: int(env.get(f"BENCH_{s.upper()}_PORT", p)) for s, p in base.ports.items()},
            gateway_port=int(env.get("BENCH_GATEWAY_PORT", base.gateway_port)),
            kpi_bin=env.get("BENCH_KPI_BIN", base.kpi_bin),
            run_dir=Path(env.get("BENCH_RUN_DIR", str(base.run_dir))),
            roles=env.get("BENCH_ROLES", base.roles),
            api_workers=int(env.get("BENCH_API_WORKERS", base.api_workers)),
            pool_max=int(env.get("KPI_DB_POOL_MAX", base.pool_max)),
        )

    @property
    def database_url(self) -> str:
        """The benchmark's own database."""
        return _with_path(self.pg_server, self.database)

    @property
    def amqp_url(self) -> str:
        """The benchmark's own vhost."""
        return _with_path(self.amqp_server, quote(self.vhost, safe=""))

    def base_url(self, service: str) -> str:
        """Where a service's API answers."""
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def gateway_url(self) -> str:
        """Where the gateway answers."""
        return f"http://127.0.0.1:{self.gateway_port}"

    def service_env(self) -> dict[str, str]:
        """The environment every service process of the benchmark gets."""
        env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
        env.update(
            KPI_ENV="dev",
            KPI_DATABASE_URL=self.database_url,
            KPI_AMQP_URL=self.amqp_url,
            KPI_JWT_SECRET=self.jwt_secret,
            KPI_DB_POOL_MAX=str(self.pool_max),
            **{f"{s.upper()}_PORT": str(p) for s, p in self.ports.items()},
        )
        env.update(self.extra_env)
        return env


def _with_path(url: str, path: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + path))


# ---------------------------------------------------------------- database and vhost


async def recreate_database(config: Config) -> None:
    """Drop the benchmark database (disconnecting whoever holds it) and create it empty."""
    if not config.database.startswith("kpi_bench"):
        raise SystemExit(f"refusing to drop {config.database!r}: not a kpi_bench database")
    conn = await asyncpg.connect(config.pg_server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{config.database}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{config.database}"')
    finally:
        await conn.close()


async def drop_database(config: Config) -> None:
    """Drop the benchmark database."""
    conn = await asyncpg.connect(config.pg_server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{config.database}" WITH (FORCE)')
    finally:
        await conn.close()


def _rabbitmqctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    if not Path(ctl).exists():
        raise SystemExit("rabbitmqctl not found: the benchmark makes its own vhost with it")
    return subprocess.run([ctl, "-q", *args], check=check, capture_output=True, timeout=120)


def recreate_vhost(config: Config) -> None:
    """Delete the benchmark vhost (with its queues) and add it again for guest."""
    if config.vhost in ("/", ""):
        raise SystemExit("refusing to touch the default vhost")
    _rabbitmqctl("delete_vhost", config.vhost, check=False)
    _rabbitmqctl("add_vhost", config.vhost)
    user = urlsplit(config.amqp_server).username or "guest"
    _rabbitmqctl("set_permissions", "-p", config.vhost, user, ".*", ".*", ".*")


def drop_vhost(config: Config) -> None:
    """Delete the benchmark vhost."""
    if config.vhost not in ("/", ""):
        _rabbitmqctl("delete_vhost", config.vhost, check=False)


def migrate(config: Config) -> None:
    """Apply every service's migrations to the benchmark database (`kpi migrate all`)."""
    subprocess.run(
        [config.kpi_bin, "migrate", "all"],
        env=config.service_env(),
        check=True,
        capture_output=True,
        timeout=300,
    )


# ---------------------------------------------------------------- processes


@dataclass
class Process:
    """One process the benchmark started."""

    name: str
    service: str
    port: int
    popen: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        """Its pid."""
        return self.popen.pid


class Services:
    """The three services as real `kpi serve` processes on the benchmark's ports."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.processes: list[Process] = []
        self.logs = config.run_dir / "logs"

    def start(self, services: tuple[str, ...] = SERVICES) -> None:
        """Start each service in the configured roles, in order, each once the one before is
        ready: a replica's snapshot request published before the catalog's queue exists would
        be unroutable (it parks in hr.kpi.unrouted and the replica stays empty)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        for service in services:
            port = self.config.ports[service]
            if self.config.roles == "split":
                started = [
                    self._start_one(
                        f"{service}-api", service, "api", port, self.config.api_workers
                    ),
                    self._start_one(
                        f"{service}-worker", service, "worker", port + WORKER_PORT_OFFSET
                    ),
                ]
            else:
                started = [self._start_one(service, service, "all", port)]
            for process in started:
                _wait_ready(process, self.logs / f"{process.name}.log")

    def _start_one(
        self, name: str, service: str, role: str, port: int, workers: int = 1
    ) -> Process:
        _refuse_busy_port(port)
        log = (self.logs / f"{name}.log").open("ab")
        command = [self.config.kpi_bin, "serve", service, "--role", role, "--port", str(port)]
        if workers > 1:
            command += ["--workers", str(workers)]
        popen = subprocess.Popen(
            command,
            env=self.config.service_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(name, service, port, popen)
        self.processes.append(process)
        return process

    def of(self, service: str) -> list[Process]:
        """The processes of one service."""
        return [p for p in self.processes if p.service == service]

    def stop(self) -> None:
        """Stop exactly the processes started here: SIGTERM, then SIGKILL after 15 s."""
        for process in self.processes:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for process in self.processes:
            try:
                process.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait(5)
        self.processes.clear()

    def check_alive(self) -> None:
        """Fail loudly when a service process died under load."""
        for process in self.processes:
            if process.popen.poll() is not None:
                raise RuntimeError(
                    f"{process.name} exited with {process.popen.returncode}; "
                    f"see {self.logs / (process.name + '.log')}"
                )


def _refuse_busy_port(port: int) -> None:
    import socket

    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"port {port} is busy: is another benchmark running?")


def _wait_ready(process: Process, log: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{process.port}/health/ready"
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited at start-up; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"{process.name} not ready after {timeout:.0f}s; see {log}")


# ---------------------------------------------------------------- gateway


class Gateway:
    """nginx in front of the services: the frontend's launcher when present, else ours."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.dir = config.run_dir / "gateway"
        self.launcher = REPO / "deploy" / "gateway" / "gateway.sh"
        self._popen: subprocess.Popen[bytes] | None = None
        self.kind = "deploy/gateway" if self.launcher.exists() else "bench/gateway.conf"

    def _env(self) -> dict[str, str]:
        c = self.config
        return {
            **os.environ,
            "KPI_ENV": "dev",
            "KPI_GATEWAY_PORT": str(c.gateway_port),
            "KPI_GATEWAY_RUN_DIR": str(self.dir),
            "CATALOG_UPSTREAM": f"127.0.0.1:{c.ports['catalog']}",
            "ASSIGNMENT_UPSTREAM": f"127.0.0.1:{c.ports['assignment']}",
            "JOURNAL_UPSTREAM": f"127.0.0.1:{c.ports['journal']}",
            "CONTRACT_SIM_UPSTREAM": "127.0.0.1:29009",
        }

    def start(self) -> None:
        """Start nginx on the benchmark's gateway port."""
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise SystemExit("nginx is not installed (apt-get install -y nginx)")
        _refuse_busy_port(self.config.gateway_port)
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.kind == "deploy/gateway":
            subprocess.run(
                [str(self.launcher), "start"],
                env=self._env(),
                check=True,
                capture_output=True,
                timeout=30,
            )
        else:
            conf = self.dir / "nginx.conf"
            template = (REPO / "bench" / "gateway.conf").read_text()
            conf.write_text(
                template.replace("@DIR@", str(self.dir))
                .replace("@PORT@", str(self.config.gateway_port))
                .replace("@CATALOG@", str(self.config.ports["catalog"]))
                .replace("@ASSIGNMENT@", str(self.config.ports["assignment"]))
                .replace("@JOURNAL@", str(self.config.ports["journal"]))
            )
            (self.dir / "logs").mkdir(exist_ok=True)
            self._popen = subprocess.Popen(
                [
                    nginx,
                    "-p",
                    f"{self.dir}/",
                    "-c",
                    str(conf),
                    "-e",
                    str(self.dir / "error.log"),
                    "-g",
                    "daemon off;",
                ],
                stdout=subprocess.DEVNULL,
                stderr=(self.dir / "stderr.log").open("ab"),
                start_new_session=True,
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(
                    f"{self.config.gateway_url}/api/v1/hr/staff/x/kpis", timeout=2
                ):
                    return
            except urllib.error.HTTPError:
                return  # nginx answered (the service refused the request): it is up
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"gateway did not start; see {self.dir}")

    def stop(self) -> None:
        """Stop the nginx started here."""
        if self.kind == "deploy/gateway":
            subprocess.run(
                [str(self.launcher), "stop"],
                env=self._env(),
                check=False,
                capture_output=True,
                timeout=30,
            )
        elif self._popen is not None and self._popen.poll() is None:
            self._popen.send_signal(signal.SIGQUIT)
            try:
                self._popen.wait(10)
            except subprocess.TimeoutExpired:
                self._popen.kill()


async def wait_for(check, *, timeout: float, interval: float = 0.25, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Poll an async check until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        await asyncio.sleep(interval)
