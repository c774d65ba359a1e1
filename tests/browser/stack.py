"""A whole KPI system of the browser tests' own: services, simulator and gateway on free ports."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "support"))

from live import free_port as free_port  # noqa: E402  (test_signin takes it from here)

BIN = Path(os.environ.get("KPI_BIN_DIR", REPO / ".venv" / "bin"))


def wait_for(url: str, timeout: float, what: str) -> None:
    """Poll a URL until it answers 2xx."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if 200 <= answer.status < 300:
                    return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.5)
    raise RuntimeError(f"{what} did not become ready at {url}: {last}")


class Stack:
    """Starts the services, the contract-system simulator and the gateway; stops only those."""

    def __init__(self, database_url: str, amqp_url: str) -> None:
        # a run folder of its own, so that two runs (or a run and `make run`) never share pid files
        (REPO / ".run" / "browser").mkdir(parents=True, exist_ok=True)
        self.run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=REPO / ".run" / "browser"))
        self.logs = self.run_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.ports = {
            "catalog": free_port(),
            "assignment": free_port(),
            "journal": free_port(),
            "contract_sim": free_port(),
            "gateway": free_port(),
        }
        self.env = {
            **os.environ,
            "KPI_ENV": "dev",
            "KPI_DATABASE_URL": database_url,
            "KPI_AMQP_URL": amqp_url,
            "CATALOG_PORT": str(self.ports["catalog"]),
            "ASSIGNMENT_PORT": str(self.ports["assignment"]),
            "JOURNAL_PORT": str(self.ports["journal"]),
            "CONTRACT_SIM_PORT": str(self.ports["contract_sim"]),
            "KPI_GATEWAY_PORT": str(self.ports["gateway"]),
            "KPI_GATEWAY_RUN_DIR": str(self.run_dir / "gateway"),
            "KPI_RUN_DIR": str(self.run_dir),
            "KPI_BIN_DIR": str(BIN),
            "PYTHONPATH": str(REPO / "tools"),
        }
        for name in ("CATALOG_DATABASE_URL", "ASSIGNMENT_DATABASE_URL", "JOURNAL_DATABASE_URL"):
            self.env.pop(name, None)
        self.base_url = f"http://127.0.0.1:{self.ports['gateway']}"
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def _run(self, *args: str) -> None:
        subprocess.run(args, env=self.env, cwd=REPO, check=True, timeout=180)

    def services(self) -> list[str]:
        """The services `kpi services` lists (catalog, assignment, journal as they land)."""
        out = subprocess.run(
            [str(BIN / "kpi"), "services"],
            env=self.env,
            cwd=REPO,
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
        return out.split()

    def start(self) -> None:
        """Migrate, start everything and load the demo templates' KPI sets."""
        self._run(str(BIN / "kpi"), "migrate", "all")
        # One after the other, catalog first: a replica asks the catalog for a snapshot when it
        # starts empty, and that request needs the catalog's queue to exist already.
        for service in self.services():
            log = (self.logs / f"{service}.log").open("ab")
            process = subprocess.Popen(
                [
                    str(BIN / "kpi"),
                    "serve",
                    service,
                    "--role",
                    "all",
                    "--port",
                    str(self.ports[service]),
                ],
                env=self.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            self.processes.append((service, process))
            wait_for(f"http://127.0.0.1:{self.ports[service]}/health/ready", 90, service)
        self._run(str(REPO / "tools" / "contract_sim" / "sim.sh"), "start")
        self._run(str(REPO / "deploy" / "gateway" / "gateway.sh"), "start")
        wait_for(f"{self.base_url}/health/live", 20, "gateway")
        self._run(
            str(BIN / "python"), "-m", "contract_sim.load_template_kpis", "--api", self.base_url
        )

    def stop(self) -> None:
        """Stop exactly what start started."""
        for script in (
            REPO / "deploy" / "gateway" / "gateway.sh",
            REPO / "tools" / "contract_sim" / "sim.sh",
        ):
            subprocess.run([str(script), "stop"], env=self.env, cwd=REPO, check=False, timeout=60)
        for _, process in self.processes:
            process.terminate()
        for _, process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
