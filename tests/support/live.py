"""Services as real processes (`kpi serve ...`) for the suites that need real sockets and signals.

The schemathesis suite talks HTTP to them; the fault suite also kills them with SIGKILL. Each
process gets a clean environment naming only the database, broker and secret it is given, so a
developer's own KPI_* variables never leak into a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kpi_kit.cli import available_services
from kpi_kit.settings import DEV_JWT_SECRET

KPI = str(Path(sys.executable).with_name("kpi"))


# Listening ports for the tests' own servers, below the kernel's ephemeral range (32768-60999
# here) and the bench's 29001-29080: a port from the ephemeral range, free when picked, can be
# taken by an outgoing connection (a service's own, to PostgreSQL or RabbitMQ) before the server
# that was to listen on it starts ("address already in use").
TEST_PORTS = range(21000, 29000)


def free_port(candidates: Sequence[int] | None = None) -> int:
    """A port nothing listens on right now on 127.0.0.1: the first free one of `candidates`, or
    by default one at random below the ephemeral range (TEST_PORTS)."""
    import random
    import socket

    for port in random.sample(TEST_PORTS, 200) if candidates is None else candidates:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port among those tried")


def service_env(
    database_url: str, amqp_url: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment of a service process: this run's servers and nothing of the caller's."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KPI_", "CATALOG_", "ASSIGNMENT_", "JOURNAL_"))
    }
    env.update(
        {
            "KPI_ENV": "dev",
            "KPI_DATABASE_URL": database_url,
            "KPI_AMQP_URL": amqp_url,
            "KPI_JWT_SECRET": DEV_JWT_SECRET,
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def migrate(services: Iterable[str], env: Mapping[str, str]) -> None:
    """`kpi migrate` each service against the servers `env` names."""
    for service in services:
        subprocess.run([KPI, "migrate", service], env=dict(env), check=True, capture_output=True)


@dataclass
class ServiceProcess:
    """One `kpi serve <service> --role <role>` process on its own port."""

    service: str
    role: str
    env: dict[str, str]
    log_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    workers: int = 1

    @property
    def name(self) -> str:
        """service-role, as in the log file's name."""
        return f"{self.service}-{self.role}"

    @property
    def url(self) -> str:
        """The process's base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        """Where the process writes its output."""
        return self.log_dir / f"{self.name}.log"

    def start(self) -> None:
        """Start the process (output appended to its log)."""
        self.starts += 1
        with self.log.open("ab") as out:
            out.write(f"\n===== start {self.starts} =====\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [
                    *(KPI, "serve", self.service, "--role", self.role),
                    *("--port", str(self.port), "--workers", str(self.workers)),
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        """Whether the process runs."""
        return self.process is not None and self.process.poll() is None

    def status(self, path: str) -> int:
        """The HTTP status of a GET (0 when nothing answers)."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            return error.code
        except OSError:
            return 0

    async def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until /health/ready answers 200; fail with the log's tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.tail()}")
            if await asyncio.to_thread(self.status, "/health/ready") == 200:
                return
            await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {timeout}s:\n{self.tail()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send a signal to the process (SIGKILL: no shutdown code runs)."""
        assert self.process is not None
        self.process.send_signal(sig)
        if sig == signal.SIGKILL:
            self.process.wait(10)

    def stop(self) -> None:
        """Stop the process gracefully, or kill it after 15 seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def tail(self, lines: int = 40) -> str:
        """The end of the process's log."""
        with contextlib.suppress(OSError):
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        return ""


def installed_services() -> list[str]:
    """The services this checkout can run (assignment and journal may not be there yet)."""
    return available_services()
