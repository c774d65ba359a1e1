"""A private PostgreSQL cluster and a private RabbitMQ node that the fault suite may restart.

The machine's own servers (127.0.0.1:5432 and :5672) serve everyone's tests; restarting them would
break other runs. The fault suite starts servers of its own from the installed binaries, in a
temporary folder, on free ports, with its own Erlang cookie (so its `rabbitmqctl` cannot reach
any other node), and removes them at the end.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import live


class ServersUnavailable(RuntimeError):
    """The binaries needed to start a private server are not installed here."""


def free_port(start: int, tries: int = 200) -> int:
    """The first port from `start` on which nothing listens on 127.0.0.1."""
    port: int = live.free_port(range(start, start + tries))
    return port


def wait_for_port(port: int, timeout: float) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def _postgres_bin() -> Path:
    named = os.environ.get("KPI_FAULTS_PG_BIN")
    candidates = [named] if named else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if candidate and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise ServersUnavailable(
        "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin or KPI_FAULTS_PG_BIN)"
    )


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster: initdb in a temp folder, pg_ctl to stop and start it."""

    root: Path
    port: int
    bin: Path
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.root / "postgres.log"

    @classmethod
    def create(cls, port_from: int = 55432) -> PrivatePostgres:
        """initdb a new cluster and start it."""
        bin_dir = _postgres_bin()
        root = Path(tempfile.mkdtemp(prefix="kpifaults-pg-"))
        server = cls(root=root, port=free_port(port_from), bin=bin_dir)
        if os.geteuid() == 0:  # postgres refuses to run as root: the cluster belongs to postgres
            shutil.chown(root, "postgres")
        server._run(
            "initdb",
            "-D",
            str(root / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        server.start()
        return server

    @property
    def url(self) -> str:
        """The server URL (database `postgres`)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, timeout=120)

    def start(self) -> None:
        """Start the cluster and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.root / "data"),
            "-l",
            str(self.log),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster (`fast` disconnects everyone; `immediate` is a crash)."""
        self._run("pg_ctl", "-D", str(self.root / "data"), "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, mode: str = "fast", down_for: float = 0.0) -> None:
        """Stop, stay down for a while, start again."""
        self.stop(mode)
        time.sleep(down_for)
        self.start()

    def close(self) -> None:
        """Stop the cluster and remove its folder."""
        with contextlib.suppress(Exception):
            self._run(
                "pg_ctl",
                "-D",
                str(self.root / "data"),
                "-m",
                "immediate",
                "-w",
                "stop",
                check=False,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _rabbit_bin() -> Path:
    named = os.environ.get("KPI_FAULTS_RABBITMQ_BIN")
    for candidate in (named, "/usr/lib/rabbitmq/bin"):
        if candidate and (Path(candidate) / "rabbitmq-server").exists():
            return Path(candidate)
    raise ServersUnavailable(
        "RabbitMQ not found (/usr/lib/rabbitmq/bin or KPI_FAULTS_RABBITMQ_BIN)"
    )


@dataclass
class PrivateRabbit:
    """A RabbitMQ node of the suite's own, with its own name, ports, data and cookie."""

    root: Path
    node: str
    port: int
    dist_port: int
    bin: Path

    @classmethod
    def create(cls, port_from: int = 5673, dist_port_from: int = 25673) -> PrivateRabbit:
        """Write the node's config and start it."""
        bin_dir = _rabbit_bin()
        root = Path(tempfile.mkdtemp(prefix="kpifaults-rmq-"))
        node = cls(
            root=root,
            node=f"kpifaults{os.getpid()}@localhost",
            port=free_port(port_from),
            dist_port=free_port(dist_port_from),
            bin=bin_dir,
        )
        (root / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{node.port}\n"
            "loopback_users.guest = true\n"
            "log.file.level = warning\n"
        )
        (root / "rabbitmq-env.conf").write_text("")
        (root / "enabled_plugins").write_text("[].\n")
        (root / "advanced.config").write_text("[].\n")
        cookie = root / ".erlang.cookie"
        cookie.write_text(os.urandom(16).hex().upper())
        cookie.chmod(0o400)
        node.start()
        return node

    @property
    def url(self) -> str:
        """The AMQP URL of the default vhost."""
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _env(self) -> dict[str, str]:
        root = str(self.root)
        return {
            **os.environ,
            "HOME": root,  # the cookie lives here, so rabbitmqctl reaches only this node
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CONFIG_FILE": f"{root}/rabbitmq.conf",
            "RABBITMQ_CONF_ENV_FILE": f"{root}/rabbitmq-env.conf",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{root}/advanced.config",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{root}/enabled_plugins",
            "RABBITMQ_MNESIA_BASE": f"{root}/mnesia",
            "RABBITMQ_LOG_BASE": f"{root}/log",
            "RABBITMQ_PID_FILE": f"{root}/rabbitmq.pid",
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def ctl(self, *args: str, timeout: float = 120) -> str:
        """Run rabbitmqctl against this node only; returns its output."""
        done = subprocess.run(
            [str(self.bin / "rabbitmqctl"), "-n", self.node, "-q", *args],
            env=self._env(),
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return done.stdout

    def start(self) -> None:
        """Start the node and wait until it accepts AMQP connections."""
        subprocess.run(
            [str(self.bin / "rabbitmq-server"), "-detached"],
            env=self._env(),
            check=True,
            capture_output=True,
            timeout=60,
            cwd=self.root,
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                self.ctl("await_startup", "--timeout", "60")
                break
            except subprocess.CalledProcessError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        wait_for_port(self.port, 30)

    def stop(self) -> None:
        """Halt the node (every connection drops)."""
        self.ctl("stop")

    def restart(self, down_for: float = 0.0) -> None:
        """Halt the node, stay down for a while, start it again (durable state kept)."""
        self.stop()
        time.sleep(down_for)
        self.start()

    def add_vhost(self, vhost: str) -> str:
        """Create a vhost for guest; returns its AMQP URL."""
        self.ctl("add_vhost", vhost)
        self.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{vhost}"

    def queues(self, vhost: str) -> dict[str, tuple[int, int]]:
        """Each queue of a vhost: (messages, consumers)."""
        out = self.ctl(
            "list_queues", "-p", vhost, "name", "messages", "consumers", "--no-table-headers"
        )
        found: dict[str, tuple[int, int]] = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1].isdigit():
                found[parts[0]] = (int(parts[1]), int(parts[2]))
        return found

    def close(self) -> None:
        """Halt the node and remove its folder."""
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
